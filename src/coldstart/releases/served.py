"""The registered release model as MLflow loads it: code from this package, data from the bundle.

A training run logs the release model with MLflow's ``loader_module`` workflow
(:class:`coldstart.datasets.MlflowReleaseModelDataset`): the model version holds
the ``MLmodel`` file, MLflow's environment files and the release bundle under
``data/``, and no code and no pickle. ``mlflow.pyfunc.load_model`` and
``mlflow models serve`` import this module from the installed ``coldstart``
package and call :func:`_load_pyfunc` with the bundle's folder.

Loading checks, before anything is read into memory, that the version holds
only the files MLflow and the bundle write (a planted ``python_model.pkl`` or
``code/`` is refused, named), that MLflow's own files (``MLmodel`` and the
environment files) have the SHA-256 the logging run tagged the logged model with
in the tracking store, that ``manifest.json`` is the one recorded in ``MLmodel``
when the version was logged, and -- through
:func:`~coldstart.releases.bundle.read_bundle` -- that every bundle file has the
SHA-256 its manifest records. Keras files load with ``safe_mode``; nothing is
unpickled. Everything a request needs (networks, vectorisers, user factors, the
parsed knowledge base, the A' sub-models) is loaded once, here, and reused.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from coldstart.releases.bundle import MANIFEST, BundleError, file_sha256, read_bundle
from coldstart.releases.predict import PredictionRuntime, forward

logger = logging.getLogger(__name__)

#: The ``MLmodel`` metadata key holding the SHA-256 of the bundle's manifest.
MANIFEST_SHA256_KEY = "coldstart_bundle_manifest_sha256"
#: Where MLflow puts the bundle inside a model version (``data_path`` is copied there).
BUNDLE_SUBPATH = "data/release_model"
#: The files MLflow writes beside the bundle when it logs a model version.
LOGGED_FILES = ("MLmodel", "conda.yaml", "python_env.yaml", "requirements.txt")
#: ... and the one it adds when it downloads a registered version (``models:/`` URIs).
MLFLOW_FILES = frozenset({*LOGGED_FILES, "registered_model_meta"})
#: The logged model's tag holding the SHA-256 of each of :data:`LOGGED_FILES`, set by
#: the run that logged it; MLflow writes them after ``MLmodel``, so they cannot be
#: recorded inside the version itself.
FILES_SHA256_TAG = "coldstart.files_sha256"


def verify_model_folder(bundle_dir: Path) -> None:
    """Refuse a model version holding files nobody logged, or another bundle manifest.

    ``bundle_dir`` is ``<model version>/data/release_model``. Raises
    :class:`~coldstart.releases.bundle.BundleError` naming the file.
    """
    import mlflow.models

    model_dir = bundle_dir.parent.parent
    if bundle_dir != model_dir / BUNDLE_SUBPATH:
        raise BundleError(f"{bundle_dir}: expected the bundle at <model>/{BUNDLE_SUBPATH}")
    for path in sorted(model_dir.rglob("*")):
        relative = path.relative_to(model_dir)
        inside_bundle = (
            relative.parts[: len(Path(BUNDLE_SUBPATH).parts)] == Path(BUNDLE_SUBPATH).parts
        )
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise BundleError(f"{path}: not a regular file or folder; refusing to load")
        if inside_bundle or relative.as_posix() in {"data", BUNDLE_SUBPATH}:
            continue  # the bundle's own files are checked against its manifest
        if path.is_file() and relative.as_posix() in MLFLOW_FILES:
            continue
        raise BundleError(
            f"{path}: a file the release model does not write (a release model version holds "
            f"{sorted(MLFLOW_FILES)} and {BUNDLE_SUBPATH}/); refusing to load"
        )
    mlmodel = mlflow.models.Model.load(model_dir)
    _check_logged_files(model_dir, mlmodel.model_id)
    recorded = (mlmodel.metadata or {}).get(MANIFEST_SHA256_KEY)
    manifest = bundle_dir / MANIFEST
    if not recorded:
        raise BundleError(
            f"{model_dir / 'MLmodel'}: no {MANIFEST_SHA256_KEY} in its metadata; this is not a "
            "release model logged by coldstart"
        )
    if not manifest.is_file():
        raise BundleError(f"{manifest}: missing")
    actual = file_sha256(manifest)
    if actual != recorded:
        raise BundleError(
            f"{manifest}: SHA-256 {actual[:12]}… does not match the {str(recorded)[:12]}… recorded "
            "in MLmodel when the model was logged; refusing to load a file that changed"
        )


def logged_file_hashes(model_dir: Path) -> dict[str, str]:
    """SHA-256 of the files MLflow wrote into a logged model (:data:`LOGGED_FILES`)."""
    return {
        name: file_sha256(model_dir / name) for name in LOGGED_FILES if (model_dir / name).is_file()
    }


def _check_logged_files(model_dir: Path, model_id: str | None) -> None:
    """Compare MLflow's own files with the hashes the logging run tagged the model with."""
    import json

    import mlflow

    try:
        tags = mlflow.MlflowClient().get_logged_model(str(model_id)).tags if model_id else {}
    except mlflow.exceptions.MlflowException as error:
        raise BundleError(
            f"{model_dir / 'MLmodel'}: logged model {model_id!r} is not in the tracking store "
            f"({mlflow.get_tracking_uri()}), so its files cannot be checked: {error.message}"
        ) from None
    if FILES_SHA256_TAG not in tags:
        raise BundleError(
            f"{model_dir / 'MLmodel'}: logged model {model_id!r} has no {FILES_SHA256_TAG} tag; "
            "this is not a release model logged by coldstart"
        )
    recorded = json.loads(tags[FILES_SHA256_TAG])
    actual = logged_file_hashes(model_dir)
    for name in sorted(set(recorded) | set(actual)):
        if recorded.get(name) != actual.get(name):
            state = "missing" if name not in actual else f"SHA-256 {actual[name][:12]}…"
            raise BundleError(
                f"{model_dir / name}: {state} does not match what the run that logged model "
                f"{model_id} recorded; refusing to load a file that changed"
            )


class ServedReleaseModel:
    """The pyfunc implementation: the verified bundle, loaded once, and its runtime.

    ``predict`` takes the request's items (a DataFrame of the ``release_items``
    columns) and answers as :func:`coldstart.pipelines.releases.nodes.serve_release_items`.
    """

    def __init__(self, bundle_dir: str | Path, *, verify_folder: bool = True) -> None:
        started = time.perf_counter()
        bundle_dir = Path(bundle_dir)
        if verify_folder:
            verify_model_folder(bundle_dir)
        self.model = read_bundle(bundle_dir)
        self.runtime = PredictionRuntime(self.model)
        self._warm_up()
        logger.info(
            "Release model loaded from %s in %.1f s: %d rows",
            bundle_dir,
            time.perf_counter() - started,
            len(self.model.rows),
        )

    def _warm_up(self) -> None:
        """One forward pass of every network, so the first request pays no set-up."""
        from coldstart.models.audio_cnn import track_outputs_model

        for ns, network in self.model.models.items():
            shapes = {t.name.split(":")[0]: tuple(t.shape[1:]) for t in network.inputs}
            for n in (1, 2, 3):  # a second shape makes the traced predict step shape-generic
                zeros = {name: np.zeros((n, *shape), np.float32) for name, shape in shapes.items()}
                single = next(iter(zeros.values()))
                forward(network, zeros if len(zeros) > 1 else single)
                if self.model.rows[ns].get("makes_embeddings"):
                    forward(self.runtime.embedding_model(ns), single)
            if self.model.rows[ns]["kind"] == "audio":
                sub = track_outputs_model(network)
                shape = tuple(network.inputs[0].shape[1:])
                for n in (1, 2, 3):
                    sub.predict_on_batch(np.zeros((n, *shape), np.float32))
        from coldstart.recommend import recommend

        # the ranking kernels compile (or load from numba's disk cache) on first use: on a
        # busy machine that took the first request past the server's 60 s timeout
        for users in self.model.user_factors.values():
            one = np.ones((1, users.shape[1]), np.float32)
            recommend(users, one, n_per_user=0, n_per_item=1, num_threads=1)
        if self.model.knowledge_base is not None:
            self.runtime.enriched_biographies(
                pd.DataFrame({"artist_id": ["warm-up"], "biography": ["warm up"]})
            )

    def predict(self, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        """Predictions for one request's items (see the module docstring)."""
        from coldstart.pipelines.releases.nodes import serve_release_items

        return serve_release_items(pd.DataFrame(model_input), self.model, self.runtime)


def _load_pyfunc(data_path: str, model_config: dict[str, Any] | None = None) -> ServedReleaseModel:
    """MLflow's entry point for the ``loader_module`` workflow."""
    return ServedReleaseModel(Path(data_path))
