"""One record must never take a run down (issue 13): hostile and dirty raw files.

Every test writes real files and runs the ingestion readers on them; the log
tests put Kedro's own rich handler (markup on, as ``kedro run`` has it) on the
root logger, so a message that quotes ``[/x]`` unescaped raises as it would in
a run.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from coldstart.pipelines.ingestion import nodes
from coldstart.pipelines.ingestion.nodes import IngestionError

BOM = b"\xef\xbb\xbf"
HOSTILE = "[/x]"  # a closing tag with nothing to close: rich markup raises on it
SONGS_TABLE = (
    "CREATE TABLE songs (track_id TEXT, title TEXT, song_id TEXT, release TEXT, artist_id TEXT, "
    "artist_mbid TEXT, artist_name TEXT, duration REAL, artist_familiarity REAL, "
    "artist_hotttnesss REAL, year INT, track_7digitalid INT, shs_perf INT, shs_work INT)"
)


def _songs_db(path: Path, rows: list[tuple]) -> Path:
    """An MSD-style ``songs`` table; ``rows`` are (track, song, artist, name), bytes kept as such."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute(SONGS_TABLE)
        for track, song, artist, name in rows:
            # CAST keeps the bytes of a blob as TEXT, valid UTF-8 or not (as a dirty dump has)
            db.execute(
                "INSERT INTO songs VALUES (CAST(? AS TEXT), 't', CAST(? AS TEXT), 'r', "
                "CAST(? AS TEXT), '', CAST(? AS TEXT), 30.0, 0.5, 0.5, 2000, 0, 0, 0)",
                tuple(
                    v if isinstance(v, bytes) else v.encode() for v in (track, song, artist, name)
                ),
            )
    db.close()
    return path


# --------------------------------------------------------------------------- log markup


def test_markup_in_every_raw_file_is_logged_not_interpreted(tmp_path: Path, rich_log) -> None:
    root = tmp_path / "raw[" / "x]"  # paths are quoted in the log too: .../raw[/x]/...
    root.mkdir(parents=True)
    triplets = root / "train_triplets.txt"
    triplets.write_text(f"u1\ts1\t1\nu{HOSTILE}\ts1\tbad{HOSTILE}\n{HOSTILE}\n")
    _, report = nodes.read_play_triplets(triplets, {})
    assert report["dropped"] == {"malformed_line": 1, "non_integer_count": 1}

    database = _songs_db(root / "track_metadata.db", [("TR1", "S1", "AR1", f"name {HOSTILE}")])
    tracks, _ = nodes.read_track_metadata(database, root / "audio")  # the audio folder is missing
    assert tracks["artist_name"].tolist() == [f"name {HOSTILE}"]

    bios = root / "artist_biographies.jsonl"
    good = {"artist_id": "AR1", "artist_name": "A", "biography": f"bio {HOSTILE}"}
    bios.write_text(
        json.dumps(good) + f"\n{{not json {HOSTILE}\n" + json.dumps({**good, "biography": ""})
    )
    frame, report = nodes.read_biographies(bios, {})
    assert report["issues"] == {"malformed_json": 1, "duplicate_artist_id": 1}

    tags = root / "artist_tags.tsv"
    tags.write_text(
        f"artist_id\ttag\tweight\nAR1\t{HOSTILE}\t5\nAR1\t{HOSTILE}\nAR1\tx\t{HOSTILE}\n"
    )
    frame, report = nodes.read_tags(tags)
    assert frame["tag"].tolist() == [HOSTILE]
    assert report["dropped"] == {"malformed_line": 1, "invalid_weight": 1}


# --------------------------------------------------------------------------- tags


def _tags(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "artist_tags.tsv"
    path.write_bytes(content)
    return path


def test_tags_that_are_not_utf8_are_repaired_and_counted(tmp_path: Path, caplog) -> None:
    path = _tags(tmp_path, b"artist_id\ttag\tweight\nAR1\tr\xffck\t5\nAR1\tjazz\t7\n")
    frame, report = nodes.read_tags(path)
    assert sorted(frame["tag"]) == ["jazz", "r\ufffdck"]
    assert report["repaired"] == {"repaired_non_utf8": 1}
    assert f"{path}:2" in caplog.text  # the file and the line


def test_tags_without_header_are_read_and_said(tmp_path: Path, caplog) -> None:
    frame, report = nodes.read_tags(_tags(tmp_path, b"AR1\trock\t5\nAR2\tjazz\t6\n"))
    assert frame["artist_id"].tolist() == ["AR1", "AR2"] and report["header"] is False
    assert "not the header" in caplog.text


@pytest.mark.parametrize(
    "content", [b"", b"\n\n", b"artist_id,tag,weight\nAR1,rock,5\nAR2,jazz,6\n"], ids=str
)
def test_tags_with_nothing_usable_stop_naming_the_file(tmp_path: Path, content: bytes) -> None:
    path = _tags(tmp_path, content)
    with pytest.raises(IngestionError, match="no usable") as stop:
        nodes.read_tags(path)
    assert str(path) in str(stop.value)
    # without the tag requirement nothing is missing: the run goes on
    frame, _ = nodes.read_tags(path, {"require_tags": False})
    assert frame.empty


def test_tag_lines_are_counted_by_reason_with_their_line(tmp_path: Path, caplog) -> None:
    path = _tags(
        tmp_path,
        b"weight\tartist_id\ttag\n5\tAR1\trock\n5\tAR1\n500\tAR1\tjazz\n5\t \tpop\n9\tAR1\tRock\n",
    )
    frame, report = nodes.read_tags(path)
    assert frame.to_dict("records") == [{"artist_id": "AR1", "tag": "rock", "weight": 9.0}]
    assert report["dropped"] == {
        "malformed_line": 1,
        "invalid_weight": 1,
        "empty_field": 1,
        "duplicate_tag": 1,
    }
    assert f"{path}:3" in caplog.text and f"{path}:4" in caplog.text


# --------------------------------------------------------------------------- byte order marks


def test_bom_does_not_make_a_phantom_user(tmp_path: Path) -> None:
    path = tmp_path / "train_triplets.txt"
    path.write_bytes(BOM + b"u1\ts1\t1\nu1\ts2\t2\n")
    for block_size_mb in (1e-5, 32):  # the first block starts after the mark
        triplets, report = nodes.read_play_triplets(path, {"block_size_mb": block_size_mb})
        assert list(triplets["user_ids"]) == ["u1"] and report["lines_kept"] == 2


def test_bom_does_not_drop_the_first_biography_or_the_tag_header(tmp_path: Path) -> None:
    bios = tmp_path / "artist_biographies.jsonl"
    record = {"artist_id": "AR1", "artist_name": "A", "biography": "plays"}
    bios.write_bytes(BOM + json.dumps(record).encode() + b"\n")
    frame, report = nodes.read_biographies(bios, {})
    assert frame["artist_id"].tolist() == ["AR1"] and report["issues"] == {}

    frame, report = nodes.read_tags(_tags(tmp_path, BOM + b"artist_id\ttag\tweight\nAR1\tx\t1\n"))
    assert frame["artist_id"].tolist() == ["AR1"] and "header" not in report


# --------------------------------------------------------------------------- ids not UTF-8


def test_distinct_invalid_utf8_user_ids_stay_distinct(tmp_path: Path) -> None:
    path = tmp_path / "train_triplets.txt"
    path.write_bytes(b"caf\xe9\ts1\t1\ncaf\xe8\ts1\t2\nbob\xff\ts1\t3\nok\ts1\t4\n")
    triplets, report = nodes.read_play_triplets(path, {})
    users = list(triplets["user_ids"])
    assert len(users) == len(set(users)) == 4
    assert "bob\ufffd" in users  # alone: repaired as text is
    assert {"caf\\xe9", "caf\\xe8"} <= set(users)  # would be one id: kept apart
    assert report["non_utf8_ids"] == {"users": 3, "songs": 0}


def test_distinct_invalid_utf8_artist_ids_stay_distinct_in_every_file(tmp_path: Path) -> None:
    bios = tmp_path / "artist_biographies.jsonl"
    bios.write_bytes(
        b'{"artist_id": "AR\xe9", "biography": "one"}\n{"artist_id": "AR\xe8", "biography": "two"}\n'
    )
    frame, _ = nodes.read_biographies(bios, {})
    assert len(set(frame["artist_id"])) == 2 and sorted(frame["biography"]) == ["one", "two"]

    frame, _ = nodes.read_tags(
        _tags(tmp_path, b"artist_id\ttag\tweight\nAR\xe9\tx\t1\nAR\xe8\tx\t2\n")
    )
    assert len(set(frame["artist_id"])) == 2

    database = _songs_db(
        tmp_path / "track_metadata.db",
        [(b"TR1", b"S1", b"AR\xe9", b"n\xff"), (b"TR2", b"S2", b"AR\xe8", b"m")],
    )
    tracks, report = nodes.read_track_metadata(database, tmp_path / "audio")
    assert len(set(tracks["artist_id"])) == 2 and "n\ufffd" in set(tracks["artist_name"])
    assert report["non_utf8_ids"] == {"artist_id": 2}
    assert report["repaired_non_utf8_artist_names"] == 1


# --------------------------------------------------------------------------- biographies


def test_duplicate_biography_lines_keep_the_best_record(tmp_path: Path) -> None:
    bios = tmp_path / "artist_biographies.jsonl"
    lines = [
        {"artist_id": "AR1", "artist_name": "A", "biography": "A long and useful biography."},
        {"artist_id": "AR1", "artist_name": "A", "biography": ""},
        {"artist_id": "AR1", "artist_name": "A"},
        {"artist_id": "AR2", "artist_name": "B", "biography": ""},
        {"artist_id": "AR2", "artist_name": "B", "biography": "Later, but not empty."},
        {"artist_id": "AR3", "artist_name": "C", "biography": 42},
        {"artist_id": "AR3", "artist_name": "C", "biography": ["a", "list"]},
    ]
    bios.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    frame, report = nodes.read_biographies(bios, {})
    by_id = frame.set_index("artist_id")["biography"].to_dict()
    assert by_id == {"AR1": "A long and useful biography.", "AR2": "Later, but not empty."}
    assert report["issues"] == {"duplicate_artist_id": 3, "non_string_biography": 2}


def test_biographies_with_nothing_usable_stop_naming_the_file(tmp_path: Path) -> None:
    bios = tmp_path / "artist_biographies.jsonl"
    bios.write_text('{"name": "no id"}\n[1, 2]\n')
    with pytest.raises(IngestionError, match="no usable line") as stop:
        nodes.read_biographies(bios, {})
    assert str(bios) in str(stop.value)


# --------------------------------------------------------------------------- metadata


def _not_sqlite(path: Path) -> None:
    path.write_text("track_id,song_id\nTR1,S1\n")


def _no_table(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE tracks (track_id TEXT)")
    db.close()


def _no_column(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE songs (track_id TEXT, song_id TEXT, artist_id TEXT)")
    db.close()


def _truncated(path: Path) -> None:
    _songs_db(path, [(f"TR{i}", f"S{i}", f"AR{i}", "n" * 200) for i in range(2000)])
    path.write_bytes(path.read_bytes()[:5000])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize("damage", [_not_sqlite, _no_table, _no_column, _truncated, _empty])
def test_unreadable_metadata_stops_naming_the_file(tmp_path: Path, damage) -> None:
    path = tmp_path / "track_metadata.db"
    damage(path)
    with pytest.raises(IngestionError) as stop:
        nodes.read_track_metadata(path, tmp_path / "audio")
    assert str(path) in str(stop.value)


@pytest.mark.parametrize("folder", ["a#b", "a?b", "a%41b", "q?mode=rwc#x"])
def test_metadata_path_with_uri_characters_opens_that_file(tmp_path: Path, folder: str) -> None:
    root = tmp_path / folder
    database = _songs_db(root / "track_metadata.db", [("TR1", "S1", "AR1", "n")])
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    tracks, _ = nodes.read_track_metadata(database, root / "audio")
    assert tracks["track_id"].tolist() == ["TR1"]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # no new file

    missing = root / "nothing.db"
    with pytest.raises(IngestionError, match="no such file"):
        nodes.read_track_metadata(missing, root / "audio")
    assert not missing.exists()
