"""MAP@k on Spark: user batches as tasks, the candidate item factors broadcast.

Each task runs the project's own evaluator (:func:`coldstart.metrics.evaluate_factors`,
tie-aware, batched) on one batch of users, so the per-user AP is the local
evaluator's: the batches are the same ``batch_size`` slices of the evaluated users,
scored by the same float32 product and ranking kernel.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def user_batches(
    user_factors: Any, relevant: Any, users: np.ndarray, batch_size: int
) -> list[tuple[int, Any, Any]]:
    """``(batch number, user factor rows, relevant rows)`` per ``batch_size`` users."""
    import scipy.sparse as sp

    relevant = sp.csr_matrix(relevant)
    batches = []
    for number, start in enumerate(range(0, len(users), batch_size)):
        ids = users[start : start + batch_size]
        rows = user_factors[ids]
        batches.append((number, rows, relevant[ids]))
    return batches


def evaluate_factors_on_spark(
    user_factors: Any,
    item_factors: np.ndarray,
    relevant: Any,
    k: int = 500,
    *,
    normalize_items: bool = True,
    users: np.ndarray | None = None,
    batch_size: int = 4096,
    spark: Any = None,
) -> Any:
    """:func:`coldstart.metrics.evaluate_factors` with one Spark task per user batch.

    Same arguments and result (an ``EvaluationResult``, users in ``users`` order):
    :func:`evaluate_factors_at_on_spark` with the one cut-off ``k``.
    """
    from coldstart.metrics import _cutoffs

    (k,) = _cutoffs([k])
    return evaluate_factors_at_on_spark(
        user_factors,
        item_factors,
        relevant,
        [k],
        normalize_items=normalize_items,
        users=users,
        batch_size=batch_size,
        spark=spark,
    )[k]


def evaluate_factors_at_on_spark(
    user_factors: Any,
    item_factors: np.ndarray,
    relevant: Any,
    ks: Any,
    *,
    normalize_items: bool = True,
    users: np.ndarray | None = None,
    batch_size: int = 4096,
    spark: Any = None,
) -> dict[int, Any]:
    """:func:`coldstart.metrics.evaluate_factors_at` with one Spark task per user batch.

    Each task scores and ranks its users once for all the cut-offs ``ks``; returns
    one ``EvaluationResult`` per distinct cut-off, keys ascending.
    """
    from coldstart.metrics import EvaluationResult, _cutoffs, evaluate_factors_at
    from coldstart.spark.session import active_session

    ks = _cutoffs(ks)
    spark = spark or active_session()
    context = spark.sparkContext
    n_users = user_factors.shape[0]
    users = np.arange(n_users, dtype=np.int64) if users is None else np.asarray(users, np.int64)
    batches = user_batches(user_factors, relevant, users, max(1, int(batch_size)))
    items = context.broadcast(np.ascontiguousarray(item_factors, dtype=np.float32))
    normalize = bool(normalize_items)

    def score(batch: tuple[int, Any, Any]) -> tuple[int, list[tuple[np.ndarray, ...]]]:
        number, rows, rel = batch
        results = evaluate_factors_at(
            rows,
            items.value,
            rel,
            ks,
            normalize_items=normalize,
            batch_size=rows.shape[0] or 1,
            num_threads=1,  # one core per Spark task
            device="cpu",
            log_progress=None,  # a task is one batch; Spark reports the tasks
        )
        return number, [
            (r.user_ap, r.user_recall, r.user_ndcg, r.n_relevant) for r in results.values()
        ]

    label = "MAP@" + ",".join(map(str, ks))
    try:
        if batches:
            scored = dict(context.parallelize(batches, numSlices=len(batches)).map(score).collect())
            parts = [scored[number] for number in range(len(batches))]
        else:
            parts = []
    finally:
        items.destroy()
    logger.info("%s on Spark: %d users in %d tasks", label, len(users), len(batches))

    def joined(c: int, column: int, dtype: Any) -> np.ndarray:
        if not parts:
            return np.zeros(0, dtype)
        return np.concatenate([np.asarray(part[c][column], dtype) for part in parts])

    return {
        k: EvaluationResult(
            joined(c, 0, np.float64),
            joined(c, 1, np.float64),
            joined(c, 2, np.float64),
            joined(c, 3, np.int64),
            k,
        )
        for c, k in enumerate(ks)
    }
