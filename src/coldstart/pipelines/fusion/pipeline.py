"""Fusion pipeline: the song-level rows of Table 2 (paper §5, §6.3; docs/fusion.md).

Templates (``row.template`` in ``conf/base/parameters_fusion.yml``):

* ``song_ff``     -- sem_vsm, tags_vsm, sem_emb, tags_emb, random_song: an artist-level
  input broadcast to the artist's songs -> the text rows' FF -> song factors.
  ``row.features`` picks the input: ``enriched`` | ``tags`` (VSM built here),
  ``embeddings`` (A' of the row named by ``row.artist_embeddings_from``) or
  ``random`` (seeded Gaussian embeddings).
* ``late_fusion`` -- mm_lf_lin, mm_lf_h1, mm_lf_lin_tags: A' (``row.artist_embeddings_from``)
  and T' (``row.track_embeddings_from``) -> the late-fusion network (``fusion.kind``).
* ``multimodal``  -- mm: the text FF (``row.features``: ``enriched`` | ``tags``) and the
  track CNN trained end to end on spectrogram patches from the audio feature store.
* ``artist_fusion`` -- a_fusion (Table 1, beyond the paper): the test factors of the
  row ``row.anchor_from`` plus the direction of the rows ``row.content_from``
  (``fuse_artist_rows``); nothing is trained.

Each row ``<ns>`` outputs ``<ns>.test_item_factors`` and, except ``artist_fusion``,
``<ns>.training_history`` and ``<ns>.model``; VSM rows also ``<ns>.vectorizer``. The
global ``seed`` and the shared tables are not namespaced; which A'/T' (or, for
``artist_fusion``, which rows' test factors) a row reads is fixed here, when the
pipeline is built, from its ``row:`` block. A row with ``row.enabled: false`` is not
built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kedro.pipeline import Node, Pipeline, pipeline

from coldstart.rows import load_rows, rows_for, skip_reason, table_inputs

from .nodes import (
    VSM_FEATURES,
    build_artist_vsm,
    fuse_artist_rows,
    predict_late_fusion,
    predict_multimodal,
    predict_song_ff,
    random_artist_embeddings,
    train_late_fusion,
    train_multimodal,
    train_song_ff,
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
        "songs",
        "song_item_factors",
        "audio_feature_index",
        "audio_feature_store",
        "audio_feature_stats",
    }
)
SONG_FF_FEATURES = (*VSM_FEATURES, "embeddings", "random")


def _vsm_node() -> Node:
    return Node(
        build_artist_vsm,
        ["artists", "artists_enriched", "artist_tags", "params:features", "params:row"],
        ["artist_inputs", "vectorizer"],
        name="build_artist_vsm",
    )


def song_ff_template(features: str) -> Pipeline:
    """Artist input (VSM, A' or random; by ``features``) -> song-level FF -> test factors.

    With ``features == "embeddings"`` the template's free input ``artist_inputs``
    is mapped to an ``<row>.artist_embeddings`` dataset by :func:`row_pipeline`.
    """
    if features not in SONG_FF_FEATURES:
        raise ValueError(f"song_ff rows need row.features in {SONG_FF_FEATURES}, got {features!r}")
    nodes: list[Node] = []
    if features in VSM_FEATURES:
        nodes.append(_vsm_node())
    elif features == "random":
        nodes.append(
            Node(
                random_artist_embeddings,
                ["artists", "params:features", "params:seed"],
                "artist_inputs",
                name="random_artist_embeddings",
            )
        )
    nodes += [
        Node(
            train_song_ff,
            [
                "artist_inputs",
                "artists",
                "songs",
                "song_item_factors",
                "params:model",
                "params:training",
                "params:seed",
                "params:row",
            ],
            ["model", "training_history"],
            name="train_song_ff",
        ),
        Node(
            predict_song_ff,
            ["model", "artist_inputs", "artists", "songs"],
            "test_item_factors",
            name="predict_song_ff",
        ),
    ]
    return Pipeline(nodes)


def late_fusion_template() -> Pipeline:
    """A' of the song's artist and T' of the song -> late-fusion network -> test factors."""
    return Pipeline(
        [
            Node(
                train_late_fusion,
                [
                    "artist_embeddings",
                    "track_embeddings",
                    "artists",
                    "songs",
                    "song_item_factors",
                    "params:fusion",
                    "params:training",
                    "params:seed",
                    "params:row",
                ],
                ["model", "training_history"],
                name="train_late_fusion",
            ),
            Node(
                predict_late_fusion,
                ["model", "artist_embeddings", "track_embeddings", "artists", "songs"],
                "test_item_factors",
                name="predict_late_fusion",
            ),
        ]
    )


def artist_fusion_template(n_content: int) -> Pipeline:
    """The anchor row's and ``n_content`` content rows' test factors -> the fused row's."""
    content = [f"content_{position}_factors" for position in range(n_content)]
    return Pipeline(
        [
            Node(
                fuse_artist_rows,
                ["params:fusion", "anchor_factors", *content],
                "test_item_factors",
                name="fuse_artist_rows",
            )
        ]
    )


def multimodal_template() -> Pipeline:
    """Artist VSM + spectrogram patches -> text FF and track CNN trained together -> test factors."""
    audio = ["audio_feature_index", "audio_feature_store", "audio_feature_stats"]
    return Pipeline(
        [
            _vsm_node(),
            Node(
                train_multimodal,
                [
                    "artist_inputs",
                    "artists",
                    "songs",
                    "song_item_factors",
                    *audio,
                    "params:model",
                    "params:training",
                    "params:patches",
                    "params:seed",
                    "params:row",
                ],
                ["model", "training_history"],
                name="train_multimodal",
            ),
            Node(
                predict_multimodal,
                ["model", "artist_inputs", "artists", "songs", *audio, "params:patches"],
                "test_item_factors",
                name="predict_multimodal",
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


def _song_ff(namespace: str, row: dict[str, Any]) -> tuple[Pipeline, dict[str, str]]:
    features = _required(namespace, row, "features")
    mapped = {}
    if features == "embeddings":
        source = _required(namespace, row, "artist_embeddings_from")
        mapped["artist_inputs"] = f"{source}.artist_embeddings"
    return song_ff_template(features), mapped


def _late_fusion(namespace: str, row: dict[str, Any]) -> tuple[Pipeline, dict[str, str]]:
    artist = _required(namespace, row, "artist_embeddings_from")
    track = _required(namespace, row, "track_embeddings_from")
    return late_fusion_template(), {
        "artist_embeddings": f"{artist}.artist_embeddings",
        "track_embeddings": f"{track}.track_embeddings",
    }


def _multimodal(namespace: str, row: dict[str, Any]) -> tuple[Pipeline, dict[str, str]]:
    features = row.get("features", "enriched")
    if features not in VSM_FEATURES:
        raise ValueError(
            f"Row '{namespace}' (multimodal) needs row.features in {VSM_FEATURES}, got {features!r}"
        )
    return multimodal_template(), {}


def _artist_fusion(namespace: str, row: dict[str, Any]) -> tuple[Pipeline, dict[str, str]]:
    if row["table"] != "artist":
        raise ValueError(f"Row '{namespace}' (artist_fusion) is an artist-level row")
    anchor = _required(namespace, row, "anchor_from")
    content = row.get("content_from") or []
    if isinstance(content, str) or not all(isinstance(name, str) for name in content):
        raise ValueError(
            f"Row '{namespace}' (artist_fusion) needs `row.content_from` as a list of row "
            f"names, got {content!r}"
        )
    if not content:
        raise ValueError(
            f"Row '{namespace}' (artist_fusion) needs `row.content_from` in its parameters"
        )
    return artist_fusion_template(len(content)), {
        "anchor_factors": f"{anchor}.test_item_factors",
        **{
            f"content_{position}_factors": f"{name}.test_item_factors"
            for position, name in enumerate(content)
        },
    }


TEMPLATES: dict[str, Callable[[str, dict[str, Any]], tuple[Pipeline, dict[str, str]]]] = {
    "song_ff": _song_ff,
    "late_fusion": _late_fusion,
    "multimodal": _multimodal,
    "artist_fusion": _artist_fusion,
}


def row_pipeline(namespace: str, row: dict[str, Any]) -> Pipeline:
    """One row: its template under ``namespace``, inputs mapped as its ``row:`` block says."""
    template, mapped = TEMPLATES[row["template"]](namespace, row)
    free = set(template.inputs())
    return pipeline(
        template,
        namespace=namespace,
        # Table 3's rows read the known-artist world's songs and factors (rows.TABLE_DATASETS)
        inputs={**table_inputs(row, free & SHARED_INPUTS), **mapped},
        parameters={name: name for name in free & SHARED_PARAMETERS},
    )


def create_pipeline(**kwargs) -> Pipeline:
    """Every enabled ``song_ff``, ``late_fusion``, ``multimodal`` and ``artist_fusion`` row
    (one namespace each)."""
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
