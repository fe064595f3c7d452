"""Which results-table rows the MSD-A release can feed, decided before pipelines are built."""

from __future__ import annotations

from typing import Any

from .release import layout

#: The tables whose splits the release holds (Table 3's known-artist world is not one).
RELEASE_LEVELS = ("artist", "song")
#: Row templates that need nothing but the release's splits and factors.
NO_FILE_TEMPLATES = frozenset({"random_factors", "upper_bound"})
#: Row templates the release pipeline builds from ``X_*`` feature files, and the
#: keys of ``msd_a.inputs.<row>`` each one reads.
FEATURE_TEMPLATES = {
    "text_ff": ("features",),
    "text_sklearn": ("features",),
    "song_ff": ("features",),
    "late_fusion": ("artist_embeddings", "track_embeddings"),
}


def needs_no_file(row: dict[str, Any]) -> bool:
    """Baselines, and the random song row (seeded random embeddings per song)."""
    return row["template"] in NO_FILE_TEMPLATES or (
        row["template"] == "song_ff" and row.get("features") == "random"
    )


def missing_inputs(
    release_dir: str, msd_a: dict[str, Any], row: dict[str, Any], spec: dict[str, Any]
) -> str | None:
    """The first feature file the row needs and the release lacks, as a reason; else ``None``.

    ``val`` files are needed only when the release has a val index (otherwise val
    is carved from train, features included).
    """
    keys = FEATURE_TEMPLATES.get(row["template"])
    if keys is None:
        return f"the release pipeline cannot build a {row['template']} row"
    files = layout(release_dir, msd_a, row["table"])
    splits = ["train", "val", "test"] if files.index("val").is_file() else ["train", "test"]
    for key in keys:
        if not spec.get(key):
            return f"msd_a.inputs.{key} is not set for it"
        for split in splits:
            if files.features(split, str(spec[key])) is None:
                candidates = files.feature_candidates(split, str(spec[key]))
                return f"missing {candidates[0].with_suffix('')}.{{npz,npy}}"
    return None


def missing_level(release_dir: str, msd_a: dict[str, Any], level: str) -> str | None:
    """The first file a level cannot be imported without, as a reason; else ``None``."""
    files = layout(release_dir, msd_a, level)
    needed = [
        files.index("train"),
        files.index("test"),
        files.item_factors("train"),
        files.item_factors("test"),
        files.user_factors(),
        files.test_matrix(),
    ]
    if files.index("val").is_file():
        needed.append(files.item_factors("val"))
    missing = next((path for path in needed if not path.is_file()), None)
    return None if missing is None else f"missing {missing}"


def unavailable_release_rows(parameters: dict[str, Any]) -> dict[str, str]:
    """``{row: why it is skipped}`` in the MSD-A environment (``msd_a`` set); else ``{}``.

    A level whose splits, factors or test matrix are missing skips all its rows
    (naming the first file missing). Otherwise a row runs when it needs no file
    (baselines, random), or when every
    ``X_<split>_<suffix>_<ds>`` file named by ``msd_a.inputs.<row>`` exists. Rows
    listed in ``msd_a.not_in_release`` need what the release does not hold (audio
    previews, biography texts, train plays); other rows have no input declared.
    """
    msd_a = parameters.get("msd_a")
    if not isinstance(msd_a, dict):
        return {}
    release_dir = str(parameters.get("release_dir") or msd_a.get("release_dir") or "")
    inputs = msd_a.get("inputs") or {}
    not_in_release = msd_a.get("not_in_release") or {}
    reasons: dict[str, str] = {}
    level_missing: dict[str, str | None] = {}
    for namespace, block in parameters.items():
        if not (isinstance(block, dict) and isinstance(block.get("row"), dict)):
            continue
        row = block["row"]
        if not row.get("enabled", True) or "template" not in row:
            continue
        level = row.get("table")
        if level not in RELEASE_LEVELS:
            reasons[namespace] = (
                "the MSD-A release holds the paper's artist and song splits, not Table 3's "
                "known-artist split by track"
            )
            continue
        if level not in level_missing:
            level_missing[level] = missing_level(release_dir, msd_a, level)
        if level_missing[level] is not None:
            reasons[namespace] = str(level_missing[level])  # the whole level is absent
            continue
        if needs_no_file(row):
            continue
        if namespace in inputs:
            reason = missing_inputs(release_dir, msd_a, row, dict(inputs[namespace] or {}))
        elif namespace in not_in_release:
            reason = f"it needs {not_in_release[namespace]}, which the MSD-A release does not hold"
        else:
            reason = "no release input is declared for it (msd_a.inputs)"
        if reason is not None:
            reasons[namespace] = reason
    return reasons
