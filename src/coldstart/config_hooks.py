"""What a session's configuration means, checked and fixed before anything uses it.

* :class:`RuntimeParamsHooks` -- a ``--params`` key the project does not know stops
  the session, naming the key and the closest known one: ``datset_dir=/data/msd_a``
  would otherwise run the synthetic world and exit 0.
* :class:`MlflowStoreHooks` -- a relative SQLite tracking URI (``mlflow.yml``'s
  ``sqlite:///mlruns.db``) names a file in the project, whatever the working
  directory: a notebook runs in ``notebooks/`` and would open an empty store there.

Both are ``tryfirst`` ``after_context_created`` hooks: they run before kedro-mlflow's
(which reads ``mlflow.yml`` and opens the store) and before anything is logged.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import click
from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

#: Configuration kinds never read for run-time parameters (Kedro refuses them in globals;
#: credentials are not logged and are read by their own loader).
_NOT_SCANNED = frozenset({"globals", "credentials"})


class UnknownParameterError(ValueError, click.ClickException):
    """A ``--params`` key that no parameter file defines and no configuration reads.

    A ``ClickException``: the ``kedro`` command prints the message alone.
    """

    def __init__(self, message: str) -> None:
        ValueError.__init__(self, message)
        click.ClickException.__init__(self, message)


def _sentinel(name: str) -> str:
    """A value no configuration holds, to find where run-time parameter ``name`` lands."""
    return f"<<coldstart runtime parameter {name}>>"


def _strings(value: Any) -> Iterable[str]:
    """Every string inside a resolved configuration (dicts, lists, scalars)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _loader(config_loader: Any, runtime_params: dict[str, Any]) -> Any:
    """A fresh loader of the same configuration (source, environment) with other run-time values."""
    from kedro.framework.project import settings

    return settings.CONFIG_LOADER_CLASS(
        conf_source=config_loader.conf_source,
        env=config_loader.env,
        runtime_params=runtime_params,
        **settings.CONFIG_LOADER_ARGS,
    )


def read_runtime_names(config_loader: Any, candidates: Iterable[str]) -> set[str]:
    """The ``candidates`` that some configuration reads through ``${runtime_params:...}``.

    Each candidate gets a sentinel value; a candidate whose sentinel shows up in any
    resolved configuration (catalog, parameters other than its own key, mlflow.yml, ...)
    is read by the project, e.g. ``data_root`` (every catalog path) or
    ``mlflow_tracking_uri`` (``mlflow.yml``).
    """
    from kedro.config import MissingConfigException

    names = sorted(set(candidates))
    if not names:
        return set()
    probe = _loader(config_loader, {name: _sentinel(name) for name in names})
    found: set[str] = set()
    for kind in sorted(set(probe.config_patterns) - _NOT_SCANNED):
        try:
            resolved = dict(probe[kind])
        except MissingConfigException:  # e.g. no spark.yml outside --env=spark
            continue
        if kind == "parameters":
            for name in names:  # the run-time value itself lands on its own key
                resolved.pop(name, None)
        text = "\n".join(_strings(resolved))
        found.update(name for name in names if _sentinel(name) in text)
    return found


def unknown_parameters(
    runtime_params: Mapping[str, Any], config_loader: Any
) -> dict[str, str | None]:
    """``{unknown top-level key: the closest known name or None}`` of ``runtime_params``.

    Known: the top-level keys of the parameter files (without the run-time values) and
    the run-time names the configuration reads (:func:`read_runtime_names`).
    """
    if not runtime_params:
        return {}
    file_keys = set(_loader(config_loader, {})["parameters"])
    candidates = set(runtime_params) - file_keys
    known = file_keys | read_runtime_names(config_loader, candidates)
    return {
        key: next(iter(difflib.get_close_matches(key, sorted(known), n=1)), None)
        for key in sorted(set(runtime_params) - known)
    }


def unknown_parameters_message(unknown: Mapping[str, str | None], env: str | None) -> str:
    """The error a user reads: each unknown key and what it probably meant."""
    lines = [
        f"  - {key!r}" + (f": did you mean {closest!r}?" if closest else ": no known name is close")
        for key, closest in unknown.items()
    ]
    return (
        f"Unknown parameter(s) in --params (environment {env or 'local'}):\n"
        + "\n".join(lines)
        + "\nA --params key must be a top-level key of conf/<env>/parameters*.yml or a run-time "
        "setting the configuration reads (data_root, mlflow_tracking_uri, ...); nothing was run."
    )


def project_sqlite_uri(uri: str | None, project_path: Path) -> str | None:
    """``uri`` with a relative SQLite path made absolute against ``project_path``.

    ``sqlite:///mlruns.db`` is relative to the working directory for SQLAlchemy and
    MLflow; kedro-mlflow resolves plain relative paths against the project but passes
    URIs with a scheme through untouched. Absolute (``sqlite:////tmp/m.db``), in-memory
    and non-SQLite URIs are returned as they are.
    """
    prefix = "sqlite:///"
    if not isinstance(uri, str) or not uri.startswith(prefix):
        return uri
    path = uri[len(prefix) :]
    if not path or path.startswith("/") or path.startswith(":memory:"):
        return uri
    return f"{prefix}{(Path(project_path) / path).as_posix()}"


class RuntimeParamsHooks:
    """Stop a session whose ``--params`` name a parameter the project does not know."""

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        loader = context.config_loader
        runtime_params = getattr(loader, "runtime_params", None) or {}
        unknown = unknown_parameters(runtime_params, loader)
        if unknown:
            raise UnknownParameterError(unknown_parameters_message(unknown, context.env))


class MlflowStoreHooks:
    """The MLflow store of ``mlflow.yml`` is a file of the project, from any directory."""

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        from kedro.config import MissingConfigException

        loader = context.config_loader
        try:
            conf = dict(loader["mlflow"])
        except (KeyError, MissingConfigException):  # kedro-mlflow's defaults apply
            return
        server = dict(conf.get("server") or {})
        changed = False
        for key in ("mlflow_tracking_uri", "mlflow_registry_uri"):
            resolved = project_sqlite_uri(server.get(key), context.project_path)
            if resolved != server.get(key):
                server[key], changed = resolved, True
        if changed:
            # kedro-mlflow reads loader["mlflow"]; a value set on the loader is returned as is
            loader["mlflow"] = {**conf, "server": server}
            logger.debug("MLflow store: %s", server["mlflow_tracking_uri"])
