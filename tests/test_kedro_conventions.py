"""Kedro users' habits: run one row by namespace, one stage by tag."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from waits import scaled

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[1]


def _kedro(tiny_run: dict, *args: str) -> subprocess.CompletedProcess:
    params = ",".join(f"{k}={v}" for k, v in tiny_run["params"].items())
    kedro = Path(sys.executable).with_name("kedro")
    return subprocess.run(
        [str(kedro), "run", "--env=test", f"--params={params}", *args],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=scaled(1800),
        check=False,
    )


def test_one_row_runs_alone_with_namespaces(tiny_run: dict) -> None:
    data = Path(tiny_run["params"]["data_root"])
    timings = data / "08_reporting" / "node_timings.json"
    done = _kedro(tiny_run, "--namespaces=a_sem")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ran = set(json.loads(timings.read_text())["nodes"])
    assert ran and all(name.startswith("a_sem.") for name in ran), sorted(ran)
    assert {"a_sem.train_text_ff", "a_sem.evaluate", "a_sem.log_to_mlflow"} <= ran


def test_one_stage_runs_alone_with_its_tag(tiny_run: dict) -> None:
    data = Path(tiny_run["params"]["data_root"])
    done = _kedro(tiny_run, "--pipelines=tables", "--tags=factorization")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ran = set(json.loads((data / "08_reporting" / "node_timings.json").read_text())["nodes"])
    assert ran == {"factorize_songs", "factorize_artists"}
