"""The multi-seed study's aggregation, on hand-made per-seed tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from coldstart.study.aggregate import (
    PAPER_CLAIMS,
    Claim,
    beyond_paper_claims,
    claims_markdown,
    map_column,
    per_user_verdicts,
    seed_table,
    study_metrics,
    summarise_claims,
    summarise_rows,
    t_interval,
    verdict,
)
from coldstart.study.run import encode_params, parse_params, stage_timings


def _per_seed(values: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    records = []
    for order, ((level, approach), maps) in enumerate(values.items()):
        for seed, value in enumerate(maps, start=10):
            records.append(
                {"seed": seed, "table": level, "approach": approach, "map": value, "order": order}
            )
    return pd.DataFrame(records)


def test_t_interval_is_students_t_across_seeds():
    rng = np.random.default_rng(3)
    values = rng.normal(0.2, 0.03, size=5)
    mean, low, high = t_interval(values, 0.95)
    expected = stats.t.interval(0.95, 4, loc=values.mean(), scale=stats.sem(values))
    assert mean == pytest.approx(values.mean())
    assert (low, high) == pytest.approx(expected)
    assert math.isnan(t_interval([0.3])[1])


def test_claim_difference_interval_test_and_count_on_a_hand_case():
    per_seed = _per_seed(
        {
            ("song", "mm-lf-lin"): [0.30, 0.32, 0.29, 0.35],
            ("song", "audio"): [0.20, 0.33, 0.19, 0.25],
        }
    )
    claim = Claim("song", "mm-lf-lin", "audio")
    row = summarise_claims(per_seed, [claim]).iloc[0]
    diff = np.array([0.10, -0.01, 0.10, 0.10])
    assert row["n_seeds"] == 4
    assert row["holds"] == 3
    assert row["diff_mean"] == pytest.approx(diff.mean())
    assert row["p_ttest"] == pytest.approx(stats.ttest_1samp(diff, 0).pvalue)
    assert row["p_sign"] == pytest.approx(stats.binomtest(3, 4).pvalue)
    low, high = stats.t.interval(0.95, 3, loc=diff.mean(), scale=stats.sem(diff))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    assert row["verdict"] == "not resolved"  # one seed against: the interval covers 0


def test_verdicts_read_the_interval():
    assert verdict(0.01, 0.05, 5, 5) == "holds"
    assert verdict(-0.05, -0.01, 0, 5) == "reversed"
    assert verdict(-0.01, 0.02, 3, 5) == "not resolved"
    assert verdict(math.nan, math.nan, 1, 1) == "holds"
    assert verdict(math.nan, math.nan, 0, 0) == "not run"


def test_a_claim_whose_rows_were_not_run_is_listed_not_dropped():
    per_seed = _per_seed({("artist", "a-sem"): [0.2, 0.3]})
    claims = summarise_claims(per_seed, PAPER_CLAIMS)
    assert len(claims) == len(PAPER_CLAIMS)
    assert (claims["n_seeds"] == 0).all()
    assert "not run" in claims_markdown(claims, 0.95, "MAP@500")


def test_rows_keep_table_order_and_levels():
    per_seed = _per_seed(
        {
            ("song", "audio"): [0.1, 0.2],
            ("artist", "random"): [0.05, 0.06],
            ("artist", "a-sem"): [0.2, 0.22],
            ("song", "random"): [0.03, 0.02],
        }
    )
    rows = summarise_rows(per_seed)
    assert list(zip(rows["table"], rows["approach"], strict=True)) == [
        ("artist", "random"),
        ("artist", "a-sem"),
        ("song", "audio"),
        ("song", "random"),
    ]
    assert rows.loc[1, "map_mean"] == pytest.approx(0.21)
    assert rows.loc[1, "n_seeds"] == 2
    metrics = study_metrics(rows, summarise_claims(per_seed, PAPER_CLAIMS))
    assert metrics["artist.a-sem.map_mean"] == pytest.approx(0.21)


def test_seed_table_reads_the_map_column_of_whatever_cut_off():
    table = pd.DataFrame(
        {"approach": ["a", "b"], "map_at_100": [0.1, 0.2], "map_at_100_active": [0.3, 0.4]}
    )
    assert map_column(table.columns) == "map_at_100"
    long = seed_table(table, seed=7, level="artist")
    assert long["map"].tolist() == [0.1, 0.2] and set(long["seed"]) == {7}
    with pytest.raises(ValueError, match="repeat"):
        seed_table(pd.concat([table, table]), seed=7, level="artist")
    with pytest.raises(ValueError, match="one map_at_"):
        map_column(["approach", "recall_at_50"])


def test_params_round_trip_and_refuse_commas():
    params = parse_params("dataset_dir=/data/x, mlflow_tracking_uri=sqlite:///a.db")
    assert params == {"dataset_dir": "/data/x", "mlflow_tracking_uri": "sqlite:///a.db"}
    assert parse_params(encode_params(params)) == params
    with pytest.raises(ValueError, match="comma"):
        encode_params({"releases_dir": "/a,b"})
    with pytest.raises(ValueError, match="key=value"):
        parse_params("novalue")


def test_stage_timings_sum_nodes_per_stage_and_seed():
    timings = {1: {"a": 2.0, "b": 3.0, "x": 1.0}, 2: {"a": 4.0, "b": 1.0}}
    stages = stage_timings(timings, {"a": "text", "b": "text"})
    by_stage = stages.set_index("stage")
    assert by_stage.loc["text", "mean_seconds"] == pytest.approx(5.0)
    assert by_stage.loc["text", "total_seconds"] == pytest.approx(10.0)
    assert by_stage.loc["other", "total_seconds"] == pytest.approx(1.0)


def test_seed_table_uses_the_tables_own_k_among_several_cut_offs():
    table = pd.DataFrame(
        {
            "approach": ["a"],
            "map_at_500": [0.3],
            "map_at_10": [0.1],
            "map_at_500_active": [0.5],
            "k": [500],
        }
    )
    assert seed_table(table, seed=1, level="song")["map"].tolist() == [0.3]


def test_a_seed_is_reused_only_with_the_code_it_ran_with(tmp_path):
    import json

    from coldstart.study.run import _reusable

    marker = tmp_path / "study_seed.json"
    assert _reusable(marker, "src:a conf:b") is None
    marker.write_text(json.dumps({"seed": 1, "run_id": "r", "code_version": "src:a conf:b"}))
    assert _reusable(marker, "src:a conf:b")["run_id"] == "r"
    assert _reusable(marker, "src:a conf:c") is None  # the configuration changed
    assert _reusable(marker, "dirty") is None
    marker.write_text(json.dumps({"seed": 1, "run_id": "r"}))  # written before versions
    assert _reusable(marker, "src:a conf:b") is None


def _significance(records: list[tuple[int, str, str, float, float]]) -> pd.DataFrame:
    """Per-user tests as the seeds' tables write them: ``seed, a, b, mean difference, p``."""
    return pd.DataFrame(
        [
            {"seed": s, "table": "artist", "a": a, "b": b, "mean_difference": d, "p": p}
            for s, a, b, d, p in records
        ]
    )


def test_beyond_claims_put_each_candidate_against_each_peer():
    claims = beyond_paper_claims(["a-tags", "mix"], ["lightfm-tags", "cmf-tags"])
    assert [c.label for c in claims] == [
        "a-tags > lightfm-tags",
        "a-tags > cmf-tags",
        "mix > lightfm-tags",
        "mix > cmf-tags",
    ]
    assert {c.table for c in claims} == {"artist"}


def test_seeds_ahead_and_behind_read_each_seeds_per_user_test_in_either_order():
    claim = Claim("artist", "a-tags", "lightfm-tags")
    significance = _significance(
        [
            (1, "a-tags", "lightfm-tags", 0.02, 0.001),  # ahead
            (2, "lightfm-tags", "a-tags", -0.03, 0.004),  # ahead, pair written the other way
            (3, "a-tags", "lightfm-tags", 0.05, 0.2),  # ahead but not significant
            (4, "lightfm-tags", "a-tags", 0.01, 0.0001),  # behind
            (4, "a-tags", "cmf-tags", 0.2, 0.0001),  # another pair
        ]
    )
    assert per_user_verdicts(significance, claim) == (2, 1)
    per_seed = _per_seed(
        {("artist", "a-tags"): [0.3, 0.3, 0.3, 0.2], ("artist", "lightfm-tags"): [0.2] * 4}
    )
    row = summarise_claims(per_seed, [claim], significance=significance).iloc[0]
    assert (row["ahead"], row["behind"]) == (2, 1)
    text = claims_markdown(
        summarise_claims(per_seed, [claim], significance=significance), 0.95, "MAP@500"
    )
    assert "| 2 / 1 |" in text and "ahead / behind" in text
    assert "ahead" not in claims_markdown(summarise_claims(per_seed, [claim]), 0.95, "MAP@500")


def test_study_claims_keep_the_studys_tables_and_find_the_peers_in_the_rows():
    from coldstart.study.run import study_claims

    rows = {
        "a_tags": {"table": "artist", "template": "text_ff", "approach": "a-tags"},
        "lightfm_tags": {"table": "artist", "template": "lightfm", "approach": "lightfm-tags"},
        "cmf_sem": {"table": "artist", "template": "cmf", "approach": "cmf-sem"},
        "clcrec_song": {"table": "song", "template": "clcrec", "approach": "clcrec"},
    }
    per_seed = _per_seed(
        {
            ("artist", "a-tags"): [0.3, 0.3],
            ("artist", "lightfm-tags"): [0.2, 0.2],
            ("artist", "a-sem"): [0.2, 0.2],
            ("artist", "a-text"): [0.1, 0.2],
        }
    )
    paper, beyond = study_claims(per_seed, rows)
    assert paper and {c.table for c in paper} == {"artist"}  # an artist-level study
    # cmf-sem did not run, the song-level CLCRec is no artist peer
    assert [c.label for c in beyond] == ["a-tags > lightfm-tags"]


def test_the_artist_level_pipeline_runs_table1_without_audio_or_song_rows():
    from coldstart.pipeline_registry import register_pipelines
    from coldstart.rows import load_rows

    pipelines = register_pipelines()
    artist = pipelines["tables_artist"]
    names = {node.name for node in artist.nodes}
    outputs = artist.all_outputs()
    assert "table1_artist" in outputs and "table2_song" not in outputs
    assert not any(name.startswith(("audio.", "mm.", "mm_lf")) for name in names)
    assert "extract_audio_features" not in names
    rows = load_rows()
    for namespace, row in rows.items():
        if row.get("enabled", True) and row["table"] == "artist":
            assert f"{namespace}.test_item_factors" in outputs, namespace
        if row["table"] == "song":
            assert f"{namespace}.test_item_factors" not in outputs, namespace
    assert {"ingestion_report", "enrichment_report"} <= outputs
    assert set(artist.nodes) <= set(pipelines["tables"].nodes)


def test_aggregate_only_reads_the_finished_seeds_of_an_artist_study(tmp_path):
    """Hand-made Table 1 of two finished seeds and one unfinished: aggregated, none run."""
    import json

    import mlflow

    from coldstart.study.run import Settings, run_study

    store = f"sqlite:///{tmp_path / 'mlruns.db'}"
    client = mlflow.MlflowClient(tracking_uri=store)
    experiment = client.create_experiment("coldstart")
    maps = {2017: (0.30, 0.25, 0.20), 2018: (0.28, 0.26, 0.21)}
    for seed, (own, peer, other) in maps.items():
        run_id = client.create_run(experiment).info.run_id
        reporting = tmp_path / "09_study" / "peers" / f"seed_{seed}" / "08_reporting"
        reporting.mkdir(parents=True)
        pd.DataFrame(
            {
                "approach": ["a-tags", "lightfm-tags", "a-text"],
                "k": 500,
                "map_at_500": [own, peer, other],
            }
        ).to_csv(reporting / "table1_artist.csv", index=False)
        pd.DataFrame(
            {
                "a": ["a-tags", "a-tags", "lightfm-tags"],
                "b": ["lightfm-tags", "a-text", "a-text"],
                "mean_difference": [own - peer, own - other, peer - other],
                "p_ttest_holm": [0.001 if seed == 2017 else 0.5, 0.001, 0.001],
            }
        ).to_csv(reporting / "table1_artist_significance.csv", index=False)
        marker = reporting.parent / "study_seed.json"
        marker.write_text(json.dumps({"seed": seed, "run_id": run_id, "code_version": f"v{seed}"}))
    settings = Settings(
        env="test",
        data_root=tmp_path,
        level="artist",
        base_seed=2017,
        experiment_name="coldstart",
        tracking_uri=store,
    )
    root = run_study(
        [2017, 2018, 2019], settings, {}, name="peers", aggregate_only=True, project=tmp_path
    )
    assert not (root / "seed_2019").exists()
    meta = json.loads((root / "study.json").read_text())
    assert meta["seeds"] == [2017, 2018] and meta["level"] == "artist"
    assert meta["code_versions"] == {"2017": "v2017", "2018": "v2018"}
    beyond = pd.read_csv(root / "study_beyond.csv").set_index("claim")
    row = beyond.loc["a-tags > lightfm-tags"]
    assert row["diff_mean"] == pytest.approx(np.mean([0.05, 0.02]))
    assert (row["holds"], row["ahead"], row["behind"]) == (2, 1, 0)
    claims = pd.read_csv(root / "study_claims.csv")
    assert set(claims["table"]) == {"artist"}
    assert "Beyond the paper" in (root / "study_report.md").read_text()
