"""MAP@k of the item-kNN row at MSD-A scale: sparse user play rows as user factors.

The tags-itemKnn row scores ``user plays (users x train artists) @ similarities.T``.
On generated data of the requested size (users with a fixed number of train-artist
plays, sparse non-negative similarities, one relevant test artist per user) it
reports, in one run:

(a) the floor: the bare sparse-dense products, batch by batch;
(b) ``evaluate_factors`` on the sparse user factors (products + exact ranking);
(c) the dense route the project used before: user rows as a dense float32 array
    (``n_users x n_train x 4`` bytes, 76 GB at full size), timed on a sample of
    users and extrapolated, with the memory that the full array would need.

Example::

    python benchmarks/bench_item_knn_evaluation.py --users 1000000
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time

import numpy as np
import scipy.sparse as sp

from coldstart.metrics import evaluate_factors


def make_data(args: argparse.Namespace) -> tuple[sp.csr_matrix, np.ndarray, sp.csr_matrix]:
    rng = np.random.default_rng(args.seed)
    nnz = args.users * args.plays_per_user
    rows = np.repeat(np.arange(args.users, dtype=np.int32), args.plays_per_user)
    cols = rng.integers(0, args.train_artists, nnz, dtype=np.int32)
    plays = sp.csr_matrix(
        (np.ones(nnz, np.float32), (rows, cols)), shape=(args.users, args.train_artists)
    )
    plays.data[:] = 1.0  # binary profiles, MyMediaLite's default
    shape = (args.test_artists, args.train_artists)
    kept = rng.random(shape, dtype=np.float32) < args.similarity_density
    similarities = (kept * rng.random(shape, dtype=np.float32)).astype(np.float32)
    relevant = sp.csr_matrix(
        (
            np.ones(args.users, np.float32),
            (np.arange(args.users), rng.integers(0, args.test_artists, args.users)),
        ),
        shape=(args.users, args.test_artists),
    )
    return plays, similarities, relevant


def sparse_products(plays: sp.csr_matrix, similarities: np.ndarray, batch_size: int) -> None:
    vt = np.ascontiguousarray(similarities.T)
    for b0 in range(0, plays.shape[0], batch_size):
        plays[b0 : b0 + batch_size] @ vt


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--train-artists", type=int, default=19_000)
    parser.add_argument("--test-artists", type=int, default=2_400)
    parser.add_argument("--plays-per-user", type=int, default=50)
    parser.add_argument("--similarity-density", type=float, default=0.004)
    parser.add_argument("--k", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--dense-sample", type=int, default=20_000, help="users for route (c)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    plays, similarities, relevant = make_data(args)
    inputs_mb = (plays.data.nbytes + plays.indices.nbytes + plays.indptr.nbytes) / 2**20
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"{args.users:,} users x {args.train_artists:,} train x {args.test_artists:,} test "
        f"artists, {args.plays_per_user} plays per user; sparse user rows {inputs_mb:,.0f} MiB"
    )
    evaluate_factors(plays[:100], similarities, relevant[:100], k=args.k, normalize_items=False)

    start = time.perf_counter()
    sparse_products(plays, similarities, args.batch_size)
    floor = time.perf_counter() - start

    start = time.perf_counter()
    result = evaluate_factors(
        plays, similarities, relevant, k=args.k, normalize_items=False, batch_size=args.batch_size
    )
    ours = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    sample = min(args.dense_sample, args.users)
    dense_rows = plays[:sample].toarray()
    start = time.perf_counter()
    dense = evaluate_factors(
        dense_rows,
        similarities,
        relevant[:sample],
        k=args.k,
        normalize_items=False,
        batch_size=args.batch_size,
    )
    dense_s = (time.perf_counter() - start) * args.users / sample
    same = np.allclose(dense.user_ap, result.user_ap[:sample], atol=1e-12)
    dense_gb = args.users * args.train_artists * 4 / 2**30

    print(f"(a) sparse products alone      {floor:9.1f} s")
    print(f"(b) evaluate_factors, sparse   {ours:9.1f} s  {ours / floor:5.2f}x the floor")
    print(
        f"(c) dense user rows            {dense_s:9.1f} s  {dense_s / ours:5.1f}x (b); "
        f"extrapolated from {sample:,} users; the full array needs {dense_gb:,.1f} GiB"
    )
    print(f"peak RSS of the process after (b): {peak_mb:,.0f} MiB")
    print(f"MAP@{args.k}: {result.summary()[f'map_at_{args.k}']:.5f}; (b) and (c) agree: {same}")


if __name__ == "__main__":
    main()
