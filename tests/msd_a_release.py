"""A miniature MSD-A release written from the tiny world, in the release's own layout.

The release is the tiny world after ingestion and WMF (the same nodes as a run):
index files per split, item and user factors, the items x users test matrix saved
the reference code's way (``np.savez(data=, indices=, indptr=, shape=)``), and
``X_*`` features: tf-idf of the biographies (``bio``; ``sem-bio`` adds the tags'
words, a stand-in for the enrichment), a tag VSM (``tags``), dense "embeddings"
(``a-sem-emb``, ``a-tags-emb``: SVDs of those; ``audio-emb``: seeded noise, as
the world's audio is not analysed here). Song-level features repeat the artist's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from coldstart.world.audio import atomic_write_bytes

SPLITS = ("train", "val", "test")
DATASETS = {"artist": "MSD-A-artists", "song": "MSD-A-songs"}
INGESTION = {
    "split": {"train": 0.8, "val": 0.1, "test": 0.1},
    "require_biography": True,
    "min_biography_chars": 50,
    "require_tags": True,
    "max_biography_chars": 100000,
    "min_items_per_split": 2,
    "block_size_mb": 32,
    "threads": 1,
}
WMF = {
    "factors": 200,
    "confidence": {"scaling": "log", "alpha": 2.0, "epsilon": 1.0},
    "regularization": 10.0,
    "iterations": 5,
    "show_progress": False,
}


def _save(path: Path, write: Any) -> None:
    import io

    buffer = io.BytesIO()
    write(buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())


def save_tartarus_csr(path: Path, matrix: Any) -> None:
    """The reference code's ``save_sparse_csr``: ``np.savez(data=, indices=, indptr=, shape=)``."""
    csr = matrix.tocsr()
    _save(
        path,
        lambda stream: np.savez(
            stream, data=csr.data, indices=csr.indices, indptr=csr.indptr, shape=csr.shape
        ),
    )


def save_npy(path: Path, array: np.ndarray) -> None:
    _save(path, lambda stream: np.save(stream, np.asarray(array), allow_pickle=False))


def _artist_features(artists: Any, tags: Any, seed: int) -> dict[str, Any]:
    """``suffix -> artist-level matrix`` (rows = ``artists.item_idx``)."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    train = (artists["split"] == "train").to_numpy()
    words = tags.groupby("artist_id")["tag"].apply(lambda t: " ".join(t.str.replace(" ", "_")))
    tag_text = artists["artist_id"].map(words).fillna("").to_numpy()
    bios = artists["biography"].to_numpy()
    sem_text = np.array([f"{b} {t}" for b, t in zip(bios, tag_text, strict=True)])
    features = {}
    for suffix, texts in (("bio", bios), ("sem-bio", sem_text), ("tags", tag_text)):
        vectorizer = TfidfVectorizer(sublinear_tf=True, max_df=0.5, max_features=2000)
        vectorizer.fit(texts[train])
        features[suffix] = vectorizer.transform(texts).astype(np.float32).tocsr()
    for suffix, source in (("a-sem-emb", "sem-bio"), ("a-tags-emb", "tags")):
        svd = TruncatedSVD(n_components=16, random_state=seed).fit(features[source][train])
        features[suffix] = svd.transform(features[source]).astype(np.float32)
    return features


def write_release(world_dir: Path, out: Path, seed: int = 2017, with_val: bool = True) -> dict:
    """Write the miniature release of the world in ``world_dir`` to ``out``.

    ``with_val: False`` writes no val files (the importer then carves val from train).
    Returns ``{"artists", "songs"}`` tables, as ingestion gave them.
    """
    from coldstart.pipelines.factorization.nodes import factorize
    from coldstart.pipelines.ingestion import nodes

    tracks, _ = nodes.read_track_metadata(world_dir / "track_metadata.db", world_dir / "audio")
    triplets, _ = nodes.read_play_triplets(world_dir / "train_triplets.txt", INGESTION)
    biographies, _ = nodes.read_biographies(world_dir / "artist_biographies.jsonl", INGESTION)
    tags, _ = nodes.read_tags(world_dir / "artist_tags.tsv", INGESTION)
    artists, artist_tags, songs, _ = nodes.select_items(
        tracks, biographies, tags, triplets, INGESTION, seed
    )
    _, song_plays, artist_plays, _ = nodes.build_play_matrices(triplets, songs, artists)
    artist_features = _artist_features(artists, artist_tags, seed)
    owner = songs["artist_id"].map(artists.set_index("artist_id")["item_idx"]).to_numpy()
    rng = np.random.default_rng(seed)
    song_features = {suffix: matrix[owner] for suffix, matrix in artist_features.items()}
    song_features["audio-emb"] = rng.standard_normal((len(songs), 24)).astype(np.float32)
    levels = {
        "artist": (artists, "artist_id", artist_plays, artist_features),
        "song": (songs, "song_id", song_plays, song_features),
    }
    for level, (items, id_column, plays, features) in levels.items():
        ds = DATASETS[level]
        users, factors = factorize(plays, items, WMF, seed)
        save_npy(out / "splits" / f"user_factors_als_200_{ds}.npy", users)
        split = items["split"].to_numpy()
        for name in SPLITS:
            if name == "val" and not with_val:
                continue
            rows = np.flatnonzero(split == name)
            ids = "".join(f"{item}\n" for item in items[id_column].to_numpy()[rows])
            (out / "splits").mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(out / "splits" / f"items_index_{name}_{ds}.tsv", ids.encode())
            save_npy(out / "splits" / f"y_{name}_als_200_{ds}.npy", factors[rows])
            for suffix, matrix in features.items():
                stem = out / "train_data" / f"X_{name}_{suffix}_{ds}"
                if hasattr(matrix, "tocsr"):
                    save_tartarus_csr(stem.with_suffix(".npz"), matrix[rows])
                else:
                    save_npy(stem.with_suffix(".npy"), matrix[rows])
        test = np.flatnonzero(split == "test")
        save_tartarus_csr(out / "splits" / f"matrix_test_{ds}.npz", plays[:, test].T)
    return {"artists": artists, "songs": songs}
