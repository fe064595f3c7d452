"""CQT extraction on Spark: the track list cut into shards, one Spark task per shard.

Every task runs the project's own extractor
(:func:`coldstart.audio.extraction.extract_to_store`, in one process) on its
tracks, so the settings, the per-track cache (fingerprinted ``.npy`` and ``.fail``
files) and the failure reasons are the local backend's. The spectrograms go into
the one feature store folder (each track its own atomically written file, so
concurrent tasks never collide) and readers need nothing new. A task finishes
by writing its shard's manifest ``_shards/<shard key>.json`` (the tracks' results);
a rerun reuses a shard whose manifest exists and whose files are unchanged
(same paths, sizes and modification times) without decoding, fingerprinting or
even scheduling it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SHARDS = "_shards"
#: Statuses the local extractor leaves uncached (a file may appear, a failure may be
#: transient): a shard holding one is recomputed on the next run, as the track would be.
_UNCACHED = {"missing"}


def _file_state(path: str | Path | None) -> list[Any]:
    """What decides whether a shard is still valid: a file's path, size and mtime."""
    if path is None:
        return [None]
    try:
        stat = os.stat(path)
    except OSError:
        return [str(path), None]
    return [str(path), stat.st_size, stat.st_mtime_ns]


def shard_key(tracks: list[tuple[str, Any]], config: dict[str, Any], min_duration_s: float) -> str:
    """Hash of a shard's tracks, their files' state and the extraction settings."""
    content = {
        "tracks": [[str(t), *_file_state(p)] for t, p in tracks],
        "config": config,
        "min_duration_s": float(min_duration_s),
    }
    return hashlib.blake2b(json.dumps(content).encode(), digest_size=16).hexdigest()


def _manifest_path(store_root: Path, key: str) -> Path:
    return Path(store_root) / SHARDS / f"{key}.json"


def _reusable(store: Any, results: list[dict]) -> bool:
    """A shard manifest is trusted only while its spectrograms are still in the store."""
    return all(r["status"] != "ok" or store.has(r["key"]) for r in results)


def extract_shard(
    store_root: str, config: dict[str, Any], key: str, tracks: list, min_duration_s: float
) -> tuple[list[dict], dict[str, float]]:
    """Spark task: the local extractor on one shard, then the shard's manifest."""
    from coldstart.audio.extraction import extract_to_store
    from coldstart.audio.features import CQTConfig
    from coldstart.audio.store import FeatureStore, _atomic_write_bytes

    store = FeatureStore(store_root, CQTConfig.from_params(config))
    results, timing = extract_to_store(
        tracks, store, min_duration_s=min_duration_s, n_jobs=1, progress=False
    )
    rows = [asdict(r) for r in results]
    # a failure the local backend would retry (no .fail file written) keeps the shard open
    final = all(
        r.status == "ok" or (r.status not in _UNCACHED and store.failure(r.key) is not None)
        for r in results
    )
    if final:
        payload = json.dumps({"key": key, "results": rows}).encode()
        _atomic_write_bytes(_manifest_path(store.root, key), lambda s: s.write(payload))
    return rows, timing


def extract_to_store_on_spark(
    tracks: list[tuple[str, Any]],
    store: Any,
    *,
    min_duration_s: float = 3.0,
    shard_size: int = 64,
    spark: Any = None,
) -> tuple[list[Any], dict[str, float]]:
    """:func:`coldstart.audio.extraction.extract_to_store` with one Spark task per shard.

    Returns the same ``(results, timing)``: one ``TrackResult`` per track in input
    order; ``timing`` counts the tracks computed by this call's tasks.
    """
    from coldstart.audio.extraction import TrackResult
    from coldstart.spark.session import active_session

    config = store.config.to_dict()
    shard_size = max(1, int(shard_size))
    shards = [
        [(str(t), None if p is None else str(p)) for t, p in tracks[i : i + shard_size]]
        for i in range(0, len(tracks), shard_size)
    ]
    keys = [shard_key(shard, config, min_duration_s) for shard in shards]
    done: dict[int, list[dict]] = {}
    for number, key in enumerate(keys):
        manifest = _manifest_path(store.root, key)
        if manifest.exists():
            rows = json.loads(manifest.read_text())["results"]
            if _reusable(store, rows):
                done[number] = [{**row, "cached": True} for row in rows]
    pending = [n for n in range(len(shards)) if n not in done]
    start = time.perf_counter()
    computed = 0
    if pending:
        spark = spark or active_session()
        root = str(store.root)
        tasks = [(n, keys[n], shards[n]) for n in pending]
        outputs = (
            spark.sparkContext.parallelize(tasks, numSlices=len(tasks))
            .map(lambda t: (t[0], extract_shard(root, config, t[1], t[2], min_duration_s)))
            .collect()
        )
        for number, (rows, timing) in outputs:
            done[number] = rows
            computed += int(timing["computed"])
    seconds = time.perf_counter() - start
    results = [TrackResult(**row) for n in range(len(shards)) for row in done[n]]
    timing = {
        "computed": computed,
        "seconds": round(seconds, 3),
        "tracks_per_second": round(computed / seconds, 3) if computed and seconds > 0 else 0.0,
        "n_jobs": len(pending),
    }
    logger.info(
        "Audio features on Spark: %d shards of %d tracks, %d reused, %d run (%d tracks "
        "computed in %.1f s)",
        len(shards),
        shard_size,
        len(shards) - len(pending),
        len(pending),
        computed,
        seconds,
    )
    return results, timing
