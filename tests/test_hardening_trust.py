"""Model artefacts: nothing planted is executed or used, nothing tampered is loaded.

Real Kedro sessions on the tiny world in a temporary root (issue 13, "Code
execution and trust").
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from hardening_support import PROJECT, run_in_process, tiny_root

pytestmark = pytest.mark.slow

#: A Kedro version string later than any run's: what "latest version" picks.
PLANTED = "2999-01-01T00.00.00.000Z"
UPSTREAM = ["world", "ingestion", "semantic_enrichment", "factorization", "text"]
ROW_NODES = [
    "text_rf.build_text_features",
    "text_rf.train_text_regressor",
    "text_rf.predict_regressor_factors",
    "a_text.build_text_features",
    "a_text.train_text_ff",
    "a_text.predict_test_factors",
]


class _Payload:
    """Unpickling this creates ``marker``: proof that a planted file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _catalog(params: dict):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT)
    session = KedroSession.create(project_path=PROJECT, env="test", runtime_params=params)
    return session.load_context().catalog


def _versions(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """text_rf (scikit-learn) and a_text (Keras) trained once, with what they read."""
    root = tmp_path_factory.mktemp("trust")
    params = tiny_root(root)
    run_in_process(
        params,
        pipeline_names=UPSTREAM,
        to_nodes=["text_rf.predict_regressor_factors", "a_text.predict_test_factors"],
    )
    return {"root": root, "params": params, "models": Path(params["data_root"]) / "06_models"}


def test_a_tampered_model_file_is_refused_naming_it(trained: dict) -> None:
    """A byte appended to a saved model or vectoriser: the load fails, naming the file."""
    from kedro.io import DatasetError

    catalog = _catalog(trained["params"])
    for name in ("text_rf.estimator", "text_rf.vectorizer", "a_text.vectorizer"):
        dataset = catalog.get(name)
        folder = Path(str(dataset._filepath))
        version = _versions(folder)[0]  # the fixture's run: the only one before planting
        path = folder / version / folder.name
        catalog.load(name, version=version)  # intact: loads
        with open(path, "ab") as stream:
            stream.write(b" ")
        with pytest.raises(DatasetError, match="SHA-256") as caught:
            catalog.load(name, version=version)
        assert str(path) in str(caught.value), name


def test_a_planted_newer_version_is_never_executed_nor_used(trained: dict) -> None:
    """Files planted as the newest version of every model entry, under the names the
    catalog uses today and used before: a rerun of the rows neither runs the planted
    pickles nor predicts with the planted (shape-compatible, constant) Keras model."""
    import keras

    marker = trained["root"] / "payload_ran"
    payload = pickle.dumps(_Payload(marker))
    rows = trained["models"] / "rows"  # every row's models (conf/base/catalog_rows.yml)
    for row in ("text_rf", "a_text"):
        for name in ("model.pkl", "vectorizer.pkl", "model.skops", "vectorizer.json"):
            planted = rows / row / name / PLANTED / name
            planted.parent.mkdir(parents=True, exist_ok=True)
            planted.write_bytes(payload)
            # a matching hash beside it: planting is not tampering
            import hashlib

            planted.with_name(name + ".sha256").write_text(
                hashlib.sha256(payload).hexdigest() + f"  {name}\n"
            )
    # the Keras model: the trained one with every weight zeroed (constant predictions)
    keras_folder = rows / "a_text" / "model.keras"
    trained_model = keras.models.load_model(
        keras_folder / _versions(keras_folder)[0] / "model.keras", safe_mode=True
    )
    trained_model.set_weights([np.zeros_like(w) for w in trained_model.get_weights()])
    (keras_folder / PLANTED).mkdir()
    trained_model.save(keras_folder / PLANTED / "model.keras")

    run_in_process(trained["params"], pipeline_names=["text"], node_names=ROW_NODES)

    assert not marker.exists(), "a planted pickle ran during `kedro run`"
    catalog = _catalog(trained["params"])
    factors = catalog.load("a_text.test_item_factors")  # this rerun's: planted were models only
    assert factors.shape[0] > 1
    assert not np.allclose(factors, factors[0]), "a_text predicted with the planted Keras model"
    for row, name in (("text_rf", "model.skops"), ("text_rf", "vectorizer.json")):
        # this rerun saved its own version and left the planted one alone
        assert len(_versions(rows / row / name)) == 3, (row, name)


def test_a_skops_file_with_an_untrusted_type_is_refused_unbuilt(tmp_path: Path) -> None:
    """A model file naming a type off the trusted list (here ``os.system``) is refused."""
    import os

    import skops.io as sio
    from kedro.io import DatasetError
    from kedro.io.core import Version

    from coldstart.datasets import SklearnModelDataset

    dataset = SklearnModelDataset(str(tmp_path / "model.skops"), version=Version(None, "v1"))
    dataset.save({"call": os.system})
    with pytest.raises(DatasetError, match="trusted list"):
        SklearnModelDataset(str(tmp_path / "model.skops"), version=Version("v1", None)).load()
    assert "posix.system" in sio.get_untrusted_types(
        file=tmp_path / "model.skops" / "v1" / "model.skops"
    )
