"""Tests of the synthetic world generator (coldstart.world) on the tiny preset.

One tiny world is generated per module (~10-30 s on 2 cores) and shared; the
determinism test generates it once more, sequentially, and compares every byte.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from coldstart.world import (
    MANIFEST,
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
def test_deterministic_bytes_parallel_and_sequential(world, tmp_path):
    folder, manifest = world
    again = generate_world(tmp_path / "again", {**TINY, "n_jobs": 1})
    assert again == manifest
    first, second = _hashes(folder), _hashes(tmp_path / "again")
    assert first.keys() == second.keys()
    assert any(k.endswith(".mp3") for k in first) and "track_metadata.db" in first
    differing = [k for k in first if first[k] != second[k]]
    assert not differing, f"not byte-identical: {differing[:5]}"


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
