"""Reproducible runs: the same code, seed and machine give the same outputs.

``deterministic: true`` (parameters.yml, the default) asks TensorFlow for its
deterministic kernels and pins Python's string hashing in the worker processes
the run starts (audio extraction). Everything else that could reorder work is
already fixed in the code: seeded RNGs everywhere, ALS parallel over
independent users, the evaluator's and the triplet reader's threads merging in
a fixed order, patch datasets ordered by their seed.

What ``deterministic`` cannot promise: the same figures on another machine.
Thread counts and the CPU's vector units change the order of floating-point
sums inside BLAS and TensorFlow kernels.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

# TensorFlow reads it at import and in every op that has a deterministic variant.
TF_FLAG = "TF_DETERMINISTIC_OPS"


def configure(deterministic: bool) -> None:
    """Switch the process (and the processes it starts) to deterministic kernels.

    Safe to call before or after TensorFlow is imported. With ``False`` the
    environment is left as the user set it.
    """
    if not deterministic:
        return
    os.environ[TF_FLAG] = "1"
    # loky/multiprocessing workers inherit the environment: their set/dict orders
    # no longer change between runs.
    os.environ.setdefault("PYTHONHASHSEED", "0")
    if "tensorflow" in sys.modules:
        enable_tensorflow_determinism()


def deterministic_requested() -> bool:
    """Whether this process was configured with ``deterministic: true``."""
    return os.environ.get(TF_FLAG, "") in ("1", "true", "True")


def enable_tensorflow_determinism() -> None:
    """``tf.config.experimental.enable_op_determinism()``, idempotent."""
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()


class DeterminismHooks:
    """Apply ``params:deterministic`` before any node runs."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        deterministic = bool(context.params.get("deterministic", True))
        configure(deterministic)
        logger.info(
            "deterministic: %s%s",
            deterministic,
            "" if deterministic else " (TensorFlow may pick faster, order-dependent kernels)",
        )
