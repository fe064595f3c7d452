"""ItemAttributeKNN (Gantner et al. 2010; MyMediaLite's ``ItemAttributeKNN``).

A cold item's score for a user is the sum, over the items the user interacted
with in training, of the attribute-cosine similarity between the two items,
optionally restricted to the cold item's ``k`` most similar training items:

    score(u, i) = sum_{j in N_k(i)} sim(i, j) * r_uj

with r_uj binary (MyMediaLite) or the play count. Written as a dot product this
is a factor model -- user vectors = rows of r (n_users x n_train), item vectors
= similarity rows (n_items x n_train) -- so the shared evaluator scores it; the
item vectors must *not* be L2-normalised there (row ``normalize_items: false``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.sparse as sp

logger = logging.getLogger(__name__)


def _l2_rows(matrix: Any) -> sp.csr_matrix:
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(scale.astype(np.float32)) @ matrix, dtype=np.float32)


class ItemAttributeKNN:
    """Cosine item-attribute kNN over the training items.

    Parameters
    ----------
    k
        Neighbours kept per cold item (``None`` or <= 0: all training items).
        MyMediaLite's default is 80.
    chunk_size
        Cold items processed per block (bounds the dense block in memory).
    """

    def __init__(self, k: int | None = 80, chunk_size: int = 2048) -> None:
        self.k = int(k) if k else None
        if self.k is not None and self.k <= 0:
            self.k = None
        self.chunk_size = int(chunk_size)
        self.train_attributes_: sp.csr_matrix | None = None

    def fit(self, train_attributes: Any) -> ItemAttributeKNN:
        """Store the L2-normalised attribute rows of the training items."""
        self.train_attributes_ = _l2_rows(train_attributes)
        return self

    @property
    def n_train(self) -> int:
        if self.train_attributes_ is None:
            raise ValueError("ItemAttributeKNN is not fitted")
        return self.train_attributes_.shape[0]

    def similarity(self, attributes: Any) -> np.ndarray:
        """Dense float32 (n_items x n_train) cosine similarities, top-``k`` per row kept."""
        from tqdm.auto import tqdm

        if self.train_attributes_ is None:
            raise ValueError("ItemAttributeKNN is not fitted")
        queries = _l2_rows(attributes)
        n_items, n_train = queries.shape[0], self.n_train
        out = np.zeros((n_items, n_train), dtype=np.float32)
        train_t = self.train_attributes_.T.tocsc()
        starts = range(0, n_items, self.chunk_size)
        for start in tqdm(starts, desc="item-attribute kNN", disable=len(starts) < 4):
            stop = min(start + self.chunk_size, n_items)
            block = np.asarray((queries[start:stop] @ train_t).toarray(), dtype=np.float32)
            if self.k is not None and self.k < n_train:
                # zero all but the k largest similarities of each row (stable ties)
                order = np.argsort(-block, axis=1, kind="stable")
                drop = order[:, self.k :]
                np.put_along_axis(block, drop, 0.0, axis=1)
            out[start:stop] = block
        return out


def user_play_profiles(plays: Any, train_items: np.ndarray, binary: bool = True) -> sp.csr_matrix:
    """Sparse float32 users x train items: the training interactions r_uj.

    Kept sparse: dense, it would be 76 GB at MSD-A scale (1 M users x 19 k train
    artists); the evaluator scores sparse user rows batch by batch.

    Parameters
    ----------
    plays
        CSR users x items play counts (all splits).
    train_items
        Column indices of the training items (the kNN's neighbour set, in order).
    binary
        1 for any play (MyMediaLite's positive-only feedback) or the play counts.
    """
    profile = sp.csr_matrix(plays)[:, np.asarray(train_items)].astype(np.float32)
    if binary:
        profile.eliminate_zeros()
        profile.data = (profile.data > 0).astype(np.float32)
    return profile
