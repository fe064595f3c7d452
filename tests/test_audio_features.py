"""CQT features, decoding, the feature store and resumable extraction (design.md §3)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coldstart.audio import (
    AudioError,
    CQTConfig,
    FeatureStore,
    audio_to_features,
    compute_log_cqt,
    extract_to_store,
    load_audio,
)
from coldstart.audio.features import cqt_bin_of
from coldstart.pipelines.audio.nodes import extract_audio_features, fit_audio_standardisation


def tone(
    frequency: float, seconds: float, sample_rate: int = 22050, channels: int = 1
) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    y = 0.4 * np.sin(2 * np.pi * frequency * t).astype(np.float32)
    return np.stack([y, 0.5 * y], axis=1) if channels == 2 else y


def write_audio(path: Path, y: np.ndarray, sample_rate: int = 22050) -> Path:
    """Write wav/flac/ogg with soundfile and mp3 with lameenc."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".mp3":
        import lameenc

        pcm = (np.clip(y, -1, 1) * 32767).astype(np.int16)
        encoder = lameenc.Encoder()
        encoder.set_bit_rate(64)
        encoder.set_in_sample_rate(sample_rate)
        encoder.set_channels(1 if pcm.ndim == 1 else pcm.shape[1])
        encoder.set_quality(7)
        path.write_bytes(encoder.encode(pcm.tobytes()) + encoder.flush())
    else:
        import soundfile as sf

        sf.write(path, y, sample_rate)
    return path


def dominant_bin(spectrogram: np.ndarray) -> int:
    return int(np.argmax(np.asarray(spectrogram, dtype=np.float32).mean(axis=0)))


# ---- the CQT itself


def test_cqt_shape_dtype_and_range_on_a_tone():
    config = CQTConfig()
    y = tone(440.0, 5.0)
    spectrogram = compute_log_cqt(y, config)
    assert spectrogram.shape == (1 + len(y) // 1024, 96)  # time-major, centred frames
    assert spectrogram.dtype == np.float16
    assert float(spectrogram.max()) == pytest.approx(0.0, abs=0.05)  # dB re the track maximum
    assert float(spectrogram.min()) >= -80.0 - 0.05  # top_db
    assert config.frames_for(15.0) == 322  # the paper's 15 s patch


def test_memoised_filter_bases_give_identical_cqts(monkeypatch):
    import librosa
    from librosa.core import constantq

    from coldstart.audio.features import memoise_cqt_filter_bases

    assert memoise_cqt_filter_bases()
    y = tone(440.0, 3.0) + tone(97.0, 3.0)
    kwargs = {"sr": 22050, "hop_length": 1024, "n_bins": 96, "bins_per_octave": 12}
    memoised = [librosa.cqt(y, **kwargs) for _ in range(2)]  # second call hits the memo
    monkeypatch.setattr(
        constantq, "__vqt_filter_fft", constantq.__dict__["__vqt_filter_fft"].__wrapped__
    )
    fresh = librosa.cqt(y, **kwargs)
    np.testing.assert_array_equal(memoised[0], fresh)
    np.testing.assert_array_equal(memoised[1], fresh)  # librosa's in-place rescale hit a copy


@pytest.mark.parametrize("frequency", [65.41, 440.0, 1760.0])
def test_cqt_energy_lands_in_the_tones_bin(frequency):
    spectrogram = compute_log_cqt(tone(frequency, 3.0))
    expected = cqt_bin_of(frequency)  # 12 bins per octave from C1: A4 = 4 octaves + 9 = 45
    assert dominant_bin(spectrogram) == expected
    assert cqt_bin_of(440.0) == 45


@pytest.mark.parametrize(
    ("suffix", "sample_rate", "channels"),
    [
        (".wav", 44100, 2),
        (".flac", 16000, 1),
        (".ogg", 22050, 2),
        (".mp3", 44100, 1),
        (".wav", 8000, 1),
    ],
)
def test_formats_rates_and_channels_decode_to_the_same_features(
    tmp_path, suffix, sample_rate, channels
):
    path = write_audio(
        tmp_path / f"t{suffix}", tone(440.0, 4.0, sample_rate, channels), sample_rate
    )
    y, duration = load_audio(path)
    assert y.ndim == 1 and y.dtype == np.float32
    assert duration == pytest.approx(4.0, abs=0.1)  # mp3 adds encoder padding
    spectrogram, _ = audio_to_features(path, min_duration_s=1.0)
    assert dominant_bin(spectrogram) == 45


@pytest.mark.parametrize(
    ("content", "reason"),
    [(None, "missing"), (b"", "empty"), (b"ID3\x03\x00garbage" * 50, "undecodable")],
)
def test_unusable_files_raise_with_a_reason(tmp_path, content, reason):
    path = tmp_path / "bad.mp3"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AudioError) as error:
        audio_to_features(path)
    assert error.value.reason == reason


def test_a_corrupt_file_is_called_undecodable_not_missing(tmp_path):
    path = tmp_path / "corrupt.mp3"
    path.write_bytes(os.urandom(3000))
    with pytest.raises(AudioError) as error:
        load_audio(path)
    message = str(error.value)
    # libsndfile's own text may say the file does not exist: it comes after what happened
    assert message.startswith(f"undecodable: {path}: the file exists (3,000 bytes)")
    assert "cannot be decoded; libsndfile: " in message


def test_short_and_silent_audio_raise_with_a_reason(tmp_path):
    with pytest.raises(AudioError, match="too_short"):
        audio_to_features(write_audio(tmp_path / "short.wav", tone(440.0, 1.0)), min_duration_s=3.0)
    with pytest.raises(AudioError, match="silent"):
        audio_to_features(write_audio(tmp_path / "silent.wav", np.zeros(22050 * 4, np.float32)))


# ---- the store and extraction


@pytest.fixture
def mixed_files(tmp_path) -> list[tuple[str, Path | None]]:
    """Three good tracks and one of every kind of bad file."""
    audio = tmp_path / "audio"
    tracks = [
        (f"TRGOOD{i}", write_audio(audio / f"TRGOOD{i}.wav", tone(220.0 * (i + 1), 4.0)))
        for i in range(3)
    ]
    (audio / "TRCORRUPT.mp3").write_bytes(os.urandom(3000))
    (audio / "TREMPTY.mp3").write_bytes(b"")
    write_audio(audio / "TRSHORT.wav", tone(440.0, 0.5))
    write_audio(audio / "TRSILENT.wav", np.zeros(22050 * 4, np.float32))
    return tracks + [
        ("TRCORRUPT", audio / "TRCORRUPT.mp3"),
        ("TREMPTY", audio / "TREMPTY.mp3"),
        ("TRMISSING", audio / "TRMISSING.mp3"),
        ("TRNOPATH", None),
        ("TRSHORT", audio / "TRSHORT.wav"),
        ("TRSILENT", audio / "TRSILENT.wav"),
    ]


EXPECTED = ["ok", "ok", "ok", "undecodable", "empty", "missing", "missing", "too_short", "silent"]


def test_bad_files_are_counted_and_skipped(tmp_path, mixed_files):
    store = FeatureStore(tmp_path / "store", CQTConfig())
    results, timing = extract_to_store(mixed_files, store, n_jobs=1, progress=False)
    assert [r.status for r in results] == EXPECTED
    assert timing["computed"] == 7  # everything with a file was tried once
    for result in results[:3]:
        assert store.has(result.key)
        assert store.load(result.key).shape == (result.n_frames, 96)
        assert isinstance(store.load(result.key), np.memmap)  # memory-mapped reading
    assert len(list((tmp_path / "store").rglob("*.npy"))) == 3


def test_a_rerun_recomputes_nothing(tmp_path, mixed_files, monkeypatch):
    store = FeatureStore(tmp_path / "store", CQTConfig())
    first, _ = extract_to_store(mixed_files, store, n_jobs=1, progress=False)
    written = {p: p.stat().st_mtime_ns for p in (tmp_path / "store").rglob("*") if p.is_file()}

    def no_compute(*args, **kwargs):
        raise AssertionError("a cached track was decoded again")

    monkeypatch.setattr("coldstart.audio.extraction.audio_to_features", no_compute)
    again, timing = extract_to_store(
        mixed_files, FeatureStore(tmp_path / "store", CQTConfig()), n_jobs=1, progress=False
    )
    assert timing["computed"] == 0
    assert [(r.status, r.key, r.n_frames) for r in again] == [
        (r.status, r.key, r.n_frames) for r in first
    ]
    assert all(r.cached for r in again if r.status != "missing")
    assert {p: p.stat().st_mtime_ns for p in written} == written  # nothing rewritten


def test_a_changed_file_gets_new_features(tmp_path):
    path = write_audio(tmp_path / "TR1.wav", tone(220.0, 4.0))
    store = FeatureStore(tmp_path / "store", CQTConfig())
    (before,), _ = extract_to_store([("TR1", path)], store, n_jobs=1, progress=False)
    write_audio(path, tone(880.0, 4.0))  # another file under the same track id
    (after,), timing = extract_to_store([("TR1", path)], store, n_jobs=1, progress=False)
    assert timing["computed"] == 1 and after.key != before.key
    assert dominant_bin(store.load(after.key)) == cqt_bin_of(880.0)


def test_parallel_extraction_matches_serial(tmp_path, mixed_files):
    serial, _ = extract_to_store(
        mixed_files, FeatureStore(tmp_path / "s1", CQTConfig()), n_jobs=1, progress=False
    )
    store = FeatureStore(tmp_path / "s2", CQTConfig())
    parallel, timing = extract_to_store(mixed_files, store, n_jobs=2, progress=False)
    assert timing["n_jobs"] == 2
    assert [r.status for r in parallel] == EXPECTED  # input order kept despite unordered workers
    one = FeatureStore(tmp_path / "s1")
    for a, b in zip(serial[:3], parallel[:3], strict=True):
        np.testing.assert_array_equal(one.load(a.key), store.load(b.key))


def test_the_store_refuses_other_settings(tmp_path):
    FeatureStore(tmp_path / "store", CQTConfig())
    with pytest.raises(ValueError, match="other settings"):
        FeatureStore(tmp_path / "store", CQTConfig(hop_length=512))
    assert FeatureStore(tmp_path / "store").config == CQTConfig()  # read-only open
    with pytest.raises(FileNotFoundError, match="feature extraction"):
        FeatureStore(tmp_path / "nowhere")


# ---- the nodes


def songs_for(
    files: list[tuple[str, Path | None]], dataset_dir: Path, splits: list[str]
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "song_id": [f"SO{i:04d}" for i in range(len(files))],
            "track_id": [track for track, _ in files],
            "artist_id": "AR0",
            "split": splits,
            "audio_path": [str(path.relative_to(dataset_dir)) if path else "" for _, path in files],
            "item_idx": range(len(files)),
        }
    )


def test_extraction_node_reports_reasons_and_throughput(tmp_path, mixed_files):
    splits = ["train", "val", "test", "train", "train", "val", "test", "train", "test"]
    songs = songs_for(mixed_files, tmp_path, splits)
    params = {"n_jobs": 1, "progress": False, "max_failed_fraction": 0.8}
    index, report = extract_audio_features(songs, tmp_path / "audio", tmp_path / "store", params)
    assert index["status"].tolist() == EXPECTED
    assert index["item_idx"].tolist() == list(range(9))
    assert report["failed_by_reason"] == {
        "missing": 2,
        "empty": 1,
        "too_short": 1,
        "silent": 1,
        "undecodable": 1,
    }
    assert report["n_ok"] == 3 and report["computed"] == 7 and report["tracks_per_second"] > 0
    assert report["by_split"]["train"] == {"songs": 4, "ok": 1}
    _, again = extract_audio_features(songs, tmp_path / "audio", tmp_path / "store", params)
    assert again["computed"] == 0 and again["cached"] == 7


def test_the_report_says_how_much_of_the_patches_is_padding(tmp_path, mixed_files, caplog):
    songs = songs_for(mixed_files[:4], tmp_path, ["train", "val", "test", "train"])
    params = {"n_jobs": 1, "progress": False, "max_failed_fraction": 0.5}
    with caplog.at_level("WARNING", logger="coldstart.pipelines.audio.nodes"):
        _, report = extract_audio_features(
            songs, tmp_path / "audio", tmp_path / "store", params, {"patch_frames": 322}
        )
    frames = 1 + 4 * 22050 // 1024  # the three good tracks: 4 s
    assert report["padding"] == {
        "patch_frames": 322,
        "patch_seconds": round(322 * 1024 / 22050, 3),
        "tracks": 3,
        "tracks_shorter_than_patch": 3,
        "share_of_tracks_padded": 1.0,
        "share_of_patch_frames_padded": round((322 - frames) / 322, 4),
    }
    seconds = round(frames * 1024 / 22050, 3)
    assert report["preview_seconds"] == dict.fromkeys(
        ("min", "p10", "p25", "median", "p75", "p90", "max"), seconds
    )
    padded = [r for r in caplog.records if "training patch" in r.getMessage()]
    assert len(padded) == 1 and "3 of 3 tracks" in padded[0].getMessage()
    corrupt = [r.getMessage() for r in caplog.records if "TRCORRUPT" in r.getMessage()]
    assert len(corrupt) == 1 and "undecodable" in corrupt[0] and "exists" in corrupt[0]
    assert "the file exists" in report["failed_examples"]["undecodable"][0]

    caplog.clear()
    with caplog.at_level("WARNING", logger="coldstart.pipelines.audio.nodes"):
        _, cached = extract_audio_features(
            songs, tmp_path / "audio", tmp_path / "store", params, {"patch_frames": 50}
        )
    assert cached["padding"]["tracks_shorter_than_patch"] == 0
    assert cached["preview_seconds"] == report["preview_seconds"]  # from frames, cached or not
    assert not [r for r in caplog.records if "training patch" in r.getMessage()]
    assert "earlier run" in cached["failed_examples"]["undecodable"][0]
    # without the row's patches: the paper's 15 s
    _, default = extract_audio_features(songs, tmp_path / "audio", tmp_path / "store", params)
    assert default["padding"]["patch_frames"] == 322


def test_a_run_where_most_files_fail_stops_with_a_clear_message(tmp_path, mixed_files):
    songs = songs_for(mixed_files, tmp_path, ["train"] * 9)
    # TRNOPATH has no audio file at all (kept by songs_without_audio: keep): not a failure
    with pytest.raises(RuntimeError, match=r"5 of 8 songs have no usable audio.*dataset_dir"):
        extract_audio_features(
            songs, tmp_path / "audio", tmp_path / "store", {"n_jobs": 1, "progress": False}
        )


def test_songs_kept_without_audio_are_left_out_and_said_once(tmp_path, mixed_files, caplog):
    good = mixed_files[:3]
    without = [(f"TRNOAUDIO{i}", None) for i in range(5)]  # most songs: no audio file at all
    songs = songs_for(good + without, tmp_path, ["train", "val", "test"] + ["train"] * 5)
    params = {"n_jobs": 1, "progress": False, "max_failed_fraction": 0.5}
    with caplog.at_level("INFO", logger="coldstart.pipelines.audio.nodes"):
        index, report = extract_audio_features(
            songs, tmp_path / "audio", tmp_path / "store", params
        )
    assert report["songs_without_audio_file"] == 5 and report["n_ok"] == 3
    assert index["status"].tolist() == ["ok"] * 3 + ["missing"] * 5
    lines = [r.getMessage() for r in caplog.records if "have no audio file" in r.getMessage()]
    assert len(lines) == 1 and "5 of 8 songs" in lines[0] and "train on the 3 songs" in lines[0]
    assert not [r for r in caplog.records if "TRNOAUDIO" in r.getMessage()]


def test_standardisation_is_fitted_on_train_tracks_only(tmp_path, mixed_files):
    songs = songs_for(mixed_files[:3], tmp_path, ["train", "val", "train"])
    index, _ = extract_audio_features(
        songs, tmp_path / "audio", tmp_path / "store", {"n_jobs": 1, "progress": False}
    )
    stats = fit_audio_standardisation(index, tmp_path / "store")
    store = FeatureStore(tmp_path / "store")
    frames = np.concatenate(
        [store.load(k).astype(np.float64) for k in index["feature_key"][[0, 2]]]
    )
    np.testing.assert_allclose(stats["mean"], frames.mean(axis=0), rtol=1e-5, atol=1e-4)
    varying = frames.std(axis=0) > 1e-6  # constant bins get std 1, not 0
    np.testing.assert_allclose(
        np.array(stats["std"])[varying], frames.std(axis=0)[varying], rtol=1e-4, atol=1e-4
    )
    assert np.all(np.array(stats["std"])[~varying] == 1.0)
    assert stats["n_tracks"] == 2 and stats["n_frames"] == len(frames)
