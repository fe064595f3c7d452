"""What a training run tells the model registry about its release model, and when it is promoted.

Pure functions of parameter and quality dicts; the catalog's
:class:`~coldstart.datasets.MlflowReleaseModelDataset` does the logging and the
registry calls with their answers.

The promotion gate (``releases.registry``, docs/releases.md): a new version gets
the alias (``champion`` by default) only when

1. its recommendations were scored (the releases folder has ``truth/plays.tsv``);
2. at every scored level its MAP@k is above that of random factors scored in the
   same run;
3. the version holding the alias now, if any, was scored on the same world (the
   same ``truth/plays.tsv``, by SHA-256) and the new MAP@k is not below its
   MAP@k minus ``champion_tolerance`` at any level both scored. A champion scored
   on another world is kept unless ``replace_champion_of_other_world`` is true:
   figures of two worlds do not compare.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: What each request field is (the served model's input: one row per item).
REQUEST_FIELDS = {
    "artist_id": "required; the new artist's id (a catalogue artist's id for its new tracks)",
    "artist_name": "optional display name",
    "biography": "optional biography text",
    "tags": 'optional "tag:weight; tag:weight", weight 0-100 (default 100)',
    "track_id": "optional; a new track of the artist (an item without it is the artist alone)",
    "song_id": "optional",
    "title": "optional track title",
    "audio_path": "optional audio file on the server (mp3, wav, flac, ogg)",
    "audio_base64": "optional audio bytes, base64-encoded",
}
#: Version tags the registry keeps per version (read back for the gate).
QUALITY_TAG = "coldstart.release_quality"
WORLD_TAG = "coldstart.world_truth_sha256"
GATE_TAG = "coldstart.gate"


@dataclass(frozen=True)
class GateDecision:
    """Whether a version takes the alias, and why (one line for logs and tags)."""

    promote: bool
    reason: str


@dataclass
class ReleaseRegistration:
    """What the catalog's registry dataset logs: the bundle and what the gate reads."""

    model: Any
    description: str
    quality: dict[str, Any] | None
    world: str | None
    registry: dict[str, Any] = field(default_factory=dict)


def request_limits(releases: dict[str, Any], ingestion: dict[str, Any]) -> dict[str, Any]:
    """The request limits the served model applies, by name, from the parameters.

    ``ingestion.max_biography_chars`` and every scalar of ``releases.requests``
    (the request limits block; ``audio_roots`` is the operator's, not a limit, and
    stays out of a description anyone who can read the registry sees).
    """
    limits: dict[str, Any] = {
        "max_biography_chars": int(ingestion.get("max_biography_chars", 100_000))
    }
    block = releases.get("requests")
    if isinstance(block, dict):
        limits.update(
            {
                k: v
                for k, v in block.items()
                if k != "audio_roots" and isinstance(v, str | int | float | bool | None)
            }
        )
    return limits


def version_description(
    quality: dict[str, Any] | None, limits: dict[str, Any], serve_top_users: int
) -> str:
    """The model version's description: the request, its limits, the answer, the quality."""
    lines = [
        "coldstart release model: factors and top users for new artists and tracks.",
        "",
        'Request: POST /invocations {"dataframe_records": [item, ...]}, one item per record:',
    ]
    lines += [f"- {name}: {text}" for name, text in REQUEST_FIELDS.items()]
    lines += ["", "Limits (a request over one gets HTTP 400 naming the item and field):"]
    lines += [f"- {name}: {value}" for name, value in limits.items()]
    lines += [
        "",
        "Answer: one prediction per new artist with text and per track: level, item_id, "
        "artist_id, track_id, name, model, approach, content, factors, "
        f"top_users and top_scores (the top {serve_top_users} users).",
    ]
    if quality:
        k = quality["k"]
        lines += ["", f"Release quality (MAP@{k}, random factors in brackets):"]
        lines += [
            f"- {level}: {v['map']:.4f} ({v['random_map']:.4f})"
            for level, v in quality["levels"].items()
        ]
    return "\n".join(lines)


def quality_summary(release_quality: dict[str, Any]) -> dict[str, Any] | None:
    """MAP@k of the model and of random factors per level; None when nothing was scored."""
    if not release_quality.get("scored"):
        return None
    k = int(release_quality["k"])
    return {
        "k": k,
        "levels": {
            level: {
                "map": float(entry["model"][f"map_at_{k}"]),
                "random_map": float(entry["random"][f"map_at_{k}"]),
            }
            for level, entry in release_quality["levels"].items()
        },
    }


def world_identity(raw_releases_dir: Path) -> str | None:
    """SHA-256 of the releases' ``truth/plays.tsv``: quality figures compare when it is equal."""
    from coldstart.releases.bundle import file_sha256

    truth = Path(raw_releases_dir) / "truth" / "plays.tsv"
    return file_sha256(truth) if truth.is_file() else None


def gate(
    quality: dict[str, Any] | None,
    world: str | None,
    champion: dict[str, Any] | None,
    settings: dict[str, Any],
) -> GateDecision:
    """Whether a version with ``quality`` on ``world`` replaces ``champion`` (module docstring).

    ``champion`` is None (no version holds the alias) or ``{"version", "quality",
    "world"}`` as read back from the champion's tags.
    """
    if not quality or not quality["levels"]:
        return GateDecision(False, "not scored (the releases folder has no truth/plays.tsv)")
    k = quality["k"]
    for level, v in quality["levels"].items():
        if not v["map"] > v["random_map"]:
            return GateDecision(
                False,
                f"{level} MAP@{k} {v['map']:.4f} is not above random factors' {v['random_map']:.4f}",
            )
    if champion is None:
        return GateDecision(True, "above random at every level; no version held the alias")
    if champion.get("world") != world or not champion.get("quality"):
        if settings.get("replace_champion_of_other_world", False):
            return GateDecision(
                True, f"above random; version {champion['version']} was scored on another world"
            )
        return GateDecision(
            False,
            f"version {champion['version']} was scored on another world (or not at all); its "
            "figures do not compare (set releases.registry.replace_champion_of_other_world)",
        )
    tolerance = float(settings.get("champion_tolerance", 0.0))
    for level, v in quality["levels"].items():
        theirs = champion["quality"]["levels"].get(level)
        if theirs is not None and v["map"] < theirs["map"] - tolerance:
            return GateDecision(
                False,
                f"{level} MAP@{k} {v['map']:.4f} is below version {champion['version']}'s "
                f"{theirs['map']:.4f} on the same world",
            )
    return GateDecision(
        True, f"above random and not below version {champion['version']} on the same world"
    )


def champion_from_tags(version: str, tags: dict[str, str]) -> dict[str, Any]:
    """The gate's view of the version holding the alias, from its registry tags."""
    quality = tags.get(QUALITY_TAG)
    return {
        "version": version,
        "quality": json.loads(quality) if quality else None,
        "world": tags.get(WORLD_TAG) or None,
    }
