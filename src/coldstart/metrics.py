"""Ranking metrics: Kaggle ``apk`` / ``mapk`` and the batched MAP@k evaluator.

The evaluation protocol (``docs/architecture.md``, Evaluation): the candidates
are the test items only, an item's score for a user is the dot product of the
L2-normalised predicted item factors with the user factors, and AP@k divides by
``min(|relevant|, k)`` (the common Kaggle ``apk``).

:func:`evaluate_factors` computes that for every user without ever sorting a user's
full score row: scores are produced in float32 batches of users by one matrix
product, and a compiled (numba) kernel finds, for each user, the tie group (items
strictly above, items of equal score) of each relevant item that can reach the top
k, touching each score a small constant number of times.

Exactly tied scores are not broken by an arbitrary rule: a user's AP, recall and
NDCG are their expected values over all orders of the tied items (McSherry &
Najork, ECIR 2008). Without ties this is, bit for bit, the naive reference "score
the row, stable argsort of ``-score``, take the top k, :func:`apk`" on the same
float32 scores. Candidate items whose factors are bitwise equal are scored once,
so they tie exactly whatever the BLAS kernel.

Heavy dependencies (numba, tensorflow, threadpoolctl, tqdm) are imported inside the
functions that need them, so ``import coldstart.metrics`` stays cheap.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.sparse as sp

from coldstart.cores import available_cores
from coldstart.device import check_device, use_device_path
from coldstart.jit import compile_notice
from coldstart.progress import ProgressLog

__all__ = ["EvaluationResult", "apk", "evaluate_factors", "evaluate_factors_at", "mapk"]

logger = logging.getLogger(__name__)


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

    Every metric is its expected value over the orders of exactly tied items.

    Attributes
    ----------
    user_ap : numpy.ndarray
        float64, AP@k of every evaluated user (0 for a user with no relevant item).
    user_recall : numpy.ndarray
        float64, recall@k = (expected) hits in the top k / number of relevant items
        (0 for a user with no relevant item).
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
#
# Ties. Items of exactly equal float32 score are ranked in every order with equal
# probability, and a user's metrics are their expected values over those orders
# (McSherry & Najork, "Computing information retrieval performance measures
# efficiently in the presence of tied scores", ECIR 2008). What a relevant item
# needs is therefore not its position but its tie group: g = #{scores > s} items
# strictly above it and t = #{scores == s} items (itself included) sharing its
# score, i.e. the group occupies the 0-based positions g .. g + t - 1.
# ---------------------------------------------------------------------------


def _row_metrics_py(cand_g, cand_t, mc, m, k, out_ap, out_rec, out_ndcg, i):  # pragma: no cover
    """Expected AP, recall and NDCG of one user from its relevant candidates' tie groups.

    ``cand_g[q]`` and ``cand_t[q]`` describe the tie group of the q-th relevant
    candidate in descending score (so ``cand_g`` ascends); relevant items of one
    group are adjacent. Every relevant item scoring above a candidate is itself a
    candidate, so the q-th candidate has exactly q relevant items above its group.

    A group at positions g+1 .. g+t (1-based) holding r relevant items, with H
    relevant items above it, has each position relevant with probability r/t and,
    given that, (j)(r-1)/(t-1) of the j positions of the group before it relevant in
    expectation, so its expected AP contribution is

        sum_{j=0}^{L-1} (r/t) * (H + 1 + j (r-1)/(t-1)) / (g + j + 1),   L = min(t, k - g)

    (McSherry & Najork 2008), the expected DCG sum_j (r/t) / log2(g + j + 2) and the
    expected number of hits r L / t. An untied relevant item (t = 1) adds
    (H + 1) / (g + 1) with the same arithmetic as the tie-blind formula, so tie-free
    results are bit-identical to it.
    """
    ap = 0.0
    dcg = 0.0
    hits = 0.0
    q = 0
    while q < mc:
        g = cand_g[q]
        if g >= k:  # this group and every later one start below the cut-off
            break
        t = cand_t[q]
        if t == 1:
            ap += (q + 1.0) / (g + 1.0)
            dcg += 1.0 / math.log2(g + 2.0)
            hits += 1.0
            q += 1
            continue
        r = 1
        while q + r < mc and cand_g[q + r] == g:
            r += 1
        n_in = min(t, k - g)  # positions of the group within the top k
        w = r / t
        spread = (r - 1.0) / (t - 1.0)
        for j in range(n_in):
            ap += w * (q + 1.0 + j * spread) / (g + j + 1.0)
            dcg += w / math.log2(g + j + 2.0)
        hits += r * n_in / t
        q += r
    denom = min(m, k)
    idcg = 0.0
    for h in range(denom):
        idcg += 1.0 / math.log2(h + 2.0)
    out_ap[i] = ap / denom
    out_rec[i] = hits / m
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


def _tie_group_py(row, s):  # pragma: no cover - compiled by numba
    """``(#{s_j > s}, #{s_j == s})`` over the row, in one vectorised pass.

    Counted per block in float32 lanes, compiled with reassociation allowed: the
    0/1 sums of a block are exact in any order (block < 2**24), and this runs as
    fast as the single comparison of a tie-blind rank (int64 lanes: ~1.8x slower).
    """
    n = row.shape[0]
    above = 0
    equal = 0
    n_blocks = n // _COUNT_BLOCK
    for c in range(n_blocks):
        base = numba_uintp(c * _COUNT_BLOCK)
        above_c = np.float32(0.0)
        equal_c = np.float32(0.0)
        for t in range(_COUNT_BLOCK):  # unsigned index: no wraparound test, vectorises
            x = row[base + numba_uintp(t)]
            above_c += np.float32(x > s)
            equal_c += np.float32(x == s)
        above += int(above_c)
        equal += int(equal_c)
    for j in range(n_blocks * _COUNT_BLOCK, n):
        above += row[j] > s
        equal += row[j] == s
    return above, equal


def _bin_items_py(row, j0, j1, thr, cs, mc, n_above, n_equal):  # pragma: no cover - compiled
    """Bin items ``j0:j1`` scoring >= thr at the first candidate scoring <= theirs.

    An item lands in ``n_equal[q]`` when it ties candidate q (q is then the first
    candidate of that score), else in ``n_above[q]`` (it scores strictly between
    candidates q - 1 and q).
    """
    for j in range(j0, j1):
        s = row[j]
        if s >= thr:
            # branch-free binary search over the candidates (descending scores)
            lo = 0
            size = mc
            while size > 0:
                half = size >> 1
                mid = lo + half
                at_or_below = cs[mid] <= s
                lo = lo if at_or_below else mid + 1
                size = half if at_or_below else size - half - 1
            if s == cs[lo]:  # lo < mc: s >= thr, the last candidate's score
                n_equal[lo] += 1
            else:
                n_above[lo] += 1


def _rank_binned_py(row, cs, mc, cand_g, cand_t, n_above, n_equal):  # pragma: no cover
    """Tie groups of the ``mc`` candidates ``cs`` (descending scores) in one pass.

    Chunks with no score >= the lowest candidate are skipped with a vectorised
    test; every other item is binned at the first candidate not above it
    (``_bin_items``). Prefix sums then give, per candidate, the items strictly
    above it (``cand_g``) and the items of its score (``cand_t``).
    """
    n = row.shape[0]
    thr = cs[mc - 1]
    for q in range(mc):
        n_above[q] = 0
        n_equal[q] = 0
    n_chunks = n // _CHUNK
    for c in range(n_chunks):
        base = c * _CHUNK
        ubase = numba_uintp(base)
        f = 0
        for t in range(_CHUNK):  # unsigned index: no wraparound test, vectorises
            f += row[ubase + numba_uintp(t)] >= thr
        if f:
            _bin_items(row, base, base + _CHUNK, thr, cs, mc, n_above, n_equal)
    _bin_items(row, n_chunks * _CHUNK, n, thr, cs, mc, n_above, n_equal)
    acc = 0
    group = 0
    for q in range(mc):
        if q == 0 or cs[q] != cs[q - 1]:
            acc += group  # the previous score's items are all above this one
            group = n_equal[q]
        acc += n_above[q]  # 0 inside a group: nothing scores strictly between equal scores
        cand_g[q] = acc
        cand_t[q] = group


def _candidates_py(row, indices, p0, m, lower, cand_s):  # pragma: no cover
    """Scores of the relevant items scoring >= ``lower``, sorted descending; returns count."""
    mc = 0
    for p in range(p0, p0 + m):
        s = row[indices[p]]
        if s >= lower:
            cand_s[mc] = s
            mc += 1
    if mc > 1:
        cand_s[:mc] = np.sort(cand_s[:mc])[::-1]
    return mc


def _rank_kernel_py(
    scores, row_ids, indptr, indices, ks, start, stop, out_ap, out_rec, out_ndcg, out_start
):  # pragma: no cover - compiled by numba; the Python body is the specification
    """Metrics at every cut-off ``ks`` of score rows ``start:stop`` in one ranking pass.

    ``ks`` ascends; ``out_*[c, out_start + b]`` receives row b's metric at ``ks[c]``
    (whole output arrays and an offset, rather than views of a batch, keep one
    array layout and so one compiled specialisation). With ``t``
    the K-th largest score of a row (K the largest cut-off), only relevant items
    scoring >= t can reach the top K (a relevant item scoring t may share a tie
    group with the K-th position). So any ``L <= t`` will do as a filter: a cheap
    estimate ``L`` (``_lower_bound``) is checked exactly by counting
    ``#{s >= L} >= K`` (if not, ``L`` becomes the exact K-th largest by
    selection). The relevant items scoring >= L (the candidates) then get their
    tie group: one vectorised counting pass per distinct candidate score when there
    are few, else one binning pass for all (``_rank_binned``). Users with very few
    relevant items skip the filter. ``_row_metrics`` turns the groups into expected
    metrics, once per cut-off: the K-th largest score is <= the k-th largest for
    every k <= K, so the candidates at K hold those at k, and the extra ones start
    at or below position k, where ``_row_metrics`` stops; the metrics at k are
    therefore those of a pass made for k alone, to the bit.
    """
    n = scores.shape[1]
    n_k = ks.shape[0]
    k_max = ks[n_k - 1]
    max_m = 1
    for b in range(start, stop):
        u = row_ids[b]
        max_m = max(max_m, indptr[u + 1] - indptr[u])
    cand_s = np.empty(max_m, np.float32)
    cand_g = np.empty(max_m, np.int64)
    cand_t = np.empty(max_m, np.int64)
    n_above = np.empty(max_m, np.int64)
    n_equal = np.empty(max_m, np.int64)
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
            for c in range(n_k):
                out_ap[c, out_start + b] = 0.0
                out_rec[c, out_start + b] = 0.0
                out_ndcg[c, out_start + b] = 0.0
            continue
        row = scores[b]
        lower = np.float32(-np.inf)
        if k_max < n and m > _UNFILTERED_MAX:
            lower = _lower_bound(row, k_max, sample, hist)
            if _count_ge(row, lower) < k_max:  # the estimate was above the K-th largest (rare)
                lower = np.partition(row, n - k_max)[n - k_max]
        mc = _candidates(row, indices, p0, m, lower, cand_s)
        if mc <= _DIRECT_MAX:
            for q in range(mc):
                if q > 0 and cand_s[q] == cand_s[q - 1]:  # same group as the previous one
                    cand_g[q] = cand_g[q - 1]
                    cand_t[q] = cand_t[q - 1]
                else:
                    cand_g[q], cand_t[q] = _tie_group(row, cand_s[q])
        else:
            _rank_binned(row, cand_s, mc, cand_g, cand_t, n_above, n_equal)
        for c in range(n_k):
            _row_metrics(
                cand_g, cand_t, mc, m, ks[c], out_ap[c], out_rec[c], out_ndcg[c], out_start + b
            )


def _topk_kernel_py(
    top_scores, n_tied_last, rel_scores, rel_ptr, k, out_ap, out_rec, out_ndcg
):  # pragma: no cover - compiled by numba
    """Metrics of users from their top-k scores (the GPU path).

    ``top_scores[b]`` holds the ``kk = min(k, n_items)`` largest scores of batch row
    b in descending order, ``n_tied_last[b]`` the number of items of the whole row
    scoring exactly ``top_scores[b, kk - 1]``, and ``rel_scores[rel_ptr[b]:rel_ptr[b
    + 1]]`` the scores of its relevant items. A relevant item scoring above the
    last top score has its whole tie group inside the top k, so the group is read
    off ``top_scores``; one scoring exactly the last top score has ``n_tied_last[b]``
    items in its group; one scoring less cannot reach the top k.
    """
    nb, kk = top_scores.shape
    max_m = 1
    for b in range(nb):
        max_m = max(max_m, rel_ptr[b + 1] - rel_ptr[b])
    cand_s = np.empty(max_m, np.float32)
    cand_g = np.empty(max_m, np.int64)
    cand_t = np.empty(max_m, np.int64)
    for b in range(nb):
        p0 = rel_ptr[b]
        m = rel_ptr[b + 1] - p0
        if m == 0:
            out_ap[b] = 0.0
            out_rec[b] = 0.0
            out_ndcg[b] = 0.0
            continue
        top = top_scores[b]
        last = top[kk - 1]
        mc = 0
        for p in range(p0, p0 + m):
            if rel_scores[p] >= last:
                cand_s[mc] = rel_scores[p]
                mc += 1
        if mc > 1:
            cand_s[:mc] = np.sort(cand_s[:mc])[::-1]
        for q in range(mc):
            s = cand_s[q]
            if q > 0 and s == cand_s[q - 1]:
                cand_g[q] = cand_g[q - 1]
                cand_t[q] = cand_t[q - 1]
                continue
            # first position of a top score <= s, then of one < s (descending order)
            lo = 0
            hi = kk
            while lo < hi:
                mid = (lo + hi) >> 1
                if top[mid] > s:
                    lo = mid + 1
                else:
                    hi = mid
            cand_g[q] = lo
            if s > last:
                hi = kk
                while lo < hi:
                    mid = (lo + hi) >> 1
                    if top[mid] >= s:
                        lo = mid + 1
                    else:
                        hi = mid
                cand_t[q] = lo - cand_g[q]
            else:
                cand_t[q] = n_tied_last[b]
        _row_metrics(cand_g, cand_t, mc, m, k, out_ap, out_rec, out_ndcg, b)


_SAMPLE_BLOCK = 64  # contiguous scores per sample block
_SAMPLE_SIZE = 8 * _SAMPLE_BLOCK  # sampled scores per row (rows <= 4x this: all)
_HIST_BINS = 256
_CHUNK = 32  # scores per skip test in _rank_binned
_COUNT_BLOCK = 1024  # scores per float32 partial count in _tie_group
_DIRECT_MAX = 8  # up to this many candidates are ranked by one counting pass each
_UNFILTERED_MAX = 2  # users with at most this many relevant items skip the filter

# Names the kernels call; rebound to the compiled versions by _kernels().
_row_metrics = _row_metrics_py
_lower_bound = _lower_bound_py
_count_ge = _count_ge_py
_tie_group = _tie_group_py
_rank_binned = _rank_binned_py
_bin_items = _bin_items_py
_candidates = _candidates_py


def numba_uintp(x):  # pragma: no cover - replaced by numba.uintp in compiled code
    return x


@lru_cache(maxsize=1)
def _kernels():
    """Compile the kernels with numba (cached on disk where writable: ``coldstart.jit``)."""
    try:
        import numba
    except ImportError as exc:  # pragma: no cover - numba ships with librosa
        raise ImportError(
            "coldstart.metrics.evaluate_factors needs numba (pip install numba)"
        ) from exc
    from coldstart.jit import njit

    global _row_metrics, _lower_bound, _count_ge, _tie_group, _rank_binned
    global _candidates, _bin_items, numba_uintp
    numba_uintp = numba.uintp
    opts = {"nogil": True, "error_model": "numpy"}  # cached on disk by coldstart.jit.njit
    _row_metrics = njit(**opts)(_row_metrics_py)
    _lower_bound = njit(**opts)(_lower_bound_py)
    _count_ge = njit(**opts)(_count_ge_py)
    _tie_group = njit(**opts, fastmath={"reassoc"})(_tie_group_py)
    _bin_items = njit(**opts)(_bin_items_py)
    _rank_binned = njit(**opts)(_rank_binned_py)
    _candidates = njit(**opts)(_candidates_py)
    rank = njit(**opts)(_rank_kernel_py)
    topk = njit(**opts)(_topk_kernel_py)
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


def _distinct_rows(v: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The bitwise-distinct rows of ``v`` and, when some repeat, each row's index among them.

    Equal factors must give equal scores for the tie handling to see a tie; a BLAS
    kernel need not guarantee that for two columns of one product, so a repeated
    row is scored once. Returns ``(v, None)`` when every row is distinct (the
    common case, detected with a cheap exact hash), so tie-free inputs take the
    unchanged path.
    """
    n, f = v.shape
    if n < 2 or f == 0:
        return v, None
    bits = np.ascontiguousarray(v).view(np.uint32)
    # equal rows have equal keys, so distinct keys prove distinct rows: first the
    # bits of the first two factors (distinct for continuous factors), then a hash
    if np.unique(bits[:, 0].astype(np.uint64) << np.uint64(32) | bits[:, min(1, f - 1)]).size == n:
        return v, None
    mult = np.random.default_rng(0).integers(1, 2**63, size=f, dtype=np.uint64) | np.uint64(1)
    with np.errstate(over="ignore"):
        hashes = (bits.astype(np.uint64) * mult).sum(axis=1, dtype=np.uint64)
    if np.unique(hashes).size == n:
        return v, None
    keys = np.ascontiguousarray(v).view(np.dtype((np.void, v.dtype.itemsize * f))).ravel()
    _, first, copy_of = np.unique(keys, return_index=True, return_inverse=True)
    if first.size == n:
        return v, None
    return np.ascontiguousarray(v[first]), copy_of.astype(np.intp).ravel()


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
    log_progress: str | None = "evaluation",
) -> EvaluationResult:
    """Per-user AP@k, recall@k and NDCG@k of dot-product recommendations.

    Every user ranks all candidate items by ``score = item · user`` (item factors
    L2-normalised first when ``normalize_items``), in descending float32 score.
    Items of exactly equal score are taken in every order with equal probability
    and the metrics are their expectations over those orders (McSherry & Najork,
    ECIR 2008), so no tie-breaking rule (item index, rounding noise) moves them.
    Without ties the result is identical to scoring each row in float32, taking the
    first ``k`` of ``argsort(-score)`` and calling :func:`apk` -- for any
    ``batch_size`` and ``num_threads`` -- but costs little more than the matrix
    products themselves. Candidate items with bitwise-equal factors (e.g. songs
    given their artist's prediction) are scored once and tie exactly.

    This is :func:`evaluate_factors_at` with the one cut-off ``k``; ask that for
    several cut-offs, which it gives from one scoring and ranking pass.

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
    device : {"auto", "cpu", "gpu", "backend"}, default "auto"
        Where the products and top-k run (:mod:`coldstart.device`): ``"auto"`` on
        a GPU when the selected Keras backend sees one (logged), else the CPU
        kernels; ``"cpu"`` forces the CPU; ``"gpu"`` the GPU (error if none);
        ``"backend"`` the Keras backend's default device, GPU or not. The device
        path is ``keras.ops`` on any backend; its float32 products may round
        differently from the CPU BLAS, which can reorder near-equal scores (exact
        ties are treated alike on both).
    progress : bool, default False
        Show a tqdm progress bar over batches.
    log_progress : str or None, default "evaluation"
        Name under which a long evaluation logs its progress (users done, time
        left) at INFO every 30 s (:class:`coldstart.progress.ProgressLog`); one
        that ends sooner logs nothing. ``None``: no lines.

    Returns
    -------
    EvaluationResult
        ``user_ap``: AP@k with the Kaggle denominator ``min(|relevant|, k)``;
        ``user_recall``: hits in the top k / ``|relevant|``; ``user_ndcg``: binary
        gains, discount ``1 / log2(rank + 1)`` for rank 1..k, normalised by the DCG
        of ``min(|relevant|, k)`` hits at the top; each the expectation over the
        orders of tied items. All three are 0 for a user with no relevant item.
        ``summary()`` gives both MAP conventions.

    Raises
    ------
    ValueError
        On shape mismatches (naming both shapes), ``k < 1``, ``batch_size < 1``,
        ``num_threads < 1``, out-of-range ``users``, non-finite factors or an
        unknown ``device``.
    TypeError
        When ``relevant`` is not a scipy sparse matrix or factors are not numeric.
    """
    (k,) = _cutoffs([k])
    return evaluate_factors_at(
        user_factors,
        item_factors,
        relevant,
        [k],
        normalize_items=normalize_items,
        users=users,
        batch_size=batch_size,
        num_threads=num_threads,
        device=device,
        progress=progress,
        log_progress=log_progress,
    )[k]


def _cutoffs(ks: Any) -> list[int]:
    """The distinct cut-offs ``ks``, ascending; each must be an integer >= 1."""
    if isinstance(ks, int | np.integer):
        ks = [ks]
    values = list(ks)
    if not values:
        raise ValueError("at least one cut-off k is needed, got none")
    for k in values:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
    return sorted({int(k) for k in values})


def evaluate_factors_at(
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    relevant: sp.spmatrix | sp.sparray,
    ks: Sequence[int],
    *,
    normalize_items: bool = True,
    users: np.ndarray | Sequence[int] | None = None,
    batch_size: int = 4096,
    num_threads: int | None = None,
    device: str = "auto",
    progress: bool = False,
    log_progress: str | None = "evaluation",
) -> dict[int, EvaluationResult]:
    """:func:`evaluate_factors` at several cut-offs from one scoring and ranking pass.

    A user's ranking to the largest cut-off K contains its rankings to every
    smaller one, so each batch of users is scored once (one matrix product) and
    each user's relevant items get their tie groups once, at K; the metrics at
    each cut-off are then read off those groups. The result at every cut-off is
    identical, to the bit, to :func:`evaluate_factors` called at that cut-off
    alone (it is the same code: that function is this one with one cut-off).

    Parameters
    ----------
    ks : sequence of int
        The cut-offs (duplicates count once), each >= 1.
    user_factors, item_factors, relevant, normalize_items, users, batch_size, \
num_threads, device, progress, log_progress
        As for :func:`evaluate_factors`. On a GPU the products and the top-K are
        computed once; the top-k of a smaller cut-off is the top-K's head.

    Returns
    -------
    dict[int, EvaluationResult]
        One result per distinct cut-off, keys ascending.

    Raises
    ------
    ValueError, TypeError
        As :func:`evaluate_factors`; also for an empty ``ks``.
    """
    # -- validation ---------------------------------------------------------------
    ks = _cutoffs(ks)
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
    check_device(device)
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

    v, copy_of = _distinct_rows(_normalized_items(itf, normalize_items))
    n_threads = int(num_threads) if num_threads is not None else available_cores()
    indptr, indices = rel.indptr, rel.indices
    n_relevant = np.diff(indptr).astype(np.int64)
    if row_ids_all is not None:
        n_relevant = n_relevant[row_ids_all]

    # out_*[c] holds every user's metric at ks[c]
    out_ap = np.zeros((len(ks), n_eval), np.float64)
    out_rec = np.zeros((len(ks), n_eval), np.float64)
    out_ndcg = np.zeros((len(ks), n_eval), np.float64)

    def results() -> dict[int, EvaluationResult]:
        return {
            k: EvaluationResult(out_ap[c], out_rec[c], out_ndcg[c], n_relevant, k)
            for c, k in enumerate(ks)
        }

    if n_eval == 0 or n_items == 0:
        return results()

    rank_kernel, topk_kernel = _kernels()
    use_gpu = use_device_path(device, log_progress or "evaluation")
    bs = min(int(batch_size), n_eval)
    starts = range(0, n_eval, bs)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, total=len(starts), unit="batch", desc="MAP@" + ",".join(map(str, ks)))
    progress_log = ProgressLog(
        n_eval,
        log_progress or "evaluation",
        unit="users",
        logger=logger,
        enabled=log_progress is not None,
    )

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

        with progress_log:
            _evaluate_on_device(
                v,
                dense_batch_rows,
                starts,
                n_eval,
                copy_of,
                bs,
                ks,
                indptr,
                indices,
                topk_kernel,
                out_ap,
                out_rec,
                out_ndcg,
                progress_log,
            )
        return results()

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

    ks_arr = np.asarray(ks, np.int64)
    # BLAS reads the transpose in place; the sparse product wants it row-major (2x faster)
    vt = np.ascontiguousarray(v.T) if sparse_users else v.T
    buf = np.empty((bs, n_items), np.float32)
    # scores of the distinct rows, copied to every candidate that repeats one
    distinct_buf = None if copy_of is None else np.empty((bs, v.shape[0]), np.float32)
    # the same argument types as the real calls, no rows: loads the kernel from numba's
    # disk cache, or compiles it (first run only) with a word in the log
    with compile_notice("the evaluation kernel", "~20 s", log=logger):
        rank_kernel(
            buf[:1], np.zeros(1, np.int64), indptr, indices, ks_arr, 0, 0, out_ap, out_rec,
            out_ndcg, 0,
        )  # fmt: skip
    pool = None
    if n_threads > 1:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="coldstart-eval")
    try:
        with blas_ctx, progress_log:
            for b0 in starts:
                b1 = min(b0 + bs, n_eval)
                ids, ub = batch_rows(b0, b1)
                scores = buf[: b1 - b0]
                target = scores if copy_of is None else distinct_buf[: b1 - b0]
                if sparse_users:
                    target[...] = ub @ vt
                else:
                    np.matmul(ub, vt, out=target)
                if copy_of is not None:
                    np.take(target, copy_of, axis=1, out=scores)
                outs = (out_ap, out_rec, out_ndcg, b0)
                nb = b1 - b0
                if pool is None or nb < 2:
                    rank_kernel(scores, ids, indptr, indices, ks_arr, 0, nb, *outs)
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
                            ks_arr,
                            int(edges[c]),
                            int(edges[c + 1]),
                            *outs,
                        )
                        for c in range(n_chunks)
                        if edges[c + 1] > edges[c]
                    ]
                    for fut in futs:
                        fut.result()
                progress_log.update(b1)
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    return results()


def _batch_relevant(
    ids: np.ndarray, indptr: np.ndarray, indices: np.ndarray, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """CSR pointers of the batch users' relevant items and their flat score positions.

    Returns ``rel_ptr`` (``len(ids) + 1``) and, for every relevant (batch row b,
    item) pair in CSR order, ``b * n_items + item``: its index in the flattened
    batch score matrix.
    """
    counts = (indptr[ids + 1] - indptr[ids]).astype(np.int64)
    rel_ptr = np.zeros(len(ids) + 1, np.int64)
    np.cumsum(counts, out=rel_ptr[1:])
    rows = np.repeat(np.arange(len(ids), dtype=np.int64), counts)
    # position p of the batch list is entry indptr[ids[b]] + (p - rel_ptr[b]) of the CSR
    offset = np.repeat(indptr[ids].astype(np.int64) - rel_ptr[:-1], counts)
    items = indices[offset + np.arange(rel_ptr[-1], dtype=np.int64)].astype(np.int64)
    return rel_ptr, rows * n_items + items


def _evaluate_on_device(
    v,
    batch_rows,
    starts,
    n_eval,
    copy_of,
    bs,
    ks,
    indptr,
    indices,
    topk_kernel,
    out_ap,
    out_rec,
    out_ndcg,
    progress_log,
) -> None:
    """Products and top-k scores through ``keras.ops`` (any backend); metrics on the host.

    Per batch the device computes the scores once and their top-K (K the largest
    cut-off); per cut-off k it returns the top-k scores (the head of the top-K),
    the size of the tie group of the last one over the whole row, and once the
    relevant items' scores: all the tie handling of ``_topk_kernel`` needs.
    ``out_*[c]`` receives the metrics at ``ks[c]``. Products are float32
    (:func:`coldstart.device.full_precision_matmul`: no TF32).
    """
    from keras import ops

    from coldstart.device import full_precision_matmul

    n_items = v.shape[0] if copy_of is None else int(copy_of.size)
    k_max = min(ks[-1], n_items)
    with full_precision_matmul():
        v_dev = ops.convert_to_tensor(np.ascontiguousarray(v.T))
        copy_dev = None if copy_of is None else ops.convert_to_tensor(copy_of.astype(np.int32))
        for b0 in starts:
            b1 = min(b0 + bs, n_eval)
            ids, ub = batch_rows(b0, b1)
            scores = ops.matmul(ops.convert_to_tensor(ub), v_dev)
            if copy_dev is not None:
                scores = ops.take(scores, copy_dev, axis=1)
            top_all, _ = ops.top_k(scores, k=k_max, sorted=True)
            rel_ptr, flat = _batch_relevant(ids, indptr, indices, n_items)
            rel_scores = ops.convert_to_numpy(
                ops.take(ops.reshape(scores, (-1,)), ops.convert_to_tensor(flat))
            ).astype(np.float32, copy=False)
            for c, k in enumerate(ks):
                kk = min(k, n_items)
                top = top_all[:, :kk]  # the k largest in descending order, as top_k(k) gives
                n_tied = ops.sum(ops.cast(ops.equal(scores, top[:, kk - 1 : kk]), "int32"), axis=1)
                topk_kernel(
                    np.ascontiguousarray(ops.convert_to_numpy(top), dtype=np.float32),
                    ops.convert_to_numpy(n_tied).astype(np.int64),
                    rel_scores,
                    rel_ptr,
                    k,
                    out_ap[c, b0:b1],
                    out_rec[c, b0:b1],
                    out_ndcg[c, b0:b1],
                )
            progress_log.update(b1)
