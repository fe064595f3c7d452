"""The peer rows' nodes (docs/peers.md): DropoutNet, CLCRec, cmfrec's CMF and LightFM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import yaml
from test_fusion_pipeline import make_world

from coldstart.pipelines.peers import create_pipeline, nodes
from coldstart.pipelines.peers.pipeline import TEMPLATES
from coldstart.pipelines.text.nodes import build_text_features
from coldstart.rows import load_rows, rows_for

CONF = Path(__file__).resolve().parents[1] / "conf"
N_FACTORS = 8
N_USERS = 24
TRAINING = {"learning_rate": 0.01, "batch_size": 8, "epochs": 2, "patience": 2}
DROPOUTNET = {"dropout_rates": [0.5, 1.0], "content_units": 8, "hidden_units": [8]}
CLCREC = {"hidden_units": [8], "dropout": 0.1, "temperature": 0.2}
PEER_ROWS = [ns for template in TEMPLATES for ns in rows_for(template)]


@pytest.fixture(scope="module")
def world() -> dict:
    """The fusion tests' world plus artist factors, user factors and plays by genre."""
    world = make_world()
    rng = np.random.default_rng(1)
    artists = world["artists"].sort_values("item_idx")
    genre = artists["biography"].str.extract(r"genre(\d)")[0].astype(int).to_numpy()
    directions = rng.normal(size=(3, N_FACTORS))
    world["genre"] = genre
    world["artist_item_factors"] = (
        directions[genre] + 0.1 * rng.normal(size=(len(artists), N_FACTORS))
    ).astype(np.float32)
    world["artist_user_factors"] = rng.normal(size=(N_USERS, N_FACTORS)).astype(np.float32)
    world["song_user_factors"] = rng.normal(size=(N_USERS, N_FACTORS)).astype(np.float32)
    liked = rng.integers(0, 3, size=N_USERS)
    plays = (liked[:, None] == genre[None, :]) * rng.integers(1, 5, size=(N_USERS, len(artists)))
    world["artist_plays"] = sp.csr_matrix(plays.astype(np.float32))
    world["tags_vsm"] = build_text_features(
        world["artists"], world["artists_enriched"], world["artist_tags"], {"source": "tags"}
    )[0]
    return world


def _test_artists(world) -> np.ndarray:
    artists = world["artists"].sort_values("item_idx")
    return artists.loc[artists["split"] == "test", "item_idx"].to_numpy()


# --------------------------------------------------------------------------- DropoutNet


def test_preference_projection_turns_the_users_sum_into_an_mse():
    from coldstart.models.peer_models import preference_projection

    rng = np.random.default_rng(0)
    users = rng.normal(size=(50, 6))
    projection = preference_projection(users)
    v, f = rng.normal(size=6), rng.normal(size=6)
    summed = np.sum((users @ v - users @ f) ** 2)  # every user's squared preference error
    gram_scale = np.linalg.eigvalsh(users.T @ users).mean()
    np.testing.assert_allclose(np.sum(((v - f) @ projection) ** 2) * gram_scale, summed, rtol=1e-4)


def test_item_batches_drop_the_cf_input_only():
    from coldstart.models.peer_models import CF_INPUT, item_batches

    cf = np.arange(1, 41, dtype=np.float32).reshape(20, 2)
    content = np.ones((20, 3), dtype=np.float32)
    rows = np.arange(20)
    inputs = {CF_INPUT: (cf, rows), "content": (content, rows)}
    kept = item_batches(inputs, cf, batch_size=20, drop_rate=0.0)[0][0]
    np.testing.assert_array_equal(kept[CF_INPUT], cf)
    gone = item_batches(inputs, cf, batch_size=20, drop_rate=1.0)[0][0]
    assert not gone[CF_INPUT].any() and (gone["content"] == 1).all()
    half = item_batches(inputs, cf, batch_size=20, drop_rate=0.5, seed=3)
    first = ~half[0][0][CF_INPUT].any(axis=1)
    assert 0 < first.sum() < 20 and (half[0][0]["content"] == 1).all()
    half.on_epoch_end()  # the dropped items are redrawn every epoch
    assert not np.array_equal(first, ~half[0][0][CF_INPUT].any(axis=1))
    np.testing.assert_array_equal(cf, np.arange(1, 41, dtype=np.float32).reshape(20, 2))
    with pytest.raises(ValueError, match="dropout rate"):
        item_batches(inputs, cf, drop_rate=1.5)


def test_dropoutnet_network_shapes_and_safe_reload(tmp_path):
    from kedro.io import Version
    from kedro_datasets.tensorflow import TensorFlowModelDataset

    from coldstart.models.peer_models import CF_INPUT, build_dropoutnet

    model = build_dropoutnet({"content": 30}, 8, content_units=16, hidden_units=[12, 10])
    assert {t.name: tuple(t.shape) for t in model.inputs} == {
        CF_INPUT: (None, 8),
        "content": (None, 30),
    }
    assert model.output_shape == (None, 8)
    assert model.get_layer("cf_and_content").output.shape == (None, 8 + 16)
    dataset = TensorFlowModelDataset(
        filepath=str(tmp_path / "dropoutnet.keras"), version=Version(None, None)
    )
    dataset.save(model)
    x = {CF_INPUT: np.ones((2, 8), np.float32), "content": np.ones((2, 30), np.float32)}
    np.testing.assert_allclose(dataset.load().predict(x, verbose=0), model.predict(x, verbose=0))


def test_dropoutnet_artists_tunes_the_rate_and_serves_cold_items_from_content(world, tmp_path):
    from coldstart.models.peer_models import CF_INPUT

    model, history = nodes.train_dropoutnet_artists(
        world["tags_vsm"],
        world["artists"],
        world["artist_item_factors"],
        world["artist_user_factors"],
        DROPOUTNET,
        TRAINING,
        seed=3,
        row={"approach": "dropoutnet-tags"},
    )
    grid = history["dropout_grid_val_loss"]
    assert set(grid) == {"0.5", "1"}
    assert history["dropout_rate"] in (0.5, 1.0)
    assert grid[f"{history['dropout_rate']:g}"] == min(grid.values())  # chosen by val loss
    assert min(history["val_loss"]) == min(grid.values())
    assert history["cf_scale"] > 0 and 1 <= len(history["loss"]) <= 2

    test = _test_artists(world)
    predicted = nodes.predict_dropoutnet_artists(model, world["tags_vsm"], world["artists"])
    assert predicted.shape == (len(test), N_FACTORS) and predicted.dtype == np.float32
    content = world["tags_vsm"][test].toarray()
    cold = model.predict(
        {CF_INPUT: np.zeros((len(test), N_FACTORS)), "content": content}, verbose=0
    )
    np.testing.assert_allclose(predicted, cold, rtol=1e-5, atol=1e-6)
    warm_cf = world["artist_item_factors"][test] / history["cf_scale"]
    warm = model.predict({CF_INPUT: warm_cf, "content": content}, verbose=0)
    assert not np.allclose(warm, cold)  # the network reads its CF input; serving gives it none
    reloaded = nodes.predict_dropoutnet_artists(
        _reload(model, tmp_path), world["tags_vsm"], world["artists"]
    )
    np.testing.assert_allclose(reloaded, predicted, rtol=1e-5, atol=1e-6)


def test_dropoutnet_songs_reads_a_prime_and_t_prime(world):
    model, history = nodes.train_dropoutnet_songs(
        world["a_prime"],
        world["t_prime"],
        world["artists"],
        world["songs"],
        world["song_item_factors"],
        world["song_user_factors"],
        {**DROPOUTNET, "dropout_rates": [0.75]},
        TRAINING,
        seed=3,
    )
    assert history["dropout_rate"] == 0.75
    assert {t.name for t in model.inputs} == {"cf_input", "artist_content", "track_content"}
    predicted = nodes.predict_dropoutnet_songs(
        model, world["a_prime"], world["t_prime"], world["artists"], world["songs"]
    )
    n_test = int((world["songs"]["split"] == "test").sum())
    assert predicted.shape == (n_test, N_FACTORS) and np.isfinite(predicted).all()


def test_dropout_grid_is_checked():
    assert nodes.dropout_grid({}) == [0.5]
    with pytest.raises(ValueError, match="dropout_rates"):
        nodes.dropout_grid({"dropout_rates": [0.5, 2.0]})
    with pytest.raises(ValueError, match="dropout_rates"):
        nodes.dropout_grid({"dropout_rates": []})


# --------------------------------------------------------------------------- CLCRec


def test_info_nce_is_low_for_aligned_items_and_log_batch_for_uninformative_ones():
    import keras

    from coldstart.models.peer_models import info_nce_loss

    loss = info_nce_loss(0.05)
    factors = np.eye(4, dtype=np.float32)
    aligned = keras.ops.convert_to_numpy(loss(factors, factors))
    uniform = np.tile(np.full((1, 4), 0.5, np.float32), (4, 1))
    unaligned = keras.ops.convert_to_numpy(loss(factors, uniform))
    assert aligned.shape == (4,) and aligned.max() < 1e-3
    np.testing.assert_allclose(unaligned, np.log(4), rtol=1e-5)
    with pytest.raises(ValueError, match="temperature"):
        info_nce_loss(0.0)


def _reload(model, tmp_path):
    """Save and load through the catalog's dataset (``.keras``, ``safe_mode`` on)."""
    from kedro.io import Version

    from coldstart.datasets import AtomicTensorFlowModelDataset

    dataset = AtomicTensorFlowModelDataset(
        filepath=str(tmp_path / f"{model.name}.keras"),
        load_args={"safe_mode": True},
        version=Version(None, None),
    )
    dataset.save(model)
    return dataset.load()


def test_clcrec_artists_predicts_unit_factors_from_content(world, tmp_path):
    model, history = nodes.train_clcrec_artists(
        world["tags_vsm"], world["artists"], world["artist_item_factors"], CLCREC, TRAINING, 3
    )
    assert 1 <= len(history["val_loss"]) <= 2 and np.isfinite(history["val_loss"]).all()
    predicted = nodes.predict_clcrec_artists(model, world["tags_vsm"], world["artists"])
    assert predicted.shape == (len(_test_artists(world)), N_FACTORS)
    np.testing.assert_allclose(np.linalg.norm(predicted, axis=1), 1.0, rtol=1e-5)
    # the trained encoder, not its loss, is what the catalog saves and reloads
    reloaded = nodes.predict_clcrec_artists(
        _reload(model, tmp_path), world["tags_vsm"], world["artists"]
    )
    np.testing.assert_allclose(reloaded, predicted, rtol=1e-5, atol=1e-6)


def test_clcrec_songs(world):
    model, _ = nodes.train_clcrec_songs(
        world["a_prime"],
        world["t_prime"],
        world["artists"],
        world["songs"],
        world["song_item_factors"],
        CLCREC,
        TRAINING,
        3,
    )
    predicted = nodes.predict_clcrec_songs(
        model, world["a_prime"], world["t_prime"], world["artists"], world["songs"]
    )
    n_test = int((world["songs"]["split"] == "test").sum())
    assert predicted.shape == (n_test, N_FACTORS)
    np.testing.assert_allclose(np.linalg.norm(predicted, axis=1), 1.0, rtol=1e-5)


# --------------------------------------------------------------------------- CMF, LightFM


def _twin_test_artists(world):
    """The tag VSM with the second test artist given the first one's tags."""
    test = _test_artists(world)
    vsm = world["tags_vsm"].tolil()
    vsm[test[1]] = vsm[test[0]]
    return vsm.tocsr()


def test_cmf_cold_factors_come_from_attributes(world):
    model = {"k": 4, "niter": 3, "lambda_": 1.0, "w_item": 1.0}
    vsm = _twin_test_artists(world)
    users, items = nodes.collective_mf_factors(
        vsm, world["artist_plays"], world["artists"], model, 3
    )
    assert users.shape == (N_USERS, 4) and items.shape == (len(_test_artists(world)), 4)
    assert np.isfinite(items).all() and np.abs(items).sum() > 0
    np.testing.assert_allclose(items[0], items[1], rtol=1e-5)  # same attributes, same factors
    # the plays of test artists never reach the fit: same factors without them
    plays = world["artist_plays"].tolil()
    plays[:, _test_artists(world)] = 0
    _, again = nodes.collective_mf_factors(vsm, plays.tocsr(), world["artists"], model, 3)
    np.testing.assert_allclose(again, items, rtol=1e-5, atol=1e-6)


def test_lightfm_factors_score_as_lightfm(world):
    model = {"loss": "warp", "no_components": 4}
    users, items = nodes.lightfm_factors(
        _twin_test_artists(world), world["artist_plays"], world["artists"], model, {"epochs": 2}, 3
    )
    test = _test_artists(world)
    assert users.shape == (N_USERS, 5) and items.shape == (len(test), 5)
    np.testing.assert_array_equal(users[:, -1], 1.0)  # the item bias enters every score
    np.testing.assert_allclose(items[0], items[1])  # an item is the sum of its attributes


def test_lightfm_trained_an_epoch_a_call_is_lightfm_fit_to_the_bit(world):
    """The node logs each epoch by calling fit_partial once per epoch: same factors as fit."""
    import scipy.sparse as sp
    from lightfm import LightFM

    model = {"loss": "warp", "no_components": 4}
    features = _twin_test_artists(world)
    users, items = nodes.lightfm_factors(
        features, world["artist_plays"], world["artists"], model, {"epochs": 3}, 5
    )
    rows = nodes._artist_rows(world["artists"])
    plays = nodes._train_plays(world["artist_plays"], world["artists"], rows["train"])
    plays.data[:] = 1.0
    attributes = sp.csr_matrix(nodes._artist_content(features, world["artists"]), dtype=np.float32)
    reference = LightFM(random_state=5, **model)
    reference.fit(plays.tocoo(), item_features=attributes[rows["train"]], epochs=3, num_threads=1)
    _, embedding = reference.get_user_representations()
    bias, item_embedding = reference.get_item_representations(attributes[rows["test"]])
    np.testing.assert_array_equal(users[:, :-1], embedding)
    np.testing.assert_array_equal(items, np.hstack([item_embedding, bias[:, None]]))


def test_lightfm_with_patience_keeps_its_best_val_epoch(world, caplog):
    """Early stopping returns the factors of the best val epoch: those of a plain run of
    that many epochs, to the bit (same seed, same random stream)."""
    import logging
    import re

    model = {"loss": "warp", "no_components": 4, "learning_rate": 0.5}
    features = _twin_test_artists(world)
    with caplog.at_level(logging.INFO, logger=nodes.logger.name):
        users, items = nodes.lightfm_factors(
            features,
            world["artist_plays"],
            world["artists"],
            model,
            {"epochs": 12, "patience": 1, "val_k": 5},
            7,
        )
    scores = [float(m) for m in re.findall(r"val MAP@5 ([0-9.]+)", caplog.text)]
    assert scores, caplog.text
    best = int(np.argmax(scores)) + 1  # the first best epoch is kept
    assert len(scores) <= 12 and (len(scores) == 12 or len(scores) == best + 1)
    again_users, again_items = nodes.lightfm_factors(
        features, world["artist_plays"], world["artists"], model, {"epochs": best}, 7
    )
    np.testing.assert_array_equal(users, again_users)
    np.testing.assert_array_equal(items, again_items)


def test_lightfm_threads_zero_means_every_core_and_negative_is_refused():
    from coldstart.cores import available_cores

    assert nodes._lightfm_threads({}) == 1
    assert nodes._lightfm_threads({"num_threads": 0}) == available_cores()
    with pytest.raises(ValueError, match="num_threads"):
        nodes._lightfm_threads({"num_threads": -1})


# --------------------------------------------------------------------------- wiring


def test_create_pipeline_builds_one_instance_per_peer_row():
    rows = load_rows()
    pipe = create_pipeline()
    assert set(PEER_ROWS) == {
        "dropoutnet_tags", "dropoutnet_sem", "clcrec_tags", "cmf_tags", "cmf_sem",
        "lightfm_tags", "dropoutnet_song", "clcrec_song",
    }  # fmt: skip
    assert {node.namespace for node in pipe.nodes} == set(PEER_ROWS)
    for ns in PEER_ROWS:
        own = [node for node in pipe.nodes if node.namespace == ns]
        outputs = set().union(*(node.outputs for node in own))
        inputs = set().union(*(node.inputs for node in own)) - outputs
        assert f"{ns}.test_item_factors" in outputs
        assert not any(name.startswith(f"{ns}.") for name in inputs)
        row = rows[ns]
        if row.get("user_factors") == "own":
            assert f"{ns}.dense_user_factors" in outputs
        if row["template"] == "dropoutnet":
            level = row["table"]
            assert {f"{level}_item_factors", f"{level}_user_factors"} <= inputs
        if row["table"] == "song":
            assert {"a_sem.artist_embeddings", "audio.track_embeddings"} <= inputs
        # the serving node never reads the item factors: cold items from content alone
        serving = [n for n in own if f"{ns}.test_item_factors" in n.outputs]
        if row["template"] in ("dropoutnet", "clcrec"):
            assert not any(name.endswith("item_factors") for name in serving[0].inputs)


def test_peer_configuration_files_agree():
    base = yaml.safe_load((CONF / "base" / "parameters_peers.yml").read_text())
    test = yaml.safe_load((CONF / "test" / "parameters_peers.yml").read_text())
    assert set(test) == set(base) == set(PEER_ROWS)
    for ns in base:
        assert test[ns]["row"] == base[ns]["row"], ns
        assert set(test[ns]) == set(base[ns]), ns


def test_an_artist_level_factorisation_row_refuses_songs():
    from coldstart.pipelines.peers.pipeline import row_pipeline

    row = {"table": "song", "template": "cmf", "approach": "x"}
    with pytest.raises(ValueError, match="artist-level"):
        row_pipeline("bad", row)
