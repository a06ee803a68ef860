"""A small, deterministic, SYNTHETIC labelled music set, so the demo needs no download.

Each synthetic genre differs in tempo, drum pattern, timbre and harmony; every clip
varies key, tempo, mix and noise from its own seed. Nothing here is real music.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from genre.atomic import atomic_path


@dataclass(frozen=True)
class Style:
    """How one synthetic genre sounds."""

    tempo: tuple[float, float]
    kick: str  # 16-step patterns: "x" hits
    snare: str
    hat: str
    wave: str  # "sine", "saw", "square", "fm"
    minor: bool
    chord_steps: int  # chord changes every N sixteenth notes
    brightness: float  # low-pass strength of the lead, 0..1


STYLES: dict[str, Style] = {
    "synth-ambient": Style((60, 72), "x...............", "................", "........x.......", "sine", False, 64, 0.2),
    "synth-techno": Style((124, 132), "x...x...x...x...", "....x.......x...", "..x...x...x...x.", "saw", True, 32, 0.9),
    "synth-waltz": Style((84, 96), "x.....x.....x...", "..x.x...x.x.....", "x.x.x.x.x.x.x.x.", "fm", False, 12, 0.5),
    "synth-funk": Style((98, 108), "x..x..x...x..x..", "....x..x....x...", "xxxxxxxxxxxxxxxx", "square", True, 16, 0.7),
    "synth-chiptune": Style((140, 160), "x.......x.x.....", "....x.......x...", "x.x.x.x.x.x.x.x.", "square", False, 8, 1.0),
}

SAMPLE_RATE = 22050
_MAJOR = [0, 4, 7]
_MINOR = [0, 3, 7]
_PROGRESSION = [0, 5, 7, 3]


def _osc(kind: str, freq: float, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    phase = 2 * np.pi * freq * t
    if kind == "sine":
        return np.sin(phase)
    if kind == "saw":
        return 2 * ((freq * t) % 1.0) - 1
    if kind == "square":
        return np.sign(np.sin(phase)) * 0.6
    return np.sin(phase + 2.5 * np.sin(phase * 2.01))  # fm


def _drum(kind: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / sr
    if kind == "kick":
        return np.sin(2 * np.pi * (50 + 100 * np.exp(-t * 30)) * t) * np.exp(-t * 12)
    noise = rng.standard_normal(n)
    if kind == "snare":
        return noise * np.exp(-t * 25) * 0.6 + np.sin(2 * np.pi * 190 * t) * np.exp(-t * 20) * 0.3
    return np.diff(noise, prepend=0.0) * np.exp(-t * 90) * 0.25  # hat


def _bleed(style: Style, rng: np.random.Generator, share: float) -> Style:
    """Borrow each trait from a random other style with probability ``share``, as real genres overlap."""
    others = list(STYLES.values())
    traits = {}
    for name in ("tempo", "kick", "snare", "hat", "wave", "minor", "chord_steps", "brightness"):
        donor = others[rng.integers(len(others))] if rng.random() < share else style
        traits[name] = getattr(donor, name)
    return Style(**traits)


def render_clip(style: Style, seed: int, seconds: float = 6.0, sr: int = SAMPLE_RATE, bleed: float = 0.15) -> np.ndarray:
    """One clip of ``style`` as float32 mono, deterministic in ``seed``; ``bleed`` mixes in other styles' traits."""
    rng = np.random.default_rng(seed)
    style = _bleed(style, rng, bleed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    tempo = rng.uniform(*style.tempo)
    step = int(sr * 60 / tempo / 4)
    root = 110 * 2 ** (rng.integers(0, 12) / 12)
    triad = _MINOR if style.minor else _MAJOR
    out = np.zeros(n)
    # harmony: a chord per `chord_steps`, with the lead an arpeggio over it
    lead_kind = style.wave
    for i, start in enumerate(range(0, n, step)):
        chord = _PROGRESSION[(i // style.chord_steps) % len(_PROGRESSION)]
        end = min(n, start + step)
        seg = t[start:end] - t[start]
        env = np.exp(-seg * (3 + 8 * style.brightness))
        note = root * 2 ** ((chord + triad[i % 3] + 12) / 12)
        out[start:end] += 0.25 * _osc(lead_kind, note, t[start:end], rng) * env
        for interval in triad:
            pad = root * 2 ** ((chord + interval) / 12)
            out[start:end] += 0.08 * np.sin(2 * np.pi * pad * t[start:end])
    if style.brightness < 0.9:  # one-pole low-pass for darker timbres
        a = 1.0 - style.brightness * 0.9
        from scipy.signal import lfilter

        out = lfilter([1 - a], [1, -a], out)
    for kind, pattern in (("kick", style.kick), ("snare", style.snare), ("hat", style.hat)):
        hit = _drum(kind, min(n, step * 4), sr, rng)
        for i, start in enumerate(range(0, n, step)):
            if pattern[i % 16] == "x":
                end = min(n, start + len(hit))
                out[start:end] += hit[: end - start] * rng.uniform(0.7, 1.0)
    out += rng.standard_normal(n) * rng.uniform(0.005, 0.03) * np.abs(out).max()
    out /= np.max(np.abs(out)) + 1e-9
    return (out * rng.uniform(0.5, 0.9)).astype(np.float32)


def make_demo_dataset(root: str | Path, clips_per_genre: int = 10, seconds: float = 6.0) -> Path:
    """Write the synthetic set as ``root/<genre>/<genre>.NNN.wav``; existing files are kept."""
    root = Path(root)
    for g, (name, style) in enumerate(sorted(STYLES.items())):
        for i in range(clips_per_genre):
            target = root / name / f"{name}.{i:03d}.wav"
            if target.exists():
                continue
            y = render_clip(style, seed=1000 * g + i, seconds=seconds)
            with atomic_path(target, suffix=".wav") as tmp:
                sf.write(tmp, y, SAMPLE_RATE, subtype="PCM_16")
    (root / "README.txt").write_text(
        "SYNTHETIC demo data made by genre.data.demo: generated tones and noise drums, not real music.\n"
    )
    return root
