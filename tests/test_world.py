"""Tests of the synthetic world generator (coldstart.world) on the tiny preset.

One tiny world is generated per module (~10-30 s on 2 cores) and shared; the
determinism test generates it once more, sequentially and without new releases, and
compares every byte. The new-releases tests (``releases/``) reuse both.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from coldstart.world import (
    MANIFEST,
    RELEASE_CASES,
    RELEASES_MANIFEST,
    ReleaseConfig,
    WorldConfig,
    WorldConfigMismatchError,
    generate_world,
)
from coldstart.world.genres import GENRES

TINY = {"preset": "tiny", "seed": 7}
HEX40 = re.compile(r"^[0-9a-f]{40}$")
SONG = re.compile(r"^SO[A-Z0-9]{16}$")
TRACK = re.compile(r"^TR[A-Z0-9]{16}$")
ARTIST = re.compile(r"^AR[A-Z0-9]{16}$")
MSD_COLUMNS = [
    "track_id",
    "title",
    "song_id",
    "release",
    "artist_id",
    "artist_mbid",
    "artist_name",
    "duration",
    "artist_familiarity",
    "artist_hotttnesss",
    "year",
    "track_7digitalid",
    "shs_perf",
    "shs_work",
]


def _tsv(path: Path) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    head = lines[0].split("\t")
    return [dict(zip(head, line.split("\t"), strict=True)) for line in lines[1:]]


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("tiny") / "world"
    manifest = generate_world(folder, TINY)
    return folder, manifest


@pytest.fixture(scope="module")
def bare_world(tmp_path_factory) -> tuple[Path, dict]:
    """The same tiny world without releases, generated sequentially."""
    folder = tmp_path_factory.mktemp("tiny_bare") / "world"
    manifest = generate_world(folder, {**TINY, "n_jobs": 1, "releases": False})
    return folder, manifest


@pytest.fixture(scope="module")
def truth(world) -> dict:
    folder, _ = world
    artists = _tsv(folder / "truth" / "artists.tsv")
    songs = _tsv(folder / "truth" / "songs.tsv")
    users = _tsv(folder / "truth" / "users.tsv")
    return {
        "artists": {a["artist_id"]: a for a in artists},
        "songs": {s["song_id"]: s for s in songs},
        "users": {u["user_id"]: u["genres"].split(",") for u in users},
    }


@pytest.fixture(scope="module")
def decoded(world, truth) -> dict[str, tuple[np.ndarray, int, int]]:
    """track_id -> (mono signal, sample rate, channels) for every decodable file."""
    import soundfile as sf

    folder, _ = world
    out = {}
    for path in sorted((folder / "audio").iterdir()):
        try:
            x, sr = sf.read(path, dtype="float32", always_2d=True)
        except Exception:
            continue
        if len(x):
            out[path.stem] = (x.mean(axis=1), sr, x.shape[1])
    return out


# ---------------------------------------------------------------------- config
def test_config_presets_and_overrides():
    tiny = WorldConfig.from_params({"preset": "tiny", "seed": 3, "n_users": 50, "audio": "false"})
    assert (tiny.n_artists, tiny.n_songs, tiny.n_users, tiny.seed) == (60, 300, 50, 3)
    assert tiny.audio is False
    default = WorldConfig.from_params({"preset": "default"})
    assert (default.n_artists, default.n_songs, default.n_users) == (300, 1500, 2000)
    large = WorldConfig.from_params({"preset": "large", "audio": False})
    assert (large.n_artists, large.n_songs, large.n_users) == (3000, 30000, 100000)
    assert "n_jobs" not in tiny.identity() and "seed" in tiny.identity()
    with pytest.raises(ValueError, match="unknown world parameter"):
        WorldConfig.from_params({"preset": "tiny", "n_artist": 10})
    with pytest.raises(ValueError, match="unknown world preset"):
        WorldConfig.from_params({"preset": "huge"})
    with pytest.raises(ValueError, match="n_songs"):
        WorldConfig.from_params({"preset": "tiny", "n_songs": 10})


# ---------------------------------------------------------------------- lifecycle
def test_deterministic_bytes_parallel_and_sequential(world, bare_world):
    """The same world, in parallel with releases and sequentially without: the world's
    own files are byte-identical (releases draw from streams of their own)."""
    folder, manifest = world
    bare, again = bare_world
    assert again == manifest
    assert (folder / "releases").is_dir() and not (bare / "releases").exists()
    first, second = _hashes(folder), _hashes(bare)
    first = {k: v for k, v in first.items() if not k.startswith("releases/")}
    assert first.keys() == second.keys()
    assert any(k.endswith(".mp3") for k in first) and "track_metadata.db" in first
    differing = [k for k in first if first[k] != second[k]]
    assert not differing, f"not byte-identical: {differing[:5]}"


# sha256 of the tiny world's (seed 7) text files as generated by the code before new
# releases existed (commit c0cfe99): drawing releases must never change the world.
# (Audio, SQLite and float-heavy files are left out: their bytes may depend on library
# versions and BLAS; the test above compares those with releases on and off.)
TINY_SHA256_BEFORE_RELEASES = {
    "artist_biographies.jsonl": "5a4e67a69ab533176225e9a6cf63519c7151eb6912c51e03d12f396e1dbc077f",
    "artist_tags.tsv": "d2df4399d2a7fe4f52c4810d2c5382546f60765e0b2b53801679c85de1fef4b6",
}
# The knowledge base is written by pyoxigraph's Turtle serialiser since, laid out
# differently from the hand-written Turtle of that commit: what must not change is its
# triples, so the digest is of the file's triples as sorted N-Triples lines (computed
# from the commit's file, whose bytes hashed to 16ded245...).
TINY_KB_TRIPLES_SHA256 = "ab00ce829b31149a0ab1b1bb780ecbb95a8573035e980f02397fcd0d176300e9"


def _triples_digest(path: Path) -> str:
    import pyoxigraph

    triples = pyoxigraph.parse(path.read_bytes(), format=pyoxigraph.RdfFormat.TURTLE)
    return hashlib.sha256("\n".join(sorted(str(t) for t in triples)).encode()).hexdigest()


def test_world_text_files_unchanged_by_releases(world):
    folder, _ = world
    for name, digest in TINY_SHA256_BEFORE_RELEASES.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    assert _triples_digest(folder / "knowledge_base.ttl") == TINY_KB_TRIPLES_SHA256


def test_manifest_is_complete_and_hashes_match(world):
    folder, manifest = world
    assert (folder / MANIFEST).exists() and not (folder / ".world_incomplete").exists()
    assert json.loads((folder / MANIFEST).read_text(encoding="utf-8")) == manifest
    assert manifest["seed"] == 7 and manifest["preset"] == "tiny"
    assert manifest["config"] == json.loads(json.dumps(WorldConfig.from_params(TINY).identity()))
    for name, info in manifest["files"].items():
        if name == "audio/":
            assert info["files"] == len(list((folder / "audio").iterdir()))
            continue
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == info["sha256"]
    assert not [p for p in folder.rglob("*") if ".tmp" in p.name]


def test_reuse_and_mismatch(world, caplog, tmp_path):
    folder, manifest = world
    with caplog.at_level(logging.INFO, logger="coldstart.world"):
        assert generate_world(folder, {**TINY, "n_jobs": 1}) == manifest  # execution knob only
    assert "reusing" in caplog.text
    with pytest.raises(WorldConfigMismatchError, match="(?s)seed.*Delete that folder"):
        generate_world(folder, {**TINY, "seed": 8})
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "train_triplets.txt").write_text("x\n")
    with pytest.raises(FileExistsError, match="not written by the world generator"):
        generate_world(foreign, TINY)


# ---------------------------------------------------------------------- contract
def test_metadata_db(world, truth):
    folder, manifest = world
    con = sqlite3.connect(folder / "track_metadata.db")
    cols = [r[1] for r in con.execute("PRAGMA table_info(songs)")]
    assert cols == MSD_COLUMNS
    rows = con.execute("SELECT track_id, song_id, artist_id, artist_name FROM songs").fetchall()
    con.close()
    assert len(rows) == manifest["counts"]["tracks"]
    assert all(TRACK.match(t) and SONG.match(s) and ARTIST.match(a) for t, s, a, _ in rows)
    assert len({r[0] for r in rows}) == len(rows)
    assert len({r[1] for r in rows}) == manifest["counts"]["songs"]
    assert len({r[2] for r in rows}) == manifest["counts"]["artists"]
    per_song = Counter(s for _, s, _, _ in rows)
    two = sorted(s for s, n in per_song.items() if n == 2)
    assert two == manifest["dirt"]["songs_with_two_tracks"] and len(two) >= 2
    audio_stems = {p.stem for p in (folder / "audio").iterdir()}
    for song in two:  # exactly one of the two tracks has audio
        assert sum(t in audio_stems for t, s, _, _ in rows if s == song) == 1
    assert any(any(ord(c) > 127 for c in name) for *_, name in rows)


def test_triplets_and_their_dirt(world):
    folder, manifest = world
    con = sqlite3.connect(folder / "track_metadata.db")
    known = {r[0] for r in con.execute("SELECT song_id FROM songs")}
    con.close()
    seen: set[tuple[str, str]] = set()
    found = Counter()
    total = 0
    lines = (folder / "train_triplets.txt").read_text(encoding="utf-8").splitlines()
    for line in lines:
        f = line.split("\t")
        if len(f) != 3:
            found["malformed_field_count"] += 1
            continue
        user, song, count = f
        assert HEX40.match(user) and SONG.match(song)
        if not re.fullmatch(r"-?\d+", count):
            found["malformed_play_count"] += 1
        elif int(count) <= 0:
            found["nonpositive_play_count"] += 1
        elif song not in known:
            found["orphan_song_lines"] += 1
        elif (user, song) in seen:
            found["duplicate_lines"] += 1
            total += int(count)
        else:
            seen.add((user, song))
            total += int(count)
    dirt = manifest["dirt"]["triplets"]
    for reason in (
        "malformed_field_count",
        "malformed_play_count",
        "nonpositive_play_count",
        "orphan_song_lines",
        "duplicate_lines",
    ):
        assert found[reason] == dirt[reason] > 0, reason
    assert len(seen) == manifest["counts"]["triplets"]
    assert total == manifest["counts"]["plays_total"]
    assert len(lines) == manifest["counts"]["triplet_lines"]
    density = len(seen) / (manifest["counts"]["users"] * manifest["counts"]["songs"])
    assert density < 0.15


def test_biographies_and_tags(world, truth):
    folder, manifest = world
    dirt = manifest["dirt"]
    bios, bad_json, bad_utf8 = {}, [], []
    for raw in (folder / "artist_biographies.jsonl").read_bytes().splitlines():
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            obj = json.loads(raw.decode("utf-8", "replace"))  # still a JSON object
            bad_utf8.append(obj["artist_id"])
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            bad_json.append(re.search(r'"artist_id": "(AR\w+)"', text).group(1))
            continue
        assert set(obj) == {"artist_id", "artist_name", "biography"}
        bios[obj["artist_id"]] = obj["biography"]
    assert bad_json == dirt["biographies"]["invalid_json"]
    assert bad_utf8 == dirt["biographies"]["invalid_utf8"]
    assert sorted(a for a, b in bios.items() if b == "") == dirt["biographies"]["empty"]
    lengths = np.array([len(b) for b in bios.values() if b])
    assert lengths.min() >= 50 and 300 <= np.median(lengths) <= 1500 and lengths.max() <= 3000
    assert any(any(ord(c) > 127 for c in b) for b in bios.values())

    rows = _tsv(folder / "artist_tags.tsv")
    assert (folder / "artist_tags.tsv").read_text().startswith("artist_id\ttag\tweight\n")
    assert all(0 <= int(r["weight"]) <= 100 for r in rows)
    tagged = {r["artist_id"] for r in rows}
    assert set(dirt["tags"]["no_tags"]).isdisjoint(tagged)
    assert len(tagged) == manifest["counts"]["artists"] - len(dirt["tags"]["no_tags"])


def test_knowledge_base_vocabulary(world):
    import rdflib

    folder, manifest = world
    g = rdflib.Graph()
    g.parse(folder / "knowledge_base.ttl", format="turtle")
    assert len(g) == manifest["counts"]["kb_triples"]
    dbo = rdflib.Namespace("http://dbpedia.org/ontology/")
    dct = rdflib.Namespace("http://purl.org/dc/terms/")
    classes = {o for o in g.objects(None, rdflib.RDF.type)}
    for c in (
        "MusicalArtist",
        "Band",
        "MusicGenre",
        "MusicalWork",
        "RecordLabel",
        "Instrument",
        "Engineer",
        "Place",
    ):
        assert dbo[c] in classes, c
    preds = set(g.predicates())
    for p in (
        "homeTown",
        "genre",
        "instrument",
        "recordLabel",
        "associatedMusicalArtist",
        "bandMember",
        "artist",
        "producer",
        "recordedIn",
        "stylisticOrigin",
        "location",
    ):
        assert dbo[p] in preds, p
    subjects = {str(o) for o in g.objects(None, dct.subject)}
    assert any(s.endswith("_record_labels") for s in subjects)
    assert any("Category:Musicians_from_" in s for s in subjects)
    assert all(s.startswith("http://dbpedia.org/resource/Category:") for s in subjects)
    # every resource has an English label, and labels are unambiguous
    labelled = {}
    for s, o in g.subject_objects(rdflib.RDFS.label):
        assert o.language == "en"
        assert str(o).lower() not in labelled or labelled[str(o).lower()] == s
        labelled[str(o).lower()] = s
    for s in set(g.subjects(rdflib.RDF.type, None)):
        assert str(s).startswith("http://dbpedia.org/resource/")
        assert (s, rdflib.RDFS.label, None) in g


def test_audio_files(world, decoded):
    import soundfile as sf

    folder, manifest = world
    files = {p.stem: p for p in (folder / "audio").iterdir()}
    assert {p.suffix for p in files.values()} == {".mp3", ".wav", ".flac", ".ogg"}
    dirt = manifest["dirt"]["audio"]
    assert not set(dirt["missing"]) & set(files)
    for track in dirt["corrupt"] + dirt["empty"]:
        assert files[track].suffix == ".mp3"
        with pytest.raises((sf.SoundFileError, AssertionError)):
            x, _ = sf.read(files[track])
            assert len(x) > 0
    assert files[dirt["empty"][0]].stat().st_size == 0
    good = set(files) - set(dirt["corrupt"]) - set(dirt["empty"])
    assert good == set(decoded)
    srs = {sr for _, sr, _ in decoded.values()}
    chans = {c for _, _, c in decoded.values()}
    assert srs == {22050, 44100} and chans == {1, 2}
    durations = np.array([len(x) / sr for x, sr, _ in decoded.values()])
    assert durations.min() >= 7.9 and durations.max() <= 16.5  # tiny: 8-16 s


# ---------------------------------------------------------------------- signal
def test_users_play_their_genres_far_above_chance(world, truth):
    folder, _ = world
    songs, users = truth["songs"], truth["users"]
    share = Counter(s["genre"] for s in songs.values())
    n = sum(share.values())
    hits = chance = plays = 0
    for line in (folder / "train_triplets.txt").read_text(encoding="utf-8").splitlines():
        f = line.split("\t")
        if len(f) != 3 or f[1] not in songs or not f[2].lstrip("-").isdigit() or int(f[2]) <= 0:
            continue
        liked = users[f[0]]
        hits += songs[f[1]]["genre"] in liked
        chance += sum(share[g] for g in liked) / n
        plays += 1
    assert hits / plays > 0.4
    assert hits / plays > 2.0 * chance / plays


def test_tags_top_genre_matches_artist_genre(world, truth):
    folder, _ = world
    tag_genre = {}
    for g in GENRES:
        for t in g.tags:
            tag_genre.setdefault(t.lower(), g.key)
    top: dict[str, tuple[int, str]] = {}
    for r in _tsv(folder / "artist_tags.tsv"):
        w = int(r["weight"])
        if r["artist_id"] not in top or w > top[r["artist_id"]][0]:
            top[r["artist_id"]] = (w, r["tag"])
    match = [tag_genre.get(t.lower()) == truth["artists"][a]["genre"] for a, (_, t) in top.items()]
    assert np.mean(match) > 0.7


def test_kb_carries_genre_evidence_that_implicit_bios_do_not_state(world, truth):
    """Implicit bios do not name their genre, but KB entities they mention do."""
    import rdflib

    folder, _ = world
    g = rdflib.Graph()
    g.parse(folder / "knowledge_base.ttl", format="turtle")
    dbo = rdflib.Namespace("http://dbpedia.org/ontology/")
    genre_res = {
        g_.key: rdflib.URIRef("http://dbpedia.org/resource/" + g_.resource) for g_ in GENRES
    }
    label_of = {str(o): s for s, o in g.subject_objects(rdflib.RDFS.label)}
    bios = {}
    for raw in (folder / "artist_biographies.jsonl").read_bytes().splitlines():
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        bios[obj["artist_id"]] = obj["biography"]
    implicit = [
        a for a, t in truth["artists"].items() if t["bio_mode"] == "implicit" and bios.get(a)
    ]
    assert len(implicit) >= 10
    evidence = 0
    for a in implicit:
        genre = truth["artists"][a]["genre"]
        spec = next(x for x in GENRES if x.key == genre)
        assert spec.mention not in bios[a].split(".")[0].lower()  # opening: no genre
        mentioned = [
            s
            for label, s in label_of.items()
            if len(label) > 4 and label in bios[a] and label != truth["artists"][a]["artist_name"]
        ]
        if any((s, dbo.genre, genre_res[genre]) in g for s in mentioned):
            evidence += 1
    assert evidence / len(implicit) > 0.7


def test_spectral_features_differ_across_genres(world, truth, decoded):
    """Register/brightness (log-frequency spectral centroid) and percussiveness
    (frame-energy flux) of the previews depend strongly on the genre."""
    from scipy.stats import f_oneway

    track_genre = {s["audio_track_id"]: s["genre"] for s in truth["songs"].values()}
    features: dict[str, dict[str, list[float]]] = {"log_centroid": {}, "flux": {}}
    for track, (x, sr, _) in decoded.items():
        x = x[: 6 * sr]
        frames = x[: len(x) // 2048 * 2048].reshape(-1, 2048) * np.hanning(2048)
        power = np.abs(np.fft.rfft(frames)) ** 2
        freqs = np.fft.rfftfreq(2048, 1.0 / sr)
        band = (freqs > 30) & (freqs < 8000)  # the same band at 22,050 and 44,100 Hz
        mean_power = power[:, band].mean(axis=0)
        log_centroid = (mean_power * np.log2(freqs[band])).sum() / mean_power.sum()
        flux = np.abs(np.diff(np.log(power[:, band].sum(axis=1) + 1e-9))).mean()
        genre = track_genre[track]
        features["log_centroid"].setdefault(genre, []).append(float(log_centroid))
        features["flux"].setdefault(genre, []).append(float(flux))
    for name, by_genre in features.items():
        groups = [np.array(v) for v in by_genre.values()]
        assert len(groups) == 8
        _, p = f_oneway(*groups)
        allv = np.concatenate(groups)
        between = sum(len(v) * (v.mean() - allv.mean()) ** 2 for v in groups)
        eta2 = between / ((allv - allv.mean()) ** 2).sum()  # share of variance explained
        assert p < 1e-6 and eta2 > 0.3, (name, p, eta2)


def test_interrupted_generation_is_redone_and_audio_can_be_off(tmp_path):
    folder = tmp_path / "w"
    (folder / "audio").mkdir(parents=True)
    (folder / ".world_incomplete").write_text("generation in progress\n")
    (folder / "audio" / "TRSTALE0000000000000.mp3").write_bytes(b"stale")
    (folder / "train_triplets.txt").write_text("half written")
    manifest = generate_world(folder, {"preset": "tiny", "seed": 1, "audio": False})
    assert (folder / MANIFEST).exists() and not (folder / ".world_incomplete").exists()
    assert list((folder / "audio").iterdir()) == []
    assert manifest["counts"]["audio_files"]["mp3"] == 0
    assert manifest["dirt"]["audio"] == {"missing": [], "corrupt": [], "empty": []}
    assert (folder / "train_triplets.txt").stat().st_size > 10_000


# ---------------------------------------------------------------------- new releases
def _sqlite_rows(path: Path) -> list[dict]:
    con = sqlite3.connect(path)
    try:
        cur = con.execute("SELECT * FROM songs")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def releases(world) -> dict:
    folder, _ = world
    rel = folder / "releases"
    return {
        "dir": rel,
        "manifest": json.loads((rel / RELEASES_MANIFEST).read_text(encoding="utf-8")),
        "items": _tsv(rel / "truth" / "items.tsv"),
        "plays": _tsv(rel / "truth" / "plays.tsv"),
        "bios": {o["artist_id"]: o for o in _jsonl(rel / "artist_biographies.jsonl")},
        "tags": _tsv(rel / "artist_tags.tsv"),
        "tracks": _sqlite_rows(rel / "track_metadata.db"),
        "audio": {p.stem: p for p in (rel / "audio").iterdir()},
    }


def test_release_config():
    tiny = ReleaseConfig.from_params("tiny", None)
    assert (tiny.enabled, tiny.artists_per_case, tiny.songs_min, tiny.songs_max) == (True, 3, 2, 3)
    default = ReleaseConfig.from_params("default", {"songs_max": "6"})
    assert (default.artists_per_case, default.songs_min, default.songs_max) == (8, 3, 6)
    assert ReleaseConfig.from_params("tiny", False).enabled is False
    assert "enabled" not in tiny.identity()
    with pytest.raises(ValueError, match="unknown world.releases parameter"):
        ReleaseConfig.from_params("tiny", {"artists": 3})
    with pytest.raises(ValueError, match="songs_min"):
        ReleaseConfig.from_params("tiny", {"songs_min": 4, "songs_max": 2})
    # the release block is not part of the world's identity
    with_block = WorldConfig.from_params({**TINY, "releases": {"artists_per_case": 5}})
    assert with_block.identity() == WorldConfig.from_params(TINY).identity()


def test_releases_every_case_with_its_modalities(world, releases, truth):
    folder, _ = world
    items, bios, tracks, audio = (
        releases["items"],
        releases["bios"],
        releases["tracks"],
        releases["audio"],
    )
    tagged = {r["artist_id"] for r in releases["tags"]}
    rcfg = ReleaseConfig.from_params("tiny", None)
    by_case: dict[str, list[dict]] = {}
    for it in items:
        by_case.setdefault(it["case"], []).append(it)
    assert list(by_case) == list(RELEASE_CASES)
    track_of = {t["track_id"]: t for t in tracks}
    assert len(track_of) == len(tracks) == len(items)
    assert {p.suffix for p in audio.values()} == {".mp3"}
    for case, rows in by_case.items():
        artists = Counter(r["artist_id"] for r in rows)
        assert len(artists) == rcfg.artists_per_case, case
        assert all(rcfg.songs_min <= n <= rcfg.songs_max for n in artists.values()), case
        with_audio = case in ("complete", "audio_only", "existing_artist")
        for r in rows:
            a = r["artist_id"]
            assert track_of[r["track_id"]]["song_id"] == r["song_id"]
            assert track_of[r["track_id"]]["artist_id"] == a
            assert (r["track_id"] in audio) == with_audio == (r["has_audio"] == "1"), (case, r)
            assert (a in bios) == (case in ("complete", "biography_only")), (case, a)
            assert (a in tagged) == (case in ("complete", "tags_only")), (case, a)
            assert (a in truth["artists"]) == (case == "existing_artist"), (case, a)
            assert r["genre"] in {g.key for g in GENRES[:8]}
            if case == "existing_artist":
                main = truth["artists"][a]
                assert track_of[r["track_id"]]["artist_name"] == main["artist_name"]
                assert r["genre"] == main["genre"]
    for bio in bios.values():
        assert bio["artist_name"] == next(
            t["artist_name"] for t in tracks if t["artist_id"] == bio["artist_id"]
        )
        assert len(bio["biography"]) >= 50
    assert all(0 <= int(r["weight"]) <= 100 for r in releases["tags"])
    assert (releases["dir"] / "artist_tags.tsv").read_text().startswith("artist_id\ttag\tweight\n")
    con = sqlite3.connect(releases["dir"] / "track_metadata.db")
    assert [r[1] for r in con.execute("PRAGMA table_info(songs)")] == MSD_COLUMNS
    con.close()


def test_release_audio_is_the_worlds(releases):
    import soundfile as sf

    durations = []
    for path in releases["audio"].values():
        x, sr = sf.read(path, dtype="float32", always_2d=True)
        assert sr in (22050, 44100) and x.shape[1] in (1, 2) and np.abs(x).max() > 0.01
        durations.append(len(x) / sr)
    assert 7.9 <= min(durations) and max(durations) <= 16.5  # tiny: 8-16 s, like its world


def test_release_ids_and_names_do_not_collide_with_the_world(world, releases, truth):
    folder, manifest = world
    main = _sqlite_rows(folder / "track_metadata.db")
    main_songs = {r["song_id"] for r in main} | set(manifest["dirt"]["triplets"]["orphan_song_ids"])
    main_tracks = {r["track_id"] for r in main}
    main_artists = {r["artist_id"] for r in main}
    items = releases["items"]
    new = [it for it in items if it["case"] != "existing_artist"]
    assert all(ARTIST.match(i["artist_id"]) for i in items)
    assert all(SONG.match(i["song_id"]) and TRACK.match(i["track_id"]) for i in items)
    assert not {i["artist_id"] for i in new} & main_artists
    assert not {i["song_id"] for i in items} & main_songs
    assert not {i["track_id"] for i in items} & main_tracks
    assert len({i["song_id"] for i in items}) == len({i["track_id"] for i in items}) == len(items)
    # new artists' names are not labels of the world's KB (nor its artists' names)
    import rdflib

    g = rdflib.Graph()
    g.parse(folder / "knowledge_base.ttl", format="turtle")
    labels = {str(o).lower() for o in g.objects(None, rdflib.RDFS.label)}
    labels |= {a["artist_name"].lower() for a in truth["artists"].values()}
    new_ids = {i["artist_id"] for i in new}
    names = {t["artist_name"] for t in releases["tracks"] if t["artist_id"] in new_ids}
    assert len(names) == len(new_ids)
    assert not {n.lower() for n in names} & labels


def test_release_biographies_mention_entities_of_the_worlds_kb(world, releases):
    import rdflib

    folder, _ = world
    g = rdflib.Graph()
    g.parse(folder / "knowledge_base.ttl", format="turtle")
    labels = {str(o) for o in g.objects(None, rdflib.RDFS.label) if len(str(o)) > 4}
    assert not (releases["dir"] / "knowledge_base.ttl").exists()
    mentions = []
    for obj in releases["bios"].values():
        found = [lab for lab in labels if lab in obj["biography"]]
        assert found, obj["artist_id"]  # at least the hometown, a KB place
        mentions.append(len(found))
    assert np.mean(mentions) >= 2


def test_release_plays_are_the_worlds_users_on_release_songs(world, releases, truth):
    plays, items = releases["plays"], releases["items"]
    assert (
        (releases["dir"] / "truth" / "plays.tsv")
        .read_text()
        .startswith("user_id\tsong_id\ttrack_id\tartist_id\tplays\n")
    )
    item_of = {i["song_id"]: i for i in items}
    assert {p["user_id"] for p in plays} <= set(truth["users"])
    assert {p["song_id"] for p in plays} <= set(item_of)
    for p in plays:
        it = item_of[p["song_id"]]
        assert (p["track_id"], p["artist_id"]) == (it["track_id"], it["artist_id"])
        assert int(p["plays"]) >= 1
    assert len({(p["user_id"], p["song_id"]) for p in plays}) == len(plays)
    listened = Counter(p["song_id"] for p in plays)
    assert len(listened) >= 0.8 * len(items)  # most release songs have listeners
    assert len({p["user_id"] for p in plays}) >= 0.5 * len(truth["users"])
    for case in RELEASE_CASES:
        assert any(item_of[s]["case"] == case for s in listened), case
    # the world's preferences: users play release songs of the genres they like
    share = Counter(i["genre"] for i in items)
    hits = sum(item_of[p["song_id"]]["genre"] in truth["users"][p["user_id"]] for p in plays)
    chance = sum(sum(share[g] for g in truth["users"][p["user_id"]]) / len(items) for p in plays)
    assert hits / len(plays) > 0.4 and hits > 1.5 * chance


def test_releases_manifest(world, releases):
    folder, manifest = world
    m, rel = releases["manifest"], releases["dir"]
    assert m["config"] == ReleaseConfig.from_params("tiny", None).identity()
    assert m["world_config"] == manifest["config"] and m["seed"] == 7
    for name, info in m["files"].items():
        if name == "audio/":
            assert info["files"] == len(releases["audio"])
            continue
        assert hashlib.sha256((rel / name).read_bytes()).hexdigest() == info["sha256"], name
    cases = m["counts"]["cases"]
    assert list(cases) == list(RELEASE_CASES)
    for case, c in cases.items():
        rows = [i for i in releases["items"] if i["case"] == case]
        assert c["songs"] == len(rows) and c["artists"] == len({i["artist_id"] for i in rows})
        assert c["songs_with_audio"] == sum(i["has_audio"] == "1" for i in rows)
    assert m["counts"]["plays_rows"] == len(releases["plays"])
    assert not [p for p in folder.iterdir() if p.name.startswith(".releases")]
    assert not [p for p in rel.rglob("*") if ".tmp" in p.name]


def test_releases_added_to_an_existing_world(world, bare_world, tmp_path, caplog):
    """A world made without releases gets them on the next run, its own files untouched,
    with the same bytes as releases made together with the world; release settings are
    checked on their own."""
    folder, _ = world
    bare, bare_manifest = bare_world
    copy = tmp_path / "world"
    shutil.copytree(bare, copy)
    before = {k: ((copy / k).stat().st_mtime_ns, h) for k, h in _hashes(copy).items()}
    assert generate_world(copy, TINY) == bare_manifest
    after = _hashes(copy)
    added = {k for k in after if k.startswith("releases/")}
    assert added and set(after) - added == set(before)
    assert all(after[k] == h for k, (_, h) in before.items())
    assert all((copy / k).stat().st_mtime_ns == t for k, (t, _) in before.items())
    expected = {k: v for k, v in _hashes(folder).items() if k.startswith("releases/")}
    assert {k: after[k] for k in added} == expected  # same seed => same release bytes
    with caplog.at_level(logging.INFO, logger="coldstart.world"):
        generate_world(copy, TINY)
    assert "reusing them" in caplog.text
    generate_world(copy, {**TINY, "releases": {"enabled": False}})  # left alone
    assert _hashes(copy) == after
    # other release settings: releases/ regenerated, the world's files untouched
    generate_world(copy, {**TINY, "releases": {"artists_per_case": 2, "songs_max": 2}})
    again = _hashes(copy)
    assert all(again[k] == h for k, (_, h) in before.items())
    m = json.loads((copy / "releases" / RELEASES_MANIFEST).read_text(encoding="utf-8"))
    assert {c["artists"] for c in m["counts"]["cases"].values()} == {2}
    assert m["counts"]["songs"] == 20  # 5 cases x 2 artists x 2 songs
    assert not [p for p in copy.iterdir() if p.name.startswith(".releases")]


def test_world_node_returns_the_releases_folder(world, tmp_path):
    from coldstart.pipelines.world.nodes import RAW_FILES, ensure_raw_dataset

    folder, _ = world
    paths = ensure_raw_dataset(str(folder), TINY)
    assert paths[RAW_FILES.index("releases")] == folder / "releases"
    assert (folder / "releases" / RELEASES_MANIFEST).exists()
    real = tmp_path / "real"  # a real dataset: never written to
    real.mkdir()
    (real / "train_triplets.txt").write_text("u\ts\t1\n")
    paths = ensure_raw_dataset(str(real), TINY)
    assert paths[-1] == real / "releases" and not paths[-1].exists()
    assert [p.name for p in real.iterdir()] == ["train_triplets.txt"]


def test_turtle_of_awkward_labels_parses_back_and_bad_names_are_refused():
    import pyoxigraph

    from coldstart.world.knowledge import DBR, Entity, knowledge_triples, to_turtle

    entity = Entity(
        resource="Mötley_(band)",
        types=["Band", "Agent"],
        labels=['Say "hi"\nback\\slash', "Mötley"],
        props={"genre": ["Rock_music"], "hometown": []},
        subjects=["1981_establishments"],
    )
    text, n = to_turtle([entity])
    assert n == 6 == len(knowledge_triples([entity]))
    parsed = {q.triple for q in pyoxigraph.parse(text.encode(), format=pyoxigraph.RdfFormat.TURTLE)}
    assert parsed == set(knowledge_triples([entity]))
    labels = {t.object.value for t in parsed if isinstance(t.object, pyoxigraph.Literal)}
    assert labels == {'Say "hi"\nback\\slash', "Mötley"}
    assert pyoxigraph.NamedNode(DBR + "Category:1981_establishments") in {t.object for t in parsed}
    with pytest.raises(ValueError, match="not usable in an IRI: 'Bad name'"):
        to_turtle(
            [Entity(resource="Bad name", types=["Band"], labels=["x"], props={}, subjects=[])]
        )
