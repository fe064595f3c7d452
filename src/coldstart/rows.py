"""Results-table rows declared in configuration.

A row is any top-level parameters key whose value has a ``row:`` block, e.g. in
``conf/base/parameters_text.yml``::

    a_sem:
      row:
        table: artist          # artist -> table1_artist, song -> table2_song,
                               # known -> table3_known_artist
        template: text_ff      # which template pipeline builds the row
        approach: a-sem        # the label shown in tables and MLflow
        input: Sem Bio
        data_model: VSM
        arch: FF
      ...                      # the template's own parameters

The key (``a_sem``) is the row's Kedro namespace. Each template pipeline
instantiates itself once per row naming it, and the evaluation pipeline adds one
evaluate-and-log instance per row, so a row is added in YAML only.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

TABLES = {"artist": "table1_artist", "song": "table2_song", "known": "table3_known_artist"}
#: Shared datasets a table's rows read under another name. Table 3's rows are song-level
#: rows of the known-artist world (:mod:`coldstart.pipelines.known_artist`): its songs
#: (train artists' tracks, split by track), its play matrix and its WMF factors.
TABLE_DATASETS = {
    "known": {
        "songs": "known_songs",
        "song_plays": "known_plays",
        "song_item_factors": "known_item_factors",
        "song_user_factors": "known_user_factors",
        "audio_feature_index": "known_audio_feature_index",
    }
}
REQUIRED_KEYS = ("table", "template", "approach")

# The parameters of the running Kedro session (RowsHooks): set, rows come from the
# session's own config loader -- whatever --env and --conf-source (a packaged
# project's conf tarball included) it reads. Unset (kedro registry, plain imports),
# from the project's conf/base beside this package.
_session_parameters: dict[str, Any] | None = None


def use_session_parameters(parameters: dict[str, Any] | None) -> None:
    """Wire pipelines from ``parameters`` (a session's ``context.params``) from now on."""
    global _session_parameters
    _session_parameters = None if parameters is None else dict(parameters)
    load_base_parameters.cache_clear()
    load_rows.cache_clear()


def _project_conf() -> Path:
    """The project's ``conf/``: beside the ``pyproject.toml`` that holds this package."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").exists() and (parent / "conf").is_dir():
            return parent / "conf"
    return Path.cwd() / "conf"


def _parameter_files(base: Path) -> list[Path]:
    """The files Kedro's config loader reads parameters from (its default patterns)."""
    found = {*base.glob("**/parameters*.yml"), *base.glob("**/parameters*.yaml")}
    found |= {p for p in base.glob("parameters*/**/*") if p.suffix in (".yml", ".yaml")}
    return sorted(found)


@cache
def load_base_parameters(conf_source: str | None = None) -> dict[str, Any]:
    """Every top-level parameter: the running session's, else ``conf/base``'s as written.

    In a session (:class:`RowsHooks`) these are the session's resolved parameters,
    from whatever ``--env`` and ``--conf-source`` it reads. Outside one (``kedro
    registry``, imports in tests) ``conf/base`` is read with interpolations left
    unresolved. The files
    are read as plain YAML on purpose: building a second ``OmegaConfigLoader`` here
    would re-register OmegaConf's process-wide ``globals`` and ``runtime_params``
    resolvers with this loader's (base-only, empty) values, and every later
    resolution in the session -- ``kedro run --env=test``'s ``dataset_dir`` and
    ``data_root`` among them -- would silently get the base values.
    """
    import yaml

    if conf_source is None and _session_parameters is not None:
        return _session_parameters
    source = Path(conf_source) if conf_source else _project_conf()
    parameters: dict[str, Any] = {}
    origin: dict[str, Path] = {}
    for path in _parameter_files(source / "base"):
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(content, dict):
            raise ValueError(f"{path}: expected a mapping of parameters at the top level")
        for key, value in content.items():
            if key in origin:
                raise ValueError(f"Parameter '{key}' is defined in both {origin[key]} and {path}")
            origin[key] = path
            parameters[key] = value
    return parameters


@cache
def load_rows(conf_source: str | None = None) -> dict[str, dict[str, Any]]:
    """All rows declared in ``conf/base/parameters*.yml``, in declaration order.

    Rows live in ``base`` only: environments change sizes and epochs, not which
    rows exist, so the pipelines (built before any environment is chosen) are
    the same everywhere.
    """
    source = (
        Path(conf_source)
        if conf_source
        else ("the session's parameters" if _session_parameters is not None else _project_conf())
    )
    rows: dict[str, dict[str, Any]] = {}
    for namespace, value in load_base_parameters(conf_source).items():
        if isinstance(value, dict) and isinstance(value.get("row"), dict):
            row = dict(value["row"])
            missing = [key for key in REQUIRED_KEYS if key not in row]
            if missing:
                raise ValueError(f"Row '{namespace}' in {source} lacks {missing}")
            if row["table"] not in TABLES:
                raise ValueError(
                    f"Row '{namespace}': table must be one of {sorted(TABLES)}, got {row['table']!r}"
                )
            rows[namespace] = row
    return rows


#: Templates whose rows read the songs' audio (spectrograms or T'); late fusion too
#: (``row.track_embeddings_from``).
AUDIO_TEMPLATES = frozenset({"audio_cnn", "multimodal"})


def table_inputs(row: dict[str, Any], names: Any) -> dict[str, str]:
    """``{name: dataset}`` for the shared inputs ``names`` of a row, renamed for its table."""
    renames = TABLE_DATASETS.get(row["table"], {})
    return {name: renames.get(name, name) for name in names}


def needs_audio(row: dict[str, Any]) -> bool:
    """Whether a row reads audio: the audio CNN, ``mm``, and every row fusing T'."""
    return row["template"] in AUDIO_TEMPLATES or bool(row.get("track_embeddings_from"))


def skipped(row: dict[str, Any], reason: str) -> dict[str, Any]:
    """``row`` switched off (``enabled: false``), with why in ``skipped``."""
    return {**row, "enabled": False, "skipped": reason}


def skip_reason(row: dict[str, Any]) -> str:
    """Why a disabled row does not run: its ``skipped`` reason, else its switch."""
    return str(row.get("skipped") or "row.enabled is false")


def _enabled_rows(parameters: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """``(namespace, block, row)`` of every parameter block with an enabled ``row:``."""
    return [
        (namespace, block, block["row"])
        for namespace, block in parameters.items()
        if isinstance(block, dict)
        and isinstance(block.get("row"), dict)
        and block["row"].get("enabled", True)
    ]


def with_unavailable_rows_skipped(parameters: dict[str, Any]) -> dict[str, Any]:
    """``parameters`` with the rows whose inputs this run cannot have switched off.

    A dataset without audio skips the rows that need audio
    (:func:`coldstart.pipelines.ingestion.audio_presence.audio_absence`); the MSD-A
    release environment skips the rows whose release files are missing
    (:func:`coldstart.pipelines.msd_a.availability.unavailable_release_rows`). Each
    skipped row keeps its block, with ``enabled: false`` and its reason in ``skipped``,
    so the pipelines leave it out and say why, and the tables do not wait for it.
    """
    from coldstart.pipelines.ingestion.audio_presence import audio_absence
    from coldstart.pipelines.msd_a.availability import unavailable_release_rows

    reasons = unavailable_release_rows(parameters)
    no_audio = audio_absence(parameters)
    parameters = dict(parameters)
    for namespace, block, row in _enabled_rows(parameters):
        reason = reasons.get(namespace)
        if reason is None and no_audio and "template" in row and needs_audio(row):
            reason = no_audio
        if reason is not None:
            parameters[namespace] = {**block, "row": skipped(row, reason)}
    return _with_dependent_rows_skipped(parameters)


#: ``row:`` keys naming other rows whose test factors a row reads (the fused artist row).
#: Not A' or T' (``artist_embeddings_from``, ``track_embeddings_from``): the MSD-A
#: release hands those in from its files while the rows that would make them are off.
SOURCE_KEYS = ("anchor_from", "content_from")


def row_sources(row: dict[str, Any]) -> list[str]:
    """The rows whose test factors ``row`` reads (its :data:`SOURCE_KEYS`), in key order."""
    sources: list[str] = []
    for key in SOURCE_KEYS:
        value = row.get(key)
        sources.extend([value] if isinstance(value, str) else list(value or []))
    return sources


def _with_dependent_rows_skipped(parameters: dict[str, Any]) -> dict[str, Any]:
    """Rows that read a switched-off row's outputs switched off too, saying which one.

    Repeated until nothing changes, so a chain of rows (a fused row reading a row that
    reads a skipped one) stops as a whole.
    """
    changed = True
    while changed:
        changed = False
        for namespace, block, row in _enabled_rows(parameters):
            for source in row_sources(row):
                source_row = (parameters.get(source) or {}).get("row")
                if isinstance(source_row, dict) and not source_row.get("enabled", True):
                    reason = f"it reads row '{source}', which is off: {skip_reason(source_row)}"
                    parameters[namespace] = {**block, "row": skipped(row, reason)}
                    changed = True
                    break
    return parameters


def rows_for(template: str, conf_source: str | None = None) -> list[str]:
    """Namespaces of the rows built by ``template``."""
    return [ns for ns, row in load_rows(conf_source).items() if row["template"] == template]


def rows_of_table(table: str, conf_source: str | None = None) -> list[str]:
    """Namespaces of the rows of one table (``artist``, ``song`` or ``known``)."""
    return [ns for ns, row in load_rows(conf_source).items() if row["table"] == table]


class RowsHooks:
    """Hand the session's parameters to :func:`load_rows` before pipelines are built.

    ``tryfirst``: kedro-mlflow's ``after_context_created`` (called before the project's
    hooks otherwise) already loads the pipelines.
    """

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        # the config loader's parameters (runtime ones merged in), not ``context.params``:
        # Kedro validates those against the pipelines, which would build them first
        # rows whose inputs this run cannot have (no audio, a file missing from the
        # MSD-A release) are switched off here, before any pipeline is built
        use_session_parameters(
            with_unavailable_rows_skipped(dict(context.config_loader["parameters"]))
        )
