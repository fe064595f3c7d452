"""The files of the MSD-A release, as the paper's reference code reads them.

For ``<ds>`` = ``MSD-A-artists`` or ``MSD-A-songs`` (``msd_a.datasets``) and the
factor name ``<f>`` (``als_200``)::

    splits/items_index_{train,val,test}_<ds>.tsv   one item id a line; the row order of
                                                   every other file of that split
    splits/y_{train,val,test}_<f>_<ds>.npy         item factors
    splits/user_factors_<f>_<ds>.npy               user factors
    splits/matrix_test_<ds>.npz                    test plays, items x users, saved as
                                                   np.savez(data=, indices=, indptr=, shape=)
    train_data/X_{train,val,test}_<suffix>_<ds>.{npz,npy}   features (tf-idf or embeddings)

Every read checks the release's conventions and names the file (or the two files)
at fault: a truncated or corrupt file, an array holding NaN or infinity. Nothing is
unpickled.
"""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SPLITS = ("train", "val", "test")
FEATURE_EXTENSIONS = (".npz", ".npy")
CSR_KEYS = ("data", "indices", "indptr", "shape")
#: What numpy and zipfile raise on a truncated, corrupt or unreadable .npy/.npz file
#: (``BadZipFile`` and ``zlib.error`` are not ``ValueError``/``OSError``).
UNREADABLE = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)


class ReleaseError(ValueError):
    """A release file is missing, unreadable, or breaks the release's conventions."""


@dataclass(frozen=True)
class ReleaseLayout:
    """Where the files of one level (``<ds>``) of the release are."""

    root: Path
    dataset: str
    factors: str = "als_200"

    def index(self, split: str) -> Path:
        return self.root / "splits" / f"items_index_{split}_{self.dataset}.tsv"

    def item_factors(self, split: str) -> Path:
        return self.root / "splits" / f"y_{split}_{self.factors}_{self.dataset}.npy"

    def user_factors(self) -> Path:
        return self.root / "splits" / f"user_factors_{self.factors}_{self.dataset}.npy"

    def test_matrix(self) -> Path:
        return self.root / "splits" / f"matrix_test_{self.dataset}.npz"

    def feature_candidates(self, split: str, suffix: str) -> list[Path]:
        stem = f"X_{split}_{suffix}_{self.dataset}"
        return [self.root / "train_data" / f"{stem}{ext}" for ext in FEATURE_EXTENSIONS]

    def features(self, split: str, suffix: str) -> Path | None:
        """The features file of ``split`` (``.npz`` first), ``None`` when there is none."""
        return next((p for p in self.feature_candidates(split, suffix) if p.is_file()), None)


def layout(release_dir: str | Path, msd_a: dict[str, Any], level: str) -> ReleaseLayout:
    """The layout of ``level`` (``artist`` | ``song``) under ``msd_a.datasets``."""
    datasets = msd_a.get("datasets") or {}
    if level not in datasets:
        raise ReleaseError(f"msd_a.datasets has no name for the {level} level: {datasets}")
    return ReleaseLayout(
        Path(str(release_dir)), str(datasets[level]), str(msd_a.get("factors", "als_200"))
    )


def _require(path: Path) -> Path:
    if not path.is_file():
        raise ReleaseError(f"{path}: no such file (the MSD-A release layout: docs/msd_a.md)")
    return path


def read_index(path: Path) -> list[str]:
    """The item ids of an index file, one a line; blank lines are ignored.

    Raises when the file is missing or empty, or an id is repeated (naming both lines).
    """
    text = _require(path).read_text(encoding="utf-8", errors="strict")
    ids = [line.strip() for line in text.splitlines() if line.strip()]
    if not ids:
        raise ReleaseError(f"{path}: the index file holds no item id")
    seen: dict[str, int] = {}
    for number, item in enumerate(ids, start=1):
        if item in seen:
            raise ReleaseError(f"{path}: item id {item!r} is on lines {seen[item]} and {number}")
        seen[item] = number
    return ids


def require_finite(array: np.ndarray, path: Path, name: str = "") -> np.ndarray:
    """``array`` unchanged, or a :class:`ReleaseError` naming the file, the array and
    where its first NaN or infinity is (a non-finite factor or feature would only
    surface later as a NaN loss or a NaN score, far from the file)."""
    if array.dtype.kind != "f":
        return array
    bad = ~np.isfinite(array)
    if not bad.any():
        return array
    where = np.unravel_index(int(np.argmax(bad)), array.shape)
    position = f"row {where[0]}, column {where[1]}" if len(where) == 2 else f"index {where[0]}"
    label = f"array '{name}'" if name else "the array"
    raise ReleaseError(
        f"{path}: {label} holds {int(bad.sum()):,} non-finite values (NaN or infinity), "
        f"the first at {position}; the release's factors and features must be finite numbers"
    )


def read_array(path: Path) -> np.ndarray:
    """A 2-d finite numeric ``.npy`` array (never unpickled)."""
    try:
        array = np.load(_require(path), allow_pickle=False)
    except UNREADABLE as error:
        raise ReleaseError(
            f"{path}: not a readable numeric .npy array, truncated or corrupt? "
            f"({type(error).__name__}: {error})"
        ) from None
    if not isinstance(array, np.ndarray) or array.ndim != 2 or array.dtype.kind not in "fiu":
        raise ReleaseError(
            f"{path}: expected a 2-d numeric array, got {getattr(array, 'shape', '?')}"
        )
    return require_finite(array, path)


def read_csr(path: Path) -> Any:
    """A CSR matrix saved as ``np.savez(data=, indices=, indptr=, shape=)``.

    That is how the reference code saves its matrices (``scipy.sparse.save_npz``
    files hold the same arrays, and are read too).
    """
    import scipy.sparse as sp

    try:
        with np.load(_require(path), allow_pickle=False) as stored:
            missing = [key for key in CSR_KEYS if key not in stored.files]
            if missing:
                raise ReleaseError(
                    f"{path}: lacks {missing}: expected a CSR matrix saved as "
                    "np.savez(data=, indices=, indptr=, shape=)"
                )
            arrays = {}
            for key in CSR_KEYS:
                try:
                    arrays[key] = stored[key]
                except UNREADABLE as error:
                    raise ReleaseError(
                        f"{path}: array '{key}' cannot be read, the archive is truncated or "
                        f"corrupt ({type(error).__name__}: {error})"
                    ) from None
    except ReleaseError:
        raise
    except UNREADABLE as error:
        raise ReleaseError(
            f"{path}: not a readable .npz archive of arrays, truncated or corrupt? "
            f"({type(error).__name__}: {error})"
        ) from None
    require_finite(np.asarray(arrays["data"]), path, "data")
    shape = tuple(int(n) for n in np.asarray(arrays["shape"]).ravel())
    try:
        matrix = sp.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]), shape=shape)
        matrix.check_format(full_check=True)
    except (ValueError, TypeError) as error:
        raise ReleaseError(
            f"{path}: the CSR arrays do not make a {shape} matrix ({error})"
        ) from None
    return matrix


def read_features(path: Path) -> Any:
    """Features: CSR float32 from ``.npz``, a dense float32 array from ``.npy``."""
    if path.suffix == ".npz":
        return read_csr(path).astype(np.float32)
    return np.asarray(read_array(path), dtype=np.float32)
