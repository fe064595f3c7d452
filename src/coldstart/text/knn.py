"""ItemAttributeKNN (Gantner et al. 2010; MyMediaLite's ``ItemAttributeKNN``).

MyMediaLite 3.x (``src/MyMediaLite/ItemRecommendation/ItemKNN.cs``, ``Predict``;
``ItemAttributeKNN`` only swaps the data matrix for the item attributes) scores an
item i for a user u, with k finite (default 80) and Q = 1, as

    score(u, i) = sum_{j in N_k(i), u played j} sim(i, j) / sum_{j in N_k(i)} sim(i, j)

(0 when no neighbour the user played has a positive similarity), where sim is the
binary cosine |A_i & A_j| / sqrt(|A_i| |A_j|) (``Correlation/BinaryCosine.cs``) and
N_k(i) are the k items most similar to i among *all* items with attributes but i
itself (``Correlation/Extensions.cs``, ``GetNearestNeighbors``): cold items that no
user played are neighbours too, and count in the denominator only. With k
unlimited MyMediaLite drops the normalisation (``SumUp``); so does this class.

The denominator depends on the item only, so dividing each cold item's kept
similarities to the training items by it leaves a factor model -- user vectors =
rows of r (n_users x n_train), item vectors = normalised similarity rows
(n_items x n_train) -- and the shared evaluator scores it; the item vectors must
*not* be L2-normalised there (row ``normalize_items: false``). With binary r this
is MyMediaLite's score exactly; with play counts it is a count-weighted variant.
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
    """Cosine item-attribute kNN: cold items scored from their nearest training items.

    Parameters
    ----------
    k
        Neighbours kept per cold item (``None`` or <= 0: all items, no
        normalisation, as MyMediaLite). MyMediaLite's default is 80.
    chunk_size
        Cold items processed per block (bounds the dense block in memory).

    Notes
    -----
    The neighbour candidates are the training items and the ``other`` items given
    to :meth:`fit` (items with attributes but no training feedback, e.g. the
    validation and test items, as in a MyMediaLite run given every item's
    attributes). Ties at the k-th neighbour are broken by candidate order (training
    items first, then the other items, each in the order given); MyMediaLite's
    unstable sort leaves that order unspecified.
    """

    def __init__(self, k: int | None = 80, chunk_size: int = 2048) -> None:
        self.k = int(k) if k else None
        if self.k is not None and self.k <= 0:
            self.k = None
        self.chunk_size = int(chunk_size)
        self.train_attributes_: sp.csr_matrix | None = None
        self.other_attributes_: sp.csr_matrix | None = None

    def fit(self, train_attributes: Any, other_attributes: Any = None) -> ItemAttributeKNN:
        """Store the L2-normalised attribute rows of the neighbour candidates.

        Parameters
        ----------
        train_attributes
            (n_train x n_attributes) rows of the items users interacted with: the
            columns of the item vectors.
        other_attributes
            Optional (n_other x n_attributes) rows of further neighbour candidates
            without training feedback: they enter the normalisation only.
        """
        self.train_attributes_ = _l2_rows(train_attributes)
        self.other_attributes_ = None if other_attributes is None else _l2_rows(other_attributes)
        if (
            self.other_attributes_ is not None
            and self.other_attributes_.shape[1] != self.train_attributes_.shape[1]
        ):
            raise ValueError(
                f"other_attributes has {self.other_attributes_.shape[1]} attributes, "
                f"train_attributes {self.train_attributes_.shape[1]}"
            )
        return self

    @property
    def n_train(self) -> int:
        if self.train_attributes_ is None:
            raise ValueError("ItemAttributeKNN is not fitted")
        return self.train_attributes_.shape[0]

    def similarity(self, attributes: Any, other_index: np.ndarray | None = None) -> np.ndarray:
        """Dense float32 (n_items x n_train) cosine similarities to the kept training neighbours.

        Parameters
        ----------
        attributes
            (n_items x n_attributes) rows of the items to score.
        other_index
            For each item, its row among the ``other`` items of :meth:`fit` (-1 if
            none), so that it is not its own neighbour.
        """
        return self._neighbours(attributes, other_index)[0]

    def item_vectors(self, attributes: Any, other_index: np.ndarray | None = None) -> np.ndarray:
        """MyMediaLite's item vectors: kept similarities over the sum of all kept similarities.

        ``user_vector @ item_vector`` with a binary user vector is MyMediaLite's
        score. An item with no neighbour of positive similarity gets a zero row
        (score 0 for every user, MyMediaLite's ``if (sum == 0) return 0``). With
        ``k`` unlimited the similarities are returned unnormalised (MyMediaLite's
        ``SumUp`` branch). Parameters as :meth:`similarity`.
        """
        train_part, neighbour_sum = self._neighbours(attributes, other_index)
        if self.k is None:
            return train_part
        scale = np.divide(
            1.0, neighbour_sum, out=np.zeros_like(neighbour_sum), where=neighbour_sum > 0
        )
        return (train_part * scale[:, None]).astype(np.float32)

    def _neighbours(
        self, attributes: Any, other_index: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Kept similarities to the training items and the float64 sum over all kept neighbours."""
        from tqdm.auto import tqdm

        if self.train_attributes_ is None:
            raise ValueError("ItemAttributeKNN is not fitted")
        queries = _l2_rows(attributes)
        n_items, n_train = queries.shape[0], self.n_train
        others = getattr(self, "other_attributes_", None)  # absent in pre-normalisation pickles
        n_other = 0 if others is None else others.shape[0]
        if other_index is None:
            other_index = np.full(n_items, -1, np.int64)
        other_index = np.asarray(other_index, dtype=np.int64)
        if other_index.shape != (n_items,) or (other_index >= n_other).any():
            raise ValueError(
                f"other_index must give, for each of the {n_items} items, a row among the "
                f"{n_other} other items or -1"
            )
        train_t = self.train_attributes_.T.tocsc()
        other_t = None if others is None else others.T.tocsc()
        out = np.zeros((n_items, n_train), dtype=np.float32)
        neighbour_sum = np.zeros(n_items, dtype=np.float64)
        boundary_ties = 0
        starts = range(0, n_items, self.chunk_size)
        for start in tqdm(starts, desc="item-attribute kNN", disable=len(starts) < 4):
            stop = min(start + self.chunk_size, n_items)
            block = (queries[start:stop] @ train_t).toarray()
            if other_t is not None:
                block = np.hstack([block, (queries[start:stop] @ other_t).toarray()])
            block = np.asarray(block, dtype=np.float32)
            rows = np.flatnonzero(other_index[start:stop] >= 0)
            # an item is not its own neighbour (MyMediaLite: entities.Remove(entity_id))
            block[rows, n_train + other_index[start:stop][rows]] = -np.inf
            if self.k is not None and self.k < block.shape[1]:
                # keep the k largest similarities of each row (stable: candidate order on ties)
                order = np.argsort(-block, axis=1, kind="stable")
                ranked = np.take_along_axis(block, order[:, self.k - 1 : self.k + 1], axis=1)
                boundary_ties += int(((ranked[:, 0] == ranked[:, 1]) & (ranked[:, 0] > 0)).sum())
                np.put_along_axis(block, order[:, self.k :], 0.0, axis=1)
            block[rows, n_train + other_index[start:stop][rows]] = 0.0
            out[start:stop] = block[:, :n_train]
            neighbour_sum[start:stop] = block.sum(axis=1, dtype=np.float64)
        if boundary_ties:
            logger.info(
                "item-attribute kNN: %d of %d items have a tie at their k-th neighbour "
                "(k = %d), broken by candidate order",
                boundary_ties,
                n_items,
                self.k,
            )
        return out, neighbour_sum


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
