"""The fusion pipeline: broadcasting, wiring per row, and sliced runs on a tiny world."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset, Version
from kedro.runner import SequentialRunner

from coldstart.pipelines.fusion import create_pipeline, nodes
from coldstart.pipelines.fusion.pipeline import TEMPLATES, row_pipeline
from coldstart.rows import load_rows, rows_for

CONF = Path(__file__).resolve().parents[1] / "conf"
N_FACTORS = 8
#: the rows the fusion pipeline trains (its artist_fusion row, a_fusion, trains nothing:
#: tests/test_artist_fusion.py)
FUSION_ROWS = [
    ns for template in TEMPLATES if template != "artist_fusion" for ns in rows_for(template)
]
TRAINING = {"learning_rate": 0.01, "batch_size": 8, "epochs": 2, "patience": 2}
FF_MODEL = {"hidden_units": [16, 8], "dropout": [0.2, 0.2, 0.2], "n_factors": N_FACTORS}


def make_world(seed: int = 0) -> dict:
    """12 artists (8/2/2 train/val/test), 3 songs each; tables arrive shuffled.

    ``item_idx`` follows the project's contract (split, then id); each song's artist
    is unrelated to its position, so broadcasting must look artists up by id.
    """
    rng = np.random.default_rng(seed)
    n_artists = 12
    artist_split = np.repeat(["train", "val", "test"], [8, 2, 2])
    artists = pd.DataFrame(
        {
            "artist_id": [f"AR{i:03d}" for i in range(n_artists)],
            "split": artist_split,
            "biography": [
                f"genre{i % 3} sound{i % 3} words filler text {i}" for i in range(n_artists)
            ],
        }
    )
    artists["item_idx"] = np.arange(n_artists)  # already split-then-id sorted
    song_artist = rng.permutation(np.repeat(np.arange(n_artists), 3))
    songs = pd.DataFrame(
        {
            "song_id": [f"SO{i:03d}" for i in range(len(song_artist))],
            "artist_id": artists["artist_id"].to_numpy()[song_artist],
            "split": artist_split[song_artist],
        }
    )
    order = songs["split"].map({"train": 0, "val": 1, "test": 2})
    songs = (
        songs.assign(order=order)
        .sort_values(["order", "song_id"])
        .drop(columns="order")
        .reset_index(drop=True)
    )
    songs["item_idx"] = np.arange(len(songs))
    songs["track_id"] = "TR" + songs["song_id"].str[2:]
    owner = songs["artist_id"].str[2:].astype(int).to_numpy()
    directions = rng.normal(size=(3, N_FACTORS))
    factors = directions[owner % 3] + 0.1 * rng.normal(size=(len(songs), N_FACTORS))
    a_prime = np.abs(rng.normal(size=(n_artists, 12))).astype(np.float32)
    t_prime = rng.normal(size=(len(songs), 16)).astype(np.float32)
    t_prime[[0, len(songs) - 1]] = 0.0  # a train and a test song whose audio failed
    return {
        "artists": artists.sample(frac=1.0, random_state=seed).reset_index(drop=True),
        "artists_enriched": artists[["artist_id"]].assign(
            biography_enriched=artists["biography"] + " dbo_genre" + (artists.index % 3).astype(str)
        ),
        "artist_tags": pd.DataFrame(
            {
                "artist_id": artists["artist_id"],
                "tag": [f"tag{i % 3}" for i in range(n_artists)],
                "weight": 100.0,
            }
        ),
        "songs": songs.sample(frac=1.0, random_state=seed + 1).reset_index(drop=True),
        "song_item_factors": factors.astype(np.float32),
        "a_prime": a_prime,
        "t_prime": t_prime,
        "owner": owner,
    }


@pytest.fixture(scope="module")
def world() -> dict:
    return make_world()


def _test_rows(world) -> np.ndarray:
    songs = world["songs"].sort_values("item_idx")
    return songs.loc[songs["split"] == "test", "item_idx"].to_numpy()


def _run(
    namespace: str, world: dict, params: dict, tmp_path: Path, extra: dict | None = None
) -> DataCatalog:
    """Run one row's template as a sliced pipeline on MemoryDatasets (model saved as .keras)."""
    from kedro_datasets.tensorflow import TensorFlowModelDataset

    pipe = row_pipeline(namespace, load_rows()[namespace])
    shared = {
        name: world[name]
        for name in ("artists", "artists_enriched", "artist_tags", "songs", "song_item_factors")
    }
    datasets = {
        **{name: MemoryDataset(value) for name, value in shared.items()},
        **{name: MemoryDataset(value) for name, value in (extra or {}).items()},
        "params:seed": MemoryDataset(3),
        f"params:{namespace}.row": MemoryDataset(load_rows()[namespace]),
        **{f"params:{namespace}.{key}": MemoryDataset(value) for key, value in params.items()},
        f"{namespace}.model": TensorFlowModelDataset(
            filepath=str(tmp_path / f"{namespace}.keras"), version=Version(None, None)
        ),
    }
    for name in pipe.all_outputs():
        datasets.setdefault(name, MemoryDataset(copy_mode="assign"))
    missing = pipe.inputs() - set(datasets)
    assert not missing, missing
    catalog = DataCatalog(datasets)
    SequentialRunner().run(pipe, catalog)
    return catalog


def _check_outputs(catalog: DataCatalog, namespace: str, world: dict) -> np.ndarray:
    factors = catalog.load(f"{namespace}.test_item_factors")
    assert factors.shape == (len(_test_rows(world)), N_FACTORS) and factors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(factors, axis=1), 1.0, rtol=1e-5)
    history = catalog.load(f"{namespace}.training_history")
    assert {"loss", "val_loss"} <= set(history) and 1 <= len(history["loss"]) == len(
        history["val_loss"]
    ) <= 2
    return factors


# --------------------------------------------------------------------------- broadcasting


def test_broadcasting_follows_each_songs_artist(world):
    rows = nodes.song_artist_rows(world["songs"], world["artists"])
    songs = world["songs"].sort_values("item_idx")
    artists = world["artists"].set_index("item_idx")
    assert (artists.loc[rows, "artist_id"].to_numpy() == songs["artist_id"].to_numpy()).all()
    np.testing.assert_array_equal(rows, world["owner"])  # AR<i> has item_idx i
    broadcast = nodes.broadcast_to_songs(world["a_prime"], world["songs"], world["artists"])
    assert broadcast.shape == (len(songs), 12)
    for song, artist in zip(songs["item_idx"], songs["artist_id"], strict=True):
        np.testing.assert_array_equal(broadcast[song], world["a_prime"][int(artist[2:])])


def test_a_song_of_an_unknown_artist_is_refused(world):
    songs = world["songs"].copy()
    songs.loc[0, "artist_id"] = "ARnobody"
    with pytest.raises(ValueError, match="not in `artists`"):
        nodes.song_artist_rows(songs, world["artists"])


def test_random_artist_embeddings_are_seeded(world):
    one = nodes.random_artist_embeddings(world["artists"], {"dim": 5}, seed=4)
    assert one.shape == (12, 5) and one.dtype == np.float32
    np.testing.assert_array_equal(
        one, nodes.random_artist_embeddings(world["artists"], {"dim": 5}, seed=4)
    )
    assert not np.array_equal(
        one, nodes.random_artist_embeddings(world["artists"], {"dim": 5}, seed=5)
    )


# --------------------------------------------------------------------------- sliced runs


def test_song_ff_row_on_a_prime(world, tmp_path):
    catalog = _run(
        "sem_emb",
        world,
        {"model": FF_MODEL, "training": TRAINING},
        tmp_path,
        extra={"a_sem.artist_embeddings": world["a_prime"]},
    )
    factors = _check_outputs(catalog, "sem_emb", world)
    model = catalog.load("sem_emb.model")  # the saved .keras file, loaded with safe_mode
    expected = model.predict(world["a_prime"][world["owner"][_test_rows(world)]], verbose=0)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(factors, expected, atol=1e-5)  # test songs, in songs order
    # the songs of one artist get the same input, so they must tie exactly (the evaluator
    # scores ties by their expected AP; rounding noise would order them arbitrarily)
    owners = world["owner"][_test_rows(world)]
    for artist in np.unique(owners):
        rows = factors[owners == artist]
        assert (rows == rows[0]).all()


def test_song_ff_row_on_the_enriched_vsm(world, tmp_path):
    features = {"tfidf": {"sublinear_tf": True, "max_df": 1.0}, "tags": {"weighting": "tfidf"}}
    catalog = _run(
        "sem_vsm", world, {"features": features, "model": FF_MODEL, "training": TRAINING}, tmp_path
    )
    _check_outputs(catalog, "sem_vsm", world)
    assert "dbo_genre0" in catalog.load("sem_vsm.vectorizer").vocabulary_  # fitted on enriched bios
    vsm, _ = nodes.build_artist_vsm(
        world["artists"],
        world["artists_enriched"],
        world["artist_tags"],
        features,
        {"features": "tags"},
    )
    assert vsm.shape == (12, 3)  # tags: one column per tag seen on train artists


@pytest.mark.parametrize("form", ["artist", "song"])
def test_song_ff_row_in_either_sample_form(world, tmp_path, form):
    catalog = _run(
        "tags_emb",
        world,
        {"model": FF_MODEL, "training": {**TRAINING, "sample_form": form}},
        tmp_path,
        extra={"a_tags.artist_embeddings": world["a_prime"]},
    )
    factors = _check_outputs(catalog, "tags_emb", world)  # one row per test song either way
    owners = world["owner"][_test_rows(world)]
    for artist in np.unique(owners):
        assert (factors[owners == artist] == factors[owners == artist][0]).all()
    history = catalog.load("tags_emb.training_history")
    # 8 train and 2 val artists with 3 songs each
    expected = {"artist": (8, 2), "song": (24, 6)}[form]
    assert history["sample_form"] == form
    assert (history["n_train_samples"], history["n_val_samples"]) == expected


def test_song_ff_sample_form_defaults_to_artist_and_refuses_others(world):
    args = (world["a_prime"], world["artists"], world["songs"], world["song_item_factors"])
    _, history = nodes.train_song_ff(*args, FF_MODEL, {**TRAINING, "epochs": 1}, 0)
    assert history["sample_form"] == "artist" and history["n_train_samples"] == 8
    with pytest.raises(ValueError, match=r"row 'sem-emb': training.sample_form .* 'songs'"):
        nodes.train_song_ff(
            *args, FF_MODEL, {**TRAINING, "sample_form": "songs"}, 0, load_rows()["sem_emb"]
        )


def test_only_the_song_ff_rows_have_a_sample_form():
    for env in ("base", "test"):
        params = yaml.safe_load((CONF / env / "parameters_fusion.yml").read_text())
        for ns, block in params.items():
            form = block.get("training", {}).get("sample_form")  # a_fusion trains nothing
            assert form == ("artist" if block["row"]["template"] == "song_ff" else None), (env, ns)


def test_late_fusion_row(world, tmp_path):
    fusion = {"kind": "linear", "dropout": 0.7, "hidden_units": 4, "n_factors": N_FACTORS}
    catalog = _run(
        "mm_lf_lin",
        world,
        {"fusion": fusion, "training": TRAINING},
        tmp_path,
        extra={
            "a_sem.artist_embeddings": world["a_prime"],
            "audio.track_embeddings": world["t_prime"],
        },
    )
    factors = _check_outputs(catalog, "mm_lf_lin", world)  # the song without audio is predicted too
    test = _test_rows(world)
    model = catalog.load("mm_lf_lin.model")
    x = {
        "artist_input": world["a_prime"][world["owner"][test]],
        "track_input": world["t_prime"][test],
    }
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(
        factors, expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-5
    )


def test_multimodal_row_on_a_tiny_feature_store(world, tmp_path):
    from coldstart.audio import CQTConfig, FeatureStore

    songs = world["songs"].sort_values("item_idx")
    store = FeatureStore(tmp_path / "store", CQTConfig(dtype="float32"))
    rng = np.random.default_rng(0)
    status = np.where(np.isin(songs["item_idx"], [0, len(songs) - 1]), "missing", "ok")
    keys = []
    for track, ok in zip(songs["track_id"], status, strict=True):
        keys.append(f"{track}.ab" if ok == "ok" else "")
        if ok == "ok":
            store.write(keys[-1], rng.normal(-40.0, 10.0, size=(int(rng.integers(30, 60)), 96)))
    index = pd.DataFrame(
        {
            "item_idx": songs["item_idx"],
            "song_id": songs["song_id"],
            "split": songs["split"],
            "status": status,
            "feature_key": keys,
            "n_frames": [store.n_frames(k) if k else 0 for k in keys],
        }
    )
    params = {
        "features": {"tfidf": {"max_df": 1.0}},
        "model": {
            "text": {"hidden_units": [8], "dropout": [0.2, 0.2]},
            "audio": {
                "filters": [4, 4, 4, 4],
                "kernel_sizes": [2, 2, 2, 1],
                "pool_sizes": [2, 2, 2, 1],
            },
            "n_factors": N_FACTORS,
        },
        "patches": {
            "patch_frames": 32,
            "sampling": "fixed",
            "predict_hop_frames": 16,
            "predict_trim": 0.15,
        },
        "training": {**TRAINING, "epochs": 1},
    }
    extra = {
        "audio_feature_index": index.sample(frac=1.0, random_state=0),
        "audio_feature_store": tmp_path / "store",
        "audio_feature_stats": {"mean": [-40.0] * 96, "std": [10.0] * 96},
    }
    catalog = _run("mm", world, params, tmp_path, extra=extra)
    factors = catalog.load("mm.test_item_factors")
    assert factors.shape == (len(_test_rows(world)), N_FACTORS) and factors.dtype == np.float32
    # every test song has a unit-norm prediction, the one without audio too
    np.testing.assert_allclose(np.linalg.norm(factors, axis=1), 1.0, rtol=1e-5)
    assert len(catalog.load("mm.training_history")["loss"]) == 1
    assert catalog.load("mm.model").get_layer("fused").output.shape[-1] == 8 + 3 * 4


# --------------------------------------------------------------------------- wiring and configuration


def test_create_pipeline_builds_one_instance_per_row():
    rows = load_rows()

    def row_table(ns: str) -> str:
        return rows[ns]["table"]

    pipe = create_pipeline()
    assert set(FUSION_ROWS) == {
        "sem_vsm", "sem_emb", "tags_vsm", "tags_emb", "random_song", "mm_lf_lin", "mm_lf_h1", "mm_lf_lin_tags", "mm",
        # Table 3's rows on the same templates (docs/known_artist.md)
        "sem_emb_known", "tags_emb_known", "mm_lf_lin_known", "catalogue_lf_known",
    }  # fmt: skip
    fused = set(rows_for("artist_fusion"))
    assert fused == {"a_fusion"}
    assert {node.namespace for node in pipe.nodes} == set(FUSION_ROWS) | fused
    for ns in FUSION_ROWS:
        own = [node for node in pipe.nodes if node.namespace == ns]
        outputs = set().union(*(node.outputs for node in own))
        assert {f"{ns}.test_item_factors", f"{ns}.training_history", f"{ns}.model"} <= outputs
        inputs = set().union(*(node.inputs for node in own)) - outputs
        # Table 3's rows read the known-artist world in place of the songs' datasets
        songs = ("known_songs", "known_item_factors") if row_table(ns) == "known" else None
        songs = songs or ("songs", "song_item_factors")
        assert {*songs, "artists", "params:seed"} <= inputs
        assert not any(name.startswith(f"{ns}.") for name in inputs)  # nothing dangling
        row = rows[ns]
        if row.get("artist_embeddings_from"):
            assert f"{row['artist_embeddings_from']}.artist_embeddings" in inputs
        if row.get("track_embeddings_from"):
            assert f"{row['track_embeddings_from']}.track_embeddings" in inputs
    inputs_of = lambda ns: set().union(*(n.inputs for n in pipe.nodes if n.namespace == ns))  # noqa: E731
    assert "a_sem.artist_embeddings" in inputs_of("sem_emb")
    assert "a_tags.artist_embeddings" in inputs_of("tags_emb")
    assert {"a_sem.artist_embeddings", "audio.track_embeddings"} <= inputs_of("mm_lf_lin")
    assert {"a_tags.artist_embeddings", "audio.track_embeddings"} <= inputs_of("mm_lf_lin_tags")
    assert {
        "audio_feature_index",
        "audio_feature_store",
        "audio_feature_stats",
        "artists_enriched",
    } <= inputs_of("mm")
    assert "artists_enriched" in inputs_of("sem_vsm") and "artist_tags" in inputs_of("tags_vsm")
    assert not any(
        name.endswith("artist_embeddings")
        for name in inputs_of("random_song") | inputs_of("sem_vsm")
    )


def test_rows_are_the_papers_table_2():
    rows = load_rows()
    expected = {
        "sem_vsm": ("sem-vsm", "Sem Bio", "-", "FF", 20),
        "sem_emb": ("sem-emb", "a-sem", "-", "FF", 30),
        "mm_lf_lin": ("mm-lf-lin", "a-sem", "audio emb", "MLP", 40),
        "mm_lf_h1": ("mm-lf-h1", "a-sem", "audio emb", "MLP", 50),
        "mm": ("mm", "Sem Bio", "audio spec", "CNN", 60),
        "tags_vsm": ("tags-vsm", "Tags", "-", "FF", 70),
        "tags_emb": ("tags-emb", "a-tags", "-", "FF", 80),
        "mm_lf_lin_tags": ("mm-lf-lin-tags", "a-tags", "audio emb", "MLP", 85),
        "random_song": ("random", "rnd emb", "-", "FF", 90),
    }
    for ns, (approach, artist_input, track_input, arch, order) in expected.items():
        row = rows[ns]
        assert row["table"] == "song" and "input" in row and "data_model" in row
        assert (
            row["approach"],
            row["artist_input"],
            row["track_input"],
            row["arch"],
            row["order"],
        ) == (
            approach,
            artist_input,
            track_input,
            arch,
            order,
        )
    # the song-level random row is the FF one; the random-factor baseline is artist-level
    # only, and Table 3's
    assert rows_for("random_factors") == ["random_artist", "random_known"]


def test_configuration_files_agree():
    base = yaml.safe_load((CONF / "base" / "parameters_fusion.yml").read_text())
    test = yaml.safe_load((CONF / "test" / "parameters_fusion.yml").read_text())
    assert set(test) == set(base)
    for ns in base:
        assert test[ns]["row"] == base[ns]["row"], ns  # rows are read from base only
        assert set(test[ns]) == set(base[ns]), ns  # whole blocks (destructive merge)
    # the rows' files come from the `{row}.*` factories (tests/test_row_factories.py)
    catalog = yaml.safe_load((CONF / "base" / "catalog_rows.yml").read_text())
    assert catalog["{row}.model"]["type"] == "coldstart.datasets.AtomicTensorFlowModelDataset"
    assert catalog["{row}.training_history"]["type"] == "coldstart.datasets.AtomicJSONDataset"
    for ns in base:
        assert not [key for key in catalog if key.startswith(f"{ns}.")], ns
    assert catalog["_root"] == yaml.safe_load((CONF / "base" / "catalog.yml").read_text())["_root"]


def test_same_seed_same_predictions(world):
    fusion = {"kind": "hidden", "dropout": 0.7, "hidden_units": 4, "n_factors": N_FACTORS}
    args = (world["a_prime"], world["t_prime"], world["artists"], world["songs"])
    runs = []
    for _ in range(2):
        model, history = nodes.train_late_fusion(
            *args, world["song_item_factors"], fusion, {**TRAINING, "epochs": 1}, 5
        )
        runs.append((history, nodes.predict_late_fusion(model, *args)))
    curves = [{k: h[k] for k in ("loss", "val_loss", "n_params")} for h, _ in runs]
    assert curves[0] == curves[1]  # only the timing (train_seconds, started_at_ms) differs
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
