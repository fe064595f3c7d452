"""Nodes of the world pipeline: make the raw dataset exist."""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)

RAW_FILES = (
    "train_triplets.txt",
    "track_metadata.db",
    "artist_biographies.jsonl",
    "artist_tags.tsv",
    "audio",
    "knowledge_base.ttl",
)


def ensure_raw_dataset(dataset_dir: str, world: dict) -> tuple[Path, ...]:
    """Generate the synthetic world in ``dataset_dir`` unless a dataset is there.

    * no ``train_triplets.txt``: generate the world described by ``world``;
    * a ``world_manifest.json`` (or the marker of an interrupted generation): a synthetic world; the generator reuses it when its
      configuration matches and refuses (clear message) when it does not;
    * triplets but no manifest: a real dataset in the raw contract; left untouched.

    Returns the paths of the raw files, in the order of ``RAW_FILES``.
    """
    folder = Path(dataset_dir)
    has_triplets = (folder / "train_triplets.txt").exists()
    # an interrupted generation leaves this marker: regenerate, never mistake it for real data
    has_manifest = (folder / "world_manifest.json").exists() or (
        folder / ".world_incomplete"
    ).exists()
    if has_triplets and not has_manifest:
        logger.info("Using the dataset in %s as it is (not a synthetic world)", folder)
    else:
        from coldstart.world import generate_world

        manifest = generate_world(folder, world)
        logger.info("Synthetic world in %s: %s", folder, manifest.get("counts", {}))
    return tuple(folder / name for name in RAW_FILES)
