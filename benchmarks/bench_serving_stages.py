"""CPU and wall time per stage of the served release model, in-process, on bench_serving's bodies.

Loads the release bundle as the served model does (``ServedReleaseModel``, without
the registry's folder checks), builds the request bodies ``bench_serving.py`` sends
(``audio``, ``audio-only``, ``bio+tags``), and sends each ``--requests`` times
through MLflow's own ``scoring_server.invocations`` (JSON parsing, the DataFrame,
the model, the JSON answer), with ``time.perf_counter`` and ``time.process_time``
(CPU of every thread of the process) around each stage. Prints the p50 per request
of each stage, summed over its calls; stages nest (``predict_releases`` holds
``decode_request_audio``, which holds ``compute_log_cqt``).

    python benchmarks/bench_serving_stages.py --bundle data/06_models/release_model
"""

from __future__ import annotations

import argparse
import base64
import collections
import functools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serving import audio_clip, release_content, sample_rate  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bundle", type=Path, default=Path("data/06_models/release_model"))
    p.add_argument(
        "--releases-dir", type=Path, default=Path("data/01_raw/synthetic_default/releases")
    )
    p.add_argument("--requests", type=int, default=15)
    p.add_argument("--audio-seconds", type=float, default=30.0)
    args = p.parse_args(argv)

    import mlflow.models
    import mlflow.pyfunc.scoring_server as scoring
    from mlflow.pyfunc import PyFuncModel

    import coldstart.audio.features as features
    import coldstart.models.audio_cnn as audio_cnn
    import coldstart.pipelines.releases.nodes as nodes
    import coldstart.recommend as recommend
    import coldstart.releases.items as items
    import coldstart.releases.predict as predict
    from coldstart.releases.served import ServedReleaseModel

    biographies, audio_path = release_content(args.releases_dir)
    rate = sample_rate(args.bundle)
    clip = base64.b64encode(audio_clip(audio_path, args.audio_seconds, rate)).decode()
    text = {"biography": biographies[1 % len(biographies)], "tags": "dub:100; reggae:70; roots:40"}
    kinds = {
        "audio": {"artist_id": "ARBENCH00001", **text, "track_id": "TR1", "audio_base64": clip},
        "audio-only": {"artist_id": "ARBENCH99999", "track_id": "TR2", "audio_base64": clip},
        "bio+tags": {"artist_id": "ARBENCH00000", **text},
    }
    bodies = {k: json.dumps({"dataframe_records": [v]}).encode() for k, v in kinds.items()}
    started = time.perf_counter()
    served = ServedReleaseModel(args.bundle, verify_folder=False)
    print(f"loaded {args.bundle} in {time.perf_counter() - started:.1f} s")

    stats: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)

    def timed(owner: object, name: str, label: str | None = None) -> None:
        function = getattr(owner, name)

        @functools.wraps(function)
        def wrapper(*a, **k):
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return function(*a, **k)
            finally:
                stats[label or name].append((time.perf_counter() - t0, time.process_time() - c0))

        setattr(owner, name, wrapper)

    for owner, name in [
        (scoring, "_parse_json_data"),
        (nodes, "validate_request"),
        (items, "_decode_base64"),
        (predict, "predict_releases"),
        (nodes, "predict_releases"),
        (predict, "decode_request_audio"),
        (features, "load_audio_capped"),
        (features, "compute_log_cqt"),
        (audio_cnn, "predict_track_outputs"),
        (predict, "_text_inputs"),
        (predict.PredictionRuntime, "enriched_biographies"),
        (predict, "forward"),
        (recommend, "recommend"),
        (scoring, "predictions_to_json"),
    ]:
        if owner is predict and name == "predict_releases":
            continue  # nodes holds the name the served model calls
        timed(owner, name)
    timed(served, "predict", "served.predict")
    model = PyFuncModel(model_meta=mlflow.models.Model(), model_impl=served)
    for kind, body in bodies.items():
        for _ in range(2):  # untimed
            assert scoring.invocations(body, "application/json", model, None).status == 200
        stats.clear()
        total = []
        for _ in range(args.requests):
            t0, c0 = time.perf_counter(), time.process_time()
            answer = scoring.invocations(body, "application/json", model, None)
            total.append((time.perf_counter() - t0, time.process_time() - c0))
            assert answer.status == 200, answer.response[:300]
        print(f"== {kind}: body {len(body):,} B, {args.requests} requests, "
              f"load avg {os.getloadavg()[0]:.2f}")  # fmt: skip
        print(f"{'stage':24s} {'calls/req':>9s} {'wall p50 ms':>12s} {'cpu p50 ms':>11s}")
        for label, values in [("whole request", total), *stats.items()]:
            per_request = np.array(values).reshape(args.requests, -1, 2).sum(axis=1) * 1e3
            print(
                f"{label:24s} {len(values) / args.requests:9.1f} "
                f"{np.median(per_request[:, 0]):12.1f} {np.median(per_request[:, 1]):11.1f}"
            )


if __name__ == "__main__":
    main()
