"""WMF on Spark: ``pyspark.ml`` ALS on the train plays, fold-in of the rest on the cluster.

The two backends solve the same model. For a user (or an item) with observed
confidences ``c`` over the factors ``Y`` of the other side, both minimise
``sum_j c_j (p_j - x.y_j)^2 + lambda ||x||^2`` with ``p_j = 1`` where a play exists,
and differ in two parameterisations (``docs/spark.md``):

* confidence: ``implicit`` takes ``c`` as the matrix value; Spark takes a rating
  ``r`` and uses ``c = 1 + alpha * r``. Handing Spark ``r = c - 1`` with
  ``alpha = 1`` gives it exactly the project's confidence (log or linear scaling);
* regularisation: ``implicit`` adds ``lambda`` to every row's system; Spark adds
  ``regParam * n`` with ``n`` the row's number of plays. :func:`spark_reg_param`
  picks the ``regParam`` whose mean penalty over all solved rows equals ``lambda``.

Fold-in is the project's own (``implicit``'s ``recalculate_item``): fixed user
factors ``U``, ``(U'U + sum (c-1) u u' + lambda I) x = sum c u`` per val/test item,
with the constant ``lambda`` of ``factorization.wmf.regularization``. ``U'U`` is
computed once and broadcast; each item's users are joined to it and solved in a
grouped pandas UDF, so no machine holds the whole held-out play matrix.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

TRIPLET_COLUMNS = ("user_idx", "item_idx", "plays")
#: Up to this many users the fold-in broadcasts the user factor table.
BROADCAST_USERS = 200_000


def spark_reg_param(regularization: float, n_users: int, n_items: int, n_plays: int) -> float:
    """Spark's ``regParam`` whose mean per-row penalty equals ``implicit``'s constant one.

    One ALS sweep solves ``n_users + n_items`` rows; Spark's penalties sum to
    ``regParam * 2 * n_plays`` over them (each play counts once on either side).
    """
    if n_plays <= 0:
        raise ValueError("No train plays to factorize")
    return float(regularization) * (n_users + n_items) / (2.0 * n_plays)


def confidence_minus_one(plays: Any, scaling: str, alpha: float, epsilon: float) -> Any:
    """The Spark rating ``c - 1`` of a play-count column (``c`` as in ``confidence``)."""
    from pyspark.sql import functions as F

    if scaling == "log":
        return F.lit(alpha) * F.log1p(plays / F.lit(epsilon))
    if scaling == "linear":
        return F.lit(alpha) * plays
    raise ValueError(f"factorization.confidence.scaling must be 'log' or 'linear', got {scaling!r}")


def fold_in_solve(
    gram: np.ndarray, user_rows: np.ndarray, confidences: np.ndarray, regularization: float
) -> np.ndarray:
    """One item's factors against fixed user factors (float64 solve, float32 result).

    ``(G + U_i' diag(c - 1) U_i + lambda I) x = U_i' c`` with ``G = U'U`` over all users
    and ``U_i`` the rows of the item's listeners.
    """
    u = np.asarray(user_rows, dtype=np.float64)
    c = np.asarray(confidences, dtype=np.float64)
    a = gram + (u.T * (c - 1.0)) @ u
    a[np.diag_indices_from(a)] += regularization
    return np.linalg.solve(a, u.T @ c).astype(np.float32)


def fold_in_on_spark(
    held_out: Any, user_factors: np.ndarray, regularization: float, n_items: int
) -> np.ndarray:
    """Fold-in of the held-out items of ``held_out`` (``user_idx, item_idx, confidence``).

    Returns ``n_items x k`` float32, zero rows for items without plays. The user
    factors travel as a Spark table joined to the plays; only the ``k x k`` Gram
    matrix is broadcast.
    """
    from pyspark.sql import functions as F

    spark = held_out.sparkSession
    k = user_factors.shape[1]
    folded = np.zeros((n_items, k), dtype=np.float32)
    gram = spark.sparkContext.broadcast(user_factors.T.astype(np.float64) @ user_factors)
    users = spark.createDataFrame(
        pd.DataFrame(
            {
                "user_idx": np.arange(len(user_factors), dtype=np.int32),
                "user_factors": list(user_factors.astype(np.float32)),
            }
        )
    )
    lam = float(regularization)

    def solve_items(frame: pd.DataFrame) -> pd.DataFrame:
        u = np.stack(frame["user_factors"].to_numpy())
        x = fold_in_solve(gram.value, u, frame["confidence"].to_numpy(), lam)
        return pd.DataFrame({"item_idx": [int(frame["item_idx"].iloc[0])], "factors": [x]})

    # a broadcast join ships the user table to every task (fine up to ~150 MB at
    # k = 200); beyond that Spark shuffles the plays to the users instead
    small = len(user_factors) < BROADCAST_USERS
    solved = (
        held_out.join(F.broadcast(users) if small else users, "user_idx")
        .groupBy("item_idx")
        .applyInPandas(solve_items, schema="item_idx int, factors array<float>")
        .toPandas()
    )
    if len(solved):
        folded[solved["item_idx"].to_numpy()] = np.stack(solved["factors"].to_numpy())
    gram.destroy()
    return folded


def factorize_on_spark(
    triplets: Any,
    items: pd.DataFrame,
    n_users: int,
    wmf: dict,
    spark_params: dict,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """WMF of the train plays with Spark ALS; fold-in of val/test items on Spark.

    Parameters
    ----------
    triplets
        Spark DataFrame ``user_idx, item_idx, plays`` (all splits; ``item_idx`` =
        the row of ``items``).
    items
        The ``songs`` or ``artists`` table (its ``split`` column).
    n_users
        Rows of the user factors (``users`` table length).
    wmf
        ``factorization.wmf``, as for the ``implicit`` backend.
    spark_params
        ``factorization.spark``: ``reg_param`` (``null``: :func:`spark_reg_param`),
        ``blocks`` (ALS user/item blocks; ``null``: Spark's default parallelism).

    Returns
    -------
    user_factors, item_factors
        float32 ``n_users x k`` and ``n_items x k`` in the project's index order.
    """
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F

    spark = triplets.sparkSession
    conf = wmf.get("confidence", {})
    k = int(wmf["factors"])
    split = spark.createDataFrame(
        pd.DataFrame(
            {
                "item_idx": np.arange(len(items), dtype=np.int32),
                "is_train": (items["split"] == "train").to_numpy(),
            }
        )
    )
    rated = (
        triplets.select(
            F.col("user_idx").cast("int"),
            F.col("item_idx").cast("int"),
            confidence_minus_one(
                F.col("plays").cast("double"),
                conf.get("scaling", "log"),
                float(conf.get("alpha", 1.0)),
                float(conf.get("epsilon", 1.0)),
            ).alias("rating"),
        )
        .join(F.broadcast(split), "item_idx")
        .cache()
    )
    train = rated.filter("is_train").drop("is_train")
    n_plays = train.count()
    n_train_items = int((items["split"] == "train").sum())
    reg_param = spark_params.get("reg_param")
    if reg_param is None:
        reg_param = spark_reg_param(float(wmf["regularization"]), n_users, n_train_items, n_plays)
    blocks = int(spark_params.get("blocks") or spark.sparkContext.defaultParallelism)
    _warn_if_driver_too_small(spark, n_users, len(items), k)
    logger.info(
        "Spark ALS: %d users x %d train items, %d plays, k=%d, regParam=%.4g, %d blocks",
        n_users,
        n_train_items,
        n_plays,
        k,
        reg_param,
        blocks,
    )
    als = ALS(
        rank=k,
        maxIter=int(wmf["iterations"]),
        regParam=float(reg_param),
        implicitPrefs=True,
        alpha=1.0,  # the rating is already c - 1
        userCol="user_idx",
        itemCol="item_idx",
        ratingCol="rating",
        nonnegative=False,
        numUserBlocks=blocks,
        numItemBlocks=blocks,
        seed=int(seed),
    )
    model = als.fit(train)
    user_factors = _dense_factors(model.userFactors.toPandas(), n_users, k)
    item_factors = _dense_factors(model.itemFactors.toPandas(), len(items), k)
    held_out = rated.filter(~F.col("is_train")).select(
        "user_idx", "item_idx", (F.col("rating") + 1.0).alias("confidence")
    )
    folded = fold_in_on_spark(held_out, user_factors, float(wmf["regularization"]), len(items))
    other = np.flatnonzero((items["split"] != "train").to_numpy())
    item_factors[other] = folded[other]
    rated.unpersist()
    logger.info(
        "Folded in %d val/test items on Spark; mean |item factor| %.3f",
        len(other),
        float(np.linalg.norm(item_factors[other], axis=1).mean()) if len(other) else 0.0,
    )
    return user_factors, item_factors


def _warn_if_driver_too_small(spark: Any, n_users: int, n_items: int, k: int) -> None:
    """Say before ALS starts when the factors will not fit the driver's settings.

    The collect comes after the whole ALS: at MSD-A size, hours in.
    """
    from coldstart.spark.sizing import driver_memory_warnings

    settings = spark.sparkContext.getConf()
    try:
        found = driver_memory_warnings(
            settings.get("spark.driver.memory", "1g"),
            settings.get("spark.driver.maxResultSize", "1g"),
            n_users,
            n_items,
            k,
        )
    except ValueError as error:  # a size without a unit: Spark's own defaults apply
        logger.info("Driver memory not checked: %s", error)
        return
    for line in found:
        logger.warning("%s (docs/spark.md, 'Sizing the driver')", line)


def _dense_factors(frame: pd.DataFrame, n_rows: int, k: int) -> np.ndarray:
    """Spark's ``(id, features)`` factor table as rows ``id`` of a float32 matrix (absent: 0).

    Spark has no factors for a user or item without train plays; ``implicit`` solves
    such a row to exactly zero, so zero is what both backends hand on.
    """
    dense = np.zeros((n_rows, k), dtype=np.float32)
    if len(frame):
        dense[frame["id"].to_numpy()] = np.stack(frame["features"].to_numpy()).astype(np.float32)
    return dense
