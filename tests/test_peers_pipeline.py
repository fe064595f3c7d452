"""The peer rows on the tiny world: in the default run's tables, and rerun alone.

The default run (the shared ``tiny_run`` fixture) already checks that every row of
the configuration, the peers included, is in its table, has its MLflow run and, when
trained, its logged model (test_end_to_end.py). Here: the peers' own outputs, and
``kedro run --pipelines=peers`` sliced on a copy of that run's data.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro_runs import isolated_outputs, run_session

from coldstart.pipelines.peers.pipeline import TEMPLATES
from coldstart.rows import load_rows, rows_for

PEER_ROWS = [ns for template in TEMPLATES for ns in rows_for(template)]


def _versions(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def _latest(folder: Path) -> Path:
    return _versions(folder)[-1] / folder.name


@pytest.mark.slow
def test_peer_rows_are_in_the_default_runs_tables(tiny_run: dict) -> None:
    data = Path(tiny_run["params"]["data_root"])
    rows = load_rows()
    tables = {
        level: pd.read_csv(data / "08_reporting" / f"{name}.csv").set_index("approach")
        for level, name in (("artist", "table1_artist"), ("song", "table2_song"))
    }
    for ns in PEER_ROWS:
        row = rows[ns]
        assert row["approach"] in tables[row["table"]].index, ns
        assert np.isfinite(tables[row["table"]].loc[row["approach"], "map_at_500"])
        result = json.loads(
            _latest(data / "08_reporting" / "rows" / ns / "row_result.json").read_text()
        )
        assert result["row"]["approach"] == row["approach"]
        if row.get("user_factors") == "own":
            users = np.load(_latest(data / "07_model_output" / ns / "user_factors.npy"))
            assert users.shape[0] >= result["metrics"]["n_users"]
        if row["template"] == "dropoutnet":
            history = json.loads(
                _latest(data / "08_reporting" / "rows" / ns / "training_history.json").read_text()
            )
            grid = history["dropout_grid_val_loss"]
            assert len(grid) == 2 and grid[f"{history['dropout_rate']:g}"] == min(grid.values())


@pytest.mark.slow
def test_the_peers_pipeline_reruns_its_rows_alone(tiny_run: dict, tmp_path: Path) -> None:
    """``kedro run --pipelines=peers`` on a copy of the run: the peer rows only, and the tables."""
    import mlflow

    data = tmp_path / "data"
    shutil.copytree(tiny_run["params"]["data_root"], data)
    params = {
        **isolated_outputs(tmp_path),
        "dataset_dir": tiny_run["params"]["dataset_dir"],
        "data_root": str(data),
    }
    before = {
        ns: len(_versions(data / "08_reporting" / "rows" / ns / "row_result.json"))
        for ns in [*PEER_ROWS, "a_sem", "audio"]
    }
    run_session(params, "peers")
    for ns in PEER_ROWS:
        assert (
            len(_versions(data / "08_reporting" / "rows" / ns / "row_result.json"))
            == before[ns] + 1
        )
    for ns in ("a_sem", "audio"):  # the rows the peers read are not rerun
        assert len(_versions(data / "08_reporting" / "rows" / ns / "row_result.json")) == before[ns]
    client = mlflow.MlflowClient(tracking_uri=params["mlflow_tracking_uri"])
    experiment = client.get_experiment_by_name("coldstart")
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.row != ''")
    rows = load_rows()
    expected = {
        f"table{1 if rows[ns]['table'] == 'artist' else 2}/{rows[ns]['approach']}"
        for ns in PEER_ROWS
    }
    assert {run.info.run_name for run in runs} == expected
    table = pd.read_csv(data / "08_reporting" / "table1_artist.csv")
    assert {"a-sem", "dropoutnet-tags", "cmf-tags", "lightfm-tags"} <= set(table["approach"])
