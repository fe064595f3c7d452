"""CQT extraction on Spark fills the same feature store as the local backend, and resumes."""

# ruff: noqa: F811 (pytest fixtures imported from spark_support, then named as arguments)
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from spark_support import CONF, spark, tiny_ingested  # noqa: F401

# they run the tiny world's generation and ingestion through a Kedro session
pytestmark = pytest.mark.slow

N_SONGS = 24
SHARD_SIZE = 8


@pytest.fixture(scope="module")
def tracks(tiny_ingested, tmp_path_factory) -> list[tuple[str, Path | None]]:
    """Some of the tiny world's tracks plus every kind of bad audio the extractor counts."""
    bad = tmp_path_factory.mktemp("bad_audio")
    (bad / "garbage.mp3").write_bytes(np.random.default_rng(0).bytes(20_000))
    (bad / "empty.wav").write_bytes(b"")
    raw = Path(tiny_ingested["params"]["dataset_dir"])
    songs = tiny_ingested["songs"].head(N_SONGS)
    found = [(t, raw / p) for t, p in zip(songs["track_id"], songs["audio_path"], strict=True)]
    return [
        *found[:10],
        ("no_path", None),
        ("no_file", bad / "nowhere.mp3"),
        ("garbage", bad / "garbage.mp3"),
        ("empty", bad / "empty.wav"),
        *found[10:],
    ]


def _config():
    from coldstart.audio.features import CQTConfig

    params = yaml.safe_load((CONF / "base" / "parameters_audio.yml").read_text())
    return CQTConfig.from_params(params["audio_features"])


def test_sharded_store_equals_the_local_store(spark, tracks, tmp_path):
    from coldstart.audio.extraction import extract_to_store
    from coldstart.audio.store import FeatureStore
    from coldstart.spark.audio import SHARDS, extract_to_store_on_spark

    local_store = FeatureStore(tmp_path / "local", _config())
    spark_store = FeatureStore(tmp_path / "spark", _config())
    local, _ = extract_to_store(tracks, local_store, n_jobs=1, progress=False)
    sharded, timing = extract_to_store_on_spark(
        tracks, spark_store, shard_size=SHARD_SIZE, spark=spark
    )
    assert timing["n_jobs"] == -(-len(tracks) // SHARD_SIZE)  # one task per shard
    for mine, theirs in zip(sharded, local, strict=True):
        assert (mine.track_id, mine.status, mine.key, mine.n_frames) == (
            theirs.track_id,
            theirs.status,
            theirs.key,
            theirs.n_frames,
        )
        if mine.status == "ok":
            np.testing.assert_array_equal(spark_store.load(mine.key), local_store.load(mine.key))
    statuses = {r.track_id: r.status for r in sharded}
    assert statuses["no_path"] == statuses["no_file"] == "missing"
    assert statuses["garbage"] != "ok" and statuses["empty"] != "ok"
    assert sum(r.status == "ok" for r in sharded) >= N_SONGS - 4

    # a rerun schedules no shard that finished: only the one holding missing files
    # (which the local backend also re-checks on every run) runs again, from cache
    rerun, again = extract_to_store_on_spark(
        tracks, spark_store, shard_size=SHARD_SIZE, spark=spark
    )
    assert again["computed"] == 0 and again["n_jobs"] == 1
    assert [(r.status, r.key) for r in rerun] == [(r.status, r.key) for r in sharded]
    assert all(r.cached for r in rerun if r.status != "missing")
    assert len(list((spark_store.root / SHARDS).glob("*.json"))) == timing["n_jobs"] - 1


def test_audio_node_counts_failures_alike_on_both_backends(spark, tiny_ingested, tmp_path):
    from coldstart.pipelines.audio.nodes import extract_audio_features

    params = yaml.safe_load((CONF / "base" / "parameters_audio.yml").read_text())
    features = {**params["audio_features"], "n_jobs": 1, "progress": False}
    songs = tiny_ingested["songs"].head(N_SONGS)
    raw_audio = Path(tiny_ingested["params"]["dataset_dir"]) / "audio"
    local_index, local_report = extract_audio_features(
        songs, raw_audio, tmp_path / "local", {**features, "backend": "local"}
    )
    spark_index, spark_report = extract_audio_features(
        songs, raw_audio, tmp_path / "spark", {**features, "backend": "spark"}
    )
    assert spark_index.equals(local_index)
    for key in ("n_songs", "n_ok", "n_failed", "failed_by_reason", "by_split", "padding"):
        assert spark_report[key] == local_report[key], key
