"""The multi-seed study through its real CLI on the tiny world (K = 2), and determinism.

The study's first seed is the configured seed, so its run is a second, separate
``kedro run --env=test`` of exactly the protocol the ``tiny_run`` fixture ran: its
tables, factors and per-user AP must be identical to the fixture's, to the bit.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from waits import scaled

from coldstart.study.aggregate import PAPER_CLAIMS

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[1]
SEEDS = (2017, 2018)


def _study(tiny_run: dict, store: Path) -> subprocess.CompletedProcess:
    params = tiny_run["params"]
    runtime = ",".join(
        [
            f"dataset_dir={params['dataset_dir']}",
            f"data_root={params['data_root']}",
            f"mlflow_tracking_uri=sqlite:///{store}",
        ]
    )
    return subprocess.run(
        [sys.executable, "-m", "coldstart.study", "--k", "2", "--env", "test", "--params", runtime],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=scaled(3600),
        check=False,
    )


@pytest.fixture(scope="module")
def study(tiny_run: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    store = tmp_path_factory.mktemp("study_store") / "mlruns.db"
    done = _study(tiny_run, store)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    root = Path(tiny_run["params"]["data_root"]) / "09_study" / "test"
    return {"root": root, "store": store, "first": done}


def _latest(folder: Path) -> Path:
    """The newest version of a versioned dataset folder (or the file itself)."""
    if folder.is_file():
        return folder
    return sorted(p for p in folder.iterdir() if p.is_dir())[-1] / folder.name


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_second_run_with_the_same_seed_is_identical(tiny_run: dict, study: dict) -> None:
    first = Path(tiny_run["params"]["data_root"])
    second = study["root"] / "seed_2017"
    for table in (
        "table1_artist.csv",
        "table2_song.csv",
        "table3_known_artist.csv",
        "table1_artist_significance.csv",
    ):
        assert (first / "08_reporting" / table).read_bytes() == (
            second / "08_reporting" / table
        ).read_bytes(), table
    rows = sorted(p.name for p in (first / "08_reporting" / "rows").iterdir())
    assert len(rows) >= 20
    for row in rows:
        a = np.load(_latest(first / "08_reporting" / "rows" / row / "user_average_precision.npy"))
        b = np.load(_latest(second / "08_reporting" / "rows" / row / "user_average_precision.npy"))
        assert np.array_equal(a, b), row
    index = "04_feature/audio_feature_index.parquet"  # the second run read the CQT cache
    assert pd.read_parquet(first / index).equals(pd.read_parquet(second / index))
    factors = sorted((first / "04_feature").glob("*_factors.npy"))
    assert factors
    for path in factors:
        assert _digest(_latest(path)) == _digest(_latest(second / "04_feature" / path.name))
    predictions = sorted((first / "07_model_output").glob("*/test_item_factors.npy"))
    assert len(predictions) >= 15
    for path in predictions:
        other = second / "07_model_output" / path.parent.name / path.name
        assert _digest(_latest(path)) == _digest(_latest(other)), path.parent.name


def test_the_second_seed_draws_another_split(tiny_run: dict, study: dict) -> None:
    a = pd.read_parquet(study["root"] / "seed_2017" / "02_intermediate" / "artists.parquet")
    b = pd.read_parquet(study["root"] / "seed_2018" / "02_intermediate" / "artists.parquet")
    split = next(c for c in a.columns if c.startswith("split"))
    assert set(a["artist_id"]) == set(b["artist_id"])
    merged = a.merge(b, on="artist_id")
    assert (merged[f"{split}_x"] != merged[f"{split}_y"]).any()


def test_split_independent_work_is_reused(study: dict) -> None:
    for seed in SEEDS:
        report_dir = study["root"] / f"seed_{seed}" / "08_reporting" / "audio_features_report.json"
        report = json.loads(_latest(report_dir).read_text())
        assert report["cached"] >= report["n_ok"] > 0, seed
        assert not (study["root"] / f"seed_{seed}" / "04_feature" / "audio_cqt").exists()


def test_report_rows_claims_and_forest_plot(study: dict) -> None:
    root = study["root"]
    seeds = pd.read_csv(root / "study_seeds.csv")
    assert sorted(seeds["seed"].unique()) == list(SEEDS)
    rows = pd.read_csv(root / "study_rows.csv")
    assert (rows["n_seeds"] == 2).all()
    for r in rows.itertuples():
        values = seeds[(seeds["table"] == r.table) & (seeds["approach"] == r.approach)]["map"]
        assert r.map_mean == pytest.approx(values.mean())
        assert r.ci_low <= r.map_mean <= r.ci_high
    claims = pd.read_csv(root / "study_claims.csv")
    assert list(claims["claim"]) == [c.label for c in PAPER_CLAIMS]
    assert (claims["n_seeds"] == 2).all()
    wide = seeds.pivot_table(index=["table", "seed"], columns="approach", values="map")
    for c in claims.itertuples():
        diff = wide.loc[c.table, c.better] - wide.loc[c.table, c.worse]
        assert c.diff_mean == pytest.approx(diff.mean())
        assert c.holds == int((diff > 0).sum())
    png = (root / "study_forest.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    report = (root / "study_report.md").read_text()
    assert "a-sem > a-text" in report and "| ingestion |" in report


def test_mlflow_nests_rows_in_seeds_in_the_study(study: dict) -> None:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{study['store']}")
    experiment = client.get_experiment_by_name("coldstart")
    runs = client.search_runs([experiment.experiment_id], max_results=2000)
    studies = [r for r in runs if r.data.tags.get("coldstart.kind") == "study"]
    assert len(studies) == 1 and studies[0].info.status == "FINISHED"
    study_id = studies[0].info.run_id
    assert "claim.song.mm-lf-lin_vs_audio.diff_mean" in studies[0].data.metrics
    seed_runs = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == study_id]
    assert sorted(int(r.data.tags["coldstart.seed"]) for r in seed_runs) == list(SEEDS)
    for seed_run in seed_runs:
        assert seed_run.info.status == "FINISHED"
        assert seed_run.data.params["seed"] == seed_run.data.tags["coldstart.seed"]
        assert "artist.a-sem.map_at_500" in seed_run.data.metrics
        rows = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == seed_run.info.run_id]
        assert len(rows) >= 20
    artifacts = {a.path for a in client.list_artifacts(study_id)}
    assert {"study_claims.md", "study_forest.png", "study_rows.csv"} <= artifacts


def test_rerunning_resumes_finished_seeds(tiny_run: dict, study: dict) -> None:
    from coldstart.study.run import code_version

    before = (study["root"] / "study_rows.csv").read_bytes()
    again = _study(tiny_run, study["store"])
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    said = again.stdout + again.stderr
    if code_version() == "dirty":  # uncommitted src/ or conf/ changes: never reused
        assert said.count("run again") >= len(SEEDS)
    else:
        assert said.count("reused") >= len(SEEDS)
    assert (study["root"] / "study_rows.csv").read_bytes() == before
