"""Running the project through a real Kedro session from tests."""

from __future__ import annotations

from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def run_session(runtime_params: dict, pipeline_name: str | None = None, env: str = "test") -> None:
    """``kedro run --env=<env> [--pipeline=<name>] --params=<runtime_params>``, in process."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT)
    with KedroSession.create(
        project_path=PROJECT, env=env, runtime_params=runtime_params
    ) as session:
        session.run(pipeline_name=pipeline_name)
