"""Versioned datasets for dense NumPy arrays (``.npy``) and SciPy sparse matrices (``.npz``)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any, NewType

import fsspec
import numpy as np
from kedro.io.core import AbstractVersionedDataset, DatasetError, Version, get_filepath_str

#: kedro-viz's preview types are named by the return annotation of ``preview()``: a
#: ``JSONPreview`` is a JSON string (``kedro_datasets._typing``, not imported here so
#: that the project's datasets load without kedro-datasets' optional parts)
JSONPreview = NewType("JSONPreview", str)


def _rounded(values: np.ndarray) -> np.ndarray:
    """Floats to 6 significant digits for reading; integers and booleans as they are."""
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.floating):
        return np.asarray([float(f"{v:.6g}") for v in values.ravel()]).reshape(values.shape)
    return values


class _LocalVersionedFile(AbstractVersionedDataset):
    """Shared plumbing: versioned local paths and atomic writes (temp file + rename)."""

    suffix = ""

    def __init__(
        self,
        filepath: str,
        version: Version | None = None,
        load_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._fs = fsspec.filesystem("file")
        self._load_args = dict(load_args or {})
        self.metadata = metadata
        super().__init__(
            filepath=PurePosixPath(filepath),
            version=version,
            exists_function=self._fs.exists,
            glob_function=self._fs.glob,
        )

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "version": self._version, "load_args": self._load_args}

    def _exists(self) -> bool:
        try:
            path = get_filepath_str(self._get_load_path(), "file")
        except DatasetError:
            return False
        return self._fs.exists(path)

    def _atomic_write(self, write: Any) -> None:
        target = Path(get_filepath_str(self._get_save_path(), "file"))
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=target.parent, suffix=self.suffix + ".tmp")
        os.close(handle)
        try:
            with open(tmp, "wb") as stream:
                write(stream)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class NumpyDataset(_LocalVersionedFile):
    """A dense array in NumPy's ``.npy`` format.

    ``load_args: {mmap_mode: r}`` memory-maps the file instead of reading it, for
    arrays larger than memory (spectrogram stores, embeddings of every track).
    """

    suffix = ".npy"

    def load(self) -> np.ndarray:
        path = get_filepath_str(self._get_load_path(), "file")
        return np.load(path, allow_pickle=False, **self._load_args)

    def preview(self, nrows: int = 5, ncolumns: int = 8) -> JSONPreview:
        """kedro-viz's preview: shape, dtype and the first ``nrows`` x ``ncolumns`` values.

        The file is memory-mapped: only the previewed values are read.
        """
        path = get_filepath_str(self._get_load_path(), "file")
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        head = np.asarray(array[:nrows, :ncolumns] if array.ndim > 1 else array[:nrows])
        return JSONPreview(
            json.dumps(
                {
                    "shape": list(array.shape),
                    "dtype": str(array.dtype),
                    f"first {len(head)} rows": _rounded(head).tolist(),
                }
            )
        )

    def save(self, data: np.ndarray) -> None:
        array = np.asarray(data)
        if array.dtype == object:
            raise DatasetError(f"{self._filepath}: refusing to save an object array as .npy")
        self._atomic_write(lambda stream: np.save(stream, array, allow_pickle=False))


class SparseMatrixDataset(_LocalVersionedFile):
    """A SciPy sparse matrix in ``.npz`` format; loads as CSR."""

    suffix = ".npz"

    def load(self) -> Any:
        import scipy.sparse as sp

        path = get_filepath_str(self._get_load_path(), "file")
        return sp.load_npz(path).tocsr()

    def preview(self, nrows: int = 5, ncolumns: int = 8) -> JSONPreview:
        """kedro-viz's preview: shape, dtype, stored entries, and the first rows' entries.

        Each of the first ``nrows`` rows is shown as ``{column: value}`` for its first
        ``ncolumns`` stored entries (a play matrix row: the items a user played).
        """
        matrix = self.load()
        rows = {}
        for row in range(min(nrows, matrix.shape[0])):
            start, stop = matrix.indptr[row], matrix.indptr[row + 1]
            columns = matrix.indices[start:stop][:ncolumns]
            values = _rounded(matrix.data[start:stop][:ncolumns])
            rows[str(row)] = {
                str(c): v for c, v in zip(columns.tolist(), values.tolist(), strict=True)
            }
        return JSONPreview(
            json.dumps(
                {
                    "shape": list(matrix.shape),
                    "dtype": str(matrix.dtype),
                    "stored entries": int(matrix.nnz),
                    "density": round(matrix.nnz / max(1, matrix.shape[0] * matrix.shape[1]), 6),
                    f"first {len(rows)} rows (column: value)": rows,
                }
            )
        )

    def save(self, data: Any) -> None:
        import scipy.sparse as sp

        if not sp.issparse(data):
            raise DatasetError(
                f"{self._filepath}: expected a scipy sparse matrix, got {type(data)}"
            )
        self._atomic_write(lambda stream: sp.save_npz(stream, data.tocsr(), compressed=True))
