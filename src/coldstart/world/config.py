"""Configuration of the synthetic world: one frozen dataclass and three presets.

``parameters_world.yml`` only names a preset and a seed; every field of
:class:`WorldConfig` can be overridden there by key. The presets live here, in code,
so that the same preset name always means the same world. The new-releases folder
has its own block (``world.releases``, :class:`ReleaseConfig`) with its own presets
and its own identity, so that release settings never touch the world's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

#: Fields that change how fast the world is built, never what is built. They are
#: left out of :meth:`WorldConfig.identity` (and so out of the reuse check).
EXECUTION_FIELDS = ("n_jobs", "chunk_size")

#: Fields added after generator 1.0.0, with the value that reproduces the worlds made
#: before them. They enter :meth:`WorldConfig.identity` only when set to something
#: else, so a world made before they existed keeps its identity (and its manifest bytes).
LATER_FIELDS = {"sampler": "exact", "audio_track_share": 1.0}
SAMPLERS = ("exact", "clustered")


@dataclass(frozen=True)
class WorldConfig:
    """Every size, rate and switch of the generator (defaults = the ``default`` preset).

    Sizes
        ``n_genres`` (at most 14), ``n_artists``, ``n_songs``, ``n_users``, ``taste_dim``.
    Taste space
        ``artist_noise``, ``substyle_scale``, ``track_style_scale``, ``song_noise``,
        ``user_noise``: norms of the offsets that place artists, songs and users around
        their genre centres (genre centres have norm 1). ``crossover_rate``: share of
        artists pulled towards a second genre. ``second_genre_rate``: share of users
        who like two genres.
    Listening
        ``temperature`` of the softmax over user·song affinity; ``popularity_weight``
        times log popularity is added to the logits; ``artist_popularity_sigma`` and
        ``song_popularity_sigma`` are lognormal spreads; ``songs_per_user_median`` /
        ``songs_per_user_sigma`` the lognormal activity (distinct songs per user),
        clipped below at ``min_songs_per_user``; ``play_count_mean`` the mean play count.
    Catalogue, knowledge base, text
        ``two_track_song_rate`` (songs with a second, audio-less track),
        ``kb_artist_coverage`` (share of artists with a KB resource),
        ``artists_per_label``, ``artists_per_place``, ``artists_per_producer``,
        ``legends_per_genre``, ``explicit_bio_rate`` / ``implicit_bio_rate`` (the rest
        are vague), ``short_bio_rate``, ``tag_noise_rate``.
    Audio
        ``audio`` (false: no audio files at all), ``audio_min_s`` / ``audio_max_s``,
        ``audio_blend`` (an artist's sound is its genre's profile blended up to this
        far towards another genre's: higher = genres overlap more in audio),
        ``short_audio_rate`` (share of 7-15 s previews), ``mp3_bitrate`` (kbps per
        22,050 Hz mono channel), ``alt_sample_rate_rate`` (share at 44,100 Hz),
        ``stereo_rate``, ``n_wav`` / ``n_flac`` / ``n_ogg`` (files in other formats).
        ``audio_track_share``: share of the songs that get a preview at all (the rest
        have none, as 7digital lacks previews for some MSD tracks), for audio on a
        subset of a large world.
    Sampler
        ``sampler``: how each user's distinct songs are drawn from the listening
        model. ``exact`` scores every (user, song) pair (Gumbel top-k, cost users x
        songs); ``clustered`` draws the same distribution by sequential sampling
        without replacement, proposing an artist from an upper bound of its songs'
        weights and accepting a song with its exact weight (cost users x artists
        plus the picks): the only one that reaches MSD-A's size in minutes.
    Dirt (the flaws of real data; every rate yields at least one case when > 0)
        ``malformed_line_rate``, ``nonpositive_count_rate``, ``duplicate_triplet_rate``,
        ``orphan_song_rate`` (per clean triplet), ``missing_audio_rate`` (per track),
        ``n_corrupt_audio``, ``n_empty_audio``, ``n_empty_bio``, ``n_no_tags``,
        ``n_bad_json_bio``, ``n_bad_utf8_bio``.
    Execution (not part of the world's identity)
        ``n_jobs`` (audio worker processes; ``None`` = all cores), ``chunk_size``.
    """

    preset: str = "default"
    seed: int = 42
    # sizes
    n_genres: int = 12
    n_artists: int = 300
    n_songs: int = 1500
    n_users: int = 2000
    taste_dim: int = 16
    # taste space
    artist_noise: float = 0.30
    substyle_scale: float = 0.45
    track_style_scale: float = 0.30
    song_noise: float = 0.10
    user_noise: float = 0.45
    crossover_rate: float = 0.15
    second_genre_rate: float = 0.45
    # listening
    temperature: float = 0.30
    popularity_weight: float = 1.0
    artist_popularity_sigma: float = 1.0
    song_popularity_sigma: float = 0.7
    songs_per_user_median: float = 20.0
    songs_per_user_sigma: float = 0.8
    min_songs_per_user: int = 5
    play_count_mean: float = 3.0
    # catalogue, knowledge base, text
    two_track_song_rate: float = 0.02
    kb_artist_coverage: float = 0.4
    artists_per_label: float = 3.5
    artists_per_place: float = 8.0
    artists_per_producer: float = 6.0
    legends_per_genre: int = 4
    explicit_bio_rate: float = 0.40
    implicit_bio_rate: float = 0.40
    short_bio_rate: float = 0.08
    tag_noise_rate: float = 0.10
    # audio
    audio: bool = True
    audio_min_s: float = 15.0
    audio_max_s: float = 30.0
    short_audio_rate: float = 0.15
    audio_blend: float = 0.6
    mp3_bitrate: int = 48
    alt_sample_rate_rate: float = 0.10
    stereo_rate: float = 0.10
    n_wav: int = 3
    n_flac: int = 3
    n_ogg: int = 3
    audio_track_share: float = 1.0
    # listening-model sampler
    sampler: str = "exact"
    # dirt
    malformed_line_rate: float = 0.001
    nonpositive_count_rate: float = 0.001
    duplicate_triplet_rate: float = 0.002
    orphan_song_rate: float = 0.002
    missing_audio_rate: float = 0.01
    n_corrupt_audio: int = 2
    n_empty_audio: int = 1
    n_empty_bio: int = 1
    n_no_tags: int = 1
    n_bad_json_bio: int = 1
    n_bad_utf8_bio: int = 1
    # execution
    n_jobs: int | None = None
    chunk_size: int = 8

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> WorldConfig:
        """Build from the ``world`` parameters dict: ``preset`` + overrides of any field.

        A ``releases`` key (the new-releases block, :class:`ReleaseConfig`) is ignored
        here. Raises ``ValueError`` on an unknown preset, an unknown key or a bad value.
        """
        params = dict(params or {})
        params.pop("releases", None)  # the new-releases block: see ReleaseConfig
        preset = str(params.pop("preset", "default"))
        if preset not in PRESETS:
            raise ValueError(f"unknown world preset {preset!r}; choose one of {sorted(PRESETS)}")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(k for k in params if k not in known)
        if unknown:
            raise ValueError(
                f"unknown world parameter(s) {unknown}; valid knobs are {sorted(known)}"
            )
        values: dict[str, Any] = dict(PRESETS[preset])
        values.update(params)
        values["preset"] = preset
        coerced = {name: _coerce(name, known[name].type, v) for name, v in values.items()}
        config = dataclasses.replace(cls(), **coerced)
        config.validate()
        return config

    def validate(self) -> None:
        """Raise ``ValueError`` when a knob is out of range."""
        problems = []
        if not 2 <= self.n_genres <= 14:
            problems.append("n_genres must be in 2..14")
        if self.n_artists < 3 * self.n_genres:
            problems.append("n_artists must be at least 3 * n_genres")
        if self.n_songs < self.n_artists:
            problems.append("n_songs must be >= n_artists (every artist has a song)")
        if self.n_users < 10:
            problems.append("n_users must be >= 10")
        if self.taste_dim < 4:
            problems.append("taste_dim must be >= 4")
        if self.temperature <= 0:
            problems.append("temperature must be > 0")
        if self.min_songs_per_user < 1 or self.min_songs_per_user > self.n_songs // 2:
            problems.append("min_songs_per_user must be in 1..n_songs/2")
        if self.play_count_mean < 1:
            problems.append("play_count_mean must be >= 1")
        if not 0 < self.audio_min_s <= self.audio_max_s <= 60:
            problems.append("need 0 < audio_min_s <= audio_max_s <= 60")
        if self.explicit_bio_rate + self.implicit_bio_rate > 1:
            problems.append("explicit_bio_rate + implicit_bio_rate must be <= 1")
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name.endswith("_rate") and not 0 <= v <= 1:
                problems.append(f"{f.name} must be in [0, 1]")
            if f.name.startswith("n_") and f.name != "n_jobs" and v < 0:
                problems.append(f"{f.name} must be >= 0")
        if self.n_jobs is not None and self.n_jobs < 1:
            problems.append("n_jobs must be >= 1 or null")
        if self.chunk_size < 1:
            problems.append("chunk_size must be >= 1")
        if self.sampler not in SAMPLERS:
            problems.append(f"sampler must be one of {list(SAMPLERS)}")
        if not 0 < self.audio_track_share <= 1:
            problems.append("audio_track_share must be in (0, 1]")
        if problems:
            raise ValueError("invalid world config: " + "; ".join(problems))

    # ------------------------------------------------------------------ views
    def identity(self) -> dict[str, Any]:
        """The fields that determine the world's bytes (everything but execution knobs)."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in EXECUTION_FIELDS
            and not (f.name in LATER_FIELDS and getattr(self, f.name) == LATER_FIELDS[f.name])
        }


def _coerce(name: str, annotation: Any, value: Any) -> Any:
    ann = str(annotation)
    try:
        if ann == "bool":
            if isinstance(value, str):
                if value.lower() in ("true", "yes", "1", "on"):
                    return True
                if value.lower() in ("false", "no", "0", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if ann == "int | None":
            return None if value is None else int(value)
        if ann == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if ann == "float":
            return float(value)
        if ann == "str":
            return str(value)
    except (TypeError, ValueError):
        raise ValueError(f"world parameter {name!r}: cannot use {value!r} as {ann}") from None
    return value


#: Overrides of the dataclass defaults per preset (the defaults are ``default``).
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(
        n_genres=8,
        n_artists=60,
        n_songs=300,
        n_users=300,
        songs_per_user_median=15.0,
        legends_per_genre=3,
        audio_min_s=8.0,
        audio_max_s=16.0,
        short_audio_rate=0.0,
        n_wav=2,
        n_flac=2,
        n_ogg=2,
    ),
    "default": {},
    "large": dict(
        n_genres=14,
        n_artists=3000,
        n_songs=30000,
        n_users=100000,
        songs_per_user_median=30.0,
        legends_per_genre=6,
        n_wav=5,
        n_flac=5,
        n_ogg=5,
    ),
    # MSD-A's size (paper section 6.1: 1 M users, 328,821 tracks, 24,043 artists, ~48 M
    # triplets). The Taste Profile keeps users with >= 10 songs; ~48 distinct songs per user.
    "msd_a": dict(
        n_genres=14,
        n_artists=24043,
        n_songs=328821,
        n_users=1_000_000,
        songs_per_user_median=34.0,
        songs_per_user_sigma=0.8,
        min_songs_per_user=10,
        legends_per_genre=8,
        audio=False,
        n_wav=5,
        n_flac=5,
        n_ogg=5,
        sampler="clustered",
    ),
}

# a quarter of msd_a in every size (users, songs, artists): a step of the scale benchmark
PRESETS["msd_a_quarter"] = {
    **PRESETS["msd_a"],
    "n_artists": 6011,
    "n_songs": 82205,
    "n_users": 250_000,
}


# ---------------------------------------------------------------------- new releases
#: The release cases, in the order their artists are drawn (see coldstart.world.releases).
RELEASE_CASES = ("complete", "biography_only", "tags_only", "audio_only", "existing_artist")


@dataclass(frozen=True)
class ReleaseConfig:
    """Sizes of the new-releases folder ``<world>/releases/`` (``world.releases`` block).

    ``artists_per_case`` artists in each of :data:`RELEASE_CASES` (new artists, or, for
    ``existing_artist``, catalogue artists with new tracks), each with
    ``songs_min``..``songs_max`` new songs (one track each). ``enabled: false`` (or
    ``releases: false``) writes no releases folder and leaves an existing one alone.
    Defaults depend on the world preset (:data:`RELEASE_PRESETS`). The world's seed
    seeds the releases too, from streams of their own.
    """

    enabled: bool = True
    artists_per_case: int = 8
    songs_min: int = 3
    songs_max: int = 5

    @classmethod
    def from_params(cls, world_preset: str, params: Any) -> ReleaseConfig:
        """Build from the ``releases`` value of the world parameters (a mapping, a bool
        or ``None``) on top of the world preset's release defaults."""
        if params is None:
            params = {}
        elif isinstance(params, bool):
            params = {"enabled": params}
        elif not isinstance(params, Mapping):
            raise ValueError(f"world.releases must be a mapping or a boolean, not {params!r}")
        params = dict(params)
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(k for k in params if k not in known)
        if unknown:
            raise ValueError(
                f"unknown world.releases parameter(s) {unknown}; valid knobs are {sorted(known)}"
            )
        values: dict[str, Any] = dict(RELEASE_PRESETS.get(world_preset, {}))
        values.update(params)
        coerced = {
            name: _coerce(f"releases.{name}", known[name].type, v) for name, v in values.items()
        }
        config = dataclasses.replace(cls(), **coerced)
        config.validate()
        return config

    def validate(self) -> None:
        problems = []
        if self.artists_per_case < 1:
            problems.append("artists_per_case must be >= 1")
        if not 1 <= self.songs_min <= self.songs_max:
            problems.append("need 1 <= songs_min <= songs_max")
        if problems:
            raise ValueError("invalid world.releases config: " + "; ".join(problems))

    def identity(self) -> dict[str, Any]:
        """The fields that determine the releases' bytes (checked against the
        releases manifest; the world's own identity is checked separately)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "enabled"}


#: Release defaults per world preset (the dataclass defaults are ``default``'s).
RELEASE_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(artists_per_case=3, songs_min=2, songs_max=3),
    "default": {},
    "large": dict(artists_per_case=30, songs_min=3, songs_max=6),
    "msd_a": dict(artists_per_case=50, songs_min=3, songs_max=6),
    "msd_a_quarter": dict(artists_per_case=30, songs_min=3, songs_max=6),
}
