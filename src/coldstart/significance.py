"""Paired significance tests and bootstrap intervals on per-user average precision.

The paper claims every difference of its Table 2 is significant (p < 0.01) under
a paired t-test over users. The AP vectors of two rows are paired by user (every
row of a table is evaluated on the same users, in the same order). A table of n
rows makes n (n - 1) / 2 comparisons, so its p-values are also given Holm-adjusted
over that family (Holm 1979), which controls the family-wise error rate; the
table's marks use the adjusted ones.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd


def holm_adjust(p_values: np.ndarray | list[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values of one family of hypotheses.

    With the m p-values sorted ascending, p_(1) <= ... <= p_(m), the adjusted
    value of p_(i) is ``min(1, max_{j <= i} (m - j + 1) p_(j))``. Holm's procedure
    at level alpha (reject while ``p_(i) <= alpha / (m - i + 1)``) rejects exactly
    the hypotheses whose adjusted p-value is <= alpha.

    Parameters
    ----------
    p_values
        1-D p-values in [0, 1]. NaN entries stay NaN and are not counted in m.

    Returns
    -------
    numpy.ndarray
        float64 adjusted p-values in the input order.
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p_values must be 1-D, got shape {p.shape}")
    adjusted = np.full(p.shape, np.nan)
    present = ~np.isnan(p)
    family = p[present]
    if ((family < 0) | (family > 1)).any():
        raise ValueError("p-values must lie in [0, 1]")
    m = family.size
    if m == 0:
        return adjusted
    order = np.argsort(family, kind="stable")
    # the running maximum keeps the adjusted values monotone in the raw ones
    stepped = np.maximum.accumulate((m - np.arange(m)) * family[order])
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    adjusted[present] = out
    return adjusted


def paired_tests(user_ap: dict[str, np.ndarray]) -> pd.DataFrame:
    """Paired t-test and Wilcoxon signed-rank test for every pair of rows.

    Parameters
    ----------
    user_ap
        ``approach -> per-user AP vector``; all vectors have the same length.

    Returns
    -------
    pandas.DataFrame
        One line per unordered pair: ``a, b, map_a, map_b, mean_difference,
        t_statistic, p_ttest, p_ttest_holm, w_statistic, p_wilcoxon,
        p_wilcoxon_holm, n_users``. The ``_holm`` columns are Holm-adjusted over
        all the pairs of this call (the family: one results table). When two rows
        agree on every user the tests are undefined and their p-values are 1.
    """
    from scipy import stats

    lengths = {name: len(vector) for name, vector in user_ap.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"per-user AP vectors differ in length (not paired): {lengths}")
    records = []
    for a, b in combinations(user_ap, 2):
        x = np.asarray(user_ap[a], dtype=np.float64)
        y = np.asarray(user_ap[b], dtype=np.float64)
        difference = x - y
        if not np.any(difference):
            t_stat, p_t, w_stat, p_w = 0.0, 1.0, 0.0, 1.0
        else:
            t_stat, p_t = stats.ttest_rel(x, y)
            w_stat, p_w = stats.wilcoxon(x, y, zero_method="wilcox")
        records.append(
            {
                "a": a,
                "b": b,
                "map_a": x.mean(),
                "map_b": y.mean(),
                "mean_difference": difference.mean(),
                "t_statistic": float(t_stat),
                "p_ttest": float(p_t),
                "w_statistic": float(w_stat),
                "p_wilcoxon": float(p_w),
                "n_users": len(x),
            }
        )
    tests = pd.DataFrame.from_records(
        records,
        columns=[
            "a",
            "b",
            "map_a",
            "map_b",
            "mean_difference",
            "t_statistic",
            "p_ttest",
            "w_statistic",
            "p_wilcoxon",
            "n_users",
        ],
    )
    tests.insert(
        tests.columns.get_loc("p_ttest") + 1, "p_ttest_holm", holm_adjust(tests["p_ttest"])
    )
    tests.insert(
        tests.columns.get_loc("p_wilcoxon") + 1, "p_wilcoxon_holm", holm_adjust(tests["p_wilcoxon"])
    )
    return tests


def p_value(tests: pd.DataFrame, a: str, b: str, column: str = "p_ttest") -> float | None:
    """The p-value of the pair ``(a, b)`` in either order, or None when absent."""
    match = tests[((tests["a"] == a) & (tests["b"] == b)) | ((tests["a"] == b) & (tests["b"] == a))]
    return None if match.empty else float(match[column].iloc[0])


def bootstrap_interval(
    values: np.ndarray, samples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over users (resampling users).

    ``scipy.stats.bootstrap`` with ``method="percentile"``. The resamples are drawn in
    batches of at most two million indices, so that a million users need no
    samples x users index matrix; the batches also fix the draws: the same seed,
    sample count and number of users give the same interval.
    """
    from scipy import stats

    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return float("nan"), float("nan")
    if len(values) == 1:  # scipy needs two observations; every resample is the one value
        return float(values[0]), float(values[0])
    result = stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=samples,
        batch=max(1, 2_000_000 // len(values)),
        confidence_level=confidence,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    interval = result.confidence_interval
    return float(interval.low), float(interval.high)


def not_significant_from(
    tests: pd.DataFrame, alpha: float, column: str = "p_ttest_holm"
) -> dict[str, list[str]]:
    """For every row, the rows it is NOT significantly different from (``column`` >= alpha).

    The default is the Holm-adjusted t-test p-value, so that "every other
    difference is significant at alpha" holds for the table as a whole.
    """
    out: dict[str, list[str]] = {
        name: [] for name in pd.unique(tests[["a", "b"]].to_numpy().ravel())
    }
    for a, b, p in zip(tests["a"], tests["b"], tests[column], strict=True):
        if not p < alpha:  # NaN counts as not significant
            out[a].append(b)
            out[b].append(a)
    return out
