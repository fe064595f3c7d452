"""Nodes of the text pipeline: artist text features -> artist factors (paper §3, §6.2).

Every node is a small function of DataFrames, arrays and parameter dicts. Matrices
have one row per artist in ``item_idx`` order; models train on the train artists,
early-stop on the val artists and predict the test artists (the last block of
``artists``). Targets are the L2-normalised WMF artist factors.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coldstart.models.common import l2_normalise, set_global_seed, train_factor_model
from coldstart.text.features import (
    TagVectorizer,
    artist_documents,
    fit_tfidf,
    order_by_item_idx,
    split_rows,
)

logger = logging.getLogger(__name__)

PREDICT_BATCH_SIZE = 256


# --------------------------------------------------------------------------- helpers


def _check_factors(artist_item_factors: np.ndarray, artists: pd.DataFrame) -> np.ndarray:
    factors = np.asarray(artist_item_factors, dtype=np.float32)
    if factors.ndim != 2 or factors.shape[0] != len(artists):
        raise ValueError(
            f"artist_item_factors has shape {factors.shape}; expected one row per artist "
            f"({len(artists)})"
        )
    return factors


def _train_val(
    artists: pd.DataFrame, artist_item_factors: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rows = split_rows(artists)
    for split in ("train", "val", "test"):
        if len(rows[split]) == 0:
            raise ValueError(
                f"No {split} artists: the text models need train, val and test artists"
            )
    targets = l2_normalise(_check_factors(artist_item_factors, artists))
    return rows, targets


def _fit_keras(
    network: Any,
    inputs: Any,
    targets: np.ndarray,
    rows: dict[str, np.ndarray],
    training: dict[str, Any],
    name: str,
) -> dict[str, list[float]]:
    train, val = rows["train"], rows["val"]
    logger.info(
        "%s: training on %d artists, early stopping on %d (%d parameters)",
        name,
        len(train),
        len(val),
        network.count_params(),
    )
    return train_factor_model(
        network, (inputs[train], targets[train]), (inputs[val], targets[val]), training, name
    )


def _canonical(matrix: Any) -> sp.csr_matrix:
    """float32 CSR with summed duplicates and sorted indices (what TF's sparse ops need)."""
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    matrix.sum_duplicates()
    matrix.sort_indices()
    return matrix


def _model_input(inputs: Any) -> Any:
    return _canonical(inputs) if sp.issparse(inputs) else inputs


def _row_name(row: dict[str, Any] | None, default: str) -> str:
    return str((row or {}).get("approach", default))


# --------------------------------------------------------------------------- features


def _vsm(
    artists: pd.DataFrame,
    artists_enriched: pd.DataFrame | None,
    artist_tags: pd.DataFrame | None,
    features: dict[str, Any],
) -> tuple[sp.csr_matrix, Any]:
    source = features.get("source", "biography")
    if isinstance(source, list | tuple):
        return _concatenated_vsm(artists, artists_enriched, artist_tags, features)
    ordered = order_by_item_idx(artists)
    train = (ordered["split"] == "train").to_numpy()
    if source == "tags":
        if artist_tags is None:
            raise ValueError("features.source 'tags' needs the `artist_tags` table")
        vectorizer = TagVectorizer(**(features.get("tags") or {}))
        ids = ordered["artist_id"].to_numpy()
        vectorizer.fit(ids[train], artist_tags)
        matrix = vectorizer.transform(ids, artist_tags)
    else:
        documents = artist_documents(ordered, artists_enriched, source)
        vectorizer = fit_tfidf(
            [doc for doc, is_train in zip(documents, train, strict=True) if is_train],
            **(features.get("tfidf") or {}),
        )
        matrix = vectorizer.transform(documents)
    matrix = _canonical(matrix)
    empty = int((np.diff(matrix.indptr) == 0).sum())
    logger.info(
        "VSM from %s: %d artists x %d features (%d artists with no feature)",
        source,
        matrix.shape[0],
        matrix.shape[1],
        empty,
    )
    return matrix, vectorizer


def _concatenated_vsm(
    artists: pd.DataFrame,
    artists_enriched: pd.DataFrame | None,
    artist_tags: pd.DataFrame | None,
    features: dict[str, Any],
) -> tuple[sp.csr_matrix, list[Any]]:
    """The VSMs of every source in ``features.source`` side by side, each times its weight.

    Each part is built as for a single source (and so is L2-normalised per artist);
    ``features.weights`` (default all 1) sets how much each part counts in the FF's
    first layer. Returns the matrix and the list of the parts' vectorisers.
    """
    sources = list(features["source"])
    weights = [float(w) for w in (features.get("weights") or [1.0] * len(sources))]
    if len(weights) != len(sources):
        raise ValueError(f"features.weights has {len(weights)} values for {len(sources)} sources")
    parts = [
        _vsm(artists, artists_enriched, artist_tags, {**features, "source": source})
        for source in sources
    ]
    matrix = sp.hstack(
        [weight * part for weight, (part, _) in zip(weights, parts, strict=True)], format="csr"
    )
    return _canonical(matrix), [vectorizer for _, vectorizer in parts]


def build_text_features(
    artists: pd.DataFrame,
    artists_enriched: pd.DataFrame,
    artist_tags: pd.DataFrame,
    features: dict[str, Any],
) -> tuple[sp.csr_matrix, Any]:
    """The artist VSM picked by ``features.source`` (biography | enriched | tags, or a list).

    A list of sources concatenates their VSMs (:func:`_concatenated_vsm`).

    Returns
    -------
    tuple
        CSR float32 (n_artists x vocabulary, rows = ``item_idx``) and the fitted
        vectoriser (scikit-learn ``TfidfVectorizer`` or :class:`TagVectorizer`),
        both fitted on the train artists only.
    """
    return _vsm(artists, artists_enriched, artist_tags, features)


def build_tag_features(
    artists: pd.DataFrame, artist_tags: pd.DataFrame, features: dict[str, Any]
) -> tuple[sp.csr_matrix, Any]:
    """The artists' tag VSM (:class:`TagVectorizer`, vocabulary from train artists)."""
    if features.get("source", "tags") != "tags":
        raise ValueError("the item_knn template works on tags: features.source must be 'tags'")
    return _vsm(artists, None, artist_tags, {**features, "source": "tags"})


# --------------------------------------------------------------------------- FF (a-text, a-sem, a-tags)


def train_text_ff(
    features: sp.csr_matrix,
    artists: pd.DataFrame,
    artist_item_factors: np.ndarray,
    model: dict[str, Any],
    training: dict[str, Any],
    seed: int,
    row: dict[str, Any] | None = None,
) -> tuple[Any, dict[str, list[float]]]:
    """Train the FF network (``build_text_ff``) from the VSM to the artist factors.

    Returns the trained Keras model (best validation epoch) and its history
    ``{"loss": [...], "val_loss": [...]}``.
    """
    from coldstart.models.text_models import build_text_ff

    rows, targets = _train_val(artists, artist_item_factors)
    set_global_seed(int(seed))
    network = build_text_ff(
        input_dim=features.shape[1],
        hidden_units=model.get("hidden_units", (2048, 2048)),
        dropout=model.get("dropout", (0.5, 0.5, 0.5)),
        n_factors=int(model.get("n_factors", targets.shape[1])),
    )
    if network.output_shape[-1] != targets.shape[1]:
        raise ValueError(
            f"model.n_factors={network.output_shape[-1]} but the factors have {targets.shape[1]} columns"
        )
    history = _fit_keras(
        network, _canonical(features), targets, rows, training, _row_name(row, "text_ff")
    )
    return network, history


def predict_test_factors(model: Any, features: Any, artists: pd.DataFrame) -> np.ndarray:
    """L2-normalised predicted factors of the test artists (float32, ``artists`` order)."""
    test = split_rows(artists)["test"]
    predicted = model.predict(
        _model_input(features)[test], batch_size=PREDICT_BATCH_SIZE, verbose=0
    )
    return l2_normalise(predicted)


def extract_artist_embeddings(model: Any, features: Any, artists: pd.DataFrame) -> np.ndarray:
    """A': the ``artist_embedding`` layer's activations for every artist (rows = ``item_idx``)."""
    from coldstart.models.text_models import EMBEDDING_LAYER, layer_model

    order_by_item_idx(artists)
    embedder = layer_model(model, EMBEDDING_LAYER)
    embeddings = np.asarray(
        embedder.predict(_model_input(features), batch_size=PREDICT_BATCH_SIZE, verbose=0),
        dtype=np.float32,
    )
    logger.info("artist embeddings A': %d artists x %d dims", *embeddings.shape)
    return embeddings


# --------------------------------------------------------------------------- CNN (a-w2v, a-w2v-goo)


def _tokenised_biographies(artists: pd.DataFrame, features: dict[str, Any]) -> list[list[str]]:
    from coldstart.text.word2vec import tokenize

    lowercase = bool(features.get("lowercase", True))
    ordered = order_by_item_idx(artists)
    return [tokenize(text, lowercase) for text in ordered["biography"].fillna("").astype(str)]


def build_word_vectors(
    artists: pd.DataFrame, embeddings: dict[str, Any], features: dict[str, Any], seed: int
) -> tuple[list[str], np.ndarray]:
    """The CNN vocabulary (from train biographies) and its initial word vectors.

    ``embeddings.source`` is ``train`` (gensim word2vec on the train artists'
    biographies, ``embeddings.word2vec`` arguments) or ``pretrained`` (a word2vec
    file at ``embeddings.pretrained_vectors_path``).

    Returns
    -------
    tuple
        ``vocabulary`` (list: ``<pad>``, ``<unk>``, words) and the float32
        ``vocabulary x dim`` matrix (padding row zero).
    """
    from coldstart.text.word2vec import (
        build_vocabulary,
        embedding_matrix,
        load_word_vectors,
        train_word2vec,
    )

    tokens = _tokenised_biographies(artists, features)
    train = split_rows(artists)["train"]
    train_tokens = [tokens[i] for i in train]
    vocabulary = build_vocabulary(
        train_tokens,
        min_count=int(features.get("min_count", 1)),
        max_size=features.get("max_vocabulary"),
    )
    source = embeddings.get("source", "train")
    if source == "train":
        vectors = train_word2vec(train_tokens, seed=int(seed), **(embeddings.get("word2vec") or {}))
    elif source == "pretrained":
        path = embeddings.get("pretrained_vectors_path")
        if not path:
            raise ValueError(
                "embeddings.source is 'pretrained' but embeddings.pretrained_vectors_path is not "
                "set: point it at a word2vec file (e.g. GoogleNews-vectors-negative300.bin), or "
                "keep the row disabled (row.enabled: false)"
            )
        vectors = load_word_vectors(
            path, binary=embeddings.get("binary", "auto"), limit=embeddings.get("limit")
        )
    else:
        raise ValueError(f"embeddings.source must be 'train' or 'pretrained', got {source!r}")
    matrix, _ = embedding_matrix(
        vocabulary, vectors, seed=int(seed), oov_scale=float(embeddings.get("oov_scale", 0.25))
    )
    return vocabulary, matrix


def encode_biographies(
    artists: pd.DataFrame, vocabulary: list[str], features: dict[str, Any]
) -> np.ndarray:
    """Every artist's biography as a padded int32 index sequence (rows = ``item_idx``)."""
    from coldstart.text.word2vec import encode_sequences

    tokens = _tokenised_biographies(artists, features)
    max_length = int(features.get("max_length", 500))
    lengths = np.array([len(t) for t in tokens])
    logger.info(
        "biographies: median %d tokens, %.1f%% truncated to %d",
        int(np.median(lengths)) if len(lengths) else 0,
        100 * float((lengths > max_length).mean()) if len(lengths) else 0.0,
        max_length,
    )
    return encode_sequences(tokens, vocabulary, max_length)


def train_text_cnn(
    sequences: np.ndarray,
    word_vectors: np.ndarray,
    artists: pd.DataFrame,
    artist_item_factors: np.ndarray,
    model: dict[str, Any],
    training: dict[str, Any],
    seed: int,
    row: dict[str, Any] | None = None,
) -> tuple[Any, dict[str, list[float]]]:
    """Train Kim's CNN (``build_text_cnn``, embedding initialised with ``word_vectors``)."""
    from coldstart.models.text_models import build_text_cnn

    rows, targets = _train_val(artists, artist_item_factors)
    set_global_seed(int(seed))
    network = build_text_cnn(
        vocabulary_size=word_vectors.shape[0],
        embedding_dim=word_vectors.shape[1],
        sequence_length=sequences.shape[1],
        filter_sizes=model.get("filter_sizes", (3, 4, 5)),
        n_filters=int(model.get("n_filters", 100)),
        embedding_dropout=float(model.get("embedding_dropout", 0.0)),
        dropout=float(model.get("dropout", 0.5)),
        hidden_units=int(model.get("hidden_units", 512)),
        n_factors=int(model.get("n_factors", targets.shape[1])),
        embedding_weights=word_vectors,
        trainable_embeddings=bool(model.get("trainable_embeddings", True)),
    )
    history = _fit_keras(
        network,
        np.asarray(sequences, dtype=np.int32),
        targets,
        rows,
        training,
        _row_name(row, "text_cnn"),
    )
    return network, history


# --------------------------------------------------------------------------- sklearn (text-rf, ridge)


def train_text_regressor(
    features: sp.csr_matrix,
    artists: pd.DataFrame,
    artist_item_factors: np.ndarray,
    model: dict[str, Any],
    seed: int,
) -> Any:
    """Fit a scikit-learn regressor (``model.kind``) from the VSM to the L2-normalised factors.

    Fitted on the artists of the splits in ``model.fit_splits`` (default: train);
    every other key of ``model`` is an estimator argument.
    """
    from coldstart.text.regressors import make_regressor

    rows, targets = _train_val(artists, artist_item_factors)
    params = dict(model)
    kind = params.pop("kind")
    splits = params.pop("fit_splits", ["train"])
    fit_rows = np.concatenate([rows[s] for s in splits])
    estimator = make_regressor(kind, seed=int(seed), **params)
    started = time.perf_counter()
    logger.info("%s: fitting on %d artists x %d features", kind, len(fit_rows), features.shape[1])
    estimator.fit(sp.csr_matrix(features, dtype=np.float32)[fit_rows], targets[fit_rows])
    logger.info("%s: fitted in %.1f s", kind, time.perf_counter() - started)
    return estimator


def predict_regressor_factors(estimator: Any, features: Any, artists: pd.DataFrame) -> np.ndarray:
    """L2-normalised factors predicted by a scikit-learn regressor for the test artists."""
    test = split_rows(artists)["test"]
    return l2_normalise(estimator.predict(sp.csr_matrix(features, dtype=np.float32)[test]))


# --------------------------------------------------------------------------- ItemAttributeKNN (tags-itemKnn)


def fit_item_attribute_knn(
    features: sp.csr_matrix, artists: pd.DataFrame, model: dict[str, Any]
) -> Any:
    """ItemAttributeKNN over the artists' attribute (tag) vectors.

    ``model.neighbours``: ``all`` (default; MyMediaLite given every artist's tags:
    the val and test artists are neighbour candidates too, without plays, so they
    count in the normalisation only) or ``train`` (train artists only).
    """
    from coldstart.text.knn import ItemAttributeKNN

    rows = split_rows(artists)
    neighbours = _knn_neighbours(model)
    knn = ItemAttributeKNN(k=model.get("k", 80), chunk_size=int(model.get("chunk_size", 2048)))
    matrix = sp.csr_matrix(features)
    others = np.concatenate([rows["val"], rows["test"]]) if neighbours == "all" else None
    return knn.fit(matrix[rows["train"]], None if others is None else matrix[others])


def _knn_neighbours(model: dict[str, Any]) -> str:
    neighbours = model.get("neighbours", "all")
    if neighbours not in ("all", "train"):
        raise ValueError(f"model.neighbours must be 'all' or 'train', got {neighbours!r}")
    return neighbours


def item_knn_item_factors(knn: Any, features: sp.csr_matrix, artists: pd.DataFrame) -> np.ndarray:
    """Item vectors of the test artists: MyMediaLite-normalised top-k similarity rows.

    float32 n_test x n_train: each test artist's similarities to its kept train
    neighbours divided by the sum over all its k neighbours (train, val and test
    artists with ``neighbours: all``), so that a binary user vector scores it as
    MyMediaLite does; **not** L2-normalised (the row sets ``normalize_items: false``).
    A test artist with no similar artist gets a zero row (score 0).
    """
    rows = split_rows(artists)
    test = rows["test"]
    # with `all`, fit() stacked the val then the test rows: a test artist's own row
    fitted_with_others = getattr(knn, "other_attributes_", None) is not None
    other_index = len(rows["val"]) + np.arange(len(test)) if fitted_with_others else None
    vectors = knn.item_vectors(sp.csr_matrix(features)[test], other_index=other_index)
    logger.info(
        "item-attribute kNN: %d test x %d train artists, %.1f train neighbours per test "
        "artist, %d test artists without any similar artist",
        *vectors.shape,
        float((vectors > 0).sum(axis=1).mean()) if len(vectors) else 0.0,
        int((~(vectors > 0).any(axis=1)).sum()) if vectors.shape[1] else len(vectors),
    )
    return vectors


def item_knn_user_factors(
    artist_plays: Any, artists: pd.DataFrame, model: dict[str, Any]
) -> sp.csr_matrix:
    """User vectors: each user's train-artist plays (binary or counts), sparse float32
    n_users x n_train (the evaluator scores them batch by batch, never densified)."""
    from coldstart.text.knn import user_play_profiles

    plays = sp.csr_matrix(artist_plays)
    if plays.shape[1] != len(artists):
        raise ValueError(
            f"artist_plays has {plays.shape[1]} columns, expected one per artist ({len(artists)})"
        )
    kind = model.get("user_vectors", "binary")
    if kind not in ("binary", "counts"):
        raise ValueError(f"model.user_vectors must be 'binary' or 'counts', got {kind!r}")
    train = split_rows(artists)["train"]
    profiles = user_play_profiles(plays, train, binary=kind == "binary")
    logger.info(
        "item-attribute kNN user vectors: %d users x %d train artists, %d non-zeros",
        *profiles.shape,
        profiles.nnz,
    )
    return profiles
