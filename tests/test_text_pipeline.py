"""Training nodes and the text pipeline (templates, wiring, sliced runs) on a tiny world."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from coldstart.pipelines.text import create_pipeline, nodes
from coldstart.pipelines.text.pipeline import SHARED_INPUTS, TEMPLATES, row_pipeline
from coldstart.rows import load_rows

N_FACTORS = 8
GENRES = {
    "rock": "guitar loud riff distortion amplifier stage drums anthem",
    "jazz": "saxophone swing improvisation trumpet bebop piano smooth club",
    "folk": "acoustic banjo ballad fiddle harmony rural storyteller campfire",
}
FILLER = "the band was formed in released album their first records with and of".split()


def make_world(n_per_split=(24, 6, 6), seed=0):
    """Artists (shuffled rows), enriched bios, tags, factors (genre direction) and plays."""
    rng = np.random.default_rng(seed)
    names = list(GENRES)
    n = sum(n_per_split)
    splits = np.repeat(["train", "val", "test"], n_per_split)
    genre = np.arange(n) % len(names)
    bios, enriched = [], []
    for i in range(n):
        words = GENRES[names[genre[i]]].split()
        tokens = list(rng.choice(words, 12)) + list(rng.choice(FILLER, 12))
        rng.shuffle(tokens)
        bios.append(" ".join(tokens))
        enriched.append(bios[-1] + f" dbo_genre_{names[genre[i]]}")
    artists = pd.DataFrame(
        {
            "artist_id": [f"AR{i:04d}" for i in range(n)],
            "artist_name": [f"artist {i}" for i in range(n)],
            "split": splits,
            "biography": bios,
            "item_idx": np.arange(n),
        }
    )
    artists_enriched = pd.DataFrame(
        {"artist_id": artists["artist_id"], "biography_enriched": enriched}
    )
    tags = pd.DataFrame(
        {
            "artist_id": np.repeat(artists["artist_id"].to_numpy(), 2),
            "tag": [
                t for g in genre for t in (names[g], str(rng.choice(["indie", "live", "90s"])))
            ],
            "weight": np.tile([100.0, 40.0], n),
        }
    )
    directions = rng.normal(size=(len(names), N_FACTORS)).astype(np.float32)
    factors = directions[genre] + 0.1 * rng.normal(size=(n, N_FACTORS)).astype(np.float32)
    plays = sp.random(10, n, density=0.3, format="csr", dtype=np.float32, random_state=seed)
    plays.data = np.ceil(plays.data * 5)
    # `artists` arrives shuffled: the nodes must order by item_idx themselves
    shuffled = artists.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return shuffled, artists_enriched, tags, factors.astype(np.float32), plays, genre


FF_PARAMS = {
    "model": {"hidden_units": [32, 16], "dropout": [0.2, 0.2, 0.2], "n_factors": N_FACTORS},
    "training": {"learning_rate": 0.01, "batch_size": 8, "epochs": 3, "patience": 2},
}
TFIDF = {"sublinear_tf": True, "max_df": 0.5, "max_features": 10000}
CNN_FEATURES = {"lowercase": True, "min_count": 1, "max_vocabulary": 1000, "max_length": 16}
CNN_MODEL = {
    "filter_sizes": [3, 4, 5],
    "n_filters": 4,
    "embedding_dropout": 0.0,
    "dropout": 0.2,
    "hidden_units": 8,
    "trainable_embeddings": True,
    "n_factors": N_FACTORS,
}


@pytest.fixture(scope="module")
def world():
    return make_world()


def _ff_run(world, source="enriched", seed=7):
    artists, enriched, tags, factors, _, _ = world
    features, _ = nodes.build_text_features(
        artists, enriched, tags, {"source": source, "tfidf": TFIDF, "tags": {"weighting": "tfidf"}}
    )
    model, history = nodes.train_text_ff(
        features,
        artists,
        factors,
        FF_PARAMS["model"],
        FF_PARAMS["training"],
        seed,
        {"approach": "t"},
    )
    return features, model, history


def test_text_ff_trains_predicts_and_embeds(world):
    artists = world[0]
    features, model, history = _ff_run(world)
    assert {"loss", "val_loss", "train_seconds", "n_params", "started_at_ms"} == set(history)
    assert 1 <= len(history["loss"]) == len(history["val_loss"]) <= 3
    test = nodes.predict_test_factors(model, features, artists)
    assert test.shape == (6, N_FACTORS) and test.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(test, axis=1), 1.0, rtol=1e-5)
    embeddings = nodes.extract_artist_embeddings(model, features, artists)
    assert embeddings.shape == (36, 16) and embeddings.dtype == np.float32
    # rows are item_idx: the embedding of artist item_idx i is the layer output for feature row i
    from coldstart.models.text_models import layer_model

    one = layer_model(model).predict(features[[30]], verbose=0)
    np.testing.assert_allclose(embeddings[30], one[0], rtol=1e-5, atol=1e-6)


def test_text_ff_same_seed_same_predictions(world):
    artists = world[0]
    f1, m1, h1 = _ff_run(world, source="tags", seed=3)
    f2, m2, h2 = _ff_run(world, source="tags", seed=3)
    timing = {"train_seconds", "started_at_ms"}  # when and how long: the only things that differ
    assert {k: v for k, v in h1.items() if k not in timing} == {
        k: v for k, v in h2.items() if k not in timing
    }
    np.testing.assert_array_equal(
        nodes.predict_test_factors(m1, f1, artists), nodes.predict_test_factors(m2, f2, artists)
    )


def test_text_cnn_on_trained_word2vec(world):
    artists, _, _, factors, _, _ = world
    embeddings = {"source": "train", "word2vec": {"vector_size": 6, "min_count": 1, "epochs": 1}}
    vocabulary, vectors = nodes.build_word_vectors(artists, embeddings, CNN_FEATURES, seed=1)
    assert vocabulary[:2] == ["<pad>", "<unk>"] and vectors.shape == (len(vocabulary), 6)
    sequences = nodes.encode_biographies(artists, vocabulary, CNN_FEATURES)
    assert sequences.shape == (36, 16)
    model, history = nodes.train_text_cnn(
        sequences, vectors, artists, factors, CNN_MODEL, {**FF_PARAMS["training"], "epochs": 2}, 1
    )
    assert len(history["loss"]) <= 2
    test = nodes.predict_test_factors(model, sequences, artists)
    assert test.shape == (6, N_FACTORS)
    np.testing.assert_allclose(np.linalg.norm(test, axis=1), 1.0, rtol=1e-5)


def _catalog(world, namespace, params, **extra):
    artists, enriched, tags, factors, plays, _ = world
    catalog = DataCatalog(
        {
            "artists": MemoryDataset(artists),
            "artists_enriched": MemoryDataset(enriched),
            "artist_tags": MemoryDataset(tags),
            "artist_item_factors": MemoryDataset(factors),
            "artist_plays": MemoryDataset(plays),
            "params:seed": MemoryDataset(11),
            f"{namespace}.model": MemoryDataset(copy_mode="assign"),  # Keras rows
            f"{namespace}.estimator": MemoryDataset(copy_mode="assign"),  # scikit-learn rows
            **extra,
        }
    )
    for key, value in params.items():
        catalog[f"params:{namespace}.{key}"] = value
    return catalog


def test_sliced_run_of_one_ff_row(world):
    """The configured a_sem row, sliced from the whole text pipeline, on MemoryDatasets."""
    pipe = create_pipeline().only_nodes_with_namespaces(["a_sem"])
    assert pipe.inputs() & SHARED_INPUTS == {
        "artists",
        "artists_enriched",
        "artist_tags",
        "artist_item_factors",
    }
    params = {
        "row": load_rows()["a_sem"],
        "features": {"source": "enriched", "tfidf": TFIDF},
        **FF_PARAMS,
    }
    catalog = _catalog(world, "a_sem", params)
    SequentialRunner().run(pipe, catalog)
    test = catalog.load("a_sem.test_item_factors")
    assert test.shape == (6, N_FACTORS)
    assert catalog.load("a_sem.artist_embeddings").shape == (36, 16)
    assert {"loss", "val_loss"} <= set(catalog.load("a_sem.training_history"))
    # the same as calling the nodes by hand with the row's parameters and the global seed
    artists, enriched, tags, factors, _, _ = world
    features, _ = nodes.build_text_features(artists, enriched, tags, params["features"])
    model, _ = nodes.train_text_ff(
        features, artists, factors, params["model"], params["training"], 11, params["row"]
    )
    np.testing.assert_array_equal(test, nodes.predict_test_factors(model, features, artists))


def test_sliced_run_of_item_knn_row(world):
    pipe = create_pipeline().only_nodes_with_namespaces(["tags_itemknn"])
    params = {
        # genre tags weigh 100, noise tags 40: same-genre neighbours are the most similar
        "features": {"source": "tags", "tags": {"weighting": "weight"}},
        "model": {"k": 5, "user_vectors": "binary"},
    }
    catalog = _catalog(world, "tags_itemknn", params)
    SequentialRunner().run(pipe, catalog)
    items = catalog.load("tags_itemknn.test_item_factors")
    users = catalog.load("tags_itemknn.user_factors")
    assert items.shape == (6, 24) and users.shape == (10, 24)
    assert ((items > 0).sum(axis=1) <= 5).all()
    genre = world[5]
    # a test artist's neighbours share its genre tag
    for row, g in zip(items, genre[30:], strict=True):
        assert (genre[:24][row > 0] == g).all()


def test_w2v_goo_row_with_a_vectors_file(world, tmp_path):
    from gensim.models import KeyedVectors

    words = sorted({w for text in GENRES.values() for w in text.split()} | set(FILLER))
    kv = KeyedVectors(vector_size=5)
    kv.add_vectors(words, np.random.default_rng(0).normal(size=(len(words), 5)).astype(np.float32))
    path = tmp_path / "vectors.txt"
    kv.save_word2vec_format(str(path), binary=False)
    params = {
        "row": {"approach": "a-w2v-goo"},
        "embeddings": {
            "source": "pretrained",
            "pretrained_vectors_path": str(path),
            "binary": "auto",
        },
        "features": CNN_FEATURES,
        "model": CNN_MODEL,
        "training": {**FF_PARAMS["training"], "epochs": 1},
    }
    catalog = _catalog(world, "a_w2v_goo", params)
    SequentialRunner().run(row_pipeline("a_w2v_goo", "text_cnn"), catalog)
    assert catalog.load("a_w2v_goo.test_item_factors").shape == (6, N_FACTORS)
    assert {"loss", "val_loss"} <= set(catalog.load("a_w2v_goo.training_history"))
    # the embedding layer starts from the file's vectors
    vocabulary, vectors = nodes.build_word_vectors(world[0], params["embeddings"], CNN_FEATURES, 0)
    np.testing.assert_allclose(vectors[vocabulary.index("guitar")], kv["guitar"])

    # no file configured: a clear error (the row is disabled in conf/base instead)
    params["embeddings"] = {**params["embeddings"], "pretrained_vectors_path": None}
    with pytest.raises(ValueError, match="pretrained_vectors_path"):
        nodes.build_word_vectors(world[0], params["embeddings"], CNN_FEATURES, seed=0)


def test_create_pipeline_builds_the_configured_rows():
    rows = load_rows()
    pipe = create_pipeline()
    outputs = pipe.all_outputs()
    for ns in ("a_text", "a_sem", "a_tags", "a_w2v", "text_rf", "ridge", "tags_itemknn"):
        assert f"{ns}.test_item_factors" in outputs
    for ns in ("a_text", "a_sem", "a_tags", "a_w2v"):
        assert f"{ns}.model" in outputs  # Keras
    for ns in ("text_rf", "ridge", "tags_itemknn"):
        assert f"{ns}.estimator" in outputs and f"{ns}.model" not in outputs  # scikit-learn
    for ns in ("a_text", "a_sem", "a_tags", "a_w2v"):
        assert f"{ns}.training_history" in outputs
    assert {"a_sem.artist_embeddings", "a_tags.artist_embeddings"} <= outputs
    assert "a_text.artist_embeddings" not in outputs
    assert "tags_itemknn.user_factors" in outputs
    assert rows["tags_itemknn"]["user_factors"] == "own"
    assert rows["tags_itemknn"]["normalize_items"] is False
    # a_w2v_goo is declared but disabled until a vectors file is configured
    assert rows["a_w2v_goo"]["enabled"] is False
    assert not any(n.namespace == "a_w2v_goo" for n in pipe.nodes)
    assert "params:seed" in pipe.inputs()  # the global seed, not namespaced


def test_conf_test_blocks_keep_the_base_row_blocks():
    from pathlib import Path

    from kedro.config import OmegaConfigLoader

    conf = Path(__file__).resolve().parents[1] / "conf"
    base = OmegaConfigLoader(str(conf), base_env="base", default_run_env="base")["parameters"]
    test = OmegaConfigLoader(str(conf), base_env="base", default_run_env="test", env="test")[
        "parameters"
    ]
    for ns, block in base.items():
        if isinstance(block, dict) and block.get("row", {}).get("template") in TEMPLATES:
            assert test[ns]["row"] == block["row"], ns
            assert set(test[ns]) == set(block), ns
    assert base["a_text"]["features"]["tfidf"] == {
        "sublinear_tf": True,
        "max_df": 0.5,
        "min_df": 1,
        "max_features": 10000,
        "lowercase": True,
        "strip_accents": "unicode",
    }
