"""Third-party noise silenced at its source, before anything imports it.

Each filter names one known message that says nothing to a user of this project;
every other warning still reaches the log.

:func:`silence_known_noise` runs first thing in every process of the project: the
``kedro`` command calls it through the project's ``kedro.init`` entry point
(pyproject.toml), before Kedro imports its plugins' commands -- kedro-mlflow's
import alone triggers MLflow's type-hint warning, on ``kedro --help`` too;
``settings.py`` and ``python -m coldstart`` (the packaged project) call it again.
"""

from __future__ import annotations

import logging
import os
import re
import warnings

#: (message regex, category) of warnings raised by dependencies on every run.
KNOWN_NOISE = (
    # kedro and kedro-mlflow register their resolvers with the older OmegaConf call
    (r"register_new_resolver\(\) is deprecated", UserWarning),
    # the row templates name datasets `<row>.<name>`, which is how their namespaces read
    (r"One or more dataset names contain '\.' characters", UserWarning),
    # kedro-mlflow's KedroPipelineModel (the release model's pyfunc wrapper) has no type
    # hints; MLflow warns when the class is defined, i.e. whenever kedro-mlflow is
    # imported. The inference node checks its inputs itself. (MLflow colours the message:
    # it starts with an ANSI escape, which a plain prefix would not match.)
    (r"(\x1b\[[0-9;]*m)?Add type hints to the `predict` method", UserWarning),
    # kedro-viz 12.5 on FastAPI: a deprecation inside kedro-viz's own server code
    (r"ORJSONResponse is deprecated", UserWarning),
)


#: logger -> message regexes of lines dependencies log (not warn) on every run.
KNOWN_LOG_NOISE = {
    # kedro-mlflow logs the release model as a pyfunc *object* (its KedroPipelineModel),
    # and MLflow says at each run that such objects are cloudpickled: kedro-mlflow offers
    # no other way, so nothing a user can change
    "mlflow.pyfunc": (r"Passing a Python object as `python_model` causes it to be serialized",),
}


class KnownNoiseFilter(logging.Filter):
    """Drops log records whose message matches one of ``patterns``.

    On ``py.warnings`` (where Kedro's ``RichHandler`` routes warnings) it drops the
    warnings of :data:`KNOWN_NOISE` that reach logging anyway: a ``warnings`` filter
    cannot stop MLflow's type-hint warning, which MLflow raises inside
    ``warnings.catch_warnings()`` with its own ``simplefilter("once")`` in front of
    every other filter. On the loggers of :data:`KNOWN_LOG_NOISE`, their lines.
    """

    def __init__(self, patterns: tuple[str, ...] | None = None) -> None:
        super().__init__()
        chosen = patterns if patterns is not None else tuple(m for m, _ in KNOWN_NOISE)
        self._patterns = [re.compile(message) for message in chosen]

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not any(pattern.search(text) for pattern in self._patterns)


def _add_filter(logger_name: str, patterns: tuple[str, ...] | None = None) -> None:
    """Attach one :class:`KnownNoiseFilter` to ``logger_name`` (once per process)."""
    target = logging.getLogger(logger_name)
    if not any(isinstance(f, KnownNoiseFilter) for f in target.filters):
        target.addFilter(KnownNoiseFilter(patterns))


def silence_known_noise() -> None:
    """Filter :data:`KNOWN_NOISE`, :data:`KNOWN_LOG_NOISE` and TensorFlow's C++ chatter."""
    # 2 = errors only from TensorFlow's C++ logging (oneDNN notices, memory patches)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for message, category in KNOWN_NOISE:
        warnings.filterwarnings("ignore", message=message, category=category)
    _add_filter("py.warnings")
    for logger_name, patterns in KNOWN_LOG_NOISE.items():
        _add_filter(logger_name, patterns)
