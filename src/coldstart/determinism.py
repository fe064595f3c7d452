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
with another backend.
TensorFlow's CPU kernels (oneDNN) pick their code path by the CPU's vector
units (AVX2, AVX-512, AMX), and each path sums in another order; the last bits
differ, training follows another path from the first epoch on, and early stopping
can keep another epoch (docs/reproducibility.md has the measurements).
``max_cpu_isa`` (parameters.yml) caps the code path (:func:`cap_instruction_set`),
and every run that makes a results table records the arithmetic it ran with
(:func:`run_environment`, ``08_reporting/run_environment.json``), with which the
README labels its single-run tables.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

# TensorFlow reads it at import and in every op that has a deterministic variant;
# it also marks this process as configured deterministic, whatever the backend.
TF_FLAG = "TF_DETERMINISTIC_OPS"
XLA_DETERMINISTIC = "--xla_gpu_deterministic_ops=true"
CUBLAS_WORKSPACE = ":4096:8"
#: Catalog entry of the record of a run that made a results table (its machine's arithmetic).
ENVIRONMENT_DATASET = "run_environment"
#: The outputs whose run is recorded: the results tables.
TABLE_OUTPUTS = frozenset(
    {"table1_artist_markdown", "table2_song_markdown", "table3_known_artist_markdown"}
)
#: Environment variables that change the kernels or the threads TensorFlow sums with.
ARITHMETIC_VARIABLES = (
    "ONEDNN_MAX_CPU_ISA",
    "TF_ENABLE_ONEDNN_OPTS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "OMP_NUM_THREADS",
)
#: CPU flags that decide which oneDNN code path runs, newest last.
VECTOR_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")
#: Packages whose versions are part of the arithmetic.
PACKAGES = ("tensorflow", "keras", "jax", "numpy", "scipy", "scikit-learn", "implicit")


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


ISA_VARIABLE = "ONEDNN_MAX_CPU_ISA"


def cap_instruction_set(max_cpu_isa: str | None) -> str | None:
    """Cap oneDNN's kernels at ``max_cpu_isa`` (e.g. ``AVX2``) for this process and its children.

    oneDNN reads ``ONEDNN_MAX_CPU_ISA`` when TensorFlow runs its first kernel, so this
    must come before any model work (the hook runs it before the first node). A value
    the user set in the environment wins. Returns the cap in force (``None``: the
    CPU's best).
    """
    if max_cpu_isa and ISA_VARIABLE not in os.environ:
        os.environ[ISA_VARIABLE] = str(max_cpu_isa).upper()
        if "tensorflow" in sys.modules:
            logger.warning(
                "%s=%s set after TensorFlow was imported: it holds only if no kernel ran yet",
                ISA_VARIABLE,
                os.environ[ISA_VARIABLE],
            )
    return os.environ.get(ISA_VARIABLE)


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


def _cpuinfo(path: Path = Path("/proc/cpuinfo")) -> tuple[str, list[str]]:
    """The CPU's model name and its flags among :data:`VECTOR_FLAGS` (Linux; else empty)."""
    model, flags = "", set()
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or platform.machine(), []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and not model:
            model = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    return model or platform.machine(), [flag for flag in VECTOR_FLAGS if flag in flags]


def run_environment() -> dict[str, Any]:
    """What decides this process's floating-point sums: CPU, cores, settings, versions.

    Cheap (no TensorFlow import). ``cores`` is what this process may run on, which is
    also the size of TensorFlow's default thread pools unless the variables in
    ``settings`` say otherwise.
    """
    from coldstart.cores import available_cores

    model, flags = _cpuinfo()
    versions = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return {
        "cpu": model,
        "vector_extensions": flags,
        "machine": platform.machine(),
        "cores": available_cores(),
        "settings": {name: os.environ[name] for name in ARITHMETIC_VARIABLES if name in os.environ},
        "deterministic": deterministic_requested(),
        "versions": versions,
    }


def describe_environment(environment: dict[str, Any]) -> str:
    """One line for a reader: ```Xeon ...` (AVX2, AVX-512, AMX), 2 cores; Python ...``."""
    extensions = environment.get("vector_extensions") or []
    labels = {"avx2": "AVX2", "avx512f": "AVX-512", "amx_tile": "AMX"}
    units = ", ".join(label for flag, label in labels.items() if flag in extensions)
    cores = environment.get("cores")
    threads = f"{cores} {'core' if cores == 1 else 'cores'}" if cores else "cores unknown"
    settings = environment.get("settings") or {}
    if settings:
        threads += ", " + ", ".join(f"{k}={v}" for k, v in sorted(settings.items()))
    names = {"python": "Python", "tensorflow": "TensorFlow", "keras": "Keras", "numpy": "NumPy"}
    versions = environment.get("versions") or {}
    shown = ", ".join(f"{label} {versions[key]}" for key, label in names.items() if key in versions)
    cpu = environment.get("cpu") or "an unrecorded CPU"
    line = f"`{cpu}`{f' ({units})' if units else ''}, {threads}"
    return f"{line}; {shown}" if shown else line


class DeterminismHooks:
    """Apply ``params:deterministic`` before any node runs; record a table run's machine."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        deterministic = bool(context.params.get("deterministic", True))
        configure(deterministic)
        isa = cap_instruction_set(context.params.get("max_cpu_isa"))
        logger.info(
            "deterministic: %s%s; oneDNN kernels: %s",
            deterministic,
            "" if deterministic else " (the backend may pick faster, order-dependent kernels)",
            f"at most {isa}" if isa else "the CPU's best (docs/reproducibility.md)",
        )

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        """Save :func:`run_environment` when this run made a results table."""
        made = sorted(TABLE_OUTPUTS & set(pipeline.all_outputs()))
        if not made or ENVIRONMENT_DATASET not in catalog:
            return
        catalog.save(ENVIRONMENT_DATASET, {**run_environment(), "tables": made})
