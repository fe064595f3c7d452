"""Where scoring runs: on the CPU kernels, or through the selected Keras backend's device.

The evaluator (:func:`coldstart.metrics.evaluate_factors_at`) and the release
top-N (:func:`coldstart.recommend.recommend`) score users in batches. Their
device path is written once over ``keras.ops`` (``matmul``, ``top_k``, ``take``),
so it runs on whatever the Keras backend (:mod:`coldstart.backend`: TensorFlow,
JAX or PyTorch) places arrays on -- a GPU when it has one. ``device`` selects:

* ``"cpu"``: the numba/BLAS kernels on the host;
* ``"auto"`` (default): the device path when the backend sees a GPU (logged),
  else the CPU. Without a GPU device node on the machine (``/dev/nvidia*``,
  ``/dev/kfd``, ``/dev/dxg``) it decides for the CPU without importing Keras;
* ``"gpu"``: the device path; an error when the backend sees no GPU;
* ``"backend"``: the device path on the backend's default device whatever it is
  (on a machine without a GPU: the backend's CPU; the tests use it to compare
  both paths).
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "gpu", "backend")
_GPU_NODES = ("/dev/nvidia[0-9]*", "/dev/kfd", "/dev/dxg")


def check_device(device: str) -> str:
    """``device`` itself when it is one of :data:`DEVICES`, else a ValueError."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(map(repr, DEVICES))}, got {device!r}")
    return device


def machine_has_gpu_node() -> bool:
    """Whether a GPU device node exists (cheap: no import); CUDA_VISIBLE_DEVICES="" hides them."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return any(glob.glob(pattern) for pattern in _GPU_NODES)


def backend_sees_gpu() -> bool:
    """Whether the selected Keras backend has a GPU to place arrays on (imports Keras)."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return jax.default_backend() not in ("cpu", "tpu")
    if backend == "torch":
        import torch

        return bool(torch.cuda.is_available())
    return False


def use_device_path(device: str, what: str) -> bool:
    """Whether ``what`` (e.g. ``"evaluation"``) scores through ``keras.ops``; logs the choice."""
    check_device(device)
    if device == "cpu" or (device == "auto" and not machine_has_gpu_node()):
        return False
    import keras

    backend = keras.backend.backend()
    if device == "backend":
        logger.info("%s: scoring through the %s backend's default device", what, backend)
        return True
    if backend_sees_gpu():
        logger.info("%s: scoring on the GPU with the Keras %s backend", what, backend)
        return True
    if device == "gpu":
        raise RuntimeError(
            f"{what}: device='gpu' but the Keras {backend} backend sees no GPU "
            "(docs/gpu.md: install the backend's CUDA build)"
        )
    return False


@contextmanager
def full_precision_matmul() -> Iterator[None]:
    """float32 products on every backend while inside: no TF32 on NVIDIA GPUs.

    TensorFlow and JAX may round float32 products to TF32 (10-bit mantissa) on
    Ampere and newer GPUs, which would reorder near-equal scores; PyTorch leaves
    TF32 off for matmul by default, and this keeps it off.
    """
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        before = tf.config.experimental.tensor_float_32_execution_enabled()
        tf.config.experimental.enable_tensor_float_32_execution(False)
        try:
            yield
        finally:
            tf.config.experimental.enable_tensor_float_32_execution(before)
    elif backend == "jax":
        import jax

        with jax.default_matmul_precision("highest"):
            yield
    elif backend == "torch":
        import torch

        before = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = False
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32 = before
    else:
        yield
