"""The world's listening model at MSD-A's size: the clustered sampler against the exact one.

Both draw each user's distinct songs from the same distribution (docs/scale.md); the
exact sampler scores every song for every user (Gumbel top-k), the clustered one works
per artist. On the msd_a preset's taste space (1 M users, 328,821 songs, 24,043
artists) this times the exact sampler on ``--exact-users`` users and the clustered one
on ``--users`` users, one thread each (so per-user costs compare), and extrapolates both
to a million users. The last line reads ``clustered: N users/s (exact: M users/s)``.

    python benchmarks/bench_world_sampling.py --users 20000 --exact-users 1024
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import time

import numpy as np


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="msd_a")
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--exact-users", type=int, default=1024)
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_limits

    from coldstart.world.config import WorldConfig
    from coldstart.world.taste import build_taste, sample_plays

    cfg = WorldConfig.from_params({"preset": args.preset, "n_jobs": 1})
    t0 = time.perf_counter()
    taste = build_taste(cfg, np.random.default_rng(cfg.seed))
    print(f"taste space of {cfg.preset}: {time.perf_counter() - t0:.1f} s")

    def first(n: int, sampler: str):
        sub = dataclasses.replace(cfg, n_users=n, sampler=sampler)
        part = dataclasses.replace(
            taste, user_pos=taste.user_pos[:n], user_activity=taste.user_activity[:n]
        )
        return sub, part

    seq = np.random.SeedSequence(cfg.seed)
    rates = {}
    with threadpool_limits(1):
        sample_plays(*first(min(64, args.users), "clustered"), seq)  # compiles or loads the kernel
        sub, part = first(args.users, "clustered")
        t0 = time.perf_counter()
        users, songs, _ = sample_plays(sub, part, seq)
        dt = time.perf_counter() - t0
        rates["clustered"] = (args.users / dt, len(songs) / args.users)
        sub, part = first(args.exact_users, "exact")
        t0 = time.perf_counter()
        users, songs, _ = sample_plays(sub, part, seq)
        dt = time.perf_counter() - t0
        rates["exact"] = (args.exact_users / dt, len(songs) / args.exact_users)
    print(f"machine: {platform.processor() or platform.machine()}, one thread each")
    for name, (rate, picks) in rates.items():
        print(
            f"{name:>9}: {rate:10,.0f} users/s, {picks:.1f} songs a user; 1 M users: "
            f"{1e6 / rate / 60:,.1f} CPU-min"
        )
    ratio = rates["clustered"][0] / rates["exact"][0]
    print(f"clustered / exact speed: {ratio:.0f}x")
    print(
        f"clustered: {rates['clustered'][0]:,.0f} users/s (exact: {rates['exact'][0]:,.0f} users/s)"
    )


if __name__ == "__main__":
    main()
