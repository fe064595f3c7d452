"""The results table's ° marks and footnote follow Holm-adjusted p-values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from coldstart.pipelines.evaluation.nodes import assemble_table
from coldstart.significance import holm_adjust


def _row(approach: str, order: int, ap: np.ndarray) -> dict:
    metrics = {
        "map_at_500": float(ap.mean()),
        "map_at_500_active": float(ap.mean()),
        "recall_at_500": 0.5,
        "ndcg_at_500": 0.5,
        "n_users": len(ap),
    }
    return {"row": {"approach": approach, "table": "artist", "order": order}, "metrics": metrics}


def test_marks_and_footnote_use_holm_over_the_pairs_of_the_table() -> None:
    n = 400
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(n)
    noise = (noise - noise.mean()) / noise.std(ddof=1)
    base = rng.uniform(0.2, 0.3, n)
    # a vs b: paired t = 2.7 (raw p ~ 0.007, below 0.01) ...
    delta = 2.7 * 0.01 / np.sqrt(n)
    aps = {
        "a": base,
        "b": base + delta + 0.01 * noise,
        # ... c and d far from both and apart (p ~ 0), e equal to d but for noise
        "c": base + 0.05 + 0.01 * rng.permutation(noise),
        "d": base + 0.10 + 0.01 * rng.permutation(noise),
        "e": base + 0.10 + 0.02 * rng.permutation(noise),
    }
    p_ab = stats.ttest_rel(aps["a"], aps["b"]).pvalue
    assert 0.005 < p_ab < 0.01
    names = list(aps)
    results = [_row(name, i, aps[name]) for i, name in enumerate(names)]
    runs = [{"logged": False} for _ in names]
    frame, markdown, tests, figure = assemble_table(
        {"k": 500}, {"alpha": 0.01, "bootstrap": {"samples": 50}}, *results, *aps.values(), *runs
    )
    assert len(tests) == 10
    np.testing.assert_allclose(tests["p_ttest_holm"], holm_adjust(tests["p_ttest"]))
    holm_ab = tests.loc[(tests["a"] == "a") & (tests["b"] == "b"), "p_ttest_holm"].item()
    assert holm_ab >= 0.01  # ranked 9th of 10 p-values: x2, and d ~ e (rank 10) is larger
    lines = {line.split(" | ")[0].lstrip("| "): line for line in markdown.splitlines()}
    # raw p < 0.01 would leave a and b unmarked; Holm marks them
    assert "°" in lines["a"] and "°" in lines["b"] and "°" not in lines["c"]
    assert "°" in lines["d"] and "°" in lines["e"]
    assert "Holm-adjusted over the 10 pairs of this table" in markdown
    assert "a ~ b" in markdown and "d ~ e" in markdown
    import matplotlib.pyplot as plt

    plt.close(figure)


@pytest.mark.parametrize("alpha", [0.01, 0.05])
def test_footnote_when_nothing_is_marked(alpha: float) -> None:
    rng = np.random.default_rng(1)
    base = rng.uniform(0.1, 0.2, 300)
    aps = {"a": base, "b": base + 0.05 + 0.001 * rng.standard_normal(300)}
    results = [_row(name, i, ap) for i, (name, ap) in enumerate(aps.items())]
    _, markdown, tests, figure = assemble_table(
        {"k": 500}, {"alpha": alpha, "bootstrap": {"samples": 20}}, *results, *aps.values(),
        {"logged": False}, {"logged": False},
    )  # fmt: skip
    assert "°" not in markdown.split("\n\n")[0]
    assert f"Every difference is significant at p < {alpha}" in markdown
    assert "over the 1 pairs" in markdown and "none is marked °" in markdown
    import matplotlib.pyplot as plt

    plt.close(figure)
