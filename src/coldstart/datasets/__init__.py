"""Custom Kedro datasets, only where kedro-datasets has none."""

from .arrays import NumpyDataset, SparseMatrixDataset
from .models import SklearnModelDataset, VectorizerDataset
from .partitioned import PartitionedParquetDataset
from .raw import RawPathDataset
from .release_model import ReleaseModelDataset

__all__ = [
    "AtomicCSVDataset",
    "AtomicJSONDataset",
    "AtomicMatplotlibDataset",
    "AtomicParquetDataset",
    "AtomicTensorFlowModelDataset",
    "AtomicTextDataset",
    "MlflowReleaseModelDataset",
    "MlflowRowModelDataset",
    "NumpyDataset",
    "PartitionedParquetDataset",
    "RawPathDataset",
    "ReleaseModelDataset",
    "SklearnModelDataset",
    "SparseMatrixDataset",
    "VectorizerDataset",
]


def __getattr__(name: str):
    """``Atomic*`` kedro-datasets classes, built on first use (coldstart.datasets.atomic).

    The MLflow model datasets too: importing them imports MLflow.
    """
    import importlib

    if name in ("MlflowRowModelDataset", "MlflowReleaseModelDataset"):
        return getattr(importlib.import_module(f"{__name__}.mlflow_models"), name)
    if not name.startswith("Atomic"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    atomic = importlib.import_module(f"{__name__}.atomic")
    if name in atomic.BASES:
        return atomic.atomic_class(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
