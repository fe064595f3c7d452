"""Decoding audio files and computing the paper's log-compressed constant-Q spectrogram.

The settings (docs/audio.md): librosa CQT at 22,050 Hz, hop 1024, 96 bins, 12 bins
per octave (from C1, librosa's default, so 8 octaves: C1 to B8), Hann window, power
to dB.
The dB reference is the track's maximum (``ref=np.max``, ``top_db=80``) as in the
paper's reference code (tartarus ``create_patches.py``:
``logamplitude(|C|**2, ref_power=np.max)``), so every track spans ``[-80, 0]`` dB.

Spectrograms are stored **time-major** (``n_frames x n_bins``): the CNN convolves
over time with the bins as channels, and a patch is then a contiguous slice.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Why a track has no features. ``ok`` tracks have a spectrogram in the store.
REASONS = ("missing", "empty", "too_short", "silent", "undecodable")

#: File types the raw data contract accepts (docs/architecture.md).
AUDIO_EXTENSIONS = (".mp3", ".wav", ".flac", ".ogg")


class AudioError(Exception):
    """A track that cannot give features; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, message: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown reason {reason!r}")
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason


@dataclass(frozen=True)
class CQTConfig:
    """How spectrograms are computed; stored in the feature store's manifest.

    Parameters
    ----------
    sample_rate, hop_length, n_bins, bins_per_octave, fmin_note, window
        librosa CQT arguments (docs/audio.md).
    top_db
        Dynamic range kept below the track's maximum, in dB.
    dtype
        Storage type of the log-CQT: ``float16`` (default; 0.06 dB resolution at
        -80 dB, half the disk and page cache of ``float32``) or ``float32``.
    """

    sample_rate: int = 22050
    hop_length: int = 1024
    n_bins: int = 96
    bins_per_octave: int = 12
    fmin_note: str = "C1"
    window: str = "hann"
    top_db: float = 80.0
    dtype: str = "float16"

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> CQTConfig:
        """Build from a parameters block, ignoring keys that are not CQT settings."""
        fields = cls.__dataclass_fields__
        return cls(**{key: value for key, value in params.items() if key in fields})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def fmin(self) -> float:
        import librosa

        return float(librosa.note_to_hz(self.fmin_note))

    def frames_for(self, seconds: float) -> int:
        """Frames in ``seconds`` of audio (15 s gives the paper's 322)."""
        return int(seconds * self.sample_rate / self.hop_length)


def load_audio(path: str | Path, sample_rate: int = 22050) -> tuple[np.ndarray, float]:
    """Decode an audio file to mono float32 at ``sample_rate``.

    libsndfile (through ``soundfile``) reads mp3, wav, flac and ogg at any sample
    rate and channel count; there is deliberately no ``audioread`` fallback, which
    is slow and can hang on broken files. Channels are averaged; resampling uses
    soxr (librosa's default ``soxr_hq``).

    Parameters
    ----------
    path
        The audio file.
    sample_rate
        Target sample rate.

    Returns
    -------
    y, duration_s
        The signal and its duration in seconds.

    Raises
    ------
    AudioError
        ``missing``, ``empty`` (zero bytes or no samples) or ``undecodable``.
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise AudioError("missing", str(path))
    size = path.stat().st_size
    if size == 0:
        raise AudioError("empty", f"{path} has zero bytes")
    try:
        data, native_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as error:  # libsndfile raises several types; all mean "cannot decode"
        raise AudioError("undecodable", _undecodable_message(path, size, error)) from error
    if data.size == 0:
        raise AudioError("empty", f"{path} decodes to no samples")
    # Channel sum by columns: ``data.mean(axis=1)`` over a (n, 2) array is a slow
    # strided reduction (about a quarter of the whole per-track cost for stereo).
    y = data[:, 0].copy()
    for channel in range(1, data.shape[1]):
        y += data[:, channel]
    return _mono_at_rate(y, data.shape[1], native_rate, sample_rate)


def _mono_at_rate(
    channel_sum: np.ndarray, channels: int, native_rate: int, sample_rate: int
) -> tuple[np.ndarray, float]:
    """The channel sum averaged, made finite and resampled: the end of :func:`load_audio`."""
    import librosa

    y = channel_sum
    if channels > 1:
        y *= 1.0 / channels
    if not np.isfinite(y).all():
        y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    if native_rate != sample_rate:
        y = librosa.resample(y, orig_sr=native_rate, target_sr=sample_rate, res_type="soxr_hq")
    return np.ascontiguousarray(y, dtype=np.float32), len(y) / float(sample_rate)


class AudioTooLong(Exception):
    """The audio decodes to more than the frames a caller allowed (decoding stopped there)."""


def load_audio_capped(
    source: Any, sample_rate: int, max_seconds: float, block_frames: int = 65_536
) -> tuple[np.ndarray, float]:
    """:func:`load_audio` of an open file or a path, decoding at most ``max_seconds``.

    For audio a stranger sends: the decoded samples never exceed ``max_seconds`` at the
    file's own rate, whatever its header claims (an MP3's frame count is an estimate,
    and a WAV header can lie), and channels are mixed block by block, so memory stays
    at one mono buffer of the cap plus one block. Gives the same samples as
    :func:`load_audio` for audio within the cap.

    Raises
    ------
    AudioTooLong
        More than ``max_seconds`` of audio (nothing past the cap is decoded).
    AudioError
        ``empty`` or ``undecodable`` (the message names no path: the caller knows
        which item it was).
    """
    import soundfile as sf

    try:
        stream = sf.SoundFile(source)
    except Exception as error:  # libsndfile raises several types; all mean "cannot decode"
        text = getattr(error, "error_string", "") or f"{type(error).__name__}"
        raise AudioError("undecodable", f"libsndfile: {text}") from None
    with stream:
        channels, native_rate = stream.channels, stream.samplerate
        cap = int(math.floor(max_seconds * native_rate))
        channel_sum = np.empty(cap + 1, dtype=np.float32)  # pages are touched only as filled
        filled = 0
        try:
            while filled <= cap:
                block = stream.read(
                    frames=min(block_frames, cap + 1 - filled), dtype="float32", always_2d=True
                )
                if len(block) == 0:
                    break
                target = channel_sum[filled : filled + len(block)]
                target[:] = block[:, 0]
                for channel in range(1, channels):
                    target += block[:, channel]
                filled += len(block)
        except Exception as error:  # noqa: BLE001 - a decoder failing mid-file is that file's fault
            text = getattr(error, "error_string", "") or f"{type(error).__name__}: {error}"
            raise AudioError("undecodable", f"libsndfile: {text}") from None
    if filled > cap:
        raise AudioTooLong(f"more than {max_seconds:g} s of audio")
    if filled == 0:
        raise AudioError("empty", "decodes to no samples")
    return _mono_at_rate(channel_sum[:filled], channels, native_rate, sample_rate)


def _undecodable_message(path: Path, size: int, error: Exception) -> str:
    """What happened to a file that exists but does not decode, then the decoder's detail.

    libsndfile says "File does not exist or is not a regular file" of a file it
    cannot open as any format it knows (a corrupt mp3, for one), which misleads
    when the file is there: its text is quoted after what really happened.
    """
    text = getattr(error, "error_string", "")  # soundfile.LibsndfileError: libsndfile's own text
    detail = f"libsndfile: {text}" if text else f"decoder: {type(error).__name__}: {error}"
    return f"{path}: the file exists ({size:,} bytes) but cannot be decoded; {detail}"


def memoise_cqt_filter_bases() -> bool:
    """Make librosa reuse its CQT filter bases within this process.

    ``librosa.cqt`` rebuilds the frequency-domain filter basis of every octave on
    every call (``constantq.__vqt_filter_fft``), which is about half the CQT's time
    for a 20 s preview. The settings never change within a run, so the basis is
    memoised by its arguments. The results are bit-identical (tested); each call
    gets a copy, because librosa rescales the basis in place. librosa's own cache
    (``LIBROSA_CACHE_DIR``) would do this through joblib on disk, and would need the
    environment set before librosa is imported in every worker.

    Returns
    -------
    bool
        Whether memoisation is active (``False`` if librosa's internals changed).
    """
    from librosa.core import constantq

    name = "__vqt_filter_fft"
    original = getattr(constantq, name, None)
    if original is None:
        return False
    if getattr(original, "_coldstart_memoised", False):
        return True
    memo: dict[tuple, tuple] = {}

    def memoised(
        sr, freqs, filter_scale, norm, sparsity, hop_length=None, window="hann", gamma=0.0,
        dtype=np.complex64, alpha=None,
    ):  # fmt: skip
        key = (
            float(sr),
            np.asarray(freqs).tobytes(),
            filter_scale,
            norm,
            sparsity,
            hop_length,
            repr(window),
            float(gamma),
            np.dtype(dtype).str,
            None if alpha is None else np.asarray(alpha).tobytes(),
        )
        if key not in memo:
            memo[key] = original(
                sr, freqs, filter_scale, norm, sparsity, hop_length=hop_length, window=window,
                gamma=gamma, dtype=dtype, alpha=alpha,
            )  # fmt: skip
        basis, n_fft, lengths = memo[key]
        return basis.copy(), n_fft, lengths.copy()

    memoised._coldstart_memoised = True  # type: ignore[attr-defined]
    memoised.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(constantq, name, memoised)
    return True


def compute_log_cqt(y: np.ndarray, config: CQTConfig = CQTConfig()) -> np.ndarray:
    """Log-compressed CQT of a mono signal at ``config.sample_rate``.

    Parameters
    ----------
    y
        Mono signal.
    config
        The CQT settings.

    Returns
    -------
    np.ndarray
        ``(n_frames, n_bins)`` in ``config.dtype``, dB relative to the track's
        maximum, in ``[-top_db, 0]``; ``n_frames = 1 + len(y) // hop_length``.
    """
    import librosa

    memoise_cqt_filter_bases()
    cqt = librosa.cqt(
        np.asarray(y, dtype=np.float32),
        sr=config.sample_rate,
        hop_length=config.hop_length,
        fmin=config.fmin,
        n_bins=config.n_bins,
        bins_per_octave=config.bins_per_octave,
        window=config.window,
    )
    power = np.abs(cqt) ** 2
    log_power = librosa.power_to_db(power, ref=np.max, top_db=config.top_db)
    return np.ascontiguousarray(log_power.T, dtype=config.dtype)


def audio_to_features(
    path: str | Path, config: CQTConfig = CQTConfig(), min_duration_s: float = 3.0
) -> tuple[np.ndarray, float]:
    """Decode one file and compute its log-CQT, checking it is usable.

    Returns
    -------
    spectrogram, duration_s

    Raises
    ------
    AudioError
        Any of :data:`REASONS`: ``too_short`` below ``min_duration_s``, ``silent``
        when the signal is digital silence (its dB spectrogram would be flat).
    """
    y, duration = load_audio(path, config.sample_rate)
    return signal_to_features(y, duration, config, min_duration_s, str(path)), duration


def signal_to_features(
    y: np.ndarray, duration: float, config: CQTConfig, min_duration_s: float, where: str
) -> np.ndarray:
    """The log-CQT of a decoded signal, checking it is usable (:func:`audio_to_features`).

    Raises
    ------
    AudioError
        ``too_short``, ``silent`` or ``undecodable`` (non-finite), naming ``where``.
    """
    check_signal(y, duration, min_duration_s, where)
    spectrogram = compute_log_cqt(y, config)
    if not np.all(np.isfinite(spectrogram)):
        raise AudioError("undecodable", f"{where}: non-finite spectrogram")
    return spectrogram


def check_signal(y: np.ndarray, duration: float, min_duration_s: float, where: str) -> None:
    """Refuse a decoded signal no spectrogram is computed from: too short, or silent.

    Raises
    ------
    AudioError
        ``too_short`` below ``min_duration_s``; ``silent`` for digital silence.
    """
    if duration < min_duration_s:
        raise AudioError("too_short", f"{where}: {duration:.2f} s < {min_duration_s} s")
    if not np.any(np.abs(y) > 1e-6):
        raise AudioError("silent", where)


def cqt_bin_of(frequency_hz: float, config: CQTConfig = CQTConfig()) -> int:
    """The CQT bin whose centre frequency is nearest ``frequency_hz``."""
    return int(round(config.bins_per_octave * math.log2(frequency_hz / config.fmin)))
