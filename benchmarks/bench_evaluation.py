"""Benchmark of the MAP@k evaluator (coldstart.metrics.evaluate_factors).

Compares, on the same random float32 factors and random test matrix:

(a) the bare batched matrix products (the floor any exact evaluator must pay),
(b) ``evaluate_factors``,
(c) a per-user loop in the style of the paper's reference code (score the row,
    argsort, ``apk``), timed on a sample of users and extrapolated,
(d) ``implicit.evaluation.ranking_metrics_at_k`` with an ALS model carrying the
    same factors (item factors L2-normalised; empty training matrix),
(e) with ``--cutoffs``: the metrics at several cut-offs, one ``evaluate_factors``
    call per cut-off (what a results-table row did before) against one
    ``evaluate_factors_at`` call (one scoring and ranking pass), with a check that
    both give the same numbers.

Reports wall and CPU time, ratios to the floor, peak resident memory (RSS sampled by
a thread with psutil: tracemalloc does not see BLAS buffers) and the MAP of every
method in both conventions.

Example::

    python benchmarks/bench_evaluation.py --users 100000 --items 20000 --factors 200
    python benchmarks/bench_evaluation.py --cutoffs 10,50,100,500 --reference-sample 0 \
        --skip-implicit
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import psutil
import scipy.sparse as sp

from coldstart.metrics import apk, evaluate_factors, evaluate_factors_at


class PeakRSS:
    """Context manager sampling this process's RSS in a background thread."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.proc = psutil.Process()
        self.peak = 0
        self.base = 0
        self._stop = threading.Event()

    def _rss(self) -> int:
        return self.proc.memory_info().rss

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self.base = self.peak = self._rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float, int, int]:
    """Run ``fn``; return (result, wall s, CPU s of this process, peak RSS, base RSS)."""
    with PeakRSS() as mem:
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return out, wall, cpu, mem.peak, mem.base


def make_data(args: argparse.Namespace):
    rng = np.random.default_rng(args.seed)
    users = np.empty((args.users, args.factors), np.float32)
    for b0 in range(0, args.users, 65536):  # chunks: no float64 temporaries
        b1 = min(b0 + 65536, args.users)
        users[b0:b1] = rng.standard_normal((b1 - b0, args.factors), dtype=np.float32)
    items = rng.standard_normal((args.items, args.factors), dtype=np.float32)
    counts = rng.poisson(args.positives_per_user, args.users)
    rows = np.repeat(np.arange(args.users, dtype=np.int32), counts)
    cols = rng.integers(0, args.items, counts.sum(), dtype=np.int32)
    rel = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, cols)), shape=(args.users, args.items)
    )
    rel.sum_duplicates()
    rel.data[:] = 1.0
    return users, items, rel


def bare_products(users: np.ndarray, items_n: np.ndarray, batch_size: int) -> None:
    buf = np.empty((min(batch_size, len(users)), items_n.shape[0]), np.float32)
    vt = items_n.T
    for b0 in range(0, len(users), batch_size):
        b1 = min(b0 + batch_size, len(users))
        np.matmul(users[b0:b1], vt, out=buf[: b1 - b0])


def reference_loop(users, items_n, rel, k, sample):
    """Per user: score the row, argsort it, apk on the top k (paper reference style)."""
    aps = np.empty(len(sample))
    for j, u in enumerate(sample):
        scores = items_n @ users[u]
        top = np.argsort(-scores, kind="stable")[:k]
        actual = rel.indices[rel.indptr[u] : rel.indptr[u + 1]]
        aps[j] = apk(list(actual), list(top), k)
    return aps


def run_implicit(users, items_n, rel, k):
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.evaluation import ranking_metrics_at_k

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # OpenBLAS threadpool advice is about fitting
        model = AlternatingLeastSquares(factors=users.shape[1], num_threads=0)
    model.user_factors = users
    model.item_factors = items_n
    train = sp.csr_matrix(rel.shape, dtype=np.float32)
    return ranking_metrics_at_k(model, train, rel, K=k, show_progress=False, num_threads=0)


def compare_cutoffs(users, items, rel, ks, args) -> list[str]:
    """(e): one call per cut-off against one call for all; interleaved repeats."""
    kw = {"batch_size": args.batch_size, "num_threads": args.threads}
    separate: list[tuple[float, float]] = []
    together: list[tuple[float, float]] = []
    one_by_one: dict = {}
    at: dict = {}
    for _ in range(args.repeats):
        one_by_one, w, c, _, _ = timed(
            lambda: {k: evaluate_factors(users, items, rel, k=k, **kw) for k in ks}
        )
        separate.append((w, c))
        at, w, c, _, _ = timed(lambda: evaluate_factors_at(users, items, rel, ks, **kw))
        together.append((w, c))
    same = all(
        np.array_equal(getattr(at[k], name), getattr(one_by_one[k], name))
        for k in ks
        for name in ("user_ap", "user_recall", "user_ndcg")
    )
    best_s, best_t = min(separate), min(together)
    cutoffs = ",".join(map(str, ks))
    return [
        f"(e) cut-offs {cutoffs}: {len(ks)} evaluate_factors calls: wall {best_s[0]:.2f} s "
        f"(best of {args.repeats}; median {statistics.median(w for w, _ in separate):.2f}), "
        f"CPU {best_s[1]:.2f} s",
        f"(e) cut-offs {cutoffs}: 1 evaluate_factors_at call:   wall {best_t[0]:.2f} s "
        f"(best of {args.repeats}; median {statistics.median(w for w, _ in together):.2f}), "
        f"CPU {best_t[1]:.2f} s",
        f"(e) one pass / one call per cut-off: wall {best_t[0] / best_s[0]:.3f}, "
        f"CPU {best_t[1] / best_s[1]:.3f}; identical per-user AP, recall and NDCG at every "
        f"cut-off: {same}",
    ]


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(
            (ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")),
            platform.processor(),
        )
    except (OSError, subprocess.CalledProcessError):
        model = platform.processor()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem = psutil.virtual_memory().total / 2**30
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(
            f"{i['internal_api']} {i['version']} ({i['num_threads']} threads)"
            for i in threadpool_info()
            if i["user_api"] == "blas"
        )
    except ImportError:
        blas = "?"
    return f"{model}; {cpus} CPUs; {mem:.0f} GiB RAM; BLAS: {blas}; numpy {np.__version__}"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=100_000)
    p.add_argument("--items", type=int, default=20_000)
    p.add_argument("--factors", type=int, default=200)
    p.add_argument(
        "--positives-per-user",
        type=float,
        default=5.0,
        help="mean (Poisson) of relevant test items per user; some users get 0",
    )
    p.add_argument("--k", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument(
        "--reference-sample",
        type=int,
        default=2000,
        help="users timed in the per-user reference loop (0: skip)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="interleaved runs of (a) and (b); best and median reported",
    )
    p.add_argument("--threads", type=int, default=None, help="num_threads for the evaluator")
    p.add_argument("--skip-implicit", action="store_true")
    p.add_argument(
        "--cutoffs",
        default="",
        help="comma-separated cut-offs, e.g. 10,50,100,500: also time (e), one "
        "evaluate_factors call per cut-off against one evaluate_factors_at call",
    )
    args = p.parse_args(argv)
    ks = sorted({int(c) for c in args.cutoffs.split(",") if c.strip()})

    print(f"machine: {machine()}")
    print(
        f"data: {args.users:,} users x {args.items:,} items x {args.factors} factors, "
        f"Poisson({args.positives_per_user}) positives/user, k={args.k}, "
        f"batch {args.batch_size}, seed {args.seed}"
    )
    t0 = time.perf_counter()
    users, items, rel = make_data(args)
    items_n = (items / np.linalg.norm(items, axis=1, keepdims=True)).astype(np.float32)
    n_active = int((np.diff(rel.indptr) > 0).sum())
    print(
        f"generated in {time.perf_counter() - t0:.1f} s: {rel.nnz:,} positives, "
        f"{n_active:,} active users; RSS {psutil.Process().memory_info().rss / 2**30:.2f} GiB"
    )
    # warm-up: load/compile the numba kernels, touch BLAS
    evaluate_factors(users[:64], items, rel[:64], k=args.k)
    if ks:
        evaluate_factors_at(users[:64], items, rel[:64], ks)
    bare_products(users[:64], items_n, 64)

    def ev():
        return evaluate_factors(
            users, items, rel, k=args.k, batch_size=args.batch_size, num_threads=args.threads
        )

    runs: dict[str, list[tuple[float, float, int, int]]] = {"floor": [], "eval": []}
    result = None
    for _ in range(args.repeats):
        _, w, c, pk, b = timed(lambda: bare_products(users, items_n, args.batch_size))
        runs["floor"].append((w, c, pk, b))
        result, w, c, pk, b = timed(ev)
        runs["eval"].append((w, c, pk, b))
    summ = result.summary()
    k = args.k
    rows = []

    def add(name, wall_best, wall_med, cpu, peak, base, map_all, map_active):
        rows.append((name, wall_best, wall_med, cpu, peak, base, map_all, map_active))

    for key, name in (("floor", "(a) bare batched products"), ("eval", "(b) evaluate_factors")):
        walls = [r[0] for r in runs[key]]
        best = min(range(len(walls)), key=walls.__getitem__)
        w, c, pk, b = runs[key][best]
        add(
            name,
            w,
            statistics.median(walls),
            c,
            max(r[2] for r in runs[key]),
            b,
            summ[f"map_at_{k}"] if key == "eval" else None,
            summ[f"map_at_{k}_active"] if key == "eval" else None,
        )

    floor_best = rows[0][1]
    extra_lines = []
    if args.reference_sample > 0:
        rng = np.random.default_rng(args.seed + 1)
        n_s = min(args.reference_sample, args.users)
        sample = np.sort(rng.choice(args.users, n_s, replace=False))
        aps, w, c, pk, b = timed(lambda: reference_loop(users, items_n, rel, k, sample))
        scale = args.users / n_s
        act = np.diff(rel.indptr)[sample] > 0
        add(
            f"(c) per-user reference: {n_s:,} users, time x{scale:.0f} (*)",
            w * scale,
            w * scale,
            c * scale,
            pk,
            b,
            float(aps.mean()),
            float(aps[act].mean()) if act.any() else float("nan"),
        )
        ev_s = result.user_ap[sample]
        diff = np.abs(aps - ev_s)
        extra_lines.append(
            f"(c) vs (b) on the {n_s:,} sampled users: MAP {aps.mean():.6f} vs {ev_s.mean():.6f}; "
            f"users whose AP differs: {(diff > 0).sum()} (max |diff| {diff.max():.2e}; "
            "gemv vs gemm rounding can swap near-equal float32 scores)"
        )
    if not args.skip_implicit:
        res_i, w, c, pk, b = timed(lambda: run_implicit(users, items_n, rel, k))
        map_active = float(res_i["map"])
        # implicit averages over active users; 'all' = active x n_active / n_users
        add(
            "(d) implicit ranking_metrics_at_k",
            w,
            w,
            c,
            pk,
            b,
            map_active * n_active / args.users,
            map_active,
        )
        extra_lines.append(
            f"(d) implicit: map {res_i['map']:.10f} (active users) vs (b) "
            f"{summ[f'map_at_{k}_active']:.10f}; ndcg {res_i['ndcg']:.10f} vs "
            f"{summ[f'ndcg_at_{k}']:.10f}"
        )

    if ks:
        extra_lines.extend(compare_cutoffs(users, items, rel, ks, args))

    head = (
        f"{'method':<58} {'wall s':>9} {'median':>9} {'CPU s':>9} {'x floor':>8} "
        f"{'peak RSS':>9} {'+RSS':>8} {'MAP all':>10} {'MAP active':>10}"
    )
    print()
    print(head)
    print("-" * len(head))

    def fm(x: float | None) -> str:
        return f"{x:10.6f}" if x is not None else f"{'-':>10}"

    for name, wb, wm, c, pk, b, ma, mact in rows:
        print(
            f"{name:<58} {wb:9.2f} {wm:9.2f} {c:9.2f} {wb / floor_best:8.2f} "
            f"{pk / 2**30:8.2f}G {(pk - b) / 2**30:7.2f}G {fm(ma)} {fm(mact)}"
        )
    print()
    fl, evr = runs["floor"], runs["eval"]
    print(
        f"evaluate_factors / floor: wall {rows[1][1] / rows[0][1]:.2f}x (best of {args.repeats}), "
        f"CPU {rows[1][3] / rows[0][3]:.2f}x; "
        f"all runs wall floor {[round(r[0], 2) for r in fl]} eval {[round(r[0], 2) for r in evr]}"
    )
    if args.reference_sample > 0:
        print(
            "(*) (c) is timed on a random sample of users and its times are extrapolated "
            "linearly to all users; its MAP columns are over the sample only."
        )
    for line in extra_lines:
        print(line)
    print(f"summary(): {summ}")


if __name__ == "__main__":
    main()
