"""Spark backends vs the local ones on one machine: factorization, CQT extraction, evaluation.

Not a test. Prints, per stage, wall seconds, the peak RSS of the whole process tree
(this Python, Spark's driver JVM and Python workers and, with ``--cluster``, the
loopback cluster's daemons and executors, sampled by psutil) and the Spark
overhead ratio (Spark wall time / local wall time). Spark is expected to be slower
on one machine: what it buys is that the same code runs on many.

* factorization: random power-law play counts (``--triplets`` over ``--users`` x
  ``--items``, 90 % of the items train), ``implicit`` vs Spark ``local[N]`` (and the
  two-worker loopback cluster with ``--cluster``), k = ``--factors``, the base
  ``factorization.wmf`` otherwise; fold-in of the rest included in both;
* CQT: ``--tracks`` synthetic 30 s previews (mp3), the project's extractor with
  every core vs one Spark task per shard;
* evaluation: ``--eval-users`` x ``--eval-items`` standard-normal factors, k = 200,
  Poisson(5) relevant items per user, MAP@500, local vs Spark.

Then a linear extrapolation from the Spark throughputs measured here (per core) to
a service of ``--service-users`` users and ``--service-tracks`` tracks, for a
nightly window of ``--window-hours`` on workers of ``--worker-cores`` cores.

    python benchmarks/bench_spark.py                     # the issue's sizes (long)
    python benchmarks/bench_spark.py --triplets 200000 --users 20000 --items 5000 \
        --tracks 16 --eval-users 20000 --eval-items 2000   # a small run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_evaluation import PeakRSS  # noqa: E402


class TreePeakRSS(PeakRSS):
    """Peak RSS of this process and all its descendants (Spark's JVMs, Python workers)."""

    def __init__(self, interval: float = 0.1) -> None:
        super().__init__(interval)

    def _rss(self) -> int:
        total = self.proc.memory_info().rss
        for child in self.proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``(result, wall seconds, peak tree RSS in GiB)``."""
    with TreePeakRSS() as mem:
        start = time.perf_counter()
        out = fn()
        wall = time.perf_counter() - start
    return out, wall, mem.peak / 2**30


def play_matrix(n_triplets: int, n_users: int, n_items: int, seed: int = 0):
    """Users x items play counts: popularity-skewed items, geometric counts."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    popularity = rng.pareto(1.2, n_items) + 1
    items = rng.choice(n_items, size=n_triplets, p=popularity / popularity.sum())
    users = rng.integers(0, n_users, size=n_triplets)
    plays = rng.geometric(0.3, size=n_triplets).astype(np.float32)
    matrix = sp.csr_matrix((plays, (users, items)), shape=(n_users, n_items))
    matrix.sum_duplicates()
    return matrix


def wmf_parameters(factors: int, iterations: int) -> dict:
    import yaml

    conf = Path(__file__).resolve().parents[1] / "conf" / "base" / "parameters_factorization.yml"
    wmf = dict(yaml.safe_load(conf.read_text())["factorization"]["wmf"])
    return {**wmf, "factors": factors, "iterations": iterations, "show_progress": False}


def bench_factorization(args, spark, work: Path, label: str, results: dict) -> None:
    import pandas as pd

    from coldstart.datasets import PartitionedParquetDataset
    from coldstart.pipelines.factorization.nodes import factorize, factorize_spark
    from coldstart.pipelines.ingestion.nodes import play_triplets_table

    plays = play_matrix(args.triplets, args.users, args.items)
    split = np.where(np.arange(args.items) < int(0.9 * args.items), "train", "test")
    items = pd.DataFrame({"split": split, "item_idx": np.arange(args.items)})
    users = pd.DataFrame({"user_idx": np.arange(args.users)})
    wmf = wmf_parameters(args.factors, args.iterations)
    if "implicit" not in results:
        _, wall, peak = timed(lambda: factorize(plays, items, wmf, seed=0))
        results["implicit"] = {"seconds": wall, "peak_gib": peak, "nnz": int(plays.nnz)}
    folder = work / "triplets"
    if not folder.exists():
        PartitionedParquetDataset(str(folder), n_parts=16).save(play_triplets_table(plays))
    triplets = spark.read.parquet(str(folder))
    _, wall, peak = timed(lambda: factorize_spark(triplets, items, users, wmf, {}, seed=0))
    results[label] = {
        "seconds": wall,
        "peak_gib": peak,
        "overhead": wall / results["implicit"]["seconds"],
    }


def bench_cqt(args, spark, work: Path, label: str, results: dict) -> None:
    from bench_audio_features import generate_previews

    from coldstart.audio import CQTConfig, FeatureStore, extract_to_store
    from coldstart.spark.audio import extract_to_store_on_spark

    folder = work / "previews"
    paths = sorted(folder.glob("*.mp3")) or generate_previews(folder, args.tracks, 30.0)
    tracks = [(p.stem, p) for p in paths]
    if "local" not in results:
        store = FeatureStore(work / f"store_local_{time.time_ns()}", CQTConfig())
        _, wall, peak = timed(lambda: extract_to_store(tracks, store, n_jobs=-1, progress=False))
        results["local"] = {"seconds": wall, "peak_gib": peak, "tracks": len(tracks)}
    store = FeatureStore(work / f"store_{label}_{time.time_ns()}", CQTConfig())
    shard = max(1, len(tracks) // (4 * spark.sparkContext.defaultParallelism))
    _, wall, peak = timed(
        lambda: extract_to_store_on_spark(tracks, store, shard_size=shard, spark=spark)
    )
    results[label] = {
        "seconds": wall,
        "peak_gib": peak,
        "overhead": wall / results["local"]["seconds"],
        "tracks_per_second": len(tracks) / wall,
    }


def bench_evaluation(args, spark, work: Path, label: str, results: dict) -> None:
    import scipy.sparse as sp

    from coldstart.metrics import evaluate_factors
    from coldstart.spark.evaluation import evaluate_factors_on_spark

    rng = np.random.default_rng(0)
    users = rng.standard_normal((args.eval_users, 200), dtype=np.float32)
    items = rng.standard_normal((args.eval_items, 200), dtype=np.float32)
    counts = rng.poisson(5, args.eval_users)
    rows = np.repeat(np.arange(args.eval_users), counts)
    cols = rng.integers(0, args.eval_items, rows.size)
    relevant = sp.csr_matrix(
        (np.ones(rows.size, np.float32), (rows, cols)), users.shape[:1] + (args.eval_items,)
    )
    if "local" not in results:
        local, wall, peak = timed(lambda: evaluate_factors(users, items, relevant, k=500))
        results["local"] = {"seconds": wall, "peak_gib": peak, "map": local.summary()["map_at_500"]}
    on_spark, wall, peak = timed(
        lambda: evaluate_factors_on_spark(users, items, relevant, k=500, spark=spark)
    )
    results[label] = {
        "seconds": wall,
        "peak_gib": peak,
        "overhead": wall / results["local"]["seconds"],
        "map": on_spark.summary()["map_at_500"],
        "users_per_second": args.eval_users / wall,
    }


#: ALS sweeps of conf/base (factorization.wmf.iterations), for the extrapolation.
BASE_ITERATIONS = 15

STAGES = {"factorization": bench_factorization, "cqt": bench_cqt, "evaluation": bench_evaluation}


def extrapolate(args, report: dict, cores: int) -> dict:
    """Workers of ``--worker-cores`` needed for one nightly run, linear in the work."""
    fact = report["factorization"].get("spark_local")
    cqt = report["cqt"].get("spark_local")
    ev = report["evaluation"].get("spark_local")
    if not (fact and cqt and ev):
        return {}
    # ALS work grows with plays x k^2 (normal equations) plus rows x k^3 (solves);
    # this keeps the plays term
    plays_per_core_s = report["factorization"]["implicit"]["nnz"] / (fact["seconds"] * cores)
    service_plays = args.service_users * args.plays_per_user
    core_seconds = {
        # to the project's k = 200 (k^2) and base's sweeps (linear)
        "factorization": service_plays
        / plays_per_core_s
        * (200 / args.factors) ** 2
        * (BASE_ITERATIONS / args.iterations),
        "cqt_new_tracks": args.service_new_tracks / (cqt["tracks_per_second"] / cores),
        "evaluation": args.service_users
        / (ev["users_per_second"] / cores)
        * (args.service_eval_items / args.eval_items),
    }
    window = args.window_hours * 3600 * args.worker_cores
    return {
        "core_hours": {k: round(v / 3600, 1) for k, v in core_seconds.items()},
        "workers": int(np.ceil(sum(core_seconds.values()) / window)),
        "assumptions": (
            f"{args.service_users:,} users x {args.plays_per_user} plays, "
            f"{args.service_new_tracks:,} new previews a night (the {args.service_tracks:,}-track "
            f"catalogue's backlog done once), evaluation over {args.service_eval_items:,} "
            f"candidates, {args.worker_cores}-core workers, {args.window_hours} h; linear in the "
            "measured per-core Spark throughput on this machine"
        ),
    }


def _service_keys() -> set[str]:
    """Arguments of the extrapolation alone: a re-extrapolation may change them."""
    return {
        "service_users",
        "service_tracks",
        "service_new_tracks",
        "service_eval_items",
        "plays_per_user",
        "worker_cores",
        "window_hours",
    }


def _print_stage(stage: str, rows: dict) -> None:
    for name, row in rows.items():
        cells = ", ".join(
            f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
        )
        print(f"{stage:13s} {name:14s} {cells}", flush=True)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--triplets", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=300_000)
    parser.add_argument("--factors", type=int, default=200)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--tracks", type=int, default=300)
    parser.add_argument("--eval-users", type=int, default=1_000_000)
    parser.add_argument("--eval-items", type=int, default=10_000)
    parser.add_argument("--local-cores", type=int, default=2)
    parser.add_argument("--cluster", action="store_true", help="also the 2-worker loopback cluster")
    parser.add_argument("--stages", default="factorization,cqt,evaluation")
    parser.add_argument("--service-users", type=int, default=100_000_000)
    parser.add_argument("--service-tracks", type=int, default=10_000_000)
    parser.add_argument("--service-new-tracks", type=int, default=100_000)
    parser.add_argument("--service-eval-items", type=int, default=100_000)
    parser.add_argument("--plays-per-user", type=int, default=50)
    parser.add_argument("--worker-cores", type=int, default=16)
    parser.add_argument("--window-hours", type=float, default=6.0)
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument(
        "--from-json", type=Path, help="only redo the extrapolation from a saved report"
    )
    args = parser.parse_args(argv)
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        # the measured sizes come from the report; the service's from this command line
        for key, value in saved["arguments"].items():
            if key in vars(args) and key not in {"json", "from_json", *_service_keys()}:
                setattr(args, key, value)
        extrapolation = extrapolate(args, saved, int(saved["arguments"]["local_cores"]))
        print(json.dumps(extrapolation, indent=2))
        return saved | {"extrapolation": extrapolation}
    stages = set(args.stages.split(","))

    from coldstart.spark.session import start_session

    report: dict = {"factorization": {}, "cqt": {}, "evaluation": {}}
    src = str(Path(__file__).resolve().parents[1] / "src")
    with tempfile.TemporaryDirectory(prefix="bench_spark_") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        targets = {
            "spark_local": {
                "spark.master": f"local[{args.local_cores}]",
                "spark.driver.memory": "4g",
                "spark.sql.shuffle.partitions": str(4 * args.local_cores),
            }
        }
        if args.cluster:
            targets["spark_cluster"] = None  # started after the local runs, below
        for label, conf in targets.items():
            if conf is None:
                from coldstart.spark.loopback import loopback_cluster

                cluster = stack.enter_context(
                    loopback_cluster(
                        work / "cluster", n_workers=2, memory_per_worker="3g", python_path=src
                    )
                )
                conf = {
                    "spark.master": cluster.master_url,
                    "spark.executor.cores": "1",
                    "spark.executor.memory": "2g",  # must fit the workers' 3g
                    "spark.executorEnv.PYTHONPATH": src,
                    "spark.sql.shuffle.partitions": "8",
                }
            spark = start_session(conf)
            try:
                for stage, bench in STAGES.items():
                    if stage in stages:
                        new = set(report[stage])
                        bench(args, spark, work, label, report[stage])
                        new = set(report[stage]) - new
                        _print_stage(stage, {k: v for k, v in report[stage].items() if k in new})
                        if args.json:
                            args.json.write_text(json.dumps(report, indent=2, default=str))
            finally:
                spark.stop()
    report["extrapolation"] = extrapolate(args, report, args.local_cores)
    report["arguments"] = vars(args) | {"json": str(args.json) if args.json else None}
    for stage in ("factorization", "cqt", "evaluation"):
        _print_stage(stage, report[stage])
    print(json.dumps(report["extrapolation"], indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return report


if __name__ == "__main__":
    main()
