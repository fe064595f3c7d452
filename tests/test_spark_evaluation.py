"""The Spark evaluator gives the local evaluator's per-user AP (user batches as Spark tasks)."""

# ruff: noqa: F811 (pytest fixtures imported from spark_support, then named as arguments)
from __future__ import annotations

import numpy as np
import pytest
from spark_support import spark, tiny_ingested, wmf_parameters  # noqa: F401

# they run the tiny world's generation and ingestion through a Kedro session
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def song_case(tiny_ingested) -> dict:
    from coldstart.pipelines.evaluation.nodes import split_test_plays
    from coldstart.pipelines.factorization.nodes import factorize

    songs, plays = tiny_ingested["songs"], tiny_ingested["song_plays"]
    user_factors, item_factors = factorize(plays, songs, wmf_parameters(), seed=0)
    test_plays, evaluated = split_test_plays(plays, songs)
    test = (songs["split"] == "test").to_numpy()
    return {
        "user_factors": user_factors,
        "item_factors": item_factors[test],
        "test_plays": test_plays,
        "evaluated": evaluated,
    }


@pytest.mark.parametrize("with_ties", [False, True], ids=["distinct", "tied"])
def test_spark_per_user_ap_equals_the_local_evaluator(spark, song_case, with_ties):
    from coldstart.metrics import evaluate_factors
    from coldstart.spark.evaluation import evaluate_factors_on_spark

    items = song_case["item_factors"].copy()
    if with_ties:  # songs sharing one prediction (an artist's), and zero-factor songs
        items[1::3] = items[::3][: len(items[1::3])]
        items[2::7] = 0.0
    args = (song_case["user_factors"], items, song_case["test_plays"])
    kwargs = {"k": 50, "users": song_case["evaluated"], "batch_size": 64}
    local = evaluate_factors(*args, **kwargs)
    on_spark = evaluate_factors_on_spark(*args, **kwargs, spark=spark)
    assert len(on_spark.user_ap) == len(song_case["evaluated"]) > 64  # several tasks
    np.testing.assert_allclose(on_spark.user_ap, local.user_ap, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(on_spark.user_ndcg, local.user_ndcg, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(on_spark.n_relevant, local.n_relevant)
    assert local.summary()["map_at_50"] > 0.1


def test_sparse_user_rows_are_scored_on_spark_too(spark, tiny_ingested):
    """Item-kNN hands sparse user rows (its user play rows) to the evaluator."""
    from coldstart.metrics import evaluate_factors
    from coldstart.spark.evaluation import evaluate_factors_on_spark

    plays = tiny_ingested["artist_plays"]
    rng = np.random.default_rng(0)
    items = rng.random((plays.shape[1], plays.shape[1])).astype(np.float32)
    args = (plays, items, plays)
    local = evaluate_factors(*args, k=20, batch_size=100)
    on_spark = evaluate_factors_on_spark(*args, k=20, batch_size=100, spark=spark)
    np.testing.assert_allclose(on_spark.user_ap, local.user_ap, rtol=1e-6, atol=1e-7)


def test_evaluate_row_backend_spark_gives_the_same_row(spark, song_case):
    from coldstart.pipelines.evaluation.nodes import evaluate_row

    row_params = {"row": {"approach": "upper-bound", "table": "song"}}
    evaluation = {"k": 500, "cutoffs": [10, 500], "batch_size": 100}
    inputs = (
        song_case["user_factors"],
        song_case["item_factors"],
        song_case["test_plays"],
        song_case["evaluated"],
        row_params,
    )
    local_row, local_ap = evaluate_row(*inputs, {**evaluation, "backend": "local"})
    spark_row, spark_ap = evaluate_row(*inputs, {**evaluation, "backend": "spark"})
    np.testing.assert_allclose(spark_ap, local_ap, rtol=1e-6, atol=1e-7)
    assert spark_row["metrics"] == pytest.approx(local_row["metrics"], rel=1e-6)
    with pytest.raises(ValueError, match="evaluation.backend"):
        evaluate_row(*inputs, {**evaluation, "backend": "dask"})


def test_spark_tasks_give_every_cut_off_in_one_pass(spark, song_case):
    """Each task ranks its users once for all the cut-offs: the same numbers as one
    Spark evaluation per cut-off (same batches, so to the bit)."""
    from coldstart.spark.evaluation import evaluate_factors_at_on_spark, evaluate_factors_on_spark

    args = (song_case["user_factors"], song_case["item_factors"], song_case["test_plays"])
    kwargs = {"users": song_case["evaluated"], "batch_size": 64, "spark": spark}
    together = evaluate_factors_at_on_spark(*args, [500, 10, 50], **kwargs)
    assert list(together) == [10, 50, 500]
    for k, result in together.items():
        alone = evaluate_factors_on_spark(*args, k=k, **kwargs)
        np.testing.assert_array_equal(result.user_ap, alone.user_ap)
        np.testing.assert_array_equal(result.user_recall, alone.user_recall)
        np.testing.assert_array_equal(result.user_ndcg, alone.user_ndcg)
        np.testing.assert_array_equal(result.n_relevant, alone.n_relevant)
