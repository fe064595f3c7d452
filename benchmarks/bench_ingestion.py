"""Triplet ingestion speed and memory: the project's reader vs ``pandas.read_csv`` and ``pyarrow.csv``.

Generates a Taste Profile-format file (``user<TAB>song<TAB>count``, 40-hex user
ids, ``SO`` + 16-character song ids, heavy-tailed counts, a few malformed lines)
of the requested size, then, each in its own process so peak memory is its own:

* ``project``: ``coldstart.pipelines.ingestion.nodes.read_play_triplets`` and the
  users × songs CSR build (duplicates summed);
* ``pandas``: ``pandas.read_csv(path, sep="\\t", header=None)`` with default
  settings, ``pandas.factorize`` of both id columns, and the same CSR build;
* ``pyarrow``: ``pyarrow.csv.read_csv`` (tab-separated, multi-threaded, malformed
  lines skipped by its ``invalid_row_handler``, counts as int64), the ids
  dictionary-encoded by Arrow (codes in order of first appearance, as
  ``pandas.factorize`` gives them), non-positive counts dropped, the same CSR build
  (ids seen only on dropped lines keep a code: an empty row or column, same nnz).
  It drops only what Arrow cannot parse: the project's reader also trims fields,
  tells non-integer counts from malformed lines, keeps samples of each, and counts
  the users named only by dropped lines (``docs/ingestion.md``).

Usage::

    .venv/bin/python benchmarks/bench_ingestion.py --lines 10000000

Prints lines per second, wall time and peak RSS (``ru_maxrss``) of each, and the
ratios. The file is kept in ``--workdir`` and reused when it has the right size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def generate(
    path: Path, n_lines: int, n_users: int, n_songs: int, seed: int, by_user: bool
) -> None:
    """Write ``n_lines`` triplets with pyarrow (vectorised; about 60 bytes a line).

    Users are drawn uniformly, songs from a Zipf law over a random popularity
    order; with ``by_user`` each user's lines are contiguous, as in the real file.
    """
    import pyarrow as pa
    from pyarrow import csv

    rng = np.random.default_rng(seed)
    hex_digits = np.array(list("0123456789abcdef"))
    alnum = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
    users = np.array(
        ["".join(r) for r in hex_digits[rng.integers(0, 16, (n_users, 40))]], dtype=object
    )
    songs = np.array(
        ["SO" + "".join(r) for r in alnum[rng.integers(0, 36, (n_songs, 16))]], dtype=object
    )
    songs_by_popularity = songs[rng.permutation(n_songs)]
    line_users = rng.integers(0, n_users, n_lines)
    if by_user:
        line_users.sort()
    tmp = path.with_suffix(".tmp")
    chunk = 2_000_000
    with open(tmp, "wb") as stream:
        for start in range(0, n_lines, chunk):
            m = min(chunk, n_lines - start)
            song_rank = np.minimum(rng.zipf(1.3, m) - 1, n_songs - 1)
            table = pa.table(
                {
                    "u": pa.array(users[line_users[start : start + m]], pa.string()),
                    "s": pa.array(songs_by_popularity[song_rank], pa.string()),
                    "c": pa.array(np.minimum(rng.geometric(0.4, m), 5000), pa.int32()),
                }
            )
            csv.write_csv(
                table,
                stream,
                csv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none"),
            )
        stream.write(b"malformed line without tabs\n" * 10)
    os.replace(tmp, path)


def csr_build(users: np.ndarray, songs: np.ndarray, plays: np.ndarray, shape: tuple) -> Any:
    """The users × songs matrix both methods build (duplicates summed, float32)."""
    import scipy.sparse as sp

    matrix = sp.csr_matrix((plays.astype(np.float32), (users, songs)), shape=shape)
    matrix.sum_duplicates()
    return matrix


def run_project(path: str) -> dict:
    import yaml

    from coldstart.pipelines.ingestion import triplet_kernels
    from coldstart.pipelines.ingestion.nodes import read_play_triplets

    conf = Path(__file__).resolve().parents[1] / "conf/base/parameters_ingestion.yml"
    params = yaml.safe_load(conf.read_text())["ingestion"]
    # numba's one-time start-up and loading the compiled kernels from its disk cache
    # are timed apart, as imports are for both methods
    start = time.perf_counter()
    triplet_kernels.warm_up()
    loaded = time.perf_counter()
    triplets, _ = read_play_triplets(Path(path), params)
    read = time.perf_counter()
    shape = (len(triplets["user_ids"]), len(triplets["song_ids"]))
    matrix = csr_build(triplets["user"], triplets["song"], triplets["plays"], shape)
    built = time.perf_counter()
    return {
        "load_seconds": loaded - start,
        "read_seconds": read - loaded,
        "build_seconds": built - read,
        "nnz": int(matrix.nnz),
        "plays": float(matrix.sum()),
    }


def run_pandas(path: str) -> dict:
    import pandas as pd

    start = time.perf_counter()
    frame = pd.read_csv(
        path, sep="\t", header=None, names=["user", "song", "plays"], on_bad_lines="skip"
    )
    frame = frame[pd.to_numeric(frame["plays"], errors="coerce") > 0]
    users, user_ids = pd.factorize(frame["user"])
    songs, song_ids = pd.factorize(frame["song"])
    plays = frame["plays"].astype(np.float32).to_numpy()
    read = time.perf_counter()
    matrix = csr_build(users, songs, plays, (len(user_ids), len(song_ids)))
    built = time.perf_counter()
    return {
        "load_seconds": 0.0,
        "read_seconds": read - start,
        "build_seconds": built - read,
        "nnz": int(matrix.nnz),
        "plays": float(matrix.sum()),
    }


def run_pyarrow(path: str) -> dict:
    import pyarrow as pa
    from pyarrow import csv

    start = time.perf_counter()
    table = csv.read_csv(
        path,
        read_options=csv.ReadOptions(column_names=["user", "song", "plays"]),
        parse_options=csv.ParseOptions(
            delimiter="\t", quote_char=False, invalid_row_handler=lambda row: "skip"
        ),
        convert_options=csv.ConvertOptions(
            column_types={"user": pa.string(), "song": pa.string(), "plays": pa.int64()}
        ),
    )
    # the ids' codes first, then the non-positive counts dropped from the numpy codes:
    # filtering the Arrow table first copies every string (seconds on 3 M lines)
    codes = {}
    for column in ("user", "song"):
        # one dictionary over all chunks (chunk 0's, then each chunk's new ids):
        # codes in order of first appearance
        encoded = table[column].dictionary_encode().unify_dictionaries()
        codes[column] = np.concatenate([c.indices.to_numpy() for c in encoded.chunks])
        codes[column + "_ids"] = len(encoded.chunk(0).dictionary) if encoded.num_chunks else 0
    plays = table["plays"].to_numpy()
    keep = plays > 0
    codes["user"], codes["song"] = codes["user"][keep], codes["song"][keep]
    plays = plays[keep].astype(np.float32)
    read = time.perf_counter()
    matrix = csr_build(codes["user"], codes["song"], plays, (codes["user_ids"], codes["song_ids"]))
    built = time.perf_counter()
    return {
        "load_seconds": 0.0,
        "read_seconds": read - start,
        "build_seconds": built - read,
        "nnz": int(matrix.nnz),
        "plays": float(matrix.sum()),
    }


def child(method: str, path: str) -> None:
    result = {"project": run_project, "pandas": run_pandas, "pyarrow": run_pyarrow}[method](path)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=None, help="default: lines / 48")
    parser.add_argument("--songs", type=int, default=None, help="default: lines / 128")
    parser.add_argument("--workdir", type=Path, default=Path("data/benchmarks"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--order",
        choices=("random", "by-user"),
        default="random",
        help="line order: random (the harder case) or each user's lines together (the real file)",
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / f"triplets_{args.lines}_{args.order}.txt"
    if not path.exists():
        start = time.perf_counter()
        generate(
            path,
            args.lines,
            args.users or max(args.lines // 48, 10),
            args.songs or max(args.lines // 128, 10),
            args.seed,
            args.order == "by-user",
        )
        print(
            f"generated {path} ({path.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - start:.1f} s"
        )
    n_lines = args.lines + 10
    results = {}
    for method in ("project", "pandas", "pyarrow"):
        out = (
            subprocess.run(
                [sys.executable, __file__, "--child", method, str(path)],
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        results[method] = json.loads(out)
    for r in results.values():
        r["seconds"] = r["read_seconds"] + r["build_seconds"]
    print(
        f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"{n_lines:,} lines in {args.order} order"
    )
    print(
        f"{'method':<10}{'read s':>9}{'build s':>9}{'total s':>9}{'lines/s':>13}"
        f"{'peak RSS MiB':>14}{'nnz':>12}"
    )
    for method, r in results.items():
        print(
            f"{method:<10}{r['read_seconds']:>9.2f}{r['build_seconds']:>9.2f}{r['seconds']:>9.2f}"
            f"{n_lines / r['seconds']:>13,.0f}{r['peak_rss_mb']:>14,.0f}{r['nnz']:>12,}"
        )
    p, q = results["project"], results["pandas"]
    print(
        f"\nspeed-up project vs pandas: {q['seconds'] / p['seconds']:.2f}x "
        f"(reading alone {q['read_seconds'] / p['read_seconds']:.2f}x; "
        f"{q['seconds'] / (p['seconds'] + p['load_seconds']):.2f}x counting the project's "
        f"one-time kernel load of {p['load_seconds']:.2f} s, which is timed apart like imports)"
    )
    a = results["pyarrow"]
    print(
        f"speed-up project vs pyarrow.csv: {a['seconds'] / p['seconds']:.2f}x "
        f"(reading alone {a['read_seconds'] / p['read_seconds']:.2f}x; "
        f"{a['seconds'] / (p['seconds'] + p['load_seconds']):.2f}x counting the kernel load)"
    )
    print(
        f"peak memory ratio project/pandas: {p['peak_rss_mb'] / q['peak_rss_mb']:.2f}, "
        f"project/pyarrow: {p['peak_rss_mb'] / a['peak_rss_mb']:.2f}"
    )
    agree = all(r["nnz"] == p["nnz"] and np.isclose(r["plays"], p["plays"]) for r in (q, a))
    print(f"same matrix, all three (nnz and total plays): {agree}")
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}")
    rate = n_lines / p["seconds"]
    print(
        f"linear extrapolation to the 48,373,586-line Taste Profile: {48_373_586 / rate:.0f} s "
        "(larger id tables make each line dearer: run --lines 48373586 to measure)"
    )


if __name__ == "__main__":
    main()
