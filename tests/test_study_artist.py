"""The artist-level study (``--level artist``) through its real CLI on the tiny world.

One seed of Table 1 alone, on a world the study generates, then ``--aggregate-only``
over two seeds of which one never ran: what an interrupted study reports.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from waits import scaled

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[1]


def _study(root: Path, *args: str) -> subprocess.CompletedProcess:
    runtime = ",".join(
        [
            f"dataset_dir={root / 'raw'}",
            "generate_world=true",
            f"data_root={root}",
            f"mlflow_tracking_uri=sqlite:///{root / 'mlruns.db'}",
        ]
    )
    return subprocess.run(
        [sys.executable, "-m", "coldstart.study", "--env", "test", "--level", "artist"]
        + ["--name", "artist", "--params", runtime, *args],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=scaled(3600),
        check=False,
    )


@pytest.fixture(scope="module")
def artist_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("artist_study")
    done = _study(root, "--seeds", "2017")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return root


def test_a_seed_runs_table1_alone(artist_study: Path) -> None:
    seed = artist_study / "09_study" / "artist" / "seed_2017"
    assert (seed / "study_seed.json").is_file()
    nodes = json.loads((seed / "08_reporting" / "node_timings.json").read_text())["nodes"]
    assert "a_tags.train_text_ff" in nodes and "lightfm_tags.lightfm_factors" in nodes
    assert not [name for name in nodes if "audio" in name or name.startswith("mm")]
    assert (seed / "08_reporting" / "table1_artist.csv").is_file()
    assert not (seed / "08_reporting" / "table2_song.csv").exists()
    # no audio: neither the CQT store nor the audio CNN
    assert not (artist_study / "04_feature" / "audio_cqt").exists()
    assert not (seed / "06_models" / "rows" / "audio").exists()


def test_report_has_the_artist_claims_and_the_rows_against_the_peers(artist_study: Path) -> None:
    root = artist_study / "09_study" / "artist"
    claims = pd.read_csv(root / "study_claims.csv")
    assert set(claims["table"]) == {"artist"} and (claims["n_seeds"] == 1).all()
    beyond = pd.read_csv(root / "study_beyond.csv")
    assert {
        "a-tags > lightfm-tags",
        "dropoutnet-tags > lightfm-tags",
        "a-fusion > dropoutnet-tags",  # the fused row against the row it builds on
    } <= set(beyond["claim"])
    assert not (beyond["better"] == beyond["worse"]).any()
    assert {"dropoutnet-tags", "clcrec-tags", "cmf-tags", "lightfm-tags"} <= set(beyond["worse"])
    seeds = pd.read_csv(root / "study_seeds.csv")
    wide = seeds.pivot_table(index="seed", columns="approach", values="map")
    for r in beyond.itertuples():
        assert r.diff_mean == pytest.approx(float(wide[r.better].iloc[0] - wide[r.worse].iloc[0]))
        assert r.ahead + r.behind <= 1
    report = (root / "study_report.md").read_text()
    assert "Beyond the paper" in report and "table2" not in report
    assert (root / "study_beyond_forest.png").read_bytes()[:4] == b"\x89PNG"


def test_aggregate_only_reports_the_finished_seeds_and_runs_none(artist_study: Path) -> None:
    root = artist_study / "09_study" / "artist"
    done = _study(artist_study, "--seeds", "2017,2018", "--aggregate-only")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "seed 2018: not finished" in done.stdout + done.stderr
    assert not (root / "seed_2018").exists()
    meta = json.loads((root / "study.json").read_text())
    assert meta["seeds"] == [2017] and meta["level"] == "artist"
    assert set(meta["code_versions"]) == {"2017"}
