"""Text pipeline: one namespaced instance of a template per Table 1 row.

Templates (``row.template`` in ``conf/base/parameters_text.yml``):

* ``text_ff``      -- a_text, a_sem, a_tags: VSM (``features.source``) -> FF network
* ``text_cnn``     -- a_w2v, a_w2v_goo: word vectors -> Kim (2014) CNN
* ``text_sklearn`` -- text_rf, ridge: VSM -> scikit-learn regressor
* ``item_knn``     -- tags_itemknn: ItemAttributeKNN on tags (outputs its own user vectors)

Every row reads the global ``seed`` and its own parameter block (``<ns>.row``,
``<ns>.features``, ``<ns>.model``, ...). Each row ``<ns>`` outputs
``<ns>.test_item_factors`` and its trained model: ``<ns>.model`` for the Keras rows
(with ``<ns>.training_history``), ``<ns>.estimator`` for the scikit-learn ones
(text_sklearn, item_knn). The two names differ because the catalog picks a row's
model format from the dataset name alone (the ``"{row}.model"`` and
``"{row}.estimator"`` factories in ``conf/base/catalog_rows.yml``). Rows with
``row.artist_embeddings: true`` also output ``<ns>.artist_embeddings`` (A'); item_knn
rows also ``<ns>.user_factors``. A row with ``row.enabled: false`` is not built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kedro.pipeline import Pipeline, node, pipeline

from coldstart.rows import load_rows, rows_for, skip_reason

from .nodes import (
    build_tag_features,
    build_text_features,
    build_word_vectors,
    encode_biographies,
    extract_artist_embeddings,
    fit_item_attribute_knn,
    item_knn_item_factors,
    item_knn_user_factors,
    predict_regressor_factors,
    predict_test_factors,
    train_text_cnn,
    train_text_ff,
    train_text_regressor,
)

logger = logging.getLogger(__name__)

#: Parameters shared by every row (not namespaced): the global seed of parameters.yml.
SHARED_PARAMETERS = frozenset({"params:seed"})
#: Catalog datasets shared by every row (not namespaced).
SHARED_INPUTS = frozenset(
    {"artists", "artists_enriched", "artist_tags", "artist_item_factors", "artist_plays"}
)


def text_ff_template(artist_embeddings: bool = False) -> Pipeline:
    """VSM (biography, enriched biography or tags) -> FF network -> test factors [-> A']."""
    nodes = [
        node(
            build_text_features,
            inputs=["artists", "artists_enriched", "artist_tags", "params:features"],
            outputs=["features", "vectorizer"],
            name="build_text_features",
        ),
        node(
            train_text_ff,
            inputs=[
                "features",
                "artists",
                "artist_item_factors",
                "params:model",
                "params:training",
                "params:seed",
                "params:row",
            ],
            outputs=["model", "training_history"],
            name="train_text_ff",
        ),
        node(
            predict_test_factors,
            inputs=["model", "features", "artists"],
            outputs="test_item_factors",
            name="predict_test_factors",
        ),
    ]
    if artist_embeddings:
        nodes.append(
            node(
                extract_artist_embeddings,
                inputs=["model", "features", "artists"],
                outputs="artist_embeddings",
                name="extract_artist_embeddings",
            )
        )
    return Pipeline(nodes)


def text_cnn_template(artist_embeddings: bool = False) -> Pipeline:
    """Word vectors (trained or pretrained) -> Kim CNN -> test factors."""
    if artist_embeddings:
        raise ValueError("text_cnn rows have no 2048-d artist embedding layer")
    return Pipeline(
        [
            node(
                build_word_vectors,
                inputs=["artists", "params:embeddings", "params:features", "params:seed"],
                outputs=["vocabulary", "word_vectors"],
                name="build_word_vectors",
            ),
            node(
                encode_biographies,
                inputs=["artists", "vocabulary", "params:features"],
                outputs="sequences",
                name="encode_biographies",
            ),
            node(
                train_text_cnn,
                inputs=[
                    "sequences",
                    "word_vectors",
                    "artists",
                    "artist_item_factors",
                    "params:model",
                    "params:training",
                    "params:seed",
                    "params:row",
                ],
                outputs=["model", "training_history"],
                name="train_text_cnn",
            ),
            node(
                predict_test_factors,
                inputs=["model", "sequences", "artists"],
                outputs="test_item_factors",
                name="predict_test_factors",
            ),
        ]
    )


def text_sklearn_template(artist_embeddings: bool = False) -> Pipeline:
    """VSM -> scikit-learn regressor (random forest, ridge) -> test factors."""
    if artist_embeddings:
        raise ValueError("text_sklearn rows have no artist embedding layer")
    return Pipeline(
        [
            node(
                build_text_features,
                inputs=["artists", "artists_enriched", "artist_tags", "params:features"],
                outputs=["features", "vectorizer"],
                name="build_text_features",
            ),
            node(
                train_text_regressor,
                inputs=[
                    "features",
                    "artists",
                    "artist_item_factors",
                    "params:model",
                    "params:seed",
                ],
                outputs="estimator",
                name="train_text_regressor",
            ),
            node(
                predict_regressor_factors,
                inputs=["estimator", "features", "artists"],
                outputs="test_item_factors",
                name="predict_regressor_factors",
            ),
        ]
    )


def item_knn_template(artist_embeddings: bool = False) -> Pipeline:
    """Tag vectors -> ItemAttributeKNN: test similarity rows + user play rows as factors."""
    if artist_embeddings:
        raise ValueError("item_knn rows have no artist embedding layer")
    return Pipeline(
        [
            node(
                build_tag_features,
                inputs=["artists", "artist_tags", "params:features"],
                outputs=["features", "vectorizer"],
                name="build_tag_features",
            ),
            node(
                fit_item_attribute_knn,
                inputs=["features", "artists", "params:model"],
                outputs="estimator",
                name="fit_item_attribute_knn",
            ),
            node(
                item_knn_item_factors,
                inputs=["estimator", "features", "artists"],
                outputs="test_item_factors",
                name="item_knn_item_factors",
            ),
            node(
                item_knn_user_factors,
                inputs=["artist_plays", "artists", "params:model"],
                outputs="user_factors",
                name="item_knn_user_factors",
            ),
        ]
    )


TEMPLATES: dict[str, Callable[..., Pipeline]] = {
    "text_ff": text_ff_template,
    "text_cnn": text_cnn_template,
    "text_sklearn": text_sklearn_template,
    "item_knn": item_knn_template,
}


def row_pipeline(namespace: str, template: str, artist_embeddings: bool = False) -> Pipeline:
    """One row: ``template`` instantiated under ``namespace`` (shared inputs kept global)."""
    template_pipe = TEMPLATES[template](artist_embeddings=artist_embeddings)
    free = set(template_pipe.inputs())
    return pipeline(
        template_pipe,
        namespace=namespace,
        inputs=free & SHARED_INPUTS,
        parameters={name: name for name in free & SHARED_PARAMETERS},
    )


def create_pipeline(**kwargs) -> Pipeline:
    """Every enabled text row of ``conf/base/parameters*.yml`` (one namespace each)."""
    rows = load_rows()
    pipes = []
    for template in TEMPLATES:
        for namespace in rows_for(template):
            row = rows[namespace]
            if not row.get("enabled", True):
                hint = (
                    " (set embeddings.pretrained_vectors_path to a word2vec file and "
                    "row.enabled: true to run it)"
                    if template == "text_cnn" and "skipped" not in row
                    else ""
                )
                logger.info(
                    "Row '%s' (%s) skipped: %s%s",
                    namespace,
                    row.get("approach", namespace),
                    skip_reason(row),
                    hint,
                )
                continue
            pipes.append(
                row_pipeline(
                    namespace, template, artist_embeddings=bool(row.get("artist_embeddings", False))
                )
            )
    return sum(pipes, Pipeline([]))
