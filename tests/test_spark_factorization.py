"""The Spark factorization backend agrees with ``implicit`` on the tiny world.

The two ALS implementations differ (solver, initialisation, regularisation
scaling: docs/spark.md), so the factors differ; what must agree is what the
project uses them for. Tolerances, stated once here and in docs/spark.md:

* upper-bound MAP@500 at both levels within ``MAP_TOLERANCE`` (absolute);
* the fold-in is the same computation: against the same user factors, the Spark
  fold-in equals ``implicit``'s ``recalculate_item`` to ``FOLD_IN_TOLERANCE``.
"""

# ruff: noqa: F811 (pytest fixtures imported from spark_support, then named as arguments)
from __future__ import annotations

import numpy as np
import pytest
from spark_support import (  # noqa: F401
    as_triplet_folder,
    spark,
    tiny_ingested,
    upper_bound_map,
    wmf_parameters,
)

# they run the tiny world's generation and ingestion through a Kedro session
pytestmark = pytest.mark.slow

MAP_TOLERANCE = 0.03
FOLD_IN_TOLERANCE = 1e-4
LEVELS = {"song": "songs", "artist": "artists"}


@pytest.fixture(scope="module")
def both_backends(spark, tiny_ingested, tmp_path_factory) -> dict:
    """Factors of both backends at both levels (the same plays, parameters and seed)."""
    from coldstart.pipelines.factorization.nodes import factorize, factorize_spark

    folder = tmp_path_factory.mktemp("triplets")
    wmf = wmf_parameters()
    out = {}
    for level, items_name in LEVELS.items():
        plays, items = tiny_ingested[f"{level}_plays"], tiny_ingested[items_name]
        triplets = spark.read.parquet(str(as_triplet_folder(plays, folder / level)))
        out[level] = {
            "implicit": factorize(plays, items, wmf, seed=0),
            "spark": factorize_spark(triplets, items, tiny_ingested["users"], wmf, {}, seed=0),
        }
    return out


@pytest.mark.parametrize("level", LEVELS)
def test_spark_factors_have_the_project_contract(both_backends, tiny_ingested, level):
    (u_implicit, v_implicit), (u_spark, v_spark) = (
        both_backends[level]["implicit"],
        both_backends[level]["spark"],
    )
    assert u_spark.shape == u_implicit.shape and v_spark.shape == v_implicit.shape
    assert u_spark.dtype == np.float32 and v_spark.dtype == np.float32
    assert np.isfinite(u_spark).all() and np.isfinite(v_spark).all()
    # two implementations, two solutions: not a copy of implicit's factors
    assert not np.allclose(u_spark, u_implicit, atol=1e-3)


@pytest.mark.parametrize("level", LEVELS)
def test_upper_bound_map_agrees_between_backends(both_backends, tiny_ingested, level):
    plays, items = tiny_ingested[f"{level}_plays"], tiny_ingested[LEVELS[level]]
    maps = {
        name: upper_bound_map(*factors, plays, items)
        for name, factors in both_backends[level].items()
    }
    assert maps["spark"] > 0.2, maps  # the targets carry the test plays
    assert abs(maps["spark"] - maps["implicit"]) <= MAP_TOLERANCE, maps


@pytest.mark.parametrize("level", LEVELS)
def test_spark_fold_in_is_implicits_fold_in(both_backends, tiny_ingested, level):
    """Against the Spark user factors, implicit's own fold-in gives the Spark targets."""
    from implicit.cpu.als import AlternatingLeastSquares

    from coldstart.pipelines.factorization.nodes import confidence

    plays, items = tiny_ingested[f"{level}_plays"], tiny_ingested[LEVELS[level]]
    user_factors, item_factors = both_backends[level]["spark"]
    wmf = wmf_parameters()
    model = AlternatingLeastSquares(
        factors=user_factors.shape[1], regularization=wmf["regularization"]
    )
    model.user_factors = user_factors
    conf = wmf["confidence"]
    weights = confidence(plays, conf["scaling"], conf["alpha"], conf["epsilon"])
    other = np.flatnonzero((items["split"] != "train").to_numpy())
    expected = model.recalculate_item(np.arange(len(other)), weights[:, other].T.tocsr())
    np.testing.assert_allclose(item_factors[other], expected, atol=FOLD_IN_TOLERANCE)
    assert np.abs(expected).max() > 100 * FOLD_IN_TOLERANCE  # not trivially small


def test_spark_reg_param_matches_the_mean_penalty():
    from coldstart.spark.factorization import spark_reg_param

    # 10 users + 30 items solved per sweep, 100 plays: Spark adds regParam * plays per
    # row, 200 * regParam in all, i.e. 5 * regParam per row on average
    assert spark_reg_param(10.0, 10, 30, 100) == pytest.approx(2.0)
