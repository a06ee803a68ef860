"""Bench: the pretrained member (musicnn checkpoints ported to Keras 3) against the handcrafted members and VGG16.

One run, three parts, on ../shared/data/gtzan-mini (after a table of the port's temporal filters, 2-D as in the
checkpoint vs 1-D as run, CPU per patch):

1. Extraction seconds per clip, one process, wall time: decode + handcrafted features and mel images; decode +
   the pretrained embeddings of each checkpoint (a patch at every 3 s segment (50% overlap) or at every other one:
   patch_every 1 and 2); the VGG16 forward on a clip's mel images (an untrained network of the configured size:
   the cost is the same).
2. Quality over ``--seeds`` split seeds (50/10/10 clips): test ROC-AUC and accuracy of the pretrained member for
   each checkpoint and layer in ``COMBOS`` (a logistic-regression head tuned like the others), of the classical
   members, of VGG16 (``--cnn-epochs``) and of the pipeline's own ``evaluate`` with the default pretrained member
   (its ensemble candidates and the chosen one).
3. Serving CPU seconds per clip (``time.process_time``, all threads) of ``Predictor.classify_file`` for the best
   classical member, VGG16, the pretrained member and the chosen candidate of the last seed.

    PYTHONPATH=. .venv/bin/python bench/pretrained.py --seeds 1 2 3 --cnn-epochs 12 --home /tmp/bench-pretrained
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.ensemble import per_candidate
from genre.config import PretrainedConfig, SplitConfig, load_config
from genre.data.audio import load
from genre.data.store import sha256_file
from genre.evaluation.evaluate import evaluate
from genre.features import pretrained as musicnn
from genre.features.dataset import FeatureCache, extract_dataset
from genre.features.extractor import analyse, segment_features, segment_mels
from genre.metrics.plots import markdown_table
from genre.metrics.scores import clip_truth, score
from genre.models import classical, vgg16
from genre.models.ensemble import Combiner
from genre.models.pretrained import train_pretrained
from genre.models.split import assign_splits
from genre.models.train import Split, cv_groups, train_classical, train_cnn
from genre.serving.predictor import ENSEMBLE, NETWORK, PRETRAINED, Predictor

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "gtzan-mini"
COMBOS = [("MSD_musicnn", "max_pool", 2), ("MSD_musicnn", "max_pool", 1), ("MSD_musicnn", "penultimate", 2),
          ("MSD_musicnn", "taggram", 2), ("MTT_musicnn", "penultimate", 2), ("MSD_vgg", "pool5", 2)]
Combo = tuple[str, str, int]  # checkpoint, layer, patch_every


def pretrained_of(combo: Combo) -> PretrainedConfig:
    return PretrainedConfig(checkpoint=combo[0], layer=combo[1], patch_every=combo[2])


def parse_combo(text: str) -> Combo:
    checkpoint, layer, *every = text.split(":")
    return checkpoint, layer, int(every[0]) if every else PretrainedConfig().patch_every


def prefill(clips: pd.DataFrame, cfg, combos: list[Combo]) -> None:
    """Fill the library's embedding cache with one forward pass per checkpoint for all of its layers and patch
    spacings in COMBOS (the pipeline computes one layer per pass, on every ``patch_every``-th patch; a patch's
    embedding does not depend on the others, so the values are the same)."""
    import tensorflow as tf

    for checkpoint in dict.fromkeys(c[0] for c in combos):
        caches = {combo: FeatureCache(cfg.feature_cache, cfg.features, pretrained_of(combo))
                  for combo in combos if combo[0] == checkpoint}
        todo = [r for r in clips.itertuples() if any("embeddings" in c.missing(r.sha256) for c in caches.values())]
        if not todo:
            continue
        model = musicnn.build(checkpoint)
        forward = tf.function(lambda t, model=model: model(t, training=False), reduce_retracing=True)
        for r in todo:
            out = forward(tf.constant(musicnn.segment_patches(load(r.path, cfg.features.sample_rate), cfg.features)))
            for (_, layer, every), cache in caches.items():
                rows = np.arange(len(out[layer])) // every * every
                cache.put("embeddings", r.sha256, out[layer].numpy().astype(np.float32)[rows])
        print(f"embeddings of {checkpoint} ({', '.join(f'{c[1]} every {c[2]}' for c in caches)}) computed for "
              f"{len(todo)} clips", flush=True)


def extraction(paths: list[str], cfg) -> list[dict[str, object]]:
    """Wall seconds per clip of each extraction, after one warm-up clip (network builds reported apart)."""
    rows = []

    def timed(name: str, fn, build: float = 0.0) -> None:
        fn(paths[0])
        start = time.perf_counter()
        for p in paths:
            fn(p)
        rows.append({"extraction": name, "s_per_clip": round((time.perf_counter() - start) / len(paths), 3),
                     "one_time_build_s": round(build, 1)})

    timed("decode + handcrafted features + mel images",
          lambda p: (lambda sp: (segment_features(sp), segment_mels(sp)))(analyse(load(p, cfg.features.sample_rate),
                                                                                  cfg.features)))
    for checkpoint in musicnn.CHECKPOINTS:
        layer = "max_pool" if checkpoint.endswith("musicnn") else "pool5"
        start = time.perf_counter()
        musicnn.network(checkpoint, layer)
        for every in (1, 2):
            pc = PretrainedConfig(checkpoint=checkpoint, layer=layer, patch_every=every)
            timed(f"decode + {checkpoint} embeddings, patch_every {every}", lambda p, pc=pc: musicnn.segment_embeddings(
                load(p, cfg.features.sample_rate), cfg.features, pc), time.perf_counter() - start)
            start = time.perf_counter()
    mels = {p: segment_mels(analyse(load(p, cfg.features.sample_rate), cfg.features)) for p in paths}
    start = time.perf_counter()
    model = vgg16.build(10, cfg.cnn)
    timed(f"VGG16 forward ({cfg.cnn.image_size}x{cfg.cnn.image_size}), mels given",
          lambda p: vgg16.predict(model, mels[p], cfg.cnn.image_size, cfg.features.top_db),
          time.perf_counter() - start)
    return rows


def temporal_forms(patches: int = 10, repeat: int = 5) -> list[dict[str, object]]:
    """CPU seconds per patch of musicnn's temporal filters (51 per length, one filter bank shared by the 96 mel
    bands) as the checkpoint's 2-D convolution (a (length, 1) kernel on (batch, 187, 96, 1)) and as the port runs
    them (a 1-D convolution of the bands stacked into the batch), with the largest difference between the two."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((patches, musicnn.PATCH_FRAMES, musicnn.N_MELS, 1)).astype(np.float32))
    bands = tf.reshape(tf.transpose(x, (0, 2, 1, 3)), (-1, musicnn.PATCH_FRAMES, 1))
    rows = []
    for length in (128, 64, 32):
        kernel = tf.constant(rng.standard_normal((length, 1, 1, 51)).astype(np.float32))
        forms = {"2-D": tf.function(lambda k=kernel: tf.nn.conv2d(x, k, 1, "SAME")),
                 "1-D": tf.function(lambda k=kernel: tf.transpose(tf.reshape(tf.nn.conv1d(bands, k[:, 0], 1, "SAME"),
                                                                             (patches, musicnn.N_MELS, -1, 51)),
                                                                  (0, 2, 1, 3)))}
        cpu = {}
        for name, form in forms.items():
            form()
            start = time.process_time()
            for _ in range(repeat):
                form()
            cpu[name] = (time.process_time() - start) / repeat / patches
        rows.append({"temporal filters": f"51 x ({length}, 1)", "2-D cpu_ms_per_patch": round(1000 * cpu["2-D"], 2),
                     "1-D cpu_ms_per_patch": round(1000 * cpu["1-D"], 2), "ratio": round(cpu["2-D"] / cpu["1-D"], 2),
                     "max_abs_diff": float(np.abs(forms["2-D"]() - forms["1-D"]()).max())})
    return rows


def member_scores(split: Split, probs: np.ndarray) -> tuple[float, float]:
    s = score(*clip_truth(probs, split.y, split.clips))
    return s.roc_auc, s.accuracy


def serving(ev, heads: dict, cnn, files: list[str], labels: list[str], cfg) -> list[dict[str, object]]:
    """CPU seconds per clip of classify_file for single members and the chosen candidate."""
    probe_members = {c.name: c for c in ev.selection.candidates if c.method == "member"}
    best_classical = max((n for n in probe_members if n not in (NETWORK, PRETRAINED)),
                         key=lambda n: probe_members[n].roc_auc)
    predictors = {}
    network = cnn.model if cnn is not None else vgg16.build(len(labels), cfg.cnn)
    for name in (best_classical, NETWORK, PRETRAINED):
        predictors[f"{name} alone"] = Predictor(
            labels=labels, features=cfg.features, classical={name: heads[name]} if name != NETWORK else {},
            combiner=Combiner("member", [name], [1.0], n_classes=len(labels)),
            cnn=network if name == NETWORK else None, image_size=cfg.cnn.image_size,
            pretrained=cfg.pretrained if name == PRETRAINED else None)
    predictors[f"chosen: {ev.chosen}"] = ev.predictor
    rows = []
    for name, predictor in predictors.items():
        if name.startswith(NETWORK) and cnn is None:
            name += " (untrained, same size)"
        predictor.classify_file(files[0])  # warm-up: builds and compiles the networks
        start = time.process_time()
        for f in files:
            predictor.classify_file(f)
        rows.append({"served model": name, "cpu_s_per_clip": round((time.process_time() - start) / len(files), 3)})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="split seeds (default 1-3)")
    p.add_argument("--iterations", type=int, default=4, help="search budget per model and head (default 4)")
    p.add_argument("--cnn-epochs", type=int, default=12,
                   help="VGG16 epochs (default 12, the pipeline's); 0: no VGG16 member, and its serving cost is "
                        "timed on an untrained network of the same size")
    p.add_argument("--combos", nargs="+", default=[":".join(map(str, c)) for c in COMBOS],
                   help="checkpoint:layer[:patch_every] (default: %(default)s)")
    p.add_argument("--timing-clips", type=int, default=10, help="clips timed per extraction (default 10)")
    p.add_argument("--home", default=".genre-bench", help="feature/embedding cache (default .genre-bench)")
    args = p.parse_args()
    cfg = load_config(home=args.home, **{"classical.search_iterations": args.iterations,
                                         "cnn.epochs": max(args.cnn_epochs, 1)})
    clips = pd.DataFrame([{"clip_id": f.stem, "label": g.name, "sha256": sha256_file(f), "path": str(f)}
                          for g in sorted(DATA.iterdir()) if g.is_dir() for f in sorted(g.iterdir())])
    paths = list(clips["path"])
    if args.timing_clips:
        print(markdown_table(temporal_forms()), flush=True)
        picked = paths[:: max(1, len(paths) // args.timing_clips)][: args.timing_clips]
        print(markdown_table(extraction(picked, cfg)), flush=True)
    combos = [parse_combo(c) for c in args.combos]
    prefill(clips, cfg, combos)
    sets = {combo: extract_dataset(clips, paths, cfg.feature_cache, cfg.features, workers=cfg.workers,
                                   pretrained=pretrained_of(combo))
            for combo in combos}
    default = (cfg.pretrained.checkpoint, cfg.pretrained.layer, cfg.pretrained.patch_every)
    labels, groups = sorted(clips["label"].unique()), cv_groups(clips)
    rows, chosen_rows, start = [], [], time.perf_counter()
    for seed in args.seeds:
        assignment = assign_splits(clips, SplitConfig(seed=seed))
        splits = {combo: [Split.of(fs, assignment, s, labels, groups) for s in ("train", "validation", "test")]
                  for combo, fs in sets.items()}
        train, val, test = splits[default]
        members = {}
        result = train_classical(train, val, cfg, progress=False)
        for combo, (tr, va, te) in splits.items():
            member = train_pretrained(tr, va, cfg, progress=False)
            auc, acc = member_scores(te, classical.predict_proba(member.fitted.model, te.E, len(labels)))
            rows.append({"seed": seed, "candidate": f"{PRETRAINED}: {combo[0]} {combo[1]} every {combo[2]}",
                         "roc_auc": auc,
                         "accuracy": acc})
            members[combo] = member
        cnn = train_cnn(train, val, len(labels), cfg, progress=False) if args.cnn_epochs else None
        ev = evaluate(result, cnn, train, val, test, labels, cfg, members[default])
        for name, s in ev.test.items():
            if name != PRETRAINED and name != ENSEMBLE:
                rows.append({"seed": seed, "candidate": name, "roc_auc": s.roc_auc, "accuracy": s.accuracy})
        chosen_rows.append({"seed": seed, "chosen": ev.chosen, "test_roc_auc": round(ev.roc_auc, 4),
                            "test_accuracy": round(ev.test[ENSEMBLE].accuracy, 2)})
        print(f"seed {seed}: chosen {ev.chosen}, test ROC-AUC {ev.roc_auc:.4f}", flush=True)
    print(f"\ngtzan-mini, {len(args.seeds)} split seeds, {args.iterations} search candidates, VGG16 "
          f"{f'{args.cnn_epochs} epochs' if args.cnn_epochs else 'not a member'}; "
          f"{time.perf_counter() - start:.0f} s\n")
    print(per_candidate(rows))
    print("\n" + markdown_table(chosen_rows))
    heads = {**{n: f.model for n, f in result.fitted.items()}, PRETRAINED: members[default].fitted.model}
    test_files = list(clips.set_index("clip_id").loc[pd.unique(test.clips), "path"])
    print("\n" + markdown_table(serving(ev, heads, cnn, test_files, labels, cfg)))


if __name__ == "__main__":
    main()
