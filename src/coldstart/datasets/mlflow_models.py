"""Each trained row's model, logged into the row's own MLflow run by kedro-mlflow's model dataset."""

from __future__ import annotations

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
