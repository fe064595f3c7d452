"""Running the project through a real Kedro session from tests."""

from __future__ import annotations

from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def isolated_outputs(root: Path) -> dict[str, str]:
    """Runtime params sending every output of a run (data, MLflow store) under ``root``."""
    return {
        "data_root": str(root / "data"),
        "mlflow_tracking_uri": f"sqlite:///{root / 'mlruns.db'}",
        "mlflow_artifact_location": str(root / "mlartifacts"),
    }


def run_session(
    runtime_params: dict,
    pipeline_name: str | None = None,
    env: str = "test",
    conf_source: str | None = None,
) -> None:
    """``kedro run --env=<env> [--pipelines=<name>] [--conf-source=...] --params=...``, in process."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from coldstart.rows import use_session_parameters

    bootstrap_project(PROJECT)
    try:
        with KedroSession.create(
            project_path=PROJECT, env=env, conf_source=conf_source, runtime_params=runtime_params
        ) as session:
            session.run(pipeline_names=[pipeline_name] if pipeline_name else None)
    finally:
        # the session wired its rows from its own parameters (a dataset without audio
        # switches rows off); the tests after it read the project's conf again
        use_session_parameters(None)
