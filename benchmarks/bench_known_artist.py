"""The known-artist attention row's audio correction as the catalogue grows.

``coldstart.pipelines.known_artist.nodes.audio_correction`` fits a ridge regression
from T' (the audio CNN's track embeddings, 4,096 wide) to the tracks' unit WMF
factors on the catalogue tracks and predicts every track. It picks the smaller
system: the dual (catalogue x catalogue) while the catalogue is narrower than T',
else the primal (T' width squared), summed in batches. The reference is the dual
form alone, which the row used before: its system grows with the square of the
catalogue (and its solve with the cube), so it is timed only up to
``--dual-max`` tracks. (With numpy's bundled OpenBLAS 0.3.31 it also crashes the
process, SIGSEGV in ``x @ x.T``, at 16,000 catalogue tracks of 4,096 dimensions on
the development machine: numpy issue #19685.)

Each call is timed twice and the faster run kept.

Random float32 inputs; every track but one in five is a catalogue track, as in the
known-artist split. Reports wall and CPU seconds, the peak RSS (sampled) above the
RSS before the call, and, where both ran, the largest difference between the two
predictions.

Example::

    python benchmarks/bench_known_artist.py --catalogue 1000,4000,8000,16000,64000,256000
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_evaluation import machine, timed  # noqa: E402

from coldstart.pipelines.known_artist.nodes import audio_correction  # noqa: E402


def dual_only(unit_factors, unit_tracks, train, ridge):
    """The row's former solver: the dual system whatever the catalogue's size."""
    x = unit_tracks[train].astype(np.float64)
    gram = x @ x.T + float(ridge) * np.eye(len(train))
    coefficients = np.linalg.solve(gram, unit_factors[train].astype(np.float64))
    return (unit_tracks.astype(np.float64) @ (x.T @ coefficients)).astype(np.float32)


def best_of_two(fn):
    """``timed`` twice; the faster run (the first pays for page faults and thread start-up)."""
    return min((timed(fn) for _ in range(2)), key=lambda run: run[1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalogue", default="1000,4000,8000,16000,64000,256000",
                        help="comma-separated numbers of catalogue tracks")  # fmt: skip
    parser.add_argument("--width", type=int, default=4096, help="T' width")
    parser.add_argument("--factors", type=int, default=200)
    parser.add_argument("--dual-max", type=int, default=8000,
                        help="largest catalogue the dual reference is timed on")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    print(f"machine: {machine()}")
    print(f"T' width {args.width}, {args.factors} factors; n catalogue tracks, n x 5/4 predicted")
    header = (
        f"{'n':>7} {'form':>7} {'wall s':>8} {'CPU s':>8} {'+RSS GiB':>9}"
        f" {'dual wall s':>12} {'dual +RSS GiB':>14} {'ratio':>7} {'max |diff|':>11}"
    )
    print(header)
    rng = np.random.default_rng(args.seed)
    for n in (int(value) for value in args.catalogue.split(",")):
        total = n + n // 4
        tracks = rng.standard_normal((total, args.width), dtype=np.float32)
        tracks /= np.linalg.norm(tracks, axis=1, keepdims=True)
        factors = rng.standard_normal((total, args.factors), dtype=np.float32)
        factors /= np.linalg.norm(factors, axis=1, keepdims=True)
        train = np.sort(rng.choice(total, n, replace=False))
        form = "dual" if n < args.width else "primal"
        inputs = (factors, tracks, train, 1.0)
        new, wall, cpu, peak, base = best_of_two(partial(audio_correction, *inputs))
        line = f"{n:>7,} {form:>7} {wall:>8.2f} {cpu:>8.2f} {(peak - base) / 2**30:>9.2f}"
        if n <= args.dual_max:
            old, dual_wall, _, dual_peak, dual_base = best_of_two(partial(dual_only, *inputs))
            diff = float(np.abs(new - old).max())
            line += (
                f" {dual_wall:>12.2f} {(dual_peak - dual_base) / 2**30:>14.2f}"
                f" {dual_wall / wall:>6.1f}x {diff:>11.2e}"
            )
        else:
            line += f" {'(not run)':>12}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
