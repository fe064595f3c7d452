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


class KnownNoiseFilter(logging.Filter):
    """Drops the warnings of :data:`KNOWN_NOISE` that reach logging anyway.

    Kedro's ``RichHandler`` routes warnings to the ``py.warnings`` logger. A
    ``warnings`` filter cannot stop MLflow's type-hint warning: MLflow raises it
    inside ``warnings.catch_warnings()`` with its own ``simplefilter("once")``
    in front of every other filter. Its logged line is dropped here instead.
    """

    def __init__(self) -> None:
        super().__init__()
        self._patterns = [re.compile(message) for message, _ in KNOWN_NOISE]

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not any(pattern.search(text) for pattern in self._patterns)


def silence_known_noise() -> None:
    """Filter :data:`KNOWN_NOISE` and TensorFlow's C++ start-up chatter."""
    # 2 = errors only from TensorFlow's C++ logging (oneDNN notices, memory patches)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for message, category in KNOWN_NOISE:
        warnings.filterwarnings("ignore", message=message, category=category)
    captured = logging.getLogger("py.warnings")
    if not any(isinstance(f, KnownNoiseFilter) for f in captured.filters):
        captured.addFilter(KnownNoiseFilter())
