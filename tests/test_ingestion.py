"""Ingestion of a tiny hand-made dirty dataset: every drop is counted by reason."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coldstart.pipelines.ingestion import nodes

U1, U2, U3 = "a" * 40, "b" * 40, "c" * 40
ARTISTS = [f"AR{i:016d}" for i in range(10)]
SONGS = [f"SO{i:016d}" for i in range(20)]
TRACKS = [f"TR{i:016d}" for i in range(20)]
INGESTION = {
    "split": {"train": 0.6, "val": 0.2, "test": 0.2},
    "require_biography": True,
    "min_biography_chars": 10,
    "require_tags": True,
    "max_biography_chars": 500,
    "min_items_per_split": 1,
    "block_size_mb": 1,
}


@pytest.fixture
def dirty_dataset(tmp_path: Path) -> Path:
    """10 artists with 2 songs each; artist 8 has no biography, artist 9 no tags."""
    root = tmp_path / "raw"
    (root / "audio").mkdir(parents=True)
    lines = []
    for i, song in enumerate(SONGS):
        lines.append(f"{U1}\t{song}\t{i + 1}")
        lines.append(f"{U2}\t{song}\t2")
    lines += [
        f"{U1}\t{SONGS[0]}\t3",  # duplicate of an existing pair: summed
        f"{U3}\t{SONGS[1]}",  # malformed: two fields
        f"{U3}\t{SONGS[1]}\t1\textra",  # malformed: four fields
        f"{U3}\t{SONGS[2]}\tmany",  # non-integer count
        f"{U3}\t{SONGS[3]}\t0",  # non-positive
        f"{U3}\t{SONGS[4]}\t-2",  # non-positive
        f"{U3}\tSO_NOT_IN_METADATA\t5",  # song without metadata
    ]
    (root / "train_triplets.txt").write_text("\n".join(lines) + "\n")

    with sqlite3.connect(root / "track_metadata.db") as db:
        db.execute(
            "CREATE TABLE songs (track_id TEXT, title TEXT, song_id TEXT, release TEXT, "
            "artist_id TEXT, artist_mbid TEXT, artist_name TEXT, duration REAL, "
            "artist_familiarity REAL, artist_hotttnesss REAL, year INT, track_7digitalid INT, "
            "shs_perf INT, shs_work INT)"
        )
        for i, (track, song) in enumerate(zip(TRACKS, SONGS, strict=True)):
            artist = ARTISTS[i // 2]
            db.execute(
                "INSERT INTO songs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    track,
                    "t",
                    song,
                    "r",
                    artist,
                    "",
                    f"Artist {i // 2}",
                    30.0,
                    0.5,
                    0.5,
                    2000,
                    0,
                    0,
                    0,
                ),
            )
        # a second track of song 0 without audio: the song keeps its track with audio
        db.execute(
            "INSERT INTO songs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                "TRZZZZZZZZZZZZZZZZ",
                "t",
                SONGS[0],
                "r",
                ARTISTS[0],
                "",
                "Artist 0",
                30.0,
                0.5,
                0.5,
                2000,
                0,
                0,
                0,
            ),
        )
    for track in TRACKS[:-1]:  # the last track has no audio: its song is dropped
        (root / "audio" / f"{track}.mp3").write_bytes(b"not decoded by ingestion")

    with open(root / "artist_biographies.jsonl", "wb") as stream:
        for i, artist in enumerate(ARTISTS):
            bio = "" if i == 8 else f"Artist {i} plays music from the synthetic world."
            stream.write(
                json.dumps(
                    {"artist_id": artist, "artist_name": f"Artist {i}", "biography": bio}
                ).encode()
                + b"\n"
            )
        stream.write(b"{not json at all\n")
        stream.write(
            json.dumps(
                {"artist_id": "ARBADBYTES00000000", "artist_name": "x", "biography": "caf"}
            ).encode()[:-3]
            + b'\xe9 long enough text"}\n'
        )
    tag_lines = ["artist_id\ttag\tweight"]
    for i, artist in enumerate(ARTISTS[:9]):
        tag_lines += [f"{artist}\trock\t100", f"{artist}\tseen live\t{10 + i}"]
    tag_lines += [f"{ARTISTS[0]}\tjazz\tlots", f"{ARTISTS[0]}\tbroken line"]
    (root / "artist_tags.tsv").write_text("\n".join(tag_lines) + "\n")
    return root


def test_dirty_dataset_report_counts(dirty_dataset: Path) -> None:
    triplets, triplet_report = nodes.read_play_triplets(
        dirty_dataset / "train_triplets.txt", INGESTION
    )
    assert triplet_report["lines_read"] == 47
    assert triplet_report["dropped"] == {
        "malformed_line": 2,
        "non_integer_count": 1,
        "non_positive_count": 2,
    }
    assert triplet_report["lines_kept"] == 42
    assert triplet_report["users_only_in_invalid_lines"] == 0  # U3 has a valid line

    tracks, track_report = nodes.read_track_metadata(
        dirty_dataset / "track_metadata.db", dirty_dataset / "audio"
    )
    assert track_report["tracks_read"] == 21
    assert track_report["tracks_with_audio"] == 19

    bios, bio_report = nodes.read_biographies(dirty_dataset / "artist_biographies.jsonl", INGESTION)
    assert bio_report["issues"]["malformed_json"] == 1
    assert bio_report["issues"]["repaired_non_utf8"] == 1
    assert "\ufffd" in bios.set_index("artist_id").loc["ARBADBYTES00000000", "biography"]

    tags, tag_report = nodes.read_tags(dirty_dataset / "artist_tags.tsv")
    assert tag_report["dropped"] == {"malformed_line": 1, "invalid_weight": 1}
    assert len(tags) == 18

    artists, artist_tags, songs, catalogue = nodes.select_items(
        tracks, bios, tags, triplets, INGESTION, seed=3
    )
    dropped = catalogue["dropped"]
    assert dropped["played_songs_without_metadata"] == 1
    assert dropped["songs_without_audio"] == 1
    assert dropped["artists_without_biography"] == 1
    assert dropped["artists_without_tags"] == 1
    # artist 9 lost its tags and its second song has no audio; artist 8 lost its biography
    assert sorted(artists["artist_id"]) == ARTISTS[:8]
    assert len(songs) == 16
    assert songs.loc[songs["song_id"] == SONGS[0], "track_id"].item() == TRACKS[0]

    users, song_plays, artist_plays, matrices = nodes.build_play_matrices(triplets, songs, artists)
    assert matrices["dropped"]["duplicate_triplets_summed"] == 1
    assert list(users["user_id"]) == [U1, U2]  # U3's only valid play was of an unknown song
    u1_song0 = song_plays[0, songs.index[songs["song_id"] == SONGS[0]][0]]
    assert u1_song0 == 1 + 3
    # R_ua is the sum over the artist's songs
    np.testing.assert_allclose(
        np.asarray(artist_plays.sum(axis=1)).ravel(), np.asarray(song_plays.sum(axis=1)).ravel()
    )


def test_split_is_artist_disjoint_seeded_and_ordered(dirty_dataset: Path) -> None:
    triplets, _ = nodes.read_play_triplets(dirty_dataset / "train_triplets.txt", INGESTION)
    tracks, _ = nodes.read_track_metadata(
        dirty_dataset / "track_metadata.db", dirty_dataset / "audio"
    )
    bios, _ = nodes.read_biographies(dirty_dataset / "artist_biographies.jsonl", INGESTION)
    tags, _ = nodes.read_tags(dirty_dataset / "artist_tags.tsv")
    first = nodes.select_items(tracks, bios, tags, triplets, INGESTION, seed=3)
    again = nodes.select_items(tracks, bios, tags, triplets, INGESTION, seed=3)
    other = nodes.select_items(tracks, bios, tags, triplets, INGESTION, seed=4)
    artists, _, songs, _ = first
    pd.testing.assert_frame_equal(artists, again[0])
    assert not artists["split"].equals(other[0]["split"]) or not artists["artist_id"].equals(
        other[0]["artist_id"]
    )
    split_of_artist = artists.set_index("artist_id")["split"]
    assert (songs["split"] == songs["artist_id"].map(split_of_artist)).all()
    order = {"train": 0, "val": 1, "test": 2}
    assert songs["split"].map(order).is_monotonic_increasing
    assert (songs["item_idx"] == np.arange(len(songs))).all()
    assert (artists["item_idx"] == np.arange(len(artists))).all()


def test_run_stops_when_nothing_usable_is_left(tmp_path: Path) -> None:
    path = tmp_path / "train_triplets.txt"
    path.write_text("only one field\nanother bad line\n")
    with pytest.raises(nodes.IngestionError, match="no valid"):
        nodes.read_play_triplets(path, INGESTION)


def test_empty_split_stops_with_a_clear_message(dirty_dataset: Path) -> None:
    triplets, _ = nodes.read_play_triplets(dirty_dataset / "train_triplets.txt", INGESTION)
    tracks, _ = nodes.read_track_metadata(
        dirty_dataset / "track_metadata.db", dirty_dataset / "audio"
    )
    bios, _ = nodes.read_biographies(dirty_dataset / "artist_biographies.jsonl", INGESTION)
    tags, _ = nodes.read_tags(dirty_dataset / "artist_tags.tsv")
    params = {**INGESTION, "min_items_per_split": 5}
    with pytest.raises(nodes.IngestionError, match="cannot support"):
        nodes.select_items(tracks, bios, tags, triplets, params, seed=3)


# ---- every record is accounted for

U4, U5, U6, U7, U8, U9 = (c * 40 for c in "defghi")


def _insert_track(db: sqlite3.Connection, track: str, song: str, artist: str) -> None:
    """One row of the MSD ``songs`` table (only the ids and the artist name matter)."""
    db.execute(
        "INSERT INTO songs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (track, "t", song, "r", artist, "", f"Name of {artist}", 30.0, 0.5, 0.5, 2000, 0, 0, 0),
    )


@pytest.fixture
def dirtier_dataset(dirty_dataset: Path) -> Path:
    """The dirty dataset plus one record of every way a track, song, artist or user is lost.

    * track rows: one without a song id (its artist ARGHOST is in no other row), one
      repeating TR0's track id; a second track with audio of song 1;
    * AR10: its one song has no audio file (U4 plays only it);
    * AR11: its one song has audio but no plays, and it has neither biography nor tags;
    * AR12: a song with audio and plays (U5 plays only it), neither biography nor tags;
    * SO_CONF: tracks with audio by AR13 and AR0; the chosen one is AR13's, who has a
      biography and tags and no other song (U6 plays only it);
    * U7 plays the song without metadata and AR12's song; U8 has only an invalid line,
      U9 only invalid lines of two kinds; a line without a tab names no user.
    """
    root = dirty_dataset
    with sqlite3.connect(root / "track_metadata.db") as db:
        _insert_track(db, "TRMISSINGSONGID", "", "ARGHOST")
        _insert_track(db, TRACKS[0], "SO_DUPLICATE_ROW", ARTISTS[0])
        _insert_track(db, "TRZY_SECOND_OF_SONG1", SONGS[1], ARTISTS[0])  # song 1 is AR0's
        for artist in ("AR10", "AR11", "AR12"):
            _insert_track(db, f"TR_{artist}", f"SO_{artist}", artist)
        _insert_track(db, "TR_CONF_A", "SO_CONF", "AR13")
        _insert_track(db, "TR_CONF_B", "SO_CONF", ARTISTS[0])
    for track in ("TRZY_SECOND_OF_SONG1", "TR_AR11", "TR_AR12", "TR_CONF_A", "TR_CONF_B"):
        (root / "audio" / f"{track}.mp3").write_bytes(b"not decoded by ingestion")
    with open(root / "train_triplets.txt", "a") as stream:
        stream.write(
            f"{U4}\tSO_AR10\t1\n{U5}\tSO_AR12\t2\n{U6}\tSO_CONF\t3\n"
            f"{U7}\tSO_NOT_IN_METADATA\t1\n{U7}\tSO_AR12\t1\n{U8}\t{SONGS[0]}\t0\n"
            f"{U9}\t{SONGS[0]}\n {U9} \t{SONGS[1]}\tlots\n{'j' * 40} {SONGS[0]} 1\n"
        )
    with open(root / "artist_biographies.jsonl", "a") as stream:
        for artist in ("AR10", "AR13"):
            bio = {"artist_id": artist, "artist_name": artist, "biography": "a long biography"}
            stream.write(json.dumps(bio) + "\n")
    with open(root / "artist_tags.tsv", "a") as stream:
        stream.write("AR10\trock\t50\nAR13\tpop\t50\n")
    return root


def _ingest(
    root: Path, ingestion: dict = INGESTION
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """Every ingestion node on ``root``; returns artists, songs, users and the report."""
    triplets, triplet_report = nodes.read_play_triplets(root / "train_triplets.txt", ingestion)
    tracks, track_report = nodes.read_track_metadata(root / "track_metadata.db", root / "audio")
    bios, bio_report = nodes.read_biographies(root / "artist_biographies.jsonl", ingestion)
    tags, tag_report = nodes.read_tags(root / "artist_tags.tsv")
    artists, _, songs, catalogue = nodes.select_items(tracks, bios, tags, triplets, ingestion, 3)
    users, _, _, matrices = nodes.build_play_matrices(triplets, songs, artists)
    report = nodes.assemble_report(
        triplet_report, track_report, bio_report, tag_report, catalogue, matrices
    )
    return artists, songs, users, report


def test_every_track_song_artist_and_user_is_accounted_for(dirtier_dataset: Path) -> None:
    artists, songs, users, report = _ingest(dirtier_dataset)
    balance = report["balance"]
    assert "overlap" in balance["note"]
    assert balance["tracks"] == {
        "read": 29,
        "kept": 16,
        "dropped": {
            "missing_ids": 1,
            "duplicate_track_id": 1,
            "without_audio": 3,  # TR19, the second track of song 0, AR10's
            "other_track_chosen_for_song": 2,  # song 1's second track, TR_CONF_B
            "of_dropped_song": 6,  # AR11's, SO_CONF's, AR8's two, AR9's and AR12's
        },
        "balanced": True,
    }
    assert balance["songs"] == {
        "read": 25,  # 24 in the usable metadata rows and the played song without metadata
        "kept": 16,
        "dropped": {
            "without_metadata": 1,
            "without_audio": 2,
            "without_plays": 1,
            "with_conflicting_artists": 1,
            "of_dropped_artists": 4,
        },
        "balanced": True,
    }
    assert balance["artists"] == {
        "read": 15,
        "kept": 9,
        "dropped": {
            "only_in_dropped_track_rows": 1,
            "without_usable_song": 2,
            "without_biography": 2,  # AR8, AR12 (which has no tags either)
            "without_tags": 1,  # AR9
        },
        "without_usable_song_by_cause": {"no_audio": 1, "every_song_dropped": 1},
        # AR11 and AR12 lack both biography and tags: counted under each reason here
        "reasons_that_apply": {
            "only_in_dropped_track_rows": 1,
            "without_usable_song": 2,
            "without_biography": 3,
            "without_tags": 3,
        },
        "kept_without_songs": 1,  # AR13: its only song has tracks under two artists
        "balanced": True,
    }
    assert balance["users"] == {
        "read": 9,
        "kept": 2,
        "dropped": {
            "users_only_in_invalid_lines": 2,  # U8 (a zero count), U9 (two fields, a bad count)
            "only_plays_of_songs_without_metadata": 1,  # U3
            "only_plays_of_songs_without_audio": 1,  # U4
            "only_plays_of_songs_with_conflicting_artists": 1,  # U6
            "only_plays_of_songs_of_dropped_artists": 1,  # U5
            "only_plays_of_songs_dropped_for_several_reasons": 1,  # U7
        },
        "balanced": True,
    }
    assert report["catalogue"]["dropped"]["artists_without_usable_song"] == 2
    assert report["play_matrices"]["dropped"]["users_without_plays_of_kept_songs"] == 5
    assert report["triplets"]["users_only_in_invalid_lines"] == 2
    assert report["triplets"]["dropped"] == {
        "malformed_line": 4,
        "non_integer_count": 2,
        "non_positive_count": 3,
    }
    assert report["track_metadata"]["artists_only_in_dropped_rows"] == 1
    assert report["track_metadata"]["songs_only_in_dropped_rows"] == 1
    assert "balance" not in report["catalogue"]  # moved to the top level, completed
    # the catalogue itself: what the balance says is kept
    assert sorted(artists["artist_id"]) == [*ARTISTS[:8], "AR13"]
    assert sorted(songs["song_id"]) == SONGS[:16]
    assert list(users["user_id"]) == [U1, U2]
    json.dumps(report)  # the report is plain JSON


def test_the_balance_holds_without_the_biography_and_tag_requirements(
    dirtier_dataset: Path,
) -> None:
    params = {**INGESTION, "require_biography": False, "require_tags": False}
    artists, _, _, report = _ingest(dirtier_dataset, params)
    balance = report["balance"]
    assert all(balance[entity]["balanced"] for entity in ("tracks", "songs", "artists", "users"))
    assert set(balance["artists"]["dropped"]) == {
        "only_in_dropped_track_rows",
        "without_usable_song",
    }
    assert "without_biography" not in balance["artists"]["reasons_that_apply"]
    assert len(artists) == balance["artists"]["kept"] == 12


# ---- songs without audio (ingestion.songs_without_audio)


def _read_dirty(root: Path, audio_dir: Path) -> tuple:
    triplets, _ = nodes.read_play_triplets(root / "train_triplets.txt", INGESTION)
    tracks, _ = nodes.read_track_metadata(root / "track_metadata.db", audio_dir)
    bios, _ = nodes.read_biographies(root / "artist_biographies.jsonl", INGESTION)
    tags, _ = nodes.read_tags(root / "artist_tags.tsv")
    return tracks, bios, tags, triplets


def test_keep_leaves_songs_without_audio_in_the_catalogue(dirty_dataset: Path, caplog) -> None:
    tracks, bios, tags, triplets = _read_dirty(dirty_dataset, dirty_dataset / "audio")
    params = {**INGESTION, "require_tags": False}  # artist 9 (whose second song has no audio) stays
    _, _, dropped_songs, _ = nodes.select_items(tracks, bios, tags, triplets, params, seed=3)
    caplog.set_level("INFO")
    keep = {**params, "songs_without_audio": "keep"}
    artists, _, songs, report = nodes.select_items(tracks, bios, tags, triplets, keep, seed=3)
    assert len(songs) == len(dropped_songs) + 1
    silent = songs.set_index("song_id").loc[SONGS[19]]
    assert silent["track_id"] == TRACKS[19] and silent["audio_path"] == ""
    # a song with a track with audio keeps that track, not its audio-less second one
    assert songs.loc[songs["song_id"] == SONGS[0], "track_id"].item() == TRACKS[0]
    assert report["songs_kept_without_audio"] == 1
    assert "songs_without_audio" not in report["dropped"]
    for entity in ("tracks", "songs"):
        counts = report["balance"][entity]
        assert counts["read"] == counts["kept"] + sum(counts["dropped"].values())
    assert "1 of 18 songs have no audio and are kept" in caplog.text
    _, song_plays, artist_plays, _ = nodes.build_play_matrices(triplets, songs, artists)
    assert song_plays.shape[1] == len(songs)  # the artist-level matrix counts its plays too
    np.testing.assert_allclose(artist_plays.sum(), song_plays.sum())


def test_drop_is_the_default_and_other_values_are_refused(dirty_dataset: Path) -> None:
    tracks, bios, tags, triplets = _read_dirty(dirty_dataset, dirty_dataset / "audio")
    default = nodes.select_items(tracks, bios, tags, triplets, INGESTION, seed=3)
    drop = nodes.select_items(
        tracks, bios, tags, triplets, {**INGESTION, "songs_without_audio": "drop"}, seed=3
    )
    pd.testing.assert_frame_equal(default[2], drop[2])
    assert default[3] == drop[3]
    with pytest.raises(ValueError, match="songs_without_audio must be one of"):
        nodes.select_items(
            tracks, bios, tags, triplets, {**INGESTION, "songs_without_audio": "yes"}, seed=3
        )


@pytest.mark.parametrize("audio", ["missing", "empty"])
def test_a_dataset_without_audio_keeps_its_songs_and_says_so(
    dirty_dataset: Path, audio: str, caplog
) -> None:
    import shutil

    shutil.rmtree(dirty_dataset / "audio")
    if audio == "empty":
        (dirty_dataset / "audio").mkdir()
    caplog.set_level("INFO")
    tracks, bios, tags, triplets = _read_dirty(dirty_dataset, dirty_dataset / "audio")
    artists, _, songs, report = nodes.select_items(tracks, bios, tags, triplets, INGESTION, seed=3)
    assert len(songs) == 16 and (songs["audio_path"] == "").all()
    assert "no track has an audio file, so songs are kept without audio" in caplog.text
    assert "synthetic" not in caplog.text and "world" not in caplog.text
    nodes.build_play_matrices(triplets, songs, artists)
