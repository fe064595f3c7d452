"""Nodes of the MSD-A release pipeline: the release's splits, factors, test plays, features.

The release replaces ingestion's split and the factorization: its index files are
the splits, its factor files the targets and the upper bound, its test matrix the
relevance. Items keep the release's row order (train, val, test, each in index-file
order); ``item_idx`` is the row number, as everywhere in the project.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from .release import SPLITS, ReleaseError, layout, read_array, read_csr, read_features, read_index

logger = logging.getLogger(__name__)


def _split_items(
    ids: dict[str, list[str]], val_fraction: float, seed: int, where: str
) -> tuple[pd.DataFrame, bool]:
    """One row per item: ``item_id``, ``split``, ``release_split``, ``release_row``.

    Without a val index, ``val_fraction`` of the train items (seeded) become val;
    their rows stay rows of the train files (``release_split`` says which file).
    """
    carved = "val" not in ids
    frames = []
    for split in SPLITS:
        if split == "val" and carved:
            continue
        frames.append(
            pd.DataFrame(
                {
                    "item_id": ids[split],
                    "split": split,
                    "release_split": split,
                    "release_row": np.arange(len(ids[split]), dtype=np.int64),
                }
            )
        )
    items = pd.concat(frames, ignore_index=True)
    if carved:
        train = np.flatnonzero(items["split"].to_numpy() == "train")
        n_val = max(1, int(round(val_fraction * len(train))))
        if n_val >= len(train):
            raise ReleaseError(f"{where}: {len(train)} train items cannot give {n_val} val items")
        chosen = np.sort(np.random.default_rng(seed).choice(train, size=n_val, replace=False))
        items.loc[chosen, "split"] = "val"
    order = items["split"].map({split: i for i, split in enumerate(SPLITS)})
    items = items.assign(_order=order).sort_values(["_order", "release_split", "release_row"])
    items = items.drop(columns="_order").reset_index(drop=True)
    items["item_idx"] = np.arange(len(items), dtype=np.int64)
    return items, carved


def _check_unique_across_splits(ids: dict[str, list[str]], files: Any) -> None:
    seen: dict[str, str] = {}
    for split, split_ids in ids.items():
        for item in split_ids:
            if item in seen:
                raise ReleaseError(
                    f"item id {item!r} is in both {files.index(seen[item])} and "
                    f"{files.index(split)}: the splits must be disjoint"
                )
            seen[item] = split


def _stacked_rows(items: pd.DataFrame, parts: dict[str, Any]) -> Any:
    """Rows of the per-split ``parts`` in ``items`` order (``release_split``, ``release_row``)."""
    import scipy.sparse as sp

    pieces = []
    for split in SPLITS:
        rows = items.loc[items["release_split"] == split, "release_row"].to_numpy()
        if len(rows):
            pieces.append(parts[split][rows])
    if any(sp.issparse(piece) for piece in pieces):
        return sp.vstack(pieces, format="csr", dtype=np.float32)
    return np.ascontiguousarray(np.vstack(pieces), dtype=np.float32)


def import_release_level(
    release_dir: str, msd_a: dict[str, Any], seed: int, level: str
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, Any, np.ndarray, dict[str, Any]]:
    """Read and check one level of the release.

    Returns
    -------
    items, item_factors, user_factors, test_plays, evaluated_users, report
        The ``artists`` / ``songs`` table (splits from the index files), the release's
        item factors in ``items`` order (the upper bound's test rows included), its
        user factors, the users x test-items relevance (``matrix_test`` transposed),
        every user of the release (the relevance comes from ``matrix_test``: there is
        no train-play rule) and what was read.
    """
    files = layout(release_dir, msd_a, level)
    ids = {split: read_index(files.index(split)) for split in SPLITS if split != "val"}
    if files.index("val").is_file():
        ids["val"] = read_index(files.index("val"))
    _check_unique_across_splits(ids, files)
    items, carved = _split_items(
        ids, float(msd_a.get("val_fraction", 0.1)), int(seed), str(files.root)
    )
    if carved:
        logger.warning(
            "MSD-A %s level: no %s; %d of the train items are val, carved with the seed %d",
            level,
            files.index("val"),
            int((items["split"] == "val").sum()),
            int(seed),
        )
    users = read_array(files.user_factors())
    factors = {}
    for split in ids:
        factors[split] = read_array(files.item_factors(split))
        if factors[split].shape[0] != len(ids[split]):
            raise ReleaseError(
                f"{files.item_factors(split)} has {factors[split].shape[0]} rows but "
                f"{files.index(split)} lists {len(ids[split])} items: one factor row per item"
            )
        if factors[split].shape[1] != users.shape[1]:
            raise ReleaseError(
                f"{files.item_factors(split)} has {factors[split].shape[1]} factors per item but "
                f"{files.user_factors()} has {users.shape[1]} per user"
            )
    matrix = read_csr(files.test_matrix())
    n_test, n_users = len(ids["test"]), users.shape[0]
    if matrix.shape != (n_test, n_users):
        transposed = (
            " (it looks users x items: the release's is items x users)"
            if matrix.shape
            == (
                n_users,
                n_test,
            )
            else ""
        )
        raise ReleaseError(
            f"{files.test_matrix()} is {matrix.shape[0]} x {matrix.shape[1]} but "
            f"{files.index('test')} lists {n_test} test items and {files.user_factors()} has "
            f"{n_users} users: expected test items x users{transposed}"
        )
    test_plays = matrix.T.tocsr().astype(np.float32)
    evaluated = np.arange(n_users, dtype=np.int64)
    table = _items_table(items, level)
    report = {
        "dataset": files.dataset,
        "items_per_split": {s: int((items["split"] == s).sum()) for s in SPLITS},
        "val_carved_from_train": carved,
        "users": int(n_users),
        "users_with_test_plays": int((np.diff(test_plays.indptr) > 0).sum()),
        "test_plays_nnz": int(test_plays.nnz),
        "factors": int(users.shape[1]),
    }
    logger.info(
        "MSD-A %s level (%s): %s items, %d users evaluated (every user of the release; %d "
        "with test plays)",
        level,
        files.dataset,
        report["items_per_split"],
        n_users,
        report["users_with_test_plays"],
    )
    item_factors = _stacked_rows(items, factors)
    return table, item_factors, np.asarray(users, np.float32), test_plays, evaluated, report


def _items_table(items: pd.DataFrame, level: str) -> pd.DataFrame:
    """The project's ``artists`` or ``songs`` table for the release's items.

    Songs are their own "artist" (``artist_id = song_id``): the release maps no
    song to its artist, and its song-level features are already one row per song.
    """
    release = items[["split", "item_idx", "release_split", "release_row"]]
    if level == "artist":
        return pd.concat(
            [
                pd.DataFrame({"artist_id": items["item_id"], "artist_name": ""}),
                release[["split"]],
                pd.DataFrame({"biography": ""}, index=items.index),
                release[["item_idx", "release_split", "release_row"]],
            ],
            axis=1,
        )
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "song_id": items["item_id"],
                    "track_id": "",
                    "artist_id": items["item_id"],
                    "audio_path": "",
                }
            ),
            release,
        ],
        axis=1,
    )


def import_artist_level(
    release_dir: str, msd_a: dict[str, Any], seed: int
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, Any, np.ndarray, dict[str, Any]]:
    """:func:`import_release_level` for ``MSD-A-artists`` (Table 1)."""
    return import_release_level(release_dir, msd_a, seed, "artist")


def import_song_level(
    release_dir: str, msd_a: dict[str, Any], seed: int
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, Any, np.ndarray, dict[str, Any]]:
    """:func:`import_release_level` for ``MSD-A-songs`` (Table 2)."""
    return import_release_level(release_dir, msd_a, seed, "song")


def release_features(
    release_dir: str, msd_a: dict[str, Any], items: pd.DataFrame, level: str, suffix: str
) -> Any:
    """``X_<split>_<suffix>_<ds>`` of every split, stacked in ``items`` order.

    Each file must have one row per item of its index file and the same columns as
    the others; a mismatch names both files.
    """
    files = layout(release_dir, msd_a, level)
    parts: dict[str, Any] = {}
    width: tuple[int, Any] | None = None
    for split in SPLITS:
        if not (items["release_split"] == split).any():
            continue
        path = files.features(split, suffix)
        if path is None:
            raise ReleaseError(f"missing {files.feature_candidates(split, suffix)[0]} (or .npy)")
        matrix = read_features(path)
        n_items = int((items["release_split"] == split).sum())
        if matrix.shape[0] != n_items:
            raise ReleaseError(
                f"{path} has {matrix.shape[0]} rows but {files.index(split)} lists {n_items} "
                "items: one feature row per item"
            )
        if width is not None and matrix.shape[1] != width[0]:
            raise ReleaseError(
                f"{path} has {matrix.shape[1]} columns but {width[1]} has {width[0]}"
            )
        width = (matrix.shape[1], path)
        parts[split] = matrix
    stacked = _stacked_rows(items, parts)
    logger.info("MSD-A %s features '%s': %d items x %d", level, suffix, *stacked.shape)
    return stacked


def assemble_import_report(
    parameters: dict[str, Any], artist: dict | None = None, song: dict | None = None
) -> dict:
    """What was imported (per level; ``None`` when absent), and which rows run or are
    skipped (with the missing file)."""
    from coldstart.rows import skip_reason, with_unavailable_rows_skipped

    decided = with_unavailable_rows_skipped(parameters)
    rows = {
        ns: block["row"]
        for ns, block in decided.items()
        if isinstance(block, dict) and isinstance(block.get("row"), dict)
    }
    return {
        "release_dir": str(parameters.get("release_dir", "")),
        "artist": artist,
        "song": song,
        "rows_run": sorted(ns for ns, row in rows.items() if row.get("enabled", True)),
        "rows_skipped": {
            ns: skip_reason(row) for ns, row in rows.items() if not row.get("enabled", True)
        },
    }
