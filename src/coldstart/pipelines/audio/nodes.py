"""Nodes of the audio pipeline: CQT features, the track CNN, its predictions and T'.

Shared by every audio row (and by the fusion pipeline):

* :func:`extract_audio_features` fills the feature store (a cache folder, handed
  in as a path) and returns the feature index (one row per song) and a report;
* :func:`fit_audio_standardisation` fits the per-bin statistics on train tracks.

Per row (namespaced template ``audio_cnn``): :func:`train_audio_cnn`,
:func:`predict_audio_cnn` and :func:`split_song_predictions`.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from coldstart.audio.extraction import extract_to_store
from coldstart.audio.features import REASONS, CQTConfig
from coldstart.audio.patches import fit_standardisation
from coldstart.audio.store import FeatureStore
from coldstart.models.common import l2_normalise

logger = logging.getLogger(__name__)

#: The paper's training patch (15 s: 322 frames at 22,050 Hz, hop 1024), used when
#: the audio row's ``patches`` are not handed to :func:`extract_audio_features`.
PATCH_SECONDS = 15.0
#: Quantiles of the preview lengths in the features report.
LENGTH_QUANTILES = {
    "min": 0.0,
    "p10": 0.1,
    "p25": 0.25,
    "median": 0.5,
    "p75": 0.75,
    "p90": 0.9,
    "max": 1.0,
}
_SHOWN_PER_REASON = 3  # failed tracks quoted in the log per reason; the rest are counted

INDEX_COLUMNS = [
    "item_idx",
    "song_id",
    "track_id",
    "split",
    "status",
    "feature_key",
    "n_frames",
    "duration_s",
]


def _audio_file(dataset_dir: Path, audio_path: Any) -> Path | None:
    """The song's audio file: ``audio_path`` is relative to the dataset folder."""
    if (
        audio_path is None
        or (isinstance(audio_path, float) and np.isnan(audio_path))
        or not str(audio_path)
    ):
        return None
    path = Path(str(audio_path))
    return path if path.is_absolute() else dataset_dir / path


def extract_audio_features(
    songs: pd.DataFrame,
    raw_audio_dir: Path,
    audio_feature_store: Path,
    params: dict[str, Any],
    patches: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Compute (or find cached) the log-CQT of every song's track.

    Parameters
    ----------
    songs
        The songs table (``song_id``, ``track_id``, ``split``, ``audio_path``,
        ``item_idx``).
    raw_audio_dir
        ``<dataset_dir>/audio``; ``audio_path`` is relative to its parent.
    audio_feature_store
        The feature store folder (a cache: what is there is reused).
    params
        ``audio_features``: the CQT settings, ``min_duration_s``,
        ``max_failed_fraction`` and ``n_jobs``.
    patches
        The audio row's ``patches`` (``patch_frames``): the report says how much
        of the training patches is padding. Without it, the paper's 15 s.

    Returns
    -------
    index, report
        ``index``: one row per song in ``songs`` order with ``status`` (``ok`` or
        a reason), ``feature_key``, ``n_frames``, ``duration_s``. ``report``:
        counts by reason and split, preview lengths and padding, throughput,
        settings.

    Raises
    ------
    RuntimeError
        When more than ``max_failed_fraction`` of the songs have no usable audio,
        or no train song has.
    """
    config = CQTConfig.from_params(params)
    store = FeatureStore(audio_feature_store, config)
    dataset_dir = Path(raw_audio_dir).parent
    tracks = [
        (track_id, _audio_file(dataset_dir, audio_path))
        for track_id, audio_path in zip(songs["track_id"], songs["audio_path"], strict=True)
    ]
    backend = params.get("backend", "local")
    if backend == "spark":
        from coldstart.spark.audio import extract_to_store_on_spark

        results, timing = extract_to_store_on_spark(
            tracks,
            store,
            min_duration_s=float(params.get("min_duration_s", 3.0)),
            shard_size=int((params.get("spark") or {}).get("shard_size", 64)),
        )
    elif backend == "local":
        results, timing = extract_to_store(
            tracks,
            store,
            min_duration_s=float(params.get("min_duration_s", 3.0)),
            n_jobs=params.get("n_jobs", -1),
            progress=bool(params.get("progress", True)),
        )
    else:
        raise ValueError(f"audio_features.backend must be 'local' or 'spark', got {backend!r}")
    index = pd.DataFrame(
        {
            "item_idx": songs["item_idx"].to_numpy(dtype=np.int64),
            "song_id": songs["song_id"].astype(str).to_numpy(),
            "track_id": songs["track_id"].astype(str).to_numpy(),
            "split": songs["split"].astype(str).to_numpy(),
            "status": [r.status for r in results],
            "feature_key": [r.key if r.status == "ok" else "" for r in results],
            "n_frames": np.array([r.n_frames for r in results], dtype=np.int64),
            "duration_s": np.array([r.duration_s for r in results], dtype=np.float64),
        },
        columns=INDEX_COLUMNS,
    )
    patch_frames = int((patches or {}).get("patch_frames", config.frames_for(PATCH_SECONDS)))
    report = _features_report(index, results, timing, config, params, patch_frames)
    without_file = np.array([path is None for _, path in tracks], dtype=bool)
    if without_file.any():
        report["songs_without_audio_file"] = _restrict_to_songs_with_audio(index, without_file)
    _log_failures([r for r, none in zip(results, without_file, strict=True) if not none])
    _warn_if_mostly_padded(report)
    _check_enough_audio(report, float(params.get("max_failed_fraction", 0.5)))
    _pack_training_splits(store, index, params.get("pack_splits", ("train", "val")))
    return index, report


def _pack_training_splits(store: FeatureStore, index: pd.DataFrame, splits: Any) -> None:
    """Pack each training split's tracks into one memory-mapped array now, not in training.

    The packs (:mod:`coldstart.audio.packed`) are what the audio and mm rows read
    their batches from; a pack that exists already is kept.
    """
    from coldstart.audio.packed import packed_frames

    for split in splits or ():
        keys = _split_rows(index, str(split))["feature_key"].tolist()
        if keys:
            packed_frames(store, keys)


def _restrict_to_songs_with_audio(index: pd.DataFrame, without_file: np.ndarray) -> int:
    """Say that the audio rows use only the songs with audio; how many have none.

    Songs kept without audio (``ingestion.songs_without_audio: keep``) are not
    failures: they are left out of the failed fraction, and of training, as any
    song without features (their test rows: zero factors for audio, the artist
    alone for mm-lf-*, the mean patch for mm).
    """
    n_without = int(without_file.sum())
    logger.info(
        "Audio features: %d of %d songs have no audio file (kept by ingestion."
        "songs_without_audio: keep); the rows that need audio (audio, mm-lf-*, mm) train "
        "on the %d songs with audio and predict the others without it",
        n_without,
        len(index),
        len(index) - n_without,
    )
    return n_without


def _features_report(
    index: pd.DataFrame,
    results: list,
    timing: dict,
    config: CQTConfig,
    params: dict[str, Any],
    patch_frames: int,
) -> dict[str, Any]:
    failed = index[index["status"] != "ok"]
    by_reason = Counter(failed["status"])
    examples = {
        reason: [f"{r.track_id}: {r.message}" for r in results if r.status == reason][:10]
        for reason in sorted(by_reason)
    }
    by_split = {
        split: {"songs": int(len(group)), "ok": int((group["status"] == "ok").sum())}
        for split, group in index.groupby("split", sort=False)
    }
    ok = index["status"] == "ok"
    return {
        "n_songs": int(len(index)),
        "n_ok": int(ok.sum()),
        "n_failed": int((~ok).sum()),
        "failed_by_reason": {reason: int(by_reason.get(reason, 0)) for reason in REASONS},
        "failed_examples": examples,
        "by_split": by_split,
        "computed": int(timing["computed"]),
        "cached": int(sum(r.cached for r in results)),
        "seconds": timing["seconds"],
        "tracks_per_second": timing["tracks_per_second"],
        "n_jobs": timing["n_jobs"],
        "mean_duration_s": round(float(index.loc[ok, "duration_s"].mean()), 3) if ok.any() else 0.0,
        "preview_seconds": _length_quantiles(index.loc[ok, "n_frames"].to_numpy(), config),
        "padding": _padding(index.loc[ok, "n_frames"].to_numpy(), patch_frames, config),
        "store_dtype": config.dtype,
        "cqt": config.to_dict(),
        "min_duration_s": float(params.get("min_duration_s", 3.0)),
    }


def _length_quantiles(n_frames: np.ndarray, config: CQTConfig) -> dict[str, float]:
    """Quantiles of the preview lengths, in seconds of features (frames x hop).

    Counted from the frames rather than the decoded duration, which a cached
    track does not keep, so a rerun reports the same figures.
    """
    if not len(n_frames):
        return {}
    seconds = np.asarray(n_frames, dtype=np.float64) * config.hop_length / config.sample_rate
    quantiles = np.quantile(seconds, list(LENGTH_QUANTILES.values()))
    return {name: round(float(q), 3) for name, q in zip(LENGTH_QUANTILES, quantiles, strict=True)}


def _padding(n_frames: np.ndarray, patch_frames: int, config: CQTConfig) -> dict[str, Any]:
    """How much of the training patches is zero padding.

    A track shorter than the patch gives one patch, zero-padded at the end, in
    training and in prediction (``coldstart.audio.patches``).

    Returns
    -------
    dict
        ``patch_frames``, ``patch_seconds``, ``tracks``, ``tracks_shorter_than_patch``,
        ``share_of_tracks_padded`` and ``share_of_patch_frames_padded`` (padding
        frames over all frames of one patch per track).
    """
    n_frames = np.asarray(n_frames, dtype=np.int64)
    n_tracks = len(n_frames)
    short = int((n_frames < patch_frames).sum())
    padded = int(np.clip(patch_frames - n_frames, 0, None).sum())
    divisor = max(n_tracks, 1)  # no track: no padding (0 / 1)
    return {
        "patch_frames": int(patch_frames),
        "patch_seconds": round(patch_frames * config.hop_length / config.sample_rate, 3),
        "tracks": n_tracks,
        "tracks_shorter_than_patch": short,
        "share_of_tracks_padded": round(short / divisor, 4),
        "share_of_patch_frames_padded": round(padded / (patch_frames * divisor), 4),
    }


def _warn_if_mostly_padded(report: dict[str, Any]) -> None:
    """One warning when more than half the tracks are shorter than the training patch."""
    padding = report["padding"]
    if 2 * padding["tracks_shorter_than_patch"] <= padding["tracks"]:
        return
    logger.warning(
        "Audio features: %d of %d tracks (%.0f%%) are shorter than the %d-frame (%.1f s) "
        "training patch, so their patches are partly zeros: %.0f%% of all patch frames are "
        "padding (median preview %.1f s)",
        padding["tracks_shorter_than_patch"],
        padding["tracks"],
        100 * padding["share_of_tracks_padded"],
        padding["patch_frames"],
        padding["patch_seconds"],
        100 * padding["share_of_patch_frames_padded"],
        report["preview_seconds"]["median"],
    )


def _log_failures(results: list) -> None:
    """Quote the first few failed tracks of each reason in the log (the report has more)."""
    from rich.markup import escape  # Kedro's rich log handler reads [...] as markup

    shown: Counter = Counter()
    for result in results:
        if result.status == "ok" or shown[result.status] >= _SHOWN_PER_REASON:
            continue
        shown[result.status] += 1
        logger.warning("Audio features: %s: %s", escape(result.track_id), escape(result.message))


def _check_enough_audio(report: dict[str, Any], max_failed_fraction: float) -> None:
    # songs kept without an audio file are not failed extractions
    without_file = int(report.get("songs_without_audio_file", 0))
    n_songs, n_failed = report["n_songs"] - without_file, report["n_failed"] - without_file
    reasons = {k: v for k, v in report["failed_by_reason"].items() if v}
    if n_songs and n_failed / n_songs > max_failed_fraction:
        raise RuntimeError(
            f"Audio features: {n_failed} of {n_songs} songs have no usable audio "
            f"({n_failed / n_songs:.0%} > max_failed_fraction={max_failed_fraction:.0%}); by reason: "
            f"{reasons}; examples: {report['failed_examples']}. Check that `dataset_dir` points at a "
            "dataset whose audio/ folder holds the songs' previews (mp3, wav, flac or ogg)."
        )
    if report["by_split"].get("train", {}).get("ok", 0) == 0:
        raise RuntimeError(f"Audio features: no train song has usable audio (by reason: {reasons})")


def fit_audio_standardisation(
    audio_feature_index: pd.DataFrame, audio_feature_store: Path
) -> dict[str, Any]:
    """Per-bin mean and std of the log-CQT over every frame of the train tracks.

    Returns
    -------
    dict
        ``{"mean": [n_bins], "std": [n_bins], "n_tracks", "n_frames"}`` (JSON).
    """
    train = audio_feature_index[
        (audio_feature_index["split"] == "train") & (audio_feature_index["status"] == "ok")
    ]
    mean, std, n_frames = fit_standardisation(
        FeatureStore(audio_feature_store), train["feature_key"]
    )
    logger.info("Audio standardisation fitted on %d train tracks (%d frames)", len(train), n_frames)
    return {
        "mean": mean.tolist(),
        "std": std.tolist(),
        "n_tracks": int(len(train)),
        "n_frames": int(n_frames),
    }


def _split_rows(index: pd.DataFrame, split: str) -> pd.DataFrame:
    return index[(index["split"] == split) & (index["status"] == "ok")]


def train_audio_cnn(
    audio_feature_index: pd.DataFrame,
    audio_feature_store: Path,
    audio_feature_stats: dict[str, Any],
    song_item_factors: np.ndarray,
    model_params: dict[str, Any],
    training: dict[str, Any],
    patches: dict[str, Any],
    seed: int,
) -> tuple[Any, dict[str, list[float]]]:
    """Train the track CNN on one patch per train track, early-stopped on val tracks.

    Targets are the songs' L2-normalised factors. Batches stream from the
    memory-mapped store (:class:`coldstart.audio.streaming.CQTPatchDataset`).

    Returns
    -------
    model, history
        The trained Keras model (best validation epoch) and
        ``{"loss": [...], "val_loss": [...]}``.
    """
    from coldstart.audio.streaming import CQTPatchDataset
    from coldstart.models.audio_cnn import build_audio_cnn
    from coldstart.models.common import set_global_seed, train_factor_model

    set_global_seed(seed)
    store = FeatureStore(audio_feature_store)
    mean = np.asarray(audio_feature_stats["mean"], dtype=np.float32)
    std = np.asarray(audio_feature_stats["std"], dtype=np.float32)
    targets = l2_normalise(song_item_factors)
    patch_frames = int(patches.get("patch_frames", 322))
    batch_size = int(training.get("batch_size", 32))

    def stream(rows: pd.DataFrame, shuffle: bool, sampling: str, offset: int) -> CQTPatchDataset:
        return CQTPatchDataset(
            store,
            rows["feature_key"].tolist(),
            rows["n_frames"].to_numpy(),
            targets[rows["item_idx"].to_numpy()],
            mean,
            std,
            patch_frames=patch_frames,
            batch_size=batch_size,
            shuffle=shuffle,
            sampling=sampling,
            seed=seed + offset,
        )

    train_rows = _split_rows(audio_feature_index, "train")
    val_rows = _split_rows(audio_feature_index, "val")
    if val_rows.empty:
        raise RuntimeError("No validation song has usable audio: early stopping needs some")
    train = stream(
        train_rows, shuffle=True, sampling=str(patches.get("sampling", "fixed")), offset=0
    )
    # validation always sees the same patch per track, so val_loss is comparable across epochs
    validation = stream(val_rows, shuffle=False, sampling="fixed", offset=1)

    model = build_audio_cnn(
        patch_frames=patch_frames,
        n_bins=store.config.n_bins,
        filters=model_params.get("filters", (256, 512, 1024, 1024)),
        kernel_sizes=model_params.get("kernel_sizes", (4, 4, 4, 1)),
        pool_sizes=model_params.get("pool_sizes", (4, 4, 4, 1)),
        dropout=float(model_params.get("dropout", 0.5)),
        n_factors=int(song_item_factors.shape[1]),
        learning_rate=None,  # compiled by train_factor_model, as every content model
    )
    logger.info(
        "Audio CNN: %d parameters; %d train / %d val tracks, patches of %d frames",
        model.count_params(),
        len(train_rows),
        len(val_rows),
        patch_frames,
    )
    history = train_factor_model(
        model, train, validation, {**training, "batch_size": batch_size}, "audio_cnn"
    )
    return model, history


def predict_audio_cnn(
    model: Any,
    audio_feature_index: pd.DataFrame,
    audio_feature_store: Path,
    audio_feature_stats: dict[str, Any],
    patches: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted factors and T' for every song: means over each track's patches.

    Returns
    -------
    song_factors, track_embeddings
        float32 ``n_songs x n_factors`` (L2-normalised) and ``n_songs x 4096``
        (T'), rows = ``item_idx``; songs without audio features get zero rows.
    """
    from coldstart.models.audio_cnn import EMBEDDING_LAYER, FACTORS_LAYER

    index = audio_feature_index.sort_values("item_idx")
    if not np.array_equal(index["item_idx"].to_numpy(), np.arange(len(index))):
        raise ValueError("audio_feature_index must hold item_idx 0..n_songs-1 once each")
    keys = [
        key if status == "ok" else None
        for key, status in zip(index["feature_key"], index["status"], strict=True)
    ]
    outputs = predict_from_store(model, audio_feature_store, audio_feature_stats, keys, patches)
    factors = l2_normalise(outputs[FACTORS_LAYER])
    return factors, outputs[EMBEDDING_LAYER]


def predict_from_store(
    model: Any,
    audio_feature_store: str,
    audio_feature_stats: dict,
    keys: list[str | None],
    patches: dict[str, Any],
    **options: Any,
) -> dict[str, np.ndarray]:
    """Patch-averaged outputs per key, with the ``patches.predict_*`` parameters.

    The one place the audio and ``mm`` rows turn their parameters into
    :func:`coldstart.models.audio_cnn.predict_track_outputs` arguments;
    ``options`` (``layers``, ``track_inputs``) are passed on.
    """
    from coldstart.models.audio_cnn import predict_track_outputs

    return predict_track_outputs(
        model,
        FeatureStore(audio_feature_store),
        keys,
        np.asarray(audio_feature_stats["mean"], dtype=np.float32),
        np.asarray(audio_feature_stats["std"], dtype=np.float32),
        hop_frames=int(patches.get("predict_hop_frames", 161)),
        trim=float(patches.get("predict_trim", 0.15)),
        batch_size=int(patches.get("predict_batch_size", 64)),
        **options,
    )


def split_song_predictions(
    song_factors: np.ndarray, audio_feature_index: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """The val and test rows of the predicted factors, in ``songs`` order.

    Songs whose audio gave no features keep their zero row (they rank last for
    every user); their number is logged.
    """
    parts = []
    for split in ("val", "test"):
        rows = audio_feature_index[audio_feature_index["split"] == split]
        missing = int((rows["status"] != "ok").sum())
        if missing:
            logger.warning(
                "Audio CNN: %d of %d %s songs have no audio features: zero factors",
                missing,
                len(rows),
                split,
            )
        parts.append(
            np.ascontiguousarray(song_factors[rows["item_idx"].to_numpy()], dtype=np.float32)
        )
    return parts[0], parts[1]
