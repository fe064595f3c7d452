"""The project on the Keras JAX backend: selection, refusal, and a tiny-world slice end to end."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hardening_support import PROJECT, cli_args, tiny_root

from coldstart.backend import BackendError, normalise, select_backend


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
def test_tiny_world_text_and_audio_rows_on_jax(tmp_path):
    """``KERAS_BACKEND=jax kedro run --env=test`` up to one text row and the audio row."""
    pytest.importorskip("jax")
    params = tiny_root(tmp_path)
    done = subprocess.run(
        cli_args(params, "--to-outputs=a_sem.row_result,audio.row_result"),
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=float(os.environ.get("COLDSTART_TEST_TIMEOUT_SCALE", "1")) * 1800,
        env={**os.environ, "KERAS_BACKEND": "jax", "COLUMNS": "200"},
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "Keras backend: jax" in output
    for row in ("a_sem", "audio"):
        folder = Path(params["data_root"]) / "08_reporting" / "rows" / row / "row_result.json"
        (result,) = folder.rglob("row_result.json")
        metrics = json.loads(result.read_text())["metrics"]
        ap = [v for key, v in metrics.items() if key == "map_at_500"]
        assert ap and ap[0] > 0.0, (row, metrics)
