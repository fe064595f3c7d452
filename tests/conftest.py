"""Fixtures shared by the end-to-end test modules."""

from __future__ import annotations

import logging
import os

import pytest
from kedro_runs import PROJECT, isolated_outputs

# the suite never touches the network: kedro-telemetry stays silent in every process the
# tests start, also in project copies that have no .telemetry file of their own
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One default run of the tiny world (``--env=test``) in a temporary root (minutes).

    Shared by every end-to-end module: the tables, the MLflow runs, the release
    model and its registered MLflow model all come from this run. It is the
    ``kedro run`` command a user types, and what it printed is kept in ``log``.
    """
    import os
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("tiny_run")
    # a world is generated outside the default folder only when asked
    params = {"dataset_dir": str(root / "raw"), "generate_world": True, **isolated_outputs(root)}
    joined = ",".join(f"{key}={value}" for key, value in params.items())
    done = subprocess.run(
        [sys.executable, "-m", "kedro", "run", "--env=test", f"--params={joined}"],
        cwd=PROJECT,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    log = root / "kedro_run.log"
    log.write_text(done.stdout + done.stderr)
    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
    return {"root": root, "params": params, "log": log}


@pytest.fixture
def rich_log():
    """Kedro's rich handler on the root logger, as in ``kedro run`` (markup on)."""
    from kedro.logging import RichHandler

    handler = RichHandler(rich_tracebacks=False)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)
