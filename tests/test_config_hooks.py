"""A session's configuration checked before anything runs: --params typos, the MLflow store,
and where a synthetic world may be generated."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from coldstart.config_hooks import MlflowStoreHooks, project_sqlite_uri, unknown_parameters
from coldstart.pipelines.world.nodes import DatasetDirError, ensure_raw_dataset, may_generate_world

PROJECT = Path(__file__).resolve().parents[1]


def _loader(env: str, runtime_params: dict):
    """The project's configuration loader for ``--env=<env> --params=<runtime_params>``."""
    from kedro.framework.project import settings
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT)
    return settings.CONFIG_LOADER_CLASS(
        conf_source=str(PROJECT / "conf"),
        env=env,
        runtime_params=runtime_params,
        **settings.CONFIG_LOADER_ARGS,
    )


def test_a_mistyped_key_is_named_with_the_closest_known_one() -> None:
    params = {"datset_dir": "/data/msd_a", "sede": 3, "zzzzzz": 1}
    unknown = unknown_parameters(params, _loader("test", params))
    assert unknown == {"datset_dir": "dataset_dir", "sede": "seed", "zzzzzz": None}


def test_parameters_and_the_run_time_settings_the_configuration_reads_are_known() -> None:
    params = {
        # top-level keys of the parameter files, whole or dotted (world.preset=...)
        "dataset_dir": "/d",
        "seed": 3,
        "world": {"preset": "tiny"},
        "generate_world": True,
        # read only through ${runtime_params:...} in catalog, parameters and mlflow.yml
        "data_root": "/r",
        "cache_root": "/c",
        "mlflow_tracking_uri": "sqlite:////tmp/m.db",
        "mlflow_artifact_location": "/a",
        "mlflow_run_id": "0" * 32,
        "mlflow_run_name": "seed 1",
    }
    assert unknown_parameters(params, _loader("test", params)) == {}
    msd_a = {"release_dir": "/MSD-A", "data_root": "/r"}  # read by conf/msd_a only
    assert unknown_parameters(msd_a, _loader("msd_a", msd_a)) == {}
    assert unknown_parameters(msd_a, _loader("test", msd_a)) == {"release_dir": "releases_dir"}


@pytest.mark.slow
def test_the_kedro_command_stops_on_a_typo_before_anything_runs(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kedro", "run", "--env=test",
         f"--params=datset_dir={tmp_path / 'msd_a'},data_root={tmp_path / 'data'},"
         f"mlflow_tracking_uri=sqlite:///{tmp_path / 'mlruns.db'}"],
        cwd=PROJECT, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "'datset_dir': did you mean 'dataset_dir'?" in output
    assert "Traceback" not in output  # the message alone
    assert not (tmp_path / "data").exists() and not (tmp_path / "mlruns.db").exists()


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("sqlite:///mlruns.db", "sqlite:////project/mlruns.db"),
        ("sqlite:///stores/m.db", "sqlite:////project/stores/m.db"),
        ("sqlite:////tmp/m.db", "sqlite:////tmp/m.db"),  # absolute
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("mlruns", "mlruns"),  # a plain path: kedro-mlflow resolves it against the project
        (None, None),
    ],
)
def test_a_relative_sqlite_store_is_resolved_against_the_project(uri, expected) -> None:
    assert project_sqlite_uri(uri, Path("/project")) == expected


def test_the_store_hook_rewrites_mlflow_yml_for_kedro_mlflow(tmp_path: Path, monkeypatch) -> None:
    """What kedro-mlflow reads from the loader names the project's store from any directory."""
    from types import SimpleNamespace

    monkeypatch.chdir(tmp_path)  # a notebook's folder, say
    loader = _loader("test", {})
    assert loader["mlflow"]["server"]["mlflow_tracking_uri"] == "sqlite:///mlruns.db"
    MlflowStoreHooks().after_context_created(
        SimpleNamespace(config_loader=loader, project_path=PROJECT)
    )
    server = loader["mlflow"]["server"]
    assert server["mlflow_tracking_uri"] == f"sqlite:///{PROJECT / 'mlruns.db'}"
    assert loader["mlflow"]["tracking"]["experiment"]["name"] == "coldstart"  # the rest kept


def test_an_explicit_dataset_dir_that_holds_nothing_stops_naming_it(tmp_path: Path) -> None:
    default = tmp_path / "default_world"
    missing = tmp_path / "msd_a_typo"
    with pytest.raises(DatasetDirError, match=f"dataset_dir {missing} does not exist"):
        ensure_raw_dataset(str(missing), {"preset": "tiny"}, None, "auto", str(default))
    assert not missing.exists()  # nothing generated into it
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetDirError, match=f"dataset_dir {empty} holds no dataset"):
        ensure_raw_dataset(str(empty), {"preset": "tiny"}, None, False, str(empty))
    assert list(empty.iterdir()) == []


def test_a_world_is_generated_only_into_the_default_folder_or_when_asked(tmp_path: Path) -> None:
    default = tmp_path / "data" / "01_raw" / "synthetic_default"
    elsewhere = tmp_path / "elsewhere"
    assert may_generate_world(default, "auto", str(default))
    assert may_generate_world(
        default, "AUTO", str(tmp_path / "data/01_raw/../01_raw/synthetic_default")
    )
    assert not may_generate_world(elsewhere, "auto", str(default))
    assert may_generate_world(elsewhere, True, str(default))
    assert not may_generate_world(default, False, str(default))
    with pytest.raises(ValueError, match="generate_world must be true, false or auto"):
        may_generate_world(default, "yes", str(default))
