"""Seeded synthetic world: a miniature music service in the raw data contract.

The real inputs of the paper (Taste Profile, MSD-A biographies and tags, 7digital
previews, DBpedia) cannot be downloaded here, so :func:`generate_world` writes a
stand-in with the same file formats and real, learnable signal (docs/architecture.md:
the raw data contract and the synthetic world).

Generative story
----------------
1. **Taste space.** ``n_genres`` real genre names (rock, jazz, hip hop, electronic,
   metal, folk, classical, reggae, blues, country, soul, punk, pop, funk) get unit
   centres in a ``taste_dim``-d latent space; genres are pulled towards their
   stylistic origins, so related genres are close. Each genre has three sub-styles
   (e.g. bebop / cool jazz / jazz fusion), each a direction in taste space.
2. **Artists** = genre centre + a sub-style offset + noise; some (``crossover_rate``)
   are pulled towards a neighbouring genre. Artists have a lognormal popularity.
3. **Songs** = artist position + ``style_map @ z`` + a little noise, where ``z`` is a
   per-track 4-d style latent (tempo, brightness, percussion, register). Songs
   per artist are skewed; song popularity = artist popularity x lognormal.
4. **Users** like one genre (sometimes two, often neighbours) with a sub-style
   leaning, plus noise, and have a lognormal activity (distinct songs). Each user
   draws that many songs without replacement from
   ``softmax(u.s / temperature + popularity_weight * log popularity)``; play counts
   are geometric with a mean rising with affinity (and a rare heavy tail). The
   play matrix is very sparse.
5. **Knowledge base** (``knowledge_base.ttl``, DBpedia vocabulary): genres
   (``dbo:stylisticOrigin``, ``dbo:instrument``), instruments, invented places,
   record labels (``dbo:genre``, ``dbo:location``, ``Category:<Genre>_record_labels``),
   producers (``dbo:Engineer``), genre "legends" outside the dataset, and for the more
   popular ~``kb_artist_coverage`` of artists: the artist or band (``dbo:genre``,
   ``dbo:recordLabel``, ``dbo:homeTown``, ``dbo:associatedMusicalArtist``,
   ``dbo:bandMember``), its members and its albums (``dbo:MusicalWork`` with
   ``dbo:artist``, ``dbo:producer``, ``dbo:recordedIn``, ...). Every name is invented
   and unique, so label matching is unambiguous.
6. **Biographies** from templates: *explicit* bios name the genre and use its
   vocabulary; *implicit* ones name neither but mention labels, producers, albums,
   members, associated artists and influences whose KB facts carry the genre (the
   evidence enrichment can add); *vague* ones say little. Vocabulary is partly
   shared across genres, and filler sentences and the Last.fm footer add noise.
7. **Tags**: usually the genre tag at weight 100 (``tag_noise_rate`` of the time a
   neighbouring genre's), sub-style, crossover, decade and generic tags.
8. **Audio**: one preview per song (7-30 s), synthesised from the genre's
   :class:`~coldstart.world.genres.AudioProfile` shifted by the artist's and the
   track's style (the same ``z`` that moved the song in taste space): tempo,
   register, timbre (harmonic profile, distortion), brightness, percussion.
9. **Dirt** (the flaws of real data; docs/ingestion.md): malformed / non-positive /
   duplicate / orphan triplet lines, missing, corrupt and empty audio files, an empty
   biography, an invalid-JSON and an invalid-UTF-8 biography line, an artist without
   tags. The manifest lists what was injected (``manifest["dirt"]``).

Besides the contract files the world writes ``truth/*.tsv`` (genres, artists,
songs, users with their latent positions) for tests and diagnostics, and
``world_manifest.json`` last. After it, ``releases/`` (:mod:`coldstart.world.releases`):
new artists and tracks of the same world that are not in the training data, in five
cases (complete, biography_only, tags_only, audio_only, existing_artist), with the
plays the world's users would give them in ``releases/truth/``.
"""

from .config import PRESETS, RELEASE_CASES, ReleaseConfig, WorldConfig
from .releases import RELEASES_DIR, RELEASES_MANIFEST, ensure_releases
from .writer import GENERATOR_VERSION, MANIFEST, WorldConfigMismatchError, generate_world

__all__ = [
    "GENERATOR_VERSION",
    "MANIFEST",
    "PRESETS",
    "RELEASES_DIR",
    "RELEASES_MANIFEST",
    "RELEASE_CASES",
    "ReleaseConfig",
    "WorldConfig",
    "WorldConfigMismatchError",
    "ensure_releases",
    "generate_world",
]
