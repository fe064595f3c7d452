"""The track CNN, the streaming patch input and patch averaging at prediction time."""

from __future__ import annotations

import numpy as np
import pytest

from coldstart.audio import CQTConfig, FeatureStore, prediction_starts, standardised_patch

SMALL = {
    "filters": (4, 6, 8, 8),
    "kernel_sizes": (2, 2, 2, 1),
    "pool_sizes": (2, 2, 2, 1),
    "patch_frames": 32,
}


@pytest.fixture
def store(tmp_path) -> FeatureStore:
    """Random spectrograms of 200, 40 and 20 frames (longer than, near and below a patch)."""
    store = FeatureStore(tmp_path / "store", CQTConfig(dtype="float32"))
    rng = np.random.default_rng(0)
    for key, frames in [("TRA.aa", 200), ("TRB.bb", 40), ("TRC.cc", 20)]:
        store.write(key, rng.normal(-40.0, 10.0, size=(frames, 96)))
    return store


def test_full_size_network_is_the_papers():
    from coldstart.models.audio_cnn import build_audio_cnn

    model = build_audio_cnn(learning_rate=None)
    assert model.input_shape == (None, 322, 96)
    assert model.get_layer("track_embedding").output.shape == (None, 4096)  # T' = 4 x 1024
    assert model.output_shape == (None, 200)
    assert [model.get_layer(f"conv{i}").output.shape[1:] for i in range(1, 5)] == [
        (319, 256),
        (76, 512),
        (16, 1024),
        (4, 1024),
    ]
    assert [layer.rate for layer in model.layers if layer.name.startswith("dropout")] == [0.5] * 4
    assert model.count_params() == 4_590_536


def test_a_patch_too_short_for_the_blocks_is_refused():
    from coldstart.models.audio_cnn import build_audio_cnn

    with pytest.raises(ValueError, match="too short"):
        build_audio_cnn(patch_frames=40, learning_rate=None)


def test_prediction_windows_trim_and_hop():
    assert prediction_starts(1000, 322, 161, 0.15) == [150, 311, 472]  # trimmed region [150, 850)
    assert prediction_starts(646, 322, 161, 0.15) == [96]  # a 30 s preview: one patch once trimmed
    assert prediction_starts(400, 322, 161, 0.15) == [39]  # too short once trimmed: centred
    assert prediction_starts(100, 322, 161, 0.15) == [0]  # shorter than a patch: zero-padded
    assert prediction_starts(1000, 322, 161, 0.0) == [0, 161, 322, 483, 644]


def test_patch_averaging_at_prediction_time(store):
    from coldstart.models.audio_cnn import (
        build_audio_cnn,
        predict_track_outputs,
        track_outputs_model,
    )

    model = build_audio_cnn(**SMALL, n_factors=5)
    mean, std = np.full(96, -40.0, np.float32), np.full(96, 10.0, np.float32)
    keys = ["TRA.aa", None, "TRB.bb", "TRC.cc"]
    got = predict_track_outputs(
        model, store, keys, mean, std, trim=0.15, batch_size=2, max_patches=3
    )

    sub = track_outputs_model(model)
    for row, key in enumerate(keys):
        if key is None:
            assert not got["factors"][row].any() and not got["track_embedding"][row].any()
            continue
        spectrogram = store.load(key)
        starts = prediction_starts(len(spectrogram), 32, 16, 0.15)
        patches = np.stack([standardised_patch(spectrogram, s, 32, mean, std) for s in starts])
        factors, embedding = (np.asarray(o) for o in sub.predict_on_batch(patches))
        np.testing.assert_allclose(got["factors"][row], factors.mean(axis=0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            got["track_embedding"][row], embedding.mean(axis=0), rtol=1e-5, atol=1e-6
        )
    assert len(prediction_starts(200, 32, 16, 0.15)) == 7  # the long track really averages patches
    assert got["track_embedding"].shape == (4, 3 * 8) and got["factors"].dtype == np.float32


def test_streaming_patches(store):
    from coldstart.audio.streaming import CQTPatchDataset

    keys, n_frames = ["TRA.aa", "TRB.bb", "TRC.cc"], [200, 40, 20]
    targets = np.eye(3, 4, dtype=np.float32)
    mean, std = np.full(96, -40.0, np.float32), np.full(96, 10.0, np.float32)
    data = CQTPatchDataset(
        store, keys, n_frames, targets, mean, std, patch_frames=32, batch_size=2, shuffle=False
    )
    assert len(data) == 2
    x, y = data[1]  # the last, partial batch: the 20-frame track
    assert x.shape == (1, 32, 96) and x.dtype == np.float32
    np.testing.assert_array_equal(y, targets[2:])
    np.testing.assert_allclose(x[0, :20], (store.load("TRC.cc") + 40.0) / 10.0, rtol=1e-6)
    assert not x[0, 20:].any()  # zero-padded after standardisation
    fixed = data.starts.copy()
    data.on_epoch_end()
    np.testing.assert_array_equal(data.starts, fixed)  # one patch per track, drawn once
    assert 0 <= fixed[0] <= 200 - 32 and fixed[2] == 0

    moving = CQTPatchDataset(
        store, keys, n_frames, targets, mean, std, patch_frames=32, sampling="per_epoch"
    )
    seen = {int(moving.starts[0])}
    for _ in range(5):
        moving.on_epoch_end()
        seen.add(int(moving.starts[0]))
    assert len(seen) > 1

    extra = CQTPatchDataset(
        store,
        keys,
        n_frames,
        targets,
        mean,
        std,
        patch_frames=32,
        shuffle=False,
        extra_inputs={"artist": np.eye(3)},
    )
    x, _ = extra[0]
    assert set(x) == {"cqt_patch", "artist"} and x["artist"].shape == (3, 3)


def test_packed_patches_equal_the_stores_with_padding_and_prefetch(store):
    """Pack and store give bit-identical batches: long, near and shorter-than-patch tracks."""
    from coldstart.audio.packed import PACK_FOLDER, packed_frames
    from coldstart.audio.streaming import CQTPatchDataset

    keys, n_frames = ["TRA.aa", "TRB.bb", "TRC.cc", "TRA.aa"], [200, 40, 20, 200]
    targets = np.arange(16, dtype=np.float32).reshape(4, 4)
    mean = np.linspace(-50, -30, 96).astype(np.float32)
    std = np.linspace(5, 15, 96).astype(np.float32)
    common = dict(patch_frames=32, batch_size=3, sampling="per_epoch", seed=5)
    old = CQTPatchDataset(store, keys, n_frames, targets, mean, std, source="store", **common)
    new = CQTPatchDataset(store, keys, n_frames, targets, mean, std, prefetch=2, **common)
    for _epoch in range(3):
        for i in (0, 1, 0, 1):  # asked again and out of order, as Keras may
            np.testing.assert_array_equal(new[i][0], old[i][0])
            np.testing.assert_array_equal(new[i][1], old[i][1])
        old.on_epoch_end()
        new.on_epoch_end()
    # one pack for the distinct keys, reopened (not rebuilt) for the same set in any order
    assert len(list((store.root / PACK_FOLDER).iterdir())) == 1
    again = packed_frames(store, list(reversed(keys)))
    assert again.path == new.pack.path and again.keys == ("TRA.aa", "TRB.bb", "TRC.cc")
    np.testing.assert_array_equal(
        again.frames[again.offsets[2] : again.offsets[3]], store.load("TRC.cc")
    )


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")  # never trained
def test_saved_model_loads_in_safe_mode_and_predicts_the_same(tmp_path):
    from kedro.io import Version
    from kedro_datasets.tensorflow import TensorFlowModelDataset

    from coldstart.models.audio_cnn import build_audio_cnn

    model = build_audio_cnn(**SMALL, n_factors=5)
    dataset = TensorFlowModelDataset(
        filepath=str(tmp_path / "audio_cnn.keras"), version=Version(None, None)
    )
    dataset.save(model)
    loaded = TensorFlowModelDataset(
        filepath=str(tmp_path / "audio_cnn.keras"), version=Version(None, None)
    ).load()
    x = np.random.default_rng(1).normal(size=(3, 32, 96)).astype(np.float32)
    np.testing.assert_allclose(
        loaded.predict_on_batch(x), model.predict_on_batch(x), rtol=1e-5, atol=1e-6
    )
    assert loaded.get_layer("track_embedding").output.shape == (None, 24)
