"""How a results-table row's training moves with the machine's arithmetic.

Trains one row or a chain of rows (default: ``mm_lf_lin``) from the inputs an earlier ``kedro run``
left in ``--data-root``, once per *variant* -- a set of environment variables that
changes how TensorFlow's CPU kernels sum -- each in a fresh process, and prints per
variant: the oneDNN instruction set the kernels ran with, every epoch's validation
loss (all digits), the epoch early stopping kept, the row's MAP@500, a hash of the
predicted test factors and the wall time. Nothing is written: the outputs stay in
memory, so the run that made ``--data-root`` is left as it was.

Variants (``--variants``; pick any):

* ``default``      -- what ``kedro run`` does on this machine;
* ``avx2``         -- ``ONEDNN_MAX_CPU_ISA=AVX2``: oneDNN limited to the AVX2 kernels
  an older x86-64 CPU has (the arithmetic of a second machine, on this one);
* ``avx512``       -- ``ONEDNN_MAX_CPU_ISA=AVX512_CORE``: AVX-512 without AMX/VNNI/BF16;
* ``no-onednn``    -- ``TF_ENABLE_ONEDNN_OPTS=0``: TensorFlow's own Eigen kernels;
* ``no-onednn-avx2`` -- the Eigen kernels with oneDNN limited to AVX2 (oneDNN then
  serves only the ops TensorFlow has no Eigen kernel for);
* ``threads1``     -- one intra-op and one inter-op thread;
* ``threads1-avx2`` -- one thread, AVX2 kernels.

Example (the measurements in docs/reproducibility.md)::

    nice -n 15 python benchmarks/bench_reproducibility.py --rows mm_lf_lin \\
        --data-root /path/to/a/default/run/data --variants default,avx2,no-onednn
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

VARIANTS: dict[str, dict[str, str]] = {
    "default": {},
    "avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
    "avx512": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
    "no-onednn": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "no-onednn-avx2": {"TF_ENABLE_ONEDNN_OPTS": "0", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "threads1": {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"},
    "threads1-avx2": {
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
    },
}

# A convolution and a matrix product, enough for oneDNN to report the ISA it dispatches to.
_ISA_PROBE = (
    "import tensorflow as tf\n"
    "x = tf.random.normal([2, 96, 64, 1]); k = tf.random.normal([4, 4, 1, 8])\n"
    "tf.nn.conv2d(x, k, 1, 'SAME'); tf.linalg.matmul(tf.ones([64, 64]), tf.ones([64, 64]))\n"
)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def onednn_isa(env: dict[str, str]) -> str:
    """The ``isa:`` line oneDNN prints with ``ONEDNN_VERBOSE=1``, or why there is none."""
    probe_env = {**os.environ, **env, "ONEDNN_VERBOSE": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", _ISA_PROBE],
        env=probe_env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    for line in done.stdout.splitlines():
        if ",isa:" in line:
            return line.split(",isa:", 1)[1].strip()
    return "no oneDNN primitive ran (TensorFlow's Eigen kernels)"


def row_nodes(rows: list[str]) -> list[Any]:
    """The rows' nodes of the default pipeline, in run order, without the MLflow loggers."""
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(Path.cwd())
    pipeline = pipelines["__default__"].only_nodes_with_namespaces(rows)
    return [
        node for node in pipeline.nodes if "mlflow" not in node.name and "model_to" not in node.name
    ]


def train_rows(
    rows: list[str], data_root: str, dataset_dir: str, epochs: int | None
) -> dict[str, Any]:
    """Run the rows' nodes in memory from the data in ``data_root``; what each gave.

    A row listed after another reads that row's outputs from memory (``audio,mm_lf_lin``:
    the late fusion on the embeddings of the audio CNN just trained), not from disk.
    """
    import numpy as np
    from kedro.config import OmegaConfigLoader
    from kedro.io import DataCatalog

    from coldstart import determinism

    runtime = {"data_root": data_root, "dataset_dir": dataset_dir}
    config = OmegaConfigLoader(
        "conf", base_env="base", default_run_env="local", runtime_params=runtime
    )
    params = config["parameters"]
    determinism.configure(bool(params.get("deterministic", True)))
    if epochs is not None:
        for row in rows:
            params[row]["training"]["epochs"] = epochs
    catalog = DataCatalog.from_config(config["catalog"])
    memory: dict[str, Any] = {}

    def value(name: str) -> Any:
        if name not in memory:
            if name.startswith("params:"):
                memory[name] = _param(params, name.removeprefix("params:"))
            else:
                memory[name] = catalog.load(name)
        return memory[name]

    started = time.perf_counter()
    for node in row_nodes(rows):
        memory.update(node.run({name: value(name) for name in node.inputs}))
    # CPU seconds as well as wall seconds: on a shared machine only the former compare
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    result: dict[str, Any] = {
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds_process": round(cpu.ru_utime + cpu.ru_stime, 1),
    }
    for row in rows:
        losses = list(memory[f"{row}.training_history"].get("val_loss", []))
        factors = np.ascontiguousarray(memory[f"{row}.test_item_factors"], dtype=np.float32)
        result[row] = {
            "val_loss": [repr(float(v)) for v in losses],
            "epochs_run": len(losses),
            "best_epoch": int(np.argmin(losses)) + 1 if losses else None,
            "map_at_500": float(memory[f"{row}.row_result"]["metrics"]["map_at_500"]),
            "test_factors_sha256": hashlib.sha256(factors.tobytes()).hexdigest()[:16],
        }
    return result


def _param(params: dict[str, Any], dotted: str) -> Any:
    value: Any = params
    for key in dotted.split("."):
        value = value[key]
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", default="mm_lf_lin", help="row namespaces in run order, e.g. audio,mm_lf_lin"
    )
    parser.add_argument("--data-root", default="data", help="the data folder of a finished run")
    parser.add_argument("--dataset-dir", default=None, help="default: <data-root>/01_raw/...")
    parser.add_argument("--variants", default="default,avx2,no-onednn")
    parser.add_argument("--epochs", type=int, default=None, help="cap the row's epochs")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    dataset_dir = args.dataset_dir or str(Path(args.data_root) / "01_raw" / "synthetic_default")
    if args.child:
        # the epoch lines of coldstart.models.common (val_loss per epoch) on stderr
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        result = train_rows(args.rows.split(","), args.data_root, dataset_dir, args.epochs)
        print("RESULT " + json.dumps(result), flush=True)
        return 0
    print(f"CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; rows {args.rows}", flush=True)
    for name in args.variants.split(","):
        env = VARIANTS[name]
        command = [sys.executable, __file__, "--child", "--rows", args.rows]
        command += ["--data-root", args.data_root, "--dataset-dir", dataset_dir]
        if args.epochs is not None:
            command += ["--epochs", str(args.epochs)]
        done = subprocess.run(
            command, env={**os.environ, **env}, capture_output=True, text=True, check=False
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode != 0 or not lines:
            print(f"{name}: failed (exit {done.returncode})\n{done.stderr[-3000:]}", flush=True)
            continue
        result = json.loads(lines[-1].removeprefix("RESULT "))
        result = {"variant": name, "env": env, "isa": onednn_isa(env), **result}
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
