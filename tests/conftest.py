"""Fixtures shared by the end-to-end test modules."""

from __future__ import annotations

import logging

import pytest
from kedro_runs import isolated_outputs, run_session


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One default run of the tiny world (``--env=test``) in a temporary root (minutes).

    Shared by every end-to-end module: the tables, the MLflow runs, the release
    model and its registered MLflow model all come from this run.
    """
    root = tmp_path_factory.mktemp("tiny_run")
    # a world is generated outside the default folder only when asked
    params = {"dataset_dir": str(root / "raw"), "generate_world": True, **isolated_outputs(root)}
    run_session(params)
    return {"root": root, "params": params}


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
