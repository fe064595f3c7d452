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

import binascii
import contextlib
import io
import json
import logging
import os
import re
import sqlite3
import stat
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

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


def _db_text(value: Any) -> str:
    """A ``songs`` cell as text: a BLOB cell's bytes decoded as TEXT cells are."""
    if isinstance(value, bytes):
        value = _surrogate_text(value)
    return _text(value)


def is_utf8(text: str) -> bool:
    """Whether ``text`` is valid Unicode that encodes as UTF-8.

    Text read with ``errors="surrogateescape"`` holds each invalid byte as a lone
    surrogate, and JSON may spell one as ``\\udcff``; neither encodes.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def replace_invalid_utf8(text: str) -> str:
    """``text`` with every lone surrogate (an invalid byte) replaced by U+FFFD."""
    return text if is_utf8(text) else _SURROGATE.sub("\ufffd", text)


# --------------------------------------------------------------------------- request route

#: Where the request rules live in the parameters (``releases.requests``).
RULES_KEY = "releases.requests"


class RequestTooLarge(ReleaseInputError):
    """A request over one of the :class:`RequestLimits` (a wrapper may answer 413)."""


@dataclass(frozen=True)
class RequestLimits:
    """What one request to the served model may hold (``releases.requests``).

    Every limit is checked before the memory it guards is spent: counts and
    lengths on the parsed request, audio sizes from ``stat`` or the base64 length,
    duration, channels and sample rate from the audio header, before decoding.
    Decoding then stops at ``max_duration_s`` whatever the header said.
    """

    max_items: int = 100
    max_request_chars: int = 64 * 2**20
    max_field_chars: int = 10_000
    max_biography_chars: int = 100_000
    max_audio_bytes: int = 32 * 2**20
    max_duration_s: float = 600.0
    max_request_duration_s: float = 3_600.0
    max_channels: int = 2
    max_sample_rate: int = 48_000

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{RULES_KEY}.{name} must be a positive number, got {value!r}")


def request_rules(settings: dict[str, Any]) -> tuple[RequestLimits, tuple[str, ...]]:
    """The limits and allowed audio roots of a release model's ``settings``.

    ``settings["releases"]["requests"]`` holds ``audio_roots`` (absolute folders,
    empty by default: ``audio_path`` refused) and any :class:`RequestLimits` field;
    an absent field keeps its default, ``max_biography_chars`` defaults to the
    ingestion's. Raises ``ValueError`` for an unknown key or a relative root.
    """
    rules = dict((settings.get("releases") or {}).get("requests") or {})
    roots = rules.pop("audio_roots", None) or []
    if isinstance(roots, str):
        roots = [roots]
    unknown = sorted(set(rules) - set(RequestLimits.__dataclass_fields__))
    if unknown:
        raise ValueError(
            f"{RULES_KEY}: unknown key(s) {unknown}; known: "
            f"{['audio_roots', *RequestLimits.__dataclass_fields__]}"
        )
    if "max_biography_chars" not in rules and "max_biography_chars" in settings:
        rules["max_biography_chars"] = settings["max_biography_chars"]
    for root in roots:
        if not isinstance(root, str) or not os.path.isabs(root):
            raise ValueError(f"{RULES_KEY}.audio_roots: {root!r} is not an absolute folder path")
    return RequestLimits(**rules), tuple(roots)


def _path_rule_error(where: str, rule: str) -> ReleaseInputError:
    return ReleaseInputError(f"{where}: refused ({rule})")


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def resolve_audio_path(value: str, audio_roots: tuple[str, ...], where: str) -> str:
    """The real path of ``value`` if it is a regular file inside an allowed root.

    Nothing outside the roots is stat'ed or opened, and every refusal of a path
    outside them reads the same, so a client learns nothing about files there
    (whether they exist, their size, their type). A symlink inside a root that
    points out of it is outside. Inside the roots, the message says what is wrong.

    Raises
    ------
    ReleaseInputError
        Naming ``where`` (``items[i].audio_path``) and the rule broken.
    """
    if not audio_roots:
        raise _path_rule_error(
            where,
            "this server reads no audio files: the operator has set no "
            f"{RULES_KEY}.audio_roots; send the audio itself as audio_base64",
        )
    outside = (
        f"rule: audio_path must be an absolute path that stays inside {RULES_KEY}.audio_roots "
        "once '..' and symlinks are resolved"
    )
    if "\0" in value or not os.path.isabs(value):
        raise _path_rule_error(where, outside)
    # lexically first ('..' collapsed, nothing touched on disk), then symlinks followed
    lexical = os.path.normpath(value)
    roots = [(os.path.normpath(r), os.path.realpath(r)) for r in audio_roots]
    if not any(_inside(lexical, given) or _inside(lexical, real) for given, real in roots):
        raise _path_rule_error(where, outside)
    resolved = os.path.realpath(lexical)
    if not any(_inside(resolved, real) for _, real in roots):
        raise _path_rule_error(where, outside)
    try:
        status = os.stat(resolved)
    except FileNotFoundError:
        raise _path_rule_error(where, "no such file inside the allowed audio roots") from None
    except OSError as error:
        raise _path_rule_error(where, f"cannot be read: {error.strerror}") from None
    if not stat.S_ISREG(status.st_mode):
        raise _path_rule_error(
            where, "not a regular file (a directory, FIFO, socket or device is never read)"
        )
    return resolved


_BASE64_CHUNK = 1 << 20  # characters decoded at a time (a multiple of 4)


def _decode_base64(text: str, field: str) -> bytes:
    """Strict base64 (``b64decode(validate=True)``) decoded a chunk at a time.

    ``b64decode`` of a ``str`` first copies it whole to ASCII bytes; by chunks, the
    decoded audio is the only large allocation.
    """
    decoded = bytearray()
    try:
        for start in range(0, len(text), _BASE64_CHUNK):
            decoded += binascii.a2b_base64(
                text[start : start + _BASE64_CHUNK].encode("ascii"), strict_mode=True
            )
    except (binascii.Error, ValueError):  # ValueError: a character that is not ASCII
        raise ReleaseInputError(f"{field} is not valid base64") from None
    return bytes(decoded)


@contextlib.contextmanager
def open_request_audio(
    row: dict[str, str], limits: RequestLimits, audio_roots: tuple[str, ...], where: str
) -> Iterator[BinaryIO]:
    """The audio of a checked request item as an open binary file, size-checked.

    ``audio_path``: the file :func:`resolve_audio_path` allows, opened without
    following a final symlink and without blocking, and checked again on the open
    descriptor (a file swapped after the check is refused, not read).
    ``audio_base64``: its bytes, decoded only once the text's length shows they
    fit ``max_audio_bytes``.
    """
    if row["audio_path"]:
        field = f"{where}.audio_path"
        resolved = resolve_audio_path(row["audio_path"], audio_roots, field)
        try:
            descriptor = os.open(
                resolved, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            )
        except OSError as error:
            raise _path_rule_error(field, f"cannot be opened: {error.strerror}") from None
        handle = os.fdopen(descriptor, "rb")
        with handle:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode):
                raise _path_rule_error(field, "not a regular file")
            if status.st_size > limits.max_audio_bytes:
                raise RequestTooLarge(
                    f"{field}: {status.st_size:,} bytes, over {RULES_KEY}.max_audio_bytes="
                    f"{limits.max_audio_bytes:,}"
                )
            if status.st_size == 0:
                raise ReleaseInputError(f"{field}: the file is empty")
            yield handle
        return
    field = f"{where}.audio_base64"
    text = row["audio_base64"]
    # 4 characters carry 3 bytes: decide on the length before decoding anything
    if len(text) > 4 * -(-limits.max_audio_bytes // 3):
        raise RequestTooLarge(
            f"{field}: about {len(text) * 3 // 4:,} bytes of audio, over "
            f"{RULES_KEY}.max_audio_bytes={limits.max_audio_bytes:,}"
        )
    data = _decode_base64(text, field)
    if len(data) > limits.max_audio_bytes:
        raise RequestTooLarge(
            f"{field}: {len(data):,} bytes of audio, over {RULES_KEY}.max_audio_bytes="
            f"{limits.max_audio_bytes:,}"
        )
    if not data:
        raise ReleaseInputError(f"{field}: no audio bytes")
    yield io.BytesIO(data)


def check_audio_header(
    handle: BinaryIO, limits: RequestLimits, field: str
) -> tuple[int, int, float]:
    """``channels, sample_rate, seconds`` from the audio's header, within the limits.

    Reads the header only (libsndfile), never the samples.

    Raises
    ------
    ReleaseInputError, RequestTooLarge
        Not audio libsndfile reads; more channels, a higher sample rate or a longer
        duration than :class:`RequestLimits` allows -- naming ``field``.
    """
    import soundfile as sf

    try:
        with sf.SoundFile(handle) as audio:
            channels, rate, frames = audio.channels, audio.samplerate, audio.frames
    except Exception as error:  # libsndfile raises several types; all mean "cannot decode"
        text = getattr(error, "error_string", "") or type(error).__name__
        raise ReleaseInputError(
            f"{field}: undecodable audio (not mp3, wav, flac or ogg that libsndfile reads: {text})"
        ) from None
    finally:
        handle.seek(0)
    if not 0 < channels <= limits.max_channels:
        raise RequestTooLarge(
            f"{field}: {channels} channels, over {RULES_KEY}.max_channels={limits.max_channels}"
        )
    if not 0 < rate <= limits.max_sample_rate:
        raise RequestTooLarge(
            f"{field}: sample rate {rate:,} Hz, over {RULES_KEY}.max_sample_rate="
            f"{limits.max_sample_rate:,}"
        )
    seconds = frames / rate
    if seconds > limits.max_duration_s:
        raise RequestTooLarge(
            f"{field}: {seconds:,.1f} s of audio by its header, over "
            f"{RULES_KEY}.max_duration_s={limits.max_duration_s:g}"
        )
    return channels, rate, seconds


def _string_field(value: Any, where: str) -> str:
    """A field's text: absent (``None``/NaN) is ``""``; anything but a string is refused."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    if not isinstance(value, str):
        raise ReleaseInputError(
            f"{where}: expected a string (or null), got {type(value).__name__} "
            "(rule: every field of an item is a string)"
        )
    if not is_utf8(value):
        raise ReleaseInputError(f"{where}: not valid Unicode text (a lone surrogate)")
    return value.strip()


def _records(items: Any) -> list[dict[Any, Any]]:
    if isinstance(items, pd.DataFrame):
        unnamed = [c for c in items.columns if not isinstance(c, str)]
        if unnamed:
            raise ReleaseInputError(f"field names must be strings, got {unnamed[:3]}")
        return items.to_dict("records")
    if isinstance(items, list) and all(isinstance(item, dict) for item in items):
        return items
    raise ReleaseInputError(f"expected a table (list) of items, got {type(items).__name__}")


def _request_chars(records: list[dict[Any, Any]]) -> int:
    return sum(len(v) for record in records for v in record.values() if isinstance(v, str))


def validate_request(
    items: pd.DataFrame | list[dict[str, Any]],
    limits: RequestLimits,
    audio_roots: tuple[str, ...] | list[str] = (),
) -> pd.DataFrame:
    """The request's items as a clean ``release_items`` table, or a clear error.

    A pure function of the request, the limits and the allowed audio roots (it
    reads audio headers, never samples). Rules, in the order they are decided:
    the request's size (items, characters); per item, every field a string (or
    null) and known; ``artist_id`` present; a ``track_id`` at most once per request
    and an artist's text the same in every item that carries it; audio per
    :func:`open_request_audio` and :func:`check_audio_header`; the request's total
    audio duration. Biographies over ``max_biography_chars`` are truncated (the
    models never read further), as ingestion does.

    Raises
    ------
    ReleaseInputError
        Naming ``items[i].field`` (or both items) and the rule;
        :class:`RequestTooLarge` for a limit.
    """
    roots = tuple(audio_roots)
    count = len(items) if isinstance(items, pd.DataFrame | list) else 0
    if count > limits.max_items:
        raise RequestTooLarge(
            f"the request holds {count:,} items, over {RULES_KEY}.max_items="
            f"{limits.max_items:,}: send them in several requests"
        )
    records = _records(items)
    if not records:
        raise ReleaseInputError("the request holds no items")
    chars = _request_chars(records)
    if chars > limits.max_request_chars:
        raise RequestTooLarge(
            f"the request's fields hold {chars:,} characters, over "
            f"{RULES_KEY}.max_request_chars={limits.max_request_chars:,}"
        )
    unknown = sorted({str(c) for record in records for c in record if c not in COLUMNS})
    if unknown:
        raise ReleaseInputError(
            f"unknown field(s) {unknown}; an item has the fields {list(COLUMNS)}"
        )
    rows = []
    track_of: dict[str, int] = {}
    artist_only: dict[str, int] = {}
    artist_text: dict[tuple[str, str], tuple[str, int]] = {}
    for i, record in enumerate(records):
        row = {
            column: _string_field(record.get(column), f"items[{i}].{column}") for column in COLUMNS
        }
        for column in COLUMNS:
            if column in ("biography", "audio_base64"):
                continue
            if len(row[column]) > limits.max_field_chars:
                raise RequestTooLarge(
                    f"items[{i}].{column}: {len(row[column]):,} characters, over "
                    f"{RULES_KEY}.max_field_chars={limits.max_field_chars:,}"
                )
        if not row["artist_id"]:
            raise ReleaseInputError(f"items[{i}].artist_id is missing or empty")
        if row["audio_path"] and row["audio_base64"]:
            raise ReleaseInputError(f"items[{i}]: give audio_path or audio_base64, not both")
        if row["track_id"]:
            if row["track_id"] in track_of:
                raise ReleaseInputError(
                    f"items[{track_of[row['track_id']]}].track_id and items[{i}].track_id are "
                    f"both {row['track_id']!r}: each track once per request"
                )
            track_of[row["track_id"]] = i
        else:
            if row["artist_id"] in artist_only:
                raise ReleaseInputError(
                    f"items[{artist_only[row['artist_id']]}] and items[{i}] are both "
                    f"artist-only items of artist_id {row['artist_id']!r}: each artist once "
                    "per request"
                )
            artist_only[row["artist_id"]] = i
            if row["audio_path"] or row["audio_base64"] or row["song_id"] or row["title"]:
                raise ReleaseInputError(
                    f"items[{i}]: audio, song_id and title belong to a track: give its track_id"
                )
        if row["tags"]:
            row["tags"] = format_tags(parse_tags(row["tags"], f"items[{i}].tags"))
        if len(row["biography"]) > limits.max_biography_chars:
            logger.warning(
                "items[%d].biography: %d characters, truncated to %d",
                i,
                len(row["biography"]),
                limits.max_biography_chars,
            )
            row["biography"] = row["biography"][: limits.max_biography_chars]
        # the model reads one text per artist: two items must not disagree on it
        for column in ("artist_name", "biography", "tags"):
            if not row[column]:
                continue
            key = (row["artist_id"], column)
            if key in artist_text and artist_text[key][0] != row[column]:
                raise ReleaseInputError(
                    f"items[{artist_text[key][1]}].{column} and items[{i}].{column} differ for "
                    f"artist_id {row['artist_id']!r}: an artist's {column} is the same in every "
                    "item that gives it"
                )
            artist_text.setdefault(key, (row[column], i))
        rows.append(row)
    total_seconds = 0.0
    for i, row in enumerate(rows):
        if not (row["audio_path"] or row["audio_base64"]):
            continue
        field = f"items[{i}].{'audio_path' if row['audio_path'] else 'audio_base64'}"
        with open_request_audio(row, limits, roots, f"items[{i}]") as handle:
            total_seconds += check_audio_header(handle, limits, field)[2]
        if total_seconds > limits.max_request_duration_s:
            raise RequestTooLarge(
                f"{field}: the request's audio reaches {total_seconds:,.1f} s here, over "
                f"{RULES_KEY}.max_request_duration_s={limits.max_request_duration_s:g}"
            )
    # object columns hold the very strings checked above: a string dtype would copy each
    # (a 40 MB audio_base64 included) into its own buffer, and every row read copies again
    return pd.DataFrame(rows, columns=list(COLUMNS), dtype=object)


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
    # surrogateescape keeps invalid bytes apart (as lone surrogates) instead of turning
    # them all into U+FFFD, which would merge two ids that differ only in those bytes
    with open(path, encoding="utf-8-sig", errors="surrogateescape") as stream:
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
            artist_id = str(record["artist_id"]).strip()
            if not is_utf8(artist_id):
                drops.drop("biography_id_not_utf8", where, ascii(artist_id))
                continue
            biography = record.get("biography")
            if not isinstance(biography, str):
                drops.drop("biography_not_text", where, type(biography).__name__)
                continue
            biography = biography.strip()
            if not biography:
                drops.drop("biography_empty", where)
                continue
            if artist_id in found:  # the first non-empty biography wins
                drops.drop("biography_duplicate", where, artist_id)
                continue
            if not is_utf8(biography):
                drops.counts["biography_text_invalid_utf8_replaced"] += 1
                biography = replace_invalid_utf8(biography)
            if len(biography) > max_chars:
                drops.counts["biography_truncated"] += 1
                biography = biography[:max_chars]
            found[artist_id] = {
                "biography": biography,
                "artist_name": replace_invalid_utf8(_text(record.get("artist_name"))),
            }
    return found


def _read_tags(path: Path, drops: _Drops) -> dict[str, list[tuple[str, float]]]:
    found: dict[str, list[tuple[str, float]]] = {}
    if not path.is_file():
        return found
    with open(path, encoding="utf-8-sig", errors="surrogateescape") as stream:
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
            if not is_utf8(fields[0]):
                drops.drop("tag_id_not_utf8", where, ascii(fields[0].strip()))
                continue
            if not is_utf8(fields[1]):
                drops.drop("tag_name_not_utf8", where, ascii(fields[1].strip()))
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
            # invalid UTF-8 reads as lone surrogates (checked per row) instead of failing
            # the whole table or merging ids
            connection.text_factory = _surrogate_text
            frame = pd.read_sql_query(
                f"SELECT {', '.join(METADATA_COLUMNS)} FROM songs", connection
            )
    except (sqlite3.Error, pd.errors.DatabaseError) as error:
        raise ValueError(
            f"{path}: cannot read the `songs` table with columns {list(METADATA_COLUMNS)} ({error})"
        ) from error
    return frame


def _surrogate_text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="surrogateescape")


def _scan_audio(folder: Path, drops: _Drops) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    found = {}
    for path in sorted(folder.iterdir()):
        if not (path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES):
            continue
        if not is_utf8(path.name):  # os gives undecodable name bytes as lone surrogates
            drops.drop("audio_name_not_utf8", f"{folder}", ascii(path.name))
            continue
        found[path.stem] = path
    return found


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
    audio = _scan_audio(root / "audio", drops)

    rows = []
    seen_tracks: set[str] = set()
    for number, record in enumerate(metadata.to_dict("records"), start=1):
        track_id, artist_id = _db_text(record["track_id"]), _db_text(record["artist_id"])
        where = f"{root / 'track_metadata.db'}: songs row {number}"
        if not track_id or not artist_id:
            drops.drop("track_no_id", where)
            continue
        if not (is_utf8(track_id) and is_utf8(artist_id)):
            drops.drop("track_id_not_utf8", where, f"{ascii(track_id)} by {ascii(artist_id)}")
            continue
        if track_id in seen_tracks:
            drops.drop("track_duplicate", where, track_id)
            continue
        seen_tracks.add(track_id)
        bio = biographies.get(artist_id, {})
        rows.append(
            {
                "artist_id": artist_id,
                "artist_name": replace_invalid_utf8(_db_text(record["artist_name"]))
                or bio.get("artist_name", ""),
                "biography": bio.get("biography", ""),
                "tags": format_tags(tags.get(artist_id, [])),
                "track_id": track_id,
                "song_id": replace_invalid_utf8(_db_text(record["song_id"])),
                "title": replace_invalid_utf8(_db_text(record["title"])),
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
