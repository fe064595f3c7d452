"""The environment's settings survive building the pipelines (the registry reads conf too)."""

from __future__ import annotations

from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def test_env_test_keeps_the_tiny_world_after_the_pipelines_are_built() -> None:
    """Building every pipeline must not re-resolve `--env=test` settings to base ones.

    The registry wires rows from conf/base; it once did so with a second
    OmegaConfigLoader, whose registration of OmegaConf's process-wide resolvers made
    `kedro run --env=test` read the default world's dataset_dir and data_root.
    """
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT)
    with KedroSession.create(project_path=PROJECT, env="test") as session:
        context = session.load_context()
        assert "__default__" in pipelines and len(pipelines["__default__"].nodes) > 50
        assert context.params["dataset_dir"] == "data/01_raw/synthetic_tiny"
        assert context.params["releases_dir"] == "data/01_raw/synthetic_tiny/releases"
        catalog = context.catalog
        assert Path(str(catalog.get("artists")._filepath)).is_relative_to(PROJECT / "data/test_env")
        assert catalog.get("raw_triplets")._path.is_relative_to(
            PROJECT / "data/01_raw/synthetic_tiny"
        )
