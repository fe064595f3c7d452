"""Audio previews synthesised with NumPy: genre style + artist + per-track sub-style.

A track is a short piece in a key and scale of its genre: a lead voice (wavetable
notes whose harmonic profile sets timbre and brightness, optionally distorted), a
chord pad, a bass line and drums (kick / snare / hi-hat or ride from noise bursts and
pitch sweeps) on a genre pattern. The genre's :class:`~coldstart.world.genres.AudioProfile`
fixes tempo, register, timbre, envelopes and percussion; the track's style vector
(artist offset + the per-track latent ``z`` that also moves the song in taste space)
shifts tempo, brightness, percussion density and register, so a CQT model can learn
both the genre and part of the within-artist variation.

Workers are plain functions over picklable task tuples, each seeded from its own
``SeedSequence`` so that parallel generation is byte-for-byte deterministic.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from .genres import DRUM_PATTERNS, SCALES, AudioProfile

TABLE_N = 4096
MAX_HARMONICS = 30


_NUMERIC = (
    "bpm",
    "swing",
    "register",
    "lead_rate",
    "legato",
    "rolloff",
    "odd",
    "drive",
    "attack",
    "decay",
    "vibrato",
    "pad",
    "bass",
    "density",
    "cutoff",
)


def artist_profile(
    own: AudioProfile, other: AudioProfile, weight: float, rng: np.random.Generator
) -> AudioProfile:
    """An artist's own sound: its genre's profile blended ``weight`` of the way towards
    another genre's (numeric fields interpolated; scale and drum pattern switched with
    probability ``weight``), so that genres overlap in audio as they do in reality."""
    values = {f: (1 - weight) * getattr(own, f) + weight * getattr(other, f) for f in _NUMERIC}
    values["scale"] = other.scale if rng.random() < weight else own.scale
    drums = other.drums if rng.random() < weight else own.drums
    if drums == "none" and own.drums != "none" and rng.random() < 0.5:
        drums = own.drums
    values["drums"] = drums
    if drums != "none" and values["density"] < 0.1:
        values["density"] = 0.2
    return AudioProfile(**values)


def track_params(profile: AudioProfile, style: np.ndarray) -> dict:
    """Concrete synthesis parameters of one track from its genre and style vector.

    ``style`` = (tempo, brightness, percussion, register) in standard units.
    """
    s = np.asarray(style, dtype=float)
    drums = profile.drums
    return {
        "bpm": float(np.clip(profile.bpm * np.exp(0.1 * s[0]), 50.0, 210.0)),
        "swing": profile.swing,
        "scale": profile.scale,
        "register": float(np.clip(profile.register + 3.0 * s[3], 40.0, 84.0)),
        "lead_rate": profile.lead_rate,
        "legato": profile.legato,
        "rolloff": float(max(0.4, profile.rolloff - 0.3 * s[1])),
        "odd": profile.odd,
        "drive": profile.drive,
        "attack": profile.attack,
        "decay": profile.decay,
        "vibrato": profile.vibrato,
        "pad": profile.pad,
        "bass": profile.bass,
        "drums": drums,
        "density": float(np.clip(profile.density + 0.15 * s[2], 0.0, 1.0))
        if drums != "none"
        else 0.0,
        "cutoff": float(np.clip(profile.cutoff * np.exp(0.3 * s[1]), 1500.0, 10500.0)),
    }


def _midi_hz(m: float) -> float:
    return 440.0 * 2.0 ** ((m - 69.0) / 12.0)


class _Tables:
    """Band-limited wavetables for one harmonic profile, cached by harmonic count."""

    def __init__(self, rolloff: float, odd: float, sr: int) -> None:
        self.rolloff, self.odd, self.sr = rolloff, odd, sr
        self.cache: dict[int, np.ndarray] = {}
        self.phase = np.arange(TABLE_N) / TABLE_N

    def get(self, f0: float) -> np.ndarray:
        n = int(max(1, min(MAX_HARMONICS, 0.45 * self.sr / f0)))
        t = self.cache.get(n)
        if t is None:
            h = np.arange(1, n + 1)
            amp = h ** (-self.rolloff) * np.where(h % 2 == 0, 1.0 - self.odd, 1.0)
            t = (amp[:, None] * np.sin(2 * np.pi * h[:, None] * self.phase[None, :])).sum(0)
            t = t / (np.abs(t).max() + 1e-12)
            self.cache[n] = t
        return t


def _note(
    buf: np.ndarray,
    start: float,
    f0: float,
    length: float,
    amp: float,
    tables: _Tables,
    attack: float,
    decay: float,
    vibrato: float,
    sr: int,
    cache: dict | None = None,
) -> None:
    """Add one enveloped wavetable note; identical notes are rendered once per cache."""
    i0 = int(start * sr)
    if i0 >= len(buf) or f0 <= 0:
        return
    release = 0.04
    n_full = int((length + release) * sr)
    key = (f0, n_full)
    wave = None if cache is None else cache.get(key)
    if wave is None:
        if n_full <= 8:
            return
        t = np.arange(n_full) / sr
        if vibrato > 0:
            inc = f0 * (1.0 + (2 ** (vibrato / 12) - 1) * np.sin(2 * np.pi * 5.5 * t)) / sr
            ph = np.cumsum(inc)
        else:
            ph = f0 * t
        table = tables.get(f0)
        wave = table[(ph * TABLE_N).astype(np.int64) & (TABLE_N - 1)]
        env = np.exp(-t / max(decay, 1e-3))
        a = min(max(int(attack * sr), 1), n_full)
        env[:a] *= np.linspace(0.0, 1.0, a)
        r0 = int(length * sr)
        if r0 < n_full:
            env[r0:] *= np.linspace(1.0, 0.0, n_full - r0)
        wave = wave * env
        if cache is not None:
            cache[key] = wave
    n = min(n_full, len(buf) - i0)
    buf[i0 : i0 + n] += amp * wave[:n]


def _drum_kit(sr: int, rng: np.random.Generator, ride: bool) -> dict[str, np.ndarray]:
    t = np.arange(int(0.3 * sr)) / sr
    f = 48.0 + 90.0 * np.exp(-t / 0.03)
    kick = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / 0.12)
    ts = t[: int(0.2 * sr)]
    snare = rng.standard_normal(len(ts)) * 0.6 * np.exp(-ts / 0.07) + np.sin(
        2 * np.pi * 185.0 * ts
    ) * 0.5 * np.exp(-ts / 0.05)
    if ride:
        th = np.arange(int(0.5 * sr)) / sr
        freqs = [f for f in (3150.0, 4270.0, 5510.0) if f < 0.45 * sr]
        tone = sum(np.sin(2 * np.pi * f * th + k) for k, f in enumerate(freqs))
        noise = np.diff(rng.standard_normal(len(th) + 1))
        hat = (0.25 * tone + 0.35 * noise) * np.exp(-th / 0.3)
    else:
        th = np.arange(int(0.08 * sr)) / sr
        hat = np.diff(rng.standard_normal(len(th) + 1)) * 0.5 * np.exp(-th / 0.025)
    return {"kick": kick, "snare": snare, "hat": hat}


def _add(buf: np.ndarray, sample: np.ndarray, start: float, amp: float, sr: int) -> None:
    i0 = int(start * sr)
    if i0 >= len(buf):
        return
    n = min(len(sample), len(buf) - i0)
    buf[i0 : i0 + n] += amp * sample[:n]


def _norm(x: np.ndarray) -> np.ndarray:
    peak = np.abs(x).max()
    return x / peak if peak > 0 else x


def synthesize(p: dict, sr: int, duration: float, rng: np.random.Generator) -> np.ndarray:
    """Mono float64 signal in [-1, 1] of ``duration`` seconds."""
    from scipy.signal import lfilter

    n = int(round(duration * sr))
    size = n + sr
    beat = 60.0 / p["bpm"]
    six = beat / 4.0
    bar = 4 * beat
    swing = p["swing"]
    scale = SCALES[p["scale"]]
    key = int(rng.integers(12))

    def in_scale(lo: float, hi: float) -> list[int]:
        return [m for m in range(int(lo), int(hi) + 1) if (m - key) % 12 in scale]

    def swung(t_step: int) -> float:
        t = t_step * six
        if swing > 0 and t_step % 4 == 2:
            t += swing * 2 * six
        return t

    progressions = ((0, 3, 4, 0), (0, 5, 3, 4), (0, 4, 5, 3), (0, 0, 3, 4), (5, 3, 0, 4))
    prog = progressions[int(rng.integers(len(progressions)))]
    n_bars = int(np.ceil(duration / bar)) + 1

    # lead: random walk on the scale around the register
    lead = np.zeros(size)
    notes = in_scale(p["register"] - 9, p["register"] + 9)
    tables = _Tables(p["rolloff"], p["odd"], sr)
    step16 = max(1, int(round(4 / p["lead_rate"])))  # lead grid in 16ths
    idx = len(notes) // 2
    lead_cache: dict = {}
    k = 0
    while k * six < duration:
        if rng.random() > 0.15:
            idx = int(np.clip(idx + rng.choice((-2, -1, -1, 0, 1, 1, 2)), 0, len(notes) - 1))
            length = step16 * six * p["legato"]
            _note(
                lead,
                swung(k),
                _midi_hz(notes[idx]),
                length,
                rng.uniform(0.6, 1.0),
                tables,
                p["attack"],
                p["decay"],
                p["vibrato"],
                sr,
                lead_cache,
            )
        k += step16
    if p["drive"] > 0:
        lead = np.tanh(p["drive"] * 2.0 * _norm(lead)) / np.tanh(p["drive"] * 2.0)

    # pad (chords) and bass, one chord per bar
    pad = np.zeros(size)
    bass = np.zeros(size)
    pad_tables = _Tables(p["rolloff"] + 0.4, p["odd"], sr)
    bass_tables = _Tables(2.2, 0.0, sr)
    deg_notes = in_scale(p["register"] - 24, p["register"] + 6)
    bass_reg = float(np.clip(p["register"] - 24, 30, 50))
    pad_cache: dict = {}
    bass_cache: dict = {}
    for b in range(n_bars):
        degree = prog[b % len(prog)]
        root_pc = (key + scale[degree % len(scale)]) % 12
        chord_pcs = {
            root_pc,
            (key + scale[(degree + 2) % len(scale)]) % 12,
            (key + scale[(degree + 4) % len(scale)]) % 12,
        }
        t0 = b * bar
        if p["pad"] > 0:
            tones = [m for m in deg_notes if m % 12 in chord_pcs and m >= p["register"] - 14][:3]
            for m in tones:
                _note(
                    pad,
                    t0,
                    _midi_hz(m),
                    bar * 0.95,
                    0.5,
                    pad_tables,
                    0.05,
                    max(p["decay"], 1.2),
                    p["vibrato"] * 0.5,
                    sr,
                    pad_cache,
                )
        if p["bass"] > 0:
            root = min(
                (m for m in range(int(bass_reg) - 6, int(bass_reg) + 7) if m % 12 == root_pc),
                key=lambda m: abs(m - bass_reg),
            )
            hits = 4 if p["bpm"] < 140 else 2
            for h in range(hits):
                m = root + (7 if (h % 2 == 1 and rng.random() < 0.4) else 0)
                _note(
                    bass,
                    t0 + h * bar / hits,
                    _midi_hz(m),
                    bar / hits * 0.8,
                    0.8,
                    bass_tables,
                    0.005,
                    0.35,
                    0.0,
                    sr,
                    bass_cache,
                )

    # drums
    drums = np.zeros(size)
    if p["drums"] != "none":
        kit = _drum_kit(sr, rng, ride=p["drums"] == "jazz")
        kick_p, snare_p, hat_p = (np.array(x, dtype=float) for x in DRUM_PATTERNS[p["drums"]])
        dens = p["density"]
        hat_p = np.clip(hat_p * (0.3 + dens), 0.0, 1.0)
        for b in range(n_bars):
            for s in range(16):
                t = b * bar + swung(s)
                if rng.random() < kick_p[s]:
                    _add(drums, kit["kick"], t, rng.uniform(0.8, 1.0), sr)
                if rng.random() < snare_p[s]:
                    _add(drums, kit["snare"], t, rng.uniform(0.7, 1.0), sr)
                elif rng.random() < 0.12 * dens:
                    _add(drums, kit["snare"], t, rng.uniform(0.15, 0.3), sr)
                if rng.random() < hat_p[s]:
                    _add(drums, kit["hat"], t, rng.uniform(0.4, 0.8), sr)

    mix = 0.55 * _norm(lead) + 0.35 * p["pad"] * _norm(pad) + 0.5 * p["bass"] * _norm(bass)
    if p["drums"] != "none":
        mix += 0.55 * _norm(drums)
    # master low-pass (brightness), one pole
    a = float(np.exp(-2 * np.pi * p["cutoff"] / sr))
    mix = lfilter([1.0 - a], [1.0, -a], mix)
    mix = mix[:n] + rng.standard_normal(n) * 1e-3
    fade = min(int(0.02 * sr), n // 4)
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade)
        mix[:fade] *= ramp
        mix[-fade:] *= ramp[::-1]
    return _norm(mix) * rng.uniform(0.55, 0.92)


# ---------------------------------------------------------------------- encoding
def _ogg_crc(data: bytes) -> int:
    table = _ogg_crc.table  # type: ignore[attr-defined]
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[((crc >> 24) & 0xFF) ^ byte]
    return crc


def _make_ogg_table() -> list[int]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
        table.append(r & 0xFFFFFFFF)
    return table


_ogg_crc.table = _make_ogg_table()  # type: ignore[attr-defined]


def fix_ogg_serial(data: bytes, serial: int) -> bytes:
    """libsndfile draws a random Ogg stream serial; set it and fix every page CRC."""
    buf = bytearray(data)
    pos = 0
    while pos + 27 <= len(buf):
        if buf[pos : pos + 4] != b"OggS":
            raise ValueError("not an Ogg page boundary")
        nseg = buf[pos + 26]
        body = sum(buf[pos + 27 : pos + 27 + nseg])
        end = pos + 27 + nseg + body
        buf[pos + 14 : pos + 18] = serial.to_bytes(4, "little")
        buf[pos + 22 : pos + 26] = b"\0\0\0\0"
        crc = _ogg_crc(bytes(buf[pos:end]))
        buf[pos + 22 : pos + 26] = crc.to_bytes(4, "little")
        pos = end
    return bytes(buf)


def encode(signal: np.ndarray, sr: int, fmt: str, bitrate: int, serial: int = 0) -> bytes:
    """Encode a (n,) or (n, 2) float signal as mp3 / wav / flac / ogg bytes."""
    pcm = np.clip(np.rint(signal * 32767.0), -32768, 32767).astype(np.int16)
    channels = 1 if pcm.ndim == 1 else pcm.shape[1]
    if fmt == "mp3":
        import lameenc

        enc = lameenc.Encoder()
        enc.set_bit_rate(int(bitrate))
        enc.set_in_sample_rate(sr)
        enc.set_out_sample_rate(sr)
        enc.set_channels(channels)
        enc.set_quality(7)
        return bytes(enc.encode(np.ascontiguousarray(pcm).tobytes()) + enc.flush())
    import soundfile as sf

    out = io.BytesIO()
    if fmt == "wav":
        sf.write(out, pcm, sr, format="WAV", subtype="PCM_16")
    elif fmt == "flac":
        sf.write(out, pcm, sr, format="FLAC", subtype="PCM_16")
    elif fmt == "ogg":
        sf.write(out, signal.astype(np.float32), sr, format="OGG", subtype="VORBIS")
        return fix_ogg_serial(out.getvalue(), serial)
    else:
        raise ValueError(f"unknown audio format {fmt!r}")
    return out.getvalue()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def render_task(task: tuple) -> tuple[str, int]:
    """Worker: synthesise, encode and write one track. Returns (file name, bytes)."""
    (name, out_dir, params, entropy, spawn_key, sr, channels, duration, fmt, bitrate) = task
    seq = np.random.SeedSequence(entropy, spawn_key=tuple(spawn_key))
    rng = np.random.Generator(np.random.PCG64(seq))
    mono = synthesize(params, sr, duration, rng)
    if channels == 2:
        d = int(0.011 * sr)
        right = 0.85 * mono + 0.15 * np.concatenate([np.zeros(d), mono[:-d]])
        signal = np.stack([mono, right], axis=1)
    else:
        signal = mono
    serial = int(seq.generate_state(1)[0] & 0x7FFFFFFF)
    data = encode(signal, sr, fmt, bitrate, serial)
    atomic_write_bytes(Path(out_dir) / name, data)
    return name, len(data)


def render_chunk(tasks: list[tuple]) -> list[tuple[str, int]]:
    return [render_task(t) for t in tasks]
