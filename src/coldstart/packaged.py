"""The packaged project logs as the project does.

``kedro package`` makes a wheel and ``conf-coldstart.tar.gz``; the wheel runs with
``python -m coldstart --conf-source=conf-coldstart.tar.gz`` from any folder. Kedro
takes its logging configuration from ``KEDRO_LOGGING_CONFIG`` or a ``conf/logging.yml``
in the working directory, and otherwise its own default, which logs every dataset
load and save (968 "Loading data from" lines on the tiny world). The configuration
the run reads holds the project's ``logging.yml``: :func:`use_conf_source_logging`
applies it.
"""

from __future__ import annotations

import logging
import os
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

logger = logging.getLogger(__name__)

LOGGING_NAMES = ("logging.yml", "logging.yaml")


def conf_source_of(argv: Sequence[str]) -> str | None:
    """The ``--conf-source`` of a ``kedro run`` command line, if any."""
    for index, arg in enumerate(argv):
        if arg.startswith("--conf-source="):
            return arg.split("=", 1)[1]
        if arg == "--conf-source" and index + 1 < len(argv):
            return argv[index + 1]
    return None


def _top_level_logging(names: Sequence[str]) -> str | None:
    """The archive member that is the configuration's own ``logging.yml`` (``conf/logging.yml``)."""
    found = [
        name
        for name in names
        if PurePosixPath(name).name in LOGGING_NAMES and len(PurePosixPath(name).parts) <= 2
    ]
    return min(found, key=lambda name: len(PurePosixPath(name).parts), default=None)


def read_logging_config(conf_source: str | Path) -> dict[str, Any] | None:
    """The ``logging.yml`` of a configuration folder, ``.tar.gz`` or ``.zip``; None without one."""
    import yaml

    source = Path(conf_source)
    text = None
    if source.is_dir():
        for name in LOGGING_NAMES:
            if (source / name).is_file():
                text = (source / name).read_text(encoding="utf-8")
                break
    elif source.is_file() and source.name.endswith((".tar.gz", ".tgz", ".tar")):
        with tarfile.open(source) as archive:
            member = _top_level_logging(archive.getnames())
            stream = archive.extractfile(member) if member else None
            text = stream.read().decode("utf-8") if stream else None
    elif source.is_file() and source.suffix == ".zip":
        with zipfile.ZipFile(source) as archive:
            member = _top_level_logging(archive.namelist())
            text = archive.read(member).decode("utf-8") if member else None
    return yaml.safe_load(text) if text else None


def use_conf_source_logging(argv: Sequence[str]) -> Path | str | None:
    """Apply the logging configuration of ``--conf-source`` unless Kedro found one.

    Kedro's own choice stands when ``KEDRO_LOGGING_CONFIG`` is set or the working
    directory has ``conf/logging.yml``. The folders of file handlers (``logs/``) are
    made, as the project's checkout has them. Returns what was applied, or None.
    """
    from kedro.utils import find_config_file

    if os.environ.get("KEDRO_LOGGING_CONFIG") or find_config_file("conf/logging") is not None:
        return None
    conf_source = conf_source_of(argv)
    config = read_logging_config(conf_source) if conf_source else None
    if config is None:
        return None
    from kedro.framework.project import LOGGING

    for handler in (config.get("handlers") or {}).values():
        filename = handler.get("filename") if isinstance(handler, dict) else None
        if filename:
            Path(filename).parent.mkdir(parents=True, exist_ok=True)
    LOGGING.configure(config)
    logger.info("Using the logging configuration of %s", conf_source)
    return conf_source
