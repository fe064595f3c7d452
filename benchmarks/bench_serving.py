"""Latency of the served release model: a real ``mlflow models serve`` on loopback.

Starts ``mlflow models serve`` (``--env-manager local``, one worker) on a free
loopback port for the registered model given, waits for ``/ping``, sends a
bounded number of requests of each kind one after another, and stops the server.
The kinds:

* ``bio+tags``: one new artist with a biography and tags (no track);
* ``audio``: one new track with its artist's biography and tags and its audio
  (``audio_base64``, the clip of a release track of the world, cut or repeated to
  ``--audio-seconds``, as a 16-bit WAV at the model's sample rate, mono);
* ``audio-only``: one new track with that audio and no text: served by a row on
  audio, so its spectrogram is computed and the audio network runs (with text, the
  best row may read no audio, and then only decodes and checks it);
* ``batch``: ``--batch`` new artists with a biography and tags in one request.

Each kind gets two untimed requests first. Reports p50 and p90 of the
client-side wall time per request, the batch's p50 against ``--batch`` times
the single item's, the load average (the machine may be shared) and the machine.

With ``--bundle`` a release bundle folder (``data/06_models/release_model``) is
first registered into a temporary registry, the way a training run registers it,
and that version is served; otherwise ``--model-uri`` from ``--tracking-uri``.

Example (after ``make run``)::

    python benchmarks/bench_serving.py --requests 40
    python benchmarks/bench_serving.py --bundle data/06_models/release_model
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_evaluation import machine  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port: int, body: bytes, timeout: float = 300.0) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def start_server(model_uri: str, tracking_uri: str, port: int, log_path: Path, wait_s: float):
    """``mlflow models serve`` for ``model_uri``; returns the process once ``/ping`` answers."""
    bin_dir = Path(sys.executable).parent  # `mlflow models serve` runs `uvicorn` from the PATH
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log = open(log_path, "wb")
    process = subprocess.Popen(
        [
            str(bin_dir / "mlflow"),
            "models",
            "serve",
            "-m",
            model_uri,
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + wait_s
    while True:
        if process.poll() is not None:
            log.close()
            raise RuntimeError(f"mlflow models serve exited:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5) as r:
                if r.status == 200:
                    return process, log
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.terminate()
            raise TimeoutError(f"no /ping answer in {wait_s:.0f} s; log: {log_path}")
        time.sleep(0.5)


def register_bundle(bundle: Path, workdir: Path) -> tuple[str, str]:
    """``bundle`` logged and registered as a training run does; its model URI and tracking URI."""
    import mlflow

    from coldstart.datasets import MlflowReleaseModelDataset
    from coldstart.releases.bundle import read_bundle
    from coldstart.releases.registry import ReleaseRegistration

    tracking_uri = f"sqlite:///{workdir / 'mlruns.db'}"
    mlflow.set_tracking_uri(tracking_uri)
    experiment = mlflow.create_experiment("bench", artifact_location=str(workdir / "artifacts"))
    dataset = MlflowReleaseModelDataset(
        save_args={"name": "release_model", "registered_model_name": "coldstart-releases"}
    )
    with mlflow.start_run(experiment_id=experiment):
        dataset.save(ReleaseRegistration(read_bundle(bundle), "benchmark", None, None, {}))
    version = dataset.model_info.registered_model_version
    return f"models:/coldstart-releases/{version}", tracking_uri


def audio_clip(path: Path, seconds: float, rate: int = 22050) -> bytes:
    """The audio of ``path`` cut or repeated to ``seconds``, as 16-bit WAV bytes at ``rate``, mono."""
    import librosa
    import soundfile

    samples, rate = librosa.load(path, sr=rate, mono=True)
    n = int(seconds * rate)
    samples = np.resize(samples, n) if len(samples) < n else samples[:n]
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def sample_rate(bundle: Path | None) -> int:
    """The sample rate the release model's audio features use (22,050 Hz without a bundle)."""
    if bundle is None:
        return 22050
    manifest = json.loads((bundle / "manifest.json").read_text())
    return int(manifest["settings"]["audio_features"]["sample_rate"])


def release_content(releases_dir: Path) -> tuple[list[str], Path]:
    """Biographies of the releases folder, and one audio file of it."""
    biographies = [
        json.loads(line)["biography"]
        for line in (releases_dir / "artist_biographies.jsonl").read_text().splitlines()
        if line.strip()
    ]
    audio = sorted((releases_dir / "audio").iterdir())[0]
    return [b for b in biographies if isinstance(b, str) and b.strip()], audio


def percentiles(times: list[float]) -> str:
    ms = np.asarray(times) * 1000
    return f"p50 {np.percentile(ms, 50):7.1f} ms   p90 {np.percentile(ms, 90):7.1f} ms"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model-uri", default="models:/coldstart-releases@champion")
    p.add_argument("--tracking-uri", default="sqlite:///mlruns.db")
    p.add_argument("--bundle", type=Path, help="register this bundle folder and serve it")
    p.add_argument(
        "--releases-dir", type=Path, default=Path("data/01_raw/synthetic_default/releases")
    )
    p.add_argument("--requests", type=int, default=30, help="timed requests per kind")
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--audio-seconds", type=float, default=30.0)
    p.add_argument("--wait", type=float, default=600.0, help="seconds to wait for /ping")
    args = p.parse_args(argv)

    biographies, audio_path = release_content(args.releases_dir)
    rate = sample_rate(args.bundle)
    clip = base64.b64encode(audio_clip(audio_path, args.audio_seconds, rate)).decode()
    tags = "dub:100; reggae:70; roots:40"

    def artist(i: int) -> dict:
        return {
            "artist_id": f"ARBENCH{i:05d}",
            "biography": biographies[i % len(biographies)],
            "tags": tags,
        }

    kinds = {
        "bio+tags": [artist(0)],
        "audio": [{**artist(1), "track_id": "TRBENCH00001", "audio_base64": clip}],
        "audio-only": [
            {"artist_id": "ARBENCH99999", "track_id": "TRBENCH00002", "audio_base64": clip}
        ],
        "batch": [artist(i) for i in range(args.batch)],
    }
    bodies = {k: json.dumps({"dataframe_records": v}).encode() for k, v in kinds.items()}
    workdir = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    if args.bundle is not None:
        started = time.perf_counter()
        args.model_uri, args.tracking_uri = register_bundle(args.bundle, workdir)
        print(f"registered {args.bundle} in {time.perf_counter() - started:.1f} s")
    print(f"machine: {machine()}")
    print(
        f"model: {args.model_uri}; audio: {audio_path.name} as {args.audio_seconds:g} s WAV, "
        f"{rate} Hz mono ({len(clip) / 1e6:.1f} MB base64); {args.requests} timed requests per kind"
    )
    port = free_port()
    log_path = workdir / "serve.log"
    started = time.perf_counter()
    process, log = start_server(args.model_uri, args.tracking_uri, port, log_path, args.wait)
    print(f"server up in {time.perf_counter() - started:.1f} s (log: {log_path})")
    results: dict[str, list[float]] = {}
    try:
        for kind, body in bodies.items():
            warm = 0
            for attempt in range(4):  # two untimed answers; a busy machine may time one out
                t0 = time.perf_counter()
                status, answer = post(port, body)
                if status == 200:
                    warm += 1
                    if warm == 2:
                        break
                    continue
                print(
                    f"{kind}: untimed request {attempt + 1}: HTTP {status} after "
                    f"{time.perf_counter() - t0:.1f} s: {answer[:80]!r}"
                )
                if status != 504:
                    raise RuntimeError(f"{kind}: HTTP {status}: {answer[:500]!r}")
            if warm < 2:
                raise RuntimeError(f"{kind}: no two answers in four untimed requests")
            load_before = os.getloadavg()[0]
            times = []
            for _ in range(args.requests):
                t0 = time.perf_counter()
                status, answer = post(port, body)
                times.append(time.perf_counter() - t0)
                assert status == 200, answer[:500]
            results[kind] = times
            n_out = len(json.loads(answer)["predictions"])
            print(
                f"{kind:10s} {len(kinds[kind]):3d} item(s) -> {n_out:3d} predictions   "
                f"{percentiles(times)}   load avg {load_before:.2f} -> {os.getloadavg()[0]:.2f}"
            )
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        if args.bundle is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    one = float(np.median(results["bio+tags"]))
    batch = float(np.median(results["batch"]))
    print(
        f"batch of {args.batch}: {batch / one:.1f}x one item (p50 over p50; "
        f"{args.batch}x would be no batching gain)"
    )
    print(
        f"load average (1, 5, 15 min) at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


if __name__ == "__main__":
    main()
