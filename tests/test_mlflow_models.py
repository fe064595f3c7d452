"""Row models logged in their MLflow flavour through the catalog's kedro-mlflow dataset."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from coldstart.pipelines.evaluation.nodes import row_model_for_mlflow

ROW = {"row": {"table": "artist", "approach": "a-sem", "input": "Sem Bio", "arch": "FF"}}


@pytest.fixture
def store(tmp_path: Path):
    """A real SQLite MLflow store with one parent run and one row run under it."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns.db'}")
    experiment = mlflow.create_experiment("rows", artifact_location=str(tmp_path / "artifacts"))
    with mlflow.start_run(experiment_id=experiment) as parent:
        row_run = mlflow.MlflowClient().create_run(
            experiment, tags={"mlflow.parentRunId": parent.info.run_id}
        )
        yield {"experiment": experiment, "row_run": row_run.info.run_id, "parent": parent}
    mlflow.set_tracking_uri(None)


def _keras_model():
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((12,), name="tfidf")
    outputs = keras.layers.UnitNormalization()(keras.layers.Dense(4)(inputs))
    return keras.Model(inputs, outputs)


def _logged(store: dict) -> list:
    import mlflow

    return mlflow.search_logged_models(experiment_ids=[store["experiment"]], output_format="list")


def test_a_keras_row_is_logged_in_its_run_with_a_signature_and_loads_back(store: dict) -> None:
    import mlflow

    from coldstart.datasets import MlflowRowModelDataset

    model = _keras_model()
    record = {"logged": True, "run_id": store["row_run"]}
    row_model = row_model_for_mlflow(model, record, ROW, {"log_row_models": True})
    MlflowRowModelDataset(flavor="mlflow.tensorflow").save(row_model)

    (logged,) = _logged(store)
    assert logged.name == "table1-a-sem"
    assert logged.source_run_id == store["row_run"]
    assert logged.tags["row"] == "a-sem" and logged.tags["results_table"] == "artist"
    info = mlflow.models.get_model_info(f"models:/{logged.model_id}")
    assert "tensorflow" in info.flavors
    (spec,) = info.signature.inputs.inputs
    assert spec.shape == (-1, 12)
    example = np.random.default_rng(0).random((3, 12), dtype=np.float32)
    loaded = mlflow.pyfunc.load_model(f"models:/{logged.model_id}")
    np.testing.assert_allclose(
        loaded.predict(example), model.predict(example, verbose=0), rtol=1e-6
    )
    # the parent (`kedro run`) is still the active run
    assert mlflow.active_run().info.run_id == store["parent"].info.run_id


def test_a_sklearn_row_is_logged_as_skops_and_loads_back(store: dict, caplog) -> None:
    import mlflow
    from sklearn.ensemble import RandomForestRegressor

    from coldstart.datasets import MlflowRowModelDataset

    rng = np.random.default_rng(1)
    X, Y = rng.random((20, 6)), rng.random((20, 3))
    # a forest holds sklearn's Tree, a type skops only loads when trusted by name
    model = RandomForestRegressor(n_estimators=3, random_state=0).fit(X, Y)
    row = {"row": {**ROW["row"], "approach": "text-rf"}}
    row_model = row_model_for_mlflow(model, {"logged": True, "run_id": store["row_run"]}, row, {})
    dataset = MlflowRowModelDataset(
        flavor="mlflow.sklearn", save_args={"serialization_format": "skops"}
    )
    # Kedro and kedro-mlflow ask every output whether it exists: answered, not warned about
    with caplog.at_level(logging.WARNING):
        assert not dataset.exists()
        dataset.save(row_model)
        assert dataset.exists()
    assert "not implemented" not in caplog.text

    (logged,) = _logged(store)
    assert logged.name == "table1-text-rf"
    info = mlflow.models.get_model_info(f"models:/{logged.model_id}")
    assert info.flavors["sklearn"]["serialization_format"] == "skops"
    (spec,) = info.signature.inputs.inputs
    assert spec.shape == (-1, 6)
    assert any(r.startswith("scikit-learn==") for r in row_model.pip_requirements)
    loaded = mlflow.sklearn.load_model(f"models:/{logged.model_id}")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize(
    ("record", "settings", "reason"),
    [
        ({"logged": False, "reason": "no active MLflow run"}, {}, "no active MLflow run"),
        ({"logged": True, "run_id": "x"}, {"log_row_models": False}, "log_row_models is false"),
    ],
)
def test_nothing_is_logged_without_a_row_run_or_when_switched_off(
    store: dict, record: dict, settings: dict, reason: str
) -> None:
    from coldstart.datasets import MlflowRowModelDataset

    row_model = row_model_for_mlflow(object(), record, ROW, settings)
    assert row_model.model is None and reason in row_model.reason
    MlflowRowModelDataset(flavor="mlflow.tensorflow").save(row_model)
    assert _logged(store) == []
