"""Decoding audio files into mono float32 signals, with ffmpeg as the fallback."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

AUDIO_EXTENSIONS = (".wav", ".mp3", ".flac", ".ogg", ".au", ".m4a", ".webm", ".opus", ".aiff", ".aif")


class AudioError(ValueError):
    """A file that cannot be used as audio; the message says why."""


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, read without decoding all of it where possible."""

    duration: float
    sample_rate: int
    channels: int
    format: str


def ffmpeg_exe() -> str:
    """Path of an ffmpeg binary: on PATH, else the one shipped by imageio-ffmpeg.

    Also makes it reachable as ``ffmpeg`` on PATH for this process, since
    yt-dlp's section downloads look for it there.
    """
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:  # the wheel is missing or has no binary for this platform
        raise AudioError(
            "ffmpeg was not found. Install it (Debian/Ubuntu: `apt-get install ffmpeg`, macOS: "
            "`brew install ffmpeg`) or `pip install imageio-ffmpeg`, then try again."
        ) from exc
    link_dir = Path.home() / ".cache" / "genre" / "bin"
    link_dir.mkdir(parents=True, exist_ok=True)
    link = link_dir / "ffmpeg"
    if not link.exists():
        tmp = link_dir / f".ffmpeg.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(exe)
        os.replace(tmp, link)
    os.environ["PATH"] = f"{link_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    return str(link)


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty")
    return path


def probe(path: str | Path) -> AudioInfo:
    """Duration, sample rate and channels of ``path`` from its header; raises :class:`AudioError`."""
    path = _existing(path)
    try:
        info = sf.info(str(path))
        if info.frames <= 0:
            raise AudioError(f"{path}: no audio frames")
        return AudioInfo(info.frames / info.samplerate, info.samplerate, info.channels, info.format.lower())
    except (sf.LibsndfileError, RuntimeError):
        pass
    info = _ffmpeg_info(path)
    if info.duration > 0:
        return info
    y, sr = _ffmpeg_decode(path, info.sample_rate)  # a stream without a duration in its header
    return AudioInfo(len(y) / sr, sr, info.channels, info.format)


_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_STREAM = re.compile(r"Stream #\d+:\d+.*?: Audio: (\w+).*?, (\d+) Hz, ([^,]+)")


def _channels(layout: str) -> int:
    """ffmpeg's channel layout name -> channel count: mono, stereo, quad, 5.1(side), 3 channels..."""
    layout = layout.strip().split("(")[0]
    named = {"mono": 1, "stereo": 2, "quad": 4, "hexagonal": 6, "octagonal": 8, "downmix": 2}
    if layout in named:
        return named[layout]
    if m := re.fullmatch(r"(\d+) channels", layout):
        return int(m.group(1))
    if m := re.fullmatch(r"(\d+)\.(\d+)", layout):
        return int(m.group(1)) + int(m.group(2))
    return 2


def _ffmpeg_reason(stderr: bytes, default: str) -> str:
    """The last non-empty line ffmpeg wrote: its own words for why it failed."""
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else default


def _ffmpeg_info(path: Path) -> AudioInfo:
    """What ffmpeg reads from the container header (``ffmpeg -i``, no decoding): duration 0 when unknown."""
    try:
        proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True,
                              timeout=60)
    except subprocess.TimeoutExpired as exc:
        raise AudioError(f"{path}: reading its header took longer than 60 s") from exc
    text = proc.stderr.decode(errors="replace")
    stream = _STREAM.search(text)
    if stream is None:
        reason = "it holds no audio stream" if "Stream #" in text else _ffmpeg_reason(proc.stderr, "unknown")
        raise AudioError(f"{path}: not decodable audio ({reason})")
    duration = _DURATION.search(text)
    seconds = (int(duration.group(1)) * 3600 + int(duration.group(2)) * 60 + float(duration.group(3))
               if duration else 0.0)
    return AudioInfo(seconds, int(stream.group(2)), _channels(stream.group(3)), stream.group(1))


def load(path: str | Path, sample_rate: int, max_seconds: float | None = None, finite: bool = True,
         mono: bool = True) -> np.ndarray:
    """Decode ``path`` to float32 at ``sample_rate``, mono by default; raises :class:`AudioError`.

    soundfile reads wav, flac, ogg, mp3 and au; anything else goes through ffmpeg. With
    ``mono=False`` the result is (frames, channels), each channel as stored. With ``finite=False``
    NaN or infinite samples are returned instead of refused (the data validation measures them).
    """
    path = _existing(path)
    try:
        with sf.SoundFile(str(path)) as f:
            frames = -1 if max_seconds is None else int(max_seconds * f.samplerate)
            y = f.read(frames=frames, dtype="float32", always_2d=True)
            sr = f.samplerate
    except (sf.LibsndfileError, RuntimeError):
        channels = 1 if mono else _ffmpeg_info(path).channels
        y, sr = _ffmpeg_decode(path, sample_rate, max_seconds, channels)
        y = y.reshape(-1, channels)
    if y.shape[0] == 0:
        raise AudioError(f"{path}: no audio frames")
    if mono:
        y = y.mean(axis=1)
    if sr != sample_rate:
        import soxr

        y = soxr.resample(y, sr, sample_rate).astype(np.float32)
    if finite and not np.all(np.isfinite(y)):
        raise AudioError(f"{path}: audio holds NaN or infinite samples")
    return np.ascontiguousarray(y, dtype=np.float32)


LOSSLESS_CODECS = {"flac": "flac", "wav": "pcm_s16le"}


def to_lossless(src: str | Path, dst: str | Path, sample_rate: int, timeout: float = 300.0) -> Path:
    """Convert the first audio stream of ``src`` to ``dst`` (.flac or .wav) at ``sample_rate``.

    The output is bit-exact (no encoder tags or metadata), so the same audio always gives
    the same bytes and the same sha256. Any decoding error fails the conversion: a file
    cut short or damaged raises :class:`AudioError` instead of yielding part of a clip.
    """
    src, dst = Path(src), Path(dst)
    codec = LOSSLESS_CODECS.get(dst.suffix.lstrip(".").lower())
    if codec is None:
        raise ValueError(f"{dst}: lossless output must be one of {sorted(LOSSLESS_CODECS)}")
    cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", "-xerror", "-y", "-i", str(src), "-map", "0:a:0",
           "-ar", str(sample_rate), "-c:a", codec, "-map_metadata", "-1", "-fflags", "+bitexact",
           "-flags:a", "+bitexact", str(dst)]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise AudioError(f"{src.name}: converting took longer than {timeout:.0f} s") from exc
    if proc.returncode != 0 or not dst.is_file() or dst.stat().st_size == 0:
        detail = _ffmpeg_reason(proc.stderr, "no audio stream")
        if "matches no streams" in proc.stderr.decode(errors="replace"):
            detail = "it holds no audio stream"
        raise AudioError(f"{src.name}: not decodable audio ({detail})")
    return dst


def _ffmpeg_decode(path: Path, sample_rate: int, max_seconds: float | None = None,
                   channels: int = 1) -> tuple[np.ndarray, int]:
    """Interleaved float32 samples of ``channels`` channels at ``sample_rate``, and the rate."""
    sr = sample_rate
    cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path)]
    if max_seconds is not None:
        cmd += ["-t", str(max_seconds)]
    cmd += ["-vn", "-ac", str(channels), "-ar", str(sr), "-f", "f32le", "-"]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=300)
    except subprocess.TimeoutExpired as exc:
        raise AudioError(f"{path}: decoding took longer than 300 s") from exc
    if proc.returncode != 0 or not proc.stdout:
        raise AudioError(f"{path}: not decodable audio ({_ffmpeg_reason(proc.stderr, 'no audio stream')})")
    return np.frombuffer(proc.stdout, dtype="<f4").copy(), sr


def check_signal(y: np.ndarray, sample_rate: int, name: str, min_seconds: float = 0.5,
                 silence_rms: float = 1e-4) -> None:
    """Raise :class:`AudioError` for a signal too short or too quiet to classify."""
    if len(y) < min_seconds * sample_rate:
        raise AudioError(f"{name}: {len(y) / sample_rate:.2f} s of audio is too short: the minimum is "
                         f"{min_seconds:g} s (features.min_seconds)")
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
    if rms < silence_rms:
        raise AudioError(f"{name}: audio is silent (RMS {rms:.1e})")


def segment_bounds(n_samples: int, sample_rate: int, seconds: float, overlap: float) -> list[tuple[int, int]]:
    """Start/end sample indices of fixed-length windows covering the signal.

    A clip shorter than one window yields one (shorter) segment.
    """
    size = int(round(seconds * sample_rate))
    step = max(1, int(round(size * (1.0 - overlap))))
    if n_samples <= size:
        return [(0, n_samples)]
    starts = range(0, n_samples - size + 1, step)
    return [(s, s + size) for s in starts]
