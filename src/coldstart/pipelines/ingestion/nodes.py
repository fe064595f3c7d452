"""Nodes of the ingestion pipeline: raw contract files -> clean tables and play matrices.

Every record that is dropped is counted by reason; the counts end up in the
ingestion report. A run stops only when what is left cannot support it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import mmap
import os
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from coldstart.cores import available_cores
from coldstart.logsafe import plain, quoted

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".mp3", ".wav", ".flac", ".ogg")
SPLITS = ("train", "val", "test")
_MAX_DEFAULT_THREADS = 8
_SHOWN_PER_REASON = 3  # offending lines quoted in the log per reason; the rest are counted
_BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark: some editors start a text file with it


class IngestionError(RuntimeError):
    """What is left after cleaning cannot support the run."""


def _warn_line(
    path: Path, line_no: int | None, reason: str, text: str, seen: Counter, detail: str = ""
) -> None:
    """Count a dropped or repaired line under ``reason``; quote the first few in the log."""
    seen[reason] += 1
    if seen[reason] <= _SHOWN_PER_REASON:
        where = f"{path}:{line_no}" if line_no is not None else str(path)
        detail = f" ({detail})" if detail else ""
        logger.warning("%s: %s%s: %s", plain(where), reason, plain(detail), quoted(text))


def _strip_bom(raw: bytes, line_no: int) -> bytes:
    """The first line without a leading UTF-8 byte order mark (it is not part of the record)."""
    return raw[len(_BOM) :] if line_no == 1 and raw.startswith(_BOM) else raw


def _decoded(raw: bytes) -> str:
    """Bytes as text; bytes that are not UTF-8 become lone surrogates (``surrogateescape``).

    Nothing is lost or merged yet: a text field is then repaired with
    :func:`_repaired`, ids with :func:`_repaired_ids`.
    """
    return raw.decode("utf-8", "surrogateescape")


def _is_utf8(text: str) -> bool:
    """Whether ``text`` (from :func:`_decoded`) came from valid UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _repaired(text: str, errors: str = "replace") -> str:
    """A text field with the bytes that were not UTF-8 replaced by U+FFFD (or ``errors``)."""
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate written as a JSON escape (\\ud800)
        data = text.encode("utf-8", "surrogatepass")
    return data.decode("utf-8", errors)


def _repaired_ids(ids: pd.Series, path: Path, what: str) -> tuple[pd.Series, int]:
    """Ids from :func:`_decoded` -> valid text, two different ids never becoming one.

    The bytes of an id that are not UTF-8 are replaced by U+FFFD, as in text,
    unless that makes it equal to another id (two users that differ only in their
    bad bytes, or a valid id that spells the repair): then every such id keeps its
    bytes as backslash escapes (``b"caf\\xe9"`` -> ``"caf\\\\xe9"``) instead.

    Returns the ids and how many distinct ids were not UTF-8.
    """
    # object dtype throughout: pandas' default string dtype refuses the surrogates
    distinct = pd.Series(list(ids.dropna().unique()), dtype=object)
    bad = pd.Series([isinstance(v, str) and not _is_utf8(v) for v in distinct], dtype=bool)
    if not bad.any():
        return ids, 0
    repaired = pd.Series([_repaired(v) if b else v for v, b in zip(distinct, bad, strict=True)])
    clash = repaired.duplicated(keep=False) & bad
    for i in np.flatnonzero(clash.to_numpy()):
        repaired.iat[i] = _repaired(distinct.iat[i], "backslashreplace")
    if repaired.duplicated().any():
        raise IngestionError(
            f"{path}: two {what} ids differ only in bytes that are not UTF-8, and escaping "
            "those bytes spells another id; fix the file's encoding"
        )
    logger.warning(
        "%s: %d %s ids are not UTF-8 (their bad bytes are replaced; %d escaped to stay apart), "
        "such as %s",
        plain(path),
        int(bad.sum()),
        what,
        int(clash.sum()),
        quoted(repaired[bad].head(3).tolist()),
    )
    mapping = dict(zip(distinct[bad], repaired[bad], strict=True))
    fixed = [mapping.get(v, v) for v in ids]
    return pd.Series(fixed, index=ids.index, dtype=object), int(bad.sum())


# --------------------------------------------------------------------------- triplets


def _line_block_bounds(
    mapped: mmap.mmap, block_bytes: int, start: int = 0
) -> Iterator[tuple[int, int]]:
    """``(begin, end)`` of consecutive blocks of whole lines from ``start``, about ``block_bytes`` each."""
    size = len(mapped)
    begin = start
    while begin < size:
        end = min(begin + block_bytes, size)
        if end < size:
            cut = mapped.rfind(b"\n", begin, end)
            # a line longer than a block: extend the block to its end
            end = cut + 1 if cut >= 0 else (mapped.find(b"\n", end) + 1 or size)
        yield begin, end
        begin = end


def _parsed_blocks(
    parse: Any, data: np.ndarray, bounds: Iterator[tuple[int, int]], threads: int
) -> Iterator[tuple[int, int, Any]]:
    """``(begin, end, parse(data, begin, end))`` per block, in file order.

    ``threads`` blocks are parsed at once (``parse`` releases the GIL) and at
    most one more waits to be consumed, so memory stays bounded.
    """
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads, thread_name_prefix="triplets") as pool:
        pending: deque = deque()
        for begin, end in bounds:
            pending.append((begin, end, pool.submit(parse, data, begin, end)))
            if len(pending) > threads:
                begin, end, parsed = pending.popleft()
                yield begin, end, parsed.result()
        while pending:
            begin, end, parsed = pending.popleft()
            yield begin, end, parsed.result()


def read_play_triplets(raw_triplets: Path, ingestion: dict) -> tuple[dict, dict]:
    """Parse Taste Profile triplets (``user<TAB>song<TAB>count``) in bounded memory.

    The memory-mapped file is cut into blocks of whole lines (``block_size_mb``)
    that compiled kernels parse on ``threads`` threads (0: the available cores,
    at most 8), each thread keeping its own id tables; blocks are merged in file
    order, each thread's new ids getting global codes
    (``triplet_kernels.TripletEncoder``).
    A line is kept when it has exactly three tab-separated fields, non-empty ids
    (surrounding whitespace is trimmed) and a positive integer count; blank
    lines are skipped (``docs/ingestion.md``). Memory is 12 bytes per kept line,
    the distinct ids, each thread's id tables and a few blocks; pages of the
    file already parsed are given back.

    Returns
    -------
    triplets
        ``{"user_ids", "song_ids"}`` (unique id strings, in order of first
        appearance) and int32 ``"user"``, ``"song"``, ``"plays"`` arrays (codes
        into those ids; duplicates not yet summed).
    report
        Lines read, kept, and dropped by reason; ``users_only_in_invalid_lines``,
        the distinct user ids named by dropped lines (those whose first field is
        ended by a tab and non-empty once trimmed) and by no kept line.
    """
    from tqdm.auto import tqdm

    from coldstart.jit import compile_notice
    from coldstart.pipelines.ingestion import triplet_kernels as kernels

    with compile_notice("the triplet reader", "~30 s", log=logger):
        kernels.warm_up()
    path = Path(raw_triplets)
    block_bytes = max(1, int(float(ingestion.get("block_size_mb", 32)) * (1 << 20)))
    # each thread learns every id in its own tables: past a few threads that costs more
    threads = int(ingestion.get("threads") or 0) or min(available_cores(), _MAX_DEFAULT_THREADS)
    size = path.stat().st_size
    if size == 0:
        raise IngestionError(f"{path}: the file is empty")
    encoder = kernels.TripletEncoder()
    users: list[np.ndarray] = []
    songs: list[np.ndarray] = []
    plays: list[np.ndarray] = []
    counts = np.zeros(len(kernels.REASONS), np.int64)
    shown: Counter = Counter()
    n_lines = n_blank = 0
    with open(path, "rb") as stream:
        mapped = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
    # a byte order mark is not part of the first user id: the first block starts after it
    has_bom = mapped[: len(_BOM)] == _BOM
    start = len(_BOM) if has_bom else 0
    if start == size:
        mapped.close()
        raise IngestionError(f"{path}: the file holds nothing but a byte order mark")
    data = np.frombuffer(mapped, np.uint8)
    try:
        with tqdm(total=size, unit="B", unit_scale=True, desc=path.name, disable=None) as bar:
            bar.update(start)
            for begin, end, parsed in _parsed_blocks(
                encoder.parse, data, _line_block_bounds(mapped, block_bytes, start), threads
            ):
                block_users, block_songs, block_plays, *line_counts = encoder.merge(data, parsed)
                block_lines, block_blank, block_counts, samples = line_counts
                users.append(block_users)
                songs.append(block_songs)
                plays.append(block_plays)
                for reason, name in enumerate(kernels.REASONS):
                    for line, first, last in samples[reason] if reason != kernels.KEPT else ():
                        if line >= 0 and shown[name] < _SHOWN_PER_REASON:
                            text = mapped[first:last].decode("utf-8", "replace")
                            _warn_line(path, n_lines + int(line) + 1, name, text, shown)
                counts += block_counts
                n_lines += int(block_lines)
                n_blank += int(block_blank)
                # the parsed part of the file need not stay in this process's memory
                if hasattr(mmap, "MADV_DONTNEED"):  # not on Windows
                    mapped.madvise(mmap.MADV_DONTNEED, 0, end - end % mmap.PAGESIZE)
                bar.update(end - begin)
    finally:
        del data
        with contextlib.suppress(BufferError):  # a traceback may still hold a view
            mapped.close()

    dropped = {name: int(counts[i]) for i, name in enumerate(kernels.REASONS) if i and counts[i]}
    n_kept = int(counts[kernels.KEPT])
    invalid_only = encoder.users_only_in_invalid_lines()
    report = {
        "file": str(path),
        "lines_read": n_lines - n_blank,
        "lines_kept": n_kept,
        "blank_lines": n_blank,
        "dropped": dict(sorted(dropped.items())),
        "users_only_in_invalid_lines": len(invalid_only),
    }
    logger.info("Triplets: %d lines read, %d kept, dropped %s", n_lines - n_blank, n_kept, dropped)
    if has_bom:
        report["byte_order_mark"] = True
        logger.info("%s starts with a UTF-8 byte order mark: skipped", plain(path))
    if len(invalid_only):
        shown = [value.decode("utf-8", "replace") for value in invalid_only[:3].to_pylist()]
        logger.info(
            "Triplets: %d users are named only by dropped lines, such as %s",
            len(invalid_only),
            quoted(shown),
        )
    if n_kept == 0:
        raise IngestionError(f"{path}: no valid `user<TAB>song<TAB>count` line was found")
    user_ids, bad_users = _id_strings(encoder.users.ids(), path, "user")
    song_ids, bad_songs = _id_strings(encoder.songs.ids(), path, "song")
    report["non_utf8_ids"] = {"users": bad_users, "songs": bad_songs}
    triplets = {
        "user_ids": user_ids,
        "song_ids": song_ids,
        "user": np.concatenate(users),
        "song": np.concatenate(songs),
        "plays": np.concatenate(plays),
    }
    return triplets, report


def _id_strings(ids: Any, path: Path, what: str) -> tuple[np.ndarray, int]:
    """Arrow binary ids -> object array of ``str``, and how many were not UTF-8.

    Ids that are not UTF-8 are repaired by :func:`_repaired_ids`, so distinct
    byte strings stay distinct ids.
    """
    import pyarrow as pa

    try:
        return ids.cast(pa.large_string()).to_numpy(zero_copy_only=False), 0
    except pa.ArrowInvalid:
        pass
    decoded = pd.Series([_decoded(value) for value in ids.to_pylist()], dtype=object)
    repaired, n_bad = _repaired_ids(decoded, path, what)
    return repaired.to_numpy(dtype=object), n_bad


# --------------------------------------------------------------------------- metadata


def read_track_metadata(raw_track_metadata: Path, raw_audio_dir: Path) -> tuple[pd.DataFrame, dict]:
    """Read the MSD ``songs`` table and attach each track's audio file, if any.

    Returns one row per track: ``track_id, song_id, artist_id, artist_name,
    audio_path`` (relative to the dataset folder, ``""`` when the track has no audio).
    """
    path = Path(raw_track_metadata)
    tracks = _read_songs_table(path)
    dropped: Counter = Counter()
    n_rows = len(tracks)
    ids = ["track_id", "song_id", "artist_id"]
    non_utf8 = {}
    for column in ids:
        decoded = _text_column(tracks[column])
        tracks[column], non_utf8[column] = _repaired_ids(decoded, path, column)
        tracks[column] = tracks[column].astype("string").str.strip()
    names = _text_column(tracks["artist_name"])
    bad_names = np.array([isinstance(v, str) and not _is_utf8(v) for v in names], dtype=bool)
    tracks["artist_name"] = [_repaired(v) if isinstance(v, str) else v for v in names]
    missing = tracks[ids].isna().any(axis=1) | (tracks[ids] == "").any(axis=1)
    dropped["missing_ids"] = int(missing.sum())
    named = {column: _named_ids(tracks[column]) for column in ("artist_id", "song_id")}
    tracks = tracks[~missing]
    duplicated = tracks.duplicated("track_id")
    dropped["duplicate_track_id"] = int(duplicated.sum())
    tracks = tracks[~duplicated].copy()
    # an artist (or song) whose every row was dropped would otherwise leave no trace
    only_in_dropped = {
        column: int((~ids.isin(tracks[column])).sum()) for column, ids in named.items()
    }
    tracks["artist_name"] = tracks["artist_name"].fillna("").astype(str)

    audio_dir = Path(raw_audio_dir)
    found = _scan_audio(audio_dir)
    relative = audio_dir.name
    # a plain loop: mapping through an empty dict gives an untyped column pandas cannot fill
    tracks["audio_path"] = [
        f"{relative}/{found[track]}" if track in found else "" for track in tracks["track_id"]
    ]
    n_audio = int((tracks["audio_path"] != "").sum())
    report = {
        "file": str(path),
        "tracks_read": int(n_rows),
        "tracks_with_audio": n_audio,
        "audio_files_found": len(found),
        "dropped": {k: v for k, v in dropped.items() if v},
        "non_utf8_ids": {column: n for column, n in non_utf8.items() if n},
        "repaired_non_utf8_artist_names": int(bad_names.sum()),
        "artists_only_in_dropped_rows": only_in_dropped["artist_id"],
        "songs_only_in_dropped_rows": only_in_dropped["song_id"],
    }
    logger.info(
        "Track metadata: %d tracks, %d with an audio file in %s, dropped %s",
        n_rows,
        n_audio,
        plain(audio_dir),
        report["dropped"],
    )
    return tracks.reset_index(drop=True), report


_SONGS_QUERY = "SELECT track_id, song_id, artist_id, artist_name FROM songs"


def _read_songs_table(path: Path) -> pd.DataFrame:
    """The ``songs`` columns ingestion uses, text as ``bytes`` (decoded by :func:`_text_column`).

    The file is opened read-only through a percent-encoded ``file:`` URI, so a
    path holding ``#``, ``?`` or ``%`` opens that file and a missing one is never
    created. Whatever SQLite or pandas raise (not a database, truncated, no
    ``songs`` table or column) becomes an :class:`IngestionError` naming the file.
    """
    database_errors: tuple[type[Exception], ...] = (sqlite3.Error,)
    if hasattr(pd.errors, "DatabaseError"):  # pandas wraps the driver's error in its own
        database_errors += (pd.errors.DatabaseError,)
    expected = "table `songs(track_id, song_id, artist_id, artist_name, ...)`"
    if not path.is_file():
        raise IngestionError(f"{path}: no such file (expected an SQLite database with {expected})")
    if path.stat().st_size == 0:
        raise IngestionError(f"{path}: the file is empty (expected an SQLite database)")
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            # bytes: one value that is not UTF-8 is repaired and counted, not a failed read
            connection.text_factory = bytes
            return pd.read_sql_query(_SONGS_QUERY, connection)
        finally:
            connection.close()
    except database_errors as error:
        raise IngestionError(f"{path}: cannot read {expected}: {error}") from None


def _text_column(column: pd.Series) -> pd.Series:
    """SQLite text read as ``bytes`` -> ``str`` (see :func:`_decoded`); numbers and NULLs pass."""
    values = [_decoded(v) if isinstance(v, bytes) else v for v in column]
    return pd.Series(values, index=column.index, dtype=object)


def _named_ids(column: pd.Series) -> pd.Index:
    """The distinct non-empty ids of a stripped id column."""
    return pd.Index(column.dropna().unique()).difference(pd.Index([""]))


def _scan_audio(audio_dir: Path) -> dict[str, str]:
    """``track_id -> file name`` for the accepted audio files (mp3 preferred)."""
    if not audio_dir.is_dir():
        logger.warning(
            "No audio folder at %s: the songs have no audio (the audio rows are skipped)",
            plain(audio_dir),
        )
        return {}
    rank = {ext: i for i, ext in enumerate(AUDIO_EXTENSIONS)}
    best: dict[str, tuple[int, str]] = {}
    with os.scandir(audio_dir) as entries:
        for entry in entries:
            stem, dot, ext = entry.name.rpartition(".")
            order = rank.get(dot + ext.lower())
            if order is None or not entry.is_file():
                continue
            if stem not in best or order < best[stem][0]:
                best[stem] = (order, entry.name)
    return {stem: name for stem, (_, name) in best.items()}


def read_biographies(raw_biographies: Path, ingestion: dict) -> tuple[pd.DataFrame, dict]:
    """Read ``{"artist_id", "artist_name", "biography"}`` JSON lines, robustly.

    Lines that are not JSON objects with an ``artist_id`` are dropped and counted,
    as are lines whose ``biography`` is neither a string nor null/absent (no
    biography). Bytes that are not UTF-8 are repaired in text (replacement
    character) and counted; in ids they are kept apart (:func:`_repaired_ids`).
    A leading byte order mark is skipped. Biographies longer than
    ``max_biography_chars`` are truncated and counted.

    When several lines name one artist, the one with the longest biography is
    kept (the first of equally long ones), so a later line without a biography
    never replaces a good one; the others are counted as ``duplicate_artist_id``.

    Raises
    ------
    IngestionError
        No usable line is left and biographies are required (``require_biography``).
    """
    path = Path(raw_biographies)
    max_chars = int(ingestion.get("max_biography_chars", 100_000))
    counts: Counter = Counter()
    records: dict[str, dict[str, str]] = {}
    bom = False
    with open(path, "rb") as stream:
        for line_no, raw in enumerate(stream, start=1):
            stripped = _strip_bom(raw, line_no)
            bom |= stripped is not raw
            if not stripped.strip():
                continue
            counts["lines"] += 1
            text = _decoded(stripped)
            if not _is_utf8(text):
                _warn_line(path, line_no, "repaired_non_utf8", _repaired(text), counts)
            try:
                record = json.loads(text)
            except json.JSONDecodeError as error:
                _warn_line(path, line_no, "malformed_json", _repaired(text), counts, error.msg)
                continue
            if not isinstance(record, dict) or not str(record.get("artist_id") or "").strip():
                _warn_line(path, line_no, "missing_artist_id", _repaired(text), counts)
                continue
            biography = record.get("biography")
            if biography is not None and not isinstance(biography, str):
                detail = f"a JSON {type(biography).__name__}"
                _warn_line(path, line_no, "non_string_biography", _repaired(text), counts, detail)
                continue
            artist_id = str(record["artist_id"]).strip()  # its bad bytes are handled below
            biography = _repaired(biography or "").strip()
            if len(biography) > max_chars:
                biography = biography[:max_chars]
                counts["truncated"] += 1
            if artist_id in records:
                better = len(biography) > len(records[artist_id]["biography"])
                detail = "replaces a shorter one" if better else "an earlier line is kept"
                _warn_line(path, line_no, "duplicate_artist_id", _repaired(text), counts, detail)
                if not better:
                    continue
            name = record.get("artist_name")
            records[artist_id] = {
                "artist_id": artist_id,
                "artist_name": _repaired(str(name)) if name is not None else "",
                "biography": biography,
            }
    columns = ["artist_id", "artist_name", "biography"]
    # object columns: pandas' string dtype refuses an id's undecoded bytes (fixed below)
    frame = pd.DataFrame(
        {c: pd.Series([r[c] for r in records.values()], dtype=object) for c in columns}
    )
    if len(frame):
        frame["artist_id"], n_bad_ids = _repaired_ids(frame["artist_id"], path, "artist")
        frame = frame.astype(str)
    else:
        frame, n_bad_ids = frame.astype(str), 0
    reasons = {k: int(v) for k, v in counts.items() if k != "lines"}
    report = {
        "file": str(path),
        "lines": int(counts["lines"]),
        "artists": len(frame),
        "issues": reasons,
    }
    if n_bad_ids:
        report["non_utf8_ids"] = n_bad_ids
    if bom:
        report["byte_order_mark"] = True
    logger.info(
        "Biographies: %d artists from %d lines, issues %s", len(frame), counts["lines"], reasons
    )
    if frame.empty:
        message = (
            f"{path}: no usable line (a JSON object with an `artist_id` and a string "
            f"`biography`) among {counts['lines']} lines; issues {reasons}"
        )
        if ingestion.get("require_biography", True):
            raise IngestionError(message)
        logger.warning("%s", plain(message))
    return frame, report


_TAG_COLUMNS = ("artist_id", "tag", "weight")


def read_tags(raw_tags: Path, ingestion: dict | None = None) -> tuple[pd.DataFrame, dict]:
    """Read ``artist_id<TAB>tag<TAB>weight`` lines (with header), dropping unusable lines.

    The header names the columns (in any order; other columns are ignored). A
    file whose first line is not such a header is read as those three columns in
    that order, and the report says so (``header: false``). A line is kept when
    it has as many tab-separated fields as the header, a weight in [0, 100] and
    a non-empty id and tag; an artist's repeated tag keeps its highest weight.
    Bytes that are not UTF-8 are repaired in tags and counted, kept apart in ids
    (:func:`_repaired_ids`); a leading byte order mark is skipped. Every dropped
    line is counted by reason, the first few quoted with their line number.

    Raises
    ------
    IngestionError
        No usable line is left and tags are required (``require_tags``).
    """
    ingestion = ingestion or {}
    path = Path(raw_tags)
    counts: Counter = Counter()
    repaired: Counter = Counter()
    columns: tuple[int, int, int] | None = None
    n_fields = len(_TAG_COLUMNS)
    has_header = bom = False
    n_lines = 0
    ids: list[str] = []
    tags: list[str] = []
    weights: list[float] = []
    with open(path, "rb") as stream:
        for line_no, raw in enumerate(stream, start=1):
            stripped = _strip_bom(raw, line_no)
            bom |= stripped is not raw
            text = _decoded(stripped.rstrip(b"\r\n"))
            if not text.strip():
                continue
            fields = text.split("\t")
            if columns is None:  # the first line: the header, or already a record
                names = [field.strip().lower() for field in fields]
                has_header = set(_TAG_COLUMNS) <= set(names)
                if has_header:
                    columns = tuple(names.index(name) for name in _TAG_COLUMNS)
                    n_fields = len(names)
                    continue
                columns = (0, 1, 2)
            n_lines += 1
            if len(fields) != n_fields:
                _warn_line(path, line_no, "malformed_line", _repaired(text), counts)
                continue
            artist_id, tag, weight = (fields[i].strip() for i in columns)
            try:
                value = float(weight)
            except ValueError:
                value = float("nan")
            if not 0 <= value <= 100:  # NaN too
                _warn_line(path, line_no, "invalid_weight", _repaired(text), counts)
                continue
            if not artist_id or not tag:
                _warn_line(path, line_no, "empty_field", _repaired(text), counts)
                continue
            if not _is_utf8(tag):
                _warn_line(path, line_no, "repaired_non_utf8", _repaired(text), repaired)
                tag = _repaired(tag)
            ids.append(artist_id)
            tags.append(tag.lower())
            weights.append(value)
    frame = pd.DataFrame(
        {
            "artist_id": pd.Series(ids, dtype=object),
            "tag": pd.Series(tags, dtype=object),
            "weight": np.asarray(weights, dtype=np.float64),
        }
    )
    frame["artist_id"], n_bad_ids = _repaired_ids(frame["artist_id"], path, "artist")
    frame = frame.astype({"artist_id": str, "tag": str})
    before = len(frame)
    frame = frame.groupby(["artist_id", "tag"], as_index=False, sort=True)["weight"].max()
    counts["duplicate_tag"] += before - len(frame)
    report = {
        "file": str(path),
        "lines": int(n_lines),
        "kept": len(frame),
        "dropped": {k: int(v) for k, v in counts.items() if v},
    }
    if not has_header:
        report["header"] = False
    if repaired:
        report["repaired"] = dict(repaired)
    if n_bad_ids:
        report["non_utf8_ids"] = n_bad_ids
    if bom:
        report["byte_order_mark"] = True
    if columns is not None and not has_header:
        logger.warning(
            "%s: the first line is not the header `artist_id<TAB>tag<TAB>weight`; read as a "
            "record, the columns in that order",
            plain(path),
        )
    logger.info("Tags: %d kept of %d lines, dropped %s", len(frame), n_lines, report["dropped"])
    if frame.empty:
        message = (
            f"{path}: no usable `artist_id<TAB>tag<TAB>weight` line among {n_lines} lines "
            f"(dropped {report['dropped']}); is the file empty, or not tab-separated?"
        )
        if ingestion.get("require_tags", True):
            raise IngestionError(message)
        logger.warning("%s", plain(message))
    return frame.reset_index(drop=True), report


# --------------------------------------------------------------------------- catalogue


def select_items(
    tracks: pd.DataFrame,
    biographies: pd.DataFrame,
    tags: pd.DataFrame,
    triplets: dict,
    ingestion: dict,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """Choose the songs and artists the run uses and split artists train/val/test.

    A song is kept when it has metadata, a track with audio and plays; an artist
    when it has kept songs and, as in MSD-A, a biography (``min_biography_chars``)
    and at least one tag (both requirements are parameters). Every song follows its
    artist into the split, so no artist is in two sets.

    With ``songs_without_audio: keep`` (and always when no track has audio at all) a
    song needs no audio: its track is its first one with audio, else its first one,
    and its ``audio_path`` is ``""`` when it has none. Only the rows that read audio
    then restrict themselves to the songs with audio (``docs/ingestion.md``).
    """
    counts: Counter = Counter()
    dropped_songs: dict[str, pd.Index] = {}  # song ids by the (first) reason they were dropped
    played = pd.Index(triplets["song_ids"]).unique()
    songs_meta = tracks["song_id"].unique()
    dropped_songs["without_metadata"] = played[~played.isin(songs_meta)]
    counts["played_songs_without_metadata"] = len(dropped_songs["without_metadata"])

    keep_without_audio = songs_without_audio_kept(tracks, ingestion)
    if keep_without_audio:
        # every track is eligible; a song's track with audio, if any, comes first
        with_audio = tracks.assign(_no_audio=tracks["audio_path"] == "")
        with_audio = with_audio.sort_values(["song_id", "_no_audio", "track_id"])
        with_audio = with_audio.drop(columns="_no_audio")
    else:
        with_audio = tracks[tracks["audio_path"] != ""].sort_values(["song_id", "track_id"])
    song_table = with_audio.drop_duplicates("song_id")
    n_chosen_tracks = len(song_table)  # one track (with audio, unless kept without) per song
    dropped_songs["without_audio"] = pd.Index(songs_meta).difference(song_table["song_id"])
    counts["songs_without_audio"] = len(dropped_songs["without_audio"])
    in_plays = song_table["song_id"].isin(played)
    dropped_songs["without_plays"] = pd.Index(song_table.loc[~in_plays, "song_id"])
    counts["songs_without_plays"] = int((~in_plays).sum())
    song_table = song_table[in_plays]
    artist_of_song = song_table.groupby("artist_id")["song_id"].size()
    conflicting = tracks.groupby("song_id")["artist_id"].nunique()
    conflicting = set(conflicting[conflicting > 1].index)
    is_conflicting = song_table["song_id"].isin(conflicting)
    dropped_songs["with_conflicting_artists"] = pd.Index(song_table.loc[is_conflicting, "song_id"])
    counts["songs_with_conflicting_artists"] = int(is_conflicting.sum())
    song_table = song_table[~is_conflicting]

    artists = pd.DataFrame({"artist_id": artist_of_song.index.astype(str)})
    candidates = artists["artist_id"].copy()  # artists with a song that has audio and plays
    known_artists = pd.Index(tracks["artist_id"].astype(str).unique())
    without_song = _artists_without_usable_song(known_artists, candidates, with_audio)
    counts["artists_without_usable_song"] = sum(without_song.values())
    names = tracks.drop_duplicates("artist_id").set_index("artist_id")["artist_name"]
    bios = biographies.set_index("artist_id")
    artists["artist_name"] = artists["artist_id"].map(bios["artist_name"]).fillna("")
    artists.loc[artists["artist_name"] == "", "artist_name"] = artists["artist_id"].map(names)
    artists["biography"] = artists["artist_id"].map(bios["biography"]).fillna("")
    keep = np.ones(len(artists), dtype=bool)
    min_chars = int(ingestion.get("min_biography_chars", 1))
    if ingestion.get("require_biography", True):
        short = artists["biography"].str.len() < min_chars
        counts["artists_without_biography"] = int(short.sum())
        keep &= ~short.to_numpy()
    if ingestion.get("require_tags", True):
        untagged = ~artists["artist_id"].isin(tags["artist_id"])
        counts["artists_without_tags"] = int((untagged & keep).sum())
        keep &= ~untagged.to_numpy()
    artists = artists[keep].sort_values("artist_id").reset_index(drop=True)
    unknown_tag_artists = ~tags["artist_id"].isin(artists["artist_id"])
    counts["tag_lines_of_unused_artists"] = int(unknown_tag_artists.sum())
    artist_tags = tags[~unknown_tag_artists].reset_index(drop=True)
    of_kept_artist = song_table["artist_id"].isin(artists["artist_id"])
    dropped_songs["of_dropped_artists"] = pd.Index(song_table.loc[~of_kept_artist, "song_id"])
    counts["songs_of_dropped_artists"] = int((~of_kept_artist).sum())
    song_table = song_table[of_kept_artist]

    artists["split"] = _split_artists(len(artists), ingestion.get("split", {}), seed)
    order = {name: i for i, name in enumerate(SPLITS)}
    artists = _ordered(artists, "artist_id", order)
    split_of = artists.set_index("artist_id")["split"]
    songs = song_table[["song_id", "track_id", "artist_id", "audio_path"]].copy()
    songs["split"] = songs["artist_id"].map(split_of)
    songs = _ordered(songs, "song_id", order)

    balance = {
        "tracks": _entity(
            len(tracks),
            len(songs),
            {
                "without_audio": len(tracks) - len(with_audio),
                "other_track_chosen_for_song": len(with_audio) - n_chosen_tracks,
                "of_dropped_song": n_chosen_tracks - len(songs),
            },
        ),
        "songs": _entity(
            len(songs_meta) + len(dropped_songs["without_metadata"]),
            len(songs),
            {reason: len(ids) for reason, ids in dropped_songs.items()},
        ),
        "artists": {
            **_entity(
                len(known_artists),
                len(artists),
                _artist_drops(counts, ingestion),
            ),
            "without_usable_song_by_cause": without_song,
            "reasons_that_apply": _artist_reasons_that_apply(
                known_artists, candidates, biographies, tags, ingestion
            ),
            "kept_without_songs": int((~artists["artist_id"].isin(songs["artist_id"])).sum()),
        },
        "users": _user_balance(triplets, dropped_songs),
    }
    report = {
        "songs": int(len(songs)),
        "artists": int(len(artists)),
        "tag_lines": int(len(artist_tags)),
        "artists_per_split": artists["split"]
        .value_counts()
        .reindex(SPLITS, fill_value=0)
        .to_dict(),
        "songs_per_split": songs["split"].value_counts().reindex(SPLITS, fill_value=0).to_dict(),
        "dropped": {k: int(v) for k, v in counts.items() if v},
        "balance": balance,
    }
    logger.info(
        "Catalogue: %d artists %s, %d songs %s, dropped %s",
        len(artists),
        report["artists_per_split"],
        len(songs),
        report["songs_per_split"],
        report["dropped"],
    )
    if keep_without_audio:
        report["songs_kept_without_audio"] = int((songs["audio_path"] == "").sum())
        logger.info(
            "Catalogue: %d of %d songs have no audio and are kept (songs_without_audio: keep); "
            "the rows that need audio (audio, mm-lf-*, mm) use the %d songs with audio",
            report["songs_kept_without_audio"],
            len(songs),
            len(songs) - report["songs_kept_without_audio"],
        )
    if without_song["no_audio"] or without_song["every_song_dropped"]:
        logger.info(
            "Catalogue: %d artists have no usable song (%d without any audio, %d whose every "
            "song was dropped)",
            counts["artists_without_usable_song"],
            without_song["no_audio"],
            without_song["every_song_dropped"],
        )
    if balance["artists"]["kept_without_songs"]:
        logger.warning(
            "Catalogue: %d kept artists have no kept song (their only songs have tracks under "
            "several artists)",
            balance["artists"]["kept_without_songs"],
        )
    _check_split_sizes(report, int(ingestion.get("min_items_per_split", 1)))
    columns = ["artist_id", "artist_name", "split", "biography", "item_idx"]
    return artists[columns], artist_tags, songs, report


SONGS_WITHOUT_AUDIO = ("drop", "keep")


def songs_without_audio_kept(tracks: pd.DataFrame, ingestion: dict) -> bool:
    """Whether songs without audio stay in the catalogue (``ingestion.songs_without_audio``).

    ``drop`` (the default) keeps only songs with audio, as the paper's MSD-A subset;
    ``keep`` keeps them all. A dataset without any audio file keeps them whatever the
    setting, and says so: dropping would leave nothing, and its text rows need none.
    """
    mode = str(ingestion.get("songs_without_audio", "drop"))
    if mode not in SONGS_WITHOUT_AUDIO:
        raise ValueError(
            f"ingestion.songs_without_audio must be one of {SONGS_WITHOUT_AUDIO}, got {mode!r}"
        )
    if len(tracks) and not (tracks["audio_path"] != "").any():
        logger.warning(
            "Catalogue: no track has an audio file, so songs are kept without audio (as with "
            "songs_without_audio: keep); the rows that need audio (audio, mm-lf-*, mm) are "
            "skipped, the text rows and the baselines run"
        )
        return True
    return mode == "keep"


def _entity(read: int, kept: int, dropped: dict[str, int]) -> dict[str, Any]:
    """``{"read", "kept", "dropped"}`` of one entity, every reason listed (zeros too)."""
    return {
        "read": int(read),
        "kept": int(kept),
        "dropped": {reason: int(n) for reason, n in dropped.items()},
    }


def _artist_drops(counts: Counter, ingestion: dict) -> dict[str, int]:
    """The catalogue's artist drops by reason, in the order they are tried.

    A reason is listed when it is in force: without the biography (or tag)
    requirement no artist can be dropped for lacking one.
    """
    drops = {"without_usable_song": counts["artists_without_usable_song"]}
    if ingestion.get("require_biography", True):
        drops["without_biography"] = counts["artists_without_biography"]
    if ingestion.get("require_tags", True):
        drops["without_tags"] = counts["artists_without_tags"]
    return drops


def _artists_without_usable_song(
    known: pd.Index, candidates: pd.Series, with_audio: pd.DataFrame
) -> dict[str, int]:
    """Artists of the metadata that have no song with audio and plays, by cause.

    Parameters
    ----------
    known
        Every artist id of the usable metadata rows.
    candidates
        The artists with at least one song that has audio and plays.
    with_audio
        The metadata rows that have an audio file.

    Returns
    -------
    dict
        ``no_audio``: none of the artist's tracks has an audio file;
        ``every_song_dropped``: some have, but each of their songs was dropped
        (no plays, or the song's chosen track is another artist's).
    """
    lost = known[~known.isin(candidates)]
    no_audio = int((~lost.isin(with_audio["artist_id"].astype(str))).sum())
    return {"no_audio": no_audio, "every_song_dropped": len(lost) - no_audio}


def _artist_reasons_that_apply(
    known: pd.Index,
    candidates: pd.Series,
    biographies: pd.DataFrame,
    tags: pd.DataFrame,
    ingestion: dict,
) -> dict[str, int]:
    """How many artists each reason applies to, an artist counting under every one.

    The balance counts a dropped artist once, under its first reason; these
    counts overlap (an artist without biography nor tags is in both), so they
    can be checked against what a dataset is known to lack.
    """
    artist = pd.Series(known, index=known)
    applies = {"without_usable_song": int((~artist.isin(candidates)).sum())}
    if ingestion.get("require_biography", True):
        biography = artist.map(biographies.set_index("artist_id")["biography"]).fillna("")
        short = biography.str.len() < int(ingestion.get("min_biography_chars", 1))
        applies["without_biography"] = int(short.sum())
    if ingestion.get("require_tags", True):
        applies["without_tags"] = int((~artist.isin(tags["artist_id"])).sum())
    return applies


def _user_balance(triplets: dict, dropped_songs: dict[str, pd.Index]) -> dict[str, Any]:
    """Users of the valid triplet lines: kept, or dropped by why their songs were.

    A user is kept when one of its plays is of a kept song (as in
    :func:`build_play_matrices`). A dropped user is counted under
    ``only_plays_of_songs_<reason>`` when every song it played was dropped for
    that reason, else under ``..._dropped_for_several_reasons``. A user whose
    every line is invalid is not among them: the triplet report counts those
    (``users_only_in_invalid_lines``) and :func:`assemble_report` adds them.
    """
    reasons = list(dropped_songs)
    reason_of = pd.concat(
        [
            pd.Series(code, index=ids, dtype=np.int8)
            for code, ids in enumerate(dropped_songs.values(), start=1)
        ]
    )
    # 0 for kept songs; a song id is dropped for one reason only, so the index is unique
    song_reason = reason_of.reindex(triplets["song_ids"]).fillna(0).to_numpy(np.int8)
    line_reason = song_reason[triplets["song"]]
    user = triplets["user"]
    kept = np.zeros(len(triplets["user_ids"]), dtype=bool)
    kept[user[line_reason == 0]] = True
    lost = ~kept[user]
    # distinct (user, reason) pairs of the dropped users; reasons fit in 3 bits
    pairs = np.unique(user[lost].astype(np.int64) * 8 + line_reason[lost])
    _, first = np.unique(pairs >> 3, return_index=True)
    n_reasons = np.diff(np.append(first, len(pairs)))
    single = np.bincount(pairs[first][n_reasons == 1] & 7, minlength=len(reasons) + 1)
    dropped = {
        f"only_plays_of_songs_{reason}": int(single[code])
        for code, reason in enumerate(reasons, 1)
        if reason != "without_plays"  # a played song is never dropped for having no plays
    }
    dropped["only_plays_of_songs_dropped_for_several_reasons"] = int((n_reasons > 1).sum())
    return _entity(len(kept), int(kept.sum()), dropped)


def _split_artists(n_artists: int, split: dict, seed: int) -> np.ndarray:
    """Seeded 80/10/10 (configurable) assignment of sorted artists to splits."""
    fractions = np.array(
        [
            float(split.get(name, default))
            for name, default in zip(SPLITS, (0.8, 0.1, 0.1), strict=True)
        ]
    )
    if fractions.min() < 0 or not np.isclose(fractions.sum(), 1.0):
        raise ValueError(f"split fractions must be non-negative and sum to 1, got {split}")
    bounds = np.round(np.cumsum(fractions) * n_artists).astype(int)
    labels = np.empty(n_artists, dtype=object)
    permutation = np.random.default_rng(seed).permutation(n_artists)
    labels[permutation[: bounds[0]]] = "train"
    labels[permutation[bounds[0] : bounds[1]]] = "val"
    labels[permutation[bounds[1] :]] = "test"
    return labels


def _ordered(frame: pd.DataFrame, key: str, order: dict) -> pd.DataFrame:
    """Sort by split (train, val, test) then id; ``item_idx`` is the row number."""
    frame = frame.assign(_order=frame["split"].map(order)).sort_values(["_order", key])
    frame = frame.drop(columns="_order").reset_index(drop=True)
    frame["item_idx"] = np.arange(len(frame), dtype=np.int64)
    return frame


def _check_split_sizes(report: dict, minimum: int) -> None:
    for level in ("artists_per_split", "songs_per_split"):
        short = {k: v for k, v in report[level].items() if v < minimum}
        if short:
            raise IngestionError(
                f"After cleaning, {level.replace('_', ' ')} {report[level]} leaves {short} below "
                f"the minimum of {minimum}: the dataset cannot support a train/val/test run. "
                f"Dropped: {report['dropped']}"
            )


def build_play_matrices(
    triplets: dict, songs: pd.DataFrame, artists: pd.DataFrame
) -> tuple[pd.DataFrame, Any, Any, dict]:
    """Users × songs and users × artists play-count matrices over all splits.

    Duplicate triplets are summed. ``R_ua`` is the sum of the user's plays of
    the artist's songs (docs/architecture.md). Users with no remaining play are dropped.
    """
    import scipy.sparse as sp

    song_position = pd.Index(songs["song_id"]).get_indexer(triplets["song_ids"])
    item = song_position[triplets["song"]]
    kept = item >= 0
    users_used, user_codes = np.unique(triplets["user"][kept], return_inverse=True)
    user_ids = triplets["user_ids"][users_used]
    order = np.argsort(user_ids.astype(str), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    rows = rank[user_codes]
    song_plays = sp.csr_matrix(
        (triplets["plays"][kept].astype(np.float32), (rows, item[kept])),
        shape=(len(user_ids), len(songs)),
    )
    song_plays.sum_duplicates()
    duplicates = int(kept.sum() - song_plays.nnz)
    artist_position = pd.Index(artists["artist_id"]).get_indexer(songs["artist_id"])
    song_to_artist = sp.csr_matrix(
        (np.ones(len(songs), np.float32), (np.arange(len(songs)), artist_position)),
        shape=(len(songs), len(artists)),
    )
    artist_plays = (song_plays @ song_to_artist).tocsr()
    users = pd.DataFrame(
        {"user_id": user_ids[order].astype(str), "user_idx": np.arange(len(order))}
    )
    split = songs["split"].to_numpy()
    plays_per_split = {s: float(song_plays[:, split == s].sum()) for s in SPLITS}
    report = {
        "users": int(len(users)),
        "song_matrix": {"shape": list(song_plays.shape), "nnz": int(song_plays.nnz)},
        "artist_matrix": {"shape": list(artist_plays.shape), "nnz": int(artist_plays.nnz)},
        "plays_per_split": plays_per_split,
        "dropped": {
            "triplets_of_unused_songs": int((~kept).sum()),
            "duplicate_triplets_summed": duplicates,
            # users of valid lines none of whose plays is of a kept song
            "users_without_plays_of_kept_songs": len(triplets["user_ids"]) - len(users),
        },
    }
    logger.info(
        "Play matrices: %d users × %d songs (%d non-zeros), × %d artists; %d duplicate triplets "
        "summed; %d users dropped (none of their plays is of a kept song)",
        len(users),
        len(songs),
        song_plays.nnz,
        len(artists),
        duplicates,
        report["dropped"]["users_without_plays_of_kept_songs"],
    )
    empty = [s for s in SPLITS if plays_per_split[s] == 0]
    if empty:
        raise IngestionError(f"No plays left for the {empty} split(s): {report}")
    return users, song_plays, artist_plays, report


def assemble_report(
    triplets: dict, tracks: dict, biographies: dict, tags: dict, catalogue: dict, matrices: dict
) -> dict:
    """One JSON report of what was read, kept and dropped, by reason.

    Besides each step's report, ``balance`` accounts for every track, song,
    artist and user: ``read = kept + sum(dropped)``, each dropped record counted
    once, under the first reason that applies in the order of
    ``docs/ingestion.md`` (``artists.reasons_that_apply`` counts every reason
    that applies, so its counts overlap).
    """
    catalogue = dict(catalogue)
    partial = catalogue.pop("balance", None)
    report = {
        "triplets": triplets,
        "track_metadata": tracks,
        "biographies": biographies,
        "tags": tags,
        "catalogue": catalogue,
        "play_matrices": matrices,
    }
    if partial is not None:
        report["balance"] = _balance(partial, triplets, tracks, matrices)
    return report


BALANCE_NOTE = (
    "read = kept + sum(dropped) for each entity; a dropped record is counted once, under the "
    "first reason that applies, in the order listed (docs/ingestion.md). "
    "artists.reasons_that_apply counts every reason that applies to an artist: those counts "
    "overlap."
)


def _balance(partial: dict, triplets: dict, tracks: dict, matrices: dict) -> dict[str, Any]:
    """Complete the catalogue's per-entity balance with the reading steps' drops.

    The metadata step's dropped rows (tracks, and artists named only by them)
    and the users named only by dropped triplet lines are added to what the
    catalogue counted.

    ``balanced`` says whether ``read == kept + sum(dropped)``; for users it also
    needs the catalogue and the play matrices to agree on who is kept. An
    unbalanced entity is logged as an error (a bug of ours, not of the data).
    """
    track_drops = tracks.get("dropped", {})
    artists = partial["artists"]
    balance: dict[str, Any] = {
        "note": BALANCE_NOTE,
        "tracks": _entity(
            tracks["tracks_read"],
            partial["tracks"]["kept"],
            {
                "missing_ids": track_drops.get("missing_ids", 0),
                "duplicate_track_id": track_drops.get("duplicate_track_id", 0),
                **partial["tracks"]["dropped"],
            },
        ),
        "songs": dict(partial["songs"]),
        "artists": {
            **artists,
            **_entity(
                artists["read"] + tracks.get("artists_only_in_dropped_rows", 0),
                artists["kept"],
                {
                    "only_in_dropped_track_rows": tracks.get("artists_only_in_dropped_rows", 0),
                    **artists["dropped"],
                },
            ),
            "reasons_that_apply": {
                "only_in_dropped_track_rows": tracks.get("artists_only_in_dropped_rows", 0),
                **artists["reasons_that_apply"],
            },
        },
        "users": _entity(
            partial["users"]["read"] + triplets.get("users_only_in_invalid_lines", 0),
            partial["users"]["kept"],
            {
                "users_only_in_invalid_lines": triplets.get("users_only_in_invalid_lines", 0),
                **partial["users"]["dropped"],
            },
        ),
    }
    for entity in ("tracks", "songs", "artists", "users"):
        counts = balance[entity]
        counts["balanced"] = counts["read"] == counts["kept"] + sum(counts["dropped"].values())
    if balance["users"]["kept"] != matrices["users"]:
        balance["users"]["balanced"] = False
        logger.error(
            "Ingestion balance: the catalogue keeps %d users, the play matrices %d",
            balance["users"]["kept"],
            matrices["users"],
        )
    for entity in ("tracks", "songs", "artists", "users"):
        counts = balance[entity]
        dropped = {k: v for k, v in counts["dropped"].items() if v}
        log = logger.info if counts["balanced"] else logger.error
        log(
            "Ingestion balance, %s: %d read = %d kept + %d dropped %s%s",
            entity,
            counts["read"],
            counts["kept"],
            sum(dropped.values()),
            dropped or "",
            "" if counts["balanced"] else ": does not add up (an ingestion bug)",
        )
    return balance


def play_triplets_table(plays: Any) -> pd.DataFrame:
    """A play matrix as ``user_idx, item_idx, plays`` rows (row-major order): Spark's input.

    Written only when ``factorization.backend`` is ``spark``; the Spark backend
    reads it as partitioned Parquet instead of the ``.npz`` matrix.
    """
    coo = plays.tocsr().tocoo()
    return pd.DataFrame(
        {
            "user_idx": coo.row.astype(np.int32),
            "item_idx": coo.col.astype(np.int32),
            "plays": coo.data.astype(np.float32),
        }
    )
