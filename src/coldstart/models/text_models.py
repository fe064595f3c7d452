"""Keras builders for the artist text models (paper §3; docs/text.md).

* :func:`build_text_ff` -- the feed-forward network on a tf-idf VSM (rows a-text,
  a-sem, a-tags): Dropout .5 -> Dense 2048 ReLU -> Dropout .5 -> Dense 2048 ReLU
  -> Dropout .5 -> Dense 200 -> L2. Its last hidden layer is named
  ``artist_embedding``: its activations are the artist embeddings A'.
* :func:`build_text_cnn` -- Kim (2014)'s sentence CNN over word vectors (rows
  a-w2v, a-w2v-goo): embedding -> parallel Conv1D (widths 3/4/5, ReLU) with
  max-over-time pooling -> concatenation -> dropout -> dense hidden layer ->
  dropout -> Dense 200 -> L2.

Only stock Keras layers are used, so saved ``.keras`` files load with
``safe_mode=True``. Models are returned uncompiled; compile them with
:func:`coldstart.models.common.compile_for_factors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from coldstart.models.common import factor_head

EMBEDDING_LAYER = "artist_embedding"
WORD_EMBEDDING_LAYER = "word_embedding"


def build_text_ff(
    input_dim: int,
    hidden_units: Sequence[int] = (2048, 2048),
    dropout: Sequence[float] | float = (0.5, 0.5, 0.5),
    n_factors: int = 200,
    embedding_layer: str = EMBEDDING_LAYER,
    name: str = "text_ff",
) -> Any:
    """The FF network from a VSM to L2-normalised factors.

    Parameters
    ----------
    input_dim
        Vocabulary size of the VSM.
    hidden_units
        Units of each ReLU hidden layer; the last one is named ``embedding_layer``.
    dropout
        Dropout rate before each Dense layer (``len(hidden_units) + 1`` rates, or
        one rate for all).
    n_factors
        Output size (the WMF rank).
    """
    import keras

    hidden_units = [int(u) for u in hidden_units]
    if not hidden_units:
        raise ValueError("hidden_units needs at least one layer (the artist embedding)")
    rates = [float(dropout)] * (len(hidden_units) + 1) if np.isscalar(dropout) else list(dropout)
    if len(rates) != len(hidden_units) + 1:
        raise ValueError(
            f"dropout needs {len(hidden_units) + 1} rates (one before each Dense), got {rates}"
        )
    inputs = keras.Input(shape=(int(input_dim),), name="vsm")
    x = inputs
    for i, units in enumerate(hidden_units):
        x = keras.layers.Dropout(rates[i], name=f"dropout_{i + 1}")(x)
        layer_name = embedding_layer if i == len(hidden_units) - 1 else f"hidden_{i + 1}"
        x = keras.layers.Dense(units, activation="relu", name=layer_name)(x)
    x = keras.layers.Dropout(rates[-1], name=f"dropout_{len(hidden_units) + 1}")(x)
    outputs = factor_head(x, int(n_factors))
    return keras.Model(inputs, outputs, name=name)


def build_text_cnn(
    vocabulary_size: int,
    embedding_dim: int,
    sequence_length: int,
    filter_sizes: Sequence[int] = (3, 4, 5),
    n_filters: int = 100,
    embedding_dropout: float = 0.0,
    dropout: float = 0.5,
    hidden_units: int = 512,
    n_factors: int = 200,
    embedding_weights: np.ndarray | None = None,
    trainable_embeddings: bool = True,
    name: str = "text_cnn",
) -> Any:
    """Kim (2014)'s CNN over word indices to L2-normalised factors.

    Parameters
    ----------
    vocabulary_size, embedding_dim
        Shape of the embedding layer (index 0 = padding).
    sequence_length
        Length of the padded index sequences; at least the widest filter.
    filter_sizes, n_filters
        One ``Conv1D(n_filters, width, relu)`` per width, each max-pooled over time.
    embedding_dropout, dropout
        Dropout on the word vectors, and before and after the hidden layer.
    hidden_units
        The dense ReLU hidden layer (named ``hidden``; 0 = none, Kim's original).
    embedding_weights
        Initial word vectors (``vocabulary_size x embedding_dim``); set after the
        layer is built, so the matrix is not copied into the model config.
    trainable_embeddings
        Fine-tune the word vectors (Kim's "non-static") or keep them fixed ("static").
    """
    import keras

    filter_sizes = [int(w) for w in filter_sizes]
    if not filter_sizes:
        raise ValueError("filter_sizes needs at least one width")
    if int(sequence_length) < max(filter_sizes):
        raise ValueError(
            f"sequence_length {sequence_length} is shorter than the widest filter {max(filter_sizes)}"
        )
    inputs = keras.Input(shape=(int(sequence_length),), dtype="int32", name="tokens")
    embedding = keras.layers.Embedding(
        int(vocabulary_size),
        int(embedding_dim),
        trainable=bool(trainable_embeddings),
        name=WORD_EMBEDDING_LAYER,
    )
    x = embedding(inputs)
    if embedding_dropout:
        x = keras.layers.Dropout(float(embedding_dropout), name="embedding_dropout")(x)
    pooled = []
    for width in filter_sizes:
        conv = keras.layers.Conv1D(
            int(n_filters), width, activation="relu", padding="valid", name=f"conv_{width}"
        )(x)
        pooled.append(keras.layers.GlobalMaxPooling1D(name=f"max_over_time_{width}")(conv))
    x = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(name="concat")(pooled)
    x = keras.layers.Dropout(float(dropout), name="dropout_pooled")(x)
    if hidden_units:
        x = keras.layers.Dense(int(hidden_units), activation="relu", name="hidden")(x)
        x = keras.layers.Dropout(float(dropout), name="dropout_hidden")(x)
    outputs = factor_head(x, int(n_factors))
    model = keras.Model(inputs, outputs, name=name)
    if embedding_weights is not None:
        weights = np.asarray(embedding_weights, dtype=np.float32)
        expected = (int(vocabulary_size), int(embedding_dim))
        if weights.shape != expected:
            raise ValueError(f"embedding_weights has shape {weights.shape}, expected {expected}")
        embedding.set_weights([weights])
    return model


def layer_model(model: Any, layer_name: str = EMBEDDING_LAYER) -> Any:
    """A model from ``model``'s inputs to the output of ``layer_name`` (e.g. A')."""
    import keras

    return keras.Model(
        model.inputs, model.get_layer(layer_name).output, name=f"{model.name}_{layer_name}"
    )
