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

logger = logging.getLogger(__name__)

TABLES = {"artist": "table1_artist", "song": "table2_song"}
REQUIRED_KEYS = ("table", "template", "approach")


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
    """Every top-level parameter of ``conf/base``, as written (interpolations unresolved).

    Pipelines are wired from these before a session picks an environment. The files
    are read as plain YAML on purpose: building a second ``OmegaConfigLoader`` here
    would re-register OmegaConf's process-wide ``globals`` and ``runtime_params``
    resolvers with this loader's (base-only, empty) values, and every later
    resolution in the session -- ``kedro run --env=test``'s ``dataset_dir`` and
    ``data_root`` among them -- would silently get the base values.
    """
    import yaml

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
    source = Path(conf_source) if conf_source else _project_conf()
    rows: dict[str, dict[str, Any]] = {}
    for namespace, value in load_base_parameters(conf_source).items():
        if isinstance(value, dict) and isinstance(value.get("row"), dict):
            row = dict(value["row"])
            missing = [key for key in REQUIRED_KEYS if key not in row]
            if missing:
                raise ValueError(f"Row '{namespace}' in {source}/base lacks {missing}")
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
