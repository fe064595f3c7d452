"""Row metrics at several cut-offs, and row runs that compare side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from coldstart.metrics import evaluate_factors
from coldstart.pipelines.evaluation.nodes import (
    COMMON_PARAMETERS,
    assemble_table,
    evaluate_row,
    hyperparameter_keys,
    row_run_name,
    row_run_parameters,
)


def _world(seed: int = 0, n_users: int = 60, n_items: int = 12):
    rng = np.random.default_rng(seed)
    users = rng.standard_normal((n_users, 8)).astype(np.float32)
    items = rng.standard_normal((n_items, 8)).astype(np.float32)
    plays = sp.random(n_users, n_items, density=0.2, random_state=seed, format="csr")
    plays.data[:] = 1.0
    return users, items, plays


def test_every_cut_off_is_the_evaluator_at_that_cut_off():
    users, items, plays = _world()
    evaluated = np.arange(users.shape[0])
    params = {"row": {"approach": "x", "table": "song"}}
    result, ap = evaluate_row(
        users, items, plays, evaluated, params, {"k": 10, "cutoffs": [2, 5, 10]}
    )
    metrics = result["metrics"]
    for cutoff in (2, 5, 10):
        direct = evaluate_factors(users, items, plays, k=cutoff, users=evaluated).summary()
        for name in ("map", "ndcg", "recall"):
            key = f"{name}_at_{cutoff}"
            assert metrics[key] == direct[key], key  # to the digit
    assert metrics["n_candidates"] == 12
    # the per-user AP (tests, intervals) is the one at k
    at_k = evaluate_factors(users, items, plays, k=10, users=evaluated)
    np.testing.assert_array_equal(ap, at_k.user_ap)
    assert np.mean(ap) == pytest.approx(metrics["map_at_10"])


def test_a_row_ranks_each_user_once_for_all_its_cut_offs(monkeypatch):
    """One scoring and ranking pass per row and user batch, not one per cut-off."""
    import coldstart.metrics as metrics_mod

    rank, topk = metrics_mod._kernels()
    calls = []

    def counted(scores, ids, indptr, indices, ks, start, stop, *out):
        if stop > start:  # (the warm-up call that loads the kernel ranks nobody)
            calls.append((np.asarray(ids[start:stop]).copy(), list(ks)))
        return rank(scores, ids, indptr, indices, ks, start, stop, *out)

    monkeypatch.setattr(metrics_mod, "_kernels", lambda: (counted, topk))
    users, items, plays = _world(n_users=300, n_items=900)
    evaluated = np.arange(0, 300, 2)
    evaluation = {"k": 500, "cutoffs": [10, 50, 100, 500], "batch_size": 64}
    evaluate_row(users, items, plays, evaluated, {"row": {"approach": "x", "table": "song"}},
                 evaluation)  # fmt: skip
    ranked = np.concatenate([ids for ids, _ in calls])
    np.testing.assert_array_equal(np.sort(ranked), evaluated)  # every user once
    assert {tuple(ks) for _, ks in calls} == {(10, 50, 100, 500)}


def test_table_columns_follow_k_and_say_when_a_cut_off_covers_every_candidate():
    users, items, plays = _world()
    evaluated = np.arange(users.shape[0])
    evaluation = {"k": 20, "cutoffs": [5, 20]}
    results, aps = [], []
    for i, approach in enumerate(("a", "b")):
        params = {"row": {"approach": approach, "table": "artist", "order": i}}
        rng = np.random.default_rng(i)
        scored = items + rng.standard_normal(items.shape).astype(np.float32)
        result, ap = evaluate_row(users, scored, plays, evaluated, params, evaluation)
        results.append(result)
        aps.append(ap)
    significance = {"alpha": 0.01, "bootstrap": {"samples": 50, "seed": 0}}
    frame, markdown, _, figure = assemble_table(evaluation, significance, *results, *aps, {}, {})
    assert {"map_at_20", "map_at_20_active", "recall_at_20", "map_at_5", "ndcg_at_5"} <= set(
        frame.columns
    )
    assert "map_at_500" not in frame.columns and frame["k"].tolist() == [20, 20]
    assert "| MAP@20 |" in markdown
    assert "drawn from the 12 test items" in markdown and "@20" in markdown
    assert "@5 " not in markdown.split("drawn from")[1]  # 5 < 12 candidates: not complete


def test_row_runs_share_one_key_set_and_unique_names():
    trained = {
        "row": {"table": "song", "approach": "mm", "template": "multimodal"},
        "training": {"epochs": 100, "patience": 4},
        "model": {"n_factors": 200},
    }
    baseline = {"row": {"table": "song", "approach": "random", "template": "random_factors"}}
    keys = hyperparameter_keys([trained, baseline])
    history = {
        "loss": [0.3, 0.2, 0.25],
        "val_loss": [0.4, 0.3, 0.35],
        "train_seconds": 12.5,
        "started_at_ms": 1,
        "n_params": 1234,
    }
    a = row_run_parameters(trained["row"], trained, "/data", 7, history, keys)
    b = row_run_parameters(baseline["row"], baseline, "/data", 7, None, keys)
    assert set(a) == set(b) and set(COMMON_PARAMETERS) <= set(a)
    assert (a["epochs"], a["best_epoch"], a["n_params"], a["train_seconds"]) == (
        "3",
        "2",
        "1234",
        "12.5",
    )
    assert b["epochs"] == b["training.epochs"] == "-" and a["training.epochs"] == "100"
    assert row_run_name({"table": "artist", "approach": "random"}) == "table1/random"
    assert row_run_name({"table": "song", "approach": "random"}) == "table2/random"


def test_every_row_run_records_the_split_it_was_scored_on():
    users, items, plays = _world()
    evaluated = np.arange(users.shape[0])
    params = {"row": {"approach": "x", "table": "song"}}
    evaluation = {"k": 10}
    first, _ = evaluate_row(users, items, plays, evaluated, params, evaluation)
    again, _ = evaluate_row(users, items * 2, plays, evaluated, params, evaluation)
    other, _ = evaluate_row(users, items, plays, evaluated[1:], params, evaluation)
    assert first["split_sha256"] == again["split_sha256"]  # same split, other predictions
    assert first["split_sha256"] != other["split_sha256"]
    run = row_run_parameters(params["row"], params, "/d", 1, None, (), first["split_sha256"])
    assert run["split_sha256"] == first["split_sha256"]


def _table_rows(level: str, approaches: tuple[str, ...], evaluation: dict):
    users, items, plays = _world()
    evaluated = np.arange(users.shape[0])
    results, aps = [], []
    for i, approach in enumerate(approaches):
        params = {"row": {"approach": approach, "table": level, "order": i}}
        scored = items + np.random.default_rng(i).standard_normal(items.shape).astype(np.float32)
        result, ap = evaluate_row(users, scored, plays, evaluated, params, evaluation)
        results.append(result)
        aps.append(ap)
    return results, aps


def test_the_map_figure_draws_points_with_intervals_on_a_linear_axis_from_zero():
    evaluation = {"k": 10}
    results, aps = _table_rows("artist", ("a", "b", "c"), evaluation)
    significance = {"alpha": 0.01, "bootstrap": {"samples": 50, "seed": 0}}
    frame, _, _, figure = assemble_table(evaluation, significance, *results, *aps, {}, {}, {})
    (axis,) = figure.axes
    assert axis.get_xscale() == "linear" and axis.get_xlim()[0] == 0
    assert not axis.patches  # no bars
    (points,) = [line for line in axis.lines if line.get_marker() == "o"]
    np.testing.assert_allclose(sorted(points.get_xdata()), sorted(frame["map_at_10"]))
    assert axis.get_xlim()[1] >= frame["map_ci_high"].max()
    assert "95 %" in axis.get_xlabel()


def test_row_runs_are_tagged_by_table_and_p_values_stay_off_the_charts(tmp_path):
    """``tags.table = 'table1'`` finds Table 1's rows alone (a real SQLite store); the
    key comparisons' p-values are an artifact of the parent run, not metrics."""
    import json

    import mlflow

    from coldstart.pipelines.evaluation.nodes import log_row_run

    evaluation = {"k": 10}
    significance = {
        "alpha": 0.01,
        "bootstrap": {"samples": 50, "seed": 0},
        "key_comparisons": [["a", "b"]],
    }
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns.db'}")
    try:
        experiment = mlflow.create_experiment("rows", artifact_location=str(tmp_path / "art"))
        with mlflow.start_run(experiment_id=experiment) as parent:
            for level, approaches in (("artist", ("a", "b")), ("song", ("a", "c"))):
                results, aps = _table_rows(level, approaches, evaluation)
                runs = [
                    log_row_run(result, ap, {"row": result["row"]}, "/data", 7)
                    for result, ap in zip(results, aps, strict=True)
                ]
                assemble_table(evaluation, significance, *results, *aps, *runs)
        found = {
            label: sorted(
                run.info.run_name
                for run in mlflow.search_runs(
                    [experiment], f"tags.table = '{label}'", output_format="list"
                )
            )
            for label in ("table1", "table2")
        }
        assert found == {"table1": ["table1/a", "table1/b"], "table2": ["table2/a", "table2/c"]}
        stored = mlflow.get_run(parent.info.run_id)
        assert not stored.data.metrics
        comparisons = json.loads(
            (
                Path(mlflow.artifacts.download_artifacts(run_id=parent.info.run_id))
                / "table1_artist"
                / "key_comparisons.json"
            ).read_text()
        )
        assert set(comparisons) == {"a_vs_b"} and 0 <= comparisons["a_vs_b"]["p_ttest"] <= 1
    finally:
        mlflow.set_tracking_uri(None)
