"""The project on the other Keras backends (JAX, PyTorch): selection, refusal, the model
unit tests, and a tiny-world slice end to end whose content rows beat random.

JAX is in the lock (the ``dev`` extra), so CI runs these on JAX; PyTorch is not (see
docs/gpu.md), and its cases run only where ``torch`` is installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hardening_support import PROJECT, cli_args, tiny_root

from coldstart.backend import BackendError, normalise, select_backend

OTHER_BACKENDS = ("jax", "torch")
TIMEOUT_SCALE = float(os.environ.get("COLDSTART_TEST_TIMEOUT_SCALE", "1"))

#: The model unit tests (and the scoring device path, written over ``keras.ops``), run
#: again in a process whose Keras imports with the backend under test.
MODEL_UNIT_TESTS = (
    "tests/test_audio_cnn.py",
    "tests/test_fusion_models.py",
    "tests/test_determinism.py",
    "tests/test_metrics.py::test_device_path_through_the_keras_backend_matches_the_cpu_path",
    "tests/test_metrics.py::test_device_path_gives_every_cut_off_of_the_cpu_path",
    "tests/test_recommend.py::test_device_path_through_the_keras_backend_matches_the_reference",
)

#: Backends on which the tiny world's content rows were seen to beat random. On PyTorch
#: the slice runs end to end but a-sem came out below random (-0.041, p 7e-4) and
#: mm-lf-lin ahead without power (+0.022, p 0.05), one run; not yet explained (docs/gpu.md).
CONTENT_VALIDATED = ("jax",)

#: (random row, content row trained by Keras) per table, and the p-value of the planned,
#: paired t-test over users the content row must stay under. Measured on the tiny world
#: (300 users; 6 test artists, 22 test songs), TensorFlow vs JAX: a-sem +0.067 (p 5e-5)
#: vs +0.057 (p 4e-4) over random, mm-lf-lin +0.052 (p 8e-5) vs +0.051 (p 6e-4). The
#: other Keras rows are level with random there on at least one backend (a-tags: +0.050,
#: p 0.001 on TensorFlow, +0.010, p 0.45 on JAX): the tiny world cannot show them.
CONTENT_BEATS_RANDOM = {
    "artist": ("random_artist", "a_sem", 0.01),
    "song": ("random_song", "mm_lf_lin", 0.01),
}


def _require(backend: str) -> None:
    pytest.importorskip(backend, reason=f"the {backend} package is not installed")


def test_backend_names_and_refusals(monkeypatch):
    assert normalise("PyTorch") == "torch" and normalise(None) is None
    with pytest.raises(BackendError, match="must be one of"):
        normalise("mxnet")
    import keras

    other = "jax" if keras.backend.backend() != "jax" else "tensorflow"
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    with pytest.raises(BackendError, match="already imported"):
        select_backend(other)
    assert select_backend(keras.backend.backend()) == keras.backend.backend()


@pytest.mark.slow
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_model_unit_tests_pass_on_backend(backend: str) -> None:
    """The model unit tests, in a process whose Keras runs on ``backend`` (a few minutes)."""
    _require(backend)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow"]
        + list(MODEL_UNIT_TESTS),
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SCALE * 1200,
        env={**os.environ, "KERAS_BACKEND": backend},
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert " passed" in output.strip().splitlines()[-1], output[-2000:]


def _latest(root: Path, row: str, name: str) -> Path:
    """The file a versioned dataset of ``row`` saved last (one run: the only one)."""
    (path,) = (root / "08_reporting" / "rows" / row).glob(f"{name}/*/{name}")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_tiny_world_content_rows_beat_random_on_backend(tmp_path, backend: str) -> None:
    """``KERAS_BACKEND=<backend> kedro run --env=test`` up to a text row, the audio row,
    the late-fusion row that reads both, and the random row of each table."""
    from scipy import stats

    _require(backend)
    params = tiny_root(tmp_path)
    outputs = ["audio.row_result"]
    for random_row, content_row, _ in CONTENT_BEATS_RANDOM.values():
        outputs += [f"{random_row}.user_ap", f"{content_row}.user_ap"]
    done = subprocess.run(
        cli_args(params, f"--to-outputs={','.join(outputs)}"),
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SCALE * 1800,
        env={**os.environ, "KERAS_BACKEND": backend, "COLUMNS": "200"},
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert f"Keras backend: {backend}" in output
    root = Path(params["data_root"])
    audio = json.loads(_latest(root, "audio", "row_result.json").read_text())["metrics"]
    assert audio["map_at_500"] > 0.0, audio
    if backend not in CONTENT_VALIDATED:
        pytest.xfail(f"content rows beating random not established on {backend} (docs/gpu.md)")
    for table, (random_row, content_row, alpha) in CONTENT_BEATS_RANDOM.items():
        content = np.load(_latest(root, content_row, "user_average_precision.npy"))
        random = np.load(_latest(root, random_row, "user_average_precision.npy"))
        assert content.shape == random.shape and len(content) > 0, table
        _, p = stats.ttest_rel(content, random)
        assert content.mean() > random.mean() and p < alpha, (
            table,
            content_row,
            content.mean(),
            random.mean(),
            p,
        )
