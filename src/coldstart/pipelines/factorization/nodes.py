"""Nodes of the factorization pipeline: WMF (ALS) on train items, fold-in of the others.

WMF (Hu, Koren, Volinsky 2008) with ``implicit``'s ALS. The confidence of an
observed play count r is ``c = 1 + alpha * log(1 + r / epsilon)`` (Hu et al.'s log
scaling, which keeps heavy listeners from dominating) or ``c = 1 + alpha * r``
(``scaling: linear``). Val and test items are never seen by the factorization:
their "true" factors are solved against the fixed user factors from their own
plays (fold-in), which gives the targets for early stopping and the upper bound.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


def confidence(plays: Any, scaling: str, alpha: float, epsilon: float) -> Any:
    """Play counts -> WMF confidence values ``c_ui`` (sparse, same pattern)."""
    weights = plays.astype(np.float32, copy=True)
    if scaling == "log":
        weights.data = 1.0 + alpha * np.log1p(weights.data / epsilon)
    elif scaling == "linear":
        weights.data = 1.0 + alpha * weights.data
    else:
        raise ValueError(
            f"factorization.confidence.scaling must be 'log' or 'linear', got {scaling!r}"
        )
    return weights


def factorize(
    plays: Any, items: pd.DataFrame, wmf: dict, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """WMF on the train columns of ``plays``; fold-in for the val and test columns.

    Parameters
    ----------
    plays
        CSR users × items play counts (all splits; columns = ``items.item_idx``).
    items
        The ``songs`` or ``artists`` table (its ``split`` column).
    wmf
        ``factors``, ``regularization``, ``iterations`` and ``confidence``
        (``scaling``, ``alpha``, ``epsilon``).

    Returns
    -------
    user_factors, item_factors
        float32 ``n_users × k`` and ``n_items × k`` (rows = ``item_idx``).
    """
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    conf = wmf.get("confidence", {})
    weights = confidence(
        plays,
        conf.get("scaling", "log"),
        float(conf.get("alpha", 1.0)),
        float(conf.get("epsilon", 1.0)),
    )
    is_train = (items["split"] == "train").to_numpy()
    train_columns = np.flatnonzero(is_train)
    other_columns = np.flatnonzero(~is_train)
    train = weights[:, train_columns].tocsr()
    logger.info(
        "WMF: %d users × %d train items, %d non-zeros, k=%d",
        train.shape[0],
        train.shape[1],
        train.nnz,
        int(wmf["factors"]),
    )
    # implicit warns (and slows down) when BLAS threads compete with its own
    with threadpool_limits(limits=1, user_api="blas"):
        model = AlternatingLeastSquares(
            factors=int(wmf["factors"]),
            regularization=float(wmf["regularization"]),
            iterations=int(wmf["iterations"]),
            alpha=1.0,  # the confidence is already in the matrix
            calculate_training_loss=True,
            random_state=int(seed),
        )
        from coldstart.progress import ProgressLog

        # the log file hears where a long fit is too, not only the console bar
        sweeps = ProgressLog(int(wmf["iterations"]), "WMF ALS", unit="sweeps", logger=logger)
        model.fit(
            train,
            show_progress=bool(wmf.get("show_progress", True)),
            callback=lambda iteration, elapsed, loss: sweeps.update(iteration + 1),
        )
        sweeps.close()
        folded = model.recalculate_item(
            np.arange(len(other_columns)), weights[:, other_columns].T.tocsr()
        )
    item_factors = np.zeros((len(items), model.factors), dtype=np.float32)
    item_factors[train_columns] = model.item_factors
    item_factors[other_columns] = folded
    user_factors = np.asarray(model.user_factors, dtype=np.float32)
    logger.info(
        "Folded in %d val/test items; mean |item factor| %.3f train, %.3f folded",
        len(other_columns),
        float(np.linalg.norm(item_factors[train_columns], axis=1).mean()),
        float(np.linalg.norm(folded, axis=1).mean()) if len(folded) else 0.0,
    )
    return user_factors, item_factors


def factorize_spark(
    triplets: Any,
    items: pd.DataFrame,
    users: pd.DataFrame,
    wmf: dict,
    spark_params: dict,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`factorize` on Spark (``factorization.backend: spark``).

    ``triplets`` is the Spark DataFrame of ``<level>_play_triplets@spark``
    (``user_idx, item_idx, plays``, all splits); the outputs are those of
    :func:`factorize`, in the same index order (``coldstart.spark.factorization``).
    """
    from coldstart.spark.factorization import factorize_on_spark

    return factorize_on_spark(triplets, items, len(users), wmf, spark_params or {}, seed)
