"""Exact top-N recommendation for new items, both ways, in one pass over the users.

For cold-start items (docs/architecture.md, Evaluation: an item's score for a user is
the dot product of its L2-normalised predicted factors with the user factors) two lists
are useful: for every user the ``n`` best items (what to show the user), and for
every item the ``m`` best users (its audience: whom to push a new track to).
:func:`recommend` computes both exactly in a single pass: the users are scored in
float32 batches (as :func:`coldstart.metrics.evaluate_factors` does), and two
compiled (numba) kernels read every batch:

* ``_rows``, over spans of users, streams each score row once, right after the
  thread computed it: the maximum of every block of 16 items bounds the row's
  n-th best score from below, so only a few blocks are read again to rank the
  user's top n; and the scores above their item's audience threshold are logged
  (blocks whose maximum is below the lowest threshold of their items are skipped).
* ``_sweep``, over ranges of items (so no item is written by two threads), offers
  the logged candidates, in user order, to the items' candidate buffers; a full
  buffer is shrunk to a little more than m and its threshold raised. The
  thresholds start from a guess taken on a random sample of users, which spares
  the mass of early admissions; an item the guess failed (fewer than m users
  reached it) is scored again, so the guess only ever costs time.

Working memory is one ``batch_size x n_items`` score buffer (and candidate logs
a twentieth of its size) plus the outputs and the candidate buffers (``1.0625 n_items
x m``); the ``n_users x n_items`` score matrix is never formed.

Ranking rule everywhere: descending score, ties broken by ascending index -- the
order of a stable ``argsort(-score)`` of the same float32 scores -- for any
``batch_size`` and ``num_threads``. The candidates of a user are collected in
ascending item order and those of an item arrive in ascending user order, so
selections keep the lowest indices among equal scores and a stable sort ranks them.

:func:`approximate_audience` is the approximate alternative for the audience side
(a faiss inverted-file index over the users, queried with the items).

Heavy dependencies (numba, threadpoolctl, tqdm, faiss) are imported inside the
functions that need them, so ``import coldstart.recommend`` stays cheap.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.sparse as sp

from coldstart.cores import available_cores
from coldstart.metrics import _as_2d_float, _normalized_items

__all__ = ["Recommendations", "approximate_audience", "recommend"]

logger = logging.getLogger(__name__)

_MAX_USERS = np.iinfo(np.int32).max  # user indices are stored as int32
_BLOCK = 16  # items per block: one 64-byte cache line of float32 scores
_HIST_BINS = 256  # histogram bins of _shrink
_SPARE_SHARE = 16  # audience buffers hold m + m / _SPARE_SHARE candidates (see _Audience)
_INSERTION_MAX = 64  # longest list ranked by insertion sort
# Audience thresholds guessed from a sample (see _sample_thresholds): the rank-r score
# of a random sample sized so that about SAFETY * m of all users reach it. With
# r = 128 the count of users reaching it is within ~9% (1 sd) of SAFETY * m, so
# falling short of m (a rescoring pass) takes a 8-sd accident.
_SAMPLE_RANK = 128
_SAMPLE_SAFETY = 4.0
_SAMPLE_MAX_SHARE = 8  # never sample more than 1/8 of the users
_SAMPLE_SEED = 0
_MIN_TASK_BLOCKS = 16  # fewest blocks per audience task (keeps tasks worth a thread hop)
_LOG_SHARE = 64  # the audience logs of a batch hold one score in _LOG_SHARE (see _Logs)
# |score| <= ||u|| * ||v|| (Cauchy-Schwarz, also for float32 partial sums up to
# rounding), so factors whose norms multiply below this cannot overflow a score.
_SCORE_LIMIT = float(np.finfo(np.float32).max) / 4


# ---------------------------------------------------------------------------
# Result container
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Recommendations:
    """Exact top lists returned by :func:`recommend`, ranked best first.

    Attributes
    ----------
    user_items : numpy.ndarray
        int32, ``(n_users, n)``: row ``u`` holds the ``n`` best items of user ``u``
        (``n = min(n_per_user, n_items)``; 0 columns when that side was skipped).
    user_scores : numpy.ndarray
        float32, same shape: the scores of ``user_items``.
    item_users : numpy.ndarray
        int32, ``(n_items, m)``: row ``i`` holds the ``m`` best users of item ``i``
        (``m = min(n_per_item, n_users)``).
    item_scores : numpy.ndarray
        float32, same shape: the scores of ``item_users``.
    """

    user_items: np.ndarray
    user_scores: np.ndarray
    item_users: np.ndarray
    item_scores: np.ndarray

    def __post_init__(self) -> None:
        for arr in (self.user_items, self.user_scores, self.item_users, self.item_scores):
            arr.flags.writeable = False


# ---------------------------------------------------------------------------
# Kernels. Plain Python over NumPy arrays, compiled lazily with numba (nogil, so a
# thread pool runs them in parallel); see _kernels(). A batch of scores is read by
# ``_rows`` (spans of rows, i.e. users), then ``_sweep`` (ranges of items) takes
# the audience candidates ``_rows`` logged. Numba counts references to array
# arguments atomically, so the per-candidate work stays inside loops rather than
# in a function called per candidate.
# ---------------------------------------------------------------------------


def _block_maxima_py(row, out):  # pragma: no cover - compiled by numba
    """``out[b]`` = max of ``row[b * _BLOCK : (b + 1) * _BLOCK]`` (the last may be short)."""
    n = row.shape[0]
    n_full = n // _BLOCK
    for b in range(n_full):
        base = numba_uintp(b * _BLOCK)
        mx = row[base]
        for t in range(1, _BLOCK):  # fixed trip count, unsigned index: vectorises
            mx = max(mx, row[base + numba_uintp(t)])
        out[b] = mx
    if n_full < out.shape[0]:
        mx = row[n_full * _BLOCK]
        for j in range(n_full * _BLOCK + 1, n):
            mx = max(mx, row[j])
        out[n_full] = mx


def _group_maxima_py(bmax, out):  # pragma: no cover - compiled by numba
    """``out[g]`` = max of ``bmax[g + t * len(out)]`` over t: interleaved groups, so an
    elementwise max of contiguous slices (an explicit select on slices vectorises,
    ``max()`` over the arrays does not)."""
    n, n_groups = bmax.shape[0], out.shape[0]
    out[:] = bmax[:n_groups]
    for base in range(n_groups, n, n_groups):
        width = min(n_groups, n - base)
        seg = bmax[base : base + width]
        acc = out[:width]
        for g in range(width):
            x = seg[g]
            y = acc[g]
            acc[g] = x if x > y else y


def _kth_largest_py(a, size, k, tmp):  # pragma: no cover - compiled by numba
    """The k-th largest (``1 <= k <= size``) of ``a[:size]``; ``tmp``: scratch space.

    Quickselect (Wirth's partition with a median-of-three pivot) on a copy: about
    three passes over the data, without numba's ``np.partition`` allocations.
    """
    for q in range(size):
        tmp[q] = a[q]
    target = size - k
    lo = 0
    hi = size - 1
    while lo < hi:
        x, y, z = tmp[lo], tmp[(lo + hi) >> 1], tmp[hi]
        pivot = max(min(x, y), min(max(x, y), z))
        i = lo
        j = hi
        while i <= j:
            while tmp[i] < pivot:
                i += 1
            while pivot < tmp[j]:
                j -= 1
            if i <= j:
                tmp[i], tmp[j] = tmp[j], tmp[i]
                i += 1
                j -= 1
        if j < target:
            lo = i
        if target < i:
            hi = j
    return tmp[target]


def _top_items_py(row, bmax, gmax, hot, cand_s, cand_i, tmp, out_s, out_i):  # pragma: no cover
    """Ranked top ``n = len(out_s)`` items of one score row, given its block maxima.

    n distinct groups of blocks hold a score >= the n-th largest group maximum L
    (``len(gmax) >= n`` groups; else L = -inf), so the n-th best score is >= L, and
    only blocks whose maximum reaches L can hold a top-n item. Their items scoring
    >= L (typically little more than n) are collected in ascending order, cut to
    the n best (``_keep_best``) and ranked (``_rank_into``).
    """
    n_items = row.shape[0]
    n = out_s.shape[0]
    n_blocks = bmax.shape[0]
    lower = -np.inf
    if gmax.shape[0] >= n:
        _group_maxima(bmax, gmax)
        lower = _kth_largest(gmax, gmax.shape[0], n, tmp)
    n_hot = 0
    for b in range(n_blocks):
        hot[n_hot] = b  # branch-free append: kept only if the block reaches L
        n_hot += bmax[b] >= lower
    size = 0
    for q in range(n_hot):
        j0 = hot[q] * _BLOCK
        for j in range(j0, min(j0 + _BLOCK, n_items)):
            s = row[j]
            cand_s[size] = s
            cand_i[size] = j
            size += s >= lower
    if size > n:
        _keep_best(cand_s, cand_i, size, n, tmp)
    _rank_into(cand_s, cand_i, n, out_s, out_i)


def _rows_py(
    scores, start, stop, floor, thr, flags, range_of, lj, ls, lr, ln, lstop, out_s, out_i
):  # pragma: no cover - compiled by numba
    """Rows ``start:stop`` of a score batch, each read from memory once while hot.

    * Their ranked top ``out_s.shape[1]`` items into the same rows of ``out_s/out_i``
      (skipped with 0 columns).
    * Unless ``flags`` has 0 columns (no audiences): ``flags[r, b]`` = whether the
      maximum of block b beats ``floor[b]``, the lowest threshold of its items; and
      the (item, score, row) of every score above its item's threshold ``thr`` go
      to the log of the item range ``range_of[b]`` of its block: ``lj/ls/lr[k,
      :ln[k]]``. A log that fills up drops the row it was at: rows from
      ``lstop[k]`` on are left to ``_sweep`` to read (``lstop[k] = stop`` if none).
    """
    n_items = scores.shape[1]
    n = out_s.shape[1]
    n_blocks = (n_items + _BLOCK - 1) // _BLOCK
    flagging = flags.shape[1] > 0
    capacity = lj.shape[1]
    # at least 4n groups of blocks when the row allows: L then sits close to the
    # n-th best score, and few blocks are read twice
    n_groups = n_blocks // max(1, n_blocks // (4 * n)) if n else 0
    bmax = np.empty(n_blocks, np.float32)
    gmax = np.empty(n_groups, np.float32)
    hot = np.empty(n_blocks, np.int64)
    cand_s = np.empty(n_items, np.float32)
    cand_i = np.empty(n_items, np.int32)
    tmp = np.empty(n_items, np.float32)
    mark = np.empty(ln.shape[0], np.int64)
    ln[:] = 0
    lstop[:] = stop
    for r in range(start, stop):
        row = scores[r]
        _block_maxima(row, bmax)
        if flagging:
            fr = flags[r]
            mark[:] = ln
            for b in range(n_blocks):
                hit = bmax[b] > floor[b]
                fr[b] = hit
                k = range_of[b]
                if not hit or lstop[k] < stop:  # nothing to log, or the log is full
                    continue
                j0 = b * _BLOCK
                if j0 + _BLOCK <= n_items:
                    mask = _mask_above(row, thr, j0, _BLOCK)
                else:
                    mask = _mask_above(row, thr, j0, n_items - j0)
                while mask:
                    j = j0 + np.int64(trailing_zeros(mask))
                    mask &= mask - np.uint64(1)
                    e = ln[k]
                    if e == capacity:  # full: forget this row, _sweep reads it and the next
                        ln[k] = mark[k]
                        lstop[k] = r
                        break
                    lj[k, e] = j
                    ls[k, e] = row[j]
                    lr[k, e] = r
                    ln[k] = e + 1
        if n:
            _top_items(row, bmax, gmax, hot, cand_s, cand_i, tmp, out_s[r], out_i[r])


def _admit_py(
    lj, ls, lr, size, user0, buf_s, buf_i, count, thr, m, hist, bins, tmp
):  # pragma: no cover
    """Offer the ``size`` candidates (item ``lj``, score ``ls``, user ``user0 + lr``) in
    order to the audiences of their items.

    Item j keeps ``count[j]`` candidates in ``buf_s/buf_i[j]``, in ascending user
    order, a superset of its m best so far; at least m of them score >= ``thr[j]``
    (-inf at first, or a guess, see ``_sample_thresholds``). A user scoring above
    ``thr[j]`` is appended; one scoring at most ``thr[j]`` cannot enter, as m
    earlier users score at least as much. A buffer that fills up is shrunk
    (``_shrink``), which raises ``thr[j]``. (One call per list of candidates: a
    call per candidate would cost more than the work, in reference counting of
    the array arguments.)
    """
    cap = buf_s.shape[1]
    for e in range(size):
        j = lj[e]
        s = ls[e]
        if not s > thr[j]:
            continue
        k = count[j]
        buf_s[j, k] = s
        buf_i[j, k] = user0 + lr[e]
        k += 1
        count[j] = k
        if k == cap:  # full: shrink now, so that every buffer keeps a free slot
            count[j], thr[j] = _shrink(buf_s[j], buf_i[j], cap, m, hist, bins, tmp)


def _candidates_py(row, r, fr, b0, b1, thr, lj, ls, lr):  # pragma: no cover - compiled
    """Log the items of the flagged (``fr``) blocks among ``b0:b1`` whose score in
    ``row`` (row ``r``) beats their threshold, into ``lj/ls/lr``; return how many.

    A block's scores are compared with the thresholds by vectorised code, and only
    the items above are visited, through the bits of a mask.
    """
    n_items = row.shape[0]
    size = 0
    for b in range(b0, b1):
        if not fr[b]:
            continue
        j0 = b * _BLOCK
        if j0 + _BLOCK <= n_items:
            mask = _mask_above(row, thr, j0, _BLOCK)
        else:
            mask = _mask_above(row, thr, j0, n_items - j0)
        while mask:
            j = j0 + np.int64(trailing_zeros(mask))
            mask &= mask - np.uint64(1)
            lj[size] = j
            ls[size] = row[j]
            lr[size] = r
            size += 1
    return size


def _mask_above_py(row, thr, j0, width):  # pragma: no cover - compiled, inlined
    """Bit t set iff ``row[j0 + t] > thr[j0 + t]``, for t < ``width`` <= 64."""
    mask = np.uint64(0)
    base = numba_uintp(j0)
    for t in range(width):  # constant width, unsigned index: vectorises
        q = base + numba_uintp(t)
        mask |= np.uint64(row[q] > thr[q]) << np.uint64(t)
    return mask


def _sweep_py(
    scores, flags, user0, b0, b1, k, span_ends, lj, ls, lr, ln, lstop, buf_s, buf_i, count, thr, m
):  # pragma: no cover - compiled by numba
    """Offer the users ``user0 + row`` of a score batch to the audiences of the items
    of blocks ``b0:b1`` (item range ``k``), in ascending user order: row span after
    row span (``span_ends``), the candidates ``_rows`` logged, then those of the
    rows that did not fit in the log, read again from the batch (only their
    flagged blocks). Threads own disjoint item ranges.
    """
    cap = buf_s.shape[1]
    hist = np.empty(_HIST_BINS, np.int64)
    bins = np.empty(cap, np.uint8)
    tmp = np.empty(cap, np.float32)
    width = (b1 - b0) * _BLOCK
    row_j = np.empty(width, np.int64)
    row_s = np.empty(width, np.float32)
    row_r = np.empty(width, np.int32)
    state = (buf_s, buf_i, count, thr, m, hist, bins, tmp)
    for t in range(span_ends.shape[0]):
        _admit(lj[t, k], ls[t, k], lr[t, k], ln[t, k], user0, *state)
        for r in range(lstop[t, k], span_ends[t]):
            size = _candidates(scores[r], r, flags[r], b0, b1, thr, row_j, row_s, row_r)
            _admit(row_j, row_s, row_r, size, user0, *state)


def _rank_into_py(cand_s, cand_i, n, out_s, out_i):  # pragma: no cover - compiled
    """Write ``cand_s/cand_i[:n]`` (in ascending index order) ranked best first.

    A stable sort of -score keeps equal scores in ascending index order: insertion
    sort for short lists (no allocation), merge sort otherwise.
    """
    if n <= _INSERTION_MAX:
        for q in range(n):
            s = cand_s[q]
            p = q
            while p > 0 and out_s[p - 1] < s:
                out_s[p] = out_s[p - 1]
                out_i[p] = out_i[p - 1]
                p -= 1
            out_s[p] = s
            out_i[p] = cand_i[q]
        return
    order = np.argsort(-cand_s[:n], kind="mergesort")
    for q in range(n):
        out_s[q] = cand_s[order[q]]
        out_i[q] = cand_i[order[q]]


def _keep_best_py(bs, bi, size, m, tmp):  # pragma: no cover - compiled by numba
    """Keep the m best of the ``size`` entries of ``bs/bi`` (in ascending index order)
    in ``bs/bi[:m]``, still in index order; return the m-th best score ``t``.

    Every entry scoring above ``t`` is kept, then the first (lowest-index) entries
    scoring exactly ``t``: the ranking rule's tie break.
    """
    t = _kth_largest(bs, size, m, tmp)
    ties = m
    for k in range(size):
        ties -= bs[k] > t
    w = 0
    for k in range(size):
        s = bs[k]
        keep = s > t
        if s == t and ties > 0:
            keep = True
            ties -= 1
        if keep:
            bs[w] = s
            bi[w] = bi[k]
            w += 1
    return t


def _min_max_py(a, size):  # pragma: no cover - compiled by numba (fastmath)
    """``(min, max)`` of ``a[:size]``, ``size >= 1`` (scores are finite)."""
    lo = a[0]
    hi = a[0]
    for k in range(1, size):
        lo = min(lo, a[k])
        hi = max(hi, a[k])
    return lo, hi


def _shrink_py(bs, bi, size, m, hist, bins, tmp):  # pragma: no cover - compiled by numba
    """Drop entries of ``bs/bi[:size]`` (in index order) that cannot be among the m
    best; return ``(kept, t)``: the survivors, still in order, fill ``[:kept]`` and
    at least m of them score >= ``t``.

    A histogram of the scores finds the bin holding the m-th best; the entries of
    that bin and above are kept (a few more than m), ``t`` being their lowest
    score. Cheaper than an exact selection, which is the fallback when that bin
    holds too many (e.g. ties) to free half the room.
    """
    lo, hi = _min_max(bs, size)
    n_bins = hist.shape[0]
    scale = n_bins / max(np.float64(hi) - np.float64(lo), 1e-300)
    if hi > lo and scale < 1e38:  # (a float32 scale; subnormal spreads go exact)
        scale = np.float32(scale)
        hist[:] = 0
        for k in range(size):
            q = min(int((bs[k] - lo) * scale), n_bins - 1)
            bins[k] = q
            hist[q] += 1
        q = n_bins - 1
        kept = hist[q]
        while kept < m:
            q -= 1
            kept += hist[q]
        if 2 * (kept - m) <= size - m:
            w = 0
            t = hi
            for k in range(size):
                s = bs[k]
                keep = bins[k] >= q
                bs[w] = s  # branch-free: w <= k, and w only advances past kept entries
                bi[w] = bi[k]
                w += keep
                if keep:
                    t = min(t, s)
            return w, t
    return m, _keep_best(bs, bi, size, m, tmp)


def _finish_items_py(buf_s, buf_i, count, m, start, stop, out_s, out_i):  # pragma: no cover
    """Ranked m best users of items ``start:stop`` into ``out_s/out_i``."""
    tmp = np.empty(buf_s.shape[1], np.float32)
    for j in range(start, stop):
        if count[j] > m:
            _keep_best(buf_s[j], buf_i[j], count[j], m, tmp)
        _rank_into(buf_s[j], buf_i[j], m, out_s[j], out_i[j])


# Names the kernels call; rebound to the compiled versions by _kernels().
_block_maxima = _block_maxima_py
_group_maxima = _group_maxima_py
_kth_largest = _kth_largest_py
_top_items = _top_items_py
_mask_above = _mask_above_py
_admit = _admit_py
_candidates = _candidates_py
_rank_into = _rank_into_py
_keep_best = _keep_best_py
_min_max = _min_max_py
_shrink = _shrink_py


def numba_uintp(x):  # pragma: no cover - replaced by numba.uintp in compiled code
    return x


def trailing_zeros(x):  # pragma: no cover - replaced by numba's intrinsic in compiled code
    return (x & -x).bit_length() - 1


@lru_cache(maxsize=1)
def _kernels() -> tuple[Callable[..., None], Callable[..., None], Callable[..., None]]:
    """Compile the kernels with numba (cached on disk where writable: ``coldstart.jit``).

    Returns
    -------
    tuple of callables
        ``(rows, sweep, finish_items)``.
    """
    try:
        import numba
        from numba.cpython.unsafe.numbers import trailing_zeros as ctz
    except ImportError as exc:  # pragma: no cover - numba ships with librosa
        raise ImportError("coldstart.recommend.recommend needs numba (pip install numba)") from exc
    from coldstart.jit import njit

    global _block_maxima, _group_maxima, _kth_largest, _top_items, _mask_above, _admit
    global _candidates, _rank_into, _keep_best, _min_max, _shrink, numba_uintp, trailing_zeros
    numba_uintp, trailing_zeros = numba.uintp, ctz
    opts = {"nogil": True, "error_model": "numpy"}  # cached on disk by coldstart.jit.njit
    _block_maxima = njit(**opts)(_block_maxima_py)
    _group_maxima = njit(**opts)(_group_maxima_py)
    # min/max reductions vectorise only without NaN semantics; scores are finite
    _min_max = njit(fastmath=True, **opts)(_min_max_py)
    _kth_largest = njit(**opts)(_kth_largest_py)
    _keep_best = njit(**opts)(_keep_best_py)
    _rank_into = njit(**opts)(_rank_into_py)
    _top_items = njit(**opts)(_top_items_py)
    _shrink = njit(**opts)(_shrink_py)
    # inlined where the width is a constant: the loop is unrolled and vectorised
    _mask_above = njit(inline="always", **opts)(_mask_above_py)
    _admit = njit(**opts)(_admit_py)
    _candidates = njit(**opts)(_candidates_py)
    rows = njit(**opts)(_rows_py)
    sweep = njit(**opts)(_sweep_py)
    finish_items = njit(**opts)(_finish_items_py)
    return rows, sweep, finish_items


# ---------------------------------------------------------------------------
# Validation and scheduling helpers
# ---------------------------------------------------------------------------


def _check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int, or ValueError unless it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_threads(num_threads: Any) -> int:
    """Thread count to use: ``num_threads``, or the usable cores when None."""
    if num_threads is None:
        return available_cores()
    return _check_int("num_threads", num_threads, 1)


def _dense_factor_pair(user_factors: Any, item_factors: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(users, items)`` factor arrays of the same width; items finite."""
    if sp.issparse(user_factors) or sp.issparse(item_factors):
        raise TypeError("user_factors and item_factors must be dense arrays, not sparse matrices")
    uf = _as_2d_float("user_factors", user_factors)
    itf = _as_2d_float("item_factors", item_factors)
    if uf.shape[1] != itf.shape[1]:
        raise ValueError(
            f"user_factors {uf.shape} and item_factors {itf.shape} must have the same "
            "number of factors (columns)"
        )
    if uf.shape[0] > _MAX_USERS:
        raise ValueError(f"at most {_MAX_USERS} users are supported, got {uf.shape[0]}")
    if not np.isfinite(itf).all():
        raise ValueError("item_factors contains NaN or infinite values")
    return uf, itf


def _max_row_norm(x: np.ndarray) -> float:
    """Largest L2 norm of the rows of ``x`` (0.0 for no rows), summed in float64."""
    if x.shape[0] == 0:
        return 0.0
    return math.sqrt(float(np.einsum("ij,ij->i", x, x, dtype=np.float64).max()))


def _user_batch(rows: np.ndarray, first: int, item_norm: float) -> np.ndarray:
    """User factor ``rows`` (the batch starting at row ``first``) as float32, checked so
    their scores stay finite.

    Raises
    ------
    ValueError
        On NaN/infinite factors, or norms large enough for a float32 score to
        overflow (an infinite score would break the ranking).
    """
    ub = np.ascontiguousarray(rows, dtype=np.float32)
    if not np.isfinite(ub).all():
        raise ValueError("user_factors contains NaN or infinite values")
    user_norm = _max_row_norm(ub)
    if user_norm * item_norm > _SCORE_LIMIT:
        raise ValueError(
            f"user_factors rows from {first} have norms up to {user_norm:.3g}; with item "
            f"norms up to {item_norm:.3g} their float32 scores could overflow"
        )
    return ub


def _spans(n: int, parts: int, align: int = 1) -> list[tuple[int, int]]:
    """Split ``range(n)`` into at most ``parts`` non-empty spans that cover it and
    start at multiples of ``align`` (so one task's vectorised chunks never straddle
    another's)."""
    cuts = np.linspace(0, n, max(1, parts) + 1)[1:-1].astype(np.int64) // align * align
    edges = np.unique(np.concatenate(([0], cuts, [n])))
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def _run_all(pool: ThreadPoolExecutor | None, calls: Sequence[tuple[Callable, tuple]]) -> None:
    """Run ``fn(*args)`` for every call, on the pool when there is one; re-raise errors."""
    if pool is None or len(calls) < 2:
        for fn, args in calls:
            fn(*args)
        return
    for fut in [pool.submit(fn, *args) for fn, args in calls]:
        fut.result()


def _single_threaded_blas() -> tuple[AbstractContextManager[Any], bool]:
    """A context keeping BLAS to one thread, and whether threadpoolctl could provide it.

    OpenBLAS worker threads spin for a while after each product; on a machine with
    few cores they would steal the cores the kernels run on (measured here: the
    first kernel phase after a product ran about 1.5x slower). So the products
    are run by our own threads, each a single-threaded BLAS call on its rows.
    """
    controller = _threadpool_controller()
    if controller is None:  # pragma: no cover - threadpoolctl ships with scikit-learn
        return nullcontext(), False
    return controller.limit(limits=1, user_api="blas"), True


@lru_cache(maxsize=1)
def _threadpool_controller() -> Any:
    """threadpoolctl's view of the loaded thread pools, found once per process.

    Finding them walks the loaded libraries (milliseconds); a served model ranks
    on every request, so it is done once.
    """
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover
        return None
    return ThreadpoolController()


def _batch_starts(n_users: int, batch_size: int, progress: bool) -> Iterator[int] | range:
    starts = range(0, n_users, batch_size)
    if not progress:
        return starts
    from tqdm.auto import tqdm

    return tqdm(starts, total=len(starts), unit="batch", desc="recommend")


def _user_batches(
    uf: np.ndarray, item_norm: float, batch_size: int, progress: bool, rows: np.ndarray | None
) -> Iterator[tuple[int, np.ndarray]]:
    """``(b0, float32 factors of users b0:b0 + batch_size)``, checked (``_user_batch``).

    With ``rows``, the users are ``uf[rows]`` (b0 then counts positions in ``rows``).
    """
    n_rows = uf.shape[0] if rows is None else rows.size
    for b0 in _batch_starts(n_rows, batch_size, progress):
        b1 = min(b0 + batch_size, n_rows)
        ub = uf[b0:b1] if rows is None else uf[rows[b0:b1]]
        yield b0, _user_batch(ub, b0, item_norm)


def _score_then_rows(
    rows_kernel: Callable[..., None],
    ub: np.ndarray,
    vt: np.ndarray,
    scores: np.ndarray,
    r0: int,
    r1: int,
    score: bool,
    args: tuple[Any, ...],
) -> None:
    """Rows ``r0:r1`` of a batch: their scores ``ub @ vt`` (when ``score``), then
    ``_rows`` on them."""
    if score:
        np.matmul(ub[r0:r1], vt, out=scores[r0:r1])
    rows_kernel(scores, r0, r1, *args)


def _thread_pool(n_threads: int) -> AbstractContextManager[ThreadPoolExecutor | None]:
    """A pool of ``n_threads`` workers (shut down on exit), or None for one thread."""
    if n_threads == 1:
        return nullcontext(None)
    return ThreadPoolExecutor(n_threads, thread_name_prefix="coldstart-rec")


class _Audience:
    """Per-item candidate buffers of the running top-m users (see ``_admit``).

    Each item has room for ``m + max(m // _SPARE_SHARE, 64)`` candidates: a shrink
    (linear in the buffer) frees most of the spare places, so its cost per
    admitted user is a small constant, for 1.0625x the memory of the result (the
    spare room trades shrinks against memory). The buffers are ``np.empty``:
    memory is only touched as candidates arrive.
    """

    def __init__(self, n_items: int, m: int) -> None:
        cap = m + max(m // _SPARE_SHARE, 64) if m else 0
        self.m = m
        self.scores = np.empty((n_items, cap), np.float32)
        self.users = np.empty((n_items, cap), np.int32)
        self.count = np.zeros(n_items, np.int64)
        self.threshold = np.full(n_items, -np.inf, np.float32)

    def block_floor(self) -> np.ndarray:
        """The lowest threshold of every block of ``_BLOCK`` items."""
        return np.minimum.reduceat(self.threshold, np.arange(0, self.threshold.size, _BLOCK))

    def restart(self, items: np.ndarray) -> None:
        """Empty the buffers of ``items`` (a boolean mask) and admit users to those only."""
        self.count[items] = 0
        self.threshold[:] = np.where(items, -np.inf, np.inf)

    def ranked(
        self, finish_items: Callable[..., None], pool: ThreadPoolExecutor | None, n_threads: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(item_users, item_scores)``: the m best users of every item, best first."""
        n_items, m = self.scores.shape[0], self.m
        users = np.empty((n_items, m), np.int32)
        scores = np.empty((n_items, m), np.float32)
        if m:
            state = (self.scores, self.users, self.count, m)
            calls = [
                (finish_items, (*state, j0, j1, scores, users))
                for j0, j1 in _spans(n_items, 2 * n_threads)
            ]
            _run_all(pool, calls)
        return users, scores


class _Logs:
    """Where ``_rows`` leaves the audience candidates of a batch for ``_sweep``: one
    log per (row span, item range), of ``capacity`` entries (item, score, row).

    The logs hold about one score in ``_LOG_SHARE`` of a batch; rows that do not
    fit are read again from the batch by ``_sweep`` (early on, when thresholds are
    low).
    """

    def __init__(self, n_spans: int, ranges: list[tuple[int, int]], capacity: int) -> None:
        shape = (n_spans, len(ranges), capacity)
        self.item = np.empty(shape, np.int32)
        self.score = np.empty(shape, np.float32)
        self.row = np.empty(shape, np.int32)
        self.size = np.zeros(shape[:2], np.int64)
        self.stop = np.zeros(shape[:2], np.int64)
        self.range_of = np.repeat(np.arange(len(ranges)), [b1 - b0 for b0, b1 in ranges])

    def of_span(self, t: int) -> tuple[np.ndarray, ...]:
        """The logs that ``_rows`` fills for row span t."""
        return self.item[t], self.score[t], self.row[t], self.size[t], self.stop[t]

    def all(self) -> tuple[np.ndarray, ...]:
        """Every log, for ``_sweep``."""
        return self.item, self.score, self.row, self.size, self.stop


def _run_pass(
    uf: np.ndarray,
    v: np.ndarray,
    batch_size: int,
    kernels: tuple[Callable[..., None], ...],
    pool: ThreadPoolExecutor | None,
    n_threads: int,
    split_products: bool,
    audience: _Audience,
    user_top: tuple[np.ndarray, np.ndarray] | None = None,
    rows: np.ndarray | None = None,
    progress: bool = False,
) -> None:
    """One pass over the users (``uf[rows]`` if given): every batch is scored once and
    read by ``_rows`` over row spans (each user's top items into ``user_top``, when
    given, and the audience candidates), then by ``_sweep`` over item ranges (the
    audiences, unless ``audience.m == 0``).

    With ``split_products``, each row span's scores are computed by the thread
    that then reads them (one single-threaded BLAS product per span); otherwise
    one product per batch, in this thread.
    """
    rows_kernel, sweep, _ = kernels
    n_items = v.shape[0]
    n_blocks = (n_items + _BLOCK - 1) // _BLOCK
    bs = min(batch_size, uf.shape[0] if rows is None else rows.size)
    n_spans = 2 * n_threads  # two spans per thread even out uneven rows
    # several item ranges per thread even out uneven items
    ranges = (
        _spans(n_blocks, min(4 * n_threads, n_blocks // _MIN_TASK_BLOCKS)) if audience.m else []
    )
    capacity = max(64, bs * n_items // (_LOG_SHARE * n_spans * len(ranges))) if ranges else 0
    logs = _Logs(n_spans, ranges or [(0, n_blocks)], capacity)
    buf = np.empty((bs, n_items), np.float32)
    flags = np.empty((bs, n_blocks if audience.m else 0), np.uint8)
    floor = np.empty(0, np.float32)
    no_top = (np.empty((bs, 0), np.float32), np.empty((bs, 0), np.int32))
    state = (audience.scores, audience.users, audience.count, audience.threshold, audience.m)
    vt = v.T  # BLAS reads the transpose in place
    for b0, ub in _user_batches(uf, _max_row_norm(v), bs, progress, rows):
        nb = ub.shape[0]
        scores = buf[:nb]
        if not split_products:
            np.matmul(ub, vt, out=scores)
        if audience.m:
            floor = audience.block_floor()  # thresholds only rise during the batch
        if user_top is None:
            out = (no_top[0][:nb], no_top[1][:nb])
        else:
            out = (user_top[0][b0 : b0 + nb], user_top[1][b0 : b0 + nb])
        spans = _spans(nb, n_spans)
        shared = (floor, audience.threshold, flags[:nb], logs.range_of)
        calls: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
        for t, (r0, r1) in enumerate(spans):
            args = (*shared, *logs.of_span(t), *out)
            calls.append(
                (_score_then_rows, (rows_kernel, ub, vt, scores, r0, r1, split_products, args))
            )
        _run_all(pool, calls)
        if ranges:
            ends = np.array([r1 for _, r1 in spans], np.int64)
            tail = (ends, *logs.all(), *state)
            calls = [
                (sweep, (scores, flags[:nb], b0, c0, c1, k, *tail))
                for k, (c0, c1) in enumerate(ranges)
            ]
            _run_all(pool, calls)


def _sample_thresholds(
    uf: np.ndarray,
    v: np.ndarray,
    batch_size: int,
    kernels: tuple[Callable[..., None], ...],
    pool: ThreadPoolExecutor | None,
    n_threads: int,
    split_products: bool,
    m: int,
) -> np.ndarray | None:
    """Per-item scores that about ``_SAMPLE_SAFETY * m`` users reach, from a random sample.

    Starting the audiences at these thresholds rather than -inf spares the early
    users, who would nearly all enter the audiences at first, only to be pushed out:
    the admissions fall from about ``m (1 + ln(n_users / m))`` per item to about
    ``_SAMPLE_SAFETY * m``. The values are only guesses: an item that ends with
    fewer than m admitted users is scored again (``recommend``). Returns None when
    the sample would be too large a share of the users to pay off.
    """
    n_users, n_items = uf.shape[0], v.shape[0]
    size = math.ceil(_SAMPLE_RANK * n_users / (_SAMPLE_SAFETY * m))
    if size > n_users // _SAMPLE_MAX_SHARE or size < _SAMPLE_RANK:
        return None
    rng = np.random.default_rng(_SAMPLE_SEED)
    rows = np.sort(rng.choice(n_users, size, replace=False))
    sample = _Audience(n_items, _SAMPLE_RANK)
    _run_pass(uf, v, batch_size, kernels, pool, n_threads, split_products, sample, rows=rows)
    _, ranked = sample.ranked(kernels[2], pool, n_threads)
    # admission is ``score > threshold``: the float below lets the rank-r score in
    return np.nextafter(ranked[:, -1], np.float32(-np.inf))


# ---------------------------------------------------------------------------
# Exact recommendation
# ---------------------------------------------------------------------------


def recommend(
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    n_per_user: int = 50,
    n_per_item: int = 1000,
    *,
    normalize_items: bool = True,
    batch_size: int = 4096,
    num_threads: int | None = None,
    progress: bool = False,
    device: str = "cpu",
) -> Recommendations:
    """Exact top items of every user and top users of every item, in one pass.

    ``score(u, i) = item_i · user_u`` in float32 (item factors L2-normalised first
    when ``normalize_items``). Both lists rank by descending score, ties broken by
    ascending index, exactly as a stable ``argsort(-score)`` of the same float32
    scores does, for any ``batch_size`` and ``num_threads``. (The float32 products
    themselves may round differently with the BLAS blocking, i.e. with the batch
    size, as any two matrix products may; scores exact in float32 never do.)

    Every user is scored once, batch by batch. For large
    audiences (``n_per_item`` from 256 on, when at most 1/8 of the users are
    needed) a random sample of about ``32 n_users / n_per_item`` users is scored
    first, to start the audience thresholds near their final values; should that
    guess fail an item (fewer than ``n_per_item`` users reach it, an ~8-sd event),
    the users are scored a second time for the failed items, and the result is
    exact either way.

    Parameters
    ----------
    user_factors : numpy.ndarray
        ``(n_users, f)`` dense user factors (cast to float32 batch by batch).
    item_factors : numpy.ndarray
        ``(n_items, f)`` factors of the candidate (new) items.
    n_per_user : int, default 50
        Items kept per user; 0 skips that side. Clamped to ``n_items``.
    n_per_item : int, default 1000
        Users kept per item; 0 skips that side. Clamped to ``n_users``.
    normalize_items : bool, default True
        L2-normalise the item factors (rows of norm 0 stay 0) before scoring.
    batch_size : int, default 4096
        Users scored per matrix product. Working memory is one
        ``batch_size x n_items`` float32 buffer, besides the outputs and the
        audiences' candidate buffers (``1.0625 n_items x n_per_item`` scores and
        user indices).
    num_threads : int, optional
        Threads for the products and the kernels (default: the CPUs this process
        may use). With ``threadpoolctl`` installed, each thread scores its own
        rows of a batch with single-threaded BLAS (idle BLAS workers would spin
        on the cores the kernels need); without it, one multi-threaded product
        per batch.
    progress : bool, default False
        Show a tqdm progress bar over batches.
    device : {"cpu", "auto", "gpu", "backend"}, default "cpu"
        ``"cpu"``: the kernels above. Otherwise (:mod:`coldstart.device`) the
        products and selections may run through ``keras.ops`` on the selected
        Keras backend's device (a GPU under ``"auto"`` when it sees one):
        :func:`_recommend_on_device`, the same lists by the same ranking rule.

    Returns
    -------
    Recommendations
        Read-only ``user_items``/``user_scores`` (``n_users x min(n_per_user,
        n_items)``) and ``item_users``/``item_scores`` (``n_items x min(n_per_item,
        n_users)``), best first; indices int32, scores float32.

    Raises
    ------
    ValueError
        On factors of different widths (naming both shapes), negative
        ``n_per_user``/``n_per_item``, ``batch_size < 1``, ``num_threads < 1``,
        NaN/infinite factors or factors so large that a score could overflow.
    TypeError
        When the factors are not numeric or are sparse matrices.
    """
    n_per_user = _check_int("n_per_user", n_per_user, 0)
    n_per_item = _check_int("n_per_item", n_per_item, 0)
    batch_size = _check_int("batch_size", batch_size, 1)
    n_threads = _check_threads(num_threads)
    uf, itf = _dense_factor_pair(user_factors, item_factors)
    n_users, n_items = uf.shape[0], itf.shape[0]
    n, m = min(n_per_user, n_items), min(n_per_item, n_users)

    user_items = np.empty((n_users, n), np.int32)
    user_scores = np.empty((n_users, n), np.float32)
    if n_users == 0 or n_items == 0 or (n == 0 and m == 0):
        empty_i, empty_s = np.empty((n_items, m), np.int32), np.empty((n_items, m), np.float32)
        return Recommendations(user_items, user_scores, empty_i, empty_s)

    v = _normalized_items(itf, normalize_items)
    from coldstart.device import use_device_path

    if use_device_path(device, "recommend"):
        return _recommend_on_device(uf, v, n, m, batch_size, progress)
    kernels = _kernels()
    audience = _Audience(n_items, m)
    blas_ctx, split = _single_threaded_blas()
    with _thread_pool(n_threads) as pool, blas_ctx:
        common = (uf, v, batch_size, kernels, pool, n_threads, split)
        guess = _sample_thresholds(*common, m) if m else None
        if guess is not None:
            audience.threshold[:] = guess
        user_top = (user_scores, user_items) if n else None
        _run_pass(*common, audience, user_top, progress=progress)
        short = audience.count < m
        if guess is not None and short.any():
            # fewer than m users reached the guess: those items start again from -inf
            logger.info(
                "recommend: %d items fell short of the sampled guess; rescoring", short.sum()
            )
            audience.restart(short)
            _run_pass(*common, audience, progress=progress)
        item_users, item_scores = audience.ranked(kernels[2], pool, n_threads)
    return Recommendations(user_items, user_scores, item_users, item_scores)


def _ranked(scores: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's entries ordered by descending score, then ascending id."""
    order = np.lexsort((ids, -scores), axis=1)
    return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)


def _stable_top(scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best of each row by (descending score, ascending id), ranked."""
    ranked_s, ranked_i = _ranked(scores, ids)
    return ranked_s[:, :k], ranked_i[:, :k]


def _boundary_ties_cut(ops: Any, pool: Any, picked: Any) -> np.ndarray:
    """Rows whose last picked score also scores elsewhere in ``pool`` beyond the picks.

    ``top_k`` keeps *some* of the entries tied at its cut; the ranking rule wants
    the lowest ids among them, which not every backend's ``top_k`` promises. Those
    rows (with a finite last score) are redone on the host.
    """
    last = ops.min(picked, axis=1, keepdims=True)  # the cut (picks may be unsorted)
    in_pool = ops.sum(ops.cast(ops.equal(pool, last), "int32"), axis=1)
    in_picks = ops.sum(ops.cast(ops.equal(picked, last), "int32"), axis=1)
    cut = ops.convert_to_numpy(in_pool > in_picks)
    finite = np.isfinite(ops.convert_to_numpy(last)[:, 0])
    return np.flatnonzero(cut & finite)


def _recommend_on_device(
    uf: np.ndarray, v: np.ndarray, n: int, m: int, batch_size: int, progress: bool
) -> Recommendations:
    """:func:`recommend` through ``keras.ops`` on the Keras backend's device.

    Per batch of users: the scores (one ``matmul``), each user's ``top_k`` items,
    and each item's running best ``m`` users merged with the batch's by one
    ``top_k`` over ``[running | batch]``. The ranking rule (descending score, ties
    to the lower index) is restored on the host: selections are re-sorted, and the
    rare rows where ``top_k`` had to choose among entries tied at its cut are
    selected again on the host from the same device scores. Memory on the device:
    a ``batch_size x n_items`` score block and ``n_items x (m + batch_size)``
    candidates.
    """
    from keras import ops

    from coldstart.device import full_precision_matmul

    n_users, n_items = uf.shape[0], v.shape[0]
    item_norm = _max_row_norm(v)
    user_items = np.empty((n_users, n), np.int32)
    user_scores = np.empty((n_users, n), np.float32)
    with full_precision_matmul():
        vt = ops.convert_to_tensor(np.ascontiguousarray(v.T, dtype=np.float32))
        best_s = ops.full((n_items, m), -np.inf, dtype="float32") if m else None
        best_u = ops.full((n_items, m), -1, dtype="int32") if m else None
        for b0, ub in _user_batches(uf, item_norm, batch_size, progress, None):
            b1 = b0 + ub.shape[0]
            scores = ops.matmul(ops.convert_to_tensor(ub), vt)
            if n:
                top_s, top_i = ops.top_k(scores, k=n, sorted=True)
                host_s = ops.convert_to_numpy(top_s).astype(np.float32)
                host_i = ops.convert_to_numpy(top_i).astype(np.int32)
                redo = _boundary_ties_cut(ops, scores, top_s)
                if redo.size:
                    rows = ops.convert_to_numpy(ops.take(scores, redo, axis=0))
                    all_items = np.broadcast_to(np.arange(n_items, dtype=np.int32), rows.shape)
                    host_s[redo], host_i[redo] = _stable_top(rows, all_items, n)
                user_scores[b0:b1], user_items[b0:b1] = _ranked(host_s, host_i)
            if m:
                batch_users = ops.broadcast_to(
                    ops.arange(b0, b1, dtype="int32")[None, :], (n_items, b1 - b0)
                )
                pool_s = ops.concatenate([best_s, ops.transpose(scores)], axis=1)
                pool_u = ops.concatenate([best_u, batch_users], axis=1)
                kept_s, where = ops.top_k(pool_s, k=m, sorted=False)
                kept_u = ops.take_along_axis(pool_u, where, axis=1)
                redo = _boundary_ties_cut(ops, pool_s, kept_s)
                if redo.size:
                    fixed_s, fixed_u = _stable_top(
                        ops.convert_to_numpy(ops.take(pool_s, redo, axis=0)),
                        ops.convert_to_numpy(ops.take(pool_u, redo, axis=0)),
                        m,
                    )
                    kept_s = ops.convert_to_numpy(kept_s).copy()
                    kept_u = ops.convert_to_numpy(kept_u).copy()
                    kept_s[redo], kept_u[redo] = fixed_s, fixed_u
                    kept_s, kept_u = ops.convert_to_tensor(kept_s), ops.convert_to_tensor(kept_u)
                best_s, best_u = kept_s, kept_u
    if m:
        item_scores, item_users = _ranked(
            ops.convert_to_numpy(best_s).astype(np.float32),
            ops.convert_to_numpy(best_u).astype(np.int32),
        )
    else:
        item_scores, item_users = (
            np.empty((n_items, 0), np.float32),
            np.empty((n_items, 0), np.int32),
        )
    return Recommendations(
        user_items, user_scores, np.ascontiguousarray(item_users), np.ascontiguousarray(item_scores)
    )


# ---------------------------------------------------------------------------
# Approximate audiences (faiss)
# ---------------------------------------------------------------------------

_FAISS_ADD_ROWS = 65536  # users added to the index per call (bounds the float32 copies)
_FAISS_QUERY_ROWS = 4096  # items searched per call (bounds faiss's int64 labels)
_TRAIN_PER_LIST = 64  # k-means training users per inverted list (faiss wants >= 39)


def _import_faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise ImportError(
            "coldstart.recommend.approximate_audience needs faiss; install faiss-cpu "
            "(pip install faiss-cpu, part of the project's dev extras)"
        ) from exc
    return faiss


def approximate_audience(
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    m: int,
    *,
    nlist: int | None = None,
    nprobe: int = 32,
    normalize_items: bool = True,
    num_threads: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate top ``m`` users of every item with a faiss inverted-file index.

    The users go into an ``IndexIVFFlat`` (inner product, ``nlist`` k-means cells
    trained on a random sample of users); each item, L2-normalised when
    ``normalize_items`` as in :func:`recommend`, is searched in its ``nprobe``
    most similar cells only. Scores are exact for the users found, but users in
    unvisited cells are missed, and ties are ranked in no guaranteed order: use
    :func:`recommend` for the exact answer.

    Parameters
    ----------
    user_factors : numpy.ndarray
        ``(n_users, f)`` dense user factors.
    item_factors : numpy.ndarray
        ``(n_items, f)`` item factors.
    m : int
        Users wanted per item (clamped to ``n_users``); 0 gives empty results.
    nlist : int, optional
        Number of cells (default ``round(sqrt(n_users))``, at most ``n_users``).
    nprobe : int, default 32
        Cells visited per item (clamped to ``nlist``): the speed/recall trade-off.
    normalize_items : bool, default True
        L2-normalise the item factors (rows of norm 0 stay 0).
    num_threads : int, optional
        faiss (OpenMP) threads during the call (default: faiss's setting).
    seed : int, default 0
        Seed of the training sample and of k-means.

    Returns
    -------
    item_users : numpy.ndarray
        int32, ``(n_items, m)``, best first; -1 pads a row when the visited cells
        hold fewer than ``m`` users.
    item_scores : numpy.ndarray
        float32, same shape; -inf where ``item_users`` is -1.

    Raises
    ------
    ImportError
        When faiss is not installed.
    ValueError
        On factors of different widths, ``m < 0``, ``nlist``/``nprobe``/
        ``num_threads`` < 1 or non-finite factors.
    """
    m = _check_int("m", m, 0)
    nprobe = _check_int("nprobe", nprobe, 1)
    threads = None if num_threads is None else _check_int("num_threads", num_threads, 1)
    uf, itf = _dense_factor_pair(user_factors, item_factors)
    n_users, n_items = uf.shape[0], itf.shape[0]
    cells = round(math.sqrt(n_users)) if nlist is None else _check_int("nlist", nlist, 1)
    cells = max(1, min(cells, n_users))
    m = min(m, n_users)
    item_users = np.full((n_items, m), -1, np.int32)
    item_scores = np.full((n_items, m), -np.inf, np.float32)
    if m == 0 or n_items == 0:
        return item_users, item_scores

    faiss = _import_faiss()
    v = _normalized_items(itf, normalize_items)
    previous_threads = faiss.omp_get_max_threads()
    if threads is not None:
        faiss.omp_set_num_threads(threads)
    try:
        index = _user_index(faiss, uf, cells, seed)
        index.nprobe = min(nprobe, cells)
        for j0 in range(0, n_items, _FAISS_QUERY_ROWS):
            j1 = min(j0 + _FAISS_QUERY_ROWS, n_items)
            scores, users = index.search(v[j0:j1], m)
            found = users >= 0
            item_users[j0:j1][found] = users[found]
            item_scores[j0:j1][found] = scores[found]
    finally:
        faiss.omp_set_num_threads(previous_threads)
    return item_users, item_scores


def _user_index(faiss: Any, uf: np.ndarray, nlist: int, seed: int) -> Any:
    """A trained inner-product ``IndexIVFFlat`` of ``nlist`` cells holding every user."""
    n_users, f = uf.shape
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(f), f, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = seed
    rng = np.random.default_rng(seed)
    n_train = min(n_users, _TRAIN_PER_LIST * nlist)
    sample = np.sort(rng.choice(n_users, n_train, replace=False))
    train = np.ascontiguousarray(uf[sample], dtype=np.float32)
    if not np.isfinite(train).all():
        raise ValueError("user_factors contains NaN or infinite values")
    index.train(train)
    del train
    for b0 in range(0, n_users, _FAISS_ADD_ROWS):
        ub = np.ascontiguousarray(uf[b0 : b0 + _FAISS_ADD_ROWS], dtype=np.float32)
        if not np.isfinite(ub).all():
            raise ValueError("user_factors contains NaN or infinite values")
        index.add(ub)
    return index
