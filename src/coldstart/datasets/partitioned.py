"""A pandas table saved as a folder of Parquet parts, for Spark to read in parallel."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from kedro.io import AbstractDataset


class PartitionedParquetDataset(AbstractDataset):
    """``part-00000.parquet`` ... ``part-<n-1>.parquet`` in one folder (Spark's layout).

    The rows are cut into ``n_parts`` contiguous, nearly equal slices, so Spark
    starts with ``n_parts`` tasks. The folder is written under a hidden temporary
    name and swapped in with two renames: a killed save leaves the previous folder
    (or, between the renames, the previous one under ``.<name>.old``), never a
    folder with some parts missing.

    Parameters
    ----------
    filepath
        The folder.
    n_parts
        Parquet files to write (at least one; fewer when the table has fewer rows).
    """

    def __init__(
        self, filepath: str, n_parts: int = 8, metadata: dict[str, Any] | None = None
    ) -> None:
        self._path = Path(filepath)
        self._n_parts = max(1, int(n_parts))
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._path), "n_parts": self._n_parts}

    def load(self) -> pd.DataFrame:
        import pyarrow.dataset as ds

        parts = sorted(self._path.glob("part-*.parquet"))
        if not parts:
            raise FileNotFoundError(f"{self._path}: no part-*.parquet files in the folder")
        # the parts in name order, read by pyarrow's threads into one table
        return ds.dataset([str(p) for p in parts], format="parquet").to_table().to_pandas()

    def save(self, data: pd.DataFrame) -> None:
        # Written part by part rather than by ``pyarrow.dataset.write_dataset``: that
        # cuts files by a maximum row count (the last one short) and names them
        # ``part-{i}`` without zero padding, so neither the ``n_parts`` nearly equal
        # slices nor the ``part-00000`` names that sort in row order would remain.
        parent = self._path.parent
        parent.mkdir(parents=True, exist_ok=True)
        partial = parent / f".{self._path.name}.{os.getpid()}.partial"
        old = parent / f".{self._path.name}.old"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        try:
            n_parts = min(self._n_parts, max(1, len(data)))
            for i, rows in enumerate(np.array_split(np.arange(len(data)), n_parts)):
                data.iloc[rows].to_parquet(partial / f"part-{i:05d}.parquet", index=False)
            (partial / "_SUCCESS").touch()  # Spark's marker of a complete folder
            shutil.rmtree(old, ignore_errors=True)
            if self._path.exists():
                os.replace(self._path, old)
            os.replace(partial, self._path)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(partial, ignore_errors=True)

    def _exists(self) -> bool:
        return (self._path / "_SUCCESS").exists()
