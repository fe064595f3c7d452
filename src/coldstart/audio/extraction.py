"""Parallel, resumable extraction of log-CQT spectrograms into a :class:`FeatureStore`.

Each track is decoded and transformed in a worker process
(:func:`coldstart.pools.run_in_processes`, which stops within seconds on Ctrl-C or
SIGTERM; CQT and decoding hold the GIL for much of their time, so threads would not
scale) and written by that worker straight into the store, so spectrograms never travel back
through inter-process pipes. The parent only fingerprints files, skips what the
store already has, and collects ``(status, n_frames)``.

One bad file never stops the run: its reason (see
:data:`coldstart.audio.features.REASONS`) is recorded and counted. Failures of
the machine itself (the store cannot be written) do stop it.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .features import AudioError, audio_to_features
from .store import FeatureStore, file_fingerprint

logger = logging.getLogger(__name__)


@dataclass
class TrackResult:
    """What extraction found for one track."""

    track_id: str
    status: str  # "ok" or one of REASONS
    key: str = ""  # store key ("" when the file is missing)
    n_frames: int = 0
    duration_s: float = 0.0
    cached: bool = False
    message: str = ""


def _extract_one(
    store: FeatureStore, key: str, path: str, min_duration_s: float
) -> tuple[str, int, float, str]:
    """Worker: compute one track into the store; returns ``(status, n_frames, seconds, message)``."""
    try:
        spectrogram, duration = audio_to_features(path, store.config, min_duration_s)
    except AudioError as error:
        store.write_failure(key, error.reason)
        return error.reason, 0, 0.0, str(error)
    # librosa/soxr failing on a pathological signal: counted, but not cached (may be transient)
    except Exception as error:
        message = f"undecodable: {path}: features failed ({type(error).__name__}: {error})"
        return "undecodable", 0, 0.0, message
    store.write(key, spectrogram)  # errors writing the store stop the run: not the file's fault
    return "ok", int(spectrogram.shape[0]), float(duration), ""


def _report_stopped(stop: KeyboardInterrupt, store: FeatureStore, keys: list[str]) -> None:
    """One line on what an interrupted extraction kept; no temporary file left behind."""
    from coldstart.pools import signal_name

    for temporary in store.root.glob("*/.tmp-*"):  # a worker ended mid-write
        temporary.unlink(missing_ok=True)
    kept = sum(store.has(key) or store.failure(key) is not None for key in keys)
    logger.warning(
        "Audio features stopped by %s: %d of %d tracks computed and kept in the feature "
        "store %s (each saved whole or not at all); the next run computes only the rest",
        signal_name(stop),
        kept,
        len(keys),
        store.root,
    )


def _resolve_n_jobs(n_jobs: int | None, n_tasks: int) -> int:
    import joblib

    return max(1, min(joblib.effective_n_jobs(n_jobs if n_jobs else -1), n_tasks))


def extract_to_store(
    tracks: Sequence[tuple[str, str | Path | None]],
    store: FeatureStore,
    *,
    min_duration_s: float = 3.0,
    n_jobs: int | None = -1,
    progress: bool = True,
) -> tuple[list[TrackResult], dict[str, float]]:
    """Compute the log-CQT of every track not yet in ``store``.

    Parameters
    ----------
    tracks
        ``(track_id, audio_path)`` pairs; a ``None`` path counts as missing.
    store
        The feature store (its ``config`` says how to compute).
    min_duration_s
        Shorter audio is skipped as ``too_short``.
    n_jobs
        Worker processes; ``-1`` (default) or ``None`` uses every core, ``1``
        computes in this process.
    progress
        Show a tqdm progress bar.

    Returns
    -------
    results, timing
        One :class:`TrackResult` per input, in input order, and
        ``{"computed", "seconds", "tracks_per_second", "n_jobs"}`` for the tracks
        computed in this call (cached ones are not timed).
    """
    from tqdm.auto import tqdm

    results: list[TrackResult] = []
    pending: list[int] = []
    for track_id, path in tracks:
        result = TrackResult(track_id=str(track_id), status="ok")
        results.append(result)
        if path is None or not Path(path).is_file():
            where = f"{path}: no file there" if path else "the song has no audio_path"
            result.status, result.message = "missing", f"missing: {where}"
            continue
        try:
            result.key = store.key_for(track_id, file_fingerprint(path))
        except OSError as error:  # unreadable (permissions, I/O error): this file only
            message = f"undecodable: {path}: the file exists but cannot be read ({error})"
            result.status, result.message = "undecodable", message
            continue
        if store.has(result.key):
            result.n_frames = store.n_frames(result.key)
            result.duration_s = result.n_frames * store.config.hop_length / store.config.sample_rate
            result.cached = True
        elif (reason := store.failure(result.key)) is not None:
            result.status, result.cached = reason, True
            # the first run's message is not kept: say where the verdict comes from
            result.message = (
                f"{reason}: {path} (as found by an earlier run; delete {result.key}.fail "
                "in the feature store to retry)"
            )
        else:
            pending.append(len(results) - 1)

    n_workers = _resolve_n_jobs(n_jobs, len(pending))
    start = time.perf_counter()
    if pending:
        args = [(store, results[i].key, str(tracks[i][1]), min_duration_s) for i in pending]
        bar = tqdm(
            total=len(pending),
            desc="audio CQT",
            unit="track",
            disable=not progress,
            mininterval=2.0,
        )
        logger.info(
            "Audio features: computing %d tracks with %d process(es)", len(pending), n_workers
        )

        def record(position: int, output: tuple[str, int, float, str]) -> None:
            status, n_frames, duration, message = output
            result = results[pending[position]]
            # an ok track's duration counts its frames, as a cached one's must (the
            # store keeps no decoded duration): the index does not depend on the cache
            if status == "ok":
                duration = n_frames * store.config.hop_length / store.config.sample_rate
            result.status, result.n_frames, result.duration_s = status, n_frames, duration
            result.message = message
            bar.update(1)

        with bar:
            try:
                if n_workers == 1:
                    for position, job in enumerate(args):
                        record(position, _extract_one(*job))
                else:
                    from coldstart.pools import run_in_processes, worker_context

                    # completion order: a slow file does not hold back the progress bar
                    run_in_processes(
                        _extract_one,
                        args,
                        n_workers=n_workers,
                        mp_context=worker_context(),
                        on_result=record,
                    )
            except KeyboardInterrupt as stop:
                _report_stopped(stop, store, [results[i].key for i in pending])
                raise
    seconds = time.perf_counter() - start
    timing = {
        "computed": len(pending),
        "seconds": round(seconds, 3),
        "tracks_per_second": round(len(pending) / seconds, 3) if pending and seconds > 0 else 0.0,
        "n_jobs": n_workers,
    }
    counts = Counter(r.status for r in results)
    logger.info(
        "Audio features: %d computed in %.1f s (%.2f tracks/s, %d processes), %d cached, "
        "%d usable of %d; skipped by reason: %s",
        len(pending),
        seconds,
        timing["tracks_per_second"],
        n_workers,
        sum(r.cached for r in results),
        counts.get("ok", 0),
        len(results),
        {k: v for k, v in sorted(counts.items()) if k != "ok"} or "none",
    )
    return results, timing
