"""Vector space models of artists: tf-idf of biographies and bags of tags.

Every matrix built here has one row per artist in ``item_idx`` order (the row
order of every artist-level array, docs/architecture.md), and every vocabulary
is learned from **train** artists only, then applied to all artists.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
TEXT_SOURCES = ("biography", "enriched")
TAG_WEIGHTINGS = ("tfidf", "weight", "binary")


def order_by_item_idx(artists: pd.DataFrame) -> pd.DataFrame:
    """``artists`` sorted by ``item_idx``, checked to be exactly ``0..n-1``.

    Rows of every matrix built from it are then rows of the artist-level arrays.
    """
    required = {"artist_id", "split", "item_idx"}
    missing = required - set(artists.columns)
    if missing:
        raise ValueError(f"`artists` lacks columns {sorted(missing)}")
    ordered = artists.sort_values("item_idx", kind="stable").reset_index(drop=True)
    idx = ordered["item_idx"].to_numpy()
    if not np.array_equal(idx, np.arange(len(ordered))):
        raise ValueError("`artists.item_idx` must be exactly 0..n_artists-1 (one row per artist)")
    unknown = set(ordered["split"].unique()) - set(SPLITS)
    if unknown:
        raise ValueError(f"`artists.split` has unknown values {sorted(unknown)}")
    return ordered


def split_rows(artists: pd.DataFrame) -> dict[str, np.ndarray]:
    """``{"train": item_idx array, "val": ..., "test": ...}`` in ``item_idx`` order."""
    ordered = order_by_item_idx(artists)
    return {
        split: ordered.loc[ordered["split"] == split, "item_idx"].to_numpy(dtype=np.int64)
        for split in SPLITS
    }


def artist_documents(
    artists: pd.DataFrame, artists_enriched: pd.DataFrame | None, source: str
) -> list[str]:
    """One text per artist (``item_idx`` order): the plain or the enriched biography.

    Parameters
    ----------
    artists
        The ``artists`` table (``artist_id``, ``split``, ``biography``, ``item_idx``).
    artists_enriched
        ``artist_id``, ``biography_enriched``; aligned to ``artists`` by ``artist_id``
        (an artist missing there gets its plain biography, with a warning).
    source
        ``biography`` or ``enriched``.
    """
    ordered = order_by_item_idx(artists)
    plain = ordered["biography"].fillna("").astype(str)
    if source == "biography":
        return plain.tolist()
    if source != "enriched":
        raise ValueError(
            f"features.source must be one of {TEXT_SOURCES + ('tags',)}, got {source!r}"
        )
    if artists_enriched is None:
        raise ValueError("features.source 'enriched' needs the `artists_enriched` table")
    enriched = (
        artists_enriched.drop_duplicates("artist_id")
        .set_index("artist_id")["biography_enriched"]
        .reindex(ordered["artist_id"])
    )
    n_missing = int(enriched.isna().sum())
    if n_missing:
        logger.warning(
            "%d of %d artists have no enriched biography; using their plain biography",
            n_missing,
            len(ordered),
        )
    texts = enriched.to_numpy(dtype=object)
    return [str(e) if isinstance(e, str) else p for e, p in zip(texts, plain, strict=True)]


def fit_tfidf(train_documents: list[str], **tfidf: Any) -> Any:
    """A scikit-learn ``TfidfVectorizer`` fitted on the train artists' documents.

    Keyword arguments are ``TfidfVectorizer`` arguments (``sublinear_tf``,
    ``max_df``, ``max_features``, ...); ``dtype`` defaults to float32.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    kwargs = {"dtype": np.float32, **tfidf}
    if isinstance(kwargs.get("dtype"), str):
        kwargs["dtype"] = np.dtype(kwargs["dtype"]).type
    vectorizer = TfidfVectorizer(**kwargs)
    vectorizer.fit(train_documents)
    logger.info(
        "tf-idf fitted on %d train documents: %d terms",
        len(train_documents),
        len(vectorizer.vocabulary_),
    )
    return vectorizer


class TagVectorizer:
    """Artist x tag matrix, vocabulary learned from train artists (a bag of tags).

    Each distinct tag (lower-cased, stripped) is one feature, multi-word tags
    included. Values by ``weighting``:

    * ``binary`` -- 1 for every tag the artist has (MyMediaLite's attribute data);
    * ``weight`` -- the Last.fm weight / 100;
    * ``tfidf``  -- tf x idf with tf = max(weight, ``min_weight``) (1 + log tf when
      ``sublinear_tf``) and scikit-learn's smoothed idf from train document
      frequencies.

    Rows are then L2-normalised when ``norm == "l2"``.

    Parameters
    ----------
    weighting
        ``tfidf``, ``weight`` or ``binary``.
    sublinear_tf, min_weight
        See above.
    max_df, min_df
        Document-frequency cut-offs over train artists (float = fraction, int = count).
    max_features
        Keep the most frequent tags (train document frequency, ties by name).
    norm
        ``l2`` or ``None``.
    """

    def __init__(
        self,
        weighting: str = "tfidf",
        sublinear_tf: bool = True,
        min_weight: float = 1.0,
        max_df: float | int = 1.0,
        min_df: float | int = 1,
        max_features: int | None = None,
        norm: str | None = "l2",
    ) -> None:
        if weighting not in TAG_WEIGHTINGS:
            raise ValueError(f"weighting must be one of {TAG_WEIGHTINGS}, got {weighting!r}")
        if norm not in (None, "l2"):
            raise ValueError(f"norm must be 'l2' or null, got {norm!r}")
        self.weighting = weighting
        self.sublinear_tf = sublinear_tf
        self.min_weight = float(min_weight)
        self.max_df = max_df
        self.min_df = min_df
        self.max_features = max_features
        self.norm = norm
        self.vocabulary_: dict[str, int] = {}
        self.idf_: np.ndarray = np.zeros(0, dtype=np.float32)

    @staticmethod
    def _clean(artist_tags: pd.DataFrame) -> pd.DataFrame:
        frame = artist_tags[["artist_id", "tag", "weight"]].copy()
        frame["tag"] = frame["tag"].astype(str).str.strip().str.lower()
        frame["weight"] = pd.to_numeric(frame["weight"], errors="coerce").fillna(0.0)
        frame = frame[frame["tag"] != ""]
        # one value per (artist, tag): the largest weight
        return frame.groupby(["artist_id", "tag"], as_index=False, sort=True)["weight"].max()

    @staticmethod
    def _threshold(value: float | int, n_docs: int) -> float:
        return value * n_docs if isinstance(value, float) else float(value)

    def fit(self, artist_ids: list[str] | np.ndarray, artist_tags: pd.DataFrame) -> TagVectorizer:
        """Learn the tag vocabulary and idf from the given (train) artists."""
        ids = pd.Index(artist_ids)
        tags = self._clean(artist_tags)
        tags = tags[tags["artist_id"].isin(ids)]
        n_docs = len(ids)
        df = tags.groupby("tag")["artist_id"].nunique()
        keep = (df >= self._threshold(self.min_df, n_docs)) & (
            df <= self._threshold(self.max_df, n_docs)
        )
        df = df[keep]
        order = sorted(df.items(), key=lambda item: (-item[1], item[0]))
        if self.max_features is not None:
            order = order[: int(self.max_features)]
        if not order:
            raise ValueError(
                f"No tag left after the document-frequency cut-offs (min_df={self.min_df}, "
                f"max_df={self.max_df}) on {n_docs} train artists"
            )
        vocab_tags = sorted(tag for tag, _ in order)
        self.vocabulary_ = {tag: i for i, tag in enumerate(vocab_tags)}
        df_vec = np.array([df[tag] for tag in vocab_tags], dtype=np.float64)
        self.idf_ = (np.log((1.0 + n_docs) / (1.0 + df_vec)) + 1.0).astype(np.float32)
        logger.info("tag vocabulary fitted on %d train artists: %d tags", n_docs, len(vocab_tags))
        return self

    def transform(
        self, artist_ids: list[str] | np.ndarray, artist_tags: pd.DataFrame
    ) -> sp.csr_matrix:
        """CSR float32, one row per artist id in the given order."""
        if not self.vocabulary_:
            raise ValueError("TagVectorizer is not fitted")
        ids = pd.Index(artist_ids)
        tags = self._clean(artist_tags)
        tags = tags[tags["artist_id"].isin(ids) & tags["tag"].isin(self.vocabulary_.keys())]
        rows = ids.get_indexer(tags["artist_id"])
        cols = tags["tag"].map(self.vocabulary_).to_numpy(dtype=np.int64)
        weight = tags["weight"].to_numpy(dtype=np.float64)
        return self._matrix(rows, cols, weight, len(ids))

    def transform_lists(self, tag_lists: list[list[tuple[str, float]]]) -> sp.csr_matrix:
        """:meth:`transform` of one artist per list of ``(tag, weight)`` pairs.

        The same cleaning (tags stripped and lower-cased, empty ones dropped, the
        largest weight of a repeated tag) in plain Python: a served request has a
        handful of artists, for which the pandas route costs tens of milliseconds.
        """
        if not self.vocabulary_:
            raise ValueError("TagVectorizer is not fitted")
        cells: dict[tuple[int, int], float] = {}
        for row, pairs in enumerate(tag_lists):
            for tag, weight in pairs:
                col = self.vocabulary_.get(str(tag).strip().lower())
                if col is not None:
                    value = 0.0 if np.isnan(float(weight)) else float(weight)
                    cells[(row, col)] = max(value, cells.get((row, col), value))
        keys = list(cells)
        return self._matrix(
            np.array([r for r, _ in keys], dtype=np.int64),
            np.array([c for _, c in keys], dtype=np.int64),
            np.array(list(cells.values()), dtype=np.float64),
            len(tag_lists),
        )

    def _matrix(
        self, rows: np.ndarray, cols: np.ndarray, weight: np.ndarray, n_rows: int
    ) -> sp.csr_matrix:
        """The weighted, normalised CSR of (row, column, raw weight) cells."""
        if self.weighting == "binary":
            values = np.ones_like(weight)
        elif self.weighting == "weight":
            values = weight / 100.0
        else:
            tf = np.maximum(weight, self.min_weight)
            if self.sublinear_tf:
                tf = 1.0 + np.log(tf)
            values = tf * self.idf_[cols]
        matrix = sp.csr_matrix(
            (values.astype(np.float32), (rows, cols)),
            shape=(n_rows, len(self.vocabulary_)),
            dtype=np.float32,
        )
        if self.norm == "l2":
            norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
            scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
            matrix = sp.diags(scale.astype(np.float32)) @ matrix
        return sp.csr_matrix(matrix, dtype=np.float32)

    def get_feature_names_out(self) -> np.ndarray:
        return np.array(sorted(self.vocabulary_, key=self.vocabulary_.get), dtype=object)
