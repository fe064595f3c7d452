"""The on-disk feature store: one ``.npy`` log-CQT per track, read memory-mapped.

Layout of the store folder::

    manifest.json                 CQT settings and dtype; a store never mixes settings
    <ab>/<key>.npy                (n_frames, n_bins) log-CQT, float16 by default
    <ab>/<key>.fail               a track that gave no features; the file holds the reason

``key`` is ``<track_id>.<fingerprint>``: the fingerprint hashes the audio file's
size and its first and last 64 KiB, so a different file under the same track id
(another dataset pointed at the same ``data_root``, a re-encoded preview) gets new
features instead of stale ones, while regenerating identical bytes hits the cache.
``<ab>`` is the fingerprint's first two hex digits (256 shards, so no folder holds
hundreds of thousands of files at MSD scale).

Every file is written to a temporary name and renamed into place, so a killed run
never leaves a half-written spectrogram that a rerun would trust. Several
processes may write at once: each track has its own file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .features import CQTConfig

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
_EDGE_BYTES = 64 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")


def file_fingerprint(path: str | Path) -> str:
    """16 hex digits identifying an audio file's content cheaply.

    Hashes the size and the first and last 64 KiB instead of the whole file: at
    MSD scale a rerun that finds everything cached would otherwise reread every
    preview just to confirm it.
    """
    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.blake2b(str(size).encode(), digest_size=8)
    with open(path, "rb") as stream:
        digest.update(stream.read(_EDGE_BYTES))
        if size > 2 * _EDGE_BYTES:
            stream.seek(size - _EDGE_BYTES)
            digest.update(stream.read(_EDGE_BYTES))
    return digest.hexdigest()


def _atomic_write_bytes(target: Path, write: Any) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class FeatureStore:
    """A folder of per-track log-CQT arrays.

    Parameters
    ----------
    root
        The store folder (created when missing).
    config
        The CQT settings the caller computes with. Opening a store whose manifest
        holds other settings raises, rather than mixing spectrograms; ``None``
        opens read-only with whatever settings the manifest holds.
    """

    def __init__(self, root: str | Path, config: CQTConfig | None = None) -> None:
        self.root = Path(root)
        manifest_path = self.root / MANIFEST
        stored = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
        if config is None:
            if stored is None:
                raise FileNotFoundError(
                    f"No feature store at {self.root} (no {MANIFEST}); run the audio "
                    "feature extraction first (`kedro run --pipelines=audio`)."
                )
            self.config = CQTConfig.from_params(stored["config"])
            return
        self.config = config
        if stored is None:
            manifest = {
                "format": FORMAT_VERSION,
                "layout": "frames x bins",
                "config": config.to_dict(),
            }
            _atomic_write_bytes(
                manifest_path, lambda s: s.write(json.dumps(manifest, indent=2).encode())
            )
        elif stored.get("config") != config.to_dict():
            raise ValueError(
                f"The feature store {self.root} was computed with other settings:\n"
                f"  stored:    {stored.get('config')}\n  requested: {config.to_dict()}\n"
                "Delete that folder, or point `audio_feature_store` (catalog) or "
                "`data_root` at another place."
            )

    # ---- keys and paths
    @staticmethod
    def key_for(track_id: str, fingerprint: str) -> str:
        """The store key of a track's audio file content."""
        return f"{_UNSAFE.sub('_', str(track_id))}.{fingerprint}"

    def path(self, key: str) -> Path:
        """Where the spectrogram of ``key`` lives."""
        return self.root / key.rsplit(".", 1)[-1][:2] / f"{key}.npy"

    def failure_path(self, key: str) -> Path:
        return self.path(key).with_suffix(".fail")

    # ---- reading
    def has(self, key: str) -> bool:
        return self.path(key).exists()

    def failure(self, key: str) -> str | None:
        """The recorded reason ``key`` gave no features, or ``None``."""
        path = self.failure_path(key)
        return path.read_text().strip() if path.exists() else None

    def load(self, key: str, mmap: bool = True) -> np.ndarray:
        """The ``(n_frames, n_bins)`` spectrogram; memory-mapped unless ``mmap=False``.

        Memory mapping reads only the frames a patch touches and lets the OS page
        cache, not the Python heap, hold the store during training.
        """
        return np.load(self.path(key), mmap_mode="r" if mmap else None, allow_pickle=False)

    def n_frames(self, key: str) -> int:
        """Frames of a stored spectrogram, from the ``.npy`` header only."""
        return int(self.load(key, mmap=True).shape[0])

    # ---- writing (atomic)
    def write(self, key: str, spectrogram: np.ndarray) -> None:
        """Store a spectrogram in the store's dtype; any failure marker is removed."""
        array = np.ascontiguousarray(spectrogram, dtype=self.config.dtype)
        _atomic_write_bytes(self.path(key), lambda s: np.save(s, array, allow_pickle=False))
        self.failure_path(key).unlink(missing_ok=True)

    def write_failure(self, key: str, reason: str) -> None:
        """Remember that ``key`` gave no features, so a rerun does not decode it again."""
        _atomic_write_bytes(self.failure_path(key), lambda s: s.write(reason.encode()))
