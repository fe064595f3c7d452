"""The release model bundle as a Kedro dataset (a verified folder, see coldstart.releases.bundle)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset


class ReleaseModelDataset(AbstractDataset[Any, Any]):
    """A :class:`~coldstart.releases.bundle.ReleaseModel` stored as one folder.

    Saves are atomic (the folder is built beside the target and swapped in);
    loads verify every file against the SHA-256 recorded at save time and load
    Keras models with ``safe_mode``. ``_filepath`` is the folder: kedro-mlflow
    copies it as the registered model's artifact.
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    def load(self) -> Any:
        from coldstart.releases.bundle import read_bundle

        return read_bundle(Path(self._filepath))

    def save(self, data: Any) -> None:
        from coldstart.releases.bundle import write_bundle

        write_bundle(data, Path(self._filepath))

    def _exists(self) -> bool:
        return (Path(self._filepath) / "manifest.json").is_file()
