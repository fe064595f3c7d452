"""Reproducible runs: the same code, seed, backend and machine give the same outputs.

``deterministic: true`` (parameters.yml, the default) switches the selected Keras
backend (:mod:`coldstart.backend`) to its deterministic kernels and pins Python's
string hashing in the worker processes the run starts (audio extraction).
Everything else that could reorder work is already fixed in the code: seeded RNGs
everywhere, ALS parallel over independent users, the evaluator's and the triplet
reader's threads merging in a fixed order, patch datasets ordered by their seed.

What each backend promises under ``deterministic: true``:

* **TensorFlow**: ``TF_DETERMINISTIC_OPS=1`` and
  ``tf.config.experimental.enable_op_determinism()``: every op with a
  deterministic variant uses it, on CPU and GPU; an op without one raises.
* **JAX**: XLA's ``--xla_gpu_deterministic_ops=true`` (in ``XLA_FLAGS``, read when
  JAX starts its GPU backend): GPU reductions and scatters in a fixed order. XLA
  on a CPU is deterministic already.
* **PyTorch**: ``torch.use_deterministic_algorithms(True)``, cuDNN autotuning off
  and ``CUBLAS_WORKSPACE_CONFIG=:4096:8``: an op without a deterministic kernel
  raises.

What ``deterministic`` cannot promise: the same figures on another machine, or
with another backend. Thread counts, the CPU's vector units and each backend's
own kernels change the order of floating-point sums.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

# TensorFlow reads it at import and in every op that has a deterministic variant;
# it also marks this process as configured deterministic, whatever the backend.
TF_FLAG = "TF_DETERMINISTIC_OPS"
XLA_DETERMINISTIC = "--xla_gpu_deterministic_ops=true"
CUBLAS_WORKSPACE = ":4096:8"


def configure(deterministic: bool) -> None:
    """Switch the process (and the processes it starts) to deterministic kernels.

    Safe to call before or after the backend is imported (what can only be set
    before its import is set in the environment here; the rest is switched on by
    :func:`enable_backend_determinism` when a model is seeded). With ``False`` the
    environment is left as the user set it.
    """
    if not deterministic:
        return
    os.environ[TF_FLAG] = "1"
    # loky/multiprocessing workers inherit the environment: their set/dict orders
    # no longer change between runs.
    os.environ.setdefault("PYTHONHASHSEED", "0")
    flags = os.environ.get("XLA_FLAGS", "")
    if XLA_DETERMINISTIC not in flags.split():
        os.environ["XLA_FLAGS"] = f"{flags} {XLA_DETERMINISTIC}".strip()
    # cuBLAS needs a fixed workspace for reproducible products under PyTorch
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    if "keras" in sys.modules or "tensorflow" in sys.modules:
        enable_backend_determinism()


def deterministic_requested() -> bool:
    """Whether this process was configured with ``deterministic: true``."""
    return os.environ.get(TF_FLAG, "") in ("1", "true", "True")


def enable_tensorflow_determinism() -> None:
    """``tf.config.experimental.enable_op_determinism()``, idempotent."""
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()


def enable_backend_determinism(backend: str | None = None) -> str:
    """Switch on the deterministic kernels of ``backend`` (default: Keras' active one).

    Returns the backend name. Idempotent.
    """
    if backend is None:
        import keras

        backend = keras.backend.backend()
    if backend == "tensorflow":
        enable_tensorflow_determinism()
    elif backend == "torch":
        import torch

        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    elif backend == "jax" and XLA_DETERMINISTIC not in os.environ.get("XLA_FLAGS", ""):
        # XLA_FLAGS is read when JAX starts a backend: too late to set it now
        logger.warning(
            "deterministic: JAX was started without %s; GPU results may vary between runs",
            XLA_DETERMINISTIC,
        )
    return backend


class DeterminismHooks:
    """Apply ``params:deterministic`` before any node runs."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        deterministic = bool(context.params.get("deterministic", True))
        configure(deterministic)
        logger.info(
            "deterministic: %s%s",
            deterministic,
            "" if deterministic else " (the backend may pick faster, order-dependent kernels)",
        )
