"""Peer pipeline: the cold-start rows published after the paper (docs/peers.md).

Templates (``row.template`` in ``conf/base/parameters_peers.yml``):

* ``dropoutnet`` -- DropoutNet (Volkovs et al. 2017). Artist level (``row.table:
  artist``): the artist VSM of ``features.source`` with the WMF artist factors as CF
  input. Song level: A' (``row.artist_embeddings_from``) and T'
  (``row.track_embeddings_from``) with the WMF song factors as CF input.
* ``clcrec``     -- CLCRec's contrastive content encoder (Wei et al. 2021); the
  same inputs as ``dropoutnet`` without the CF input.
* ``cmf``        -- cmfrec's implicit collective MF with the artist VSM as item side
  information (artist level; its own user factors).
* ``lightfm``    -- LightFM, WARP loss, the artist VSM as item features (artist
  level; its own user factors).

Every row ``<ns>`` outputs ``<ns>.test_item_factors``; the Keras rows also
``<ns>.model`` and ``<ns>.training_history``, ``cmf`` and ``lightfm`` rows
``<ns>.dense_user_factors`` (their files come from the catalog's ``{row}.*`` factories). A row with ``row.enabled: false`` is not built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kedro.pipeline import Node, Pipeline, pipeline

from coldstart.pipelines.text.nodes import build_text_features
from coldstart.rows import load_rows, rows_for, skip_reason

from .nodes import (
    collective_mf_factors,
    lightfm_factors,
    predict_clcrec_artists,
    predict_clcrec_songs,
    predict_dropoutnet_artists,
    predict_dropoutnet_songs,
    train_clcrec_artists,
    train_clcrec_songs,
    train_dropoutnet_artists,
    train_dropoutnet_songs,
)

logger = logging.getLogger(__name__)

#: Parameters shared by every row (not namespaced): the global seed of parameters.yml.
SHARED_PARAMETERS = frozenset({"params:seed"})
#: Catalog datasets shared by every row (not namespaced).
SHARED_INPUTS = frozenset(
    {
        "artists",
        "artists_enriched",
        "artist_tags",
        "artist_plays",
        "artist_item_factors",
        "artist_user_factors",
        "songs",
        "song_item_factors",
        "song_user_factors",
    }
)
#: Templates that train a Keras model (a ``<row>.model`` and ``<row>.training_history``).
KERAS_TEMPLATES = frozenset({"dropoutnet", "clcrec"})


def _features_node() -> Node:
    return Node(
        build_text_features,
        ["artists", "artists_enriched", "artist_tags", "params:features"],
        ["features", "vectorizer"],
        name="build_text_features",
    )


def artist_network_template(train: Callable, predict: Callable, user_factors: bool) -> Pipeline:
    """Artist VSM -> a content network (DropoutNet, CLCRec) -> test artist factors."""
    factors = ["artist_item_factors", *(["artist_user_factors"] if user_factors else [])]
    return Pipeline(
        [
            _features_node(),
            Node(
                train,
                [
                    "features",
                    "artists",
                    *factors,
                    "params:model",
                    "params:training",
                    "params:seed",
                    "params:row",
                ],
                ["model", "training_history"],
                name=train.__name__,
            ),
            Node(
                predict,
                ["model", "features", "artists"],
                "test_item_factors",
                name=predict.__name__,
            ),
        ]
    )


def song_network_template(train: Callable, predict: Callable, user_factors: bool) -> Pipeline:
    """A' of the song's artist and T' of the song -> a content network -> test song factors."""
    embeddings = ["artist_embeddings", "track_embeddings", "artists", "songs"]
    factors = ["song_item_factors", *(["song_user_factors"] if user_factors else [])]
    return Pipeline(
        [
            Node(
                train,
                [
                    *embeddings,
                    *factors,
                    "params:model",
                    "params:training",
                    "params:seed",
                    "params:row",
                ],
                ["model", "training_history"],
                name=train.__name__,
            ),
            Node(predict, ["model", *embeddings], "test_item_factors", name=predict.__name__),
        ]
    )


def factorisation_template(fit: Callable, with_training: bool) -> Pipeline:
    """Artist VSM + train artists' plays -> a side-information MF -> user and test factors."""
    parameters = ["params:model", *(["params:training"] if with_training else []), "params:seed"]
    return Pipeline(
        [
            _features_node(),
            Node(
                fit,
                ["features", "artist_plays", "artists", *parameters],
                ["dense_user_factors", "test_item_factors"],
                name=fit.__name__,
            ),
        ]
    )


def _required(namespace: str, row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if not value:
        raise ValueError(
            f"Row '{namespace}' ({row['template']}) needs `row.{key}` in its parameters"
        )
    return str(value)


def _network(
    namespace: str, row: dict[str, Any], artist: tuple, song: tuple, user_factors: bool
) -> tuple[Pipeline, dict[str, str]]:
    if row["table"] == "artist":
        return artist_network_template(*artist, user_factors=user_factors), {}
    source = _required(namespace, row, "artist_embeddings_from")
    track = _required(namespace, row, "track_embeddings_from")
    return song_network_template(*song, user_factors=user_factors), {
        "artist_embeddings": f"{source}.artist_embeddings",
        "track_embeddings": f"{track}.track_embeddings",
    }


def _artist_only(namespace: str, row: dict[str, Any]) -> None:
    if row["table"] != "artist":
        raise ValueError(f"Row '{namespace}' ({row['template']}) is an artist-level row")


def _dropoutnet(namespace: str, row: dict[str, Any]) -> tuple[Pipeline, dict[str, str]]:
    return _network(
        namespace,
        row,
        (train_dropoutnet_artists, predict_dropoutnet_artists),
        (train_dropoutnet_songs, predict_dropoutnet_songs),
        user_factors=True,
    )


def _clcrec(namespace: str, row: dict[str, Any]) -> tuple[Pipeline, dict[str, str]]:
    return _network(
        namespace,
        row,
        (train_clcrec_artists, predict_clcrec_artists),
        (train_clcrec_songs, predict_clcrec_songs),
        user_factors=False,
    )


def _cmf(namespace: str, row: dict[str, Any]) -> tuple[Pipeline, dict[str, str]]:
    _artist_only(namespace, row)
    return factorisation_template(collective_mf_factors, with_training=False), {}


def _lightfm(namespace: str, row: dict[str, Any]) -> tuple[Pipeline, dict[str, str]]:
    _artist_only(namespace, row)
    return factorisation_template(lightfm_factors, with_training=True), {}


TEMPLATES: dict[str, Callable[[str, dict[str, Any]], tuple[Pipeline, dict[str, str]]]] = {
    "dropoutnet": _dropoutnet,
    "clcrec": _clcrec,
    "cmf": _cmf,
    "lightfm": _lightfm,
}


def row_pipeline(namespace: str, row: dict[str, Any]) -> Pipeline:
    """One row: its template under ``namespace``, A'/T' mapped as its ``row:`` block says."""
    template, mapped = TEMPLATES[row["template"]](namespace, row)
    free = set(template.inputs())
    return pipeline(
        template,
        namespace=namespace,
        inputs={**{name: name for name in free & SHARED_INPUTS}, **mapped},
        parameters={name: name for name in free & SHARED_PARAMETERS},
    )


def create_pipeline(**kwargs) -> Pipeline:
    """Every enabled peer row of ``conf/base/parameters*.yml`` (one namespace each)."""
    rows = load_rows()
    pipes = []
    for template in TEMPLATES:
        for namespace in rows_for(template):
            row = rows[namespace]
            if not row.get("enabled", True):
                logger.info(
                    "Row '%s' (%s) skipped: %s", namespace, row["approach"], skip_reason(row)
                )
                continue
            pipes.append(row_pipeline(namespace, row))
    return sum(pipes, Pipeline([]))
