"""A split's spectrograms packed into one contiguous memory-mapped array, for fast batches.

Reading a training batch from the per-track store opens, parses and maps one
``.npy`` per sample, then copies and standardises each patch in Python: a few
thousand patches per second at best, far below what a GPU eats. A pack puts the
frames of every track of a split end to end in one ``(total_frames, n_bins)``
array (the store's dtype, float16 by default), with each track's offset, so a
batch of patches is one fancy-indexing call into one memory map, standardised
with one vectorised expression (:func:`gather_patches`).

Whole tracks are packed, not one patch per track, so every sampling
(``fixed``, ``per_epoch``, ``center``) reads its patches from the same pack and
gives exactly the batches it gives from the store. The pack is a cache derived
from the store, which stays the source of truth: it lives in
``<store>/packed/<digest>/`` where the digest hashes the sorted keys (each key
names its audio file's content) and the CQT settings, so a pack is never reused
for other tracks or settings. It is built in a temporary folder and renamed into
place (atomic), so a killed build leaves nothing a later run would trust.

Memory stays bounded when the pack does not fit in RAM: the array is memory-mapped,
a batch reads only its own frames, and the OS page cache keeps what fits.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .store import FeatureStore

logger = logging.getLogger(__name__)

PACK_FOLDER = "packed"
FRAMES = "frames.npy"
OFFSETS = "offsets.npy"
KEYS = "keys.json"
PACK_VERSION = 1


@dataclass(frozen=True)
class PackedFrames:
    """Frames of a set of tracks end to end: track ``keys[i]`` is
    ``frames[offsets[i]:offsets[i + 1]]``."""

    frames: np.ndarray
    offsets: np.ndarray
    keys: tuple[str, ...]
    path: Path

    def positions(self, keys: Sequence[str]) -> np.ndarray:
        """The pack position of each of ``keys`` (KeyError naming a key not packed)."""
        where = {key: i for i, key in enumerate(self.keys)}
        try:
            return np.fromiter((where[k] for k in keys), dtype=np.int64, count=len(keys))
        except KeyError as exc:
            raise KeyError(f"{self.path}: track {exc.args[0]!r} is not in this pack") from None


def pack_digest(store: FeatureStore, keys: Sequence[str]) -> str:
    """Name of the pack of ``keys``: a hash of the sorted distinct keys and the settings."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(json.dumps([PACK_VERSION, store.config.to_dict()], sort_keys=True).encode())
    for key in sorted(set(keys)):
        digest.update(key.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def open_pack(path: Path) -> PackedFrames:
    """Open a finished pack folder read-only (the frames memory-mapped)."""
    frames = np.load(path / FRAMES, mmap_mode="r", allow_pickle=False)
    offsets = np.load(path / OFFSETS, allow_pickle=False)
    keys = tuple(json.loads((path / KEYS).read_text(encoding="utf-8")))
    if len(offsets) != len(keys) + 1 or int(offsets[-1]) != frames.shape[0]:
        raise ValueError(f"{path}: the pack's offsets do not match its frames and keys")
    return PackedFrames(frames, offsets, keys, path)


def packed_frames(store: FeatureStore, keys: Sequence[str]) -> PackedFrames:
    """The pack of ``keys`` from ``store``: opened when built before, else built now.

    Building streams one memory-mapped track at a time into the pack (memory
    stays one track), in sorted key order; the finished folder is renamed into
    place. Concurrent builders of the same pack each write their own temporary
    folder; the first rename wins and the others open it.
    """
    distinct = sorted(set(keys))
    if not distinct:
        raise ValueError("no tracks to pack")
    root = store.root / PACK_FOLDER
    path = root / pack_digest(store, distinct)
    if (path / KEYS).is_file():
        return open_pack(path)
    started = time.perf_counter()
    lengths = np.array([store.n_frames(key) for key in distinct], dtype=np.int64)
    offsets = np.zeros(len(distinct) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
    try:
        n_bins = int(store.config.n_bins)
        frames = np.lib.format.open_memmap(
            tmp / FRAMES,
            mode="w+",
            dtype=np.dtype(store.config.dtype),
            shape=(int(offsets[-1]), n_bins),
        )
        for i, key in enumerate(distinct):
            frames[offsets[i] : offsets[i + 1]] = store.load(key)
        frames.flush()
        del frames
        np.save(tmp / OFFSETS, offsets, allow_pickle=False)
        # written last: a folder with keys.json is complete
        (tmp / KEYS).write_text(json.dumps(distinct), encoding="utf-8")
        try:
            os.replace(tmp, path)
        except OSError:
            if not (path / KEYS).is_file():  # not a concurrent builder's finished pack
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info(
        "Packed %d tracks (%d frames, %.1f MB) into %s in %.1f s",
        len(distinct),
        int(offsets[-1]),
        int(offsets[-1]) * int(store.config.n_bins) * np.dtype(store.config.dtype).itemsize / 1e6,
        path,
        time.perf_counter() - started,
    )
    return open_pack(path)


def gather_patches(
    pack: PackedFrames,
    positions: np.ndarray,
    starts: np.ndarray,
    patch_frames: int,
    mean: np.ndarray,
    std: np.ndarray,
) -> np.ndarray:
    """Standardised patches ``(len(positions), patch_frames, n_bins)`` float32.

    Patch ``b`` is ``patch_frames`` frames of packed track ``positions[b]`` from
    ``starts[b]``, standardised per bin, zero-padded past the track's end: the same
    values, bit for bit, as :func:`coldstart.audio.patches.standardised_patch` on the
    store's copy of the track. All patches come from one fancy-indexing call.
    """
    first = pack.offsets[positions] + starts
    lengths = pack.offsets[positions + 1] - first  # frames left in the track from the start
    step = np.arange(patch_frames, dtype=np.int64)
    inside = step[None, :] < lengths[:, None]
    # a frame past the track's end reads the track's first frame; it is zeroed below
    rows = np.where(inside, first[:, None] + step[None, :], first[:, None])
    patches = np.asarray(pack.frames[rows.ravel()], dtype=np.float32)
    patches = patches.reshape(len(positions), patch_frames, -1)
    patches -= mean
    patches /= std
    patches[~inside] = 0.0
    return patches
