"""Pick the beyond-the-paper candidate row on validation only (docs/peers.md).

Reads one finished run's artist-level inputs (split, texts, tags, WMF factors,
plays) through a Kedro session of its ``data_root``, trains each candidate
configuration of the ``text_ff`` template and scores the *val* artists the way
the evaluation scores the test artists: MAP@500 over every user with a train play.
LightFM, the strongest peer, is retrained with its own configuration for
reference. Test artists are never scored.

    PYTHONPATH=src python benchmarks/tune_beyond.py \
        --params data_root=data,dataset_dir=/work/main/data/01_raw/synthetic_default

Prints one line per configuration and writes them as CSV with ``--out``.
"""

from __future__ import annotations

import argparse
import copy
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

PROJECT = Path(__file__).resolve().parents[1]


def candidates(a_tags: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The configurations tried: a-tags as configured, then one change at a time."""

    def variant(features: dict | None = None, model: dict | None = None) -> dict[str, Any]:
        block = copy.deepcopy(a_tags)
        block["features"].update(features or {})
        block["model"].update(model or {})
        return block

    both = ["tags", "enriched"]
    return {
        "a-tags": variant(),
        "tags+sem": variant({"source": both}),
        "tags+sem w=1,0.5": variant({"source": both, "weights": [1.0, 0.5]}),
        "tags+sem w=1,2": variant({"source": both, "weights": [1.0, 2.0]}),
        "tags+sem+bio": variant({"source": ["tags", "enriched", "biography"]}),
        "a-tags drop 0.3": variant(model={"dropout": [0.3, 0.3, 0.3]}),
        "tags+sem drop 0.3": variant({"source": both}, {"dropout": [0.3, 0.3, 0.3]}),
    }


def val_map(
    user_factors: np.ndarray,
    val_factors: np.ndarray,
    artist_plays: Any,
    artists: pd.DataFrame,
    normalize_items: bool = True,
) -> tuple[float, float]:
    """MAP@500 of the val artists: over users with a train play (the test protocol on
    val) and over users with a val play (the convention of LightFM's early-stopping log)."""
    from coldstart.metrics import evaluate_factors
    from coldstart.text.features import split_rows

    rows = split_rows(artists)
    plays = sp.csr_matrix(artist_plays)
    val_plays = plays[:, rows["val"]].tocsr()
    scores = []
    for users in (
        np.flatnonzero(np.diff(plays[:, rows["train"]].tocsr().indptr) > 0),
        np.flatnonzero(np.diff(val_plays.indptr) > 0),
    ):
        result = evaluate_factors(
            user_factors,
            val_factors,
            val_plays,
            k=500,
            normalize_items=normalize_items,
            users=users,
            log_progress=None,
        )
        scores.append(float(np.mean(result.user_ap)))
    return scores[0], scores[1]


def main(argv: list[str] | None = None) -> int:
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from coldstart.models.common import l2_normalise
    from coldstart.pipelines.peers.nodes import lightfm_factors
    from coldstart.pipelines.text.nodes import build_text_features, train_text_ff
    from coldstart.study.run import parse_params
    from coldstart.text.features import split_rows

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="", help="kedro runtime params (data_root=...)")
    parser.add_argument("--env", default="local")
    parser.add_argument("--only", help="comma-separated configuration names")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    bootstrap_project(PROJECT)
    params = parse_params(args.params)
    with KedroSession.create(project_path=PROJECT, env=args.env, runtime_params=params) as s:
        context = s.load_context()
        catalog, parameters = context.catalog, context.params
        data = {
            name: catalog.load(name)
            for name in (
                "artists",
                "artists_enriched",
                "artist_tags",
                "artist_item_factors",
                "artist_user_factors",
                "artist_plays",
            )
        }
    seed = int(parameters["seed"])
    artists = data["artists"]
    val = split_rows(artists)["val"]
    records = []
    # the scale of the figures: the val artists' own WMF factors (what the FF rows
    # regress onto) and random factors
    rng = np.random.default_rng(seed)
    factors = np.asarray(data["artist_item_factors"])
    for name, reference in (
        ("upper-bound", factors[val]),
        ("random", rng.standard_normal((len(val), factors.shape[1]))),
    ):
        score, score_val_users = val_map(
            data["artist_user_factors"], reference, data["artist_plays"], artists
        )
        records.append(
            {
                "config": name,
                "seed": seed,
                "val_map_at_500": score,
                "val_map_val_users": score_val_users,
            }
        )
        print(records[-1], flush=True)
    configs = candidates(parameters["a_tags"])
    if args.only:
        configs = {k: v for k, v in configs.items() if k in args.only.split(",")}
    for name, block in configs.items():
        started = time.perf_counter()
        features, _ = build_text_features(
            artists, data["artists_enriched"], data["artist_tags"], block["features"]
        )
        model, history = train_text_ff(
            features,
            artists,
            data["artist_item_factors"],
            block["model"],
            block["training"],
            seed,
            {"approach": name},
        )
        predicted = l2_normalise(model.predict(features[val], verbose=0))
        score, score_val_users = val_map(
            data["artist_user_factors"], predicted, data["artist_plays"], artists
        )
        records.append(
            {
                "config": name,
                "seed": seed,
                "val_map_at_500": score,
                "val_map_val_users": score_val_users,
                "best_val_loss": min(history["val_loss"]),
                "seconds": time.perf_counter() - started,
            }
        )
        print(records[-1], flush=True)
    block = parameters["lightfm_tags"]
    started = time.perf_counter()
    features, _ = build_text_features(
        artists, data["artists_enriched"], data["artist_tags"], block["features"]
    )
    # lightfm_factors returns only the test artists' factors: its best val MAP over
    # users with a val play is in its log (compare with val_map_val_users)
    lightfm_factors(
        features, data["artist_plays"], artists, block["model"], block["training"], seed
    )
    print(
        "lightfm-tags: early-stopped on these val artists (its val MAP is in its log line);"
        f" {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    frame = pd.DataFrame(records)
    if args.out:
        frame.to_csv(args.out, index=False)
    print(frame.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
