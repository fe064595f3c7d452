"""Significance tests on per-user AP vectors, checked against SciPy directly."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from coldstart.significance import bootstrap_interval, not_significant_from, p_value, paired_tests


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
