"""Significance tests on per-user AP vectors, checked against SciPy directly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from coldstart.significance import (
    bootstrap_interval,
    holm_adjust,
    not_significant_from,
    p_value,
    paired_tests,
)


def test_paired_tests_match_scipy_on_hand_made_vectors() -> None:
    a = np.array([0.10, 0.20, 0.00, 0.40, 0.30, 0.25, 0.05, 0.15])
    b = np.array([0.05, 0.10, 0.00, 0.35, 0.10, 0.20, 0.05, 0.05])
    c = a + np.array([0.01, -0.02, 0.03, -0.01, 0.02, -0.03, 0.01, -0.01])
    tests = paired_tests({"a": a, "b": b, "c": c})
    assert len(tests) == 3
    t, p = stats.ttest_rel(a, b)
    w, pw = stats.wilcoxon(a, b)
    record = tests[(tests["a"] == "a") & (tests["b"] == "b")].iloc[0]
    assert record["t_statistic"] == pytest.approx(t)
    assert record["p_ttest"] == pytest.approx(p)
    assert record["p_wilcoxon"] == pytest.approx(pw)
    assert record["w_statistic"] == pytest.approx(w)
    assert p_value(tests, "b", "a") == pytest.approx(p)
    assert p_value(tests, "a", "c") == pytest.approx(stats.ttest_rel(a, c).pvalue)
    # a vs c differ by noise only: not significant at 0.01; a vs b is
    ties = not_significant_from(tests, 0.01)
    assert "c" in ties["a"] and "a" in ties["c"]


def test_identical_rows_are_not_significant() -> None:
    a = np.array([0.1, 0.2, 0.3])
    tests = paired_tests({"x": a, "y": a.copy()})
    assert tests["p_ttest"].item() == 1.0 and tests["p_wilcoxon"].item() == 1.0


def test_unpaired_vectors_are_refused() -> None:
    with pytest.raises(ValueError, match="not paired"):
        paired_tests({"x": np.zeros(3), "y": np.zeros(4)})


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_users() -> None:
    rng = np.random.default_rng(0)
    small = rng.exponential(0.05, size=100)
    large = rng.exponential(0.05, size=10_000)
    lo_s, hi_s = bootstrap_interval(small, samples=500, seed=1)
    lo_l, hi_l = bootstrap_interval(large, samples=500, seed=1)
    assert lo_s < small.mean() < hi_s and lo_l < large.mean() < hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s) / 5
    assert bootstrap_interval(small, samples=500, seed=1) == (lo_s, hi_s)


def _hand_written_bootstrap(values, samples, confidence, seed):
    """The interval as the project computed it before scipy.stats.bootstrap did it."""
    rng = np.random.default_rng(seed)
    means = np.empty(samples)
    chunk = max(1, 2_000_000 // len(values))
    for start in range(0, samples, chunk):
        stop = min(samples, start + chunk)
        idx = rng.integers(0, len(values), size=(stop - start, len(values)))
        means[start:stop] = values[idx].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    return tuple(float(q) for q in np.quantile(means, [tail, 1.0 - tail]))


@pytest.mark.parametrize("n_users", [2, 7, 999, 40_001, 250_000])
@pytest.mark.parametrize("samples", [1, 10, 1001])
def test_scipy_bootstrap_gives_the_former_intervals(n_users: int, samples: int) -> None:
    """Same seed and resamples: the same draws (batches of at most two million indices),
    the same percentile interval. scipy's linear quantile may round the last bit
    differently from numpy's, hence the 1e-15 relative tolerance, far below anything the
    tables print."""
    values = np.random.default_rng(n_users).random(n_users) ** 3
    for seed in (0, 17):
        ours = bootstrap_interval(values, samples, 0.95, seed)
        np.testing.assert_allclose(
            ours, _hand_written_bootstrap(values, samples, 0.95, seed), rtol=1e-15, atol=0
        )
    assert bootstrap_interval(values[:1], samples) == (values[0], values[0])


# --------------------------------------------------------------------------- Holm


def _holm_plain(p: np.ndarray) -> np.ndarray:
    """Holm (1979) as written: sort, scale the i-th smallest by m - i + 1, running max, cap 1."""
    m = len(p)
    order = sorted(range(m), key=lambda i: (p[i], i))
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order, start=1):
        running = max(running, (m - rank + 1) * p[i])
        adjusted[i] = min(1.0, running)
    return np.array(adjusted)


def _holm_rejections(p: np.ndarray, alpha: float) -> set[int]:
    """The step-down procedure: reject the smallest p-values while p_(i) <= alpha / (m - i + 1)."""
    m = len(p)
    rejected: set[int] = set()
    for rank, i in enumerate(np.argsort(p, kind="stable"), start=1):
        if p[i] > alpha / (m - rank + 1):
            break
        rejected.add(int(i))
    return rejected


def test_holm_adjust_hand_computed() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4 = 0.02, x3 = 0.03, x2 = 0.06, x1 = 0.04 -> max 0.06
    np.testing.assert_allclose(holm_adjust([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    # capped at 1; tied p-values get the same adjusted value
    np.testing.assert_allclose(holm_adjust([0.5, 0.6]), [1.0, 1.0])
    np.testing.assert_allclose(holm_adjust([0.01, 0.2, 0.01]), [0.03, 0.2, 0.03])
    # NaN stays NaN and is not counted in the family
    np.testing.assert_allclose(holm_adjust([np.nan, 0.01, 0.02]), [np.nan, 0.02, 0.02])
    assert holm_adjust([]).shape == (0,)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm_adjust([0.2, 1.5])


@pytest.mark.parametrize("seed", range(5))
def test_holm_adjust_matches_the_procedure_on_random_p_values(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m = int(rng.integers(1, 60))
    # many small p-values, some exact ties, some at 0 and 1
    p = np.concatenate([rng.uniform(size=m), rng.beta(0.3, 5, size=m)])
    p[rng.integers(0, len(p), 5)] = np.round(p[rng.integers(0, len(p), 5)], 2)
    p[0], p[-1] = 0.0, 1.0
    adjusted = holm_adjust(p)
    np.testing.assert_allclose(adjusted, _holm_plain(p), rtol=1e-15, atol=0)
    assert (adjusted >= p).all() and (adjusted <= 1).all()
    for alpha in (0.001, 0.01, 0.05, 0.2):
        assert set(np.flatnonzero(adjusted <= alpha)) == _holm_rejections(p, alpha)


def test_holm_adjust_matches_statsmodels() -> None:
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    rng = np.random.default_rng(7)
    for m in (1, 2, 36, 55):
        p = rng.beta(0.5, 3, size=m)
        expected = multitest.multipletests(p, method="holm")[1]
        np.testing.assert_allclose(holm_adjust(p), expected, rtol=1e-12)


def test_paired_tests_add_holm_columns_over_the_table() -> None:
    rng = np.random.default_rng(2)
    aps = {
        name: rng.exponential(0.1, 300) + shift
        for name, shift in zip("abcd", [0, 0.01, 0.02, 0.1], strict=True)
    }
    tests = paired_tests(aps)
    assert len(tests) == 6
    np.testing.assert_allclose(tests["p_ttest_holm"], holm_adjust(tests["p_ttest"]))
    np.testing.assert_allclose(tests["p_wilcoxon_holm"], holm_adjust(tests["p_wilcoxon"]))
    assert list(tests.columns).index("p_ttest_holm") == list(tests.columns).index("p_ttest") + 1


def test_marks_use_holm_adjusted_p_values() -> None:
    """A pair significant at 0.01 raw but not after Holm over the table is marked."""
    tests = pd.DataFrame(
        {
            "a": ["x", "x", "x", "y", "y", "z"],
            "b": ["y", "z", "w", "z", "w", "w"],
            # sorted: 1e-9 x4 ranks, then 0.006 (rank 5: x2 -> 0.012), 0.5
            "p_ttest": [0.006, 1e-9, 1e-9, 1e-9, 1e-9, 0.5],
        }
    )
    tests["p_ttest_holm"] = holm_adjust(tests["p_ttest"])
    assert tests["p_ttest_holm"].iloc[0] == pytest.approx(0.012)
    raw = not_significant_from(tests, 0.01, column="p_ttest")
    holm = not_significant_from(tests, 0.01)
    assert raw["x"] == [] and raw["z"] == ["w"]
    assert holm["x"] == ["y"] and holm["y"] == ["x"] and holm["z"] == ["w"]
