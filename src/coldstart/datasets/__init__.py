"""Custom Kedro datasets, only where kedro-datasets has none."""

from .arrays import NumpyDataset, SparseMatrixDataset
from .raw import RawPathDataset

__all__ = ["NumpyDataset", "RawPathDataset", "SparseMatrixDataset"]
