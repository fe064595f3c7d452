"""Whether a run's dataset has any audio, known before its pipelines are built.

The rows that need audio (audio, mm-lf-*, mm) are left out of a run whose dataset
has none (:func:`coldstart.rows.with_unavailable_rows_skipped`), so that a dataset
of text and plays alone runs Table 1 and the text-only rows of Table 2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .nodes import AUDIO_EXTENSIONS


def has_audio_file(audio_dir: Path) -> bool:
    """Whether ``audio_dir`` holds at least one accepted audio file (stops at the first)."""
    if not audio_dir.is_dir():
        return False
    with os.scandir(audio_dir) as entries:
        for entry in entries:
            if os.path.splitext(entry.name)[1].lower() in AUDIO_EXTENSIONS and entry.is_file():
                return True
    return False


def audio_absence(parameters: dict[str, Any]) -> str | None:
    """Why the run's dataset has no audio, or ``None`` when it has some (or will have).

    A dataset already there (``train_triplets.txt`` exists: real data or a generated
    world) has audio when ``<dataset_dir>/audio`` holds an audio file. A synthetic world
    still to be generated has audio unless ``world.audio`` is false. The MSD-A release
    environment decides its rows from the release's files instead.
    """
    if isinstance(parameters.get("msd_a"), dict):
        return None
    dataset_dir = parameters.get("dataset_dir")
    if not dataset_dir:
        return None
    folder = Path(str(dataset_dir))
    if (folder / "train_triplets.txt").exists():
        audio_dir = folder / "audio"
        if has_audio_file(audio_dir):
            return None
        state = "is missing" if not audio_dir.is_dir() else "holds no mp3, wav, flac or ogg file"
        return f"it needs audio, and {audio_dir} {state}"
    world = parameters.get("world")
    if isinstance(world, dict) and world.get("audio") is False:
        return (
            "it needs audio, and the synthetic world is generated without it (world.audio: false)"
        )
    return None
