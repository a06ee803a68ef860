"""Features and spectrogram images: this extractor against the naive librosa way, side by side.

    python bench/features.py                 # everything, about 3-5 minutes on 2 cores
    python bench/features.py --part features --clips 70

Parts (each prints a table and ratios; everything on one core in this one process, except
the memory part, which runs each size in a fresh child process):
- features: per-clip time of ``genre.features.extractor`` (one decode, one STFT) against a naive baseline
  that calls each librosa feature function on every raw 3 s segment, each with its own STFT,
  as the reference project did.
- images: PNG mel spectrograms, one per clip at 432x288 (GTZAN's image size) and one per 3 s
  segment at 128x128 (the CNN's input): ours (array -> 8-bit levels -> palette PNG) against
  ``librosa.display.specshow`` + ``savefig`` on a bare figure of the same pixel size, and the
  bare floor (decode, one STFT, mel, dB; no image).
- memory: peak RSS of extracting N synthetic 5 s clips (features + mels, Parquet + .npy out)
  for N = 100 and 1,000: flat if clips are streamed one at a time.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"  # one core, set before numpy loads

import argparse  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
GTZAN_MINI = ROOT.parent / "shared" / "data" / "gtzan-mini"
SR = 22050
CLIP_IMAGE = (432, 288)  # GTZAN's images_original size
SEGMENT_IMAGE = (128, 128)  # the CNN's input size that worked best here (docs/PLATFORM.md)


def naive_features(path: Path) -> np.ndarray:
    """The reference way: librosa.load, then each feature function on each raw segment."""
    import librosa
    from scipy import stats

    from genre.data.audio import segment_bounds

    y, sr = librosa.load(path, sr=SR)
    rows = []
    for s0, s1 in segment_bounds(len(y), sr, 3.0, 0.5):
        seg = y[s0:s1]
        a = np.abs(seg)
        mfcc = librosa.feature.mfcc(y=seg, sr=sr, n_mfcc=20)
        blocks = [
            librosa.feature.zero_crossing_rate(seg), librosa.feature.rms(y=seg),
            librosa.feature.spectral_centroid(y=seg, sr=sr),
            *(librosa.feature.spectral_bandwidth(y=seg, sr=sr, p=p) for p in (2, 3, 4)),
            librosa.feature.spectral_rolloff(y=seg, sr=sr), librosa.feature.spectral_flatness(y=seg),
            librosa.feature.spectral_contrast(y=seg, sr=sr), mfcc, librosa.feature.delta(mfcc),
            librosa.feature.chroma_stft(y=seg, sr=sr),
        ]
        head = [a.mean(), a.std(), stats.skew(a), stats.kurtosis(a), librosa.feature.tempo(y=seg, sr=sr)[0]]
        rows.append(np.concatenate([head] + [b.mean(axis=1) for b in blocks] + [b.std(axis=1) for b in blocks]))
    return np.asarray(rows, dtype=np.float32)


def our_features(path: Path) -> np.ndarray:
    from genre.config import FeatureConfig
    from genre.data.audio import load
    from genre.features.extractor import analyse, segment_features

    return segment_features(analyse(load(path, SR), FeatureConfig()))


def our_features_and_mels(path: Path) -> np.ndarray:
    from genre.config import FeatureConfig
    from genre.data.audio import load
    from genre.features.extractor import clip_features

    return clip_features(load(path, SR), FeatureConfig()).features


def _specshow_png(db: np.ndarray, out: Path, size: tuple[int, int]) -> None:
    """A bare figure of exactly ``size`` pixels: specshow fills it, savefig writes it."""
    import librosa.display
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(size[0] / 100, size[1] / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    librosa.display.specshow(db, sr=SR, hop_length=512, cmap="magma", ax=ax)
    fig.savefig(out, dpi=100)
    plt.close(fig)


def matplotlib_clip_png(path: Path, out: Path) -> None:
    """The reference way for one picture per clip: mel dB of the pre-emphasised clip, specshow, savefig."""
    import librosa

    y, sr = librosa.load(path, sr=SR)
    mel = librosa.feature.melspectrogram(y=librosa.effects.preemphasis(y, coef=0.97), sr=sr, n_mels=96)
    _specshow_png(librosa.power_to_db(mel, ref=np.max, top_db=80.0), out, CLIP_IMAGE)


def matplotlib_segment_pngs(path: Path, out: Path) -> None:
    """The reference way for the CNN's images: per 3 s segment, mel dB of the raw segment, specshow, savefig."""
    import librosa

    from genre.data.audio import segment_bounds

    y, sr = librosa.load(path, sr=SR)
    for i, (s0, s1) in enumerate(segment_bounds(len(y), sr, 3.0, 0.5)):
        seg = librosa.effects.preemphasis(y[s0:s1], coef=0.97)
        db = librosa.power_to_db(librosa.feature.melspectrogram(y=seg, sr=sr, n_mels=96), ref=np.max, top_db=80.0)
        _specshow_png(db, out.with_name(f"{out.stem}-{i:02d}.png"), SEGMENT_IMAGE)


def floor_mel(path: Path) -> np.ndarray:
    """The bare floor: decode, one STFT, mel, dB."""
    from genre.config import FeatureConfig
    from genre.data.audio import load
    from genre.features.extractor import analyse, clip_mel_db

    return clip_mel_db(analyse(load(path, SR), FeatureConfig()))


def our_clip_png(path: Path, out: Path) -> None:
    from genre.features.images import save_png

    save_png(floor_mel(path), out, size=CLIP_IMAGE)


def our_segment_pngs(path: Path, out: Path) -> None:
    from genre.config import FeatureConfig
    from genre.data.audio import load
    from genre.features.extractor import analyse, segment_mels
    from genre.features.images import save_png

    for i, mel in enumerate(segment_mels(analyse(load(path, SR), FeatureConfig()))):
        save_png(mel, out.with_name(f"{out.stem}-{i:02d}.png"), size=SEGMENT_IMAGE)


def per_clip(fns: dict[str, Callable[[Path], object]], paths: list[Path], repeats: int) -> dict[str, float]:
    """Median over clips of each function's best-of-``repeats`` time, calls interleaved clip by clip."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():  # warm-up: imports, numba JIT, filter banks
        fn(paths[0])
    for path in paths:
        for name, fn in fns.items():
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                fn(path)
                best = min(best, time.perf_counter() - start)
            times[name].append(best)
    return {name: float(np.median(t)) for name, t in times.items()}


def clips(n: int) -> list[Path]:
    if not GTZAN_MINI.is_dir():
        raise SystemExit(f"gtzan-mini not found at {GTZAN_MINI}: the bench needs ../shared/data/gtzan-mini")
    paths = sorted(GTZAN_MINI.glob("*/*.wav"))
    step = max(1, len(paths) // n)
    return paths[::step][:n]


def bench_features(n: int, repeats: int) -> None:
    paths = clips(n)
    t = per_clip({"naive": naive_features, "ours": our_features, "ours_with_mels": our_features_and_mels},
                 paths, repeats)
    print(f"\n## features: {len(paths)} gtzan-mini clips (15-20 s), median per clip, one core")
    print("| extractor | ms per clip | speed-up vs naive |\n|---|---|---|")
    for name, label in [("naive", "naive: librosa function per feature per 3 s segment"),
                        ("ours", "genre.features.extractor: one decode, one STFT"),
                        ("ours_with_mels", "genre.features.extractor + 96-band mel images")]:
        print(f"| {label} | {1000 * t[name]:.1f} | {t['naive'] / t[name]:.2f}x |")
    print(f"features speed-up: {t['naive'] / t['ours']:.2f}x (target >= 5x)")


def bench_images(n: int, repeats: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    paths = clips(n)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        t = per_clip({"mpl_clip": lambda p: matplotlib_clip_png(p, out / f"m-{p.stem}.png"),
                      "ours_clip": lambda p: our_clip_png(p, out / f"o-{p.stem}.png"),
                      "mpl_segments": lambda p: matplotlib_segment_pngs(p, out / f"ms-{p.stem}.png"),
                      "ours_segments": lambda p: our_segment_pngs(p, out / f"os-{p.stem}.png"),
                      "floor": floor_mel}, paths, repeats)
    print(f"\n## images: {len(paths)} gtzan-mini clips, median per clip, one core")
    print("| images per clip | path | ms per clip | speed-up vs matplotlib |\n|---|---|---|---|")
    for unit, mpl, ours in [(f"one {CLIP_IMAGE[0]}x{CLIP_IMAGE[1]} PNG (for people)", "mpl_clip", "ours_clip"),
                            (f"one {SEGMENT_IMAGE[0]}x{SEGMENT_IMAGE[1]} PNG per 3 s segment (CNN input)",
                             "mpl_segments", "ours_segments")]:
        print(f"| {unit} | librosa.display.specshow + savefig | {1000 * t[mpl]:.1f} | 1.00x |")
        print(f"| {unit} | genre.features.images: array -> levels -> palette PNG | {1000 * t[ours]:.1f} | "
              f"{t[mpl] / t[ours]:.2f}x |")
        print(f"| {unit} | bare floor: decode, one STFT, mel, dB (no image) | {1000 * t['floor']:.1f} | "
              f"{t[mpl] / t['floor']:.2f}x |")
    for unit, mpl, ours in [("per clip", "mpl_clip", "ours_clip"), ("per segment", "mpl_segments", "ours_segments")]:
        print(f"images {unit}: {t[mpl] / t[ours]:.2f}x faster than matplotlib (target >= 4x), "
              f"{t[ours] / t['floor']:.2f}x the floor")


def synthesise(folder: Path, n: int, seconds: float = 5.0) -> None:
    """``n`` distinct clips (tones + noise, a different seed each) as 16-bit wav."""
    import soundfile as sf

    t = np.arange(int(seconds * SR)) / SR
    for i in range(n):
        path = folder / f"clip{i:05d}.wav"
        if path.exists():
            continue
        rng = np.random.default_rng(i)
        y = 0.3 * np.sin(2 * np.pi * rng.uniform(80, 2000) * t) + 0.05 * rng.standard_normal(len(t))
        sf.write(path, y.astype(np.float32), SR, subtype="PCM_16")


def memory_child(folder: Path, n: int, work: Path) -> None:
    """Extract the first ``n`` clips of ``folder``; print peak RSS in MiB."""
    import pandas as pd

    from genre.config import FeatureConfig
    from genre.data.store import sha256_file
    from genre.features.dataset import extract_dataset

    paths = sorted(folder.glob("*.wav"))[:n]
    table = pd.DataFrame({"clip_id": [p.stem for p in paths], "sha256": [sha256_file(p) for p in paths],
                          "label": ["a" if i % 2 else "b" for i in range(len(paths))]})
    start = time.perf_counter()
    fs = extract_dataset(table, paths, work / "cache", FeatureConfig(), workers=1, progress=False,
                         out_root=work / "sets")
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{n} {peak:.1f} {seconds:.1f} {len(fs.table)} {fs.stats.decoded}")


def bench_memory(sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "clips"
        folder.mkdir()
        synthesise(folder, max(sizes))
        rows = []
        for n in sizes:
            work = Path(tmp) / f"work-{n}"
            out = subprocess.run([sys.executable, __file__, "--part", "memory-child", "--memory-clips", str(n),
                                  "--folder", str(folder), "--work", str(work)],
                                 check=True, capture_output=True, text=True).stdout.split()
            rows.append((int(out[0]), float(out[1]), float(out[2]), int(out[3])))
    print("\n## memory: peak RSS of one extraction process, synthetic 5 s clips, features + mels + outputs")
    print("| clips | segments | peak RSS (MiB) | seconds |\n|---|---|---|---|")
    for n, peak, seconds, segments in rows:
        print(f"| {n} | {segments} | {peak:.0f} | {seconds:.1f} |")
    print(f"peak RSS ratio {rows[-1][0]} vs {rows[0][0]} clips: {rows[-1][1] / rows[0][1]:.2f}x (flat is ~1x)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=["all", "features", "images", "memory", "memory-child"], default="all")
    p.add_argument("--clips", type=int, default=20, help="gtzan-mini clips for features and images (max 70)")
    p.add_argument("--repeats", type=int, default=1, help="best of N timings per clip")
    p.add_argument("--memory-clips", default="100,1000", help="comma-separated clip counts for the memory part")
    p.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core for the timed parts
    sizes = [int(n) for n in args.memory_clips.split(",")]
    if args.part == "memory-child":
        memory_child(args.folder, sizes[0], args.work)
        return
    if args.part in ("all", "features"):
        bench_features(args.clips, args.repeats)
    if args.part in ("all", "images"):
        bench_images(args.clips, args.repeats)
    if args.part in ("all", "memory"):
        bench_memory(sizes)


if __name__ == "__main__":
    main()
