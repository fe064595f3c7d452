"""Per trained row, its epoch time in a finished run, read from the run's MLflow store.

Every trained row logs ``training.<row>.val_loss`` once per epoch; the wall time
between two consecutive epochs' entries is one epoch (training plus the validation
pass). The first epoch is left out: it also pays the model's build and compilation.
The median over the remaining epochs is printed per row, as a markdown table, for the
latest run in the store that trained the row::

    python benchmarks/epoch_times.py mlruns.db
    python benchmarks/epoch_times.py mlruns.db --rows audio_cnn,mm,sem-vsm
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import epoch_timestamps  # noqa: E402


def epoch_seconds(stamps: list[int]) -> list[float]:
    """Seconds between consecutive epochs, from millisecond timestamps in epoch order."""
    return [(b - a) / 1000.0 for a, b in zip(stamps, stamps[1:], strict=False)]


def markdown(times: dict[str, list[int]], rows: list[str] | None = None) -> str:
    """One line per row: epochs logged, median, min and max seconds per epoch."""
    lines = ["| row | epochs | s/epoch (median) | min-max |", "| --- | ---: | ---: | --- |"]
    for name in rows or sorted(times):
        if name not in times:
            lines.append(f"| {name} | not in the store | | |")
            continue
        seconds = epoch_seconds(times[name])
        if not seconds:
            lines.append(f"| {name} | {len(times[name])} | one epoch only | |")
            continue
        lines.append(
            f"| {name} | {len(times[name])} | {statistics.median(seconds):.1f} "
            f"| {min(seconds):.1f}-{max(seconds):.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store", type=Path, help="the run's MLflow SQLite store (mlruns.db)")
    parser.add_argument("--rows", help="comma-separated row names (default: every trained row)")
    args = parser.parse_args(argv)
    text = markdown(epoch_timestamps(args.store), args.rows.split(",") if args.rows else None)
    print(text)
    return text


if __name__ == "__main__":
    main()
