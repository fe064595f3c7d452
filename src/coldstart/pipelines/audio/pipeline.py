"""Audio pipeline: shared CQT features, then one track-CNN instance per ``audio_cnn`` row."""

from __future__ import annotations

import logging

from kedro.pipeline import Node, Pipeline, pipeline

from coldstart.datasets.raw import needs_on_disk
from coldstart.rows import AUDIO_TEMPLATES, load_rows, rows_for, skip_reason, table_inputs

from .nodes import (
    extract_audio_features,
    fit_audio_standardisation,
    predict_audio_cnn,
    split_song_predictions,
    train_audio_cnn,
)

logger = logging.getLogger(__name__)

#: Inputs of the template shared by every row (not namespaced).
SHARED_INPUTS = {
    "audio_feature_index",
    "audio_feature_store",
    "audio_feature_stats",
    "song_item_factors",
}


def features_pipeline() -> Pipeline:
    """Spectrograms of every song (cached in the feature store) and train statistics."""
    return Pipeline(
        [
            Node(
                extract_audio_features,
                [
                    "songs",
                    "raw_audio_dir",
                    "audio_feature_store",
                    "params:audio_features",
                    "params:audio.patches",
                ],
                ["audio_feature_index", "audio_features_report"],
                name="extract_audio_features",
                tags=needs_on_disk("raw_audio_dir"),
            ),
            Node(
                fit_audio_standardisation,
                ["audio_feature_index", "audio_feature_store"],
                "audio_feature_stats",
                name="fit_audio_standardisation",
            ),
        ]
    )


def audio_cnn_template() -> Pipeline:
    """Train the track CNN, predict every song, and hand val/test factors and T' over."""
    return Pipeline(
        [
            Node(
                train_audio_cnn,
                [
                    "audio_feature_index",
                    "audio_feature_store",
                    "audio_feature_stats",
                    "song_item_factors",
                    "params:model",
                    "params:training",
                    "params:patches",
                    "params:seed",
                ],
                ["model", "training_history"],
                name="train_audio_cnn",
            ),
            Node(
                predict_audio_cnn,
                [
                    "model",
                    "audio_feature_index",
                    "audio_feature_store",
                    "audio_feature_stats",
                    "params:patches",
                ],
                ["song_factors", "track_embeddings"],
                name="predict_audio_cnn",
            ),
            Node(
                split_song_predictions,
                ["song_factors", "audio_feature_index"],
                ["val_item_factors", "test_item_factors"],
                name="split_song_predictions",
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    """The shared features and every enabled ``audio_cnn`` row.

    Without an enabled row that reads spectrograms (``audio_cnn``, ``multimodal``: a
    dataset without audio) there is nothing to extract features for, and the pipeline
    is empty.
    """
    rows = load_rows()
    built = []
    for namespace in rows_for("audio_cnn"):
        if not rows[namespace].get("enabled", True):
            logger.info(
                "Row '%s' (%s) skipped: %s",
                namespace,
                rows[namespace].get("approach", namespace),
                skip_reason(rows[namespace]),
            )
            continue
        built.append(
            pipeline(
                audio_cnn_template(),
                namespace=namespace,
                # Table 3's audio row trains on the known-artist world (rows.TABLE_DATASETS)
                inputs=table_inputs(rows[namespace], SHARED_INPUTS),
                parameters={"params:seed": "params:seed"},  # the project seed, as in every row
            )
        )
    reads_spectrograms = any(
        row.get("enabled", True) and row["template"] in AUDIO_TEMPLATES for row in rows.values()
    )
    if not reads_spectrograms:
        return Pipeline([])
    return features_pipeline() + sum(built, Pipeline([]))
