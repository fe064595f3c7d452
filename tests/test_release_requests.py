"""The rules a request to the served release model must follow (docs/releases.md).

Unit tests of the request layer (:func:`coldstart.releases.items.validate_request`,
:func:`coldstart.releases.predict.decode_request_audio`) on real files: audio
written with soundfile, symlinks, a FIFO, a device file. The served model runs the
same functions; tests/test_releases.py sends a few of these requests over HTTP.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coldstart.audio.features import CQTConfig
from coldstart.releases.items import (
    ReleaseInputError,
    RequestLimits,
    RequestTooLarge,
    request_rules,
    validate_request,
)
from coldstart.releases.predict import decode_request_audio

PROJECT = Path(__file__).resolve().parents[1]


def write_wav(
    path: Path, seconds: float, rate: int = 22050, channels: int = 1, level: float = 0.1
) -> Path:
    """Noise (16-bit PCM; WAV, or FLAC by the suffix), written in blocks so a long file
    costs little memory. ``level=0`` writes digital silence, which FLAC packs to almost
    nothing: a small file whose header claims a long duration."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    total = int(round(seconds * rate))
    with sf.SoundFile(path, "w", rate, channels, subtype="PCM_16") as out:
        for start in range(0, total, rate * 10):
            n = min(rate * 10, total - start)
            out.write((level * rng.standard_normal((n, channels))).astype(np.float32))
    return path


def track(**fields: str) -> dict[str, str]:
    return {"artist_id": "AR1", "track_id": "TR1", **fields}


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


@pytest.fixture
def roots(tmp_path: Path) -> dict[str, Path]:
    """An allowed root with a good file, a file outside it, and hostile entries inside."""
    root = tmp_path / "allowed"
    outside = write_wav(tmp_path / "private" / "secret.wav", 4.0)
    good = write_wav(root / "good.wav", 4.0)
    (root / "link_out.wav").symlink_to(outside)
    (root / "link_in.wav").symlink_to(good)
    (root / "folder.wav").mkdir()
    os.mkfifo(root / "pipe.wav")
    return {"root": root, "outside": outside, "good": good, "tmp": tmp_path}


# --------------------------------------------------------------------------- paths


def test_audio_path_is_refused_when_no_root_is_configured(roots: dict) -> None:
    with pytest.raises(ReleaseInputError) as error:
        validate_request([track(audio_path=str(roots["good"]))], RequestLimits())
    message = str(error.value)
    assert message.startswith("items[0].audio_path: refused")
    assert "releases.requests.audio_roots" in message and "audio_base64" in message


def test_a_path_inside_a_root_is_read_and_symlinks_inside_are_followed(roots: dict) -> None:
    allowed = (str(roots["root"]),)
    for name in ("good.wav", "link_in.wav"):
        items = validate_request(
            [track(audio_path=str(roots["root"] / name))], RequestLimits(), allowed
        )
        assert items.loc[0, "audio_path"] == str(roots["root"] / name)
    spectrogram, seconds = decode_request_audio(
        track(audio_path=str(roots["root"] / "link_in.wav"), audio_base64=""),
        CQTConfig(),
        3.0,
        (RequestLimits(), allowed),
        "items[0]",
        3600.0,
    )
    assert seconds == pytest.approx(4.0) and spectrogram.shape[1] == 96


def test_paths_outside_the_roots_are_refused_alike_and_reveal_nothing(roots: dict) -> None:
    """Outside the roots, an existing file, a missing one, a traversal and a symlink out
    get the very same answer: no existence, no size, no type."""
    root, tmp = roots["root"], roots["tmp"]
    allowed = (str(root),)
    hostile = {
        "existing file outside": str(roots["outside"]),
        "missing file outside": str(tmp / "private" / "absent.wav"),
        "traversal": f"{root}/../private/secret.wav",
        "deep traversal": f"{root}/" + "../" * 30 + "etc/passwd",
        "symlink out": str(root / "link_out.wav"),
        "relative": "good.wav",
        "relative traversal": "../private/secret.wav",
        "a root's sibling with the same prefix": f"{root}-other/x.wav",
        "nul byte": f"{root}/good.wav\0.txt",
        "device outside": "/dev/zero",
        "proc": "/proc/self/environ",
    }
    messages = {}
    for case, path in hostile.items():
        with pytest.raises(ReleaseInputError) as error:
            validate_request([track(audio_path=path)], RequestLimits(), allowed)
        messages[case] = str(error.value)
    assert len(set(messages.values())) == 1, messages
    (message,) = set(messages.values())
    assert message.startswith("items[0].audio_path: refused (rule: ")
    assert "audio_roots" in message
    for leak in ("exist", "bytes", "secret", "passwd", "size", "directory"):
        assert leak not in message.replace("audio_roots", "")


def test_inside_a_root_only_regular_files_are_opened(roots: dict) -> None:
    root = roots["root"]
    cases = {
        root / "pipe.wav": "not a regular file",  # a FIFO: never opened, so nothing blocks
        root / "folder.wav": "not a regular file",
        root / "absent.wav": "no such file",
    }
    for path, fragment in cases.items():
        with pytest.raises(ReleaseInputError, match=fragment):
            validate_request([track(audio_path=str(path))], RequestLimits(), (str(root),))
    # a device file, where an operator named /dev a root
    with pytest.raises(ReleaseInputError, match="not a regular file"):
        validate_request([track(audio_path="/dev/zero")], RequestLimits(), ("/dev",))


def test_roots_must_be_absolute_and_rules_known() -> None:
    limits, allowed = request_rules({"releases": {}, "max_biography_chars": 77})
    assert allowed == () and limits.max_biography_chars == 77 and limits.max_items == 100
    with pytest.raises(ValueError, match="not an absolute folder"):
        request_rules({"releases": {"requests": {"audio_roots": ["audio"]}}})
    with pytest.raises(ValueError, match="unknown key.*max_item"):
        request_rules({"releases": {"requests": {"max_item": 3}}})
    with pytest.raises(ValueError, match="max_channels must be a positive number"):
        request_rules({"releases": {"requests": {"max_channels": 0}}})


def test_the_default_parameters_refuse_paths_and_give_these_limits() -> None:
    import yaml

    releases = yaml.safe_load((PROJECT / "conf/base/parameters_releases.yml").read_text())
    limits, allowed = request_rules({**releases, "max_biography_chars": 100_000})
    assert allowed == ()
    assert limits == RequestLimits()  # the parameters and the code's defaults agree


# --------------------------------------------------------------------------- limits


@pytest.fixture
def no_decoding(monkeypatch):
    """Fails the test if any audio sample is read: limits are decided on headers."""
    import soundfile as sf

    def refuse(*args, **kwargs):
        raise AssertionError("audio samples were decoded before the limits were checked")

    monkeypatch.setattr(sf.SoundFile, "read", refuse)
    monkeypatch.setattr(sf, "read", refuse)


def test_each_limit_is_refused_before_any_decoding(tmp_path: Path, no_decoding) -> None:
    stereo_48k = write_wav(tmp_path / "stereo48k.wav", 4.0, rate=48000, channels=2)
    mono = write_wav(tmp_path / "mono.wav", 4.0)
    quad = write_wav(tmp_path / "quad.wav", 1.0, channels=4)
    limits = RequestLimits(
        max_items=3,
        max_request_chars=2_000_000,
        max_field_chars=500,
        max_audio_bytes=400_000,
        max_duration_s=3.5,
        max_request_duration_s=10.0,
        max_channels=2,
        max_sample_rate=44_100,
    )
    allowed = (str(tmp_path),)
    cases = [
        ([track(), track(track_id="T2"), track(track_id="T3"), track(track_id="T4")], "max_items"),
        ([track(biography="x" * 2_000_001)], "max_request_chars"),
        ([track(title="x" * 501)], r"items\[0\]\.title: 501 characters, over .*max_field_chars"),
        ([track(audio_path=str(stereo_48k))], r"items\[0\]\.audio_path: .* over .*max_audio_bytes"),
        (
            [track(audio_base64=base64.b64encode(b"\0" * 400_001).decode())],
            r"items\[0\]\.audio_base64: .* over .*max_audio_bytes",
        ),
        ([track(audio_path=str(mono))], r"items\[0\]\.audio_path: 4\.0 s .*max_duration_s=3\.5"),
        ([track(audio_base64=b64(quad))], r"items\[0\]\.audio_base64: 4 channels, over .*max_chan"),
    ]
    short = write_wav(tmp_path / "short.wav", 3.0)
    loud = write_wav(tmp_path / "fast.wav", 1.0, rate=48000)
    cases += [
        ([track(audio_base64=b64(loud))], r"items\[0\]\.audio_base64: sample rate 48,000 Hz"),
        # within every limit: three items (max_items), 9 s of audio (max_request_duration_s)
        ([track(track_id=f"T{i}", audio_path=str(short)) for i in range(3)], None),
    ]
    for items, pattern in cases:
        if pattern is None:
            assert len(validate_request(items, limits, allowed)) == 3
            continue
        with pytest.raises(RequestTooLarge, match=pattern):
            validate_request(items, limits, allowed)
    tight = RequestLimits(max_request_duration_s=8.0, max_duration_s=3.5)
    with pytest.raises(
        RequestTooLarge, match=r"items\[2\]\.audio_path: .*max_request_duration_s=8"
    ):
        validate_request(
            [track(track_id=f"T{i}", audio_path=str(short)) for i in range(3)], tight, allowed
        )


def test_decoding_stops_at_the_cap_whatever_the_header_said(tmp_path: Path) -> None:
    """The request's remaining duration caps decoding: the file is cut off, not read whole."""
    path = write_wav(tmp_path / "six.wav", 6.0)
    row = track(audio_path=str(path), audio_base64="")
    with pytest.raises(RequestTooLarge, match="decoding stopped"):
        decode_request_audio(
            row, CQTConfig(), 3.0, (RequestLimits(), (str(tmp_path),)), "items[0]", 5.0
        )


def test_bad_audio_is_refused_naming_the_item(tmp_path: Path) -> None:
    with pytest.raises(ReleaseInputError, match=r"items\[0\]\.audio_base64: undecodable audio"):
        validate_request(
            [track(audio_base64=base64.b64encode(b"not audio" * 100).decode())], RequestLimits()
        )
    with pytest.raises(ReleaseInputError, match=r"items\[0\]\.audio_base64 is not valid base64"):
        validate_request([track(audio_base64="%%%")], RequestLimits())
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(ReleaseInputError, match=r"items\[0\]\.audio_path: the file is empty"):
        validate_request(
            [track(audio_path=str(tmp_path / "empty.wav"))], RequestLimits(), (str(tmp_path),)
        )


_MEMORY_SCRIPT = r"""
import base64, json, resource, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from coldstart.audio.features import CQTConfig
from coldstart.releases.items import RequestLimits, RequestTooLarge, validate_request
from coldstart.releases.predict import decode_request_audio

folder = Path(sys.argv[2])
limits = RequestLimits(**json.loads(sys.argv[3]))
rules = (limits, (str(folder),))

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def serve(item):
    items = validate_request([item], limits, rules[1])
    row = items.iloc[0].to_dict()
    return decode_request_audio(row, CQTConfig(), 3.0, rules, "items[0]", 1e9)

serve({"artist_id": "A", "track_id": "T", "audio_path": str(folder / "warm.wav")})
at_limit = {"artist_id": "A", "track_id": "T",
            "audio_base64": base64.b64encode((folder / "at_limit.wav").read_bytes()).decode()}
before = peak_mb()
try:
    serve({"artist_id": "A", "track_id": "T", "audio_path": str(folder / "ten_times.flac")})
    refused = ""
except RequestTooLarge as error:
    refused = str(error)
after_refusal = peak_mb()
spectrogram, seconds = serve(at_limit)
print(json.dumps({"refused": refused, "refusal_mb": after_refusal - before,
                  "decode_mb": peak_mb() - before, "seconds": seconds,
                  "frames": spectrogram.shape[0]}))
"""


def test_memory_of_a_request_at_every_limit_stays_bounded(tmp_path: Path) -> None:
    """Peak RSS of a fresh process: an item at every limit at once (duration, channels,
    sample rate, bytes) costs at most the documented bound, and an item ten times over
    the duration costs nothing, refused on its header.

    The bound (docs/releases.md): about ``max_audio_bytes`` (the audio's bytes) plus
    12 bytes per sample of ``max_sample_rate x max_duration_s`` (one mono float32
    buffer, the resampled signal and the resampler's own), plus a few MiB.
    """
    seconds, rate, channels = 120.0, 48_000, 2
    at_limit = write_wav(tmp_path / "at_limit.wav", seconds, rate, channels)
    ten_times = write_wav(tmp_path / "ten_times.flac", 10 * seconds, rate, channels, level=0)
    assert ten_times.stat().st_size < at_limit.stat().st_size  # refused for its duration only
    write_wav(tmp_path / "warm.wav", 4.0, rate, channels)
    limits = {
        "max_duration_s": seconds,
        "max_sample_rate": rate,
        "max_channels": channels,
        "max_audio_bytes": at_limit.stat().st_size,
        "max_request_chars": 64 * 2**20,
    }
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _MEMORY_SCRIPT,
            str(PROJECT / "src"),
            str(tmp_path),
            json.dumps(limits),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert "max_duration_s=120" in measured["refused"]
    assert measured["refusal_mb"] < 8, measured
    assert measured["seconds"] == pytest.approx(seconds)
    bound_mb = (limits["max_audio_bytes"] + 12 * rate * seconds) / 2**20 + 16
    assert measured["decode_mb"] < bound_mb, (measured, bound_mb)
    # what the whole file would cost, decoded at once as 2-d float32 (load_audio): the
    # bound is not met by accident of a small file
    assert 4 * rate * seconds * channels / 2**20 < bound_mb


# --------------------------------------------------------------------------- types, duplicates


@pytest.mark.parametrize(
    ("field", "value", "got"),
    [
        ("biography", ["a", "list"], "list"),
        ("biography", {"an": "object"}, "dict"),
        ("tags", ["rock", "pop"], "list"),
        ("artist_id", 12, "int"),
        ("track_id", 3.5, "float"),
        ("title", True, "bool"),
        ("audio_path", ["/etc/passwd"], "list"),
        ("audio_base64", {"data": "AAAA"}, "dict"),
    ],
)
def test_every_field_is_a_string_or_null(field: str, value, got: str) -> None:
    item = {**track(), field: value}
    pattern = rf"items\[1\]\.{field}: expected a string \(or null\), got {got}"
    for request in ([track(track_id="T0"), item], pd.DataFrame([track(track_id="T0"), item])):
        with pytest.raises(ReleaseInputError, match=pattern):
            validate_request(request, RequestLimits())


def test_nulls_are_absent_and_invalid_unicode_is_refused() -> None:
    items = validate_request(
        pd.DataFrame([track(biography="text"), {"artist_id": "AR2", "tags": "dub", "title": None}]),
        RequestLimits(),
    )
    assert items.loc[1, "title"] == "" and items.loc[1, "track_id"] == ""
    with pytest.raises(ReleaseInputError, match=r"items\[0\]\.artist_id: not valid Unicode"):
        validate_request([{"artist_id": "AR\udcff", "biography": "x"}], RequestLimits())


def test_duplicate_ids_in_one_request_name_both_items() -> None:
    audio = base64.b64encode(b"RIFF").decode()
    cases = [
        (
            [track(audio_base64=audio), track(track_id="TR2"), track(audio_base64=audio)],
            r"items\[0\]\.track_id and items\[2\]\.track_id are both 'TR1'",
        ),
        (
            [{"artist_id": "AR9", "tags": "dub"}, {"artist_id": "AR9", "tags": "dub"}],
            r"items\[0\] and items\[1\] are both artist-only items of artist_id 'AR9'",
        ),
        (
            [track(biography="one text"), track(track_id="TR2", biography="another")],
            r"items\[0\]\.biography and items\[1\]\.biography differ for artist_id 'AR1'",
        ),
        (
            [{"artist_id": "AR9", "tags": "dub", "audio_base64": audio}],
            r"items\[0\]: audio, song_id and title belong to a track",
        ),
    ]
    for items, pattern in cases:
        with pytest.raises(ReleaseInputError, match=pattern):
            validate_request(items, RequestLimits())
    # the same artist's text repeated in each of its tracks is one text, not a conflict
    same = [track(biography="one text"), track(track_id="TR2", biography="one text")]
    assert len(validate_request(same, RequestLimits())) == 2


def test_capped_decoding_gives_the_training_samples(tmp_path: Path) -> None:
    """Within the cap, a request's audio decodes to exactly what the feature pipeline
    decodes from the same file, so the served factors equal the pipeline's."""
    from coldstart.audio.features import AudioTooLong, load_audio, load_audio_capped

    path = write_wav(tmp_path / "stereo.wav", 5.0, rate=44_100, channels=2)
    expected, seconds = load_audio(path, 22050)
    with open(path, "rb") as handle:
        capped, capped_seconds = load_audio_capped(handle, 22050, 5.0, block_frames=10_000)
    np.testing.assert_array_equal(capped, expected)
    assert capped_seconds == seconds
    with pytest.raises(AudioTooLong):
        load_audio_capped(path, 22050, 4.99)
