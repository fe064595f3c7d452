"""Nodes of the world pipeline: make the raw dataset exist."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

logger = logging.getLogger(__name__)

RAW_FILES = (
    "train_triplets.txt",
    "track_metadata.db",
    "artist_biographies.jsonl",
    "artist_tags.tsv",
    "audio",
    "knowledge_base.ttl",
    "releases",
)


#: The ``generate_world`` parameter (a Literal, not ``bool | str``: Kedro's typed
#: parameter validation warns on every run about a union it cannot validate).
GenerateWorld = Literal["auto", True, False]


class DatasetDirError(FileNotFoundError):
    """``dataset_dir`` holds no dataset, and no world is to be generated there."""


def may_generate_world(
    folder: Path, generate_world: GenerateWorld, default_dataset_dir: str
) -> bool:
    """Whether a synthetic world may be generated into the empty or missing ``folder``.

    ``generate_world``: ``true`` anywhere, ``false`` nowhere, ``auto`` only into the
    environment's default dataset folder (``globals.yml``'s ``dataset_dir``): a
    ``dataset_dir`` given at run time that holds nothing is a typo or a missing mount,
    never a place to write a world into unasked.
    """
    if isinstance(generate_world, str):
        if generate_world.lower() != "auto":
            raise ValueError(f"generate_world must be true, false or auto, not {generate_world!r}")
        return folder.resolve() == Path(default_dataset_dir).resolve()
    return bool(generate_world)


def ensure_raw_dataset(
    dataset_dir: str,
    world: dict,
    releases_dir: str | None = None,
    generate_world: GenerateWorld = "auto",
    default_dataset_dir: str | None = None,
) -> tuple[Path, ...]:
    """Generate the synthetic world in ``dataset_dir`` unless a dataset is there.

    * no ``train_triplets.txt``: generate the world described by ``world``, and its
      new-releases folder ``releases/`` (``world.releases``; see
      :mod:`coldstart.world.releases`) -- where :func:`may_generate_world` allows it
      (``generate_world``; the default folder is ``default_dataset_dir``), else stop
      with :class:`DatasetDirError` naming the folder;
    * a ``world_manifest.json`` (or the marker of an interrupted generation): a synthetic
      world; the generator reuses it when its configuration matches (adding
      ``releases/`` when it is missing or was made with other release settings) and
      refuses (clear message) when it does not;
    * triplets but no manifest: a real dataset in the raw contract; left untouched
      (never written to: a ``releases/`` folder there is whatever the user put there).

    Returns the paths of the raw files and of the releases folder, in the order of
    ``RAW_FILES`` (the releases folder may not exist: real data, or releases disabled).
    The releases folder returned is ``releases_dir`` when given (the setting the
    ``releases`` pipeline reads, ``<dataset_dir>/releases`` unless overridden): a
    world writes its releases into its own folder only, never where ``releases_dir``
    points elsewhere.
    """
    folder = Path(dataset_dir)
    has_triplets = (folder / "train_triplets.txt").exists()
    # an interrupted generation leaves this marker: regenerate, never mistake it for real data
    has_manifest = (folder / "world_manifest.json").exists() or (
        folder / ".world_incomplete"
    ).exists()
    if has_triplets and not has_manifest:
        logger.info("Using the dataset in %s as it is (not a synthetic world)", folder)
    elif not has_manifest and not may_generate_world(
        folder, generate_world, default_dataset_dir or dataset_dir
    ):
        state = "holds no dataset (no train_triplets.txt)" if folder.exists() else "does not exist"
        raise DatasetDirError(
            f"dataset_dir {folder} {state}. Point dataset_dir at a dataset in the raw data "
            "contract (docs/architecture.md), or generate a synthetic world there with "
            "--params=dataset_dir=...,generate_world=true"
        )
    else:
        from coldstart.world import generate_world

        manifest = generate_world(folder, world)
        logger.info("Synthetic world in %s: %s", folder, manifest.get("counts", {}))
    paths = [folder / name for name in RAW_FILES]
    if releases_dir is not None:
        target = Path(releases_dir)
        if target.resolve() != paths[-1].resolve():
            logger.info("New releases are read from %s (releases_dir), not the world's own", target)
        paths[-1] = target
    return tuple(paths)
