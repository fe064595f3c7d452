"""The world generator's scale path: the clustered sampler, the streamed triplet file,
the msd_a presets and audio on a subset of tracks (issue "The paper at its own scale").

The sampler tests compare with exact inclusion probabilities on toy cases; the world
tests run the msd_a presets' code path at the tiny world's sizes.
"""

from __future__ import annotations

import json
from itertools import permutations

import numpy as np
import pytest

from coldstart.world import WorldConfig, generate_world, sampling
from coldstart.world import writer as writer_mod

# the msd_a preset's code path (clustered sampler, no audio) at the tiny world's sizes
SMALL_MSD_A = {
    "preset": "msd_a",
    "seed": 11,
    "n_genres": 8,
    "n_artists": 60,
    "n_songs": 300,
    "n_users": 300,
    "min_songs_per_user": 5,
    "songs_per_user_median": 15.0,
    "legends_per_genre": 3,
    "releases": {"artists_per_case": 2, "songs_min": 2, "songs_max": 2},
}


def _inclusion_exact(logits: np.ndarray, k: int) -> np.ndarray:
    """P(song in the top-k of logits + Gumbel) by enumerating ordered picks (Plackett-Luce)."""
    w = np.exp(logits - logits.max())
    p = np.zeros(len(w))
    for seq in permutations(range(len(w)), k):
        prob, left = 1.0, w.sum()
        for s in seq:
            prob *= w[s] / left
            left -= w[s]
        p[list(seq)] += prob
    return p


def _toy(seed: int = 3):
    rng = np.random.default_rng(seed)
    n_songs, n_artists, dim = 9, 3, 4
    song_artist = np.repeat(np.arange(n_artists), 3)
    centres = rng.standard_normal((n_artists, dim))
    pos = centres[song_artist] + 0.25 * rng.standard_normal((n_songs, dim))
    log_pop = rng.normal(0.0, 0.8, n_songs)
    user = rng.standard_normal(dim)
    return song_artist, pos, log_pop, user


@pytest.mark.parametrize("budget", [256, 0], ids=["rejection", "exact-rest"])
def test_clustered_sampler_draws_the_listening_model(budget):
    """Each song's inclusion frequency over 40,000 users with one taste matches the exact
    Plackett-Luce (= Gumbel top-k) probability within 4.5 standard errors, by rejection
    from the artists' bounds and by the exact fallback (every pick with budget 0)."""
    song_artist, pos, log_pop, user = _toy()
    temperature, k, n = 0.5, 3, 40_000
    groups = sampling.song_groups(song_artist, pos, log_pop)
    users, songs, counts = sampling.draw_plays(
        np.tile(user, (n, 1)),
        np.full(n, k),
        groups,
        pos,
        temperature,
        3.0,
        np.random.SeedSequence(1),
        n_jobs=2,
        budget=budget,
    )
    assert len(songs) == n * k and (counts >= 1).all()
    picks = songs.reshape(n, k)
    assert all(len(set(row)) == k for row in picks[:2000].tolist())  # without replacement
    freq = np.bincount(songs, minlength=len(pos)) / n
    exact = _inclusion_exact(pos @ user / temperature + log_pop, k)
    se = np.sqrt(exact * (1 - exact) / n)
    assert np.abs(freq - exact).max() < 4.5 * se.max(), (freq, exact)
    # the bound is doing its job: the rarest songs are rare, the likeliest common
    assert freq[np.argmax(exact)] > 2 * freq[np.argmin(exact)]


def test_groups_bound_every_song():
    song_artist, pos, log_pop, user = _toy(5)
    g = sampling.song_groups(song_artist, pos, log_pop)
    for a in range(3):
        members = g.order[g.ptr[a] : g.ptr[a + 1]]
        assert set(members) == set(np.flatnonzero(song_artist == a))
        dist = np.linalg.norm(pos[members] - g.centre[a], axis=1)
        assert (dist <= g.radius[a]).all()
        assert g.pop_cdf[g.ptr[a + 1] - 1] == 1.0
        assert np.isclose(g.log_mass[a], np.log(np.exp(log_pop[members]).sum()))


def test_clustered_sampler_does_not_depend_on_threads():
    song_artist, pos, log_pop, _ = _toy(7)
    rng = np.random.default_rng(0)
    users = rng.standard_normal((5000, 4))
    activity = rng.integers(1, 9, size=5000)
    groups = sampling.song_groups(song_artist, pos, log_pop)
    args = (users, activity, groups, pos, 0.4, 2.5, np.random.SeedSequence(9))
    one = sampling.draw_plays(*args, n_jobs=1)
    two = sampling.draw_plays(*args, n_jobs=2)
    for a, b in zip(one, two, strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(np.bincount(one[0]), activity)  # every user gets its activity


def test_a_user_can_take_every_song():
    """A user whose activity is the whole catalogue gets each song once, also where the
    artists' bounds are far above the weights (sharp tastes, low temperature): the
    user's last picks are then drawn exactly instead of by rejection."""
    song_artist, pos, log_pop, _ = _toy(7)
    groups = sampling.song_groups(song_artist, pos, log_pop)
    users = np.array([[3.0, 0.0, 0.0, 0.0], [0.0, -3.0, 0.0, 0.0]])  # sharp tastes
    _, songs, _ = sampling.draw_plays(
        users, np.array([9, 9]), groups, pos, 0.1, 3.0, np.random.SeedSequence(2)
    )
    assert sorted(songs[:9]) == list(range(9)) and sorted(songs[9:]) == list(range(9))


def test_streamed_triplets_equal_the_one_chunk_file(tmp_path, monkeypatch):
    """Dirty lines land before the same clean line whatever the chunk size: at the start,
    on chunk boundaries, several at one position, and after the last clean line."""
    uids = [f"u{i}" for i in range(4)]
    song_ids = [f"s{i}" for i in range(5)]
    uidx = np.array([0, 0, 1, 1, 2, 2, 3, 3, 3, 3, 3])
    sidx = np.array([0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0])
    cnt = np.arange(1, 12)
    extra = [f"x{i}\n" for i in range(6)]
    positions = np.array([0, 3, 3, 7, 10, 11])
    order = np.array([5, 0, 4, 1, 3, 2])
    expected = [f"{uids[u]}\t{song_ids[s]}\t{c}\n" for u, s, c in zip(uidx, sidx, cnt, strict=True)]
    merged, prev = [], 0
    for pos, j in zip(positions, order, strict=True):
        merged.extend(expected[prev:pos])
        merged.append(extra[j])
        prev = pos
    merged.extend(expected[prev:])
    for chunk in (1, 2, 3, 7, 100):
        monkeypatch.setattr(writer_mod, "TRIPLET_CHUNK", chunk)
        tmp = writer_mod._write_triplets(
            tmp_path / "t.txt", uids, song_ids, uidx, sidx, cnt, extra, positions, order
        )
        assert tmp.read_text(encoding="utf-8") == "".join(merged), chunk
        assert tmp.name.startswith(".") and not (tmp_path / "t.txt").exists()
        tmp.unlink()


def test_later_fields_keep_the_identity_of_worlds_made_before_them():
    default = WorldConfig.from_params({"preset": "default"})
    assert "sampler" not in default.identity() and "audio_track_share" not in default.identity()
    msd_a = WorldConfig.from_params({"preset": "msd_a"})
    assert (msd_a.n_users, msd_a.n_songs, msd_a.n_artists) == (1_000_000, 328821, 24043)
    assert msd_a.identity()["sampler"] == "clustered" and msd_a.audio is False
    quarter = WorldConfig.from_params({"preset": "msd_a_quarter"})
    assert quarter.n_users == msd_a.n_users // 4
    with pytest.raises(ValueError, match="sampler"):
        WorldConfig.from_params({"preset": "tiny", "sampler": "fast"})
    with pytest.raises(ValueError, match="audio_track_share"):
        WorldConfig.from_params({"preset": "tiny", "audio_track_share": 0})


def test_msd_a_code_path_makes_a_complete_world(tmp_path):
    """The clustered sampler through the whole generator: a world in the raw contract,
    the same bytes with one thread or two, every user with its activity, releases."""
    a = generate_world(tmp_path / "a", SMALL_MSD_A)
    b = generate_world(tmp_path / "b", {**SMALL_MSD_A, "n_jobs": 1})
    assert a["files"] == b["files"]
    assert a["config"]["sampler"] == "clustered"
    users = {}
    for line in (tmp_path / "a" / "train_triplets.txt").read_text(encoding="utf-8").splitlines():
        f = line.split("\t")
        if len(f) == 3 and f[2].isdigit() and int(f[2]) > 0:
            users.setdefault(f[0], set()).add(f[1])
    assert len(users) == SMALL_MSD_A["n_users"]
    assert min(len(s) for s in users.values()) >= SMALL_MSD_A["min_songs_per_user"]
    assert not (tmp_path / "a" / "audio").exists() or not any((tmp_path / "a" / "audio").iterdir())
    plays = (tmp_path / "a" / "releases" / "truth" / "plays.tsv").read_text().splitlines()
    assert len(plays) > 1  # users play new releases under the clustered sampler too
    assert not list((tmp_path / "a").glob(".train_triplets*"))  # the temporary was renamed


def test_audio_on_a_subset_of_tracks(tmp_path):
    manifest = generate_world(
        tmp_path / "w",
        {"preset": "tiny", "seed": 7, "audio_track_share": 0.2, "releases": False},
    )
    counts = manifest["counts"]
    n_files = sum(counts["audio_files"].values())
    assert counts["audio_no_preview"] == round(0.8 * counts["songs"])
    assert n_files + counts["audio_no_preview"] + counts["audio_missing"] == counts["songs"]
    assert (
        json.loads((tmp_path / "w" / "world_manifest.json").read_text())["config"][
            "audio_track_share"
        ]
        == 0.2
    )
