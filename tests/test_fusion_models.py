"""The fusion networks (mm-lf-lin, mm-lf-h1, mm), their batches and patch averaging."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from coldstart.audio import CQTConfig, FeatureStore, prediction_starts, standardised_patch

SMALL_CNN = {
    "filters": (4, 6, 8, 8),
    "kernel_sizes": (2, 2, 2, 1),
    "pool_sizes": (2, 2, 2, 1),
    "patch_frames": 32,
}


def _reload(model, tmp_path):
    """Save and load through the catalog's dataset (``.keras``, ``safe_mode`` on)."""
    from kedro.io import Version
    from kedro_datasets.tensorflow import TensorFlowModelDataset

    dataset = TensorFlowModelDataset(
        filepath=str(tmp_path / f"{model.name}.keras"), version=Version(None, None)
    )
    dataset.save(model)
    return dataset.load()


def _dropout_rates(model):
    return {
        layer.name: layer.rate for layer in model.layers if layer.__class__.__name__ == "Dropout"
    }


def test_mm_lf_lin_is_linear_on_l2_normalised_embeddings(tmp_path):
    from coldstart.models.fusion_models import build_late_fusion

    model = build_late_fusion(2048, 4096, kind="linear")
    assert model.get_layer("artist_input").output.shape == (None, 2048)
    assert model.get_layer("track_input").output.shape == (None, 4096)
    assert model.output_shape == (None, 200)
    assert model.get_layer("fused").output.shape == (None, 2048 + 4096)
    assert _dropout_rates(model) == {"fusion_dropout": 0.7}
    dense = [layer for layer in model.layers if layer.__class__.__name__ == "Dense"]
    assert [layer.name for layer in dense] == ["factors_dense"]  # no hidden layer
    assert dense[0].kernel.shape == (6144, 200)
    kinds = [layer.__class__.__name__ for layer in model.layers]
    assert kinds.count("UnitNormalization") == 3  # L2(A'), L2(T') and the output

    rng = np.random.default_rng(0)
    x = {
        "artist_input": rng.random((3, 2048), dtype=np.float32),
        "track_input": rng.random((3, 4096), dtype=np.float32),
    }
    x["track_input"][1] = 0.0  # a song whose audio failed: zero T'
    out = model.predict(x, verbose=0)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    # the input scale does not matter: both modalities are L2-normalised first
    scaled = model.predict({k: 7.0 * v for k, v in x.items()}, verbose=0)
    np.testing.assert_allclose(scaled, out, atol=1e-5)
    reloaded = _reload(model, tmp_path)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), out, atol=1e-6)


def test_mm_lf_h1_has_one_hidden_layer_per_modality(tmp_path):
    from coldstart.models.fusion_models import build_late_fusion

    model = build_late_fusion(2048, 4096, kind="hidden")
    names = [layer.name for layer in model.layers]
    for modality, width in (("artist", 2048), ("track", 4096)):
        assert model.get_layer(f"{modality}_batchnorm").output.shape == (None, width)
        assert model.get_layer(f"{modality}_dropout").rate == 0.7
        hidden = model.get_layer(f"{modality}_hidden")
        assert hidden.output.shape == (None, 512) and hidden.activation.__name__ == "relu"
        # BatchNorm -> Dropout -> Dense, in that order, on each branch
        assert (
            names.index(f"{modality}_batchnorm")
            < names.index(f"{modality}_dropout")
            < names.index(f"{modality}_hidden")
        )
    assert model.get_layer("fused").output.shape == (None, 1024)
    assert model.output_shape == (None, 200)
    small = build_late_fusion(6, 10, kind="hidden", hidden_units=4, n_factors=5)
    reloaded = _reload(small, tmp_path)
    assert [layer.name for layer in reloaded.layers] == [layer.name for layer in small.layers]


def test_unknown_fusion_kind_is_refused():
    from coldstart.models.fusion_models import build_late_fusion

    with pytest.raises(ValueError, match="fusion kind"):
        build_late_fusion(4, 4, kind="attention")


def test_mm_joins_the_text_ff_and_the_track_cnn(tmp_path):
    from coldstart.models.fusion_models import build_multimodal

    model = build_multimodal(
        50,
        text_hidden_units=(16, 12),
        text_dropout=(0.5, 0.5, 0.5),
        n_bins=96,
        n_factors=5,
        **SMALL_CNN,
    )
    assert model.get_layer("vsm").output.shape == (None, 50)
    assert model.get_layer("cqt_patch").output.shape == (None, 32, 96)
    # the text branch: the FF up to its last dropout after the 2048-d (here 12-d) embedding
    assert model.get_layer("artist_embedding").output.shape == (None, 12)
    assert model.get_layer("hidden_1").output.shape == (None, 16)
    # the audio branch: the CNN up to T' (flatten: 3 frames x 8 filters)
    assert [model.get_layer(f"conv{i}").filters for i in range(1, 5)] == [4, 6, 8, 8]
    assert model.get_layer("track_embedding").output.shape == (None, 24)
    assert model.get_layer("fused").output.shape == (None, 12 + 24)
    assert model.output_shape == (None, 5)
    # one head only: the branches' own heads are not part of the network
    dense = [layer.name for layer in model.layers if layer.__class__.__name__ == "Dense"]
    assert dense[-1] == "factors_dense"
    assert sum(layer.name == "factors_dense" for layer in model.layers) == 1
    rng = np.random.default_rng(1)
    x = {
        "vsm": rng.random((2, 50), dtype=np.float32),
        "cqt_patch": rng.normal(size=(2, 32, 96)).astype(np.float32),
    }
    reloaded = _reload(model, tmp_path)
    np.testing.assert_allclose(
        reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
    )


def test_full_size_mm_has_the_papers_branches():
    from coldstart.models.fusion_models import build_multimodal

    model = build_multimodal(300)
    assert model.get_layer("artist_embedding").output.shape == (None, 2048)
    assert model.get_layer("track_embedding").output.shape == (None, 4096)
    assert model.get_layer("fused").output.shape == (None, 2048 + 4096)
    assert model.output_shape == (None, 200)


def test_song_batches_broadcast_artist_rows_and_reshuffle():
    from coldstart.models.fusion_models import song_batches

    artist_matrix = sp.csr_matrix(np.arange(12, dtype=np.float32).reshape(4, 3))
    song_rows = np.array([3, 0, 0, 2, 1])  # the artist row of each of 5 songs
    track_matrix = np.arange(10, dtype=np.float32).reshape(5, 2)
    targets = np.eye(5, dtype=np.float32)
    batches = song_batches(
        {"a": (artist_matrix, song_rows), "t": (track_matrix, np.arange(5))},
        targets,
        batch_size=2,
        shuffle=True,
        seed=0,
    )
    assert len(batches) == 3
    seen = []
    for i in range(len(batches)):
        x, y = batches[i]
        for a, t, target in zip(x["a"], x["t"], y, strict=True):
            song = int(np.argmax(target))
            np.testing.assert_array_equal(a, artist_matrix.toarray()[song_rows[song]])
            np.testing.assert_array_equal(t, track_matrix[song])
            seen.append(song)
    assert sorted(seen) == list(range(5))
    first = list(batches._order)
    batches.on_epoch_end()
    assert sorted(batches._order) == list(range(5)) and list(batches._order) != first  # a new order

    single = song_batches((artist_matrix, song_rows), batch_size=4)
    (x,) = single[0]
    np.testing.assert_array_equal(x, artist_matrix.toarray()[song_rows[:4]])


def test_patch_means_pair_each_patch_with_its_track_inputs(tmp_path):
    from coldstart.models.audio_cnn import predict_track_outputs
    from coldstart.models.fusion_models import build_multimodal

    store = FeatureStore(tmp_path / "store", CQTConfig(dtype="float32"))
    rng = np.random.default_rng(0)
    store.write("TRA.aa", rng.normal(-40.0, 10.0, size=(120, 96)))
    model = build_multimodal(6, text_hidden_units=(4,), text_dropout=0.5, n_factors=3, **SMALL_CNN)
    mean, std = np.full(96, -40.0, np.float32), np.full(96, 10.0, np.float32)
    text = rng.random((2, 6)).astype(np.float32)
    out = predict_track_outputs(
        model,
        store,
        ["TRA.aa", None],
        mean,
        std,
        hop_frames=16,
        trim=0.15,
        layers=("factors",),
        track_inputs={"vsm": text},
    )["factors"]
    assert out.shape == (2, 3) and out.dtype == np.float32

    spectrogram = store.load("TRA.aa")
    starts = prediction_starts(120, 32, 16, 0.15)
    assert len(starts) > 1
    patches = np.stack([standardised_patch(spectrogram, s, 32, mean, std) for s in starts])
    expected = model.predict(
        {"vsm": np.repeat(text[:1], len(starts), 0), "cqt_patch": patches}, verbose=0
    ).mean(0)
    np.testing.assert_allclose(out[0], expected, atol=1e-5)
    # no audio features: one all-zero (train-mean) patch with the track's other inputs
    blank = model.predict(
        {"vsm": text[1:], "cqt_patch": np.zeros((1, 32, 96), np.float32)}, verbose=0
    )[0]
    np.testing.assert_allclose(out[1], blank, atol=1e-5)


# --------------------------------------------------------------------------- artist sample form


def _song_ff_case(seed: int = 0):
    """5 artists with 1..5 songs, a dropout-free FF, unit targets (some songs alike)."""
    from coldstart.models.common import compile_for_factors, l2_normalise
    from coldstart.models.text_models import build_text_ff

    rng = np.random.default_rng(seed)
    owner = rng.permutation(np.repeat(np.arange(5), [1, 2, 3, 4, 5]))  # songs in no artist order
    inputs = rng.normal(size=(5, 7)).astype(np.float32)
    directions = rng.normal(size=(5, 4))
    targets = l2_normalise(directions[owner] + 0.8 * rng.normal(size=(len(owner), 4)))
    import keras

    keras.utils.set_random_seed(seed)
    model = compile_for_factors(build_text_ff(7, hidden_units=[6], dropout=0.0, n_factors=4))
    return model, inputs, owner, targets


def _loss_and_gradients(model, x, y, weights=None):
    """The loss and its gradients by the selected Keras backend's own autodiff."""
    import keras

    loss_fn = keras.losses.CosineSimilarity(axis=-1)
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        fixed = [v.value for v in model.non_trainable_variables]

        def loss_of(weights_now):
            predicted, _ = model.stateless_call(weights_now, fixed, x, training=True)
            return loss_fn(y, predicted, sample_weight=weights)

        loss, grads = jax.value_and_grad(loss_of)(trainable)
        return float(loss), [np.asarray(g) for g in grads]
    if backend == "torch":
        model.zero_grad()
        loss = loss_fn(y, model(x, training=True), sample_weight=weights)
        loss.backward()
        return float(loss), [v.value.grad.cpu().numpy() for v in model.trainable_variables]
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True), sample_weight=weights)
    grads = tape.gradient(loss, model.trainable_weights)
    return float(loss), [g.numpy() for g in grads]


def test_artist_samples_sum_each_artists_unit_targets():
    from coldstart.pipelines.fusion.nodes import artist_samples

    owner = np.array([7, 2, 7, 7])
    targets = np.array([[1, 0], [0, 1], [0, 1], [1, 0]], dtype=np.float32)
    rows, summed, weights = artist_samples(owner, targets)
    np.testing.assert_array_equal(rows, [2, 7])
    np.testing.assert_allclose(summed, [[0, 1], [2 / np.sqrt(5), 1 / np.sqrt(5)]], rtol=1e-6)
    # ||sum of the songs' targets|| x artists / songs
    np.testing.assert_allclose(weights, np.array([1.0, np.sqrt(5)]) * 2 / 4, rtol=1e-6)
    assert summed.dtype == weights.dtype == np.float32


def test_artist_form_has_the_per_song_loss_and_gradient():
    from coldstart.pipelines.fusion.nodes import artist_samples

    model, inputs, owner, targets = _song_ff_case()
    song_loss, song_grads = _loss_and_gradients(model, inputs[owner], targets)
    rows, summed, weights = artist_samples(owner, targets)
    artist_loss, artist_grads = _loss_and_gradients(model, inputs[rows], summed, weights)
    assert abs(song_loss) > 0.01  # a real loss, not a degenerate zero (init differs by backend)
    assert abs(artist_loss - song_loss) < 1e-6
    for artist_grad, song_grad in zip(artist_grads, song_grads, strict=True):
        assert np.abs(song_grad).max() > 1e-4
        np.testing.assert_allclose(artist_grad, song_grad, atol=1e-6)
    # the form, weight ||sum||: the same up to the factor songs / artists
    factor = len(owner) / len(rows)
    raw_loss, raw_grads = _loss_and_gradients(model, inputs[rows], summed, weights * factor)
    assert abs(raw_loss - factor * song_loss) < 1e-5
    np.testing.assert_allclose(raw_grads[0], factor * song_grads[0], atol=1e-5)
    # an unweighted artist sample is a different loss: the weights are what make it exact
    plain_loss, _ = _loss_and_gradients(model, inputs[rows], summed)
    assert abs(plain_loss - song_loss) > 1e-3


def test_validation_loss_reads_the_same_per_song_in_both_forms():
    """Keras's epoch loss (mean over batches weighted by their size) is the per-song mean."""
    from coldstart.models.fusion_models import song_batches
    from coldstart.pipelines.fusion.nodes import artist_samples

    model, inputs, owner, targets = _song_ff_case(seed=1)
    per_song = model.evaluate(
        song_batches((inputs, owner), targets, batch_size=4), verbose=0, return_dict=True
    )["loss"]
    rows, summed, weights = artist_samples(owner, targets)
    for batch_size in (1, 2, 5):  # uneven last batches too
        per_artist = model.evaluate(
            song_batches((inputs, rows), summed, batch_size=batch_size, weights=weights),
            verbose=0,
            return_dict=True,
        )["loss"]
        assert abs(per_artist - per_song) < 1e-6, batch_size
    expected = -np.mean(np.sum(model.predict(inputs[owner], verbose=0) * targets, axis=1))
    assert abs(per_song - expected) < 1e-6


def test_song_batches_prefetched_in_a_thread_are_the_same_batches():
    """Prefetching changes no batch, through reshuffled epochs and sparse inputs."""
    import scipy.sparse as sp

    from coldstart.models.fusion_models import song_batches

    rng = np.random.default_rng(3)
    artists = sp.random(6, 50, density=0.2, format="csr", random_state=3, dtype=np.float32)
    owner = rng.integers(0, 6, size=41)
    targets = rng.normal(size=(41, 4)).astype(np.float32)
    inputs = {"vsm": (artists, owner), "track_input": (rng.normal(size=(41, 5)), np.arange(41))}
    plain = song_batches(inputs, targets, batch_size=8, shuffle=True, seed=9, prefetch=0)
    ahead = song_batches(inputs, targets, batch_size=8, shuffle=True, seed=9, prefetch=3)
    for _epoch in range(3):
        for i in range(len(plain)):
            (x0, y0), (x1, y1) = plain[i], ahead[i]
            np.testing.assert_array_equal(y1, y0)
            for name in inputs:
                np.testing.assert_array_equal(x1[name], x0[name])
        plain.on_epoch_end()
        ahead.on_epoch_end()
