"""Evaluation pipeline: one evaluate-and-log instance per results-table row, and the tables.

Every row (see ``coldstart.rows``) provides ``<row>.test_item_factors``; the
template below turns it into ``<row>.metrics``, ``<row>.user_ap`` and one nested
MLflow run. Rows whose template trains a Keras model also hand over
``<row>.training_history`` (learning curves in the run); every row with a trained
model logs it into its run: ``<row>.model`` (Keras) as ``<row>.logged_model``,
``<row>.estimator`` (scikit-learn) as ``<row>.logged_estimator``. The names differ so
the catalog's factories (``conf/base/catalog_rows.yml``) can give each its format.
"""

from __future__ import annotations

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline, pipeline

from coldstart.rows import TABLES, load_base_parameters, load_rows, rows_for, rows_of_table

from .nodes import (
    assemble_table,
    evaluate_row,
    hyperparameter_keys,
    log_row_run,
    random_test_factors,
    row_model_for_mlflow,
    split_test_plays,
    upper_bound_test_factors,
)

#: The items of each table's level; Table 3's are the known-artist world's tracks.
LEVEL_ITEMS = {"artist": "artists", "song": "songs", "known": "known_songs"}
LEVEL_PLAYS = {"artist": "artist_plays", "song": "song_plays", "known": "known_plays"}
#: Levels whose test relevance every modelling pipeline's evaluation prepares.
BASE_LEVELS = ("artist", "song")
TRAINED_TEMPLATES = {
    "text_ff",
    "text_cnn",
    "audio_cnn",
    "song_ff",
    "late_fusion",
    "multimodal",
    "dropoutnet",
    "clcrec",
}
#: Templates without a Keras model whose ``<row>.training_history`` (a validation loss)
#: is logged with the row.
HISTORY_TEMPLATES = frozenset({"catalogue_mean", "artist_attention"})
#: Templates whose ``<row>.model`` is logged to the row's MLflow run in its flavour.
LOGGED_MODEL_TEMPLATES = TRAINED_TEMPLATES | {"text_sklearn"}
#: Templates whose trained model is a scikit-learn estimator, ``<row>.estimator`` (skops)
#: rather than ``<row>.model`` (Keras): the catalog tells the formats apart by name.
ESTIMATOR_TEMPLATES = frozenset({"text_sklearn", "item_knn"})
# rows whose own user factors are a dense matrix (`<row>.dense_user_factors`, .npy); the
# item_knn rows' are sparse (`<row>.user_factors`, .npz): two factories, two formats
DENSE_OWN_USERS_TEMPLATES = frozenset({"cmf", "lightfm"})


def shared_inputs(levels: tuple[str, ...] = BASE_LEVELS) -> Pipeline:
    """Test relevance and evaluated users at each of ``levels``."""
    return Pipeline(
        [
            Node(
                split_test_plays,
                [LEVEL_PLAYS[level], LEVEL_ITEMS[level]],
                [f"{level}_test_plays", f"{level}_evaluated_users"],
                name=f"split_{level}_test_plays",
            )
            for level in levels
        ]
    )


def baseline_rows() -> Pipeline:
    """The ``random`` and ``upper-bound`` rows of every table declaring them."""
    rows = load_rows()
    built = []
    for namespace in rows_for("random_factors"):
        level = rows[namespace]["table"]
        template = Pipeline(
            [
                Node(
                    random_test_factors,
                    ["item_factors", "items", "params:seed"],
                    "test_item_factors",
                    name="random_test_factors",
                )
            ]
        )
        built.append(_instance(template, namespace, level))
    for namespace in rows_for("upper_bound"):
        level = rows[namespace]["table"]
        template = Pipeline(
            [
                Node(
                    upper_bound_test_factors,
                    ["item_factors", "items"],
                    "test_item_factors",
                    name="upper_bound_test_factors",
                )
            ]
        )
        built.append(_instance(template, namespace, level))
    return sum(built, Pipeline([]))


def _instance(template: Pipeline, namespace: str, level: str) -> Pipeline:
    return pipeline(
        template,
        namespace=namespace,
        inputs={"item_factors": f"{level}_item_factors", "items": LEVEL_ITEMS[level]},
        # baselines share the project's parameters, not namespaced copies
        parameters={name: name for name in template.inputs() if name.startswith("params:")},
    )


def _all_hyperparameter_keys() -> tuple[str, ...]:
    """The union of every enabled row's hyper-parameter keys (one key set for all row runs)."""
    parameters = load_base_parameters()
    return hyperparameter_keys([parameters[ns] for ns in enabled_rows() if ns in parameters])


def evaluation_template(
    with_history: bool, with_model: bool = False, model: str = "model"
) -> Pipeline:
    """Evaluate one row's predicted test factors and log the row (and its model) to MLflow.

    ``model`` is the row's model dataset (``model`` or ``estimator``); it is logged
    as ``logged_<model>``.
    """
    log_inputs = ["row_result", "user_ap", "params:row_params", "params:dataset_dir", "params:seed"]
    if with_history:
        log_inputs.append("training_history")
    log = update_wrapper(
        partial(log_row_run, all_hyperparameter_keys=_all_hyperparameter_keys()), log_row_run
    )
    logged_model = [
        Node(
            row_model_for_mlflow,
            [model, "mlflow_run", "params:row_params", "params:mlflow_models"],
            f"logged_{model}",
            name="log_model_to_mlflow",
        )
    ]
    return Pipeline(
        [
            Node(
                evaluate_row,
                [
                    "user_factors",
                    "test_item_factors",
                    "test_plays",
                    "evaluated_users",
                    "params:row_params",
                    "params:evaluation",
                ],
                ["row_result", "user_ap"],
                name="evaluate",
            ),
            Node(log, log_inputs, "mlflow_run", name="log_to_mlflow"),
            *(logged_model if with_model else []),
        ]
    )


def row_evaluation(namespace: str) -> Pipeline:
    """The evaluation template instantiated for one row."""
    row = load_rows()[namespace]
    level = row["table"]
    own_users = row.get("user_factors") == "own"
    with_model = row["template"] in LOGGED_MODEL_TEMPLATES
    return pipeline(
        evaluation_template(
            with_history=row["template"] in TRAINED_TEMPLATES | HISTORY_TEMPLATES,
            with_model=with_model,
            model="estimator" if row["template"] in ESTIMATOR_TEMPLATES else "model",
        ),
        namespace=namespace,
        inputs={
            "test_plays": f"{level}_test_plays",
            "evaluated_users": f"{level}_evaluated_users",
            **({} if own_users else {"user_factors": f"{level}_user_factors"}),
            **(
                {"user_factors": f"{namespace}.dense_user_factors"}
                if own_users and row["template"] in DENSE_OWN_USERS_TEMPLATES
                else {}
            ),
        },
        parameters={
            "params:evaluation": "params:evaluation",
            "params:dataset_dir": "params:dataset_dir",
            "params:seed": "params:seed",
            **({"params:mlflow_models": "params:mlflow_models"} if with_model else {}),
            # the row's whole parameter block: its table labels and its hyper-parameters
            "params:row_params": f"params:{namespace}",
        },
    )


def table(level: str) -> Pipeline:
    """Assemble one results table, its significance tests and its figure."""
    namespaces = [ns for ns in rows_of_table(level) if load_rows()[ns].get("enabled", True)]
    name = TABLES[level]
    return Pipeline(
        [
            Node(
                assemble_table,
                [
                    "params:evaluation",
                    "params:significance",
                    *[f"{ns}.row_result" for ns in namespaces],
                    *[f"{ns}.user_ap" for ns in namespaces],
                    *[f"{ns}.mlflow_run" for ns in namespaces],
                ],
                [name, f"{name}_markdown", f"{name}_significance", f"{name}_figure"],
                name=f"assemble_{name}",
            )
        ]
    )


def enabled_rows() -> list[str]:
    """Rows switched on in configuration (``row.enabled`` defaults to true)."""
    return [ns for ns, row in load_rows().items() if row.get("enabled", True)]


def table_levels() -> tuple[str, ...]:
    """The levels with at least one enabled row: Table 3 only when its rows are declared."""
    levels = {load_rows()[ns]["table"] for ns in enabled_rows()}
    return tuple(level for level in TABLES if level in levels or level in BASE_LEVELS)


def create_pipeline(**kwargs) -> Pipeline:
    rows = enabled_rows()
    levels = table_levels()
    return (
        shared_inputs(levels)
        + baseline_rows()
        + sum((row_evaluation(ns) for ns in rows), Pipeline([]))
        + sum((table(level) for level in levels), Pipeline([]))
    )
