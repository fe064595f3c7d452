"""Keras builders and input helpers for the song-level rows of Table 2 (paper §5, §6.3).

* :func:`build_late_fusion` -- the multimodal late-fusion network on an artist
  embedding A' and a track embedding T' (docs/fusion.md):

  - ``kind="linear"`` (mm-lf-lin): ``L2(A') || L2(T') -> Dropout .7 -> Dense 200 -> L2``;
  - ``kind="hidden"`` (mm-lf-h1): per modality ``BatchNorm -> Dropout .7 -> Dense 512
    ReLU``; concatenation ``-> Dense 200 -> L2``.

* :func:`build_multimodal` -- mm: the text FF (tf-idf input) and the track CNN
  (spectrogram patch input) trained end to end together: both networks without
  their heads, their penultimate representations concatenated ``-> Dense 200 -> L2``.
* :func:`song_batches` -- a Keras ``PyDataset`` that gathers each sample's rows
  from per-artist or per-song matrices (dense or SciPy sparse), so an artist
  matrix is broadcast to songs one batch at a time instead of being copied to
  every song.

Prediction for mm is the audio row's patch averaging with the VSM row of each
song's artist as a per-track input
(:func:`coldstart.models.audio_cnn.predict_track_outputs`, ``track_inputs``).

The song-level FF (sem-vsm, sem-emb, tags-vsm, tags-emb, random) is
:func:`coldstart.models.text_models.build_text_ff`. Only stock Keras layers are
used (``UnitNormalization``, ``BatchNormalization``, ``Dropout``, ``Concatenate``,
``Dense``), so saved ``.keras`` files load with ``safe_mode=True``. Heavy imports
stay inside the functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import numpy as np

from coldstart.models.audio_cnn import INPUT_NAME as AUDIO_INPUT
from coldstart.models.common import factor_head, gather_rows

#: Input names of the late-fusion networks.
ARTIST_INPUT = "artist_input"
TRACK_INPUT = "track_input"
#: Input names of the multimodal (mm) network: those of the text FF and the track CNN.
TEXT_INPUT = "vsm"
PATCH_INPUT = AUDIO_INPUT
FUSION_KINDS = ("linear", "hidden")
#: The layer that joins the modalities in every fusion network.
FUSED_LAYER = "fused"


def build_late_fusion(
    artist_dim: int,
    track_dim: int,
    kind: str = "linear",
    dropout: float = 0.7,
    hidden_units: int = 512,
    n_factors: int = 200,
    name: str | None = None,
) -> Any:
    """The late-fusion network from ``[A', T']`` to L2-normalised song factors.

    Parameters
    ----------
    artist_dim, track_dim
        Widths of A' (2048) and T' (4096).
    kind
        ``linear`` (mm-lf-lin) or ``hidden`` (mm-lf-h1), see the module docstring.
    dropout
        Dropout after the input layer (the paper's 70 %).
    hidden_units
        Units of each modality's ReLU layer (``hidden`` only).
    n_factors
        Output size (the WMF rank).

    Returns
    -------
    keras.Model
        Uncompiled; inputs ``artist_input`` and ``track_input`` (raw embeddings: the
        ``linear`` network L2-normalises them itself, an all-zero row stays zero).
    """
    import keras

    if kind not in FUSION_KINDS:
        raise ValueError(f"fusion kind must be one of {FUSION_KINDS}, got {kind!r}")
    artist = keras.Input(shape=(int(artist_dim),), name=ARTIST_INPUT)
    track = keras.Input(shape=(int(track_dim),), name=TRACK_INPUT)
    if kind == "linear":
        branches = [
            keras.layers.UnitNormalization(axis=-1, name="artist_l2")(artist),
            keras.layers.UnitNormalization(axis=-1, name="track_l2")(track),
        ]
        x = keras.layers.Concatenate(name=FUSED_LAYER)(branches)
        x = keras.layers.Dropout(float(dropout), name="fusion_dropout")(x)
    else:
        branches = []
        for modality, tensor in (("artist", artist), ("track", track)):
            h = keras.layers.BatchNormalization(name=f"{modality}_batchnorm")(tensor)
            h = keras.layers.Dropout(float(dropout), name=f"{modality}_dropout")(h)
            h = keras.layers.Dense(int(hidden_units), activation="relu", name=f"{modality}_hidden")(
                h
            )
            branches.append(h)
        x = keras.layers.Concatenate(name=FUSED_LAYER)(branches)
    outputs = factor_head(x, int(n_factors))
    return keras.Model(
        {ARTIST_INPUT: artist, TRACK_INPUT: track}, outputs, name=name or f"late_fusion_{kind}"
    )


def build_multimodal(
    vsm_dim: int,
    *,
    text_hidden_units: Sequence[int] = (2048, 2048),
    text_dropout: Sequence[float] | float = (0.5, 0.5, 0.5),
    patch_frames: int = 322,
    n_bins: int = 96,
    filters: Sequence[int] = (256, 512, 1024, 1024),
    kernel_sizes: Sequence[int] = (4, 4, 4, 1),
    pool_sizes: Sequence[int] = (4, 4, 4, 1),
    audio_dropout: float = 0.5,
    n_factors: int = 200,
    name: str = "multimodal",
) -> Any:
    """mm: the text FF and the track CNN joined below one factor head.

    The text branch is :func:`~coldstart.models.text_models.build_text_ff` up to its
    last dropout (the ``artist_embedding`` layer, 2048 ReLU, then Dropout .5); the
    audio branch is :func:`~coldstart.models.audio_cnn.build_audio_cnn` up to its
    flatten layer ``track_embedding`` (4096). Both are concatenated (layer
    ``fused``) and mapped by ``Dense(n_factors) -> L2``; the whole network trains
    end to end.

    Returns
    -------
    keras.Model
        Uncompiled; inputs ``vsm`` (the tf-idf row of the song's artist) and
        ``cqt_patch`` (``patch_frames x n_bins``).
    """
    import keras

    from coldstart.models.audio_cnn import EMBEDDING_LAYER, build_audio_cnn
    from coldstart.models.text_models import build_text_ff

    text = build_text_ff(
        input_dim=int(vsm_dim),
        hidden_units=text_hidden_units,
        dropout=text_dropout,
        n_factors=int(n_factors),
    )
    audio = build_audio_cnn(
        patch_frames=int(patch_frames),
        n_bins=int(n_bins),
        filters=filters,
        kernel_sizes=kernel_sizes,
        pool_sizes=pool_sizes,
        dropout=float(audio_dropout),
        n_factors=int(n_factors),
        learning_rate=None,
    )
    # each branch without its head: the text FF's last dropout, the CNN's flatten (T')
    text_repr = text.get_layer(f"dropout_{len(list(text_hidden_units)) + 1}").output
    audio_repr = audio.get_layer(EMBEDDING_LAYER).output
    fused = keras.layers.Concatenate(name=FUSED_LAYER)([text_repr, audio_repr])
    outputs = factor_head(fused, int(n_factors))
    return keras.Model(
        {TEXT_INPUT: text.inputs[0], PATCH_INPUT: audio.inputs[0]}, outputs, name=name
    )


# --------------------------------------------------------------------------- batches


@cache
def _song_batches_class() -> type:
    import keras

    from coldstart.models.prefetch import BatchPrefetcher

    class SongBatches(keras.utils.PyDataset):
        """Batches whose inputs are rows gathered from (artist- or song-level) matrices."""

        def __init__(
            self,
            inputs: Mapping[str, tuple[Any, np.ndarray]],
            targets: np.ndarray | None,
            batch_size: int,
            shuffle: bool,
            seed: int,
            single: bool,
            weights: np.ndarray | None = None,
            prefetch: int = 2,
        ) -> None:
            super().__init__()
            self.inputs = {
                name: (matrix, np.asarray(rows, dtype=np.int64))
                for name, (matrix, rows) in inputs.items()
            }
            sizes = {len(rows) for _, rows in self.inputs.values()}
            if len(sizes) != 1 or (targets is not None and len(targets) not in sizes):
                raise ValueError("every input (and the targets) needs one row index per sample")
            self.n_samples = sizes.pop()
            if not self.n_samples:
                raise ValueError("no samples to batch")
            self.targets = None if targets is None else np.asarray(targets, dtype=np.float32)
            if weights is not None and (targets is None or len(weights) != self.n_samples):
                raise ValueError("sample weights need targets and one weight per sample")
            self.weights = None if weights is None else np.asarray(weights, dtype=np.float32)
            self.batch_size = int(batch_size)
            self.shuffle = shuffle
            self.single = single
            self._rng = np.random.default_rng(seed)
            self._order = np.arange(self.n_samples)
            if shuffle:
                self._rng.shuffle(self._order)
            self._prefetcher = BatchPrefetcher(self._batch, len(self), depth=prefetch)

        def __len__(self) -> int:
            return -(-self.n_samples // self.batch_size)

        def __getitem__(self, index: int) -> Any:
            if not 0 <= index < len(self):
                raise IndexError(f"batch {index} of {len(self)}")
            return self._prefetcher.get(index)

        def _batch(self, index: int) -> Any:
            samples = self._order[index * self.batch_size : (index + 1) * self.batch_size]
            x = {
                name: gather_rows(matrix, rows[samples])
                for name, (matrix, rows) in self.inputs.items()
            }
            if self.single:
                x = next(iter(x.values()))
            if self.targets is None:
                return (x,)
            if self.weights is None:
                return x, self.targets[samples]
            return x, self.targets[samples], self.weights[samples]

        def on_epoch_end(self) -> None:
            self._prefetcher.reset()  # queued batches belong to the old order
            if self.shuffle:
                self._rng.shuffle(self._order)

    return SongBatches


def song_batches(
    inputs: Mapping[str, tuple[Any, np.ndarray]] | tuple[Any, np.ndarray],
    targets: np.ndarray | None = None,
    *,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = 0,
    weights: np.ndarray | None = None,
    prefetch: int = 2,
) -> Any:
    """A Keras ``PyDataset`` gathering each sample's input rows batch by batch.

    Parameters
    ----------
    inputs
        ``{input_name: (matrix, rows)}`` or one ``(matrix, rows)`` for a
        single-input model: sample ``i`` reads ``matrix[rows[i]]``. ``matrix`` is a
        NumPy array or a SciPy sparse matrix (densified per batch); with an
        artist-level matrix and ``rows`` = each song's artist row, the artist's
        features are broadcast to its songs.
    targets
        ``(n_samples, n_factors)`` or ``None`` (prediction: batches are ``(x,)``).
    batch_size, shuffle, seed
        Mini-batches; with ``shuffle`` the order is redrawn after every epoch from
        a generator seeded with ``seed``.
    weights
        Optional ``(n_samples,)`` sample weights: batches are then ``(x, y, w)``,
        which Keras applies to each sample's loss (the artist sample form of the
        song FF rows, :func:`coldstart.pipelines.fusion.nodes.artist_samples`).
    prefetch
        Batches gathered ahead in a background thread
        (:class:`coldstart.models.prefetch.BatchPrefetcher`); 0: none. The batches
        are the same either way.
    """
    single = not isinstance(inputs, Mapping)
    named = {"input": inputs} if single else dict(inputs)
    return _song_batches_class()(
        named, targets, batch_size, shuffle, seed, single, weights, prefetch
    )
