"""Helpers of the hardening tests: a tiny world in a temporary root, real Kedro runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
TINY_WORLD = PROJECT / "data" / "01_raw" / "synthetic_tiny"
KEDRO = Path(sys.executable).with_name("kedro")


def tiny_root(root: Path) -> dict[str, str]:
    """Runtime parameters of a run in ``root``, whose raw folder holds the tiny world.

    The project's tiny world is copied when it exists (the world pipeline reuses a
    folder whose configuration matches); otherwise the run generates it (minutes).
    """
    raw = root / "raw"
    if TINY_WORLD.is_dir() and not raw.exists():
        shutil.copytree(TINY_WORLD, raw)
    return {
        "dataset_dir": str(raw),
        "generate_world": True,  # when the project's tiny world was not there to copy
        "data_root": str(root / "data"),
        "mlflow_tracking_uri": f"sqlite:///{root / 'mlruns.db'}",
        "mlflow_artifact_location": str(root / "mlartifacts"),
    }


def run_in_process(params: dict, **run_args) -> None:
    """One ``kedro run --env=test`` through a real session in this process."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT)
    with KedroSession.create(project_path=PROJECT, env="test", runtime_params=params) as session:
        session.run(**run_args)


def cli_args(params: dict, *extra: str) -> list[str]:
    """``kedro run --env=test --params=...`` as an argument list."""
    joined = ",".join(f"{key}={value}" for key, value in params.items())
    return [str(KEDRO), "run", "--env=test", f"--params={joined}", *extra]


def start_cli(params: dict, log: Path, *extra: str, new_session: bool = False) -> subprocess.Popen:
    """Start the CLI in the project folder, stdout and stderr into ``log``.

    ``new_session``: in a process group of its own, which the test can signal as a
    terminal's Ctrl-C does.
    """
    env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    with open(log, "wb") as stream:
        return subprocess.Popen(
            cli_args(params, *extra),
            cwd=PROJECT,
            stdout=stream,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=new_session,
        )


def mlflow_runs(params: dict) -> list:
    """Every run of the project's experiment in the run's store (none before it exists)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=params["mlflow_tracking_uri"])
    experiment = client.get_experiment_by_name("coldstart")
    if experiment is None:
        return []
    return client.search_runs([experiment.experiment_id])
