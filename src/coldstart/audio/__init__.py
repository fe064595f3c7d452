"""Audio features: constant-Q spectrograms, the feature store and streaming patches.

* :mod:`.features` -- decoding and the paper's log-CQT (:class:`CQTConfig`);
* :mod:`.store` -- :class:`FeatureStore`, one memory-mapped ``.npy`` per track;
* :mod:`.extraction` -- :func:`extract_to_store`, parallel and resumable;
* :mod:`.patches` -- standardisation and the training / prediction windows;
* :mod:`.streaming` -- :class:`CQTPatchDataset`, a Keras ``PyDataset`` over the store
  (imported lazily: it pulls in Keras).

The CNN itself lives in :mod:`coldstart.models.audio_cnn`.
"""

from __future__ import annotations

from typing import Any

from .extraction import TrackResult, extract_to_store
from .features import REASONS, AudioError, CQTConfig, audio_to_features, compute_log_cqt, load_audio
from .patches import fit_standardisation, prediction_starts, random_patch_starts, standardised_patch
from .store import FeatureStore, file_fingerprint

__all__ = [
    "REASONS",
    "AudioError",
    "CQTConfig",
    "CQTPatchDataset",
    "FeatureStore",
    "TrackResult",
    "audio_to_features",
    "compute_log_cqt",
    "extract_to_store",
    "file_fingerprint",
    "fit_standardisation",
    "load_audio",
    "prediction_starts",
    "random_patch_starts",
    "standardised_patch",
]


def __getattr__(name: str) -> Any:
    if name == "CQTPatchDataset":  # Keras is heavy: import it only when asked for
        from .streaming import CQTPatchDataset

        return CQTPatchDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
