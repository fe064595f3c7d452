"""Benchmark: the audio CNN's training input, and training fed by it, on this machine.

In one run, on the same synthetic feature store (random float16 log-CQTs of 30 s
previews, 646 x 96, some shorter than a patch):

1. ``store loader``: :class:`coldstart.audio.streaming.CQTPatchDataset` with
   ``source="store"`` and no prefetch -- one ``.npy`` opened per sample, patches
   standardised one by one (the loader before packs);
2. ``pack loader``: the same class with its defaults -- the split packed into one
   memory-mapped array (:mod:`coldstart.audio.packed`), one gather per batch,
   vectorised standardisation, two batches prefetched in a thread;
3. ``in-memory``: a plain ``(n, 322, 96)`` float16 array in RAM, a batch gathered
   by fancy indexing and standardised (the ceiling any loader can reach);
4. ``training``: samples/s of ``train_factor_model``'s fit on the audio CNN fed
   by the pack loader (the paper's network unless ``--filters``), one epoch
   over ``--train-tracks`` tracks, i.e. a measured epoch time.

Patches per second are standardised 322 x 96 float32 patches delivered to the
caller. The store and the pack are on disk and warm in the page cache (just
written), as in a training run after the first epoch. The last line reads
``loader: N patches/s (in-memory: M patches/s)``.

Usage::

    python benchmarks/bench_audio_input.py                        # 2000 tracks, paper CNN
    python benchmarks/bench_audio_input.py --tracks 4000 --train-tracks 1200
    KERAS_BACKEND=jax python benchmarks/bench_audio_input.py --batch-size 256   # a GPU
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def make_store(root: Path, n_tracks: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """A feature store of random log-CQTs: 646 frames (30 s) mostly, 1 in 20 of 200."""
    from coldstart.audio import CQTConfig, FeatureStore

    store = FeatureStore(root, CQTConfig())
    rng = np.random.default_rng(seed)
    keys, lengths = [], []
    for i in range(n_tracks):
        frames = 200 if i % 20 == 0 else 646
        key = FeatureStore.key_for(f"TR{i:08d}", f"{rng.integers(1 << 62):016x}")
        store.write(key, rng.normal(-40.0, 12.0, size=(frames, 96)).astype(np.float16))
        keys.append(key)
        lengths.append(frames)
    return keys, np.asarray(lengths)


def time_loader(data, max_batches: int) -> tuple[float, int]:
    """Seconds to fetch up to ``max_batches`` batches in order, and patches fetched."""
    n = min(len(data), max_batches)
    started = time.perf_counter()
    patches = 0
    for i in range(n):
        x, _ = data[i]
        patches += len(x)
    return time.perf_counter() - started, patches


def in_memory_rate(
    packed: np.ndarray, mean: np.ndarray, std: np.ndarray, batch_size: int, n_batches: int
) -> float:
    """Patches/s of batch assembly from a plain float16 array in RAM."""
    rng = np.random.default_rng(1)
    order = rng.permutation(len(packed))
    started = time.perf_counter()
    done = 0
    for b in range(n_batches):
        rows = order[(b * batch_size) % len(packed) :][:batch_size]
        x = packed[rows].astype(np.float32)
        x -= mean
        x /= std
        done += len(x)
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=2000, help="tracks in the synthetic store")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=200, help="batches timed per loader")
    parser.add_argument(
        "--train-tracks", type=int, default=1200, help="tracks of the timed training epoch"
    )
    parser.add_argument("--filters", type=int, nargs=4, default=[256, 512, 1024, 1024])
    parser.add_argument("--workdir", type=Path, default=None, help="where the store goes (tmp)")
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args()

    import keras

    from coldstart.audio import FeatureStore
    from coldstart.audio.packed import packed_frames
    from coldstart.audio.streaming import CQTPatchDataset
    from coldstart.models.audio_cnn import build_audio_cnn
    from coldstart.models.common import train_factor_model

    workdir = Path(tempfile.mkdtemp(dir=args.workdir, prefix="bench_audio_input-"))
    print(f"backend: {keras.backend.backend()}, cores: {os.cpu_count()}, store: {workdir}")
    try:
        started = time.perf_counter()
        keys, lengths = make_store(workdir / "store", args.tracks)
        print(f"store: {args.tracks} tracks written in {time.perf_counter() - started:.1f} s")
        store = FeatureStore(workdir / "store")
        started = time.perf_counter()
        pack = packed_frames(store, keys)
        print(
            f"pack: {pack.frames.shape[0]} frames ({pack.frames.nbytes / 1e6:.0f} MB) built in "
            f"{time.perf_counter() - started:.1f} s"
        )
        mean = np.full(96, -40.0, np.float32)
        std = np.full(96, 12.0, np.float32)
        targets = np.random.default_rng(2).normal(size=(len(keys), 200)).astype(np.float32)

        def dataset(source: str, prefetch: int, n: int | None = None) -> CQTPatchDataset:
            return CQTPatchDataset(
                store,
                keys[:n],
                lengths[:n],
                targets[:n],
                mean,
                std,
                batch_size=args.batch_size,
                shuffle=True,
                seed=0,
                source=source,
                pack=pack if source == "pack" else None,
                prefetch=prefetch,
            )

        seconds, n = time_loader(dataset("store", 0), args.batches)
        store_rate = n / seconds
        print(f"store loader (CQTPatchDataset, source=store): {store_rate:,.0f} patches/s")
        seconds, n = time_loader(dataset("pack", 2), args.batches)
        pack_rate = n / seconds
        print(f"pack loader (CQTPatchDataset, default): {pack_rate:,.0f} patches/s")
        # the in-memory ceiling: one patch per track already cut, in RAM
        patches = np.stack(
            [
                np.pad(store.load(k)[:322], ((0, max(0, 322 - n_)), (0, 0)))
                for k, n_ in zip(keys, lengths, strict=True)
            ]
        ).astype(np.float16)
        memory_rate = in_memory_rate(patches, mean, std, args.batch_size, args.batches)
        print(f"in-memory batch assembly: {memory_rate:,.0f} patches/s")
        print(f"pack / store loader: {pack_rate / store_rate:.1f}x")

        if not args.skip_training:
            n_train = min(args.train_tracks, len(keys))
            model = build_audio_cnn(filters=args.filters, n_factors=200, learning_rate=None)
            train = dataset("pack", 2, n_train)
            validation = dataset("pack", 2, min(64, n_train))
            # one warm-up epoch on a few batches: compilation is not charged to the epoch
            warm = dataset("pack", 0, 2 * args.batch_size)
            train_factor_model(model, warm, warm, {"epochs": 1}, "warm_up")
            history = train_factor_model(
                model, train, validation, {"epochs": 1, "patience": 1}, "audio_cnn"
            )
            epoch = history["train_seconds"]
            print(
                f"training (audio CNN filters {args.filters}, batch {args.batch_size}, pack loader): "
                f"{n_train / epoch:,.1f} samples/s; one epoch of {n_train} tracks "
                f"(+64 val) in {epoch:.1f} s"
            )
        print(f"loader: {pack_rate:.0f} patches/s (in-memory: {memory_rate:.0f} patches/s)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
