"""Nodes of the releases pipeline: place new music that has no listening history.

Training side: :func:`build_release_model` gathers the fitted artefacts of the
serving rows into one :class:`~coldstart.releases.bundle.ReleaseModel` (the
bundle the registered MLflow model carries). Release side: read a releases
folder, predict factors with the row each item's content allows, rank users and
items both ways, and score the result against held-out plays when a world has
them. :func:`serve_release_items` is the inference pipeline of the served model.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.markup import escape

from coldstart.pipelines.evaluation.nodes import git_commit
from coldstart.releases.bundle import ReleaseModel
from coldstart.releases.candidates import CANDIDATE_LEVELS, serving_rows
from coldstart.releases.items import (
    COLUMNS,
    ReleaseInputError,
    read_release_folder,
    request_rules,
    validate_request,
)
from coldstart.releases.predict import PredictionRuntime, factor_matrix, predict_releases

logger = logging.getLogger(__name__)

LEVELS = ("artist", "track")


# --------------------------------------------------------------------------- training side


def _best_validation(history: dict[str, list[float]], ns: str) -> tuple[float, int]:
    losses = [float(v) for v in (history or {}).get("val_loss", [])]
    finite = [v for v in losses if math.isfinite(v)]
    if not finite:
        raise ValueError(f"row '{ns}': its training history has no finite val_loss to rank it by")
    best = min(finite)
    return best, losses.index(best) + 1


def catalogue_song_means(
    artists: pd.DataFrame, songs: pd.DataFrame | None, song_item_factors: np.ndarray | None
) -> np.ndarray:
    """Per catalogue artist (``artists`` order), the mean WMF factors of its songs.

    What the catalogue-mean row of Table 3 predicts for a new track of the artist,
    here in the served WMF (Table 2's): every song with history counts, the val and
    test songs by their folded-in factors; zeros for an artist without songs.
    """
    if songs is None or song_item_factors is None:
        raise ValueError("the catalogue-mean row serves from `songs` and `song_item_factors`")
    factors = np.asarray(song_item_factors, dtype=np.float64)
    row_of = {a: i for i, a in enumerate(artists["artist_id"])}
    train = songs[songs["artist_id"].isin(row_of)]
    owner = train["artist_id"].map(row_of).to_numpy(dtype=np.int64)
    sums = np.zeros((len(artists), factors.shape[1]))
    np.add.at(sums, owner, factors[train["item_idx"].to_numpy(dtype=np.int64)])
    counts = np.bincount(owner, minlength=len(artists))
    return (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)


def _enrichment_offline(semantic_enrichment: dict[str, Any]) -> bool:
    linker = (semantic_enrichment.get("linker") or {}).get("type", "offline")
    kb = (semantic_enrichment.get("knowledge_base") or {}).get("type", "embedded")
    return linker == "offline" and kb == "embedded"


def build_release_model(
    releases: dict[str, Any],
    semantic_enrichment: dict[str, Any],
    audio_features: dict[str, Any],
    audio: dict[str, Any],
    ingestion: dict[str, Any],
    artists: pd.DataFrame,
    users: pd.DataFrame,
    song_user_factors: np.ndarray,
    artist_user_factors: np.ndarray,
    raw_knowledge_base: Path,
    audio_feature_stats: dict[str, Any] | None = None,
    songs: pd.DataFrame | None = None,
    song_item_factors: np.ndarray | None = None,
    **artefacts: Any,
) -> ReleaseModel:
    """The release model of this training run: serving rows ranked by validation loss.

    ``artefacts`` holds, per serving row ``ns`` (:func:`~coldstart.releases.candidates.artefact_inputs`),
    ``ns__model``, ``ns__training_history``, ``ns__parameters`` and, for text rows,
    ``ns__vectorizer`` (and ``ns__artist_embeddings`` when the row makes A').
    Rows on the enriched biography need the offline linker and the embedded
    knowledge base (a served model cannot call Babelfy with your key); with a
    remote configuration they are left out of the ranking, with a warning.

    ``releases.candidates.known_track`` (Table 3 rows, ranked by their Table 3
    validation loss) decides how a new track of a catalogue artist is served; the
    catalogue-mean row needs ``songs`` and ``song_item_factors`` (the mean factors of
    each catalogue artist's train songs go into the bundle).
    """
    parameters = {
        key[: -len("__parameters")]: value
        for key, value in artefacts.items()
        if key.endswith("__parameters")
    }
    # the rows the pipeline wired (it checked every candidate when it was built; a
    # candidate switched off for this run, such as an audio row without audio, is not)
    candidates = {
        level: [ns for ns in names or [] if ns in parameters]
        for level, names in dict(releases["candidates"]).items()
    }
    specs = serving_rows(parameters, candidates)
    offline = _enrichment_offline(semantic_enrichment) and Path(raw_knowledge_base).is_file()
    unusable = set()
    if not offline:
        unusable = {ns for ns, s in specs.items() if s.get("source") == "enriched"}
        unusable |= {ns for ns, s in specs.items() if s.get("embedding_from") in unusable}
        if unusable:
            logger.warning(
                "Release model: rows %s read the enriched biography, which needs the offline "
                "linker and knowledge_base.ttl; they do not serve releases",
                sorted(unusable),
            )
    rows: dict[str, dict[str, Any]] = {}
    for ns, spec in specs.items():
        if ns in unusable:
            continue
        val_loss, best_epoch = _best_validation(artefacts[f"{ns}__training_history"], ns)
        rows[ns] = {**spec, "val_loss": val_loss, "best_epoch": best_epoch}
    request_rules({"releases": releases})  # a typo in releases.requests stops training, not serving
    selection = str(releases.get("selection", "validation_loss"))
    if selection not in ("validation_loss", "listed_order"):
        raise ValueError(
            f"releases.selection must be 'validation_loss' or 'listed_order', got {selection!r}"
        )
    ranking = {
        level: sorted(
            (ns for ns in candidates.get(level) or [] if ns in rows),
            key=lambda ns: (
                rows[ns]["val_loss"] if selection == "validation_loss" else 0.0,
                (candidates.get(level) or []).index(ns),
            ),
        )
        for level in CANDIDATE_LEVELS
    }
    for level in CANDIDATE_LEVELS:
        logger.info(
            "Release model, %s level, by %s: %s",
            level,
            selection.replace("_", " "),
            ", ".join(f"{ns} ({rows[ns]['val_loss']:.4f})" for ns in ranking[level]) or "no row",
        )
    provenance = {
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
    }
    ordered_users = users.sort_values("user_idx")
    ordered_artists = artists.sort_values("item_idx")
    needs_audio = any("audio" in rows[ns]["requires"] for ns in rows)
    return ReleaseModel(
        rows=rows,
        ranking=ranking,
        settings={
            "releases": dict(releases),
            "semantic_enrichment": dict(semantic_enrichment),
            "audio_features": dict(audio_features),
            "patches": dict(audio.get("patches") or {}),
            "max_biography_chars": int(ingestion.get("max_biography_chars", 100_000)),
        },
        models={ns: artefacts[f"{ns}__model"] for ns in rows if f"{ns}__model" in artefacts},
        vectorizers={
            ns: artefacts[f"{ns}__vectorizer"] for ns in rows if rows[ns]["kind"] == "text"
        },
        artist_embeddings={
            ns: np.asarray(artefacts[f"{ns}__artist_embeddings"], np.float32)
            for ns in rows
            if rows[ns].get("makes_embeddings")
        },
        catalogue_artists=ordered_artists[["artist_id", "artist_name", "item_idx"]].reset_index(
            drop=True
        ),
        user_ids=ordered_users["user_id"].astype(str).to_numpy(),
        user_factors={
            "artist": np.asarray(artist_user_factors, np.float32),
            "track": np.asarray(song_user_factors, np.float32),
        },
        catalogue_means=catalogue_song_means(ordered_artists, songs, song_item_factors)
        if any(rows[ns]["kind"] == "catalogue_mean" for ns in rows)
        else None,
        audio_mean=np.asarray(audio_feature_stats["mean"], np.float32) if needs_audio else None,
        audio_std=np.asarray(audio_feature_stats["std"], np.float32) if needs_audio else None,
        knowledge_base=Path(raw_knowledge_base)
        if offline and any(rows[ns].get("source") == "enriched" for ns in rows)
        else None,
        provenance=provenance,
    )


# --------------------------------------------------------------------------- release side


def read_releases(raw_releases_dir: Path, ingestion: dict[str, Any]) -> tuple[pd.DataFrame, dict]:
    """The ``release_items`` table of the releases folder, and what was dropped.

    No folder (real data without new releases) is not an error: the run goes on
    with no items and says so.
    """
    folder = Path(raw_releases_dir)
    if not folder.is_dir():
        logger.warning(
            "No releases folder at %s: no new releases to place (set releases_dir to a folder "
            "of new music: docs/releases.md)",
            escape(str(folder)),
        )
        return pd.DataFrame(columns=list(COLUMNS)), {"folder": str(folder), "missing": True}
    return read_release_folder(
        folder, max_biography_chars=int(ingestion.get("max_biography_chars", 100_000))
    )


def predict_release_factors(
    release_items: pd.DataFrame, release_model: ReleaseModel
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Factors of every new artist and track, and the row that predicted each.

    Items that cannot be served (no usable content) are dropped and counted.
    """
    predictions, log = predict_releases(release_model, release_items, strict=False)
    for entry in log["by_model"]:
        logger.info(
            "Releases: %d %s(s) predicted by %s", entry["n"], entry["level"], entry["model"]
        )
    if log["dropped"]:
        logger.warning("Releases: dropped %s", log["dropped"])
    return predictions, log


def _long_table(
    ids_rows: np.ndarray,
    ids_cols: np.ndarray,
    index: np.ndarray,
    scores: np.ndarray,
    names: tuple[str, str],
) -> pd.DataFrame:
    n_rows, n = index.shape
    return pd.DataFrame(
        {
            names[0]: np.repeat(ids_rows, n),
            names[1]: ids_cols[index.ravel()],
            "rank": np.tile(np.arange(1, n + 1, dtype=np.int32), n_rows),
            "score": scores.ravel(),
        }
    )


def rank_releases(
    release_factors: pd.DataFrame, release_model: ReleaseModel, releases: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per user the top-N new tracks and new artists; per new item its top-M users.

    Both directions come from one pass of batched products per level
    (:func:`coldstart.recommend.recommend`), memory bounded by the batch. With
    ``releases.audience.method: faiss`` the audiences come from a faiss inverted-file
    index instead (:func:`coldstart.recommend.approximate_audience`: faster on
    millions of users, approximate).

    Returns
    -------
    user_tracks, user_artists, audiences
        ``user_id, item_id, rank, score`` (rank from 1) for the first two;
        ``level, item_id, user_id, rank, score`` for the audiences.
    """
    from coldstart.recommend import approximate_audience, recommend

    audience_settings = dict(releases.get("audience") or {})
    audience_method = str(audience_settings.get("method", "exact"))
    if audience_method not in ("exact", "faiss"):
        raise ValueError(
            f"releases.audience.method must be 'exact' or 'faiss', got {audience_method!r}"
        )
    n_per_user = int(releases.get("n_per_user", 50))
    n_per_item = int(releases.get("n_per_item", 1000))
    users = release_model.user_ids
    per_user: dict[str, pd.DataFrame] = {}
    audiences = []
    for level in LEVELS:
        part, factors = factor_matrix(release_factors, level)
        if part.empty:
            per_user[level] = pd.DataFrame(columns=["user_id", "item_id", "rank", "score"])
            continue
        approximate = audience_method == "faiss"
        result = recommend(
            release_model.user_factors[level],
            factors,
            n_per_user=n_per_user,
            n_per_item=0 if approximate else n_per_item,
            batch_size=int(releases.get("batch_size", 4096)),
            device=str(releases.get("device", "auto")),  # a GPU when the Keras backend sees one
        )
        if approximate:
            item_users, item_scores = approximate_audience(
                release_model.user_factors[level],
                factors,
                n_per_item,
                nlist=audience_settings.get("nlist"),
                nprobe=int(audience_settings.get("nprobe", 32)),
            )
        else:
            item_users, item_scores = result.item_users, result.item_scores
        items = part["item_id"].to_numpy()
        per_user[level] = _long_table(
            users, items, result.user_items, result.user_scores, ("user_id", "item_id")
        )
        audience = _long_table(items, users, item_users, item_scores, ("item_id", "user_id"))
        audience.insert(0, "level", level)
        audiences.append(audience)
        logger.info(
            "Releases: top %d of %d new %ss for %d users; top %d users for each",
            min(n_per_user, len(items)),
            len(items),
            level,
            len(users),
            min(n_per_item, len(users)),
        )
    audience_table = (
        pd.concat(audiences, ignore_index=True)
        if audiences
        else pd.DataFrame(columns=["level", "item_id", "user_id", "rank", "score"])
    )
    return per_user["track"], per_user["artist"], audience_table


def _truth_matrix(
    plays: pd.DataFrame, level: str, user_ids: np.ndarray, item_ids: np.ndarray
) -> tuple[Any, dict[str, int]]:
    import scipy.sparse as sp

    key = "track_id" if level == "track" else "artist_id"
    user_pos = pd.Index(user_ids).get_indexer(plays["user_id"].astype(str))
    item_pos = pd.Index(item_ids).get_indexer(plays[key].astype(str))
    keep = (user_pos >= 0) & (item_pos >= 0) & (plays["plays"].to_numpy() > 0)
    matrix = sp.csr_matrix(
        (np.ones(int(keep.sum()), np.float32), (user_pos[keep], item_pos[keep])),
        shape=(len(user_ids), len(item_ids)),
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix, {
        "unknown_users": int((user_pos < 0).sum()),
        "unpredicted_items": int((item_pos < 0).sum()),
    }


def _ranking_figures(
    user_factors: np.ndarray, item_factors: np.ndarray, relevant: Any, k: int, n: int
) -> dict[str, float]:
    """MAP@k (every user counts) and recall@n of ranking ``item_factors`` for every user."""
    from coldstart.metrics import evaluate_factors_at

    at = evaluate_factors_at(user_factors, item_factors, relevant, [k, n])  # one ranking pass
    at_k, at_n = at[int(k)].summary(), at[int(n)].summary()
    return {
        f"map_at_{k}": at_k[f"map_at_{k}"],
        f"recall_at_{n}": at_n[f"recall_at_{n}"],
        "n_items": int(item_factors.shape[0]),
        "n_active_users": int(at_k["n_active_users"]),
    }


def score_releases(
    release_factors: pd.DataFrame,
    release_model: ReleaseModel,
    raw_releases_dir: Path,
    releases: dict[str, Any],
    seed: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """MAP@k and recall@n of the release recommendations against held-out plays.

    A synthetic world's ``releases/truth/plays.tsv`` holds the plays users would
    give the new items. Scored as the evaluation scores test items: candidates are
    the predicted release items of a level, every user counts (0 without a release
    play). Random factors scored the same way, in the same run, give the floor;
    each serving row is also scored on the items it served. Real data has no truth
    folder: the step logs one line and returns an empty result.

    Returns
    -------
    quality, metrics
        The figures (for ``08_reporting``) and the same as MLflow metrics.
    """
    truth = Path(raw_releases_dir) / "truth" / "plays.tsv"
    if not truth.is_file():
        logger.info(
            "Releases: no %s (real data): recommendations are not scored", escape(str(truth))
        )
        return {"scored": False, "reason": f"no {truth}"}, {}
    plays = pd.read_csv(truth, sep="\t", dtype={"user_id": str, "track_id": str, "artist_id": str})
    k = int(releases.get("score_k", 500))
    n = int(releases.get("score_recall_at", 50))
    rng = np.random.default_rng(int(seed))
    quality: dict[str, Any] = {"scored": True, "k": k, "recall_at": n, "levels": {}}
    metrics: dict[str, Any] = {}
    for level in LEVELS:
        part, factors = factor_matrix(release_factors, level)
        if part.empty:
            continue
        users = release_model.user_factors[level]
        relevant, unmatched = _truth_matrix(
            plays, level, release_model.user_ids, part["item_id"].to_numpy()
        )

        random = rng.standard_normal(factors.shape).astype(np.float32)
        entry = {
            "model": _ranking_figures(users, factors, relevant, k, n),
            "random": _ranking_figures(users, random, relevant, k, n),
            "by_row": {
                ns: _ranking_figures(users, factors[idx], relevant[:, idx], k, n)
                for ns, idx in (
                    (ns, np.flatnonzero(part["model"].to_numpy() == ns))
                    for ns in part["model"].unique()
                )
            },
            **unmatched,
        }
        quality["levels"][level] = entry
        for name, value in entry["model"].items():
            metrics[f"{level}_{name}"] = value
        for name, value in entry["random"].items():
            metrics[f"{level}_random_{name}"] = value
        for ns, values in entry["by_row"].items():
            metrics[f"{level}_{ns}_map_at_{k}"] = values[f"map_at_{k}"]
        logger.info(
            "Releases, %s level: MAP@%d %.4f (random %.4f), recall@%d %.4f (random %.4f) over %d "
            "items and %d users with a release play",
            level,
            k,
            entry["model"][f"map_at_{k}"],
            entry["random"][f"map_at_{k}"],
            n,
            entry["model"][f"recall_at_{n}"],
            entry["random"][f"recall_at_{n}"],
            entry["model"]["n_items"],
            entry["model"]["n_active_users"],
        )
    return quality, {name: {"value": float(value), "step": 0} for name, value in metrics.items()}


def quality_markdown(release_quality: dict[str, Any]) -> str:
    """The quality figures as a Markdown table (``08_reporting/releases_quality.md``)."""
    if not release_quality.get("scored"):
        return f"Release recommendations not scored: {release_quality.get('reason', 'no truth')}.\n"
    k, n = release_quality["k"], release_quality["recall_at"]
    lines = [
        f"| level | served by | items | MAP@{k} | recall@{n} | random MAP@{k} | random recall@{n} |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for level, entry in release_quality["levels"].items():
        model, random = entry["model"], entry["random"]
        lines.append(
            f"| {level} | all | {model['n_items']} | {model[f'map_at_{k}']:.4f} | "
            f"{model[f'recall_at_{n}']:.4f} | {random[f'map_at_{k}']:.4f} | {random[f'recall_at_{n}']:.4f} |"
        )
        for ns, values in sorted(entry["by_row"].items()):
            lines.append(
                f"| {level} | {ns} | {values['n_items']} | {values[f'map_at_{k}']:.4f} | "
                f"{values[f'recall_at_{n}']:.4f} | | |"
            )
    lines.append("")
    lines.append(
        "Rows limited to one serving model rank only the items that model served, so their "
        "figures are not comparable with the `all` rows or with each other."
    )
    small = [
        level
        for level, entry in release_quality["levels"].items()
        if entry["model"]["n_items"] <= n
    ]
    if small:
        lines.append(
            f"With {n} or fewer candidates ({', '.join(small)} level), recall@{n} is 1 by "
            "construction: every item is in every top list."
        )
    return "\n".join(lines) + "\n"


def report_releases(
    read_report: dict[str, Any],
    predict_log: dict[str, Any],
    release_quality: dict[str, Any],
    release_model: ReleaseModel,
) -> dict[str, Any]:
    """The releases report: what was read, predicted by which row, dropped, and scored."""
    return {
        "read": read_report,
        "predicted": predict_log,
        "quality": release_quality,
        "model": release_model.describe(),
    }


def register_release_model(
    release_model: ReleaseModel,
    release_quality: dict[str, Any],
    raw_releases_dir: Path,
    releases: dict[str, Any],
    ingestion: dict[str, Any],
) -> Any:
    """What the registry gets for this run's release model (``release_model_registered``).

    The bundle, the version description (request fields and limits, from the
    parameters), the quality the promotion gate reads and the world it was scored
    on (:mod:`coldstart.releases.registry`).
    """
    from coldstart.releases.registry import (
        ReleaseRegistration,
        quality_summary,
        request_limits,
        version_description,
        world_identity,
    )

    quality = quality_summary(release_quality)
    serve_top_users = int(releases.get("serve_top_users", releases.get("n_per_item", 1000)))
    return ReleaseRegistration(
        model=release_model,
        description=version_description(
            quality, request_limits(releases, ingestion), serve_top_users
        ),
        quality=quality,
        world=world_identity(raw_releases_dir),
        registry=dict(releases.get("registry") or {}),
    )


# --------------------------------------------------------------------------- the served model


def serve_release_items(
    release_items: pd.DataFrame,
    release_model: ReleaseModel,
    runtime: PredictionRuntime | None = None,
) -> pd.DataFrame:
    """Predictions for a request: factors, the row used and the top users of each item.

    What the registered MLflow model answers (:mod:`coldstart.releases.served`, which
    passes the ``runtime`` it built at load time). Any item it cannot use
    raises an MLflow ``INVALID_PARAMETER_VALUE`` error naming the item and field,
    which ``mlflow models serve`` answers with HTTP 400 (and keeps serving).

    Returns
    -------
    DataFrame
        ``level, item_id, artist_id, track_id, name, model, approach, content,
        factors`` (a list of floats), ``top_users``, ``top_scores`` (lists, best first).
    """
    from coldstart.recommend import recommend

    settings = release_model.settings
    try:
        rules = request_rules(settings)  # releases.requests: limits and audio roots
        items = validate_request(release_items, *rules)
        predictions, _ = predict_releases(
            release_model, items, strict=True, rules=rules, runtime=runtime
        )
    except ReleaseInputError as error:
        from mlflow.exceptions import MlflowException

        raise MlflowException.invalid_parameter_value(f"Bad request: {error}") from None
    n_per_item = int(
        settings["releases"].get("serve_top_users", settings["releases"].get("n_per_item", 1000))
    )
    top_users: list[list[str]] = [[] for _ in range(len(predictions))]
    top_scores: list[list[float]] = [[] for _ in range(len(predictions))]
    levels, all_factors = predictions["level"].tolist(), predictions["factors"].tolist()
    for level in LEVELS:
        rows = [i for i, value in enumerate(levels) if value == level]
        if not rows:
            continue
        factors = np.stack([all_factors[i] for i in rows])
        result = recommend(
            release_model.user_factors[level],
            factors,
            n_per_user=0,
            n_per_item=n_per_item,
            # a request's few items: starting threads would cost more than they save
            num_threads=1 if len(rows) * len(release_model.user_ids) < 2**24 else None,
        )
        for j, i in enumerate(rows):
            top_users[i] = release_model.user_ids[result.item_users[j]].tolist()
            top_scores[i] = result.item_scores[j].astype(float).tolist()
    # the predictions are this call's own: no copy before adding the answer's columns
    predictions["factors"] = [np.asarray(f, np.float32).astype(float).tolist() for f in all_factors]
    predictions["top_users"] = top_users
    predictions["top_scores"] = top_scores
    return predictions
