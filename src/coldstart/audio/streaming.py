"""Streaming training input: a Keras ``PyDataset`` of spectrogram patches.

By default the batches come from the split's pack (:mod:`coldstart.audio.packed`):
the tracks' frames end to end in one memory-mapped array, so a batch is one
fancy-indexing call and one vectorised standardisation, assembled a batch or two
ahead in a background thread (:class:`coldstart.models.prefetch.BatchPrefetcher`).
``source="store"`` reads each track's own ``.npy`` from the store instead (the
loader before packs; the same batches, several times slower). Either way only
the patch frames are read, so training never loads the whole store (the paper
trains on 260k tracks). This module imports Keras at import time (it subclasses
``keras.utils.PyDataset``); ``coldstart.audio`` exposes it lazily.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np

from coldstart.models.prefetch import BatchPrefetcher

from .packed import PackedFrames, gather_patches, packed_frames
from .patches import random_patch_starts, standardised_patch
from .store import FeatureStore

INPUT_NAME = "cqt_patch"


class CQTPatchDataset(keras.utils.PyDataset):
    """Batches of ``(patch, target)`` with one standardised patch per track.

    Parameters
    ----------
    store
        The feature store.
    keys
        Store keys of the tracks, one per sample.
    n_frames
        Frames of each track (the feature index's ``n_frames``), so patch
        positions are drawn without opening files.
    targets
        ``(n_samples, n_factors)`` targets aligned with ``keys``, or ``None`` for
        inputs only.
    mean, std
        Per-bin standardisation (fitted on train tracks).
    patch_frames
        Patch length (322 frames = 15 s in the paper).
    batch_size
        Samples per batch (32 in the paper).
    shuffle
        Reshuffle the sample order after every epoch.
    sampling
        ``"fixed"``: one random patch per track, drawn once (the paper's single
        15 s patch per track); ``"per_epoch"``: a new random patch every epoch
        (augmentation); ``"center"``: the middle of the track.
    seed
        Seeds the patch positions and the shuffling.
    extra_inputs
        Other model inputs aligned with ``keys`` (e.g. an artist embedding for an
        end-to-end multimodal model): ``{input_name: array}``; NumPy arrays or
        SciPy sparse matrices (densified per batch). With extra inputs a batch's
        ``x`` is a dict keyed by input name, the patch under ``input_name``.
    input_name
        Name of the patch input layer (``cqt_patch`` in :func:`build_audio_cnn`).
    source
        ``"pack"`` (default): gather from the pack of these tracks, built from the
        store on first use (:func:`coldstart.audio.packed.packed_frames`);
        ``"store"``: one ``.npy`` per track. Both give the same batches.
    pack
        An already opened pack holding every track of ``keys`` (else found or built).
    prefetch
        Batches assembled ahead in a background thread (0: none).
    **kwargs
        ``workers``, ``use_multiprocessing``, ``max_queue_size`` for Keras.
    """

    def __init__(
        self,
        store: FeatureStore,
        keys: Sequence[str],
        n_frames: Sequence[int],
        targets: np.ndarray | None,
        mean: np.ndarray,
        std: np.ndarray,
        *,
        patch_frames: int = 322,
        batch_size: int = 32,
        shuffle: bool = True,
        sampling: str = "fixed",
        seed: int = 0,
        extra_inputs: Mapping[str, Any] | None = None,
        input_name: str = INPUT_NAME,
        source: str = "pack",
        pack: PackedFrames | None = None,
        prefetch: int = 2,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if sampling not in ("fixed", "per_epoch", "center"):
            raise ValueError(f"sampling must be fixed, per_epoch or center, got {sampling!r}")
        if source not in ("pack", "store"):
            raise ValueError(f"source must be 'pack' or 'store', got {source!r}")
        if len(keys) != len(n_frames) or (targets is not None and len(targets) != len(keys)):
            raise ValueError("keys, n_frames and targets must have one entry per sample")
        if not len(keys):
            raise ValueError("CQTPatchDataset needs at least one track")
        self.store = store
        self.keys = list(keys)
        self.n_frames = np.asarray(n_frames, dtype=np.int64)
        self.targets = None if targets is None else np.asarray(targets, dtype=np.float32)
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        self.patch_frames = int(patch_frames)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.sampling = sampling
        self.extra_inputs = dict(extra_inputs or {})
        self.input_name = input_name
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(len(self.keys))
        if sampling == "center":
            self.starts = np.maximum(self.n_frames - self.patch_frames, 0) // 2
        else:
            self.starts = random_patch_starts(self.n_frames, self.patch_frames, self._rng)
        if shuffle:
            self._rng.shuffle(self._order)
        self.source = source
        self.pack = None
        if source == "pack":
            self.pack = pack if pack is not None else packed_frames(store, self.keys)
            self._positions = self.pack.positions(self.keys)
        self._prefetcher = BatchPrefetcher(self._batch, len(self), depth=prefetch)

    def __len__(self) -> int:
        return math.ceil(len(self.keys) / self.batch_size)

    def patches(self, rows: np.ndarray) -> np.ndarray:
        """Standardised patches of the given samples, ``(len(rows), patch_frames, n_bins)``."""
        if self.pack is not None:
            return gather_patches(
                self.pack,
                self._positions[rows],
                self.starts[rows],
                self.patch_frames,
                self.mean,
                self.std,
            )
        return np.stack(
            [
                standardised_patch(
                    self.store.load(self.keys[r]),
                    int(self.starts[r]),
                    self.patch_frames,
                    self.mean,
                    self.std,
                )
                for r in rows
            ]
        )

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        return self._prefetcher.get(index)

    def _batch(self, index: int) -> Any:
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        x: Any = self.patches(rows)
        if self.extra_inputs:
            x = {self.input_name: x}
            for name, values in self.extra_inputs.items():
                batch = values[rows]
                x[name] = np.asarray(
                    batch.toarray() if hasattr(batch, "toarray") else batch, dtype=np.float32
                )
        if self.targets is None:
            return (x,)
        return x, self.targets[rows]

    def on_epoch_end(self) -> None:
        self._prefetcher.reset()  # queued batches belong to the old order and patches
        if self.sampling == "per_epoch":
            self.starts = random_patch_starts(self.n_frames, self.patch_frames, self._rng)
        if self.shuffle:
            self._rng.shuffle(self._order)
