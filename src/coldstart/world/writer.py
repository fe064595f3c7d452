"""``generate_world``: build the world in memory, inject dirt, write the raw files.

Every file is written to a temporary name and renamed into place;
``train_triplets.txt`` is written after the audio, and the manifest
``world_manifest.json`` last of all, so its presence means the world is complete. While a generation is under way the folder holds ``.world_incomplete``;
a folder with that marker and no manifest is an interrupted generation and is
overwritten, a non-empty folder with neither is refused. The new-releases folder
``releases/`` (:mod:`coldstart.world.releases`) comes after the manifest, drawn from
streams of its own against :func:`build_core`'s world in memory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from coldstart.cores import available_cores

from . import audio as audio_mod
from .config import ReleaseConfig, WorldConfig
from .knowledge import build_catalog, kb_entities, to_turtle
from .names import NameFactory, mbid, unique_codes, user_ids
from .taste import build_taste, sample_plays
from .text import artist_tags, biography

logger = logging.getLogger(__name__)

GENERATOR_VERSION = "1.0.0"
MANIFEST = "world_manifest.json"
MARKER = ".world_incomplete"

SONGS_COLUMNS = (
    ("track_id", "text PRIMARY KEY"),
    ("title", "text"),
    ("song_id", "text"),
    ("release", "text"),
    ("artist_id", "text"),
    ("artist_mbid", "text"),
    ("artist_name", "text"),
    ("duration", "real"),
    ("artist_familiarity", "real"),
    ("artist_hotttnesss", "real"),
    ("year", "int"),
    ("track_7digitalid", "int"),
    ("shs_perf", "int"),
    ("shs_work", "int"),
)

# order of the named random streams spawned from the seed (append only!)
_STREAMS = (
    "taste",
    "names",
    "catalog",
    "ids",
    "catalog_meta",
    "plays",
    "dirt",
    "text",
    "tags",
    "audio_plan",
    "audio",
    "audio_artists",
    "audio_subset",
)


class WorldConfigMismatchError(ValueError):
    """The output folder holds a world generated with another configuration."""


def generate_world(out_dir: str | Path, config: Mapping[str, Any] | None) -> dict:
    """Generate (or reuse) the synthetic world in ``out_dir``; return its manifest.

    Parameters
    ----------
    out_dir
        Folder that receives the raw files of the data contract (docs/architecture.md).
    config
        The ``world`` parameters: ``preset`` (tiny | default | large), ``seed``,
        optional overrides of any :class:`WorldConfig` field and an optional
        ``releases`` block (:class:`~coldstart.world.config.ReleaseConfig`).

    The new-releases folder ``out_dir/releases/`` (:mod:`coldstart.world.releases`) is
    written after the world (unless ``releases.enabled`` is false), also when the world
    itself is reused: a world generated before releases existed gets them added, its
    own files untouched.

    Returns
    -------
    dict
        The world's manifest (also written to ``out_dir/world_manifest.json``): config,
        seed, generator version, counts, injected dirt and a sha256 per file. (The
        releases have their own, ``out_dir/releases/releases_manifest.json``.)

    Raises
    ------
    WorldConfigMismatchError
        ``out_dir`` already holds a complete world made from another config.
    FileExistsError
        ``out_dir`` is not empty and was not written by this generator.
    """
    cfg = WorldConfig.from_params(config)
    rcfg = ReleaseConfig.from_params(cfg.preset, dict(config or {}).get("releases"))
    out = Path(out_dir)
    ident = json.loads(json.dumps(cfg.identity()))
    manifest_path = out / MANIFEST
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text(encoding="utf-8"))
        if old.get("config") == ident and old.get("generator_version") == GENERATOR_VERSION:
            logger.info("World in %s is complete and matches the config: reusing it", out)
            if rcfg.enabled:
                from .releases import ensure_releases

                ensure_releases(out, cfg, rcfg, old)
            return old
        diff = sorted(
            k
            for k in set(ident) | set(old.get("config", {}))
            if ident.get(k) != old.get("config", {}).get(k)
        )
        if old.get("generator_version") != GENERATOR_VERSION:
            diff.append(f"generator_version {old.get('generator_version')} -> {GENERATOR_VERSION}")
        raise WorldConfigMismatchError(
            f"{out} already holds a synthetic world generated with a different configuration "
            f"(differs in: {', '.join(diff)}). Delete that folder, or point the world "
            f"generator at another folder, to generate the world for this configuration."
        )
    visible = [p for p in out.iterdir() if not p.name.startswith(".")] if out.exists() else []
    if visible and not (out / MARKER).exists():
        raise FileExistsError(
            f"{out} is not empty and was not written by the world generator (no "
            f"{MANIFEST}); refusing to overwrite it. Choose an empty folder."
        )
    t_start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("generation in progress\n", encoding="utf-8")
    logger.info("Generating the %r synthetic world (seed %d) in %s", cfg.preset, cfg.seed, out)
    core = build_core(cfg)
    manifest = _generate(cfg, ident, out, core)
    _atomic_write_text(
        manifest_path, json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    )
    (out / MARKER).unlink(missing_ok=True)
    logger.info(
        "World complete in %.1f s: %d artists, %d songs, %d users, %d triplet lines",
        time.perf_counter() - t_start,
        manifest["counts"]["artists"],
        manifest["counts"]["songs"],
        manifest["counts"]["users"],
        manifest["counts"]["triplet_lines"],
    )
    if rcfg.enabled:  # after the world's manifest: the world is complete without them
        from .releases import ensure_releases

        ensure_releases(out, cfg, rcfg, manifest, core)
    return manifest


# ---------------------------------------------------------------------- helpers
def _atomic_write_bytes(path: Path, data: bytes) -> None:
    audio_mod.atomic_write_bytes(path, data)


def _atomic_write_text(path: Path, text: str) -> None:
    _atomic_write_bytes(path, text.encode("utf-8"))


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _n_of(rate: float, n: int) -> int:
    """At least one case whenever the rate is positive."""
    return 0 if rate <= 0 else max(1, int(round(rate * n)))


def _fmt(x: float) -> str:
    return f"{x:.6g}"


# ---------------------------------------------------------------------- generation
@dataclass
class WorldCore:
    """The world in memory up to its catalogue: what the files are written from, and what
    new releases are drawn against. Rebuilt identically from the config alone (no file
    is read), so releases can be added to a world generated earlier."""

    seqs: dict[str, np.random.SeedSequence]
    rngs: dict[str, np.random.Generator]
    taste: Any
    names: NameFactory
    cat: Any
    artist_ids: list[str]
    song_ids: list[str]
    uids: list[str]
    track_ids: list[str]
    audio_track: list[str]
    taken: set[str]
    two_track_songs: list[int]
    extra_track: dict[int, str]
    familiarity: np.ndarray
    hotttnesss: np.ndarray
    mbids: list[str]
    rows: list[dict]


def build_core(cfg: WorldConfig) -> WorldCore:
    """Taste space, names, catalogue, ids and metadata rows (streams taste .. catalog_meta)."""
    root = np.random.SeedSequence(cfg.seed)
    seqs = dict(zip(_STREAMS, root.spawn(len(_STREAMS)), strict=True))
    rngs = {k: np.random.Generator(np.random.PCG64(s)) for k, s in seqs.items()}

    t0 = time.perf_counter()
    taste = build_taste(cfg, rngs["taste"])
    logger.info(
        "World: taste space of %d users, %d songs, %d artists in %.1f s",
        cfg.n_users,
        cfg.n_songs,
        cfg.n_artists,
        time.perf_counter() - t0,
    )
    t0 = time.perf_counter()
    names = NameFactory(rngs["names"])
    cat = build_catalog(cfg, taste, names, rngs["catalog"])
    logger.info(
        "World: catalogue (names, works, places, labels) in %.1f s", time.perf_counter() - t0
    )
    t0 = time.perf_counter()
    A, S, U = cfg.n_artists, cfg.n_songs, cfg.n_users

    # ---------------------------------------------------------------- ids & catalogue
    r = rngs["ids"]
    taken: set[str] = set()
    artist_ids = unique_codes(r, A, "AR", taken=taken)
    song_ids = unique_codes(r, S, "SO", taken=taken)
    uids = user_ids(r, U)
    n_two = _n_of(cfg.two_track_song_rate, S)
    track_ids = unique_codes(r, S + n_two, "TR", taken=taken)
    audio_track = track_ids[:S]  # the track of each song that has (or should have) audio
    rm = rngs["catalog_meta"]
    two_track_songs = sorted(int(x) for x in rm.choice(S, size=n_two, replace=False))
    extra_track = dict(zip(two_track_songs, track_ids[S:], strict=True))

    pct = (np.argsort(np.argsort(taste.artist_pop)) + 0.5) / A
    familiarity = np.clip(0.15 + 0.75 * pct + rm.normal(0, 0.05, A), 0.0, 1.0)
    hotttnesss = np.clip(0.55 * familiarity + rm.normal(0.1, 0.06, A), 0.0, 1.0)
    mbids = [mbid(rm) if rm.random() > 0.1 else "" for _ in range(A)]

    rows = []
    for s in range(S):
        a = int(taste.song_artist[s])
        info = cat.artists[a]
        title = names.song_title()
        if rm.random() < 0.7 and info.works:
            release = info.works[int(rm.integers(len(info.works)))].title
        else:
            release = f"{title} EP" if rm.random() < 0.5 else f"Live in {cat.places[info.hometown]}"
        year = 0 if rm.random() < 0.35 else min(2010, info.formed + int(rm.integers(0, 15)))
        shs = (
            (int(rm.integers(1, 200000)), int(rm.integers(1, 20000)))
            if rm.random() < 0.02
            else (-1, 0)
        )
        base = dict(
            title=title,
            song_id=song_ids[s],
            release=release,
            artist_id=artist_ids[a],
            artist_mbid=mbids[a],
            artist_name=info.name,
            artist_familiarity=round(float(familiarity[a]), 6),
            artist_hotttnesss=round(float(hotttnesss[a]), 6),
            year=year,
            shs_perf=shs[0],
            shs_work=shs[1],
        )
        for tid in [audio_track[s]] + ([extra_track[s]] if s in extra_track else []):
            rows.append(
                dict(
                    track_id=tid,
                    duration=round(float(rm.uniform(120, 420)), 5),
                    track_7digitalid=int(rm.integers(1, 10_000_000)),
                    **base,
                )
            )
    rows = [rows[i] for i in rm.permutation(len(rows))]
    logger.info("World: ids and %d metadata rows in %.1f s", len(rows), time.perf_counter() - t0)
    return WorldCore(
        seqs=seqs,
        rngs=rngs,
        taste=taste,
        names=names,
        cat=cat,
        artist_ids=artist_ids,
        song_ids=song_ids,
        uids=uids,
        track_ids=track_ids,
        audio_track=audio_track,
        taken=taken,
        two_track_songs=two_track_songs,
        extra_track=extra_track,
        familiarity=familiarity,
        hotttnesss=hotttnesss,
        mbids=mbids,
        rows=rows,
    )


def artist_profile_for(cfg: WorldConfig, taste, g: int, rp: np.random.Generator):
    """The sound of an artist of genre ``g``: its genre's profile pulled towards another's."""
    genres = taste.genres
    other = (
        int(rp.choice(taste.neighbours[g])) if rp.random() < 0.6 else int(rp.integers(len(genres)))
    )
    weight = float(rp.uniform(0.0, cfg.audio_blend))
    return audio_mod.artist_profile(genres[g].audio, genres[other].audio, weight, rp)


def artist_profiles(cfg: WorldConfig, core: WorldCore) -> list:
    """Every catalogue artist's sound, from a fresh copy of the ``audio_artists`` stream."""
    rp = np.random.Generator(np.random.PCG64(core.seqs["audio_artists"]))
    taste = core.taste
    return [
        artist_profile_for(cfg, taste, int(taste.artist_genre[a]), rp) for a in range(cfg.n_artists)
    ]


def audio_format(cfg: WorldConfig, ra: np.random.Generator) -> tuple[int, int, float]:
    """Sample rate, channels and duration of one preview (draws from ``ra``)."""
    sr = 44100 if ra.random() < cfg.alt_sample_rate_rate else 22050
    ch = 2 if ra.random() < cfg.stereo_rate else 1
    if ra.random() < cfg.short_audio_rate:
        dur = ra.uniform(7.0, 15.0)
    else:
        dur = ra.uniform(cfg.audio_min_s, cfg.audio_max_s)
    return sr, ch, round(float(dur), 2)


def audio_task(
    name: str,
    audio_dir: Path,
    params: dict,
    seq: np.random.SeedSequence,
    index: int,
    sr: int,
    ch: int,
    dur: float,
    fmt: str,
    cfg: WorldConfig,
) -> tuple:
    """One task for :func:`coldstart.world.audio.render_task`, seeded by ``seq`` + ``index``."""
    bitrate = min(320, cfg.mp3_bitrate * ch * (2 if sr == 44100 else 1))
    return (
        name,
        str(audio_dir),
        params,
        seq.entropy,
        tuple(seq.spawn_key) + (index,),
        sr,
        ch,
        dur,
        fmt,
        bitrate,
    )


def file_entries(folder: Path, names: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """sha256 and size of each named file, and a digest of the ``audio/`` listing."""
    files: dict[str, Any] = {}
    for name in names:
        p = folder / name
        files[name] = {"sha256": _sha256(p), "bytes": p.stat().st_size}
    listing = []
    total = 0
    audio_dir = folder / "audio"
    for p in sorted(audio_dir.iterdir()) if audio_dir.exists() else []:
        if p.is_file():
            listing.append(f"{p.name} {_sha256(p)}\n")
            total += p.stat().st_size
    files["audio/"] = {
        "files": len(listing),
        "bytes": total,
        "sha256": hashlib.sha256("".join(listing).encode()).hexdigest(),
    }
    return files


def _generate(cfg: WorldConfig, ident: dict, out: Path, core: WorldCore) -> dict:
    seqs, rngs = core.seqs, core.rngs
    t0 = time.perf_counter()
    taste, cat = core.taste, core.cat
    A, S, U = cfg.n_artists, cfg.n_songs, cfg.n_users
    genres = taste.genres
    artist_ids, song_ids, uids = core.artist_ids, core.song_ids, core.uids
    audio_track, taken = core.audio_track, core.taken
    two_track_songs, extra_track = core.two_track_songs, core.extra_track
    n_two = len(two_track_songs)
    familiarity, rows = core.familiarity, core.rows

    # ---------------------------------------------------------------- plays + dirt
    t_plays = time.perf_counter()
    uidx, sidx, cnt = sample_plays(cfg, taste, seqs["plays"])
    n_clean = len(uidx)
    logger.info(
        "Plays: %d clean triplets sampled in %.1f s", n_clean, time.perf_counter() - t_plays
    )
    rd = rngs["dirt"]
    # the clean (user, song) pairs as sorted codes: a membership test without a set of
    # tens of millions of tuples (each user's picks are distinct, so codes are unique)
    clean_codes = np.sort(uidx.astype(np.int64) * S + sidx.astype(np.int64))
    added: set[int] = set()
    extra: list[str] = []

    def fresh_pair() -> tuple[int, int]:
        while True:
            u, s = int(rd.integers(U)), int(rd.integers(S))
            code = u * S + s
            at = int(np.searchsorted(clean_codes, code))
            if code not in added and not (at < n_clean and clean_codes[at] == code):
                added.add(code)
                return u, s

    n_dup = _n_of(cfg.duplicate_triplet_rate, n_clean)
    dup_rows = rd.choice(n_clean, size=min(n_dup, n_clean), replace=False)
    plays_total = int(cnt.sum(dtype=np.int64))
    for i in dup_rows:
        more = int(rd.integers(1, 4))
        plays_total += more
        extra.append(f"{uids[uidx[i]]}\t{song_ids[sidx[i]]}\t{more}\n")
    n_nonpos = _n_of(cfg.nonpositive_count_rate, n_clean)
    for _ in range(n_nonpos):
        u, s = fresh_pair()
        extra.append(f"{uids[u]}\t{song_ids[s]}\t{int(rd.integers(-3, 1))}\n")
    n_bad = _n_of(cfg.malformed_line_rate, n_clean)
    n_bad_fields = (n_bad + 1) // 2
    n_bad_count = n_bad - n_bad_fields
    for k in range(n_bad_fields):
        u, s = fresh_pair()
        c = int(rd.integers(1, 5))
        extra.append(
            (
                f"{uids[u]}\t{song_ids[s]}\n",
                f"{uids[u]}\t{song_ids[s]}\t{c}\t{c}\n",
                f"{uids[u]} {song_ids[s]} {c}\n",
            )[k % 3]
        )
    for k in range(n_bad_count):
        u, s = fresh_pair()
        extra.append(f"{uids[u]}\t{song_ids[s]}\t{('2.5', 'three', '', 'NaN', 'x7')[k % 5]}\n")
    clean_codes = added = None  # free the codes: no fresh pair is drawn after this
    n_orphan_lines = _n_of(cfg.orphan_song_rate, n_clean)
    orphan_ids = unique_codes(
        rd, max(1, n_orphan_lines // 3 + (n_orphan_lines > 0)), "SO", taken=taken
    )
    for k in range(n_orphan_lines):
        extra.append(
            f"{uids[int(rd.integers(U))]}\t{orphan_ids[k % len(orphan_ids)]}\t"
            f"{int(rd.integers(1, 6))}\n"
        )
    positions = np.sort(rd.integers(0, n_clean + 1, size=len(extra)))
    order = rd.permutation(len(extra))
    n_lines = n_clean + len(extra)
    users_with_plays = int(np.count_nonzero(np.bincount(uidx, minlength=U)))
    songs_with_plays = int(np.count_nonzero(np.bincount(sidx, minlength=S)))
    # streamed to a hidden name now, renamed into place after the audio: a folder with
    # triplets and no manifest is taken for a real dataset by the world pipeline
    triplets_tmp = _write_triplets(
        out / "train_triplets.txt", uids, song_ids, uidx, sidx, cnt, extra, positions, order
    )
    del uidx, sidx, cnt
    logger.info(
        "Plays: %d clean triplets (%.3f%% dense), %d dirty lines injected, written in %.1f s",
        n_clean,
        100.0 * n_clean / (U * S),
        len(extra),
        time.perf_counter() - t_plays,
    )

    # ---------------------------------------------------------------- audio plan + dirt
    ra = rngs["audio_plan"]
    single = np.array([s for s in range(S) if s not in extra_track])
    n_missing = _n_of(cfg.missing_audio_rate, S) if cfg.audio else 0
    n_corrupt = cfg.n_corrupt_audio if cfg.audio else 0
    n_empty = cfg.n_empty_audio if cfg.audio else 0
    alt = (["wav"] * cfg.n_wav + ["flac"] * cfg.n_flac + ["ogg"] * cfg.n_ogg) if cfg.audio else []
    need = n_missing + n_corrupt + n_empty + len(alt)
    if need > len(single):
        raise ValueError("too many special audio files for this many songs")
    special = [int(x) for x in ra.choice(single, size=need, replace=False)]
    missing = special[:n_missing]
    corrupt = special[n_missing : n_missing + n_corrupt]
    empty = special[n_missing + n_corrupt : n_missing + n_corrupt + n_empty]
    alt_fmt = dict(zip(special[n_missing + n_corrupt + n_empty :], alt, strict=True))
    tasks = []
    audio_seconds = 0.0
    fmt_counts: dict[str, int] = {"mp3": 0, "wav": 0, "flac": 0, "ogg": 0}
    sr_counts: dict[str, int] = {}
    n_stereo = 0
    audio_dir = out / "audio"
    if audio_dir.exists():  # left over by an interrupted run of ours
        for f in audio_dir.iterdir():
            if f.is_file():
                f.unlink()
    audio_dir.mkdir(exist_ok=True)
    skip = set(missing) | set(corrupt) | set(empty)
    no_preview: list[int] = []
    if cfg.audio and cfg.audio_track_share < 1:
        # audio on a subset: the other songs simply have no preview (not dirt)
        special_set = set(special)
        pool = np.array([s for s in range(S) if s not in special_set], dtype=np.int64)
        n_no = min(len(pool), int(round((1.0 - cfg.audio_track_share) * S)))
        no_preview = sorted(int(x) for x in rngs["audio_subset"].choice(pool, n_no, replace=False))
        skip |= set(no_preview)
    # each artist's own sound: its genre's profile pulled towards another genre's
    profiles = artist_profiles(cfg, core)
    for s in range(S):
        sr, ch, dur = audio_format(cfg, ra)
        if not cfg.audio or s in skip:
            continue
        fmt = alt_fmt.get(s, "mp3")
        a = int(taste.song_artist[s])
        style = taste.artist_style[a] + taste.song_style[s]
        params = audio_mod.track_params(profiles[a], style)
        tasks.append(
            audio_task(
                f"{audio_track[s]}.{fmt}",
                audio_dir,
                params,
                seqs["audio"],
                s,
                sr,
                ch,
                dur,
                fmt,
                cfg,
            )
        )
        audio_seconds += dur
        fmt_counts[fmt] += 1
        sr_counts[str(sr)] = sr_counts.get(str(sr), 0) + 1
        n_stereo += ch == 2
    for s in corrupt:
        path = audio_dir / f"{audio_track[s]}.mp3"
        if len(corrupt) > 1 and s == corrupt[0]:
            data = (
                b"<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1>"
                b"<p>The requested preview was not found on this server.</p></body></html>\n"
            )
        else:  # random bytes without 0xFF, so no MPEG frame sync can appear
            data = bytes(ra.integers(0, 255, size=int(ra.integers(2000, 8000)), dtype=np.uint8))
        _atomic_write_bytes(path, data)
    for s in empty:
        _atomic_write_bytes(audio_dir / f"{audio_track[s]}.mp3", b"")

    # ---------------------------------------------------------------- text: bios, tags, KB
    rt, rg = rngs["text"], rngs["tags"]
    dirt_artists = [
        int(x)
        for x in rd.choice(
            A,
            size=cfg.n_empty_bio + cfg.n_bad_json_bio + cfg.n_bad_utf8_bio + cfg.n_no_tags,
            replace=False,
        )
    ]
    k0 = cfg.n_empty_bio
    k1 = k0 + cfg.n_bad_json_bio
    k2 = k1 + cfg.n_bad_utf8_bio
    empty_bio, bad_json, bad_utf8, no_tags = (
        set(dirt_artists[:k0]),
        set(dirt_artists[k0:k1]),
        set(dirt_artists[k1:k2]),
        set(dirt_artists[k2:]),
    )
    bio_lines: list[bytes] = []
    naming_genre = 0
    bio_lengths = []
    artist_order = rt.permutation(A)
    bios: dict[int, str] = {}
    for a in range(A):
        short = rt.random() < cfg.short_bio_rate
        text, named = biography(
            cat.artists[a], cat, rt, short, taste.neighbours[cat.artists[a].genre]
        )
        bios[a] = text
        naming_genre += bool(named)
    for a in artist_order:
        a = int(a)
        text = "" if a in empty_bio else bios[a]
        bio_lengths.append(len(text))
        obj = {"artist_id": artist_ids[a], "artist_name": cat.artists[a].name, "biography": text}
        line = json.dumps(obj, ensure_ascii=False)
        if a in bad_json:
            line = line[: max(20, len(line) - int(rt.integers(15, 60)))]
        data = line.encode("utf-8")
        if a in bad_utf8:
            start = data.index(b'"biography": "') + len(b'"biography": "')
            at = data.find(b" ", start + (len(data) - start) // 2)
            at = start if at < 0 else at
            data = data[:at] + b" \xff\xfe\xc3(" + data[at:]
        bio_lines.append(data + b"\n")
    _atomic_write_bytes(out / "artist_biographies.jsonl", b"".join(bio_lines))
    logger.info("World: %d biographies written (%.1f s so far)", A, time.perf_counter() - t0)

    tag_lines = ["artist_id\ttag\tweight\n"]
    n_tag_rows = 0
    for a in artist_order:
        a = int(a)
        tl = artist_tags(
            cat.artists[a],
            cat,
            rg,
            float(familiarity[a]),
            cfg.tag_noise_rate,
            taste.neighbours[cat.artists[a].genre],
        )
        if a in no_tags:
            continue
        for tag, w in tl:
            tag_lines.append(f"{artist_ids[a]}\t{tag}\t{w}\n")
            n_tag_rows += 1
    _atomic_write_text(out / "artist_tags.tsv", "".join(tag_lines))

    entities = kb_entities(cat)
    ttl, n_triples = to_turtle(entities)
    _atomic_write_text(out / "knowledge_base.ttl", ttl)
    kb_types: dict[str, int] = {}
    for e in entities:
        for t in e.types:
            kb_types[t] = kb_types.get(t, 0) + 1

    # ---------------------------------------------------------------- metadata DB
    logger.info("World: tags and knowledge base written (%.1f s so far)", time.perf_counter() - t0)
    _write_sqlite(out / "track_metadata.db", rows)

    # ---------------------------------------------------------------- ground truth
    _write_truth(out / "truth", taste, cat, artist_ids, song_ids, audio_track, uids)
    logger.info(
        "Catalogue, text, tags and knowledge base written in %.1f s", time.perf_counter() - t0
    )

    # ---------------------------------------------------------------- audio render
    if tasks:
        _render_audio(tasks, cfg)

    os.replace(triplets_tmp, out / "train_triplets.txt")

    # ---------------------------------------------------------------- manifest
    files = file_entries(
        out,
        (
            "train_triplets.txt",
            "track_metadata.db",
            "artist_biographies.jsonl",
            "artist_tags.tsv",
            "knowledge_base.ttl",
            "truth/genres.tsv",
            "truth/artists.tsv",
            "truth/songs.tsv",
            "truth/users.tsv",
        ),
    )
    modes: dict[str, int] = {}
    for info in cat.artists:
        modes[info.bio_mode] = modes.get(info.bio_mode, 0) + 1
    counts = {
        "genres": len(genres),
        "artists": A,
        "songs": S,
        "tracks": len(rows),
        "songs_with_two_tracks": n_two,
        "users": U,
        "users_with_plays": users_with_plays,
        "songs_with_plays": songs_with_plays,
        "triplets": n_clean,
        "plays_total": plays_total,
        "triplet_lines": n_lines,
        "biography_lines": A,
        "biography_modes": dict(sorted(modes.items())),
        "biographies_naming_genre": naming_genre,
        "biography_chars_median": int(np.median(bio_lengths)),
        "biographies_under_50_chars": int(sum(n < 50 for n in bio_lengths)),
        "tag_rows": n_tag_rows,
        "kb_triples": n_triples,
        "kb_entities": dict(sorted(kb_types.items())),
        "artists_in_kb": int(sum(i.in_kb for i in cat.artists)),
        "audio_files": {**fmt_counts, "corrupt": len(corrupt), "empty": len(empty)},
        "audio_missing": len(missing),
        "audio_sample_rates": dict(sorted(sr_counts.items())),
        "audio_stereo": int(n_stereo),
        "audio_seconds": round(audio_seconds, 2),
    }
    if cfg.audio_track_share < 1:
        counts["audio_no_preview"] = len(no_preview)
    dirt = {
        "triplets": {
            "malformed_field_count": n_bad_fields,
            "malformed_play_count": n_bad_count,
            "nonpositive_play_count": n_nonpos,
            "duplicate_lines": int(len(dup_rows)),
            "orphan_song_lines": n_orphan_lines,
            "orphan_song_ids": sorted(orphan_ids) if n_orphan_lines else [],
        },
        "audio": {
            "missing": sorted(audio_track[s] for s in missing),
            "corrupt": sorted(audio_track[s] for s in corrupt),
            "empty": sorted(audio_track[s] for s in empty),
        },
        "biographies": {
            "empty": sorted(artist_ids[a] for a in empty_bio),
            "invalid_json": sorted(artist_ids[a] for a in bad_json),
            "invalid_utf8": sorted(artist_ids[a] for a in bad_utf8),
        },
        "tags": {"no_tags": sorted(artist_ids[a] for a in no_tags)},
        "songs_with_two_tracks": sorted(song_ids[s] for s in two_track_songs),
    }
    return {
        "generator": "coldstart.world",
        "generator_version": GENERATOR_VERSION,
        "preset": cfg.preset,
        "seed": cfg.seed,
        "config": ident,
        "counts": counts,
        "dirt": dirt,
        "files": files,
    }


TRIPLET_CHUNK = 1 << 20  # lines formatted and written at a time


def _write_triplets(
    path: Path,
    uids: list[str],
    song_ids: list[str],
    uidx: np.ndarray,
    sidx: np.ndarray,
    cnt: np.ndarray,
    extra: list[str],
    positions: np.ndarray,
    order: np.ndarray,
) -> Path:
    """Write the clean triplets with the dirty lines ``extra[order[i]]`` inserted before
    clean line ``positions[i]``, in chunks, to a hidden temporary file; return its path.

    Memory stays at one chunk of text whatever the number of lines.
    """
    from coldstart.progress import ProgressLog

    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    n_clean = len(uidx)
    progress = ProgressLog(n_clean, "writing train_triplets.txt", unit="lines", logger=logger)
    inserts = np.searchsorted(positions, np.arange(0, n_clean + 1, TRIPLET_CHUNK), side="left")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        for c, start in enumerate(range(0, n_clean, TRIPLET_CHUNK)):
            stop = min(start + TRIPLET_CHUNK, n_clean)
            lines = [
                f"{uids[u]}\t{song_ids[s]}\t{k}\n"
                for u, s, k in zip(
                    uidx[start:stop].tolist(),
                    sidx[start:stop].tolist(),
                    cnt[start:stop].tolist(),
                    strict=True,
                )
            ]
            # dirty lines that go before clean lines start..stop-1 of this chunk
            merged: list[str] = []
            prev = 0
            for i in range(int(inserts[c]), len(positions)):
                if positions[i] >= stop:
                    break
                at = int(positions[i]) - start
                merged.extend(lines[prev:at])
                merged.append(extra[order[i]])
                prev = at
            if merged:
                merged.extend(lines[prev:])
                lines = merged
            fh.write("".join(lines))
            progress.advance(stop - start)
        for i in range(int(np.searchsorted(positions, n_clean, side="left")), len(positions)):
            fh.write(extra[order[i]])  # after the last clean line
        fh.flush()
        os.fsync(fh.fileno())
    progress.close()
    return tmp


def _write_sqlite(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.unlink(missing_ok=True)
    con = sqlite3.connect(tmp)
    try:
        con.execute("PRAGMA journal_mode=OFF")
        cols = ", ".join(f"{c} {t}" for c, t in SONGS_COLUMNS)
        con.execute(f"CREATE TABLE songs ({cols})")
        names = [c for c, _ in SONGS_COLUMNS]
        con.executemany(
            f"INSERT INTO songs VALUES ({', '.join('?' * len(names))})",
            [tuple(r[c] for c in names) for r in rows],
        )
        con.commit()
    finally:
        con.close()
    os.replace(tmp, path)


def _write_truth(folder: Path, taste, cat, artist_ids, song_ids, audio_track, uids) -> None:
    """Ground truth for tests and diagnostics (not part of the raw data contract)."""
    folder.mkdir(exist_ok=True)
    D = taste.centres.shape[1]
    xs = "\t".join(f"x{i}" for i in range(D))
    gl = [f"genre\tresource\t{xs}\n"]
    for g, c in zip(taste.genres, taste.centres, strict=True):
        gl.append(f"{g.key}\t{g.resource}\t" + "\t".join(_fmt(v) for v in c) + "\n")
    _atomic_write_text(folder / "genres.tsv", "".join(gl))
    al = [
        f"artist_id\tartist_name\tgenre\tsubstyle\tcrossover_genre\tbio_mode\tin_kb\t"
        f"popularity\t{xs}\n"
    ]
    for a, info in enumerate(cat.artists):
        g = taste.genres[info.genre]
        cross = taste.genres[info.cross].key if info.cross >= 0 else ""
        al.append(
            f"{artist_ids[a]}\t{info.name}\t{g.key}\t{g.substyles[info.substyle][0]}\t"
            f"{cross}\t{info.bio_mode}\t{int(info.in_kb)}\t{_fmt(taste.artist_pop[a])}\t"
            + "\t".join(_fmt(v) for v in taste.artist_pos[a])
            + "\n"
        )
    _atomic_write_text(folder / "artists.tsv", "".join(al))
    zs = "\t".join(f"z{i}" for i in range(taste.song_style.shape[1]))
    sl = [f"song_id\tartist_id\taudio_track_id\tgenre\tpopularity\t{zs}\t{xs}\n"]
    for s in range(len(song_ids)):
        a = int(taste.song_artist[s])
        sl.append(
            f"{song_ids[s]}\t{artist_ids[a]}\t{audio_track[s]}\t"
            f"{taste.genres[int(taste.artist_genre[a])].key}\t{_fmt(taste.song_pop[s])}\t"
            + "\t".join(_fmt(v) for v in taste.song_style[s])
            + "\t"
            + "\t".join(_fmt(v) for v in taste.song_pos[s])
            + "\n"
        )
    _atomic_write_text(folder / "songs.tsv", "".join(sl))
    ul = [f"user_id\tgenres\tactivity\t{xs}\n"]
    for u in range(len(uids)):
        gs = ",".join(taste.genres[g].key for g in taste.user_genres[u])
        ul.append(
            f"{uids[u]}\t{gs}\t{int(taste.user_activity[u])}\t"
            + "\t".join(_fmt(v) for v in taste.user_pos[u])
            + "\n"
        )
    _atomic_write_text(folder / "users.tsv", "".join(ul))


def _report_stopped_audio(stop: KeyboardInterrupt, tasks: list[tuple]) -> None:
    """One line on what an interrupted render left: finished tracks, no temp files."""
    from coldstart.pools import signal_name

    folders = {Path(task[1]) for task in tasks}
    for folder in folders:  # a worker ended mid-write leaves its temp file
        for temporary in folder.glob(".*.tmp*"):
            temporary.unlink(missing_ok=True)
    kept = sum((Path(task[1]) / task[0]).is_file() for task in tasks)
    logger.warning(
        "World audio stopped by %s: %d of %d tracks finished and kept (each file is saved "
        "whole or not at all); the world stays marked incomplete, and the next run "
        "generates it again",
        signal_name(stop),
        kept,
        len(tasks),
    )


def _render_audio(tasks: list[tuple], cfg: WorldConfig) -> None:
    """Render every audio task, in parallel over chunks; deterministic per task.

    Stopped by SIGINT or SIGTERM, it ends its workers within seconds
    (:func:`coldstart.pools.run_in_processes`), says in one line how many finished
    tracks are on disk, and re-raises: the world stays marked incomplete.
    """
    from concurrent.futures.process import BrokenProcessPool

    from tqdm.auto import tqdm

    from coldstart.pools import run_in_processes, worker_context

    n_jobs = cfg.n_jobs or available_cores()
    n_jobs = max(1, min(n_jobs, len(tasks)))
    chunks = [tasks[i : i + cfg.chunk_size] for i in range(0, len(tasks), cfg.chunk_size)]
    seconds = sum(t[7] for t in tasks)
    logger.info(
        "World audio: rendering %d tracks (%.0f s of audio) with %d process(es)",
        len(tasks),
        seconds,
        n_jobs,
    )
    t0 = time.perf_counter()
    done: set[int] = set()
    with tqdm(total=len(tasks), desc="world audio", unit="track", mininterval=1.0) as bar:

        def finished(index: int, result: Any) -> None:
            done.add(index)
            bar.update(len(chunks[index]))

        try:
            if n_jobs > 1:
                try:
                    run_in_processes(
                        audio_mod.render_chunk,
                        [(chunk,) for chunk in chunks],
                        n_workers=n_jobs,
                        mp_context=worker_context(),
                        on_result=finished,
                    )
                except (BrokenProcessPool, RuntimeError, OSError) as exc:
                    logger.warning(
                        "Audio worker pool failed (%s); rendering the remaining tracks in this "
                        "process",
                        exc,
                    )
                    n_jobs = 1
            for i, chunk in enumerate(chunks):  # sequential path, or what the pool left
                if i not in done:
                    audio_mod.render_chunk(chunk)
                    finished(i, None)
        except KeyboardInterrupt as stop:
            _report_stopped_audio(stop, tasks)
            raise
    dt = time.perf_counter() - t0
    logger.info(
        "Audio: %d tracks (%.0f s of audio) in %.1f s with %d process(es): %.1f tracks/s",
        len(tasks),
        seconds,
        dt,
        n_jobs,
        len(tasks) / max(dt, 1e-9),
    )
