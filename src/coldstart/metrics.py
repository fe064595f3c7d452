"""Ranking metrics: Kaggle ``apk`` / ``mapk`` and the batched MAP@k evaluator.

The evaluation protocol is the one of ``shared/design.md`` section 3: the candidates
are the test items only, an item's score for a user is the dot product of the
L2-normalised predicted item factors with the user factors, and AP@k divides by
``min(|relevant|, k)`` (the common Kaggle ``apk``).

:func:`evaluate_factors` computes that for every user without ever sorting a user's
full score row: scores are produced in float32 batches of users by one matrix
product, and a compiled (numba) kernel finds, for each user, the exact rank of each
relevant item that can reach the top k, touching each score a small constant number
of times.  Its result is identical, ties included, to the naive reference "score the
row, stable argsort of ``-score``, take the top k, :func:`apk`" applied to the same
float32 scores.

Heavy dependencies (numba, tensorflow, threadpoolctl, tqdm) are imported inside the
functions that need them, so ``import coldstart.metrics`` stays cheap.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.sparse as sp

from coldstart.cores import available_cores

__all__ = ["EvaluationResult", "apk", "evaluate_factors", "mapk"]


# ---------------------------------------------------------------------------
# Plain-list Kaggle metrics (identical to the ``ml_metrics`` package)
# ---------------------------------------------------------------------------


def apk(actual: Sequence[Any], predicted: Sequence[Any], k: int = 10) -> float:
    """Average precision at k of one ranked prediction list.

    The usual Kaggle definition (``ml_metrics.apk``): walking down the first ``k``
    predictions, every prediction that is relevant and not seen before adds the
    precision at its position; the sum is divided by ``min(len(actual), k)``.

    Parameters
    ----------
    actual : sequence
        The relevant elements (order does not matter).
    predicted : sequence
        The ranked predictions, best first. A repeated prediction is counted once
        (its first occurrence); later occurrences count as misses.
    k : int, default 10
        Number of predictions considered.

    Returns
    -------
    float
        AP@k in [0, 1]; 0.0 when ``actual`` is empty.
    """
    if len(predicted) > k:
        predicted = predicted[:k]
    if len(actual) == 0:
        return 0.0
    actual_set = set(actual)
    seen: set[Any] = set()
    score = 0.0
    num_hits = 0.0
    for i, p in enumerate(predicted):
        if p in actual_set and p not in seen:
            num_hits += 1.0
            score += num_hits / (i + 1.0)
        seen.add(p)
    return score / min(len(actual), k)


def mapk(actual: Sequence[Sequence[Any]], predicted: Sequence[Sequence[Any]], k: int = 10) -> float:
    """Mean average precision at k over several users (``ml_metrics.mapk``).

    Parameters
    ----------
    actual : sequence of sequences
        Relevant elements per user.
    predicted : sequence of sequences
        Ranked predictions per user, aligned with ``actual``.
    k : int, default 10
        Number of predictions considered per user.

    Returns
    -------
    float
        The mean of :func:`apk` over users (users with no relevant element count
        0); NaN for no users (``ml_metrics`` gives ``np.mean([])``).

    Raises
    ------
    ValueError
        When ``actual`` and ``predicted`` differ in length (``ml_metrics`` would
        silently truncate).
    """
    if len(actual) != len(predicted):
        raise ValueError(
            f"actual and predicted must have the same length, got {len(actual)} and {len(predicted)}"
        )
    if len(actual) == 0:
        return float("nan")
    return float(np.mean([apk(a, p, k) for a, p in zip(actual, predicted, strict=True)]))


# ---------------------------------------------------------------------------
# Result container
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class EvaluationResult:
    """Per-user ranking metrics at ``k`` returned by :func:`evaluate_factors`.

    Attributes
    ----------
    user_ap : numpy.ndarray
        float64, AP@k of every evaluated user (0 for a user with no relevant item).
    user_recall : numpy.ndarray
        float64, recall@k = hits in the top k / number of relevant items (0 for a
        user with no relevant item).
    user_ndcg : numpy.ndarray
        float64, NDCG@k with binary gains and ``log2(rank + 1)`` discount (rank from
        1), the ideal DCG taken over ``min(|relevant|, k)`` hits (0 for a user with no
        relevant item).
    n_relevant : numpy.ndarray
        int64, number of relevant items per evaluated user.
    k : int
        The cut-off.
    """

    user_ap: np.ndarray
    user_recall: np.ndarray
    user_ndcg: np.ndarray
    n_relevant: np.ndarray
    k: int

    def __post_init__(self) -> None:
        for arr in (self.user_ap, self.user_recall, self.user_ndcg, self.n_relevant):
            if isinstance(arr, np.ndarray):
                arr.flags.writeable = False

    def summary(self) -> dict[str, float]:
        """Aggregate metrics, keys named with the actual ``k``.

        Returns
        -------
        dict[str, float]
            ``map_at_{k}``: mean AP over all evaluated users, users without relevant
            items counting 0 (the paper's reference code); ``map_at_{k}_active``: mean
            AP over users with at least one relevant item (the ``implicit``
            convention); ``recall_at_{k}`` and ``ndcg_at_{k}``: means over users with
            at least one relevant item; ``n_users`` and ``n_active_users``. A mean
            over zero users is NaN.
        """
        k = self.k
        active = self.n_relevant > 0
        n_users = int(self.user_ap.shape[0])
        n_active = int(active.sum())

        def _mean(x: np.ndarray) -> float:
            return float(x.mean()) if x.size else float("nan")

        return {
            f"map_at_{k}": _mean(self.user_ap),
            f"map_at_{k}_active": _mean(self.user_ap[active]),
            f"recall_at_{k}": _mean(self.user_recall[active]),
            f"ndcg_at_{k}": _mean(self.user_ndcg[active]),
            "n_users": float(n_users),
            "n_active_users": float(n_active),
        }


# ---------------------------------------------------------------------------
# Kernels. Written as plain Python over NumPy arrays and compiled lazily with
# numba (nogil, so a thread pool runs them in parallel); see _kernels().
# ---------------------------------------------------------------------------


def _row_metrics_py(hit_ranks, n_hits, m, k, out_ap, out_rec, out_ndcg, i):  # pragma: no cover
    """AP, recall and NDCG of one user from the sorted 0-based ranks of its hits."""
    ap = 0.0
    dcg = 0.0
    for h in range(n_hits):
        r = hit_ranks[h]
        ap += (h + 1.0) / (r + 1.0)
        dcg += 1.0 / math.log2(r + 2.0)
    denom = min(m, k)
    idcg = 0.0
    for h in range(denom):
        idcg += 1.0 / math.log2(h + 2.0)
    out_ap[i] = ap / denom
    out_rec[i] = n_hits / m
    out_ndcg[i] = dcg / idcg


def _lower_bound_py(row, k, sample, hist):  # pragma: no cover - compiled by numba
    """A cheap estimate ``L`` of a score a little below the k-th largest of ``row``.

    Only speed depends on it: the caller checks ``#{s >= L} >= k`` exactly. The
    estimate is an order statistic of a sample made of a few contiguous blocks
    (cache friendly) spread over the row, found with a histogram of the sample,
    aiming at about 2k scores >= L in the full row.
    """
    n = row.shape[0]
    ns = sample.shape[0]
    if ns == n:
        for j in range(n):
            sample[j] = row[j]
    else:
        n_blk = ns // _SAMPLE_BLOCK
        for bi in range(n_blk):
            j0 = (bi * (n - _SAMPLE_BLOCK)) // (n_blk - 1)
            for t in range(_SAMPLE_BLOCK):
                sample[bi * _SAMPLE_BLOCK + t] = row[j0 + t]
    kk = min(ns, max(8, (2 * k * ns + n - 1) // n))
    smin = sample[0]
    smax = sample[0]
    for j in range(ns):
        s = sample[j]
        smin = min(smin, s)
        smax = max(smax, s)
    width = np.float64(smax) - np.float64(smin)
    if not (width > 0.0 and width < np.inf):
        return smin
    nbins = hist.shape[0]
    hist[:] = 0
    scale = nbins / width
    for j in range(ns):
        q = int((np.float64(sample[j]) - smin) * scale)
        hist[min(q, nbins - 1)] += 1
    acc = 0
    q = nbins - 1
    while q > 0:
        acc += hist[q]
        if acc >= kk:
            break
        q -= 1
    return np.float32(smin + q / scale)


def _count_ge_py(row, lower):  # pragma: no cover - compiled by numba
    """``#{s >= lower}`` over the row (a vectorised loop)."""
    n_ge = 0
    for j in range(row.shape[0]):
        n_ge += row[j] >= lower
    return n_ge


def _rank_direct_py(row, s, i):  # pragma: no cover - compiled by numba
    """0-based rank of item ``i`` of score ``s``: #{s_j > s} + #{j < i: s_j == s}.

    Counted in one vectorised pass as #{j < i: s_j >= s} + #{j > i: s_j > s}.
    """
    g = 0
    for j in range(i):
        g += row[j] >= s
    start = numba_uintp(i + 1)
    for t in range(row.shape[0] - i - 1):  # unsigned index: vectorises
        g += row[start + numba_uintp(t)] > s
    return g


def _bin_items_py(row, j0, j1, thr, cs, ci, mc, ranks):  # pragma: no cover - compiled
    """Bin items ``j0:j1`` scoring >= thr before the first candidate each beats."""
    for j in range(j0, j1):
        s = row[j]
        if s >= thr:
            # branch-free binary search over the candidates in ranking-key order:
            # item j beats candidate c iff s_j > s_c, or s_j == s_c and j < i_c
            lo = 0
            size = mc
            while size > 0:
                half = size >> 1
                mid = lo + half
                c_s = cs[mid]
                beats = (s > c_s) | ((s == c_s) & (j < ci[mid]))
                lo = lo if beats else mid + 1
                size = half if beats else size - half - 1
            ranks[lo] += 1


def _rank_binned_py(row, cs, ci, mc, ranks):  # pragma: no cover - compiled by numba
    """0-based ranks of the ``mc`` candidates ``cs``/``ci`` (in ranking-key order).

    One pass: chunks with no score >= the lowest candidate are skipped with a
    vectorised test; every other item adds 1 to ``ranks[q]``, q being the first
    candidate it beats (``_bin_items``). A prefix sum then gives the ranks.
    """
    n = row.shape[0]
    thr = cs[mc - 1]
    for q in range(mc + 1):
        ranks[q] = 0
    n_chunks = n // _CHUNK
    for c in range(n_chunks):
        base = c * _CHUNK
        ubase = numba_uintp(base)
        f = 0
        for t in range(_CHUNK):  # unsigned index: no wraparound test, vectorises
            f += row[ubase + numba_uintp(t)] >= thr
        if f:
            _bin_items(row, base, base + _CHUNK, thr, cs, ci, mc, ranks)
    _bin_items(row, n_chunks * _CHUNK, n, thr, cs, ci, mc, ranks)
    acc = 0
    for q in range(mc):
        acc += ranks[q]
        ranks[q] = acc


def _candidates_py(row, indices, p0, m, lower, cand_s, cand_i):  # pragma: no cover
    """Relevant items scoring >= ``lower``, sorted by the ranking key; returns count."""
    mc = 0
    for p in range(p0, p0 + m):
        it = indices[p]
        s = row[it]
        if s >= lower:
            cand_s[mc] = s
            cand_i[mc] = it
            mc += 1
    if mc > 1:
        # CSR indices are ascending, so a stable sort of -score gives (-score, index).
        order = np.argsort(-cand_s[:mc], kind="mergesort")
        cs = cand_s[:mc][order]
        ci = cand_i[:mc][order]
        cand_s[:mc] = cs
        cand_i[:mc] = ci
    return mc


def _rank_kernel_py(
    scores, row_ids, indptr, indices, k, start, stop, out_ap, out_rec, out_ndcg
):  # pragma: no cover - compiled by numba; the Python body is the specification
    """Metrics of score rows ``start:stop`` from the ranks of their relevant items.

    Ranking: descending score, ties by ascending item index. With ``t`` the k-th
    largest score of a row, only relevant items scoring >= t can be in the top k.
    So any ``L <= t`` will do as a filter: a cheap estimate ``L`` (``_lower_bound``)
    is checked exactly by counting ``#{s >= L} >= k`` (if not, ``L`` becomes the
    exact k-th largest by selection). The relevant items scoring >= L (the
    candidates) then get their exact 0-based rank: one vectorised counting pass
    per candidate when there are few, else one binning pass for all
    (``_rank_binned``). Users with very few relevant items skip the filter and
    rank them directly. The hits are the candidates of rank < k.
    """
    n = scores.shape[1]
    max_m = 1
    for b in range(start, stop):
        u = row_ids[b]
        max_m = max(max_m, indptr[u + 1] - indptr[u])
    cand_s = np.empty(max_m, np.float32)
    cand_i = np.empty(max_m, np.int64)
    ranks = np.empty(max_m + 1, np.int64)
    if n <= 4 * _SAMPLE_SIZE:
        sample = np.empty(n, np.float32)
    else:
        sample = np.empty(_SAMPLE_SIZE, np.float32)
    hist = np.empty(_HIST_BINS, np.int64)
    for b in range(start, stop):
        u = row_ids[b]
        p0 = indptr[u]
        m = indptr[u + 1] - p0
        if m == 0:
            out_ap[b] = 0.0
            out_rec[b] = 0.0
            out_ndcg[b] = 0.0
            continue
        row = scores[b]
        lower = np.float32(-np.inf)
        if k < n and m > _UNFILTERED_MAX:
            lower = _lower_bound(row, k, sample, hist)
            if _count_ge(row, lower) < k:  # the estimate was above the k-th largest (rare)
                lower = np.partition(row, n - k)[n - k]
        mc = _candidates(row, indices, p0, m, lower, cand_s, cand_i)
        if mc <= _DIRECT_MAX:
            for q in range(mc):
                ranks[q] = _rank_direct(row, cand_s[q], cand_i[q])
        else:
            _rank_binned(row, cand_s, cand_i, mc, ranks)
        n_hits = 0
        for q in range(mc):  # ranks ascend with q
            if ranks[q] >= k:
                break
            n_hits += 1
        _row_metrics(ranks, n_hits, m, k, out_ap, out_rec, out_ndcg, b)


def _topk_kernel_py(
    topk_idx, row_ids, indptr, indices, k, out_ap, out_rec, out_ndcg
):  # pragma: no cover - compiled by numba
    """Metrics of users from their ranked top-k item indices (the GPU path).

    ``topk_idx[b]`` holds the ranked top-k item indices of user ``row_ids[b]``;
    relevance is looked up by binary search in the user's sorted CSR indices.
    """
    kk = topk_idx.shape[1]
    max_m = 0
    for b in range(topk_idx.shape[0]):
        u = row_ids[b]
        mm = indptr[u + 1] - indptr[u]
        if mm > max_m:
            max_m = mm
    hit_ranks = np.empty(max(max_m, 1), np.int64)
    for b in range(topk_idx.shape[0]):
        u = row_ids[b]
        p0 = indptr[u]
        m = indptr[u + 1] - p0
        if m == 0:
            out_ap[b] = 0.0
            out_rec[b] = 0.0
            out_ndcg[b] = 0.0
            continue
        n_hits = 0
        for r in range(kk):
            it = topk_idx[b, r]
            lo = p0
            hi = p0 + m
            while lo < hi:
                mid = (lo + hi) >> 1
                if indices[mid] < it:
                    lo = mid + 1
                else:
                    hi = mid
            if lo < p0 + m and indices[lo] == it:
                hit_ranks[n_hits] = r
                n_hits += 1
        _row_metrics(hit_ranks, n_hits, m, k, out_ap, out_rec, out_ndcg, b)


_SAMPLE_BLOCK = 64  # contiguous scores per sample block
_SAMPLE_SIZE = 8 * _SAMPLE_BLOCK  # sampled scores per row (rows <= 4x this: all)
_HIST_BINS = 256
_CHUNK = 32  # scores per skip test in _rank_binned
_DIRECT_MAX = 8  # up to this many candidates are ranked by one counting pass each
_UNFILTERED_MAX = 2  # users with at most this many relevant items skip the filter

# Names the kernels call; rebound to the compiled versions by _kernels().
_row_metrics = _row_metrics_py
_lower_bound = _lower_bound_py
_count_ge = _count_ge_py
_rank_direct = _rank_direct_py
_rank_binned = _rank_binned_py
_bin_items = _bin_items_py
_candidates = _candidates_py


def numba_uintp(x):  # pragma: no cover - replaced by numba.uintp in compiled code
    return x


@lru_cache(maxsize=1)
def _kernels():
    """Compile the kernels with numba (cached on disk next to this module)."""
    try:
        import numba
    except ImportError as exc:  # pragma: no cover - numba ships with librosa
        raise ImportError(
            "coldstart.metrics.evaluate_factors needs numba (pip install numba)"
        ) from exc
    global _row_metrics, _lower_bound, _count_ge, _rank_direct, _rank_binned
    global _candidates, _bin_items, numba_uintp
    numba_uintp = numba.uintp
    opts = {"nogil": True, "cache": True, "error_model": "numpy"}
    _row_metrics = numba.njit(**opts)(_row_metrics_py)
    _lower_bound = numba.njit(**opts)(_lower_bound_py)
    _count_ge = numba.njit(**opts)(_count_ge_py)
    _rank_direct = numba.njit(**opts)(_rank_direct_py)
    _bin_items = numba.njit(**opts)(_bin_items_py)
    _rank_binned = numba.njit(**opts)(_rank_binned_py)
    _candidates = numba.njit(**opts)(_candidates_py)
    rank = numba.njit(**opts)(_rank_kernel_py)
    topk = numba.njit(**opts)(_topk_kernel_py)
    return rank, topk


# ---------------------------------------------------------------------------
# Evaluator
# ---------------------------------------------------------------------------


def _as_2d_float(name: str, x: Any) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    return arr


def _normalized_items(item_factors: np.ndarray, normalize: bool) -> np.ndarray:
    """float32 C-contiguous item factors, L2-normalised row-wise when asked.

    Rows of norm 0 stay 0 (their score is 0 for every user).
    """
    v = np.asarray(item_factors, dtype=np.float64 if normalize else np.float32)
    if normalize:
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        v = v / np.where(norms > 0, norms, 1.0)
    return np.ascontiguousarray(v, dtype=np.float32)


def _canonical_relevant(relevant: Any, shape: tuple[int, int]) -> sp.csr_matrix:
    if not sp.issparse(relevant):
        raise TypeError(
            f"relevant must be a scipy.sparse matrix (users x items), got {type(relevant).__name__}"
        )
    if relevant.shape != shape:
        raise ValueError(
            f"relevant has shape {relevant.shape} but user_factors/item_factors imply "
            f"{shape} (n_users x n_items)"
        )
    rel = relevant.tocsr()
    copied = rel is not relevant
    if not rel.has_canonical_format:
        rel = rel.copy() if not copied else rel
        copied = True
        rel.sum_duplicates()  # also sorts the indices
    if rel.nnz and not np.all(rel.data != 0):
        rel = rel.copy() if not copied else rel
        rel.eliminate_zeros()
    return rel


def _gpu_available(device: str) -> bool:
    if device == "cpu":
        return False
    if device == "auto" and "tensorflow" not in sys.modules:
        return False
    try:
        import tensorflow as tf
    except ImportError as exc:
        if device == "gpu":
            raise RuntimeError("device='gpu' needs tensorflow, which is not importable") from exc
        return False
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    if device == "gpu" and not has_gpu:
        raise RuntimeError("device='gpu' but tensorflow sees no GPU")
    return has_gpu


def evaluate_factors(
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    relevant: sp.spmatrix | sp.sparray,
    k: int = 500,
    *,
    normalize_items: bool = True,
    users: np.ndarray | Sequence[int] | None = None,
    batch_size: int = 4096,
    num_threads: int | None = None,
    device: str = "auto",
    progress: bool = False,
) -> EvaluationResult:
    """Per-user AP@k, recall@k and NDCG@k of dot-product recommendations.

    Every user ranks all candidate items by ``score = item · user`` (item factors
    L2-normalised first when ``normalize_items``), in descending score with ties
    broken by ascending item index (a stable sort of ``-score``). The result is
    identical to scoring each row in float32, taking the first ``k`` of a stable
    ``argsort(-score)`` and calling :func:`apk` -- for any ``batch_size`` and
    ``num_threads`` -- but costs little more than the matrix products themselves.

    Parameters
    ----------
    user_factors : numpy.ndarray or scipy.sparse matrix
        ``(n_users, f)`` user factors. A sparse matrix (e.g. item-kNN's user play
        rows, ``f`` = the train items) stays sparse: each batch is scored with a
        sparse-dense product, so neither memory nor time grows with ``f`` times the
        number of users.
    item_factors : numpy.ndarray
        ``(n_items, f)`` factors of the candidate items (the test items only).
    relevant : scipy.sparse matrix
        ``(n_users, n_items)``; a stored nonzero marks a relevant (user, item) pair.
    k : int, default 500
        Cut-off. ``k`` larger than ``n_items`` ranks every item.
    normalize_items : bool, default True
        L2-normalise the item factors (rows of norm 0 stay 0) before scoring.
    users : array of int, optional
        Rows of ``user_factors``/``relevant`` to evaluate, in output order (default:
        all users).
    batch_size : int, default 4096
        Users scored per matrix product; working memory is about
        ``batch_size * n_items`` float32 scores, independent of ``n_users``.
    num_threads : int, optional
        Threads for the ranking kernel, and BLAS threads for the products when
        ``threadpoolctl`` is installed (default: the CPUs this process may use).
    device : {"auto", "cpu", "gpu"}, default "auto"
        ``"gpu"`` does the products and top-k with TensorFlow on a GPU (error if
        none). ``"auto"`` uses a GPU only when TensorFlow is already imported and sees
        one; it never imports TensorFlow itself. On a GPU the float32 products may
        round differently from the CPU BLAS, which can reorder near-equal scores.
    progress : bool, default False
        Show a tqdm progress bar over batches.

    Returns
    -------
    EvaluationResult
        ``user_ap``: AP@k with the Kaggle denominator ``min(|relevant|, k)``;
        ``user_recall``: hits in the top k / ``|relevant|``; ``user_ndcg``: binary
        gains, discount ``1 / log2(rank + 1)`` for rank 1..k, normalised by the DCG
        of ``min(|relevant|, k)`` hits at the top. All three are 0 for a user with
        no relevant item. ``summary()`` gives both MAP conventions.

    Raises
    ------
    ValueError
        On shape mismatches (naming both shapes), ``k < 1``, ``batch_size < 1``,
        ``num_threads < 1``, out-of-range ``users``, non-finite factors or an
        unknown ``device``.
    TypeError
        When ``relevant`` is not a scipy sparse matrix or factors are not numeric.
    """
    # -- validation ---------------------------------------------------------------
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    k = int(k)
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int | np.integer)
        or batch_size < 1
    ):
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if num_threads is not None and (
        not isinstance(num_threads, int | np.integer) or num_threads < 1
    ):
        raise ValueError(f"num_threads must be None or an integer >= 1, got {num_threads!r}")
    if device not in ("auto", "cpu", "gpu"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'gpu', got {device!r}")
    sparse_users = sp.issparse(user_factors)
    uf = (
        sp.csr_matrix(user_factors, dtype=np.float32)
        if sparse_users
        else _as_2d_float("user_factors", user_factors)
    )
    itf = _as_2d_float("item_factors", item_factors)
    if uf.shape[1] != itf.shape[1]:
        raise ValueError(
            f"user_factors {uf.shape} and item_factors {itf.shape} must have the same "
            "number of factors (columns)"
        )
    n_users, n_items = uf.shape[0], itf.shape[0]
    rel = _canonical_relevant(relevant, (n_users, n_items))
    if users is None:
        row_ids_all = None
        n_eval = n_users
    else:
        row_ids_all = np.asarray(users)
        if row_ids_all.ndim != 1 or not (
            np.issubdtype(row_ids_all.dtype, np.integer) or row_ids_all.size == 0
        ):
            raise ValueError(
                f"users must be a 1-D array of integer indices, got shape {row_ids_all.shape} "
                f"and dtype {row_ids_all.dtype}"
            )
        row_ids_all = row_ids_all.astype(np.int64)
        if row_ids_all.size and (row_ids_all.min() < 0 or row_ids_all.max() >= n_users):
            raise ValueError(
                f"users must index rows of user_factors (0..{n_users - 1}), got values in "
                f"[{row_ids_all.min()}, {row_ids_all.max()}]"
            )
        n_eval = row_ids_all.size
    if not np.isfinite(itf).all():
        raise ValueError("item_factors contains NaN or infinite values")

    v = _normalized_items(itf, normalize_items)
    n_threads = int(num_threads) if num_threads is not None else available_cores()
    indptr, indices = rel.indptr, rel.indices
    n_relevant = np.diff(indptr).astype(np.int64)
    if row_ids_all is not None:
        n_relevant = n_relevant[row_ids_all]

    out_ap = np.zeros(n_eval, np.float64)
    out_rec = np.zeros(n_eval, np.float64)
    out_ndcg = np.zeros(n_eval, np.float64)
    if n_eval == 0 or n_items == 0:
        return EvaluationResult(out_ap, out_rec, out_ndcg, n_relevant, k)

    rank_kernel, topk_kernel = _kernels()
    use_gpu = _gpu_available(device)
    bs = min(int(batch_size), n_eval)
    starts = range(0, n_eval, bs)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, total=len(starts), unit="batch", desc=f"MAP@{k}")

    def batch_rows(b0: int, b1: int) -> tuple[np.ndarray, Any]:
        if row_ids_all is None:
            ids = np.arange(b0, b1, dtype=np.int64)
            ub = uf[b0:b1]
        else:
            ids = row_ids_all[b0:b1]
            ub = uf[ids]
        if not sparse_users:
            ub = np.ascontiguousarray(ub, dtype=np.float32)
        if not np.isfinite(ub.data if sparse_users else ub).all():
            raise ValueError("user_factors contains NaN or infinite values")
        return ids, ub

    if use_gpu:

        def dense_batch_rows(b0: int, b1: int) -> tuple[np.ndarray, np.ndarray]:
            ids, ub = batch_rows(b0, b1)
            return ids, ub.toarray() if sparse_users else ub

        _evaluate_gpu(
            v,
            dense_batch_rows,
            starts,
            n_eval,
            bs,
            k,
            indptr,
            indices,
            topk_kernel,
            out_ap,
            out_rec,
            out_ndcg,
        )
        return EvaluationResult(out_ap, out_rec, out_ndcg, n_relevant, k)

    from contextlib import nullcontext

    try:
        from threadpoolctl import threadpool_limits

        blas_ctx = (
            threadpool_limits(n_threads, user_api="blas")
            if num_threads is not None
            else nullcontext()
        )
    except ImportError:  # pragma: no cover
        blas_ctx = nullcontext()

    # BLAS reads the transpose in place; the sparse product wants it row-major (2x faster)
    vt = np.ascontiguousarray(v.T) if sparse_users else v.T
    buf = np.empty((bs, n_items), np.float32)
    pool = None
    if n_threads > 1:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="coldstart-eval")
    try:
        with blas_ctx:
            for b0 in starts:
                b1 = min(b0 + bs, n_eval)
                ids, ub = batch_rows(b0, b1)
                scores = buf[: b1 - b0]
                if sparse_users:
                    scores[...] = ub @ vt
                else:
                    np.matmul(ub, vt, out=scores)
                oa, orc, on = out_ap[b0:b1], out_rec[b0:b1], out_ndcg[b0:b1]
                nb = b1 - b0
                if pool is None or nb < 2:
                    rank_kernel(scores, ids, indptr, indices, k, 0, nb, oa, orc, on)
                else:
                    # several chunks per thread balance users of uneven cost
                    n_chunks = min(nb, 4 * n_threads)
                    edges = np.linspace(0, nb, n_chunks + 1).astype(np.int64)
                    futs = [
                        pool.submit(
                            rank_kernel,
                            scores,
                            ids,
                            indptr,
                            indices,
                            k,
                            int(edges[c]),
                            int(edges[c + 1]),
                            oa,
                            orc,
                            on,
                        )
                        for c in range(n_chunks)
                        if edges[c + 1] > edges[c]
                    ]
                    for fut in futs:
                        fut.result()
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    return EvaluationResult(out_ap, out_rec, out_ndcg, n_relevant, k)


def _evaluate_gpu(
    v, batch_rows, starts, n_eval, bs, k, indptr, indices, topk_kernel, out_ap, out_rec, out_ndcg
) -> None:
    """Products and top-k on the GPU with TensorFlow; relevance lookup on the host.

    ``tf.math.top_k`` returns equal scores lower index first, the CPU tie rule.
    TF32 matmul is switched off for the duration, so products are float32.
    """
    import tensorflow as tf

    kk = min(k, v.shape[0])
    tf32 = tf.config.experimental.tensor_float_32_execution_enabled()
    tf.config.experimental.enable_tensor_float_32_execution(False)
    try:
        with tf.device("/GPU:0"):
            v_dev = tf.constant(v)
            for b0 in starts:
                b1 = min(b0 + bs, n_eval)
                ids, ub = batch_rows(b0, b1)
                scores = tf.matmul(tf.constant(ub), v_dev, transpose_b=True)
                top = tf.math.top_k(scores, k=kk, sorted=True).indices.numpy()
                topk_kernel(
                    top, ids, indptr, indices, k, out_ap[b0:b1], out_rec[b0:b1], out_ndcg[b0:b1]
                )
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(tf32)
