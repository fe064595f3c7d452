"""The latent taste space: genre centres, artists, songs, users and their plays.

Everything here is numbers; names, text and sound are layered on top by the other
modules. All positions live in one ``taste_dim``-dimensional space in which genre
centres have unit norm; the ``*_noise`` / ``*_scale`` knobs of
:class:`~coldstart.world.config.WorldConfig` are the expected norms of the offsets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import WorldConfig
from .genres import GENRES, GenreSpec

N_STYLE = 4  # per-track style latent: tempo, brightness, percussion, register
N_SUBSTYLES = 3
PLAY_BATCH = 256  # users per sampling batch (fixed: part of the world's identity)


@dataclass
class Taste:
    genres: list[GenreSpec]
    centres: np.ndarray  # (G, D) unit norm
    substyle_dirs: np.ndarray  # (G, 3, D)
    substyle_weights: np.ndarray  # (G, 3)
    substyle_audio: np.ndarray  # (G, 3, 4) audio offsets in style units
    neighbours: list[list[int]]  # related genres (origins, children or nearest)
    style_map: np.ndarray  # (D, 4): track style latent -> taste offset
    artist_genre: np.ndarray  # (A,)
    artist_substyle: np.ndarray  # (A,)
    artist_cross: np.ndarray  # (A,) second genre pulled towards, -1 if none
    artist_pos: np.ndarray  # (A, D)
    artist_pop: np.ndarray  # (A,)
    artist_style: np.ndarray  # (A, 4) artist-level audio offsets (style units)
    song_artist: np.ndarray  # (S,)
    song_style: np.ndarray  # (S, 4) track style latent z
    song_pos: np.ndarray  # (S, D)
    song_pop: np.ndarray  # (S,)
    user_genres: list[tuple[int, ...]]
    user_pos: np.ndarray  # (U, D)
    user_activity: np.ndarray  # (U,) distinct songs wanted

    @property
    def song_genre(self) -> np.ndarray:
        return self.artist_genre[self.song_artist]


def _noise(rng: np.random.Generator, shape: tuple[int, ...], norm: float) -> np.ndarray:
    """Gaussian vectors (last axis) with expected norm ~ ``norm``."""
    d = shape[-1]
    return rng.standard_normal(shape) * (norm / np.sqrt(d))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def place_artists(
    cfg: WorldConfig,
    rng: np.random.Generator,
    artist_genre: np.ndarray,
    centres: np.ndarray,
    substyle_dirs: np.ndarray,
    substyle_weights: np.ndarray,
    substyle_audio: np.ndarray,
    neighbours: list[list[int]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Place artists of the given genres: sub-style, position, crossover, popularity, sound.

    Returns ``artist_substyle, artist_cross, artist_pos, artist_pop, artist_style``. Used
    for the world's artists (:func:`build_taste`) and for new releases, so both are drawn
    by the same model.
    """
    A, D = len(artist_genre), centres.shape[1]
    artist_substyle = np.array(
        [rng.choice(N_SUBSTYLES, p=substyle_weights[g]) for g in artist_genre], dtype=np.int64
    )
    amount = rng.uniform(0.7, 1.3, size=A)
    artist_pos = (
        centres[artist_genre]
        + amount[:, None] * substyle_dirs[artist_genre, artist_substyle]
        + _noise(rng, (A, D), cfg.artist_noise)
    )
    artist_cross = np.full(A, -1, dtype=np.int64)
    cross = rng.random(A) < cfg.crossover_rate
    for a in np.flatnonzero(cross):
        h = int(rng.choice(neighbours[artist_genre[a]]))
        artist_cross[a] = h
        artist_pos[a] += 0.4 * (centres[h] - centres[artist_genre[a]])
    artist_pop = rng.lognormal(0.0, cfg.artist_popularity_sigma, size=A)
    artist_style = (
        substyle_audio[artist_genre, artist_substyle] * amount[:, None]
        + rng.standard_normal((A, N_STYLE)) * 0.6
    )
    return artist_substyle, artist_cross, artist_pos, artist_pop, artist_style


def place_songs(
    cfg: WorldConfig,
    rng: np.random.Generator,
    song_artist: np.ndarray,
    artist_pos: np.ndarray,
    artist_pop: np.ndarray,
    style_map: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Songs of the given artists: style latent ``z``, position and popularity.

    Returns ``song_style, song_pos, song_pop`` (used by :func:`build_taste` and for
    new releases).
    """
    S, D = len(song_artist), artist_pos.shape[1]
    song_style = rng.standard_normal((S, N_STYLE))
    song_pos = (
        artist_pos[song_artist] + song_style @ style_map.T + _noise(rng, (S, D), cfg.song_noise)
    )
    song_pop = artist_pop[song_artist] * rng.lognormal(0.0, cfg.song_popularity_sigma, size=S)
    return song_style, song_pos, song_pop


def build_taste(cfg: WorldConfig, rng: np.random.Generator) -> Taste:
    """Draw genres, artists, songs and users in the latent space."""
    G, D, A, S, U = cfg.n_genres, cfg.taste_dim, cfg.n_artists, cfg.n_songs, cfg.n_users
    genres = list(GENRES[:G])
    index = {g.key: i for i, g in enumerate(genres)}

    # genre centres: related genres (stylistic origins) are pulled together
    raw = _unit(rng.standard_normal((G, D)))
    centres = raw.copy()
    for i, g in enumerate(genres):
        origins = [index[o] for o in g.origins if o in index]
        if origins:
            centres[i] = raw[i] + 0.45 * raw[origins].mean(axis=0)
    centres = _unit(centres)
    neighbours: list[list[int]] = []
    cos = centres @ centres.T
    for i, g in enumerate(genres):
        rel = {index[o] for o in g.origins if o in index}
        rel |= {j for j, h in enumerate(genres) if g.key in h.origins}
        if not rel:
            order = np.argsort(-cos[i])
            rel = {int(order[1])}
        neighbours.append(sorted(rel))

    substyle_dirs = _unit(rng.standard_normal((G, N_SUBSTYLES, D))) * cfg.substyle_scale
    substyle_weights = rng.dirichlet(np.full(N_SUBSTYLES, 3.0), size=G)
    substyle_audio = rng.standard_normal((G, N_SUBSTYLES, N_STYLE)) * 0.9
    style_map = _unit(rng.standard_normal((N_STYLE, D))).T * (cfg.track_style_scale / 2.0)

    # artists: at least 3 per genre, the rest by genre share
    share = rng.dirichlet(np.full(G, 4.0))
    per_genre = 3 + rng.multinomial(A - 3 * G, share)
    artist_genre = rng.permutation(np.repeat(np.arange(G), per_genre))
    artist_substyle, artist_cross, artist_pos, artist_pop, artist_style = place_artists(
        cfg, rng, artist_genre, centres, substyle_dirs, substyle_weights, substyle_audio, neighbours
    )

    # songs: every artist has one, the rest skewed towards popular artists
    w = rng.lognormal(0.0, 0.8, size=A) * artist_pop**0.3
    n_songs = 1 + rng.multinomial(S - A, w / w.sum())
    song_artist = rng.permutation(np.repeat(np.arange(A), n_songs))
    song_style, song_pos, song_pop = place_songs(
        cfg, rng, song_artist, artist_pos, artist_pop, style_map
    )

    # users: one or two liked genres, a sub-style leaning, noise, an activity level
    user_genres: list[tuple[int, ...]] = []
    user_pos = np.empty((U, D))
    for u in range(U):
        g1 = int(rng.choice(G, p=share))
        pos = centres[g1].copy()
        gs: tuple[int, ...] = (g1,)
        if rng.random() < cfg.second_genre_rate:
            if rng.random() < 0.6:
                g2 = int(rng.choice(neighbours[g1]))
            else:
                g2 = int(rng.choice([g for g in range(G) if g != g1]))
            w1 = rng.uniform(0.55, 0.8)
            pos = w1 * centres[g1] + (1 - w1) * centres[g2]
            pos /= np.linalg.norm(pos)
            gs = (g1, g2)
        k = rng.choice(N_SUBSTYLES, p=substyle_weights[g1])
        pos = pos + rng.uniform(0.0, 1.0) * substyle_dirs[g1, k]
        user_pos[u] = pos
        user_genres.append(gs)
    user_pos += _noise(rng, (U, D), cfg.user_noise)
    activity = rng.lognormal(np.log(cfg.songs_per_user_median), cfg.songs_per_user_sigma, U)
    hi = max(cfg.min_songs_per_user, S // 2)
    user_activity = np.clip(np.rint(activity), cfg.min_songs_per_user, hi).astype(np.int64)

    return Taste(
        genres=genres,
        centres=centres,
        substyle_dirs=substyle_dirs,
        substyle_weights=substyle_weights,
        substyle_audio=substyle_audio,
        neighbours=neighbours,
        style_map=style_map,
        artist_genre=artist_genre,
        artist_substyle=artist_substyle,
        artist_cross=artist_cross,
        artist_pos=artist_pos,
        artist_pop=artist_pop,
        artist_style=artist_style,
        song_artist=song_artist,
        song_style=song_style,
        song_pos=song_pos,
        song_pop=song_pop,
        user_genres=user_genres,
        user_pos=user_pos,
        user_activity=user_activity,
    )


def _centred_log_pop(cfg: WorldConfig, song_pop: np.ndarray) -> tuple[np.ndarray, float]:
    """``popularity_weight * (log pop - mean log pop)`` (float32) and the mean used."""
    log_pop = np.log(song_pop)
    centre = float(log_pop.mean())
    log_pop -= log_pop.mean()
    return (cfg.popularity_weight * log_pop).astype(np.float32), centre


def _batch_rng(seq: np.random.SeedSequence, b: int) -> np.random.Generator:
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(seq.entropy, spawn_key=seq.spawn_key + (b,)))
    )


def _gumbel_keys(
    aff: np.ndarray, inv_t: np.float32, log_pop: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Gumbel top-k keys = logits + Gumbel noise (Gumbel = -log(Exp(1))), float32."""
    keys = aff * inv_t
    keys += log_pop
    noise = rng.standard_exponential(keys.shape, dtype=np.float32)
    np.maximum(noise, np.float32(1e-30), out=noise)
    np.log(noise, out=noise)
    keys -= noise
    return keys


def _play_counts(a: np.ndarray, extra_mean: float, rng: np.random.Generator) -> np.ndarray:
    """Geometric play counts whose mean grows with the affinity ``a`` of the picks."""
    k = len(a)
    z = (a - a.mean()) / (a.std() + 1e-9)
    mean_extra = extra_mean * np.exp(0.5 * z - 0.125)
    c = rng.geometric(1.0 / (1.0 + mean_extra))
    # rare heavy listeners of one song (the Taste Profile has a long tail)
    heavy = rng.random(k) < 0.003
    c[heavy] *= rng.integers(10, 60, size=int(heavy.sum()))
    return c


def sample_plays(
    cfg: WorldConfig, taste: Taste, seq: np.random.SeedSequence
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw the clean (user, song, play_count) triplets.

    Each user picks ``activity`` distinct songs without replacement from
    ``softmax((u . s) / temperature + popularity_weight * log pop)`` (Gumbel top-k);
    play counts are geometric with a mean that grows with the affinity.
    Returns ``user_idx, song_idx, count`` sorted by user, in the users' own order.
    With ``cfg.sampler == "clustered"`` the same model is drawn by
    :mod:`coldstart.world.sampling` instead (users x artists, not users x songs).
    """
    if cfg.sampler == "clustered":
        from .sampling import clustered_plays

        return clustered_plays(cfg, taste, seq)
    log_pop, _ = _centred_log_pop(cfg, taste.song_pop)
    S = taste.song_pos.shape[0]
    song_t = np.ascontiguousarray(taste.song_pos.T.astype(np.float32))
    user_pos = taste.user_pos.astype(np.float32)
    inv_t = np.float32(1.0 / cfg.temperature)
    extra_mean = cfg.play_count_mean - 1.0
    users, songs, counts = [], [], []
    for b, start in enumerate(range(0, cfg.n_users, PLAY_BATCH)):
        rng = _batch_rng(seq, b)
        stop = min(start + PLAY_BATCH, cfg.n_users)
        aff = user_pos[start:stop] @ song_t
        keys = _gumbel_keys(aff, inv_t, log_pop, rng)
        for r in range(stop - start):
            k = int(min(taste.user_activity[start + r], S))
            pick = np.argpartition(-keys[r], k - 1)[:k]
            pick = pick[np.argsort(-keys[r, pick], kind="stable")]
            c = _play_counts(aff[r, pick].astype(np.float64), extra_mean, rng)
            order = rng.permutation(k)
            users.append(np.full(k, start + r, dtype=np.int64))
            songs.append(pick[order].astype(np.int64))
            counts.append(c[order].astype(np.int64))
    return np.concatenate(users), np.concatenate(songs), np.concatenate(counts)


def sample_release_plays(
    cfg: WorldConfig,
    taste: Taste,
    seq: np.random.SeedSequence,
    new_pos: np.ndarray,
    new_pop: np.ndarray,
    new_seq: np.random.SeedSequence,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The plays the world's users would give new songs, by the model of :func:`sample_plays`.

    Every user picks ``activity`` distinct songs by Gumbel top-k from the catalogue
    *plus* the new songs (positions ``new_pos``, popularities ``new_pop``). The keys of
    the catalogue songs are exactly those :func:`sample_plays` drew from ``seq`` (the
    world's ``plays`` stream, re-created, never advanced), the new songs' keys and all
    play counts come from ``new_seq``; so a new song is played by the users whose
    top-``activity`` it would have entered had it been released with the catalogue,
    and its play count follows its affinity among that user's picks.

    Returns ``user_idx, new_song_idx, count`` sorted by user, each user's picks by key.
    With ``cfg.sampler == "clustered"``, :func:`coldstart.world.sampling.clustered_release_plays`
    draws the union model (same marginals, not coupled to the catalogue's picks).
    """
    log_pop, centre = _centred_log_pop(cfg, taste.song_pop)
    # the same centring constant for the new songs: shifting every key alike leaves
    # the top-k of the union unchanged, so this is the union model
    new_log_pop = (cfg.popularity_weight * (np.log(new_pop) - centre)).astype(np.float32)
    if cfg.sampler == "clustered":
        from .sampling import clustered_release_plays

        return clustered_release_plays(cfg, taste, log_pop, new_pos, new_log_pop, new_seq)
    S, R = taste.song_pos.shape[0], new_pos.shape[0]
    song_t = np.ascontiguousarray(taste.song_pos.T.astype(np.float32))
    new_t = np.ascontiguousarray(new_pos.T.astype(np.float32))
    user_pos = taste.user_pos.astype(np.float32)
    inv_t = np.float32(1.0 / cfg.temperature)
    extra_mean = cfg.play_count_mean - 1.0
    users, songs, counts = [], [], []
    for b, start in enumerate(range(0, cfg.n_users, PLAY_BATCH)):
        stop = min(start + PLAY_BATCH, cfg.n_users)
        u = user_pos[start:stop]
        aff = u @ song_t
        keys = _gumbel_keys(aff, inv_t, log_pop, _batch_rng(seq, b))
        rng = _batch_rng(new_seq, b)
        aff_new = u @ new_t
        keys_new = _gumbel_keys(aff_new, inv_t, new_log_pop, rng)
        aff_all = np.concatenate([aff, aff_new], axis=1)
        keys_all = np.concatenate([keys, keys_new], axis=1)
        for r in range(stop - start):
            k = int(min(taste.user_activity[start + r], S + R))
            pick = np.argpartition(-keys_all[r], k - 1)[:k]
            pick = pick[np.argsort(-keys_all[r, pick], kind="stable")]
            c = _play_counts(aff_all[r, pick].astype(np.float64), extra_mean, rng)
            new = pick >= S
            if new.any():
                users.append(np.full(int(new.sum()), start + r, dtype=np.int64))
                songs.append((pick[new] - S).astype(np.int64))
                counts.append(c[new].astype(np.int64))
    if not users:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return np.concatenate(users), np.concatenate(songs), np.concatenate(counts)
