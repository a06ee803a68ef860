"""Data-validation timings: per 1,000 catalog rows and per 1,000 feature rows, against baselines.

    PYTHONPATH=$PWD .venv/bin/python bench/validate.py [--rows 1000 5000] [--repeat 3]

* catalog: the catalog + ingestion + balance suites on a synthetic catalog (no audio needed);
* audio: the audio-content suite on synthetic profiles, plus the near-duplicate search;
* profile: decoding and profiling real clips (../shared/data/gtzan-mini), per clip;
* features NaN/inf: our long-frame check (2 expectations over every value) against the
  baseline of 2 expectations per feature column on the wide table;
* feature ranges: one expectation per column on held-out rows (20% of the rows).
Times are medians of ``--repeat`` runs, after one warm-up run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from genre.config import FeatureConfig, ValidationConfig  # noqa: E402
from genre.data.catalog import OK  # noqa: E402
from genre.features.extractor import feature_names  # noqa: E402
from genre.validation.audio_profile import FP_BANDS, FP_BLOCKS, near_duplicates, profile_file  # noqa: E402
from genre.validation.feature_profile import FeatureProfile  # noqa: E402
from genre.validation.runner import CRITICAL, GXRun  # noqa: E402
from genre.validation.suites import (  # noqa: E402
    FLOAT32_MAX,
    audio_expectations,
    balance_expectations,
    balance_rows,
    catalog_expectations,
    catalog_rows,
    ingestion_expectations,
    range_expectations,
    value_expectations,
)

GENRES = [f"genre-{i}" for i in range(10)]
GTZAN = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "gtzan-mini"


def timed(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def catalog_frame(n: int, rng: np.random.Generator) -> pd.DataFrame:
    sha = [f"{i:064x}" for i in rng.integers(0, 2**62, size=n)]
    return pd.DataFrame({
        "source": "folder:bench", "source_id": [f"g/{i:06d}.wav" for i in range(n)],
        "label": [GENRES[i % len(GENRES)] for i in range(n)], "status": OK, "reason": "",
        "clip_id": [s[:16] for s in sha], "sha256": sha, "duration": rng.uniform(20, 40, n),
        "sample_rate": 22050.0, "channels": 1.0,
    })


def audio_frame(n: int, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame({
        "item": [f"folder:bench:g/{i:06d}.wav" for i in range(n)], "clip_id": [f"{i:016x}" for i in range(n)],
        "decodable": True, "decode_error": None, "length_ratio": 1.0, "rms": rng.uniform(0.05, 0.3, n),
        "clipped_share": 0.0, "nonfinite_share": 0.0, "near_duplicate_similarity": rng.uniform(0, 0.6, n),
        "near_duplicate_of": None,
    }).astype({"item": object, "clip_id": object, "decode_error": object, "near_duplicate_of": object})


def feature_table(n: int, rng: np.random.Generator, names: list[str]) -> pd.DataFrame:
    table = pd.DataFrame(rng.uniform(size=(n, len(names))).astype(np.float32), columns=names)
    table.insert(0, "clip_id", [f"{i // 10:016x}" for i in range(n)])
    return table.astype({"clip_id": object})


def baseline_value_expectations(names: list[str]) -> list:
    import great_expectations.expectations as gxe

    meta = {"severity": CRITICAL}
    return [e for n in names for e in (
        gxe.ExpectColumnValuesToNotBeNull(column=n, meta=meta),
        gxe.ExpectColumnValuesToBeBetween(column=n, min_value=-FLOAT32_MAX, max_value=FLOAT32_MAX, meta=meta))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    cfg = ValidationConfig()
    names = feature_names(FeatureConfig())
    start = time.perf_counter()
    run = GXRun()
    print(f"GX import and context: {time.perf_counter() - start:.2f} s (once per process)")
    print(f"{'check':<34}{'rows':>7}{'seconds':>10}{'s / 1000 rows':>15}{'baseline s':>12}{'speed-up':>10}")

    def row(name: str, n: int, seconds: float, baseline: float | None = None) -> None:
        base = f"{baseline:>12.3f}{baseline / seconds:>9.1f}x" if baseline else ""
        print(f"{name:<34}{n:>7}{seconds:>10.3f}{seconds / n * 1000:>15.3f}{base}")

    for n in args.rows:
        frame = catalog_frame(n, rng)

        def catalog() -> None:
            ok = catalog_rows(frame)
            run.run("catalog", ok, catalog_expectations(cfg, GENRES, FeatureConfig().min_seconds), ["item", "exact_duplicate_of"], True)
            run.run("ingestion", frame.assign(item=ok["item"]), ingestion_expectations(cfg), ["item", "reason"])
            run.run("balance", balance_rows(ok, GENRES), balance_expectations(cfg), ["label"])

        row("catalog+ingestion+balance suites", n, timed(catalog, args.repeat))
        audio = audio_frame(n, rng)
        row("audio suite (GX part)", n, timed(lambda: run.run("audio", audio, audio_expectations(cfg),
                                                              ["item", "decode_error", "near_duplicate_of"], True),
                                              args.repeat))
        fps = rng.standard_normal((n, FP_BANDS * FP_BLOCKS)).astype(np.float16)
        row("near-duplicate search", n, timed(lambda: near_duplicates(fps), args.repeat))

        table = feature_table(n, rng, names)

        def values_long() -> None:
            long = table.melt(id_vars=["clip_id"], var_name="column", value_name="value")
            run.run("feature-values", long, value_expectations(), ["clip_id", "column"])

        def values_wide() -> None:
            run.run("feature-values-wide", table, baseline_value_expectations(names), ["clip_id"])

        row("features NaN/inf (long vs wide)", n, timed(values_long, args.repeat), timed(values_wide, 1))
        held = int(n * 0.2)
        profile = FeatureProfile.learn(table[names].to_numpy()[held:], names)
        row("feature ranges (20% held out)", n,
            timed(lambda: run.run("feature-ranges", table.iloc[:held], range_expectations(profile, cfg),
                                  ["clip_id"]), args.repeat))

    if GTZAN.is_dir():
        import soundfile as sf

        clips = sorted(GTZAN.glob("*/*.wav"))[:20]
        seconds = timed(lambda: [profile_file(c, sf.info(str(c)).samplerate, cfg.full_scale) for c in clips], 1)
        print(f"audio profile of real 15-20 s clips (decode + RMS + clipping + fingerprint): "
              f"{seconds / len(clips) * 1000:.0f} ms per clip, one process ({len(clips)} clips)")
    else:
        print(f"skipped the audio profile timing: {GTZAN} not found")


if __name__ == "__main__":
    main()
