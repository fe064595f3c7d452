"""Custom Kedro datasets, only where kedro-datasets has none."""

from .arrays import NumpyDataset, SparseMatrixDataset
from .models import SklearnModelDataset, VectorizerDataset
from .raw import RawPathDataset
from .release_model import ReleaseModelDataset

__all__ = [
    "NumpyDataset",
    "RawPathDataset",
    "ReleaseModelDataset",
    "SklearnModelDataset",
    "SparseMatrixDataset",
    "VectorizerDataset",
]
