"""Known-artist pipeline: the world of Table 3 and its rows without a template elsewhere.

The world (``known_songs``, ``known_plays``, ``known_user_factors``,
``known_item_factors``, ``known_audio_feature_index``) is built here; rows with
``table: known`` built by other templates (``song_ff``, ``late_fusion``,
``audio_cnn``, the random and upper-bound baselines) read it in place of the songs'
datasets (``coldstart.rows.TABLE_DATASETS``). Templates of this pipeline:

* ``catalogue_mean``   -- the mean factors of the artist's catalogue tracks; also the
  artist input (``<row>.artist_embeddings``) of late fusion with T'.
* ``artist_attention`` -- audio attention over the artist's catalogue tracks, plus a
  correction regressed from T' (of the row ``row.track_embeddings_from``).

Table 3's random and upper-bound rows (the evaluation pipeline's baselines) are
rebuilt here too, as they read the world.
"""

from __future__ import annotations

import logging

from kedro.pipeline import Node, Pipeline, pipeline

from coldstart.pipelines.factorization.nodes import factorize
from coldstart.rows import load_rows, rows_for, skip_reason

from .nodes import (
    catalogue_mean,
    known_artist_plays,
    known_audio_feature_index,
    split_known_artist_tracks,
    train_artist_attention,
)

logger = logging.getLogger(__name__)

#: Datasets and parameters every row reads under its own name (not namespaced).
SHARED = frozenset({"known_item_factors", "known_songs", "artists"})


def world_pipeline(with_audio: bool) -> Pipeline:
    """Split the train artists' tracks, fit WMF on their catalogue, fold the rest in."""
    nodes = [
        Node(
            split_known_artist_tracks,
            ["songs", "artists", "params:known_artist.split", "params:seed"],
            "known_songs",
            name="split_known_artist_tracks",
        ),
        Node(
            known_artist_plays,
            ["song_plays", "known_songs"],
            "known_plays",
            name="known_artist_plays",
        ),
        Node(
            factorize,
            ["known_plays", "known_songs", "params:factorization.wmf", "params:seed"],
            ["known_user_factors", "known_item_factors"],
            name="factorize_known_artist_tracks",
        ),
    ]
    if with_audio:
        nodes.append(
            Node(
                known_audio_feature_index,
                ["audio_feature_index", "known_songs"],
                "known_audio_feature_index",
                name="known_audio_feature_index",
            )
        )
    return Pipeline(nodes)


def catalogue_mean_template() -> Pipeline:
    return Pipeline(
        [
            Node(
                catalogue_mean,
                ["known_item_factors", "known_songs", "artists"],
                ["artist_embeddings", "test_item_factors", "training_history"],
                name="catalogue_mean",
            )
        ]
    )


def artist_attention_template() -> Pipeline:
    return Pipeline(
        [
            Node(
                train_artist_attention,
                [
                    "known_item_factors",
                    "known_songs",
                    "artists",
                    "track_embeddings",
                    "params:attention",
                ],
                ["test_item_factors", "training_history"],
                name="artist_attention",
            )
        ]
    )


def _instance(namespace: str, template: Pipeline, mapped: dict[str, str]) -> Pipeline:
    free = set(template.inputs())
    return pipeline(
        template,
        namespace=namespace,
        inputs={**{name: name for name in free & SHARED}, **mapped},
    )


def create_pipeline(**kwargs) -> Pipeline:
    """The known-artist world and every enabled ``catalogue_mean`` / ``artist_attention`` row."""
    rows = load_rows()
    built = []
    for namespace in rows_for("catalogue_mean"):
        if rows[namespace].get("enabled", True):
            built.append(_instance(namespace, catalogue_mean_template(), {}))
    for namespace in rows_for("artist_attention"):
        row = rows[namespace]
        if not row.get("enabled", True):
            logger.info("Row '%s' (%s) skipped: %s", namespace, row["approach"], skip_reason(row))
            continue
        audio = row.get("track_embeddings_from")
        if not audio:
            raise ValueError(
                f"Row '{namespace}' (artist_attention) needs row.track_embeddings_from"
            )
        built.append(
            _instance(
                namespace,
                artist_attention_template(),
                {"track_embeddings": f"{audio}.track_embeddings"},
            )
        )
    with_audio = any(
        row.get("enabled", True) and row["table"] == "known" and row["template"] == "audio_cnn"
        for row in rows.values()
    )
    # this pipeline remakes the world, so Table 3's random and upper-bound rows with it
    from coldstart.pipelines.evaluation.pipeline import baseline_rows

    known = {ns for ns, row in rows.items() if row["table"] == "known"}
    baselines = Pipeline([node for node in baseline_rows().nodes if node.namespace in known])
    return world_pipeline(with_audio) + baselines + sum(built, Pipeline([]))
