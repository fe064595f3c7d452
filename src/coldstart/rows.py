"""Results-table rows declared in configuration.

A row is any top-level parameters key whose value has a ``row:`` block, e.g. in
``conf/base/parameters_text.yml``::

    a_sem:
      row:
        table: artist          # artist -> table1_artist, song -> table2_song
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

TABLES = {"artist": "table1_artist", "song": "table2_song"}
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


def rows_for(template: str, conf_source: str | None = None) -> list[str]:
    """Namespaces of the rows built by ``template``."""
    return [ns for ns, row in load_rows(conf_source).items() if row["template"] == template]


def rows_of_table(table: str, conf_source: str | None = None) -> list[str]:
    """Namespaces of the rows of one table (``artist`` or ``song``)."""
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
        use_session_parameters(dict(context.config_loader["parameters"]))
