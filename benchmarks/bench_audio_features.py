"""Benchmark: audio feature extraction, the project's extractor against a plain librosa loop.

In one run, on the same files:

1. ``plain``: ``librosa.load(path, sr=22050)`` + ``librosa.cqt`` + ``power_to_db``,
   one file after the other (what a script would do);
2. ``extractor n_jobs=1``: :func:`coldstart.audio.extract_to_store` in this process;
3. ``extractor n_jobs=N`` (cold): worker processes started, imports paid;
4. ``extractor n_jobs=N`` (warm): the same, workers already running (into a fresh store);
5. ``rerun``: everything cached.

Tracks per second are reported for each, with the speed-up from parallelism
(serial extractor time / parallel). The main process decodes one file before
timing so that librosa's lazy imports (2-3 s) are not charged to the serial runs;
worker processes pay theirs in the cold run, as a pipeline run does.

Usage::

    python benchmarks/bench_audio_features.py                      # 120 generated 30 s mp3s
    python benchmarks/bench_audio_features.py --n-tracks 300 --n-jobs 2
    python benchmarks/bench_audio_features.py --audio-dir data/01_raw/synthetic_default/audio
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def generate_previews(folder: Path, n_tracks: int, seconds: float, seed: int = 0) -> list[Path]:
    """7digital-like previews: 44.1 kHz stereo mp3 at 128 kbps, tones + pulses + noise."""
    import lameenc

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rate = 44100
    t = np.arange(int(seconds * rate)) / rate
    paths = []
    for i in range(n_tracks):
        pitches = 55.0 * 2 ** rng.uniform(0, 5, size=3)
        y = sum(np.sin(2 * np.pi * f * t) for f in pitches) / 3
        y = y * (0.6 + 0.4 * (np.sin(2 * np.pi * rng.uniform(1, 3) * t) > 0)) + 0.05 * rng.normal(
            size=t.size
        )
        stereo = (np.clip(np.stack([y, 0.8 * y], axis=1) * 0.5, -1, 1) * 32767).astype(np.int16)
        encoder = lameenc.Encoder()
        encoder.set_bit_rate(128)
        encoder.set_in_sample_rate(rate)
        encoder.set_channels(2)
        encoder.set_quality(7)
        path = folder / f"TR{i:016d}.mp3"
        path.write_bytes(encoder.encode(stereo.tobytes()) + encoder.flush())
        paths.append(path)
    return paths


def plain_loop(paths: list[Path]) -> float:
    """The baseline: per-file ``librosa.load`` + ``librosa.cqt``; returns seconds."""
    import librosa

    start = time.perf_counter()
    for path in paths:
        y, sr = librosa.load(path, sr=22050)
        cqt = librosa.cqt(y, sr=sr, hop_length=1024, n_bins=96, bins_per_octave=12, window="hann")
        librosa.power_to_db(np.abs(cqt) ** 2, ref=np.max)
    return time.perf_counter() - start


def decodable(paths: list[Path]) -> list[Path]:
    """Files libsndfile opens: the plain loop stops at the first bad file, so all
    methods are timed on the good ones only."""
    import soundfile as sf

    good = []
    for path in paths:
        try:
            if path.stat().st_size and sf.info(str(path)).frames > 0:
                good.append(path)
        except Exception:  # noqa: BLE001 - any failure means "leave it out"
            pass
    return good


def run_extractor(paths: list[Path], store_dir: Path, n_jobs: int) -> tuple[float, dict]:
    from coldstart.audio import CQTConfig, FeatureStore, extract_to_store

    store = FeatureStore(store_dir, CQTConfig())
    start = time.perf_counter()
    results, timing = extract_to_store(
        [(p.stem, p) for p in paths], store, n_jobs=n_jobs, progress=False
    )
    seconds = time.perf_counter() - start
    failed = sum(r.status != "ok" for r in results)
    if failed:
        print(f"  note: {failed} files gave no features", file=sys.stderr)
    return seconds, timing


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--audio-dir", type=Path, help="benchmark these files instead of generated ones"
    )
    parser.add_argument(
        "--n-tracks", type=int, default=120, help="files to generate or to take (default 120)"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="length of generated previews")
    parser.add_argument("--n-jobs", type=int, default=-1, help="worker processes (-1: every core)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    import joblib

    work = Path(tempfile.mkdtemp(prefix="bench_audio_"))
    try:
        if args.audio_dir:
            paths = sorted(
                p for p in args.audio_dir.iterdir() if p.suffix in (".mp3", ".wav", ".flac", ".ogg")
            )
            paths = decodable(paths)[: args.n_tracks]
        else:
            print(f"generating {args.n_tracks} previews of {args.seconds:.0f} s ...", flush=True)
            paths = generate_previews(work / "audio", args.n_tracks, args.seconds)
        n = len(paths)
        n_jobs = joblib.effective_n_jobs(args.n_jobs)
        plain_loop(paths[:1])  # warm-up: librosa's lazy imports, not part of any timing

        timings = {}
        timings["plain librosa loop"] = plain_loop(paths)
        timings["extractor n_jobs=1"], _ = run_extractor(paths, work / "store1", 1)
        timings[f"extractor n_jobs={n_jobs} (cold)"], _ = run_extractor(
            paths, work / "storeN", n_jobs
        )
        timings[f"extractor n_jobs={n_jobs} (warm)"], _ = run_extractor(
            paths, work / "storeN2", n_jobs
        )
        timings["rerun (all cached)"], _ = run_extractor(paths, work / "storeN", n_jobs)

        load = os.getloadavg()[0]
        results = {
            "n_tracks": n,
            "cpu_count": os.cpu_count(),
            "load_average_1min": round(load, 2),
            "n_jobs": n_jobs,
            "mean_file_mb": round(float(np.mean([p.stat().st_size for p in paths])) / 1e6, 3),
            "seconds": {k: round(v, 3) for k, v in timings.items()},
            "tracks_per_second": {k: round(n / v, 2) for k, v in timings.items()},
            "speedup_parallel_vs_serial_extractor": {
                "cold": round(
                    timings["extractor n_jobs=1"] / timings[f"extractor n_jobs={n_jobs} (cold)"], 2
                ),
                "warm": round(
                    timings["extractor n_jobs=1"] / timings[f"extractor n_jobs={n_jobs} (warm)"], 2
                ),
            },
            "speedup_parallel_vs_plain_loop": round(
                timings["plain librosa loop"] / timings[f"extractor n_jobs={n_jobs} (cold)"], 2
            ),
        }
        width = max(map(len, timings))
        print(f"\n{n} tracks, {os.cpu_count()} cores, load average {load:.1f} at the end")
        if load > (os.cpu_count() or 1):
            print("  warning: other processes kept the cores busy; parallel timings understate")
        for name, seconds in timings.items():
            print(f"  {name:<{width}}  {seconds:8.2f} s  {n / seconds:9.2f} tracks/s")
        speedup = results["speedup_parallel_vs_serial_extractor"]
        print(
            f"  speed-up from parallelism ({n_jobs} processes): {speedup['cold']:.2f}x cold, "
            f"{speedup['warm']:.2f}x warm; vs the plain loop: {results['speedup_parallel_vs_plain_loop']:.2f}x"
        )
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
