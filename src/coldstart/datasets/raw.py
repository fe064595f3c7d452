"""A file or folder of the raw data contract, handed to nodes as a path.

Raw inputs are parsed by the ingestion nodes themselves (streamed, validated, with
every dropped record counted), so the dataset only names and checks the path. It
makes the raw files first-class nodes in the lineage: the synthetic world
generator *saves* them (it wrote them already; saving checks they are there) and
ingestion *loads* them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

#: A node tagged ``needs_on_disk.<dataset>`` cannot run without that input, even
#: where the catalog marks it ``optional`` because another node reads it without.
NEEDS_ON_DISK = "needs_on_disk."


def needs_on_disk(*datasets: str) -> list[str]:
    """Node tags saying the node needs these optional raw inputs to exist."""
    return [f"{NEEDS_ON_DISK}{name}" for name in datasets]


class RawPathDataset(AbstractDataset[Path, Any]):
    """Path to one raw file or folder.

    Parameters
    ----------
    path
        The file or folder.
    optional
        When true, loading a missing path returns the path anyway (nodes test
        ``path.exists()``); when false, loading fails with a message naming it.
        A node that cannot do without an optional input says so with the tags of
        :func:`needs_on_disk`: the run's missing-inputs check then stops for it.
    """

    def __init__(self, path: str, optional: bool = False, metadata: dict | None = None) -> None:
        self._path = Path(path)
        self._optional = optional
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "optional": self._optional}

    def load(self) -> Path:
        if not self._optional and not self._path.exists():
            raise DatasetError(
                f"Raw input '{self._path}' does not exist. Point `dataset_dir` at a folder in the "
                "raw data contract (docs/architecture.md), e.g. `kedro run --params=dataset_dir=...`, "
                "or let the default run generate the synthetic world."
            )
        return self._path

    def save(self, data: Any) -> None:
        written = Path(data) if data is not None else None
        if written is None or written.resolve() != self._path.resolve():
            raise DatasetError(f"Raw output for '{self._path}' was written to '{written}' instead")
        if not self._optional and not self._path.exists():
            raise DatasetError(f"Raw output '{self._path}' was not written")

    def _exists(self) -> bool:
        return self._path.exists()
