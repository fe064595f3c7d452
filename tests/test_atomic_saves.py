"""Saves through the catalog are atomic: a save killed midway leaves the previous file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from waits import scaled

SLOW_SAVE = """
import sys
from coldstart.datasets import AtomicJSONDataset
from kedro_datasets.json import JSONDataset
cls = {"atomic": AtomicJSONDataset, "plain": JSONDataset}[sys.argv[1]]
kwargs = {"filepath": sys.argv[2]}
if sys.argv[3] == "versioned":
    from kedro.io import Version
    kwargs["version"] = Version(None, None)
print("saving", flush=True)
cls(**kwargs).save(list(range(30_000_000)))  # a few seconds of json.dump
"""


def _kill_midway(kind: str, target: Path, versioned: str, watch: Path) -> None:
    """Start a slow save of ``target`` and SIGKILL it once bytes are being written."""
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_SAVE, kind, str(target), versioned], stdout=subprocess.PIPE
    )
    assert process.stdout.readline().strip() == b"saving"
    deadline = time.monotonic() + scaled(300)
    while time.monotonic() < deadline:
        written = [p for p in watch.rglob("*") if p.is_file() and p.stat().st_size > 1000]
        if written:
            break
        time.sleep(0.01)
    else:
        process.kill()
        pytest.fail("the save never started writing")
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def test_plain_kedro_datasets_leave_a_truncated_file(tmp_path):
    """The failure the atomic classes exist for (kedro-datasets as they ship)."""
    from kedro_datasets.json import JSONDataset

    target = tmp_path / "plain.json"
    JSONDataset(filepath=str(target)).save({"good": True})
    _kill_midway("plain", target, "unversioned", tmp_path)
    with pytest.raises(json.JSONDecodeError):
        json.loads(target.read_text())


def test_a_killed_save_keeps_the_previous_file(tmp_path):
    from coldstart.datasets import AtomicJSONDataset

    target = tmp_path / "atomic.json"
    AtomicJSONDataset(filepath=str(target)).save({"good": True})
    _kill_midway("atomic", target, "unversioned", tmp_path)
    assert AtomicJSONDataset(filepath=str(target)).load() == {"good": True}


def test_a_killed_versioned_save_does_not_hide_the_previous_version(tmp_path):
    from kedro.io import Version

    from coldstart.datasets import AtomicJSONDataset

    target = tmp_path / "versioned.json"
    AtomicJSONDataset(filepath=str(target), version=Version(None, None)).save({"good": 1})
    time.sleep(0.01)  # a later version timestamp for the killed save
    _kill_midway("atomic", target, "versioned", target)
    assert len([p for p in target.iterdir() if p.is_dir()]) == 2  # the killed save's folder
    assert AtomicJSONDataset(filepath=str(target), version=Version(None, None)).load() == {
        "good": 1
    }


def test_every_atomic_class_round_trips_and_leaves_no_temporary(tmp_path):
    import keras
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from coldstart import datasets

    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    cases = [
        (datasets.AtomicParquetDataset, "t.parquet", frame),
        (datasets.AtomicCSVDataset, "t.csv", frame),
        (datasets.AtomicJSONDataset, "t.json", {"k": [1, 2]}),
        (datasets.AtomicTextDataset, "t.md", "| a |\n"),
    ]
    for cls, name, data in cases:
        dataset = cls(filepath=str(tmp_path / name))
        dataset.save(data)
        loaded = dataset.load()
        if isinstance(data, pd.DataFrame):
            pd.testing.assert_frame_equal(loaded.reset_index(drop=True), data)
        else:
            assert loaded == data
    figure, axis = plt.subplots()
    axis.plot([0, 1])
    datasets.AtomicMatplotlibDataset(filepath=str(tmp_path / "f.png")).save(figure)
    plt.close(figure)
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    keras_file = tmp_path / "m.keras"
    datasets.AtomicTensorFlowModelDataset(filepath=str(keras_file)).save(model)
    again = datasets.AtomicTensorFlowModelDataset(filepath=str(keras_file)).load()
    x = np.ones((1, 3), dtype=np.float32)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0))
    assert not [p for p in tmp_path.rglob(".*.partial")]
