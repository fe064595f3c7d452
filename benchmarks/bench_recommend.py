"""Benchmark of exact top-N recommendation for new items (coldstart.recommend).

On random float32 factors (standard normal; one array of users, generated in
chunks so no float64 copy is ever made) it times, in one process:

(a) the bare batched products ``U[batch] @ V_n.T`` into a preallocated buffer,
    the same batches as ``recommend`` and nothing else: the floor of any exact
    method that scores every (user, item) pair;
(b) ``recommend``: the same products plus, per batch, every user's top items and
    the running top users of every item; (a) and (b) are run ``--repeats`` times,
    interleaved, and the best of each is compared (the machine may be shared);
(c) with ``--breakdown``: ``recommend`` with one side only (``n_per_item=0``, then
    ``n_per_user=0``), to see what each side costs over the floor;
(d) with ``--faiss``: the exact per-item pass alone (``n_per_user=0``) and
    ``approximate_audience`` (faiss IVF-Flat over the users), with the recall of
    the faiss audiences against the exact ones and the speed-up;
(e) with ``--baselines``: the same two exact lists (top items of every user, top
    users of every item) from libraries that do exact top-k: faiss's flat
    inner-product index (``IndexFlatIP``, one over the items searched with every
    user, one over the users searched with every item) and implicit's
    ``implicit.cpu.topk.topk`` (both ways), each compared with (b) list by list.
    Lists may differ where two scores are within float32 rounding of each other
    (each library forms the products with its own kernels); the check reports how
    many lists are identical and the largest score gap where one is not.

Reports wall and CPU seconds, ratios to the floor, and peak RSS (sampled by a
psutil thread during each step; ``ru_maxrss`` for the whole process).

Example::

    python benchmarks/bench_recommend.py --users 1000000 --items 20000 --factors 200 --faiss
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from coldstart.metrics import _normalized_items
from coldstart.recommend import approximate_audience, recommend

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_evaluation import PeakRSS, machine  # noqa: E402

GIB = 2**30


def make_factors(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """float32 standard-normal user and item factors; users filled chunk by chunk."""
    rng = np.random.default_rng(args.seed)
    users = np.empty((args.users, args.factors), np.float32)
    for b0 in range(0, args.users, 65536):
        b1 = min(b0 + 65536, args.users)
        users[b0:b1] = rng.standard_normal((b1 - b0, args.factors), dtype=np.float32)
    items = rng.standard_normal((args.items, args.factors), dtype=np.float32)
    return users, items


def bare_products(users: np.ndarray, items_n: np.ndarray, batch_size: int) -> None:
    """The floor: the batched products alone, into one preallocated buffer."""
    buf = np.empty((min(batch_size, len(users)), items_n.shape[0]), np.float32)
    vt = items_n.T
    for b0 in range(0, len(users), batch_size):
        b1 = min(b0 + batch_size, len(users))
        np.matmul(users[b0:b1], vt, out=buf[: b1 - b0])


class Step:
    """Wall time, CPU time and peak RSS of one timed call."""

    def __init__(self, name: str, fn: Callable[[], Any]) -> None:
        self.name = name
        with PeakRSS() as mem:
            c0, t0 = time.process_time(), time.perf_counter()
            self.result = fn()
            self.wall, self.cpu = time.perf_counter() - t0, time.process_time() - c0
        self.peak, self.base = mem.peak, mem.base

    def row(self, floor: Step | None) -> str:
        ratio = f"{self.wall / floor.wall:8.2f}" if floor is not None else f"{'-':>8}"
        return (
            f"{self.name:<44} {self.wall:9.2f} {self.cpu:9.2f} {ratio} "
            f"{self.peak / GIB:8.2f}G {(self.peak - self.base) / GIB:7.2f}G"
        )


def digest(a: np.ndarray) -> str:
    """A fingerprint of an array's bytes, to compare results without keeping them."""
    return hashlib.sha1(np.ascontiguousarray(a).data).hexdigest()


def recall(approx: np.ndarray, exact: np.ndarray) -> float:
    """Mean over items of |approximate audience ∩ exact audience| / |exact audience|."""
    pairs = zip(approx, exact, strict=True)
    hits = [np.intersect1d(a[a >= 0], e, assume_unique=True).size for a, e in pairs]
    return float(np.sum(hits) / exact.size) if exact.size else float("nan")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=1_000_000)
    p.add_argument("--items", type=int, default=20_000)
    p.add_argument("--factors", type=int, default=200)
    p.add_argument("--n-per-user", type=int, default=50)
    p.add_argument("--n-per-item", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--threads", type=int, default=None, help="num_threads of recommend")
    p.add_argument("--breakdown", action="store_true", help="also time each side alone")
    p.add_argument("--faiss", action="store_true", help="also time the faiss audiences")
    p.add_argument(
        "--baselines",
        action="store_true",
        help="also time faiss IndexFlatIP and implicit's topk on the same exact lists",
    )
    p.add_argument("--nlist", type=int, default=None, help="faiss cells (default sqrt(users))")
    p.add_argument("--nprobe", type=int, default=32, help="faiss cells visited per item")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--repeats", type=int, default=2, help="interleaved runs of (a) and (b); best compared"
    )
    args = p.parse_args(argv)

    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print(
        f"data: {args.users:,} users x {args.items:,} items x {args.factors} factors "
        f"(float32), top {args.n_per_user} items per user, top {args.n_per_item} users "
        f"per item, batch {args.batch_size}, threads {args.threads or 'all'}, seed {args.seed}"
    )
    t0 = time.perf_counter()
    users, items = make_factors(args)
    items_n = _normalized_items(items, True)
    rss = psutil.Process().memory_info().rss / GIB
    print(f"generated in {time.perf_counter() - t0:.1f} s; RSS {rss:.2f} GiB")
    # warm-up: load/compile the numba kernels, touch BLAS
    recommend(users[:256], items[:512], 5, 5)
    bare_products(users[:256], items_n, 256)

    def rec(n_user: int, n_item: int) -> Any:
        return recommend(
            users,
            items,
            n_user,
            n_item,
            batch_size=args.batch_size,
            num_threads=args.threads,
        )

    floors: list[Step] = []
    boths: list[Step] = []
    digests = set()
    for _ in range(args.repeats):  # interleaved, so that load from elsewhere hits both
        floors.append(
            Step(
                "(a) bare batched products", lambda: bare_products(users, items_n, args.batch_size)
            )
        )
        boths.append(
            Step("(b) recommend, both sides", lambda: rec(args.n_per_user, args.n_per_item))
        )
        digests.add(digest(boths[-1].result.item_users))
        kept = boths[-1].result if args.baselines else None
        del boths[-1].result  # nothing else kept: the peak RSS is recommend's own
    floor = min(floors, key=lambda st: st.wall)
    both = min(boths, key=lambda st: st.wall)
    steps = [floor, both]
    if args.breakdown:
        steps.append(Step("(c) recommend, per-user side only", lambda: rec(args.n_per_user, 0)))
        del steps[-1].result
    exact_max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    faiss_line = None
    if args.breakdown or args.faiss:
        item_only = Step("(c) recommend, per-item side only", lambda: rec(0, args.n_per_item))
        exact_audience = item_only.result.item_users
        assert digests == {digest(exact_audience)}, "the audiences differ between runs"
        del item_only.result
        steps.append(item_only)
        exact_max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if args.faiss:
        approx = Step(
            f"(d) faiss IVF-Flat audiences, nprobe {args.nprobe}",
            lambda: approximate_audience(
                users,
                items,
                args.n_per_item,
                nlist=args.nlist,
                nprobe=args.nprobe,
                num_threads=args.threads,
                seed=args.seed,
            ),
        )
        steps.append(approx)
        r = recall(approx.result[0], exact_audience)
        faiss_line = (
            f"faiss: recall@{exact_audience.shape[1]} {r:.4f} vs the exact audiences; "
            f"speed-up {item_only.wall / approx.wall:.2f}x over the exact per-item pass "
            f"({item_only.wall:.1f} s -> {approx.wall:.1f} s); "
            f"nlist {args.nlist or round(np.sqrt(args.users))}, nprobe {args.nprobe}"
        )

    baseline_lines: list[str] = []
    if args.baselines:
        baseline_lines = run_baselines(args, users, items_n, kept, both, steps)

    head = f"{'step':<44} {'wall s':>9} {'CPU s':>9} {'x floor':>8} {'peak RSS':>9} {'+RSS':>8}"
    print()
    print(head)
    print("-" * len(head))
    for step in steps:
        print(step.row(floor))
    print()
    print(
        f"recommend / floor: wall {both.wall / floor.wall:.2f}x, CPU {both.cpu / floor.cpu:.2f}x "
        f"(best of {args.repeats}; target: within 1.5x); all runs wall: floor "
        f"{[round(st.wall, 1) for st in floors]}, recommend {[round(st.wall, 1) for st in boths]}"
    )
    print(
        f"peak RSS of the process (ru_maxrss) through the exact steps: "
        f"{exact_max_rss / GIB:.2f} GiB = {exact_max_rss / 1e9:.2f} GB (target < 2 GB)"
    )
    if faiss_line:
        total = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(faiss_line)
        print(f"peak RSS of the process including faiss: {total / GIB:.2f} GiB")
    for line in baseline_lines:
        print(line)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (2 CPUs)")


def same_lists(
    ours: np.ndarray, our_scores: np.ndarray, theirs: np.ndarray, their_scores: np.ndarray
) -> tuple[int, int, float]:
    """Rows identical as returned, rows identical once exact ties are put in index
    order (``recommend``'s order), and the largest score gap in the rows that still differ.

    A library may return exactly tied entries in another order; a rounding-level
    gap would mean its float32 products differ from ours and swap near-ties.
    """
    as_returned = int(np.all(ours == theirs, axis=1).sum())
    order = np.lexsort((theirs, -their_scores.astype(np.float32)), axis=1)
    theirs = np.take_along_axis(theirs, order, axis=1)
    their_scores = np.take_along_axis(their_scores, order, axis=1)
    equal = np.all(ours == theirs, axis=1)
    gap = 0.0
    if not equal.all():
        rows = ~equal
        gap = float(np.max(np.abs(our_scores[rows] - their_scores[rows].astype(np.float32))))
    return as_returned, int(equal.sum()), gap


def run_baselines(
    args: argparse.Namespace,
    users: np.ndarray,
    items_n: np.ndarray,
    ours: Any,
    both: Step,
    steps: list[Step],
) -> list[str]:
    """(e): faiss IndexFlatIP and implicit's topk on both exact lists, checked against (b)."""
    lines = []
    threads = args.threads or os.cpu_count() or 1
    n_user = min(args.n_per_user, len(items_n))
    n_item = min(args.n_per_item, len(users))
    candidates: dict[str, Callable[[], tuple]] = {}
    try:
        import faiss

        faiss.omp_set_num_threads(threads)

        def flat() -> tuple:
            by_item = faiss.IndexFlatIP(items_n.shape[1])
            by_item.add(items_n)
            user_scores, user_items = by_item.search(users, n_user)
            by_user = faiss.IndexFlatIP(users.shape[1])
            by_user.add(users)
            item_scores, item_users = by_user.search(items_n, n_item)
            return user_items, user_scores, item_users, item_scores

        candidates[f"(e) faiss {faiss.__version__} IndexFlatIP, both"] = flat
    except ImportError:
        lines.append("faiss is not installed: its IndexFlatIP baseline is left out")
    try:
        import implicit
        from implicit.cpu.topk import topk

        def implicit_topk() -> tuple:
            user_items, user_scores = topk(items_n, users, n_user, num_threads=threads)
            item_users, item_scores = topk(users, items_n, n_item, num_threads=threads)
            return user_items, user_scores, item_users, item_scores

        candidates[f"(e) implicit {implicit.__version__} topk, both"] = implicit_topk
    except ImportError:
        lines.append("implicit is not installed: its topk baseline is left out")
    for name, fn in candidates.items():
        step = Step(name, fn)
        user_items, user_scores, item_users, item_scores = step.result
        del step.result
        steps.append(step)
        per_user = same_lists(ours.user_items, ours.user_scores, user_items, user_scores)
        per_item = same_lists(ours.item_users, ours.item_scores, item_users, item_scores)
        lines.append(
            f"{name}: wall {step.wall:.2f} s vs recommend {both.wall:.2f} s -> recommend "
            f"{step.wall / both.wall:.2f}x faster"
        )
        for side, (returned, tied, gap), n in (
            ("user", per_user, len(user_items)),
            ("item", per_item, len(item_users)),
        ):
            lines.append(
                f"    identical lists per {side}: {tied:,}/{n:,} with exact ties in index "
                f"order ({returned:,} as returned); largest score gap where not: {gap:.2e}"
            )
    return lines


if __name__ == "__main__":
    main()
