"""Runs that don't cross, MLflow records that tell the truth, secrets that never land.

Real ``kedro run`` subprocesses on the tiny world in a temporary root, a real
MLflow SQLite store (issue 13, "Runs that don't cross" and "Secrets").
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import pytest
from hardening_support import PROJECT, cli_args, mlflow_runs, start_cli, tiny_root
from waits import scaled, wait_for

pytestmark = pytest.mark.slow

SECRET = "s3cr3t-babelfy-key-4242"


def _running_parent(params: dict, pid: int) -> str | None:
    """The id of process ``pid``'s MLflow run once it is RUNNING and tagged with its pid.

    Read from the SQLite file read-only, never through an MLflow client: a client
    creates and migrates a store it finds empty, and doing that while the run is
    creating the same store made the run fail (``_alembic_tmp_experiments already
    exists``) on a slow machine, where the two overlap. A store not made yet raises,
    which the wait counts as "not yet".
    """
    import sqlite3

    path = params["mlflow_tracking_uri"].removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as store:
        row = store.execute(
            "SELECT runs.run_uuid FROM runs JOIN tags ON tags.run_uuid = runs.run_uuid "
            "WHERE runs.status = 'RUNNING' AND tags.key = 'coldstart.pid' AND tags.value = ?",
            (str(pid),),
        ).fetchone()
    return row[0] if row else None


# Bounds of the waits below (scaled by COLDSTART_TEST_TIMEOUT_SCALE, tests/waits.py): a
# run that starts in seconds on an idle machine took minutes on a busy one (issue 25)
START_S = 1200  # the first run's MLflow run: imports, and the tiny world when not copied
RUN_S = 1200  # a whole refused or stopped `kedro run`, start-up included
FINISH_S = 600  # a terminated run ending its MLflow run and releasing the lock


def _finish(process: subprocess.Popen, timeout_s: float = FINISH_S) -> int:
    try:
        return process.wait(timeout=scaled(timeout_s))
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def test_a_concurrent_run_is_refused_and_a_terminated_run_ends_killed(tmp_path: Path) -> None:
    """Run A holds the data_root; run B on the same data_root is refused, naming A;
    SIGTERM to A ends its MLflow run KILLED (not RUNNING forever) and frees the lock."""
    params = tiny_root(tmp_path)
    first = start_cli(params, tmp_path / "a.log")
    try:
        run_id = wait_for(
            lambda: _running_parent(params, first.pid),
            START_S,
            "run A's MLflow run",
            process=first,
            log=tmp_path / "a.log",
        )
        second = subprocess.run(
            cli_args(params, "--pipelines=ingestion"),
            cwd=PROJECT,
            capture_output=True,
            text=True,
            timeout=scaled(RUN_S),
            env={**os.environ, "COLUMNS": "200"},
        )
        output = second.stdout + second.stderr
        # B was refused only if A still held the lock: an A that ended first proves nothing
        assert first.poll() is None, "run A ended before run B tried: nothing was tested"
        assert second.returncode != 0, output[-3000:]
        assert "Another `kedro run` is using data_root" in output, output[-3000:]
        assert f"pid {first.pid}" in output, output[-3000:]
        first.send_signal(signal.SIGTERM)
        _finish(first)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    runs = {r.info.run_id: r for r in mlflow_runs(params)}
    assert runs[run_id].info.status == "KILLED"
    assert not [r for r in runs.values() if r.info.status == "RUNNING"]
    # the lock went with A: the refused run B left no MLflow run behind
    assert len([r for r in runs.values() if "mlflow.parentRunId" not in r.data.tags]) == 1
    assert (Path(params["data_root"]) / ".kedro_run.lock").read_text() == ""


def test_a_killed_run_is_marked_killed_and_a_stopped_run_ends_failed(tmp_path: Path) -> None:
    """``kill -9`` leaves a RUNNING run and a lock naming a dead process: the next run
    takes the lock over with a warning, marks the dead run KILLED, and -- stopped by
    the missing-inputs check -- ends its own run FAILED, not FINISHED."""
    params = tiny_root(tmp_path)
    victim = start_cli(params, tmp_path / "victim.log")
    try:
        run_id = wait_for(
            lambda: _running_parent(params, victim.pid),
            START_S,
            "the victim's run",
            process=victim,
            log=tmp_path / "victim.log",
        )
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    assert {r.info.run_id: r for r in mlflow_runs(params)}[run_id].info.status == ("RUNNING")
    # fusion's inputs (embeddings, audio features) were never made: the check stops it
    rerun = subprocess.run(
        cli_args(params, "--pipelines=fusion"),
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=scaled(RUN_S),
        env={**os.environ, "COLUMNS": "200"},
    )
    output = rerun.stdout + rerun.stderr
    assert rerun.returncode != 0, output[-3000:]
    assert "input(s) that are not in the catalog yet" in output, output[-3000:]
    assert "left by a run that is gone" in output, output[-3000:]
    runs = mlflow_runs(params)
    by_id = {r.info.run_id: r for r in runs}
    assert by_id[run_id].info.status == "KILLED"
    stopped = [r for r in runs if r.info.run_id != run_id and r.info.run_name == "fusion"]
    assert [r.info.status for r in stopped] == ["FAILED"]
    assert not [r for r in runs if r.info.status in ("RUNNING", "FINISHED")]


def _store_text(root: Path) -> str:
    """Everything the MLflow store holds, as text: the database and every artifact."""
    chunks = []
    for path in [root / "mlruns.db", *sorted((root / "mlartifacts").rglob("*"))]:
        if path.is_file():
            chunks.append(path.read_bytes().decode("latin-1"))
    return "\n".join(chunks)


def test_a_key_given_as_a_parameter_is_refused_before_anything_is_logged(
    tmp_path: Path,
) -> None:
    """``--params=semantic_enrichment.linker.babelfy.key=...`` stops the run before
    kedro-mlflow logs parameters or the ``runtime_params`` tag: the key is nowhere in
    the store; the hint names the credentials file of the environment in use."""
    params = tiny_root(tmp_path)
    result = subprocess.run(
        cli_args({**params, "semantic_enrichment.linker.babelfy.key": SECRET}),
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=scaled(RUN_S),
        env={**os.environ, "COLUMNS": "200"},
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "semantic_enrichment.linker.babelfy.key" in output, output[-3000:]
    assert "conf/test/credentials.yml" in output, output[-3000:]
    assert SECRET not in output
    assert SECRET not in _store_text(tmp_path)
    for run in mlflow_runs(params):
        assert SECRET not in repr(run.data.params) + repr(run.data.tags)
