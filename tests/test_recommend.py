"""Tests for coldstart.recommend: exact top-N both ways, and the faiss audiences.

The exact results must equal, index for index, the naive reference "score every
(user, item) pair, stable argsort of -score per row (per user) or per column (per
item), take the first n". The factors are small integers (and the normalised
items exact unit vectors), so every float32 score is exact whatever the BLAS
summation order, scores tie massively, and equality is a fair test of the tie rule
for any batch size and thread count.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

import coldstart.recommend as rec_mod
from coldstart.recommend import Recommendations, approximate_audience, recommend

# ---------------------------------------------------------------------------
# Naive reference
# ---------------------------------------------------------------------------


def _exact_scores(user_factors: np.ndarray, item_factors: np.ndarray) -> np.ndarray:
    """float32 scores computed exactly (float64 products of small integers)."""
    s = np.asarray(user_factors, np.float64) @ np.asarray(item_factors, np.float64).T
    s32 = s.astype(np.float32)
    assert np.array_equal(s32.astype(np.float64), s), "test data must give exact scores"
    return s32


def _reference(scores: np.ndarray, n: int, m: int):
    """Top n items per user and top m users per item by stable argsort of -score."""
    user_items = np.argsort(-scores, axis=1, kind="stable")[:, :n]
    item_users = np.argsort(-scores.T, axis=1, kind="stable")[:, :m]
    return (
        user_items,
        np.take_along_axis(scores, user_items, 1),
        item_users,
        np.take_along_axis(scores.T, item_users, 1),
    )


def _assert_exact(res: Recommendations, scores: np.ndarray, n: int, m: int) -> None:
    ui, us, iu, isc = _reference(scores, n, m)
    assert res.user_items.dtype == np.int32 and res.item_users.dtype == np.int32
    assert res.user_scores.dtype == np.float32 and res.item_scores.dtype == np.float32
    np.testing.assert_array_equal(res.user_items, ui)
    np.testing.assert_array_equal(res.user_scores, us)
    np.testing.assert_array_equal(res.item_users, iu)
    np.testing.assert_array_equal(res.item_scores, isc)


def _tied_factors(rng: np.random.Generator, n_users: int, n_items: int, f: int = 3):
    """Small-integer factors (few distinct scores: ties everywhere), with repeated
    rows and an all-zero item (score 0 for every user)."""
    u = rng.integers(-2, 3, (n_users, f)).astype(np.float32)
    v = rng.integers(-2, 3, (n_items, f)).astype(np.float32)
    u[1::7] = u[0]
    v[2::5] = v[1]
    v[min(3, n_items - 1)] = 0.0
    return u, v


# ---------------------------------------------------------------------------
# Exactness, ties included
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("batch_size", "num_threads"), [(4096, 1), (1, 1), (37, 2), (64, 3), (500, 2)]
)
def test_matches_reference_for_any_batch_and_threads(batch_size, num_threads):
    rng = np.random.default_rng(0)
    u, v = _tied_factors(rng, 700, 450)
    res = recommend(
        u, v, 40, 90, normalize_items=False, batch_size=batch_size, num_threads=num_threads
    )
    _assert_exact(res, _exact_scores(u, v), 40, 90)


@pytest.mark.parametrize(
    ("case", "batch_size", "n", "m"),
    [("ties", 37, 40, 90), ("ties", 4096, 40, 90), ("spread", 128, 50, 120),
     ("ties", 50, 0, 30), ("ties", 50, 25, 0), ("equal", 33, 10, 100)],
)  # fmt: skip
def test_device_path_through_the_keras_backend_matches_the_reference(case, batch_size, n, m):
    """The keras.ops path (the selected backend, here on its CPU) ranks as the CPU path:
    massive ties, distinct scores, skipped sides, every score equal."""
    rng = np.random.default_rng(4)
    if case == "ties":
        u, v = _tied_factors(rng, 300, 200)
    elif case == "spread":
        u = rng.integers(-64, 65, (300, 8)).astype(np.float32)
        v = rng.integers(-64, 65, (500, 8)).astype(np.float32)
    else:
        u, v = np.ones((150, 2), np.float32), np.ones((90, 2), np.float32)
    res = recommend(u, v, n, m, normalize_items=False, batch_size=batch_size, device="backend")
    cpu = recommend(u, v, n, m, normalize_items=False, batch_size=batch_size, device="cpu")
    _assert_exact(res, _exact_scores(u, v), min(n, v.shape[0]), min(m, u.shape[0]))
    np.testing.assert_array_equal(res.user_items, cpu.user_items)
    np.testing.assert_array_equal(res.item_users, cpu.item_users)


def test_gaussian_like_spread_of_scores():
    """Many distinct scores (few ties): the bounds, shrinks and ranks on realistic rows."""
    rng = np.random.default_rng(1)
    u = rng.integers(-64, 65, (900, 8)).astype(np.float32)
    v = rng.integers(-64, 65, (2000, 8)).astype(np.float32)
    res = recommend(u, v, 50, 120, normalize_items=False, batch_size=128, num_threads=2)
    _assert_exact(res, _exact_scores(u, v), 50, 120)


@pytest.mark.parametrize(("n", "m"), [(0, 30), (25, 0), (10_000, 10_000), (1, 1), (0, 0)])
def test_skipped_sides_and_clamping(n, m):
    rng = np.random.default_rng(2)
    u, v = _tied_factors(rng, 120, 70)
    res = recommend(u, v, n, m, normalize_items=False, batch_size=50, num_threads=2)
    n_eff, m_eff = min(n, 70), min(m, 120)
    assert res.user_items.shape == res.user_scores.shape == (120, n_eff)
    assert res.item_users.shape == res.item_scores.shape == (70, m_eff)
    _assert_exact(res, _exact_scores(u, v), n_eff, m_eff)


@pytest.mark.parametrize(("n_users", "n_items"), [(1, 1), (1, 40), (40, 1), (0, 5), (5, 0)])
def test_tiny_and_empty_shapes(n_users, n_items):
    rng = np.random.default_rng(3)
    u = rng.integers(-2, 3, (n_users, 2)).astype(np.float32)
    v = rng.integers(-2, 3, (n_items, 2)).astype(np.float32)
    res = recommend(u, v, 3, 3, normalize_items=False)
    assert res.user_items.shape == (n_users, min(3, n_items))
    assert res.item_users.shape == (n_items, min(3, n_users))
    if n_users and n_items:
        _assert_exact(res, _exact_scores(u, v), min(3, n_items), min(3, n_users))


def test_all_scores_equal():
    """Every score ties: indices ascending on both sides (the exact shrink fallback)."""
    u = np.ones((400, 2), np.float32)
    v = np.ones((90, 2), np.float32)
    res = recommend(u, v, 10, 100, normalize_items=False, batch_size=33, num_threads=2)
    np.testing.assert_array_equal(res.user_items, np.tile(np.arange(10), (400, 1)))
    np.testing.assert_array_equal(res.item_users, np.tile(np.arange(100), (90, 1)))


def test_users_ascending_in_score_admit_every_user():
    """Each new user beats all before it: the audiences fill and shrink all the way."""
    u = np.arange(1, 3001, dtype=np.float32)[:, None]
    v = np.array([[1.0], [2.0], [-1.0]], np.float32)
    res = recommend(u, v, 2, 150, normalize_items=False, batch_size=256, num_threads=2)
    _assert_exact(res, _exact_scores(u, v), 2, 150)


def test_normalize_items():
    """Items are 2^e times exact unit vectors, so L2 normalisation is exact."""
    rng = np.random.default_rng(4)
    n_items, f = 300, 6
    unit = np.zeros((n_items, f), np.float32)
    unit[np.arange(n_items), rng.integers(0, f, n_items)] = rng.choice([-1.0, 1.0], n_items)
    scaled = unit * (2.0 ** rng.integers(-3, 4, n_items))[:, None].astype(np.float32)
    scaled[5] = 0.0  # a zero row stays zero
    unit[5] = 0.0
    u = rng.integers(-3, 4, (200, f)).astype(np.float32)
    res = recommend(u, scaled, 20, 40, batch_size=64, num_threads=2)
    _assert_exact(res, _exact_scores(u, unit), 20, 40)


def test_float64_and_integer_factors_are_accepted():
    rng = np.random.default_rng(5)
    u, v = _tied_factors(rng, 80, 60)
    ref = recommend(u, v, 5, 5, normalize_items=False)
    for uu, vv in ((u.astype(np.float64), v.astype(np.float64)), (u.astype(int), v.astype(int))):
        res = recommend(uu, vv, 5, 5, normalize_items=False)
        np.testing.assert_array_equal(res.user_items, ref.user_items)
        np.testing.assert_array_equal(res.item_users, ref.item_users)


@pytest.mark.parametrize("log_share", [1, 10**6])
def test_audience_logs_that_fit_or_overflow(monkeypatch, log_share):
    """Logs large enough for every candidate, or so small (64 entries) that most
    rows are read again from the batch: the same exact result."""
    monkeypatch.setattr(rec_mod, "_LOG_SHARE", log_share)
    rng = np.random.default_rng(15)
    u, v = _tied_factors(rng, 1500, 700)
    res = recommend(u, v, 8, 200, normalize_items=False, batch_size=300, num_threads=2)
    _assert_exact(res, _exact_scores(u, v), 8, 200)


def test_one_product_per_batch_without_threadpoolctl(monkeypatch):
    """Without threadpoolctl BLAS keeps its threads: one product per batch, here."""
    monkeypatch.setattr(rec_mod, "_single_threaded_blas", lambda: (contextlib.nullcontext(), False))
    rng = np.random.default_rng(16)
    u, v = _tied_factors(rng, 600, 300)
    res = recommend(u, v, 12, 60, normalize_items=False, batch_size=128, num_threads=2)
    _assert_exact(res, _exact_scores(u, v), 12, 60)


# ---------------------------------------------------------------------------
# The audience thresholds guessed from a sample of users
# ---------------------------------------------------------------------------


def test_sampled_thresholds_are_used_and_exact(monkeypatch):
    guesses = []
    real = rec_mod._sample_thresholds

    def spy(*args):
        guesses.append(real(*args))
        return guesses[-1]

    monkeypatch.setattr(rec_mod, "_sample_thresholds", spy)
    rng = np.random.default_rng(6)
    u, v = _tied_factors(rng, 4000, 120, f=4)  # m = 300 >= 256: a sample of 427 users
    res = recommend(u, v, 7, 300, normalize_items=False, batch_size=333, num_threads=2)
    assert len(guesses) == 1 and guesses[0] is not None
    _assert_exact(res, _exact_scores(u, v), 7, 300)


def test_guess_too_high_rescores_the_items_that_fell_short(monkeypatch, caplog):
    """With a guess that about m / 2 users reach, most items get fewer than m users
    above it: they are scored again from scratch, and the result is still exact."""
    monkeypatch.setattr(rec_mod, "_SAMPLE_RANK", 16)
    monkeypatch.setattr(rec_mod, "_SAMPLE_SAFETY", 0.5)
    rng = np.random.default_rng(7)
    u = rng.integers(-40, 41, (4000, 6)).astype(np.float32)
    v = rng.integers(-40, 41, (90, 6)).astype(np.float32)
    with caplog.at_level(logging.INFO, logger="coldstart.recommend"):
        res = recommend(u, v, 3, 300, normalize_items=False, batch_size=512, num_threads=2)
    assert "fell short of the sampled guess" in caplog.text
    _assert_exact(res, _exact_scores(u, v), 3, 300)


# ---------------------------------------------------------------------------
# Kernels
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kernels():
    return rec_mod._kernels()


def test_kth_largest_with_ties(kernels):
    rng = np.random.default_rng(8)
    tmp = np.empty(500, np.float32)
    for size in (1, 2, 3, 17, 500):
        a = rng.integers(0, 5, size).astype(np.float32)
        before = a.copy()
        for k in {1, size // 2 + 1, size}:
            assert rec_mod._kth_largest(a, size, k, tmp) == np.sort(a)[::-1][k - 1]
        np.testing.assert_array_equal(a, before)  # works on a copy


def test_keep_best_and_shrink_keep_the_top_in_index_order(kernels):
    rng = np.random.default_rng(9)
    hist = np.empty(rec_mod._HIST_BINS, np.int64)
    bins = np.empty(600, np.uint8)
    tmp = np.empty(600, np.float32)
    for values in (rng.standard_normal(600), rng.integers(0, 3, 600), np.zeros(600)):
        s0 = values.astype(np.float32)
        i0 = np.arange(600, dtype=np.int32) * 3
        best = np.argsort(-s0, kind="stable")[:400]
        s, i = s0.copy(), i0.copy()
        t = rec_mod._keep_best(s, i, 600, 400, tmp)
        np.testing.assert_array_equal(i[:400], np.sort(i0[best]))
        assert t == s0[best[-1]]
        s, i = s0.copy(), i0.copy()
        kept, t = rec_mod._shrink(s, i, 600, 400, hist, bins, tmp)
        assert 400 <= kept <= 500 and (s[:kept] >= t).sum() >= 400
        assert np.all(np.diff(i[:kept]) > 0)  # still in index order
        assert set(i0[best]) <= set(i[:kept])  # nothing of the top 400 was dropped


# ---------------------------------------------------------------------------
# Memory, result container, progress, lazy imports
# ---------------------------------------------------------------------------


def test_memory_is_bounded_by_a_batch_not_the_score_matrix():
    rng = np.random.default_rng(10)
    n_users, n_items = 20_000, 2_000  # the full float32 score matrix: 160 MB
    u = rng.standard_normal((n_users, 8), dtype=np.float32)
    v = rng.standard_normal((n_items, 8), dtype=np.float32)
    recommend(u[:64], v[:64], 5, 5)  # load the kernels first
    tracemalloc.start()
    try:
        recommend(u, v, 50, 100, batch_size=256, num_threads=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # outputs 8 MB + audience buffers 2.6 MB + one batch of scores 2 MB
    assert peak < 30e6, peak


def test_result_is_frozen_and_read_only():
    rng = np.random.default_rng(11)
    u, v = _tied_factors(rng, 20, 10)
    res = recommend(u, v, 3, 3)
    with pytest.raises(AttributeError):
        res.user_items = None  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        res.item_scores[0, 0] = 1.0


def test_progress_bar_runs():
    rng = np.random.default_rng(12)
    u, v = _tied_factors(rng, 50, 20)
    res = recommend(u, v, 3, 3, batch_size=16, progress=True, normalize_items=False)
    _assert_exact(res, _exact_scores(u, v), 3, 3)


def test_import_is_cheap():
    code = (
        "import sys, coldstart.recommend; "
        "print(sorted(m for m in ('numba', 'faiss', 'threadpoolctl', 'tqdm') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def test_error_messages():
    u = np.ones((6, 4), np.float32)
    v = np.ones((9, 4), np.float32)
    with pytest.raises(ValueError, match=r"user_factors \(6, 4\) and item_factors \(9, 3\)"):
        recommend(u, v[:, :3])
    with pytest.raises(ValueError, match="n_per_user must be an integer >= 0"):
        recommend(u, v, -1)
    with pytest.raises(ValueError, match="n_per_item must be an integer >= 0"):
        recommend(u, v, 5, -2)
    with pytest.raises(ValueError, match="n_per_user must be an integer >= 0"):
        recommend(u, v, 2.5)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        recommend(u, v, batch_size=0)
    with pytest.raises(ValueError, match="num_threads must be an integer >= 1"):
        recommend(u, v, num_threads=0)
    with pytest.raises(ValueError, match="2-D"):
        recommend(u[0], v)
    with pytest.raises(TypeError, match="numeric"):
        recommend(u.astype(str), v)
    with pytest.raises(TypeError, match="sparse"):
        recommend(sp.csr_matrix(u), v)
    bad = v.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="item_factors contains NaN"):
        recommend(u, bad)
    bad = u.copy()
    bad[4, 0] = np.inf
    with pytest.raises(ValueError, match="user_factors contains NaN"):
        recommend(bad, v)
    with pytest.raises(ValueError, match="could overflow"):
        recommend(u * np.float32(1e30), v * np.float32(1e30), normalize_items=False)


# ---------------------------------------------------------------------------
# Approximate audiences (faiss)
# ---------------------------------------------------------------------------


def _clustered(rng: np.random.Generator, n_users: int, n_items: int, f: int = 16, k: int = 20):
    centers = rng.standard_normal((k, f)).astype(np.float32) * 3
    u = centers[rng.integers(0, k, n_users)] + rng.standard_normal((n_users, f), np.float32) * 0.5
    v = centers[rng.integers(0, k, n_items)] + rng.standard_normal((n_items, f), np.float32) * 0.5
    return u.astype(np.float32), v.astype(np.float32)


def test_faiss_recall_on_clustered_factors():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(13)
    u, v = _clustered(rng, 20_000, 200)
    exact = recommend(u, v, 0, 100).item_users
    users, scores = approximate_audience(u, v, 100, nlist=64, nprobe=8, num_threads=2)
    assert users.shape == scores.shape == (200, 100)
    assert users.dtype == np.int32 and scores.dtype == np.float32
    hits = sum(np.intersect1d(a, e).size for a, e in zip(users, exact, strict=True))
    assert hits / exact.size > 0.9
    assert np.all(np.diff(scores, axis=1) <= 0)  # best first


def test_faiss_pads_short_audiences():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(14)
    u, v = _clustered(rng, 2_000, 10, k=8)
    users, scores = approximate_audience(u, v, 2_000, nlist=16, nprobe=1)
    assert (users == -1).any()
    np.testing.assert_array_equal(users == -1, np.isneginf(scores))
    found = users[0][users[0] >= 0]
    assert np.unique(found).size == found.size


def test_faiss_validation_and_missing_module(monkeypatch):
    u = np.ones((6, 4), np.float32)
    v = np.ones((9, 4), np.float32)
    with pytest.raises(ValueError, match="m must be an integer >= 0"):
        approximate_audience(u, v, -1)
    with pytest.raises(ValueError, match="nprobe must be an integer >= 1"):
        approximate_audience(u, v, 3, nprobe=0)
    with pytest.raises(ValueError, match=r"user_factors \(6, 4\) and item_factors \(9, 3\)"):
        approximate_audience(u, v[:, :3], 3)
    users, scores = approximate_audience(u, v, 0)
    assert users.shape == scores.shape == (9, 0)
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(ImportError, match="pip install faiss-cpu"):
        approximate_audience(u, v, 3)
