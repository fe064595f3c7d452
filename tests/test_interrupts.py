"""Ctrl-C and SIGTERM stop a run within seconds, say what was kept, leave no orphans.

A real ``kedro run --env=test --pipelines=world`` generates the tiny world in a
temporary folder; once its audio workers have written their first track, the
parent alone (not its process group: what ``kill PID`` or a supervisor does) gets
the signal. The run must end promptly with a non-zero status, one line saying how
many finished tracks are on disk, and none of its worker processes left alive.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import psutil
import pytest
from hardening_support import mlflow_runs, start_cli
from kedro_runs import isolated_outputs
from waits import scaled, wait_for

pytestmark = pytest.mark.slow

#: generous bound on "stops within a few seconds" for a loaded 2-core machine, scaled
#: like every other wait (COLDSTART_TEST_TIMEOUT_SCALE) so a slow machine is no failure
STOP_WITHIN_S = scaled(30)
KEPT_LINE = re.compile(r"World audio stopped by (SIG\w+): (\d+) of (\d+) tracks finished")


def _log(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _alive(pids: list[int]) -> list[int]:
    """The pids still running (a zombie is dead, only not yet reaped)."""
    living = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                living.append(pid)
        except psutil.NoSuchProcess:
            pass
    return living


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_the_parent_stops_world_audio_promptly(
    tmp_path: Path, signum: signal.Signals
) -> None:
    raw = tmp_path / "raw"
    # two workers even on a one-core machine, one track per task: the pool is busy
    params = {
        "dataset_dir": str(raw),
        "generate_world": True,  # a temporary folder: generated only when asked
        **isolated_outputs(tmp_path),
        "world.n_jobs": 2,
        "world.chunk_size": 1,
    }
    log = tmp_path / "run.log"
    run = start_cli(params, log, "--pipelines=world")
    try:
        wait_for(
            lambda: "World audio: rendering" in _log(log),
            300,
            "audio rendering to start",
            process=run,
            log=log,
        )
        before = {p.name for p in (raw / "audio").iterdir()}
        wait_for(
            lambda: (
                {p.name for p in (raw / "audio").iterdir() if not p.name.startswith(".")} - before
            ),
            120,
            "the first rendered track",
        )
        workers = [child.pid for child in psutil.Process(run.pid).children(recursive=True)]
        assert workers, "the world audio ran without worker processes"
        sent = time.monotonic()
        run.send_signal(signum)
        status = run.wait(timeout=180)
        took = time.monotonic() - sent
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    output = _log(log)
    assert status != 0, output[-3000:]
    assert took < STOP_WITHIN_S, f"took {took:.1f} s to stop\n{output[-3000:]}"
    assert "Exception in thread" not in output, output[-3000:]  # the pool's own threads
    summaries = KEPT_LINE.findall(output)
    assert len(summaries) == 1, output[-3000:]
    (name, kept, total) = summaries[0]
    assert name == signum.name
    rendered = [
        p for p in (raw / "audio").iterdir() if not p.name.startswith(".") and p.stat().st_size
    ]
    assert 0 < int(kept) < int(total)
    # the count is the truth: every finished track is on disk, no half-written temp file
    assert not [p.name for p in (raw / "audio").iterdir() if ".tmp" in p.name]
    assert len(rendered) >= int(kept)
    assert (raw / ".world_incomplete").exists()  # the next run regenerates the world
    wait_for(lambda: not _alive(workers), 30, f"the workers {workers} to exit")
    assert not _alive(workers)
    # the run's MLflow record says it was stopped, not that it failed or finished
    assert [run.info.status for run in mlflow_runs(params)] == ["KILLED"]


def test_workers_ignore_ctrl_c_so_the_parent_decides(tmp_path: Path) -> None:
    """Ctrl-C in a terminal signals the whole process group: the workers ignore it
    (they are ended by the parent), so the summary is written once, by the parent."""
    raw = tmp_path / "raw"
    params = {
        "dataset_dir": str(raw),
        "generate_world": True,  # a temporary folder: generated only when asked
        **isolated_outputs(tmp_path),
        "world.n_jobs": 2,
        "world.chunk_size": 1,
    }
    log = tmp_path / "run.log"
    run = start_cli(params, log, "--pipelines=world", new_session=True)
    try:
        wait_for(
            lambda: "World audio: rendering" in _log(log),
            300,
            "audio rendering to start",
            process=run,
            log=log,
        )
        wait_for(
            lambda: len(psutil.Process(run.pid).children(recursive=True)) >= 2, 120, "2 workers"
        )
        workers = [child.pid for child in psutil.Process(run.pid).children(recursive=True)]
        sent = time.monotonic()
        os.killpg(run.pid, signal.SIGINT)  # the whole group, as a terminal's Ctrl-C
        status = run.wait(timeout=180)
        took = time.monotonic() - sent
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    output = _log(log)
    assert status != 0, output[-3000:]
    assert took < STOP_WITHIN_S, f"took {took:.1f} s to stop\n{output[-3000:]}"
    assert [m[0] for m in KEPT_LINE.findall(output)] == ["SIGINT"], output[-3000:]
    wait_for(lambda: not _alive(workers), 30, f"the workers {workers} to exit")


#: tracks the extraction computes; the workers then wait until they are ended
EXTRACTION_FINISHING = 2
EXTRACTION_SCRIPT = f"""
import logging, sys, threading
from pathlib import Path
import numpy as np, soundfile as sf
from coldstart.audio import CQTConfig, FeatureStore
from coldstart.audio import extraction
from coldstart.audio.extraction import extract_to_store
from coldstart.pools import worker_context

logging.basicConfig(level=logging.INFO, stream=sys.stderr)
folder = Path(sys.argv[1])
# A quiet machine computes all 60 spectrograms in about 2 s, faster than a loaded one
# notices the first: past the first {EXTRACTION_FINISHING} tracks the workers wait until
# they are ended, so the signal always finds the pool busy. The forked workers inherit
# the wrapper; the spectrograms themselves are librosa's, unchanged.
assert worker_context().get_start_method() == "fork"
real_features = extraction.audio_to_features
finishing = {{f"TR{{i:03d}}.wav" for i in range({EXTRACTION_FINISHING})}}

def gated_features(path, *args, **kwargs):
    if Path(path).name not in finishing:
        threading.Event().wait()
    return real_features(path, *args, **kwargs)

extraction.audio_to_features = gated_features
rng = np.random.default_rng(0)
tracks = []
for i in range(60):
    path = folder / f"TR{{i:03d}}.wav"
    sf.write(path, 0.1 * rng.standard_normal(22050 * 30), 22050)
    tracks.append((f"TR{{i:03d}}", path))
extract_to_store(tracks, FeatureStore(folder / "store", CQTConfig()), n_jobs=2, progress=False)
"""
EXTRACTION_KEPT = re.compile(r"Audio features stopped by (SIG\w+): (\d+) of (\d+) tracks computed")


@pytest.mark.parametrize("group", [False, True], ids=["parent", "process-group"])
def test_ctrl_c_stops_audio_feature_extraction_promptly(tmp_path: Path, group: bool) -> None:
    """The audio feature pool gets the same treatment: Ctrl-C ends it within seconds,
    says how many spectrograms the store keeps (the next run computes only the rest)."""
    import subprocess
    import sys

    log = tmp_path / "extract.log"
    with open(log, "wb") as stream:
        run = subprocess.Popen(
            [sys.executable, "-c", EXTRACTION_SCRIPT, str(tmp_path)],
            stdout=stream,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(
            lambda: "Audio features: computing" in _log(log),
            300,
            "extraction to start",
            process=run,
            log=log,
        )
        wait_for(
            lambda: len(list((tmp_path / "store").glob("*/[!.]*.npy"))) == EXTRACTION_FINISHING,
            300,
            f"the first {EXTRACTION_FINISHING} spectrograms",
            process=run,
            log=log,
        )
        workers = [child.pid for child in psutil.Process(run.pid).children(recursive=True)]
        assert len(workers) == 2, f"expected the 2 pool workers, found {workers}"
        sent = time.monotonic()
        if group:
            os.killpg(run.pid, signal.SIGINT)
        else:
            run.send_signal(signal.SIGINT)
        status = run.wait(timeout=180)
        took = time.monotonic() - sent
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    output = _log(log)
    assert status != 0, output[-3000:]
    assert took < STOP_WITHIN_S, f"took {took:.1f} s to stop\n{output[-3000:]}"
    summaries = EXTRACTION_KEPT.findall(output)
    assert len(summaries) == 1, output[-3000:]
    name, kept, total = summaries[0]
    assert name == "SIGINT" and int(total) == 60
    stored = list((tmp_path / "store").glob("*/*.npy"))
    assert int(kept) == EXTRACTION_FINISHING and len(stored) == int(kept)
    assert not list((tmp_path / "store").glob("*/.tmp-*"))
    wait_for(lambda: not _alive(workers), 30, f"the workers {workers} to exit")
