"""The audio pipeline end to end on the synthetic tiny world: features, the small CNN, predictions, T'."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

CONF = Path(__file__).resolve().parents[1] / "conf"


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory) -> tuple[Path, pd.DataFrame, np.ndarray]:
    """The generator's tiny world, with a songs table and factors in the project's contracts.

    Splits are drawn by artist (80/10/10) and the targets are the songs' true taste
    positions lifted to 200-d: this tests the audio pipeline alone, without
    ingestion and WMF. The world's injected dirt (missing, corrupt, empty audio)
    is part of it.
    """
    from coldstart.world import generate_world

    world = tmp_path_factory.mktemp("world") / "tiny"
    # the tiny preset, halved again: this test is about the audio pipeline, not the world
    manifest = generate_world(
        world, {"preset": "tiny", "seed": 7, "n_artists": 30, "n_songs": 120, "n_users": 150}
    )
    truth = pd.read_csv(world / "truth" / "songs.tsv", sep="\t")
    rng = np.random.default_rng(0)
    artists = np.array(sorted(truth["artist_id"].unique()))
    rng.shuffle(artists)
    cut = np.cumsum([int(0.8 * len(artists)), int(0.1 * len(artists))])
    split_of = {
        a: "train" if i < cut[0] else "val" if i < cut[1] else "test" for i, a in enumerate(artists)
    }
    files = {p.stem: p.name for p in (world / "audio").iterdir()}
    songs = pd.DataFrame(
        {
            "song_id": truth["song_id"],
            "track_id": truth["audio_track_id"],
            "artist_id": truth["artist_id"],
            "split": truth["artist_id"].map(split_of),
            "audio_path": ["audio/" + files.get(t, f"{t}.mp3") for t in truth["audio_track_id"]],
        }
    )
    order = songs["split"].map({"train": 0, "val": 1, "test": 2})
    songs = songs.assign(order=order).sort_values(["order", "song_id"]).drop(columns="order")
    songs = songs.reset_index(drop=True).assign(item_idx=lambda df: np.arange(len(df)))
    positions = (
        truth.set_index("song_id").loc[songs["song_id"], [f"x{i}" for i in range(16)]].to_numpy()
    )
    factors = (positions @ rng.normal(size=(16, 200))).astype(np.float32)
    assert manifest["dirt"]["audio"]  # the world really carries bad audio
    return world, songs, factors


def test_the_audio_row_is_declared():
    from coldstart.rows import load_rows, rows_for

    assert "audio" in rows_for("audio_cnn")
    row = load_rows()["audio"]
    assert row["table"] == "song" and row["approach"] == "audio" and row["arch"] == "CNN"


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_small_network_trains_and_predicts_on_the_tiny_world(tmp_path, tiny_world):
    from kedro.io import DataCatalog, MemoryDataset, Version
    from kedro.runner import SequentialRunner
    from kedro_datasets.pandas import ParquetDataset
    from kedro_datasets.tensorflow import TensorFlowModelDataset

    from coldstart.datasets import NumpyDataset
    from coldstart.pipelines.audio.pipeline import create_pipeline

    world, songs, factors = tiny_world
    params = yaml.safe_load((CONF / "test" / "parameters_audio.yml").read_text())
    assert params["audio"]["model"]["filters"] == [16, 32, 64, 64]
    params["audio"]["training"]["epochs"] = 2  # trains and early-stops the same way; keep it short

    everything = create_pipeline()
    pipe = everything.only_nodes(
        *[n.name for n in everything.nodes if n.namespace in (None, "audio")]
    )
    versioned = {"version": Version(None, None)}
    persisted = {
        "audio.model": TensorFlowModelDataset(
            filepath=str(tmp_path / "audio_cnn.keras"), **versioned
        ),
        "audio.track_embeddings": NumpyDataset(
            filepath=str(tmp_path / "track_embeddings.npy"), **versioned
        ),
        "audio_feature_index": ParquetDataset(
            filepath=str(tmp_path / "audio_feature_index.parquet")
        ),
    }
    catalog = DataCatalog(
        {
            "songs": MemoryDataset(songs),
            "raw_audio_dir": MemoryDataset(world / "audio", copy_mode="assign"),
            "audio_feature_store": MemoryDataset(tmp_path / "store", copy_mode="assign"),
            "song_item_factors": MemoryDataset(factors),
            "params:audio_features": MemoryDataset(params["audio_features"]),
            "params:seed": MemoryDataset(7),
            **{
                f"params:audio.{k}": MemoryDataset(params["audio"][k])
                for k in ("model", "training", "patches")
            },
            **persisted,
            **{name: MemoryDataset() for name in pipe.all_outputs() if name not in persisted},
        }
    )
    SequentialRunner().run(pipe, catalog)

    dirt = json.loads((world / "world_manifest.json").read_text())["dirt"]["audio"]
    report = catalog.load("audio_features_report")
    assert report["failed_by_reason"]["missing"] == len(dirt["missing"])
    assert report["failed_by_reason"]["empty"] == len(dirt["empty"])
    assert report["failed_by_reason"]["undecodable"] == len(dirt["corrupt"])
    assert report["n_ok"] == len(songs) - report["n_failed"] and report["computed"] > 0
    history = catalog.load("audio.training_history")
    assert set(history) >= {"loss", "val_loss"} and len(history["loss"]) == 2

    index = catalog.load("audio_feature_index")
    frames = index.loc[index["status"] == "ok", "n_frames"].to_numpy()
    patch = params["audio"]["patches"]["patch_frames"]
    assert report["padding"]["patch_frames"] == patch and report["padding"]["tracks"] == len(frames)
    assert report["padding"]["tracks_shorter_than_patch"] == int((frames < patch).sum())
    assert report["preview_seconds"]["max"] == round(frames.max() * 1024 / 22050, 3)
    for split in ("val", "test"):
        predicted = catalog.load(f"audio.{split}_item_factors")
        ok = (index.loc[index["split"] == split, "status"] == "ok").to_numpy()
        assert (
            predicted.shape == ((songs["split"] == split).sum(), 200)
            and predicted.dtype == np.float32
        )
        np.testing.assert_allclose(np.linalg.norm(predicted[ok], axis=1), 1.0, rtol=1e-5)
        assert not predicted[~ok].any()  # songs whose audio failed: zero rows

    embeddings = catalog.load("audio.track_embeddings")
    # T' of the small net: 4 frames x 64 filters
    assert embeddings.shape == (len(songs), 4 * 64) and embeddings.dtype == np.float32
    failed = (index["status"] != "ok").to_numpy()
    assert (
        np.isfinite(embeddings).all() and not embeddings[failed].any() and embeddings[~failed].any()
    )

    model = catalog.load("audio.model")  # reloads with safe_mode=True
    assert model.get_layer("track_embedding").output.shape == (None, 256)


@pytest.mark.parametrize("sampling", ["fixed", "per_epoch"])
def test_packed_loader_gives_the_store_loaders_batches_on_the_tiny_world(
    tmp_path, tiny_world, sampling
):
    """The pack (one memory map, one gather per batch, prefetched) changes no batch.

    Same seed, same tracks: every batch of two epochs (reshuffled, and with
    ``per_epoch`` new patch positions) is bit-identical to the per-track store's,
    so training results do not move with the faster loader.
    """
    from coldstart.audio.packed import PACK_FOLDER
    from coldstart.audio.store import FeatureStore
    from coldstart.audio.streaming import CQTPatchDataset
    from coldstart.pipelines.audio.nodes import (
        _split_rows,
        extract_audio_features,
        fit_audio_standardisation,
    )

    world, songs, factors = tiny_world
    params = yaml.safe_load((CONF / "test" / "parameters_audio.yml").read_text())
    index, _ = extract_audio_features(
        songs, world / "audio", tmp_path / "store", {**params["audio_features"], "progress": False}
    )
    assert len(list((tmp_path / "store" / PACK_FOLDER).iterdir())) == 2  # train and val
    stats = fit_audio_standardisation(index, tmp_path / "store")
    mean, std = np.asarray(stats["mean"], np.float32), np.asarray(stats["std"], np.float32)
    train = _split_rows(index, "train")
    store = FeatureStore(tmp_path / "store")

    def loader(source: str) -> CQTPatchDataset:
        return CQTPatchDataset(
            store,
            train["feature_key"].tolist(),
            train["n_frames"].to_numpy(),
            factors[train["item_idx"].to_numpy()],
            mean,
            std,
            patch_frames=params["audio"]["patches"]["patch_frames"],
            batch_size=8,
            shuffle=True,
            sampling=sampling,
            seed=11,
            source=source,
        )

    old, new = loader("store"), loader("pack")
    assert new.pack is not None and old.pack is None
    for _epoch in range(2):
        for i in range(len(old)):
            (x_old, y_old), (x_new, y_new) = old[i], new[i]
            assert x_new.dtype == np.float32 and x_new.shape == x_old.shape
            np.testing.assert_array_equal(x_new, x_old)
            np.testing.assert_array_equal(y_new, y_old)
        old.on_epoch_end()
        new.on_epoch_end()
