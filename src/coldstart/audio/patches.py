"""Patches of stored spectrograms: per-bin standardisation, training and prediction windows.

Conventions (those of the paper's reference code; docs/audio.md):

* training: one patch of ``patch_frames`` (322 = 15 s) per track, anywhere in the
  track; shorter tracks are zero-padded at the end;
* prediction: trim ``trim`` (15 %) of the frames at each end, then patches of
  ``patch_frames`` with hop ``hop_frames`` (161); a track's output is the mean over
  its patches. When the trimmed track is shorter than one patch, the reference
  code gives up (zero prediction); here the patch is instead centred on the
  track (zero-padded only when the whole track is shorter), so every track with
  features gets a prediction;
* standardisation per frequency bin with mean and std fitted on train tracks;
  padding is applied *after* standardising, so padded frames sit at the train
  mean instead of reading as loud (0 dB) sound.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .store import FeatureStore


def fit_standardisation(
    store: FeatureStore, keys: Iterable[str]
) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-bin mean and standard deviation over every frame of the given tracks.

    Streams one memory-mapped track at a time and accumulates in float64, so the
    train set never has to fit in memory.

    Parameters
    ----------
    store
        The feature store.
    keys
        Store keys of the tracks to fit on (the train tracks).

    Returns
    -------
    mean, std, n_frames
        float32 vectors of ``n_bins``; bins with (near) zero variance get std 1.
    """
    total = sq_total = None
    count = 0
    for key in keys:
        frames = np.asarray(store.load(key), dtype=np.float64)
        if total is None:
            total = np.zeros(frames.shape[1])
            sq_total = np.zeros(frames.shape[1])
        total += frames.sum(axis=0)
        sq_total += np.square(frames).sum(axis=0)
        count += frames.shape[0]
    if not count:
        raise ValueError("No frames to fit the standardisation on (no train track has features)")
    mean = total / count
    var = np.maximum(sq_total / count - np.square(mean), 0.0)
    std = np.sqrt(var)
    std[std < 1e-6] = 1.0
    return mean.astype(np.float32), std.astype(np.float32), count


def standardised_patch(
    spectrogram: np.ndarray, start: int, patch_frames: int, mean: np.ndarray, std: np.ndarray
) -> np.ndarray:
    """``patch_frames`` frames from ``start``, standardised, zero-padded at the end.

    Returns
    -------
    np.ndarray
        float32 ``(patch_frames, n_bins)``.
    """
    segment = np.asarray(spectrogram[start : start + patch_frames], dtype=np.float32)
    patch = np.zeros((patch_frames, spectrogram.shape[1]), dtype=np.float32)
    patch[: len(segment)] = (segment - mean) / std
    return patch


def random_patch_starts(
    n_frames: np.ndarray, patch_frames: int, rng: np.random.Generator
) -> np.ndarray:
    """One uniformly drawn patch start per track (0 when the track is shorter than a patch)."""
    room = np.maximum(np.asarray(n_frames, dtype=np.int64) - patch_frames, 0)
    return rng.integers(0, room + 1)


def prediction_starts(n_frames: int, patch_frames: int, hop_frames: int, trim: float) -> list[int]:
    """Starts of the prediction patches of one track.

    ``int(n_frames * trim)`` frames are dropped at each end (the reference code's
    rule), then ``1 + (n_trimmed - patch_frames) // hop_frames`` patches are taken
    from the start of the trimmed region. When the trimmed region is shorter than
    a patch, one patch centred on the track is used instead.

    Examples
    --------
    >>> prediction_starts(1000, 322, 161, 0.15)   # trimmed region [150, 850)
    [150, 311, 472]
    >>> prediction_starts(400, 322, 161, 0.15)    # too short once trimmed: centred
    [39]
    >>> prediction_starts(100, 322, 161, 0.15)    # shorter than a patch: zero-padded
    [0]
    """
    if not 0 <= trim < 0.5:
        raise ValueError(f"trim must be in [0, 0.5), got {trim}")
    cut = int(n_frames * trim)
    length = n_frames - 2 * cut
    if length >= patch_frames:
        count = 1 + (length - patch_frames) // hop_frames
        return [cut + i * hop_frames for i in range(count)]
    return [max(0, (n_frames - patch_frames) // 2)]
