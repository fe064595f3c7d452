"""Releases pipeline (docs/releases.md).

* ``build_release_model`` (training side, part of the default run): the serving
  rows' artefacts -> ``release_model``, the bundle the registered MLflow model carries;
* ``read_releases`` -> ``predict_release_factors`` -> ``rank_releases`` and
  ``score_releases`` -> ``releases_report``: new music in ``releases_dir``, placed.

* ``register_release_model`` (:func:`registration_pipeline`, default run only): the
  bundle logged and registered as an MLflow model, the alias moved past the gate.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from coldstart.releases.candidates import artefact_inputs, serving_rows
from coldstart.rows import load_base_parameters

from .nodes import (
    build_release_model,
    predict_release_factors,
    quality_markdown,
    rank_releases,
    read_releases,
    register_release_model,
    report_releases,
    score_releases,
)


def release_model_pipeline() -> Pipeline:
    """The node that bundles the serving rows' artefacts into ``release_model``."""
    parameters = load_base_parameters()
    rows = serving_rows(parameters, parameters["releases"]["candidates"])
    inputs = {
        "releases": "params:releases",
        "semantic_enrichment": "params:semantic_enrichment",
        "audio_features": "params:audio_features",
        "audio": "params:audio",
        "ingestion": "params:ingestion",
        "artists": "artists",
        "users": "users",
        "song_user_factors": "song_user_factors",
        "artist_user_factors": "artist_user_factors",
        "raw_knowledge_base": "raw_knowledge_base",
        **artefact_inputs(rows),
    }
    if any(spec["kind"] == "catalogue_mean" for spec in rows.values()):
        # Table 3's catalogue mean, served from the catalogue's own song factors
        inputs["songs"] = "songs"
        inputs["song_item_factors"] = "song_item_factors"
    if any("audio" in spec["requires"] for spec in rows.values()):
        # without audio rows (a dataset without audio) there are no audio statistics
        inputs["audio_feature_stats"] = "audio_feature_stats"
    return Pipeline(
        [
            Node(
                build_release_model,
                inputs=inputs,
                outputs="release_model",
                name="build_release_model",
            )
        ],
        tags=["releases", "training"],
    )


def registration_pipeline() -> Pipeline:
    """The release model registered in MLflow, described, and aliased past the gate."""
    return Pipeline(
        [
            Node(
                register_release_model,
                inputs=[
                    "release_model",
                    "release_quality",
                    "raw_releases_dir",
                    "params:releases",
                    "params:ingestion",
                ],
                outputs="release_model_registered",
                name="register_release_model",
            )
        ],
        tags=["releases", "registry"],
    )


def create_pipeline(**kwargs) -> Pipeline:
    """The releases folder, placed with the release model of the last training run."""
    return Pipeline(
        [
            Node(
                read_releases,
                inputs=["raw_releases_dir", "params:ingestion"],
                outputs=["release_items", "release_read_report"],
                name="read_releases",
            ),
            Node(
                predict_release_factors,
                inputs=["release_items", "release_model"],
                outputs=["release_factors", "release_predict_log"],
                name="predict_release_factors",
            ),
            Node(
                rank_releases,
                inputs=["release_factors", "release_model", "params:releases"],
                outputs=["release_user_tracks", "release_user_artists", "release_audiences"],
                name="rank_releases",
            ),
            Node(
                score_releases,
                inputs=[
                    "release_factors",
                    "release_model",
                    "raw_releases_dir",
                    "params:releases",
                    "params:seed",
                ],
                outputs=["release_quality", "release_metrics"],
                name="score_releases",
            ),
            Node(
                quality_markdown,
                inputs="release_quality",
                outputs="release_quality_markdown",
                name="quality_markdown",
            ),
            Node(
                report_releases,
                inputs=[
                    "release_read_report",
                    "release_predict_log",
                    "release_quality",
                    "release_model",
                ],
                outputs="releases_report",
                name="report_releases",
            ),
        ],
        tags=["releases"],
    )
