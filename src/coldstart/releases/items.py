"""New releases as a table: read from a releases folder, or checked from a request.

Both routes produce the same ``release_items`` table, one row per new track, plus
one row per new artist that comes without a track (``track_id`` empty). Columns
(:data:`COLUMNS`, all strings, empty = absent):

``artist_id`` (required), ``artist_name``, ``biography``, ``tags`` (``tag:weight``
pairs separated by ``;``, weight 0-100, default 100), ``track_id``, ``song_id``,
``title``, ``audio_path``, ``audio_base64``.

The folder route is lenient, as ingestion is: bad records are dropped and counted
by reason with file and line in the log. The request route is strict: the first
problem raises :class:`ReleaseInputError` naming the item and field, which the
served model turns into an HTTP 400.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import sqlite3
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
from rich.markup import escape

logger = logging.getLogger(__name__)

COLUMNS = (
    "artist_id",
    "artist_name",
    "biography",
    "tags",
    "track_id",
    "song_id",
    "title",
    "audio_path",
    "audio_base64",
)
AUDIO_SUFFIXES = (".mp3", ".wav", ".flac", ".ogg")
METADATA_COLUMNS = ("track_id", "song_id", "artist_id", "artist_name", "title")
_QUOTED_PER_REASON = 3


class ReleaseInputError(ValueError):
    """A request item the model cannot use; the message names the item and field."""


def parse_tags(text: str, where: str) -> list[tuple[str, float]]:
    """``"rock:100; indie pop:60"`` -> ``[("rock", 100.0), ("indie pop", 60.0)]``.

    A tag without ``:weight`` gets weight 100. Raises :class:`ReleaseInputError`
    (naming ``where``) for a weight that is not a number in 0-100.
    """
    tags = []
    for part in str(text).split(";"):
        part = part.strip()
        if not part:
            continue
        name, sep, weight = part.rpartition(":")
        if not sep:
            name, weight = part, "100"
        name = name.strip()
        try:
            value = float(weight)
        except ValueError:
            raise ReleaseInputError(
                f"{where}: weight {weight.strip()!r} of tag {name!r} is not a number"
            ) from None
        if not name or not 0.0 <= value <= 100.0:
            raise ReleaseInputError(f"{where}: tag {part!r} needs a name and a weight in 0-100")
        tags.append((name, value))
    return tags


def format_tags(tags: list[tuple[str, float]]) -> str:
    """The inverse of :func:`parse_tags`."""
    return "; ".join(f"{name}:{weight:g}" for name, weight in tags)


def _blank(value: Any) -> bool:
    return (
        value is None or (isinstance(value, float) and value != value) or str(value).strip() == ""
    )


def _text(value: Any) -> str:
    return "" if _blank(value) else str(value).strip()


# --------------------------------------------------------------------------- request route


def validate_request(items: pd.DataFrame, max_biography_chars: int) -> pd.DataFrame:
    """The request's items as a clean ``release_items`` table, or a clear error.

    Raises
    ------
    ReleaseInputError
        An unknown field, no items, an item without ``artist_id``, both or invalid
        audio fields, a malformed ``tags`` string -- naming ``items[i].field``.
    """
    if not isinstance(items, pd.DataFrame):
        raise ReleaseInputError(f"expected a table of items, got {type(items).__name__}")
    unknown = [str(c) for c in items.columns if c not in COLUMNS]
    if unknown:
        raise ReleaseInputError(
            f"unknown field(s) {unknown}; an item has the fields {list(COLUMNS)}"
        )
    if len(items) == 0:
        raise ReleaseInputError("the request holds no items")
    rows = []
    for i, record in enumerate(items.to_dict("records")):
        row = {column: _text(record.get(column)) for column in COLUMNS}
        if not row["artist_id"]:
            raise ReleaseInputError(f"items[{i}].artist_id is missing or empty")
        if row["audio_path"] and row["audio_base64"]:
            raise ReleaseInputError(f"items[{i}]: give audio_path or audio_base64, not both")
        if row["audio_base64"]:
            try:
                base64.b64decode(row["audio_base64"], validate=True)
            except (binascii.Error, ValueError):
                raise ReleaseInputError(f"items[{i}].audio_base64 is not valid base64") from None
        if row["tags"]:
            row["tags"] = format_tags(parse_tags(row["tags"], f"items[{i}].tags"))
        if len(row["biography"]) > max_biography_chars:
            logger.warning(
                "items[%d].biography: %d characters, truncated to %d",
                i,
                len(row["biography"]),
                max_biography_chars,
            )
            row["biography"] = row["biography"][:max_biography_chars]
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))


# --------------------------------------------------------------------------- folder route


class _Drops:
    """Dropped records by reason, the first few quoted with file and line."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def drop(self, reason: str, where: str, detail: str = "") -> None:
        self.counts[reason] += 1
        if self.counts[reason] <= _QUOTED_PER_REASON:
            logger.warning("Release %s dropped (%s): %s", escape(where), reason, escape(detail))


def _read_biographies(path: Path, drops: _Drops, max_chars: int) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    if not path.is_file():
        return found
    with open(path, encoding="utf-8-sig", errors="replace") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                drops.drop("biography_bad_json", where, str(error))
                continue
            if not isinstance(record, dict) or _blank(record.get("artist_id")):
                drops.drop("biography_no_artist_id", where)
                continue
            biography = record.get("biography")
            if not isinstance(biography, str):
                drops.drop("biography_not_text", where, type(biography).__name__)
                continue
            biography = biography.strip()
            if not biography:
                drops.drop("biography_empty", where)
                continue
            artist_id = str(record["artist_id"]).strip()
            if artist_id in found:  # the first non-empty biography wins
                drops.drop("biography_duplicate", where, artist_id)
                continue
            if len(biography) > max_chars:
                drops.counts["biography_truncated"] += 1
                biography = biography[:max_chars]
            found[artist_id] = {
                "biography": biography,
                "artist_name": _text(record.get("artist_name")),
            }
    return found


def _read_tags(path: Path, drops: _Drops) -> dict[str, list[tuple[str, float]]]:
    found: dict[str, list[tuple[str, float]]] = {}
    if not path.is_file():
        return found
    with open(path, encoding="utf-8-sig", errors="replace") as stream:
        for number, line in enumerate(stream, start=1):
            fields = line.rstrip("\r\n").split("\t")
            if number == 1 and [f.strip().lower() for f in fields] == [
                "artist_id",
                "tag",
                "weight",
            ]:
                continue
            if not line.strip():
                continue
            where = f"{path}:{number}"
            if len(fields) != 3 or not fields[0].strip() or not fields[1].strip():
                drops.drop("tag_malformed", where, line.strip()[:80])
                continue
            try:
                weight = float(fields[2])
            except ValueError:
                drops.drop("tag_bad_weight", where, fields[2][:40])
                continue
            if not 0.0 <= weight <= 100.0:
                drops.drop("tag_bad_weight", where, fields[2][:40])
                continue
            # ';' and ':' separate tags and weights in the items table
            tag = fields[1].strip().replace(";", ",").replace(":", " ")
            found.setdefault(fields[0].strip(), []).append((tag, weight))
    return found


def _read_metadata(path: Path) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame(columns=list(METADATA_COLUMNS))
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
    try:
        with sqlite3.connect(uri, uri=True) as connection:
            frame = pd.read_sql_query(
                f"SELECT {', '.join(METADATA_COLUMNS)} FROM songs", connection
            )
    except (sqlite3.Error, pd.errors.DatabaseError) as error:
        raise ValueError(
            f"{path}: cannot read the `songs` table with columns {list(METADATA_COLUMNS)} ({error})"
        ) from error
    return frame


def _scan_audio(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {
        path.stem: path
        for path in sorted(folder.iterdir())
        if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES
    }


def read_release_folder(
    folder: str | Path, max_biography_chars: int = 100_000
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The ``release_items`` table of a releases folder and what was read and dropped.

    Any of the four inputs may be absent. Tracks come from ``track_metadata.db``
    (the first line of a repeated ``track_id`` wins); their artist's biography and
    tags are joined by ``artist_id``; an artist with a biography or tags but no
    track becomes an artist-only item.

    Raises
    ------
    FileNotFoundError
        The folder does not exist.
    ValueError
        ``track_metadata.db`` exists but has no usable ``songs`` table (naming it).
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(
            f"Releases folder '{root}' does not exist. Point `releases_dir` at a folder with "
            "artist_biographies.jsonl, artist_tags.tsv, track_metadata.db and/or audio/ "
            "(`kedro run --pipelines=releases --params=releases_dir=...`)."
        )
    drops = _Drops()
    biographies = _read_biographies(root / "artist_biographies.jsonl", drops, max_biography_chars)
    tags = _read_tags(root / "artist_tags.tsv", drops)
    metadata = _read_metadata(root / "track_metadata.db")
    audio = _scan_audio(root / "audio")

    rows = []
    seen_tracks: set[str] = set()
    for number, record in enumerate(metadata.to_dict("records"), start=1):
        track_id, artist_id = _text(record["track_id"]), _text(record["artist_id"])
        where = f"{root / 'track_metadata.db'}: songs row {number}"
        if not track_id or not artist_id:
            drops.drop("track_no_id", where)
            continue
        if track_id in seen_tracks:
            drops.drop("track_duplicate", where, track_id)
            continue
        seen_tracks.add(track_id)
        bio = biographies.get(artist_id, {})
        rows.append(
            {
                "artist_id": artist_id,
                "artist_name": _text(record["artist_name"]) or bio.get("artist_name", ""),
                "biography": bio.get("biography", ""),
                "tags": format_tags(tags.get(artist_id, [])),
                "track_id": track_id,
                "song_id": _text(record["song_id"]),
                "title": _text(record["title"]),
                "audio_path": str(audio[track_id]) if track_id in audio else "",
                "audio_base64": "",
            }
        )
    with_tracks = {row["artist_id"] for row in rows}
    for artist_id in sorted((set(biographies) | set(tags)) - with_tracks):
        bio = biographies.get(artist_id, {})
        rows.append(
            {
                "artist_id": artist_id,
                "artist_name": bio.get("artist_name", ""),
                "biography": bio.get("biography", ""),
                "tags": format_tags(tags.get(artist_id, [])),
                **{
                    column: ""
                    for column in ("track_id", "song_id", "title", "audio_path", "audio_base64")
                },
            }
        )
    unmatched_audio = sorted(set(audio) - seen_tracks)
    if unmatched_audio:
        drops.counts["audio_without_metadata"] += len(unmatched_audio)
        logger.warning(
            "%d audio files in %s have no track in track_metadata.db (e.g. %s): ignored",
            len(unmatched_audio),
            escape(str(root / "audio")),
            escape(unmatched_audio[0]),
        )
    items = pd.DataFrame(rows, columns=list(COLUMNS))
    report = {
        "folder": str(root),
        "read": {
            "biographies": len(biographies),
            "tagged_artists": len(tags),
            "tracks": len(metadata),
            "audio_files": len(audio),
        },
        "items": {
            "tracks": int((items["track_id"] != "").sum()),
            "artist_only": int((items["track_id"] == "").sum()),
        },
        "dropped": dict(sorted(drops.counts.items())),
    }
    logger.info(
        "Releases in %s: %d tracks, %d artist-only items; dropped %s",
        escape(str(root)),
        report["items"]["tracks"],
        report["items"]["artist_only"],
        report["dropped"] or "nothing",
    )
    return items, report
