"""The paper's track CNN (§4): spectrogram patch to song factors; T' is its flatten layer.

Input: one patch of ``patch_frames`` frames x ``n_bins`` CQT bins (322 x 96), the
bins as channels, so every convolution runs over time only (the paper: absolute
frequency position matters, time position does not). Four blocks::

    Conv1D(256, 4) ReLU  MaxPool(4)  Dropout(.5)    322 -> 319 -> 79
    Conv1D(512, 4) ReLU  MaxPool(4)  Dropout(.5)     79 ->  76 -> 19
    Conv1D(1024, 4) ReLU MaxPool(4)  Dropout(.5)     19 ->  16 ->  4
    Conv1D(1024, 1) ReLU             Dropout(.5)      4 ->   4
    Flatten  -> 4 x 1024 = 4096 = T'   (layer ``track_embedding``)
    Dense(200) -> L2 normalisation     (layer ``factors``, models.common.factor_head)

Filter counts, kernels, pools and the patch length are arguments, so tests train a
small network with the same code. Only stock Keras layers are used, so a saved
model loads with ``safe_mode=True``.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from coldstart.audio.patches import prediction_starts, standardised_patch
from coldstart.audio.store import FeatureStore

from .common import compile_for_factors, factor_head, gather_rows

INPUT_NAME = "cqt_patch"
EMBEDDING_LAYER = "track_embedding"
FACTORS_LAYER = "factors"


def build_audio_cnn(
    *,
    patch_frames: int = 322,
    n_bins: int = 96,
    filters: Sequence[int] = (256, 512, 1024, 1024),
    kernel_sizes: Sequence[int] = (4, 4, 4, 1),
    pool_sizes: Sequence[int] = (4, 4, 4, 1),
    dropout: float = 0.5,
    n_factors: int = 200,
    learning_rate: float | None = 1e-3,
    name: str = "audio_cnn",
) -> Any:
    """Build (and compile) the track CNN.

    Parameters
    ----------
    patch_frames, n_bins
        Input patch shape (322 frames = 15 s, 96 CQT bins).
    filters, kernel_sizes, pool_sizes
        One entry per convolution block; a pool size of 1 means no pooling.
    dropout
        Dropout rate after every block.
    n_factors
        Output factors (200).
    learning_rate
        Adam learning rate for compilation with the cosine loss; ``None`` returns
        the model uncompiled (e.g. to embed it in a larger model).
    name
        Model name.

    Returns
    -------
    keras.Model
        Input ``cqt_patch``; output the L2-normalised factors (layer ``factors``);
        the flattened last block is the layer ``track_embedding`` (T').

    Raises
    ------
    ValueError
        When the blocks shrink the time axis to nothing.
    """
    import keras

    if not len(filters) == len(kernel_sizes) == len(pool_sizes):
        raise ValueError("filters, kernel_sizes and pool_sizes need one entry per block")
    length = patch_frames
    for kernel, pool in zip(kernel_sizes, pool_sizes, strict=True):
        length = (length - kernel + 1) // max(pool, 1)
        if length < 1:
            raise ValueError(
                f"A patch of {patch_frames} frames is too short for kernels {list(kernel_sizes)} "
                f"and pools {list(pool_sizes)}"
            )
    inputs = keras.Input(shape=(patch_frames, n_bins), name=INPUT_NAME)
    x = inputs
    for block, (n_filters, kernel, pool) in enumerate(
        zip(filters, kernel_sizes, pool_sizes, strict=True), start=1
    ):
        x = keras.layers.Conv1D(
            int(n_filters), int(kernel), activation="relu", name=f"conv{block}"
        )(x)
        if pool > 1:
            x = keras.layers.MaxPooling1D(int(pool), name=f"pool{block}")(x)
        x = keras.layers.Dropout(dropout, name=f"dropout{block}")(x)
    embedding = keras.layers.Flatten(name=EMBEDDING_LAYER)(x)
    outputs = factor_head(embedding, n_factors, name=FACTORS_LAYER)
    model = keras.Model(inputs, outputs, name=name)
    return compile_for_factors(model, learning_rate) if learning_rate is not None else model


#: Per trained model, its sub-models by layer names: built once, so a served model's
#: compiled predict function is traced once, not on every request.
_SUB_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def track_outputs_model(
    model: Any, layers: Sequence[str] = (FACTORS_LAYER, EMBEDDING_LAYER)
) -> Any:
    """A model with the same input whose outputs are the named layers' outputs (a list)."""
    import keras

    built = _SUB_MODELS.setdefault(model, {})
    key = tuple(layers)
    if key not in built:
        built[key] = keras.Model(model.inputs, [model.get_layer(name).output for name in layers])
    return built[key]


def predict_track_outputs(
    model: Any,
    store: FeatureStore,
    keys: Sequence[str | None],
    mean: np.ndarray,
    std: np.ndarray,
    *,
    hop_frames: int | None = None,
    trim: float = 0.15,
    layers: Sequence[str] = (FACTORS_LAYER, EMBEDDING_LAYER),
    track_inputs: Mapping[str, Any] | None = None,
    batch_size: int = 64,
    max_patches: int = 2048,
) -> dict[str, np.ndarray]:
    """Per-track mean over prediction patches of the named layers' outputs.

    Every track is cut into patches by
    :func:`coldstart.audio.patches.prediction_starts` (trim ``trim`` at each end,
    hop ``hop_frames``), standardised with ``mean``/``std``; each layer's output is
    averaged over a track's patches. With the default layers this gives the
    predicted factors (not re-normalised: the mean of unit vectors is shorter
    than one) and T' in one pass over the store.

    Parameters
    ----------
    model
        The trained CNN, or a model whose patch input is the CNN's (``cqt_patch``)
        and which has the named layers.
    store
        The feature store.
    keys
        One store key per output row; ``None`` or ``""`` means no features.
    mean, std
        Per-bin standardisation fitted on train tracks.
    hop_frames
        Hop between patches; defaults to half the model's patch length (161).
    trim
        Fraction trimmed at each end (0.15).
    layers
        Layers whose outputs are averaged.
    track_inputs
        For a model with inputs besides the patch (the ``mm`` row): per input
        name, a dense or sparse matrix whose row ``i`` goes with every patch of
        track ``i``. A track without features is then predicted from one
        all-zero standardised patch (the train tracks' mean spectrogram) with its
        other inputs; without ``track_inputs`` its rows are zero.
    batch_size
        Patches per forward pass.
    max_patches
        Patches held in memory at once (bounds memory for long tracks).

    Returns
    -------
    dict
        ``{layer: float32 array (len(keys), layer width)}``.
    """
    sub = track_outputs_model(model, layers)
    _, patch_frames, n_bins = (int(d or 0) for d in model.get_layer(INPUT_NAME).output.shape)
    hop = int(hop_frames or patch_frames // 2)
    widths = [int(np.prod(output.shape[1:])) for output in sub.outputs]
    sums = [np.zeros((len(keys), width), dtype=np.float64) for width in widths]
    counts = np.zeros(len(keys), dtype=np.int64)
    patches: list[np.ndarray] = []
    rows: list[int] = []

    def flush() -> None:
        if not patches:
            return
        x = np.stack(patches)
        target = np.asarray(rows)
        for start in range(0, len(x), batch_size):
            part = target[start : start + batch_size]
            batch: Any = x[start : start + batch_size]
            if track_inputs:
                batch = {INPUT_NAME: batch}
                batch.update({name: gather_rows(m, part) for name, m in track_inputs.items()})
            outputs = sub.predict_on_batch(batch)
            outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
            for total, output in zip(sums, outputs, strict=True):
                np.add.at(total, part, np.asarray(output).reshape(len(output), -1))
        np.add.at(counts, target, 1)
        patches.clear()
        rows.clear()

    blank = np.zeros((patch_frames, n_bins), dtype=np.float32)
    for row, key in enumerate(keys):
        if key:
            spectrogram = store.load(key)
            for start in prediction_starts(spectrogram.shape[0], patch_frames, hop, trim):
                patches.append(standardised_patch(spectrogram, start, patch_frames, mean, std))
                rows.append(row)
        elif track_inputs:
            patches.append(blank)
            rows.append(row)
        if len(patches) >= max_patches:
            flush()
    flush()
    divisor = np.maximum(counts, 1)[:, None]
    return {
        name: (total / divisor).astype(np.float32) for name, total in zip(layers, sums, strict=True)
    }
