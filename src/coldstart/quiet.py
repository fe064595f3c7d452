"""Third-party noise silenced at its source, before anything imports it.

Each filter names one known message that says nothing to a user of this project;
every other warning still reaches the log.
"""

from __future__ import annotations

import os
import warnings

#: (message regex, category) of warnings raised by dependencies on every run.
KNOWN_NOISE = (
    # kedro and kedro-mlflow register their resolvers with the older OmegaConf call
    (r"register_new_resolver\(\) is deprecated", UserWarning),
    # the row templates name datasets `<row>.<name>`, which is how their namespaces read
    (r"One or more dataset names contain '\.' characters", UserWarning),
    # kedro-mlflow's pipeline wrapper has no type hints; the inference node checks inputs
    (r"Add type hints to the `predict` method", UserWarning),
)


def silence_known_noise() -> None:
    """Filter :data:`KNOWN_NOISE` and TensorFlow's C++ start-up chatter."""
    # 2 = errors only from TensorFlow's C++ logging (oneDNN notices, memory patches)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for message, category in KNOWN_NOISE:
        warnings.filterwarnings("ignore", message=message, category=category)
