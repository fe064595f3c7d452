"""kedro-datasets entries whose saves are atomic: a killed save never leaves a truncated file.

kedro-datasets write straight to the target path, so a run killed mid-save leaves a
file that ``exists()`` and that every later load fails on (and, versioned, hides the
previous good version behind the newest folder). Each class here is the
kedro-datasets class of the same name with one change: the save goes to a hidden
temporary file beside the target, which is renamed over it once complete
(``os.replace``, atomic on one filesystem). Use them as ``type:
coldstart.datasets.AtomicParquetDataset`` etc.; every argument is the original's.

The classes are built on first use, so naming one does not import TensorFlow or
matplotlib until a catalog entry of that type is created.
"""

from __future__ import annotations

import importlib
import os
from functools import cache
from pathlib import PurePosixPath
from typing import Any

#: ``Atomic<Name>`` -> the kedro-datasets class it makes atomic.
BASES = {
    "AtomicParquetDataset": ("kedro_datasets.pandas", "ParquetDataset"),
    "AtomicCSVDataset": ("kedro_datasets.pandas", "CSVDataset"),
    "AtomicJSONDataset": ("kedro_datasets.json", "JSONDataset"),
    "AtomicTextDataset": ("kedro_datasets.text", "TextDataset"),
    "AtomicMatplotlibDataset": ("kedro_datasets.matplotlib", "MatplotlibDataset"),
    "AtomicTensorFlowModelDataset": ("kedro_datasets.tensorflow", "TensorFlowModelDataset"),
}


class AtomicSave:
    """Mixin: ``save`` writes a temporary sibling of the target, then renames it over."""

    def save(self, data: Any) -> None:
        if getattr(self, "_protocol", "file") != "file":
            # object stores have no rename; their uploads are all-or-nothing anyway
            super().save.__wrapped__(self, data)  # type: ignore[misc]
            return
        target = PurePosixPath(self._get_save_path())  # type: ignore[attr-defined]
        temporary = target.parent / f".{target.name}.{os.getpid()}.partial"
        # the original save asks this method where to write: point it at the temporary
        self._get_save_path = lambda: temporary  # type: ignore[method-assign]
        try:
            super().save.__wrapped__(self, data)  # type: ignore[misc]
            os.replace(temporary, target)
        finally:
            del self._get_save_path
            if os.path.lexists(temporary):
                _remove(temporary)


def _remove(path: PurePosixPath) -> None:
    import shutil

    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        os.unlink(path)


@cache
def atomic_class(name: str) -> type:
    """The class ``name`` of :data:`BASES`, built (and its base imported) on first use."""
    module, base_name = BASES[name]
    base = getattr(importlib.import_module(module), base_name)
    doc = f"``{module}.{base_name}`` whose saves are atomic (:mod:`coldstart.datasets.atomic`)."
    return type(name, (AtomicSave, base), {"__module__": __name__, "__doc__": doc})


def __getattr__(name: str) -> type:
    if name in BASES:
        return atomic_class(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
