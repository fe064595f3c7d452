"""A real standalone Spark cluster on loopback (one master, two workers) runs the three stages.

Spark's own daemons (``spark-class`` from the pyspark package), every port on
127.0.0.1, started and killed by the module fixture. The last test kills a worker
(and its executor) in the middle of a stage: Spark reschedules its tasks on the
other worker and the result is the one a local run gives.
"""

# ruff: noqa: F811 (pytest fixtures imported from spark_support, then named as arguments)
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from spark_support import (  # noqa: F401
    as_triplet_folder,
    cqt_config,
    stop_active_session,
    tiny_ingested,
    upper_bound_map,
    wmf_parameters,
    world_tracks,
)
from waits import scaled

pytestmark = pytest.mark.slow

SRC = Path(__file__).resolve().parents[1] / "src"
MAP_TOLERANCE = 0.03  # as tests/test_spark_factorization.py


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """``(cluster, session)``: the loopback cluster and a SparkSession connected to it."""
    from coldstart.spark.loopback import loopback_cluster
    from coldstart.spark.session import start_session

    stop_active_session()
    with loopback_cluster(
        tmp_path_factory.mktemp("cluster"), n_workers=2, python_path=str(SRC)
    ) as running:
        session = start_session(
            {
                "spark.master": running.master_url,
                "spark.executor.cores": "1",
                "spark.executor.memory": "512m",
                "spark.cores.max": "2",
                "spark.default.parallelism": "2",
                "spark.sql.shuffle.partitions": "4",
                "spark.executorEnv.PYTHONPATH": str(SRC),
            }
        )
        try:
            yield running, session
        finally:
            session.stop()


def _executors(session) -> int:
    """Live executors (the driver not counted)."""
    return session.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1


def test_the_cluster_has_two_workers_on_loopback(cluster):
    running, session = cluster
    assert running.master_url.startswith("spark://127.0.0.1:")
    assert running.registered_workers() == 2
    deadline = time.monotonic() + scaled(300)
    while _executors(session) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _executors(session) == 2


def test_factorization_on_the_cluster(cluster, tiny_ingested, tmp_path):
    from coldstart.pipelines.factorization.nodes import factorize, factorize_spark

    _, session = cluster
    # the artist level: the same code as the song level, a quarter of the items (CI time)
    plays, artists = tiny_ingested["artist_plays"], tiny_ingested["artists"]
    # 5 sweeps for both backends (CI time): full settings are tests/test_spark_factorization.py's
    wmf = {**wmf_parameters(), "iterations": 5}
    triplets = session.read.parquet(str(as_triplet_folder(plays, tmp_path / "triplets")))
    on_cluster = factorize_spark(triplets, artists, tiny_ingested["users"], wmf, {}, seed=0)
    reference = factorize(plays, artists, wmf, seed=0)
    maps = [upper_bound_map(*f, plays, artists) for f in (on_cluster, reference)]
    assert abs(maps[0] - maps[1]) <= MAP_TOLERANCE, maps


def test_evaluation_on_the_cluster(cluster, tiny_ingested):
    from coldstart.metrics import evaluate_factors
    from coldstart.spark.evaluation import evaluate_factors_on_spark

    _, session = cluster
    plays = tiny_ingested["artist_plays"]
    rng = np.random.default_rng(1)
    users = rng.standard_normal((plays.shape[0], 16)).astype(np.float32)
    items = rng.standard_normal((plays.shape[1], 16)).astype(np.float32)
    local = evaluate_factors(users, items, plays, k=10, batch_size=50)
    on_cluster = evaluate_factors_on_spark(users, items, plays, k=10, batch_size=50, spark=session)
    np.testing.assert_allclose(on_cluster.user_ap, local.user_ap, rtol=1e-6, atol=1e-7)


def _local_store_results(tracks, root: Path):
    from coldstart.audio.extraction import extract_to_store
    from coldstart.audio.store import FeatureStore

    return extract_to_store(tracks, FeatureStore(root, cqt_config()), n_jobs=1, progress=False)[0]


def test_audio_features_on_the_cluster(cluster, tiny_ingested, tmp_path):
    from coldstart.audio.store import FeatureStore
    from coldstart.spark.audio import extract_to_store_on_spark

    _, session = cluster
    tracks = world_tracks(tiny_ingested, 12)
    store = FeatureStore(tmp_path / "cluster_store", cqt_config())
    results, timing = extract_to_store_on_spark(tracks, store, shard_size=4, spark=session)
    local = _local_store_results(tracks, tmp_path / "local_store")
    assert timing["n_jobs"] == 3
    assert [(r.status, r.key, r.n_frames) for r in results] == [
        (r.status, r.key, r.n_frames) for r in local
    ]


def test_a_worker_killed_mid_stage_is_retried_and_the_result_unchanged(
    cluster, tiny_ingested, tmp_path
):
    """Kill worker 0 (and its executor) while both executors run audio tasks."""
    from coldstart.audio.store import FeatureStore
    from coldstart.spark.audio import extract_to_store_on_spark

    running, session = cluster
    tracks = world_tracks(tiny_ingested, 40)
    store = FeatureStore(tmp_path / "store", cqt_config())
    outcome: dict = {}

    def extract() -> None:
        try:
            outcome["results"] = extract_to_store_on_spark(
                tracks, store, shard_size=4, spark=session
            )[0]
        except BaseException as error:  # surfaced below, in the test's thread
            outcome["error"] = error

    tracker = session.sparkContext.statusTracker()
    job = threading.Thread(target=extract, daemon=True)
    job.start()
    deadline = time.monotonic() + scaled(600)
    busy = False
    while not busy and job.is_alive() and time.monotonic() < deadline:
        stages = [tracker.getStageInfo(s) for s in tracker.getActiveStageIds()]
        busy = any(s is not None and s.numActiveTasks >= 2 for s in stages)
        time.sleep(0.05)
    assert busy, "the stage never ran on both executors"
    stage = next(s for s in stages if s is not None and s.numActiveTasks >= 2)
    assert stage.numCompletedTasks < stage.numTasks  # mid-stage
    running.kill_worker(0)
    job.join(timeout=scaled(900))
    # the task the dead executor was running failed and ran again on the other one
    assert tracker.getStageInfo(stage.stageId).numFailedTasks >= 1
    assert not job.is_alive(), "the job did not finish on the surviving worker"
    assert "error" not in outcome, outcome.get("error")
    assert running.workers[0].poll() is not None
    assert _executors(session) == 1  # the killed executor is gone; its tasks ran elsewhere
    local = _local_store_results(tracks, tmp_path / "local_store")
    assert [(r.status, r.key, r.n_frames) for r in outcome["results"]] == [
        (r.status, r.key, r.n_frames) for r in local
    ]
    for result in local:
        if result.status == "ok":
            reference = FeatureStore(tmp_path / "local_store").load(result.key)
            np.testing.assert_array_equal(store.load(result.key), reference)
