"""Each trained row's model, logged into the row's own MLflow run by kedro-mlflow's model dataset."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from kedro_mlflow.io.models import MlflowModelTrackingDataset

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RowModel:
    """A row's model and where it goes: the row's MLflow run, under ``name``.

    ``model`` is None when the row is not to be logged; ``reason`` says why
    (no MLflow run for the row, or ``mlflow_models.log_row_models`` off).
    """

    model: Any
    run_id: str | None
    name: str
    input_example: Any = None
    tags: dict[str, str] = field(default_factory=dict)
    pip_requirements: tuple[str, ...] = ()
    reason: str = ""


class MlflowRowModelDataset(MlflowModelTrackingDataset):
    """kedro-mlflow's ``MlflowModelTrackingDataset`` for a :class:`RowModel`.

    The flavour (``mlflow.tensorflow`` for Keras, ``mlflow.sklearn``) and its fixed ``save_args``
    come from the catalog as usual; what depends on the row -- its run, the logged
    model's name, the input example (from which MLflow infers the signature), tags
    and the pinned requirements -- comes with the data. The model is logged inside
    the row's run, so the row run lists it as its output model.
    """

    def __init__(
        self,
        flavor: str,
        pyfunc_workflow: str | None = None,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        # each save names the model after its row; this default only stands in for it
        save_args = {"name": "row_model", **(save_args or {})}
        if flavor == "mlflow.sklearn" and save_args.get("serialization_format") == "skops":
            from coldstart.datasets.models import TRUSTED_TYPES

            # what the project's own skops dataset trusts, and nothing more, on reload
            save_args.setdefault("skops_trusted_types", list(TRUSTED_TYPES))
        super().__init__(flavor, pyfunc_workflow, load_args, save_args, metadata)
        self._logged_run_id: str | None = None

    def _exists(self) -> bool:
        """Whether this dataset logged its row's model in this session.

        A row model has no fixed place to look for: each run logs it into that row's
        new MLflow run. So it exists once saved here, and not before (a resumed or
        partial run trains the row again). Kedro and kedro-mlflow ask this of every
        output (kedro-mlflow at the end of each run, before logging the release model).
        """
        return self._logged_run_id is not None

    def _save(self, row_model: RowModel) -> None:
        if row_model.model is None:
            logger.info("MLflow: model %s not logged (%s)", row_model.name, row_model.reason)
            return
        import mlflow

        fixed = dict(self._save_args)
        self._save_args = {
            **fixed,
            "name": row_model.name,
            "input_example": row_model.input_example,
            "tags": {**fixed.get("tags", {}), **row_model.tags},
            # pinned here: otherwise MLflow infers them by reloading the model in a subprocess
            "pip_requirements": list(row_model.pip_requirements) or None,
        }
        try:
            with mlflow.start_run(run_id=row_model.run_id, nested=True):
                super()._save(row_model.model)
        finally:
            self._save_args = fixed
        self._logged_run_id = row_model.run_id
        logger.info(
            "MLflow: model %s logged (%s) in run %s",
            row_model.name,
            self._flavor,
            row_model.run_id,
        )


class MlflowReleaseModelDataset(MlflowModelTrackingDataset):
    """The release model logged, registered, described and -- past the gate -- aliased.

    kedro-mlflow's model dataset with the ``mlflow.pyfunc`` flavour and its
    ``loader_module`` workflow: the logged version holds the verified bundle under
    ``data/`` and names :mod:`coldstart.releases.served` as its loader, so loading
    it imports that module from the installed package and unpickles nothing.
    ``save`` takes a :class:`~coldstart.releases.registry.ReleaseRegistration`:
    the bundle is written to a temporary folder, logged (its manifest's SHA-256 in
    ``MLmodel``), registered as ``registered_model_name``, given the description
    and the quality tags; then the alias (``releases.registry.alias``) moves to it
    when :func:`~coldstart.releases.registry.gate` says so.
    """

    def __init__(
        self,
        save_args: dict[str, Any] | None = None,
        load_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__("mlflow.pyfunc", "loader_module", load_args, save_args, metadata)

    def _save(self, registration: Any) -> None:
        import tempfile
        from importlib.metadata import version
        from pathlib import Path

        import mlflow

        from coldstart.releases import registry
        from coldstart.releases.bundle import MANIFEST, file_sha256, write_bundle
        from coldstart.releases.served import (
            FILES_SHA256_TAG,
            MANIFEST_SHA256_KEY,
            logged_file_hashes,
        )

        if not self._logging_activated:
            logger.info("MLflow: release model not logged (MLflow is off for this run)")
            return
        name = self._save_args["registered_model_name"]
        fixed = dict(self._save_args)
        with tempfile.TemporaryDirectory(prefix="release-model-") as tmp:
            folder = Path(tmp) / "release_model"
            write_bundle(registration.model, folder)
            manifest_sha = file_sha256(folder / MANIFEST)
            self._save_args = {
                **fixed,
                "data_path": str(folder),
                "metadata": {**fixed.get("metadata", {}), MANIFEST_SHA256_KEY: manifest_sha},
                "signature": None,  # the served model checks every field and names the bad one
                # pinned: otherwise MLflow infers them by loading the model in a subprocess
                "pip_requirements": [
                    f"{package}=={version(package)}"
                    for package in ("mlflow", "keras", "tensorflow", "pandas", "pyoxigraph")
                ],
            }
            try:
                super()._save("coldstart.releases.served")
            finally:
                self._save_args = fixed
        number = str(self.model_info.registered_model_version)
        client = mlflow.MlflowClient()
        # MLflow writes MLmodel and the environment files itself, after the metadata is
        # fixed: their hashes go on the logged model, where the loader checks them
        logged = Path(mlflow.artifacts.download_artifacts(self.model_info.model_uri))
        client.set_logged_model_tags(
            self.model_info.model_id, {FILES_SHA256_TAG: json.dumps(logged_file_hashes(logged))}
        )
        client.update_model_version(name, number, description=registration.description)
        if registration.quality is not None:
            client.set_model_version_tag(
                name, number, registry.QUALITY_TAG, json.dumps(registration.quality)
            )
        if registration.world is not None:
            client.set_model_version_tag(name, number, registry.WORLD_TAG, registration.world)
        alias = str(registration.registry.get("alias", "champion"))
        try:
            holder = client.get_model_version_by_alias(name, alias)
        except mlflow.exceptions.MlflowException:
            holder = None  # no version holds the alias yet
        champion = (
            registry.champion_from_tags(holder.version, holder.tags) if holder is not None else None
        )
        decision = registry.gate(
            registration.quality, registration.world, champion, registration.registry
        )
        client.set_model_version_tag(
            name,
            number,
            registry.GATE_TAG,
            ("promoted: " if decision.promote else "kept: ") + decision.reason,
        )
        if decision.promote:
            client.set_registered_model_alias(name, alias, number)
        logger.info(
            "MLflow: release model %s version %s registered; alias '%s' %s (%s)",
            name,
            number,
            alias,
            "moved to it" if decision.promote else "not moved",
            decision.reason,
        )
