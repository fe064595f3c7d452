"""WMF and fold-in: folded-in factors are what ALS itself would give a held-out item."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coldstart.pipelines.factorization.nodes import confidence, factorize

WMF = {
    "factors": 8,
    "regularization": 0.1,
    "iterations": 20,
    "confidence": {"scaling": "log", "alpha": 2.0, "epsilon": 1.0},
    "show_progress": False,
}


def _low_rank_plays(n_users: int = 300, n_items: int = 120, rank: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    users = rng.normal(size=(n_users, rank))
    items = rng.normal(size=(n_items, rank))
    affinity = users @ items.T
    plays = (affinity > np.quantile(affinity, 0.85)) * rng.integers(1, 6, size=affinity.shape)
    return sp.csr_matrix(plays.astype(np.float32))


def test_confidence_scalings() -> None:
    plays = sp.csr_matrix(np.array([[0, 1, 3]], dtype=np.float32))
    np.testing.assert_allclose(confidence(plays, "linear", 2.0, 1.0).data, [3.0, 7.0])
    np.testing.assert_allclose(
        confidence(plays, "log", 2.0, 1.0).data, 1 + 2 * np.log1p([1.0, 3.0])
    )


def test_fold_in_recovers_held_out_items() -> None:
    plays = _low_rank_plays()
    n_items = plays.shape[1]
    split = np.array(["train"] * 90 + ["val"] * 15 + ["test"] * 15)
    items = pd.DataFrame({"split": split, "item_idx": np.arange(n_items)})
    user_factors, item_factors = factorize(plays, items, WMF, seed=1)
    assert user_factors.shape == (plays.shape[0], 8)
    assert item_factors.shape == (n_items, 8)
    assert user_factors.dtype == np.float32 and item_factors.dtype == np.float32

    # Folded-in test items rank their own listeners far above the others:
    test_columns = np.flatnonzero(split == "test")
    scores = user_factors @ item_factors[test_columns].T
    listened = plays[:, test_columns].toarray() > 0
    mean_listener = scores[listened].mean()
    mean_other = scores[~listened].mean()
    assert mean_listener > mean_other + 0.3


def test_fold_in_matches_a_direct_least_squares_solution() -> None:
    plays = _low_rank_plays(seed=2)
    split = np.array(["train"] * 100 + ["test"] * 20)
    items = pd.DataFrame({"split": split})
    user_factors, item_factors = factorize(plays, items, WMF, seed=3)
    conf = confidence(plays, "log", 2.0, 1.0).tocsc()
    gram = user_factors.T.astype(np.float64) @ user_factors
    for column in np.flatnonzero(split == "test")[:5]:
        rows = conf.indices[conf.indptr[column] : conf.indptr[column + 1]]
        c = conf.data[conf.indptr[column] : conf.indptr[column + 1]].astype(np.float64)
        u = user_factors[rows].astype(np.float64)
        a = gram + (u.T * (c - 1)) @ u + WMF["regularization"] * np.eye(8)
        b = (u.T * c).sum(axis=1)
        np.testing.assert_allclose(
            item_factors[column], np.linalg.solve(a, b), rtol=2e-3, atol=2e-3
        )
