"""Versioned model datasets that never run code from the file and refuse a changed file.

``pickle.PickleDataset`` runs whatever the file says when it is loaded, and
Kedro loads the newest version folder on disk, so one planted file under
``data/06_models`` would run during an ordinary ``kedro run``. These datasets
store models as data:

* :class:`SklearnModelDataset` -- scikit-learn estimators (and the project's
  :class:`~coldstart.text.knn.ItemAttributeKNN`) in ``skops`` format, loaded with
  an explicit list of trusted types: a file naming any other type is refused
  before anything in it is built;
* :class:`VectorizerDataset` -- fitted ``TfidfVectorizer`` / ``TagVectorizer`` as
  plain JSON (:mod:`coldstart.text.vectorizer_state`);

(Keras models stay ``tensorflow.TensorFlowModelDataset`` entries: ``.keras`` files
hold no code and load with ``safe_mode`` on.) Every save is atomic (temporary file in the same folder, then rename) and writes a
``<file>.sha256`` sidecar *before* the file itself appears; every load checks the
file against it and refuses, naming the file, a file that changed since it was
written (or that has no recorded hash). Which *version* a run loads is pinned by
:class:`coldstart.hooks.RunVersionsHooks`: a dataset the run saves is loaded from
the version the run saved, never from a newer folder that appeared meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from kedro.io.core import DatasetError, get_filepath_str

from .arrays import _LocalVersionedFile

#: Types a model file may contain beyond those skops trusts by default (plain
#: containers, NumPy arrays and dtypes, scikit-learn's own estimators).
TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.tree._tree.Tree",  # the fitted trees of RandomForestRegressor
    "coldstart.text.knn.ItemAttributeKNN",
    "scipy.sparse._csr.csr_matrix",
)


class ModelIntegrityError(DatasetError):
    """A model file does not match the SHA-256 recorded when it was written."""


def _sha256(path: Path) -> str:
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _atomic_bytes(target: Path, data: bytes) -> None:
    handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sidecar(path: Path) -> Path:
    """Where the SHA-256 of model file ``path`` is recorded."""
    return path.with_name(path.name + ".sha256")


def verified(path: Path) -> Path:
    """``path`` itself when its content matches its recorded SHA-256.

    Raises
    ------
    ModelIntegrityError
        When the hash file is missing or records another hash.
    """
    record = sidecar(path)
    if not record.is_file():
        raise ModelIntegrityError(
            f"{path}: no recorded SHA-256 ({record.name}); refusing to load a model file "
            "this project did not write. Rerun the pipeline that trains it."
        )
    expected = record.read_text(encoding="ascii").split()[0].strip()
    actual = _sha256(path)
    if actual != expected:
        raise ModelIntegrityError(
            f"{path}: SHA-256 {actual[:12]}… does not match the {expected[:12]}… recorded "
            f"in {record.name} when it was written; refusing to load a model file that "
            "changed. Delete this version folder or rerun the pipeline that trains it."
        )
    return path


class _HashedModelFile(_LocalVersionedFile):
    """Versioned local file written atomically together with its SHA-256 sidecar."""

    def _write_hashed(self, write: Any) -> None:
        """Build the file with ``write(tmp_path)``, record its hash, then move it in."""
        target = Path(get_filepath_str(self._get_save_path(), "file"))
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=self.suffix + ".tmp"
        )
        os.close(handle)
        try:
            write(Path(tmp))
            # the hash is in place before the file appears: a reader never sees the
            # file without it, and a kill in between leaves no file, only a stray hash
            _atomic_bytes(sidecar(target), f"{_sha256(Path(tmp))}  {target.name}\n".encode())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _load_path(self) -> Path:
        return verified(Path(get_filepath_str(self._get_load_path(), "file")))


class SklearnModelDataset(_HashedModelFile):
    """A fitted scikit-learn estimator in ``skops`` format (no pickle).

    Loading refuses any type outside skops' defaults and :data:`TRUSTED_TYPES`;
    ``load_args: {trusted: [...]}`` extends that list for one entry.
    """

    suffix = ".skops"

    def load(self) -> Any:
        import skops.io as sio

        path = self._load_path()
        trusted = [*TRUSTED_TYPES, *self._load_args.get("trusted", [])]
        untrusted = [name for name in sio.get_untrusted_types(file=path) if name not in trusted]
        if untrusted:
            raise DatasetError(
                f"{path}: refusing to load types that are not on the trusted list: "
                f"{', '.join(sorted(untrusted))}"
            )
        return sio.load(path, trusted=trusted)

    def save(self, data: Any) -> None:
        import skops.io as sio

        self._write_hashed(lambda tmp: sio.dump(data, tmp))


class VectorizerDataset(_HashedModelFile):
    """A fitted ``TfidfVectorizer`` or ``TagVectorizer`` as plain JSON."""

    suffix = ".json"

    def load(self) -> Any:
        from coldstart.text.vectorizer_state import vectorizer_from_state

        path = self._load_path()
        return vectorizer_from_state(json.loads(path.read_text(encoding="utf-8")))

    def save(self, data: Any) -> None:
        from coldstart.text.vectorizer_state import vectorizer_state

        text = json.dumps(vectorizer_state(data))
        self._write_hashed(lambda tmp: tmp.write_text(text, encoding="utf-8"))
