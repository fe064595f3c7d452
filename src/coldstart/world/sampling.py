"""The listening model at MSD-A's size: each user's distinct songs without scoring every song.

:func:`coldstart.world.taste.sample_plays` (the ``exact`` sampler) draws a user's
``activity`` songs by Gumbel top-k over *every* song: users x songs keys, about
3.3e11 at MSD-A's size, hours on two cores. The ``clustered`` sampler here draws from
the same distribution -- ``activity`` songs without replacement, each next one with
probability proportional to ``exp(u . s / T + popularity_weight * log pop_s)`` among
those not yet taken (Plackett-Luce, whose order is the Gumbel top-k order) -- at a cost
of users x artists plus the picks:

* every artist gets an upper bound of its songs' weights from the centre ``c_a`` of
  its songs and the radius ``r_a`` around it: ``u . s <= u . c_a + |u| r_a``
  (Cauchy-Schwarz), so ``B_a(u) = exp((u . c_a + |u| r_a) / T) * sum_s pop_s`` bounds
  the artist's mass;
* a proposal draws an artist by ``B_a(u)``, a song of it by popularity, and accepts it
  with probability ``exp((u . s - u . c_a - |u| r_a) / T) <= 1``; an accepted song the
  user already has is drawn again. Rejection sampling makes each accepted song an
  exact draw from the weights, and redrawing taken songs makes the sequence sampling
  without replacement.

Play counts follow :func:`coldstart.world.taste._play_counts` (geometric, mean growing
with the pick's affinity among the user's picks, rare heavy listeners) and each user's
picks are shuffled, as in the exact sampler. Users are drawn in blocks of
:data:`BLOCK` on a thread pool (the kernel releases the GIL); each block is seeded from
its own child of the stream, so the result does not depend on the thread count.

New releases use the same kernel over the catalogue *and* the new songs (singleton
groups): the new songs a user's picks include are the user's release plays. They are
exact draws of the union model but not coupled to the catalogue picks as in the exact
sampler, which shares the catalogue's Gumbel keys.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

BLOCK = 2048  # users per block (part of the world's identity: it fixes the seeding)
_REBUILD_AFTER = 16  # taken songs drawn in a row before the proposal leaves them out


@dataclass(frozen=True)
class Groups:
    """Songs grouped for the proposal: ``order`` lists song indices group by group
    (``ptr`` delimits groups), ``pop_cdf`` is each group's cumulative normalised
    popularity weight, ``centre`` / ``radius`` bound the group's positions and
    ``log_mass`` is the log of its summed popularity weight."""

    order: np.ndarray  # (S,) int64
    ptr: np.ndarray  # (G + 1,) int64
    pop_cdf: np.ndarray  # (S,) float64, in group order, ends at 1 per group
    centre: np.ndarray  # (G, D) float64
    radius: np.ndarray  # (G,) float64
    log_mass: np.ndarray  # (G,) float64
    weight: np.ndarray  # (S,) float64, in group order: each song's share of its group
    group_of: np.ndarray  # (S,) int64, by song index
    log_pop: np.ndarray  # (S,) float64, by song index


def song_groups(group_of: np.ndarray, pos: np.ndarray, log_pop: np.ndarray) -> Groups:
    """Group songs (``group_of[s]``) and compute each group's bound ingredients."""
    n_groups = int(group_of.max()) + 1 if len(group_of) else 0
    order = np.argsort(group_of, kind="stable").astype(np.int64)
    counts = np.bincount(group_of, minlength=n_groups)
    ptr = np.zeros(n_groups + 1, np.int64)
    np.cumsum(counts, out=ptr[1:])
    lp = log_pop.astype(np.float64)[order]
    starts = ptr[:-1]
    group_max = np.maximum.reduceat(lp, starts)
    w = np.exp(lp - np.repeat(group_max, counts))
    sums = np.add.reduceat(w, starts)
    cdf = np.cumsum(w)
    cdf -= np.repeat(np.concatenate([[0.0], cdf[ptr[1:-1] - 1]]), counts)
    cdf /= np.repeat(sums, counts)
    cdf[ptr[1:] - 1] = 1.0  # exact ends, so a uniform draw below 1 always finds a song
    p = pos.astype(np.float64)[order]
    centre = np.add.reduceat(p, starts, axis=0) / counts[:, None]
    dist = np.linalg.norm(p - np.repeat(centre, counts, axis=0), axis=1)
    # a hair above the largest distance, so rounding never pushes an acceptance above 1
    radius = np.maximum.reduceat(dist, starts) * (1.0 + 1e-9) + 1e-12
    weight = w / np.repeat(sums, counts)
    return Groups(
        order,
        ptr,
        cdf,
        centre,
        radius,
        group_max + np.log(sums),
        weight,
        np.asarray(group_of, dtype=np.int64),
        log_pop.astype(np.float64),
    )


def _draw_block_py(
    seed,
    user_pos,
    inv_t,
    activity,
    groups_ptr,
    order,
    pop_cdf,
    weight,
    group_of,
    centre,
    radius,
    log_mass,
    song_pos,
    log_pop,
    budget,
    extra_mean,
    out_song,
    out_count,
    out_ptr,
):  # pragma: no cover - compiled by numba; the Python body is the specification
    """Draw every user of a block: picks, play counts and the per-user shuffle; return
    the number of proposals made (picks / proposals is the acceptance rate).

    Per user, the proposal's cumulative mass over groups is built in a buffer of one
    row (it stays in cache); ``out_*`` receive user b's picks at
    ``out_ptr[b]:out_ptr[b + 1]``. A song the user already took is rejected; when
    that happens :data:`_REBUILD_AFTER` times in a row (a user whose likeliest songs
    are all taken), the proposal is rebuilt without the taken songs' mass, so a heavy
    listener never spins on songs it cannot take again. A user whose proposals pass
    ``budget`` per pick (a bound far above the weights: low temperature, spread-out
    artists) gets the rest of its picks by exact Gumbel top-k over the songs not yet
    taken -- the same distribution, since what remains of a Plackett-Luce sequence is
    a Plackett-Luce sequence over the remaining songs.
    """
    np.random.seed(seed)
    proposals = 0
    n_songs = song_pos.shape[0]
    # 0 free; 1 taken and left out of the proposal (since a rebuild); 2 taken, still proposed
    state = np.zeros(n_songs, np.int8)
    n_groups = centre.shape[0]
    dim = song_pos.shape[1]
    cdf = np.empty(n_groups, np.float64)
    logit = np.empty(n_groups, np.float64)
    taken_share = np.zeros(n_groups, np.float64)  # popularity share of a group taken
    left_out = np.zeros(n_groups, np.float64)  # share left out of the proposal
    for b in range(user_pos.shape[0]):
        k = activity[b]
        p0 = out_ptr[b]
        un = 0.0
        for d in range(dim):
            un += user_pos[b, d] * user_pos[b, d]
        un = np.sqrt(un)
        top = -np.inf
        for g in range(n_groups):
            dot = 0.0
            for d in range(dim):
                dot += user_pos[b, d] * centre[g, d]
            v = (dot + un * radius[g]) * inv_t + log_mass[g]
            logit[g] = v
            if v > top:
                top = v
        for g in range(n_groups):  # apart from the running sum, so it vectorises
            logit[g] = np.exp(logit[g] - top)
        acc = 0.0
        for g in range(n_groups):
            acc += logit[g]
            cdf[g] = acc
        total = acc
        aff = np.empty(k, np.float64)
        n = 0
        collisions = 0
        user_proposals = 0
        while n < k:
            if user_proposals > budget * k:
                n = _exact_rest(
                    b, n, k, p0, user_pos, inv_t, song_pos, log_pop, state, out_song, aff
                )
                break
            if collisions >= _REBUILD_AFTER:
                acc = 0.0
                for g in range(n_groups):
                    left_out[g] = taken_share[g]
                    acc += logit[g] * max(0.0, 1.0 - left_out[g])
                    cdf[g] = acc
                total = acc
                for q in range(n):
                    state[out_song[p0 + q]] = 1
                collisions = 0
            g = np.searchsorted(cdf, np.random.random() * total, side="right")
            if g >= n_groups:
                g = n_groups - 1
            lo = groups_ptr[g]
            hi = groups_ptr[g + 1]
            if left_out[g] > 0.0:  # by popularity among the songs still in the proposal
                x = np.random.random() * max(0.0, 1.0 - left_out[g])
                j = hi - 1
                for i in range(lo, hi):
                    if state[order[i]] != 1:
                        x -= weight[i]
                        j = i
                        if x < 0.0:
                            break
            else:
                j = lo + np.searchsorted(pop_cdf[lo:hi], np.random.random(), side="right")
                if j >= hi:
                    j = hi - 1
            proposals += 1
            user_proposals += 1
            s = order[j]
            dot = 0.0
            for d in range(dim):
                dot += user_pos[b, d] * song_pos[s, d]
            cdot = 0.0
            for d in range(dim):
                cdot += user_pos[b, d] * centre[g, d]
            if np.random.random() >= np.exp((dot - cdot - un * radius[g]) * inv_t):
                continue
            if state[s] != 0:
                collisions += 1
                continue
            collisions = 0
            state[s] = 2
            taken_share[g] += weight[j]
            out_song[p0 + n] = s
            aff[n] = dot
            n += 1
        for q in range(k):
            s = out_song[p0 + q]
            state[s] = 0
            taken_share[group_of[s]] = 0.0
            left_out[group_of[s]] = 0.0
        # play counts: geometric, the mean growing with the pick's affinity among the picks
        mean = aff.mean()
        std = aff.std()
        for q in range(k):
            z = (aff[q] - mean) / (std + 1e-9)
            mean_extra = extra_mean * np.exp(0.5 * z - 0.125)
            c = np.random.geometric(1.0 / (1.0 + mean_extra))
            if np.random.random() < 0.003:  # rare heavy listeners of one song
                c *= np.random.randint(10, 60)
            out_count[p0 + q] = c
        # the user's picks in random order (the file is not sorted by affinity)
        for q in range(k - 1, 0, -1):
            r = np.random.randint(0, q + 1)
            ts = out_song[p0 + q]
            out_song[p0 + q] = out_song[p0 + r]
            out_song[p0 + r] = ts
            tc = out_count[p0 + q]
            out_count[p0 + q] = out_count[p0 + r]
            out_count[p0 + r] = tc
    return proposals


def _exact_rest_py(b, n, k, p0, user_pos, inv_t, song_pos, log_pop, state, out_song, aff):
    """Picks ``n..k-1`` of user ``b`` by Gumbel top-k over the songs it has not taken."""  # noqa: D401
    n_songs, dim = song_pos.shape
    keys = np.empty(n_songs, np.float64)
    dots = np.empty(n_songs, np.float64)
    for s in range(n_songs):
        dot = 0.0
        for d in range(dim):
            dot += user_pos[b, d] * song_pos[s, d]
        dots[s] = dot
        if state[s] != 0:
            keys[s] = -np.inf
        else:
            keys[s] = dot * inv_t + log_pop[s] - np.log(np.random.exponential(1.0))
    best = np.argsort(-keys, kind="mergesort")
    for q in range(k - n):
        s = best[q]
        state[s] = 2
        out_song[p0 + n + q] = s
        aff[n + q] = dots[s]
    return k


_exact_rest = _exact_rest_py  # the compiled version replaces it in _kernel()
_KERNEL: list = []


def _kernel() -> Callable:
    """The block kernel, compiled once per process (cached on disk where allowed)."""
    if not _KERNEL:
        from coldstart.jit import njit

        global _exact_rest
        _exact_rest = njit(nogil=True)(_exact_rest_py)
        _KERNEL.append(njit(nogil=True)(_draw_block_py))
    return _KERNEL[0]


def _block_seed(seq: np.random.SeedSequence, b: int) -> int:
    child = np.random.SeedSequence(seq.entropy, spawn_key=seq.spawn_key + (b,))
    return int(child.generate_state(1, np.uint32)[0])


def draw_plays(
    user_pos: np.ndarray,
    activity: np.ndarray,
    groups: Groups,
    song_pos: np.ndarray,
    temperature: float,
    play_count_mean: float,
    seq: np.random.SeedSequence,
    n_jobs: int = 1,
    what: str = "plays",
    budget: int = 256,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each user's ``activity`` distinct songs by the clustered sampler (see module doc).

    ``budget``: proposals per pick before a user's remaining picks are drawn exactly
    (0: every pick exactly, for tests). Returns ``user_idx, song_idx, count`` (int32)
    sorted by user, each user's picks in random order. Progress goes to the log about every 30 s.
    """
    from concurrent.futures import ThreadPoolExecutor

    from coldstart.progress import ProgressLog

    n_users, n_songs = user_pos.shape[0], song_pos.shape[0]
    k_all = np.minimum(activity, n_songs).astype(np.int64)
    ptr_all = np.zeros(n_users + 1, np.int64)
    np.cumsum(k_all, out=ptr_all[1:])
    users = np.repeat(np.arange(n_users, dtype=np.int32), k_all)
    songs = np.empty(int(ptr_all[-1]), np.int32)
    counts = np.empty(int(ptr_all[-1]), np.int32)
    inv_t = 1.0 / float(temperature)
    centre = np.ascontiguousarray(groups.centre, dtype=np.float64)
    song_pos64 = np.ascontiguousarray(song_pos, dtype=np.float64)
    user_pos64 = np.ascontiguousarray(user_pos, dtype=np.float64)
    kernel = _kernel()
    starts = list(range(0, n_users, BLOCK))
    progress = ProgressLog(n_users, what, unit="users", logger=logger)

    def one_block(b: int) -> int:
        start = starts[b]
        stop = min(start + BLOCK, n_users)
        p0, p1 = ptr_all[start], ptr_all[stop]
        return stop - start, kernel(
            _block_seed(seq, b),
            user_pos64[start:stop],
            inv_t,
            k_all[start:stop],
            groups.ptr,
            groups.order,
            groups.pop_cdf,
            groups.weight,
            groups.group_of,
            centre,
            groups.radius,
            groups.log_mass,
            song_pos64,
            groups.log_pop,
            int(budget),
            float(play_count_mean) - 1.0,
            songs[p0:p1],
            counts[p0:p1],
            ptr_all[start : stop + 1] - p0,
        )

    t0 = time.perf_counter()
    proposals = 0
    if n_jobs > 1 and len(starts) > 1:
        with ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="world-plays") as pool:
            for done, made in pool.map(one_block, range(len(starts))):
                progress.advance(done)
                proposals += made
    else:
        for b in range(len(starts)):
            done, made = one_block(b)
            progress.advance(done)
            proposals += made
    progress.close()
    logger.info(
        "%s: %d picks for %d users in %.1f s (%d thread(s)); %.1f%% of %d proposals accepted",
        what,
        len(songs),
        n_users,
        time.perf_counter() - t0,
        n_jobs,
        100.0 * len(songs) / max(proposals, 1),
        proposals,
    )
    return users, songs, counts


def _n_jobs(cfg) -> int:
    from coldstart.cores import available_cores

    return int(cfg.n_jobs or available_cores())


def clustered_plays(cfg, taste, seq: np.random.SeedSequence):
    """The world's plays by the clustered sampler, songs grouped by artist."""
    from .taste import _centred_log_pop

    log_pop, _ = _centred_log_pop(cfg, taste.song_pop)
    groups = song_groups(taste.song_artist, taste.song_pos, log_pop)
    return draw_plays(
        taste.user_pos,
        taste.user_activity,
        groups,
        taste.song_pos,
        cfg.temperature,
        cfg.play_count_mean,
        seq,
        n_jobs=_n_jobs(cfg),
        what="world plays",
    )


def clustered_release_plays(
    cfg,
    taste,
    log_pop: np.ndarray,
    new_pos: np.ndarray,
    new_log_pop: np.ndarray,
    new_seq: np.random.SeedSequence,
):
    """Release plays: each user's picks from the catalogue plus the new songs (each new
    song its own group); returns the picks of new songs as ``user, new_song, count``."""
    S, R = taste.song_pos.shape[0], new_pos.shape[0]
    n_artists = int(taste.song_artist.max()) + 1
    group_of = np.concatenate([taste.song_artist, n_artists + np.arange(R)])
    pos = np.concatenate([taste.song_pos, new_pos])
    groups = song_groups(group_of, pos, np.concatenate([log_pop, new_log_pop]))
    users, songs, counts = draw_plays(
        taste.user_pos,
        taste.user_activity,
        groups,
        pos,
        cfg.temperature,
        cfg.play_count_mean,
        new_seq,
        n_jobs=_n_jobs(cfg),
        what="release plays",
    )
    new = songs >= S
    return (
        users[new].astype(np.int64),
        (songs[new] - S).astype(np.int64),
        counts[new].astype(np.int64),
    )
