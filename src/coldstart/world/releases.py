"""New releases: artists and tracks of the same world that are not in its training data.

``<world>/releases/`` holds new music for the world's users, in the raw contract's
formats (a subset): ``artist_biographies.jsonl``, ``artist_tags.tsv``,
``track_metadata.db`` (table ``songs``, the world's columns) and ``audio/<track_id>.mp3``.
Every release artist belongs to one case (:data:`~coldstart.world.config.RELEASE_CASES`):

``complete``
    a new artist with a biography and tags; its tracks have audio;
``biography_only``
    a new artist with a biography, no tags; its tracks have no audio (metadata only);
``tags_only``
    a new artist with tags, no biography; its tracks have no audio;
``audio_only``
    a new artist with neither biography nor tags; its tracks have audio;
``existing_artist``
    new tracks (with audio) by artists of the world's catalogue (their id and name;
    no biography or tags lines here: those are in the world's own files).

Everything is drawn by the world's own generators against the world itself: new
artists are placed in the same taste space (:func:`~coldstart.world.taste.place_artists`,
genre shares of the catalogue), named by a fork of the world's name factory (so no
name repeats a KB label), given labels, producers, hometowns and influences of the
world's catalogue (:func:`~coldstart.world.knowledge.draw_artist`), so their
biographies mention entities of the world's ``knowledge_base.ttl`` (no second KB is
written: new artists are not in it); tags, sound and audio encoding are the world's.
No dirt is injected.

``releases/truth/`` is for scoring only (no pipeline reads it): ``plays.tsv`` holds the
plays the world's users would give the new songs
(:func:`~coldstart.world.taste.sample_release_plays`: the world's listening model over
catalogue + new songs, the catalogue's keys re-created exactly) and ``items.tsv`` one row
per release song. ``releases_manifest.json`` is written last.

Every release quantity comes from streams of their own (a ``SeedSequence`` of the
world's seed under spawn key :data:`_RELEASES_KEY`, far beyond the world's streams), and
the world in memory is rebuilt from its config (:func:`~coldstart.world.writer.build_core`),
so the world's files are never touched and releases can be added to a world generated
before they existed. Same world seed and release config => same bytes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

from . import audio as audio_mod
from .config import RELEASE_CASES, ReleaseConfig, WorldConfig
from .knowledge import bio_mode_p, draw_artist, draw_associates
from .names import mbid, unique_codes
from .taste import place_artists, place_songs, sample_release_plays
from .text import artist_tags, biography
from .writer import (
    GENERATOR_VERSION,
    WorldCore,
    _atomic_write_text,
    _render_audio,
    _write_sqlite,
    artist_profile_for,
    artist_profiles,
    audio_format,
    audio_task,
    build_core,
    file_entries,
)

logger = logging.getLogger(__name__)

RELEASES_DIR = "releases"
RELEASES_MANIFEST = "releases_manifest.json"
RELEASES_VERSION = "1.0.0"
#: spawn key of the releases' root SeedSequence ("RELE"): never one of the world's streams
_RELEASES_KEY = 0x52454C45
# order of the releases' own streams (append only!)
_RELEASE_STREAMS = (
    "taste",
    "names",
    "catalog",
    "ids",
    "meta",
    "plays",
    "text",
    "tags",
    "audio_plan",
    "audio",
    "audio_artists",
)
NEW_ARTIST_CASES = RELEASE_CASES[:4]
_WITH_BIO = ("complete", "biography_only")
_WITH_TAGS = ("complete", "tags_only")
_WITH_AUDIO = ("complete", "audio_only", "existing_artist")
RELEASE_FILES = (
    "track_metadata.db",
    "artist_biographies.jsonl",
    "artist_tags.tsv",
    "truth/plays.tsv",
    "truth/items.tsv",
)


def ensure_releases(
    out: Path,
    cfg: WorldConfig,
    rcfg: ReleaseConfig,
    world_manifest: dict,
    core: WorldCore | None = None,
) -> dict:
    """Make ``out/releases/`` hold the releases of the (complete) world in ``out``.

    A releases folder whose manifest matches the world's and the release config is
    reused; anything else there (another release config, an interrupted generation) is
    replaced, with a warning. The folder is built under a temporary name and renamed
    into place, its manifest written last. ``core`` is the world in memory when the
    caller has it (a fresh generation); otherwise it is rebuilt from ``cfg`` and checked
    against the world's ``truth/`` files. Returns the releases manifest.
    """
    out = Path(out)
    folder = out / RELEASES_DIR
    ident = json.loads(json.dumps(rcfg.identity()))
    manifest_path = folder / RELEASES_MANIFEST
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text(encoding="utf-8"))
        if (
            old.get("config") == ident
            and old.get("world_config") == world_manifest.get("config")
            and old.get("releases_version") == RELEASES_VERSION
        ):
            logger.info("Releases in %s match the config: reusing them", folder)
            return old
        logger.warning(
            "Releases in %s were made with another release or world config: replacing them",
            folder,
        )
    elif folder.exists():
        logger.warning(
            "Releases in %s are incomplete (no %s): replacing them", folder, RELEASES_MANIFEST
        )
    t0 = time.perf_counter()
    if core is None:
        core = build_core(cfg)
        _check_core(out, core)
    for stale in out.glob(".releases.*"):  # left over by an interrupted run of ours
        shutil.rmtree(stale, ignore_errors=True)
    tmp = out / f".releases.tmp{os.getpid()}"
    tmp.mkdir()
    manifest = _generate_releases(cfg, rcfg, ident, core, world_manifest, tmp)
    _atomic_write_text(
        tmp / RELEASES_MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    )
    if folder.exists():
        trash = out / f".releases.old{os.getpid()}"
        os.replace(folder, trash)
        os.replace(tmp, folder)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, folder)
    logger.info(
        "Releases written to %s in %.1f s: %s",
        folder,
        time.perf_counter() - t0,
        {c: v["songs"] for c, v in manifest["counts"]["cases"].items()},
    )
    return manifest


def _check_core(out: Path, core: WorldCore) -> None:
    """The rebuilt world must be the one on disk (same artists and users, in order)."""

    def first_column(name: str) -> list[str]:
        path = out / "truth" / name
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: cannot add releases to this world")
        lines = path.read_text(encoding="utf-8").splitlines()[1:]
        return [line.split("\t", 1)[0] for line in lines]

    if first_column("artists.tsv") != core.artist_ids or first_column("users.tsv") != core.uids:
        raise RuntimeError(
            f"The world in {out} is not the one this code generates for its config "
            "(artists or users differ), so releases cannot be drawn against it. "
            "Regenerate the world (delete the folder) to get releases."
        )


def release_streams(seed: int) -> dict[str, np.random.SeedSequence]:
    """The releases' own random streams for a world seed."""
    root = np.random.SeedSequence(seed, spawn_key=(_RELEASES_KEY,))
    return dict(zip(_RELEASE_STREAMS, root.spawn(len(_RELEASE_STREAMS)), strict=True))


def _generate_releases(
    cfg: WorldConfig,
    rcfg: ReleaseConfig,
    ident: dict,
    core: WorldCore,
    world_manifest: dict,
    folder: Path,
) -> dict:
    seqs = release_streams(cfg.seed)
    rngs = {k: np.random.Generator(np.random.PCG64(s)) for k, s in seqs.items()}
    taste, cat = core.taste, core.cat
    genres = taste.genres
    G, A = len(genres), cfg.n_artists
    n = rcfg.artists_per_case

    # ---------------------------------------------------------------- who: artists
    rt = rngs["taste"]
    share = np.bincount(taste.artist_genre, minlength=G) / A  # the catalogue's genre shares
    new_genre = np.concatenate(
        [rt.choice(G, size=n, replace=n > G, p=share) for _ in NEW_ARTIST_CASES]
    ).astype(np.int64)
    N = len(new_genre)
    new_sub, new_cross, new_pos, new_pop, new_style = place_artists(
        cfg,
        rt,
        new_genre,
        taste.centres,
        taste.substyle_dirs,
        taste.substyle_weights,
        taste.substyle_audio,
        taste.neighbours,
    )
    dirt = world_manifest.get("dirt", {})
    dirty = set(dirt.get("tags", {}).get("no_tags", []))
    for ids in dirt.get("biographies", {}).values():
        dirty |= set(ids)
    pool = [a for a in range(A) if core.artist_ids[a] not in dirty]
    existing = [int(a) for a in rt.choice(pool, size=min(n, len(pool)), replace=False)]
    case_of = [c for c in NEW_ARTIST_CASES for _ in range(n)] + ["existing_artist"] * len(existing)
    # release artist k: new artist k (k < N) or catalogue artist existing[k - N]
    all_genre = np.concatenate([new_genre, taste.artist_genre[existing]]).astype(np.int64)
    all_pos = np.concatenate([new_pos, taste.artist_pos[existing]])
    all_pop = np.concatenate([new_pop, taste.artist_pop[existing]])
    all_style = np.concatenate([new_style, taste.artist_style[existing]])
    K = len(case_of)

    # ---------------------------------------------------------------- what: songs
    n_songs = rt.integers(rcfg.songs_min, rcfg.songs_max + 1, size=K)
    song_artist = np.repeat(np.arange(K), n_songs)
    song_style, song_pos, song_pop = place_songs(
        cfg, rt, song_artist, all_pos, all_pop, taste.style_map
    )
    R = len(song_artist)

    # ---------------------------------------------------------------- names, KB links, ids
    names = core.names.fork(rngs["names"])
    rc = rngs["catalog"]
    mode_p = bio_mode_p(cfg)
    infos = [
        draw_artist(
            cat,
            taste.neighbours,
            names,
            rc,
            A + k,
            int(new_genre[k]),
            int(new_sub[k]),
            int(new_cross[k]),
            0.0,  # new artists have no KB resource: the world's KB is not rewritten
            mode_p,
        )
        for k in range(N)
    ]
    by_genre = [np.flatnonzero(taste.artist_genre == g) for g in range(G)]
    for info in infos:
        info.associates = draw_associates(info, by_genre, taste.neighbours, rc)
    infos += [cat.artists[a] for a in existing]

    r = rngs["ids"]
    taken = set(core.artist_ids) | set(core.song_ids) | set(core.track_ids)
    taken |= set(dirt.get("triplets", {}).get("orphan_song_ids", []))
    artist_ids = unique_codes(r, N, "AR", taken=taken) + [core.artist_ids[a] for a in existing]
    song_ids = unique_codes(r, R, "SO", taken=taken)
    track_ids = unique_codes(r, R, "TR", taken=taken)

    # ---------------------------------------------------------------- metadata DB
    rm = rngs["meta"]
    main_pop = np.sort(taste.artist_pop)
    pct = (np.searchsorted(main_pop, new_pop) + 0.5) / (A + 1)
    familiarity = np.clip(0.15 + 0.75 * pct + rm.normal(0, 0.05, N), 0.0, 1.0)
    hotttnesss = np.clip(0.55 * familiarity + rm.normal(0.1, 0.06, N), 0.0, 1.0)
    mbids = [mbid(rm) if rm.random() > 0.1 else "" for _ in range(N)]
    familiarity = np.concatenate([familiarity, core.familiarity[existing]])
    hotttnesss = np.concatenate([hotttnesss, core.hotttnesss[existing]])
    mbids += [core.mbids[a] for a in existing]
    rows = []
    for s in range(R):
        k = int(song_artist[s])
        info = infos[k]
        title = names.song_title()
        if k < N and info.works and rm.random() < 0.7:
            release = info.works[int(rm.integers(len(info.works)))].title
        else:
            release = f"{title} EP" if rm.random() < 0.5 else f"Live in {cat.places[info.hometown]}"
        shs = (
            (int(rm.integers(1, 200000)), int(rm.integers(1, 20000)))
            if rm.random() < 0.02
            else (-1, 0)
        )
        rows.append(
            dict(
                track_id=track_ids[s],
                title=title,
                song_id=song_ids[s],
                release=release,
                artist_id=artist_ids[k],
                artist_mbid=mbids[k],
                artist_name=info.name,
                duration=round(float(rm.uniform(120, 420)), 5),
                artist_familiarity=round(float(familiarity[k]), 6),
                artist_hotttnesss=round(float(hotttnesss[k]), 6),
                year=0 if rm.random() < 0.35 else 2011,  # the world's catalogue ends in 2010
                track_7digitalid=int(rm.integers(1, 10_000_000)),
                shs_perf=shs[0],
                shs_work=shs[1],
            )
        )
    rows = [rows[i] for i in rm.permutation(len(rows))]
    _write_sqlite(folder / "track_metadata.db", rows)

    # ---------------------------------------------------------------- biographies, tags
    rtx = rngs["text"]
    bio_artists = [k for k in range(N) if case_of[k] in _WITH_BIO]
    bios = {}
    for k in bio_artists:
        short = rtx.random() < cfg.short_bio_rate
        bios[k], _ = biography(infos[k], cat, rtx, short, taste.neighbours[int(new_genre[k])])
    lines = []
    for i in rtx.permutation(len(bio_artists)):
        k = bio_artists[int(i)]
        obj = {"artist_id": artist_ids[k], "artist_name": infos[k].name, "biography": bios[k]}
        lines.append(json.dumps(obj, ensure_ascii=False) + "\n")
    _atomic_write_text(folder / "artist_biographies.jsonl", "".join(lines))

    rg = rngs["tags"]
    tag_artists = [k for k in range(N) if case_of[k] in _WITH_TAGS]
    tag_lines = ["artist_id\ttag\tweight\n"]
    for i in rg.permutation(len(tag_artists)):
        k = tag_artists[int(i)]
        for tag, w in artist_tags(
            infos[k],
            cat,
            rg,
            float(familiarity[k]),
            cfg.tag_noise_rate,
            taste.neighbours[int(new_genre[k])],
        ):
            tag_lines.append(f"{artist_ids[k]}\t{tag}\t{w}\n")
    _atomic_write_text(folder / "artist_tags.tsv", "".join(tag_lines))

    # ---------------------------------------------------------------- audio
    rp = rngs["audio_artists"]
    profiles = [artist_profile_for(cfg, taste, int(g), rp) for g in new_genre]
    if existing:
        world_profiles = artist_profiles(cfg, core)
        profiles += [world_profiles[a] for a in existing]
    audio_dir = folder / "audio"
    audio_dir.mkdir()
    ra = rngs["audio_plan"]
    tasks = []
    has_audio = np.zeros(R, dtype=bool)
    audio_seconds = 0.0
    sr_counts: dict[str, int] = {}
    for s in range(R):
        k = int(song_artist[s])
        if case_of[k] not in _WITH_AUDIO or not cfg.audio:
            continue
        sr, ch, dur = audio_format(cfg, ra)
        params = audio_mod.track_params(profiles[k], all_style[k] + song_style[s])
        tasks.append(
            audio_task(
                f"{track_ids[s]}.mp3", audio_dir, params, seqs["audio"], s, sr, ch, dur, "mp3", cfg
            )
        )
        has_audio[s] = True
        audio_seconds += dur
        sr_counts[str(sr)] = sr_counts.get(str(sr), 0) + 1
    if tasks:
        _render_audio(tasks, cfg)

    # ---------------------------------------------------------------- truth: plays, items
    uidx, sidx, cnt = sample_release_plays(
        cfg, taste, core.seqs["plays"], song_pos, song_pop, seqs["plays"]
    )
    (folder / "truth").mkdir()
    pl = ["user_id\tsong_id\ttrack_id\tartist_id\tplays\n"]
    for u, s, c in zip(uidx.tolist(), sidx.tolist(), cnt.tolist(), strict=True):
        k = int(song_artist[s])
        pl.append(f"{core.uids[u]}\t{song_ids[s]}\t{track_ids[s]}\t{artist_ids[k]}\t{c}\n")
    _atomic_write_text(folder / "truth" / "plays.tsv", "".join(pl))
    il = ["artist_id\tcase\tgenre\tsong_id\ttrack_id\thas_audio\n"]
    for s in range(R):
        k = int(song_artist[s])
        il.append(
            f"{artist_ids[k]}\t{case_of[k]}\t{genres[int(all_genre[k])].key}\t{song_ids[s]}\t"
            f"{track_ids[s]}\t{int(has_audio[s])}\n"
        )
    _atomic_write_text(folder / "truth" / "items.tsv", "".join(il))

    # ---------------------------------------------------------------- manifest
    song_case = np.array([case_of[int(k)] for k in song_artist])
    play_case = song_case[sidx] if len(sidx) else np.array([], dtype=song_case.dtype)
    cases: dict[str, dict[str, int]] = {}
    for c in RELEASE_CASES:
        in_case = song_case == c
        on = play_case == c
        cases[c] = {
            "artists": int(sum(x == c for x in case_of)),
            "songs": int(in_case.sum()),
            "songs_with_audio": int(has_audio[in_case].sum()),
            "biographies": int(sum(case_of[k] == c for k in bio_artists)),
            "tagged_artists": int(sum(case_of[k] == c for k in tag_artists)),
            "plays_rows": int(on.sum()),
            "plays_total": int(cnt[on].sum()),
            "listeners": int(len(np.unique(uidx[on]))),
            "songs_with_plays": int(len(np.unique(sidx[on]))),
        }
    counts = {
        "cases": cases,
        "artists": K,
        "new_artists": N,
        "songs": R,
        "tracks": R,
        "audio_files": len(tasks),
        "audio_seconds": round(audio_seconds, 2),
        "audio_sample_rates": dict(sorted(sr_counts.items())),
        "biography_lines": len(bio_artists),
        "tag_rows": len(tag_lines) - 1,
        "plays_rows": int(len(uidx)),
        "plays_total": int(cnt.sum()),
        "users_with_plays": int(len(np.unique(uidx))),
        "songs_with_plays": int(len(np.unique(sidx))),
    }
    return {
        "generator": "coldstart.world.releases",
        "generator_version": GENERATOR_VERSION,
        "releases_version": RELEASES_VERSION,
        "preset": cfg.preset,
        "seed": cfg.seed,
        "config": ident,
        "world_config": world_manifest.get("config"),
        "counts": counts,
        "files": file_entries(folder, RELEASE_FILES),
    }


def releases_dir(out_dir: str | Path) -> Path:
    """Where the releases of the world in ``out_dir`` live."""
    return Path(out_dir) / RELEASES_DIR


__all__ = [
    "RELEASES_DIR",
    "RELEASES_MANIFEST",
    "RELEASES_VERSION",
    "ensure_releases",
    "release_streams",
    "releases_dir",
]
