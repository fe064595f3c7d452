"""Tests for coldstart.metrics: Kaggle apk/mapk and the batched MAP@k evaluator.

The evaluator scores exact ties by the expected metrics over all orders of the
tied items. It must match a plain per-user reference of that (sort the row, walk
every position of the top k), which itself must equal the mean over all
permutations of the tied items on small cases; without ties it must reproduce, bit
for bit, the naive "score the row, argsort of -score, take the top k, apk". The
factors used here are small dyadic numbers, so every dot product is exact in
float32 whatever the summation order: BLAS batching cannot change a score, and
comparisons are a fair test of the ranking and tie logic.
"""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from waits import scaled

import coldstart.metrics as metrics_mod
from coldstart.metrics import EvaluationResult, apk, evaluate_factors, evaluate_factors_at, mapk

# ---------------------------------------------------------------------------
# apk / mapk on hand-computed cases
# ---------------------------------------------------------------------------


def test_apk_hand_computed():
    # hits at ranks 1 and 3: (1/1 + 2/3) / min(3, 3) = (5/3) / 3 = 5/9
    assert apk([1, 2, 3], [1, 4, 2], k=3) == pytest.approx(5 / 9)
    # only one of 5 relevant in the top 2, at rank 1: (1/1) / min(5, 2) = 1/2
    assert apk([1, 2, 3, 4, 5], [5, 9], k=2) == pytest.approx(0.5)
    # the hit at rank 3 is cut off by k = 2
    assert apk([3], [1, 2, 3], k=2) == 0.0
    # perfect list: (1/1 + 2/2) / 2 = 1
    assert apk([7, 8], [8, 7, 1], k=10) == pytest.approx(1.0)
    # hit at rank 2 only: (1/2) / min(1, 10) = 1/2
    assert apk([4], [9, 4], k=10) == pytest.approx(0.5)


def test_apk_duplicates_counted_once():
    # rank 1 hit (1/1); rank 2 repeats item 1 -> miss; rank 3 hit (2/3)
    # (1 + 2/3) / min(2, 3) = 5/6
    assert apk([1, 2], [1, 1, 2], k=3) == pytest.approx(5 / 6)


def test_apk_empty_actual_and_arrays():
    assert apk([], [1, 2, 3]) == 0.0
    assert apk(np.array([], dtype=int), np.array([1, 2])) == 0.0
    # numpy inputs behave like lists: hit at rank 2 -> (1/2) / 1
    assert apk(np.array([3]), np.array([1, 3]), k=5) == pytest.approx(0.5)


def test_mapk_hand_computed():
    actual = [[1, 2], [3], []]
    predicted = [[1, 3], [4, 3], [1]]
    # user 1: hit at rank 1 -> 1/1, divided by min(2, 2) = 0.5
    # user 2: hit at rank 2 -> 1/2, divided by min(1, 2) = 0.5
    # user 3: no relevant items -> 0
    # mean = (0.5 + 0.5 + 0) / 3 = 1/3
    assert mapk(actual, predicted, k=2) == pytest.approx(1 / 3)


def test_mapk_empty_and_mismatch():
    assert math.isnan(mapk([], []))
    with pytest.raises(ValueError, match="same length"):
        mapk([[1]], [[1], [2]])


# ---------------------------------------------------------------------------
# Naive reference
# ---------------------------------------------------------------------------


def _exact_scores(user_factors, item_factors):
    """float32 scores computed exactly (float64 products of dyadic values)."""
    s = np.asarray(user_factors, np.float64) @ np.asarray(item_factors, np.float64).T
    s32 = s.astype(np.float32)
    assert np.array_equal(s32.astype(np.float64), s), "test data must give exact scores"
    return s32


def _ranking_metrics(ranking, rel, k):
    """AP (``apk``), recall and NDCG at k of one explicit ranking (item indices, best first)."""
    if not len(rel):
        return 0.0, 0.0, 0.0
    top = list(ranking)[:k]
    hit = np.isin(top, rel)
    dcg = sum(1 / math.log2(r + 2) for r in np.flatnonzero(hit))
    idcg = sum(1 / math.log2(r + 2) for r in range(min(len(rel), k)))
    return apk(list(rel), top, k), hit.sum() / len(rel), dcg / idcg


def _tie_blind_metrics(scores, rel, k):
    """The metrics of one row ranked by a stable argsort of -score (ties by item index)."""
    return _ranking_metrics(np.argsort(-scores, kind="stable"), rel, k)


def _expected_metrics(scores, rel, k):
    """AP, recall, NDCG of one row in expectation over the orders of tied items.

    Position by position over the sorted row: position p (1-based) lies in a tie
    group of t items starting after position s, holding r relevant items with H
    relevant items above the group; it is relevant with probability r/t, and then
    H + 1 + (p - s - 1)(r - 1)/(t - 1) relevant items are at or above it on average.
    """
    m = len(rel)
    if not m:
        return 0.0, 0.0, 0.0
    is_rel = np.zeros(len(scores), bool)
    is_rel[rel] = True
    ap = hits = dcg = 0.0
    ranked = -np.sort(-scores)
    for p in range(1, min(k, len(scores)) + 1):
        s_p = ranked[p - 1]
        start = int((scores > s_p).sum())
        t = int((scores == s_p).sum())
        r = int(is_rel[scores == s_p].sum())
        above = int(is_rel[scores > s_p].sum())
        prob = r / t
        before = (p - start - 1) * (r - 1) / (t - 1) if t > 1 else 0.0
        ap += prob * (above + 1 + before) / p
        hits += prob
        dcg += prob / math.log2(p + 1)
    idcg = sum(1 / math.log2(r + 2) for r in range(min(m, k)))
    return ap / min(m, k), hits / m, dcg / idcg


def _reference(user_factors, item_factors, relevant, k, users=None, metrics=None):
    """Per user: score the row exactly, then ``metrics`` (default: tie-aware)."""
    metrics = metrics or _expected_metrics
    relevant = sp.csr_matrix(relevant)
    relevant.eliminate_zeros()
    scores = _exact_scores(user_factors, item_factors)
    rows = range(scores.shape[0]) if users is None else users
    out = [
        metrics(scores[u], relevant.indices[relevant.indptr[u] : relevant.indptr[u + 1]], k)
        for u in rows
    ]
    return tuple(np.array(col, dtype=np.float64) for col in zip(*out, strict=True))


def _assert_matches_reference(res, ref):
    ap, rec, ndcg = ref
    # summation orders differ from the kernel's, hence 1e-12 rather than equality
    np.testing.assert_allclose(res.user_ap, ap, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(res.user_recall, rec, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(res.user_ndcg, ndcg, rtol=1e-12, atol=1e-15)


def _random_relevant(rng, n_users, n_items, sizes):
    """CSR with a chosen number of relevant items for each user."""
    rows, cols = [], []
    for u, m in enumerate(sizes):
        m = min(int(m), n_items)
        rows.append(np.full(m, u))
        cols.append(rng.choice(n_items, size=m, replace=False))
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, n_items))


def _world(kind, n_users, n_items, seed=0):
    """Factors and relevance. 'ties': tiny integers (scores tie a lot);
    'dyadic': multiples of 1/64 (few ties). Users get 0, 1, 2, few or many relevant
    items, so every kernel path (unfiltered, direct, binned) is exercised."""
    rng = np.random.default_rng(seed)
    if kind == "ties":
        f = 4
        u = rng.integers(-2, 3, (n_users, f)).astype(np.float32)
        v = rng.integers(-2, 3, (n_items, f)).astype(np.float32)
    else:
        f = 16
        u = (rng.integers(-64, 65, (n_users, f)) / 64).astype(np.float32)
        v = (rng.integers(-64, 65, (n_items, f)) / 64).astype(np.float32)
    sizes = rng.choice([0, 1, 2, 3, 5, 12, 40], size=n_users)
    rel = _random_relevant(rng, n_users, n_items, sizes)
    return u, v, rel


# ---------------------------------------------------------------------------
# Evaluator == naive reference
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ties", "dyadic"])
@pytest.mark.parametrize("n_items", [700, 3000])  # whole-row and block-sampled bound
@pytest.mark.parametrize("k", [1, 10, 120])
def test_matches_reference(kind, n_items, k):
    u, v, rel = _world(kind, 90, n_items, seed=n_items + k)
    res = evaluate_factors(u, v, rel, k=k, normalize_items=False, batch_size=32)
    _assert_matches_reference(res, _reference(u, v, rel, k))


@pytest.mark.parametrize("batch_size", [1, 7, 64, 10_000])
@pytest.mark.parametrize("num_threads", [1, 2, 3])
def test_independent_of_batch_size_and_threads(batch_size, num_threads):
    u, v, rel = _world("ties", 70, 2500, seed=3)
    ref = _reference(u, v, rel, 50)
    res = evaluate_factors(
        u, v, rel, k=50, normalize_items=False, batch_size=batch_size, num_threads=num_threads
    )
    _assert_matches_reference(res, ref)


@pytest.mark.parametrize(("batch_size", "num_threads"), [(1, 1), (16, 2), (10_000, 3)])
def test_sparse_user_factors_match_the_reference(batch_size, num_threads):
    """Item-kNN's user play rows: sparse (mostly zero) non-negative factors, many ties."""
    rng = np.random.default_rng(8)
    n_users, n_train, n_items = 60, 300, 900
    u = (rng.random((n_users, n_train)) < 0.03) * rng.integers(1, 4, (n_users, n_train))
    u[:3] = 0  # users with no plays score every item 0
    v = rng.integers(0, 3, (n_items, n_train)) * (rng.random((n_items, n_train)) < 0.05) / 8
    u, v = u.astype(np.float32), v.astype(np.float32)
    rel = _random_relevant(rng, n_users, n_items, rng.choice([0, 1, 4, 30], n_users))
    users = np.array([7, 0, 59, 7, 31])
    for subset in (None, users):
        ref = _reference(u, v, rel, 40, users=subset)
        for factors in (sp.csr_matrix(u), sp.csc_matrix(u)):
            res = evaluate_factors(
                factors, v, rel, k=40, normalize_items=False, users=subset,
                batch_size=batch_size, num_threads=num_threads,
            )  # fmt: skip
            _assert_matches_reference(res, ref)
    bad = sp.csr_matrix(u)
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="user_factors contains NaN"):
        evaluate_factors(bad, v, rel, k=40)


@pytest.mark.parametrize("k", [299, 300, 301, 1000])
def test_k_at_or_above_n_items(k):
    u, v, rel = _world("ties", 40, 300, seed=k)
    res = evaluate_factors(u, v, rel, k=k, normalize_items=False, batch_size=16)
    _assert_matches_reference(res, _reference(u, v, rel, k))
    if k >= 300:  # every item is ranked: every relevant item is a hit
        active = res.n_relevant > 0
        np.testing.assert_array_equal(res.user_recall[active], 1.0)


def test_all_scores_equal():
    # every score is 0: one tie group of all 400 items, whatever the item order
    u = np.zeros((5, 3), np.float32)
    v = np.ones((400, 3), np.float32)
    rel = sp.csr_matrix((np.ones(6), ([0, 0, 1, 2, 3, 3], [0, 9, 399, 5, 1, 2])), shape=(5, 400))
    res = evaluate_factors(u, v, rel, k=10, normalize_items=False)
    _assert_matches_reference(res, _reference(u, v, rel, 10))
    h10 = sum(1 / p for p in range(1, 11))
    # one relevant item: each of the 10 positions is it with probability 1/400
    # -> sum_p (1/400) (1/p) = H_10 / 400
    assert res.user_ap[1] == pytest.approx(h10 / 400) == res.user_ap[2]
    # two: position p is relevant w.p. 2/400, with 1 + (p-1)/399 hits at or above
    # it on average; / min(2, 10): (1/400) (H_10 + (10 - H_10) / 399)
    assert res.user_ap[0] == pytest.approx((h10 + (10 - h10) / 399) / 400) == res.user_ap[3]
    # expected hits in the top 10: 10 * 2/400 -> recall 10/400
    assert res.user_recall[0] == pytest.approx(10 / 400)
    assert res.user_ap[4] == 0.0


def test_tie_group_across_the_cut_off_hand_computed():
    # scores 3 (relevant), 2, 2 (one relevant), 2, 1; k = 3 cuts the group of 2s
    v = np.array([[2.0], [3.0], [2.0], [1.0], [2.0]], np.float32)  # items 0..4
    u = np.ones((1, 1), np.float32)
    rel = sp.csr_matrix(([1.0, 1.0], ([0, 0], [1, 4])), shape=(1, 5))
    res = evaluate_factors(u, v, rel, k=3, normalize_items=False)
    # position 1: item 1, precision 1; positions 2, 3: item 4 w.p. 1/3 each, with
    # 2 hits at or above it: (1 + (1/3)(2/2) + (1/3)(2/3)) / min(2, 3) = 7/9
    assert res.user_ap[0] == pytest.approx(7 / 9, rel=1e-15)
    # expected hits 1 + 2/3 of 2 relevant items
    assert res.user_recall[0] == pytest.approx(5 / 6, rel=1e-15)
    dcg = 1 + (1 / 3) * (1 / math.log2(3) + 1 / math.log2(4))
    assert res.user_ndcg[0] == pytest.approx(dcg / (1 + 1 / math.log2(3)), rel=1e-15)


def _orders(scores):
    """Every ranking consistent with descending scores: all orders of each tie group."""
    groups = [np.flatnonzero(scores == s).tolist() for s in sorted(set(scores), reverse=True)]
    for parts in itertools.product(*(itertools.permutations(g) for g in groups)):
        yield [i for part in parts for i in part]


def test_expected_metrics_equal_the_mean_over_all_orders_of_tied_items():
    rng = np.random.default_rng(21)
    n_users, n_items = 60, 7
    u = np.ones((n_users, 1), np.float32)
    for k in (1, 3, 6, 9):
        # a few score levels per row: big tie groups, relevant items in and across them
        scores = rng.integers(0, 3, (n_users, n_items)).astype(np.float32)
        sizes = rng.integers(0, n_items + 1, n_users)
        rel = _random_relevant(rng, n_users, n_items, sizes)
        for b in range(n_users):
            items = scores[b][:, None]
            rel_b = rel[b]
            res = evaluate_factors(u[:1], items, rel_b, k=k, normalize_items=False)
            actual = rel_b.indices.tolist()
            per_order = [_ranking_metrics(order, actual, k) for order in _orders(scores[b])]
            mean = np.mean(per_order, axis=0)
            np.testing.assert_allclose(
                [res.user_ap[0], res.user_recall[0], res.user_ndcg[0]], mean, rtol=1e-12, atol=1e-15
            )
            np.testing.assert_allclose(
                _expected_metrics(scores[b], np.array(actual, int), k), mean, rtol=1e-12, atol=1e-15
            )


@pytest.mark.parametrize("k", [1, 25, 400, 5000])
@pytest.mark.parametrize("num_threads", [1, 2])
def test_tie_free_scores_give_the_tie_blind_result_bit_for_bit(k, num_threads):
    """Integer factors (exact scores), tie-free by construction: a first coordinate
    4096 * (a permutation of the items) dominates the others (|rest| <= 1800)."""
    rng = np.random.default_rng(k)
    n_users, n_items = 200, 3000
    u = rng.integers(-10, 11, (n_users, 4)).astype(np.float32)
    v = rng.integers(-60, 61, (n_items, 4)).astype(np.float32)
    u[:, 0] = rng.choice([-1.0, 1.0], n_users)
    v[:, 0] = 4096.0 * rng.permutation(n_items)
    scores = _exact_scores(u, v)
    assert all(np.unique(row).size == n_items for row in scores)
    tie_free = rng.permutation(n_users)[:150]
    sizes = rng.choice([0, 1, 2, 3, 5, 12, 40], n_users)  # direct and binned paths
    rel = _random_relevant(rng, n_users, n_items, sizes)
    res = evaluate_factors(
        u, v, rel, k=k, normalize_items=False, users=tie_free, batch_size=32,
        num_threads=num_threads,
    )  # fmt: skip
    ap, rec, ndcg = _reference(u, v, rel, k, users=tie_free, metrics=_tie_blind_metrics)
    np.testing.assert_array_equal(res.user_ap, ap)  # identical, not approximately
    np.testing.assert_allclose(res.user_recall, rec, rtol=1e-15, atol=0)
    np.testing.assert_allclose(res.user_ndcg, ndcg, rtol=1e-12, atol=1e-15)


def test_repeated_item_factors_are_scored_once():
    rng = np.random.default_rng(4)
    v = rng.standard_normal((50, 6)).astype(np.float32)
    distinct, copy_of = metrics_mod._distinct_rows(v)
    assert distinct is v and copy_of is None  # tie-free input: the unchanged path
    repeated = v[rng.integers(0, 50, 400)]
    distinct, copy_of = metrics_mod._distinct_rows(repeated)
    assert distinct.shape[0] == np.unique(repeated, axis=0).shape[0]
    np.testing.assert_array_equal(distinct[copy_of], repeated)
    # songs sharing their artist's factors tie exactly, and score as the reference
    u = rng.standard_normal((40, 6)).astype(np.float32)
    rel = _random_relevant(rng, 40, 400, rng.choice([0, 1, 3, 12], 40))
    res = evaluate_factors(u, repeated, rel, k=30, batch_size=16)
    scores = u @ metrics_mod._normalized_items(distinct, True).T
    scores = scores[:, copy_of]
    ref = [_expected_metrics(scores[b], rel.indices[rel.indptr[b] : rel.indptr[b + 1]], 30)
           for b in range(40)]  # fmt: skip
    np.testing.assert_allclose(res.user_ap, [r[0] for r in ref], rtol=1e-12, atol=1e-15)


def test_fallback_when_sampled_bound_is_too_high():
    """High scores placed exactly in the sampled blocks mislead the estimate of the
    k-th largest score; the exact check must catch it."""
    n = 4 * metrics_mod._SAMPLE_SIZE + 1000  # rows long enough to be block-sampled
    ns, blk = metrics_mod._SAMPLE_SIZE, metrics_mod._SAMPLE_BLOCK
    n_blk = ns // blk
    sampled = np.zeros(n, bool)
    for bi in range(n_blk):
        j0 = (bi * (n - blk)) // (n_blk - 1)
        sampled[j0 : j0 + blk] = True
    rng = np.random.default_rng(5)
    item = np.where(sampled, 1000 + rng.integers(0, 100, n), rng.integers(0, 900, n))
    k = ns + 100  # the top k holds every sampled item and 100 others
    # precondition: the sample's order statistic aimed at ~2k scores has < k above it
    kk = (2 * k * ns + n - 1) // n
    estimate = np.sort(item[sampled])[::-1][kk - 1]
    assert (item >= estimate).sum() < k
    v = item.astype(np.float32)[:, None]
    u = np.ones((3, 1), np.float32)
    not_sampled = np.flatnonzero(~sampled)
    best_not_sampled = not_sampled[np.argsort(-item[not_sampled], kind="stable")[:60]]
    cols = [rng.choice(best_not_sampled, 20, replace=False) for _ in range(3)]
    rel = sp.csr_matrix(
        (np.ones(60), (np.repeat(np.arange(3), 20), np.concatenate(cols))), shape=(3, n)
    )
    res = evaluate_factors(u, v, rel, k=k, normalize_items=False)
    _assert_matches_reference(res, _reference(u, v, rel, k))
    assert (res.user_ap > 0).all()  # relevant items below the estimate do make the top k


def test_normalize_items():
    """Items are 2^e times exact unit vectors (four entries of +-1/2), so L2
    normalisation is exact and the reference ranks the unit vectors."""
    rng = np.random.default_rng(11)
    n_items, f = 600, 8
    unit = np.zeros((n_items, f), np.float32)
    for i in range(n_items):
        unit[i, rng.choice(f, 4, replace=False)] = rng.choice([-0.5, 0.5], 4)
    scale = 2.0 ** rng.integers(-3, 4, n_items)
    scaled = (unit * scale[:, None]).astype(np.float32)
    scaled[7] = 0.0  # a zero row stays zero (score 0 for everyone)
    unit_ref = unit.copy()
    unit_ref[7] = 0.0
    u = rng.integers(-3, 4, (60, f)).astype(np.float32)
    rel = _random_relevant(rng, 60, n_items, rng.choice([0, 2, 6, 30], 60))
    rel = (rel + sp.csr_matrix(([1.0], ([5], [7])), shape=rel.shape)).tocsr()  # zero item
    on = evaluate_factors(u, scaled, rel, k=40, normalize_items=True, batch_size=16)
    _assert_matches_reference(on, _reference(u, unit_ref, rel, 40))
    off = evaluate_factors(u, scaled, rel, k=40, normalize_items=False, batch_size=16)
    _assert_matches_reference(off, _reference(u, scaled, rel, 40))
    assert not np.array_equal(on.user_ap, off.user_ap)


def test_users_without_relevant_items_and_summary():
    # 4 users, 3 items; scores = item index order reversed for everyone
    u = np.ones((4, 1), np.float32)
    v = np.array([[3.0], [2.0], [1.0]], np.float32)  # ranking: 0, 1, 2
    rel = sp.csr_matrix(np.array([[1, 0, 0], [0, 0, 1], [0, 0, 0], [0, 1, 1]]))
    res = evaluate_factors(u, v, rel, k=2, normalize_items=False)
    # user 0: hit at rank 1 -> 1/min(1,2) = 1
    # user 1: its item is at rank 3 > k -> 0
    # user 2: no relevant item -> 0 (and not active)
    # user 3: hit at rank 2 -> (1/2)/min(2,2) = 1/4
    np.testing.assert_allclose(res.user_ap, [1.0, 0.0, 0.0, 0.25])
    np.testing.assert_array_equal(res.n_relevant, [1, 1, 0, 2])
    # recall = hits/|rel|: 1, 0, 0, 1/2
    np.testing.assert_allclose(res.user_recall, [1.0, 0.0, 0.0, 0.5])
    # ndcg user 3: (1/log2(3)) / (1/log2(2) + 1/log2(3))
    idcg2 = 1 + 1 / math.log2(3)
    np.testing.assert_allclose(res.user_ndcg, [1.0, 0.0, 0.0, (1 / math.log2(3)) / idcg2])
    s = res.summary()
    assert set(s) == {
        "map_at_2",
        "map_at_2_active",
        "recall_at_2",
        "ndcg_at_2",
        "n_users",
        "n_active_users",
    }
    assert s["map_at_2"] == pytest.approx(1.25 / 4)  # all 4 users
    assert s["map_at_2_active"] == pytest.approx(1.25 / 3)  # the 3 active users
    assert s["recall_at_2"] == pytest.approx(1.5 / 3)
    assert s["n_users"] == 4 and s["n_active_users"] == 3
    assert isinstance(res, EvaluationResult) and res.k == 2
    assert res.user_ap.dtype == np.float64 and res.n_relevant.dtype == np.int64
    assert not res.user_ap.flags.writeable  # results are frozen


def test_users_subset():
    u, v, rel = _world("ties", 50, 800, seed=2)
    full = evaluate_factors(u, v, rel, k=30, normalize_items=False)
    users = np.array([5, 2, 2, 0, 49])
    sub = evaluate_factors(u, v, rel, k=30, normalize_items=False, users=users, batch_size=2)
    np.testing.assert_array_equal(sub.user_ap, full.user_ap[users])
    np.testing.assert_array_equal(sub.n_relevant, full.n_relevant[users])
    empty = evaluate_factors(u, v, rel, k=30, users=np.array([], dtype=int))
    assert empty.user_ap.shape == (0,)
    assert math.isnan(empty.summary()["map_at_30"])


def test_relevant_formats_and_no_mutation():
    u, v, rel = _world("dyadic", 30, 500, seed=4)
    ref = evaluate_factors(u, v, rel, k=25, normalize_items=False).user_ap
    # explicit zeros are not relevant; duplicates count once; unsorted indices are fine
    coo = rel.tocoo()
    dup = sp.coo_matrix(
        (
            np.r_[coo.data, coo.data, np.zeros(5)],
            (np.r_[coo.row, coo.row, np.arange(5)], np.r_[coo.col, coo.col, np.arange(5)]),
        ),
        shape=rel.shape,
    )
    for r in (rel.tocoo(), sp.csr_array(rel), rel.tocsc(), dup):
        np.testing.assert_array_equal(
            evaluate_factors(u, v, r, k=25, normalize_items=False).user_ap, ref
        )
    unsorted = rel.copy()
    for i in range(unsorted.shape[0]):
        a, b = unsorted.indptr[i], unsorted.indptr[i + 1]
        unsorted.indices[a:b] = unsorted.indices[a:b][::-1].copy()
    unsorted.has_sorted_indices = False
    before = unsorted.indices.copy()
    np.testing.assert_array_equal(
        evaluate_factors(u, v, unsorted, k=25, normalize_items=False).user_ap, ref
    )
    np.testing.assert_array_equal(unsorted.indices, before)  # caller's matrix untouched
    # float64 factors are scored in float32 (exact here): same result
    np.testing.assert_array_equal(
        evaluate_factors(
            u.astype(np.float64), v.astype(np.float64), rel, k=25, normalize_items=False
        ).user_ap,
        ref,
    )


@pytest.mark.parametrize("k", [1, 35, 400, 1000])
def test_topk_kernel_of_gpu_path_matches(k):
    """The GPU path returns top-k scores, the last one's tie count and the relevant
    scores from the device; check the host part on the same numbers from NumPy."""
    u, v, rel = _world("ties", 60, 400, seed=8)
    rel = sp.csr_matrix(rel)
    rel.sort_indices()
    scores = _exact_scores(u, v)
    kk = min(k, 400)
    top = -np.sort(-scores, axis=1)[:, :kk]
    n_tied = (scores == top[:, kk - 1 :]).sum(axis=1).astype(np.int64)
    ids = np.arange(60)
    rel_ptr, flat = metrics_mod._batch_relevant(ids, rel.indptr, rel.indices, 400)
    np.testing.assert_array_equal(rel_ptr, rel.indptr)
    out = [np.zeros(60) for _ in range(3)]
    _, topk_kernel = metrics_mod._kernels()
    topk_kernel(top, n_tied, scores.ravel()[flat], rel_ptr, k, *out)
    res = evaluate_factors(u, v, rel, k=k, normalize_items=False)
    np.testing.assert_array_equal(out[0], res.user_ap)
    np.testing.assert_array_equal(out[1], res.user_recall)
    np.testing.assert_array_equal(out[2], res.user_ndcg)


def test_device_path_through_the_keras_backend_matches_the_cpu_path():
    """The whole device path (keras.ops), run by the selected backend on its CPU."""
    u, v, rel = _world("ties", 80, 900, seed=9)
    users = np.array([5, 3, 3, 79, 0, 41, 12])
    cpu = {k: evaluate_factors(u, v, rel, k=k, normalize_items=False, users=users, device="cpu")
           for k in (1, 50, 900, 2000)}  # fmt: skip
    for k, expected in cpu.items():
        got = evaluate_factors(
            u, v, rel, k=k, normalize_items=False, users=users, device="backend", batch_size=3
        )
        np.testing.assert_array_equal(got.user_ap, expected.user_ap)
        np.testing.assert_array_equal(got.user_recall, expected.user_recall)
        np.testing.assert_array_equal(got.user_ndcg, expected.user_ndcg)


# ---------------------------------------------------------------------------
# Several cut-offs from one pass
# ---------------------------------------------------------------------------


def _assert_same_result(a, b):
    for name in ("user_ap", "user_recall", "user_ndcg", "n_relevant"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.k == b.k


def _cutoff_case(case):
    """Random cases for the one-pass evaluator: ties, many relevant items (the
    filtered and binned paths), users with none, duplicated item rows, sparse users."""
    rng = np.random.default_rng(100 + case)
    n_users = int(rng.integers(1, 120))
    n_items = int(rng.choice([40, 700, 3000]))
    if case % 4 == 0:  # tiny integers: scores tie a lot
        u = rng.integers(-2, 3, (n_users, 4)).astype(np.float32)
        v = rng.integers(-2, 3, (n_items, 4)).astype(np.float32)
    elif case % 4 == 1:  # continuous factors, few ties
        u = rng.standard_normal((n_users, 16)).astype(np.float32)
        v = rng.standard_normal((n_items, 16)).astype(np.float32)
    elif case % 4 == 2:  # duplicated item rows (songs carrying their artist's prediction)
        base = rng.standard_normal((max(2, n_items // 9), 8)).astype(np.float32)
        v = base[rng.integers(0, base.shape[0], n_items)]
        u = rng.standard_normal((n_users, 8)).astype(np.float32)
    else:  # sparse user rows (item-kNN), mostly-zero scores
        u = sp.random(n_users, 30, density=0.1, format="csr", random_state=case, dtype=np.float32)
        v = rng.integers(0, 3, (n_items, 30)).astype(np.float32)
    sizes = rng.choice([0, 1, 2, 3, 8, 9, 40, 300], n_users)
    rel = _random_relevant(rng, n_users, n_items, sizes)
    return u, v, rel


@pytest.mark.parametrize("case", range(12))
def test_several_cut_offs_in_one_pass_equal_one_call_per_cut_off_exactly(case):
    u, v, rel = _cutoff_case(case)
    n_items = v.shape[0]
    ks = [1, 10, 50, 100, 500, n_items, n_items + 7]  # k = and > the candidates too
    normalize = bool(case % 2)
    users = None if case % 3 else np.random.default_rng(case).integers(0, u.shape[0], 50)
    together = evaluate_factors_at(
        u, v, rel, ks, normalize_items=normalize, users=users, batch_size=16,
        num_threads=1 + case % 2,
    )  # fmt: skip
    assert list(together) == sorted(set(ks))
    for k in sorted(set(ks)):
        alone = evaluate_factors(
            u, v, rel, k=k, normalize_items=normalize, users=users, batch_size=16, num_threads=1
        )
        _assert_same_result(together[k], alone)
        assert together[k].summary() == pytest.approx(alone.summary(), nan_ok=True, abs=0, rel=0)


def test_one_cut_off_is_evaluate_factors_and_duplicates_count_once():
    u, v, rel = _world("ties", 30, 500, seed=6)
    one = evaluate_factors_at(u, v, rel, [25, 25], normalize_items=False)
    assert list(one) == [25]
    _assert_same_result(one[25], evaluate_factors(u, v, rel, k=25, normalize_items=False))
    empty = evaluate_factors_at(u, v, rel, [3, 7], users=np.array([], dtype=int))
    assert [r.user_ap.shape for r in empty.values()] == [(0,), (0,)]
    with pytest.raises(ValueError, match="at least one cut-off"):
        evaluate_factors_at(u, v, rel, [])
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        evaluate_factors_at(u, v, rel, [10, 0])


def _counting_rank_kernel(monkeypatch):
    """Wrap the compiled ranking kernel; returns the list of (user ids ranked, cut-offs)."""
    rank, topk = metrics_mod._kernels()
    calls = []

    def counted(scores, ids, indptr, indices, ks, start, stop, *out):
        if stop > start:  # (the warm-up call that loads the kernel ranks nobody)
            calls.append((np.asarray(ids[start:stop]).copy(), np.asarray(ks).tolist()))
        return rank(scores, ids, indptr, indices, ks, start, stop, *out)

    monkeypatch.setattr(metrics_mod, "_kernels", lambda: (counted, topk))
    return calls


@pytest.mark.parametrize("num_threads", [1, 3])
def test_every_user_is_ranked_once_for_all_cut_offs(monkeypatch, num_threads):
    calls = _counting_rank_kernel(monkeypatch)
    u, v, rel = _world("ties", 70, 900, seed=2)
    users = np.array([4, 9, 9, 0, 69, 33, 12, 8, 1])
    evaluate_factors_at(
        u, v, rel, [10, 50, 100, 500], users=users, batch_size=4, num_threads=num_threads
    )
    ranked = np.concatenate([ids for ids, _ in calls])
    np.testing.assert_array_equal(np.sort(ranked), np.sort(users))  # each once, none twice
    assert all(ks == [10, 50, 100, 500] for _, ks in calls)
    if num_threads == 1:
        assert len(calls) == 3  # one call per batch of 4 users


def test_device_path_gives_every_cut_off_of_the_cpu_path():
    """The device path at several cut-offs, run by the Keras backend on the CPU."""
    u, v, rel = _world("ties", 60, 700, seed=12)
    ks = [1, 10, 50, 700, 900]
    cpu = evaluate_factors_at(u, v, rel, ks, normalize_items=False, device="cpu")
    gpu = evaluate_factors_at(u, v, rel, ks, normalize_items=False, device="backend", batch_size=7)
    for k in ks:
        _assert_same_result(gpu[k], cpu[k])


class _FakeClock:
    """Ten seconds pass every time the clock is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 10.0
        return self.now


def test_a_long_evaluation_logs_its_progress_and_a_short_one_does_not(monkeypatch, caplog):
    import functools
    import logging

    caplog.set_level(logging.INFO, logger="coldstart.metrics")
    u, v, rel = _world("ties", 40, 300, seed=1)
    evaluate_factors_at(u, v, rel, [5, 10], batch_size=4)  # well under 30 s: no line
    assert not [r for r in caplog.records if r.name == "coldstart.metrics"]
    slow = functools.partial(metrics_mod.ProgressLog, clock=_FakeClock())
    monkeypatch.setattr(metrics_mod, "ProgressLog", slow)
    evaluate_factors_at(u, v, rel, [5, 10], batch_size=4, log_progress="evaluation of x")
    lines = [r.getMessage() for r in caplog.records if r.name == "coldstart.metrics"]
    # 10 batches, 10 s each: a line every third batch, then the closing line
    assert lines[0].startswith("evaluation of x: 12 / 40 users (30 %), 30 s elapsed, about 1 min")
    assert len(lines) == 4 and lines[-1] == "evaluation of x: 40 / 40 users done in 1 min 50 s"
    caplog.clear()
    monkeypatch.setattr(metrics_mod, "ProgressLog", functools.partial(slow, clock=_FakeClock()))
    evaluate_factors_at(u, v, rel, [5], batch_size=4, log_progress=None)
    assert not [r for r in caplog.records if r.name == "coldstart.metrics"]


def test_progress_bar_runs():
    u, v, rel = _world("ties", 20, 100, seed=1)
    a = evaluate_factors(u, v, rel, k=5, batch_size=7, progress=True)
    b = evaluate_factors(u, v, rel, k=5, batch_size=7)
    np.testing.assert_array_equal(a.user_ap, b.user_ap)


# ---------------------------------------------------------------------------
# Devices
# ---------------------------------------------------------------------------


def test_auto_device_does_not_import_tensorflow():
    code = (
        "import sys, numpy as np, scipy.sparse as sp\n"
        "from coldstart.metrics import evaluate_factors\n"
        "r = evaluate_factors(np.ones((3, 2)), np.ones((4, 2)), sp.eye(3, 4, format='csr'), k=2)\n"
        "assert 'tensorflow' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=scaled(600))


def test_gpu_device_without_gpu_raises(monkeypatch):
    import coldstart.device as device_mod

    # a machine with a GPU device node whose backend sees no GPU (a CPU-only build)
    monkeypatch.setattr(device_mod, "machine_has_gpu_node", lambda: True)
    monkeypatch.setattr(device_mod, "backend_sees_gpu", lambda: False)
    u, v, rel = _world("ties", 5, 20)
    with pytest.raises(RuntimeError, match="sees no GPU"):
        evaluate_factors(u, v, rel, k=3, device="gpu")
    # "auto" where the backend sees no GPU falls back to the CPU
    res = evaluate_factors(u, v, rel, k=3, device="auto")
    np.testing.assert_array_equal(
        res.user_ap, evaluate_factors(u, v, rel, k=3, device="cpu").user_ap
    )


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


@pytest.fixture
def small():
    rng = np.random.default_rng(0)
    u = rng.standard_normal((6, 4)).astype(np.float32)
    v = rng.standard_normal((9, 4)).astype(np.float32)
    rel = sp.random(6, 9, density=0.3, format="csr", random_state=0)
    return u, v, rel


def test_error_messages(small):
    u, v, rel = small
    with pytest.raises(ValueError, match=r"user_factors \(6, 4\) and item_factors \(9, 3\)"):
        evaluate_factors(u, v[:, :3], rel)
    with pytest.raises(ValueError, match=r"relevant has shape \(6, 8\).*\(6, 9\)"):
        evaluate_factors(u, v, rel[:, :8])
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        evaluate_factors(u, v, rel, k=0)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        evaluate_factors(u, v, rel, k=2.5)
    with pytest.raises(ValueError, match="batch_size"):
        evaluate_factors(u, v, rel, batch_size=0)
    with pytest.raises(ValueError, match="num_threads"):
        evaluate_factors(u, v, rel, num_threads=0)
    with pytest.raises(ValueError, match="device"):
        evaluate_factors(u, v, rel, device="tpu")
    with pytest.raises(ValueError, match=r"users must index rows.*\[0, 6\]"):
        evaluate_factors(u, v, rel, users=[0, 6])
    with pytest.raises(ValueError, match="users must be a 1-D array"):
        evaluate_factors(u, v, rel, users=[[0]])
    with pytest.raises(ValueError, match="2-D"):
        evaluate_factors(u[0], v, rel)
    with pytest.raises(TypeError, match="scipy.sparse"):
        evaluate_factors(u, v, rel.toarray())
    bad = v.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="item_factors contains NaN"):
        evaluate_factors(u, bad, rel)
    bad = u.copy()
    bad[4, 0] = np.inf
    with pytest.raises(ValueError, match="user_factors contains NaN"):
        evaluate_factors(bad, v, rel)
