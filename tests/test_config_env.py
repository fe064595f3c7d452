"""The environment's settings survive building the pipelines (the registry reads conf too)."""

from __future__ import annotations

from pathlib import Path

import pytest
from waits import scaled

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


@pytest.mark.slow  # a `kedro run` that makes the tiny world when it is not there (minutes)
def test_the_cli_run_with_env_test_uses_the_tiny_world_folder(tmp_path) -> None:
    """``kedro run --env=test`` from the command line, whatever the default world holds.

    With the old resolution bug this run read ``data/01_raw/synthetic_default``: it
    stopped with ``WorldConfigMismatchError`` when a default world was there, and
    wrote the tiny world into the default world's folder when none was.
    """
    import json
    import subprocess
    import sys

    default = PROJECT / "data/01_raw/synthetic_default"
    before = default.stat().st_mtime_ns if default.exists() else None
    kedro = Path(sys.executable).with_name("kedro")
    done = subprocess.run(
        [str(kedro), "run", "--env=test", "--nodes=ensure_raw_dataset",
         f"--params=mlflow_tracking_uri=sqlite:///{tmp_path / 'mlruns.db'}"],
        cwd=PROJECT, capture_output=True, text=True, timeout=scaled(1800), check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    manifest = json.loads((PROJECT / "data/01_raw/synthetic_tiny/world_manifest.json").read_text())
    assert manifest["config"]["preset"] == "tiny"
    after = default.stat().st_mtime_ns if default.exists() else None
    assert after == before  # the default world's folder was neither written nor created
