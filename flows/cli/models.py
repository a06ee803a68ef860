"""`genre models list | show | promote | rollback`: the registry of trained models and the champion."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from flows.cli.common import home_dir


def _table(rows: list[dict[str, Any]]) -> str:
    """A plain aligned text table (the first row's keys are the columns)."""
    cols = list(rows[0])
    cells = [{c: "" if r.get(c) is None else str(r[c]) for c in cols} for r in rows]
    widths = {c: max(len(c), *(len(r[c]) for r in cells)) for c in cols}
    lines = ["  ".join(c.ljust(widths[c]) for c in cols), "  ".join("-" * widths[c] for c in cols)]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in cols) for r in cells]
    return "\n".join(lines)


def _open_store(args: argparse.Namespace) -> tuple[str, Any]:
    from genre.config import load_config
    from genre.serving import registry

    home = home_dir(args)
    registry.use_store(home)
    return home, load_config(None, home=home)


def cmd_list(args: argparse.Namespace) -> int:
    from genre.serving import registry

    home, cfg = _open_store(args)
    models = registry.list_models(cfg.model_name)
    if not models:
        print(f"no models in {home}: run `genre run` first")
        return 0
    current = registry.champion(home)
    rows = []
    for m in models:
        meta = m["metadata"]
        ensemble = meta.get("metrics", {}).get("ensemble", {})
        rows.append({"champion": "*" if current and current["tag"] == m["tag"] else "", "tag": m["tag"],
                     "created": m["created"], "test ROC-AUC": ensemble.get("roc_auc", ""),
                     "accuracy": ensemble.get("accuracy", ""), "candidate": meta.get("ensemble", "")[:48],
                     "data": meta.get("data_version", ""), "test split": meta.get("test_split", "")})
    print(_table(rows))
    print("\n* the champion, served by `genre serve`; `genre models show TAG` for a model's metadata and gate record")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from genre.serving import registry

    home, _ = _open_store(args)
    try:
        info = registry.model_info(args.tag)
    except Exception as exc:  # bentoml.exceptions.NotFound and friends
        print(f"error: no model {args.tag!r} in {home}: {exc}. `genre models list` shows the tags.", file=sys.stderr)
        return 2
    info["champion"] = (registry.champion(home) or {}).get("tag") == info["tag"]
    print(json.dumps(info, indent=2, default=str))
    return 0


def _check(tag: str, genres: list[str] | None) -> list[str]:
    """Load model ``tag`` as the service would; a ValueError if it cannot, or if it knows other ``genres``."""
    from genre.serving import registry
    from genre.serving.predictor import Predictor

    try:
        labels = Predictor.load(registry.model_path(tag)).labels
    except Exception as exc:
        raise ValueError(f"model {tag} does not load: {exc}") from exc
    if genres is not None and labels != genres:
        raise ValueError(f"model {tag} knows the genres {', '.join(labels)}, the champion {', '.join(genres)}: "
                         "clients would get other answers. Train on the same genres, or let `genre run` gate it")
    return labels


def _champion_genres(tag: str | None) -> list[str] | None:
    if tag is None:
        return None
    try:
        return _check(tag, None)
    except ValueError:  # a champion this code cannot load is no reference for the genres
        return None


def cmd_promote(args: argparse.Namespace) -> int:
    from genre.serving import registry

    home, _ = _open_store(args)
    try:
        with registry.transaction(home) as champions:
            if champions.current_tag == args.tag:
                print(f"{args.tag} is already the champion")
                return 0
            _check(args.tag, _champion_genres(champions.current_tag))
            meta = registry.model_info(args.tag)["metadata"]
            champions.promote({"tag": args.tag, "roc_auc": meta.get("metrics", {}).get("ensemble", {}).get("roc_auc"),
                               "test_split": meta.get("test_split")}, by="genre models promote")
    except ValueError as exc:
        print(f"error: {exc}; the champion is unchanged", file=sys.stderr)
        return 2
    print(f"champion is now {args.tag}; restart `genre serve` to serve it")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from genre.serving import registry

    home, _ = _open_store(args)
    try:
        with registry.transaction(home) as champions:
            dropped = champions.current_tag
            record = champions.rollback(by="genre models rollback")
            _check(record["tag"], _champion_genres(dropped))
    except ValueError as exc:
        print(f"error: {exc}; the champion is unchanged", file=sys.stderr)
        return 2
    print(f"champion is now {record['tag']} again (was {dropped}); restart `genre serve` to serve it")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from genre.serving import registry

    events = registry.history(home_dir(args)).events
    print(_table(events) if events else "no promotions yet")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list, inspect, promote or roll back trained models",
                       description="The registry: every model `genre run` packaged (BentoML's model store under "
                                   "<home>/bentoml) and the champion that `genre serve` serves. promote and rollback "
                                   "check that the model loads and knows the same genres, and change the champion "
                                   "under a lock shared with pipeline runs.",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  genre models list\n  genre models show genre-classifier:abc123\n"
                              "  genre models promote genre-classifier:abc123\n  genre models rollback\n"
                              "  genre models history")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    verbs.add_parser("list", help="every model, newest first; * marks the champion").set_defaults(func=cmd_list)
    show = verbs.add_parser("show", help="one model's metadata: data version, metrics, gate record, commit")
    show.add_argument("tag", help="model tag, NAME:VERSION")
    show.set_defaults(func=cmd_show)
    promote = verbs.add_parser("promote", help="make a model the champion (it must load and know the same genres)")
    promote.add_argument("tag", help="model tag, NAME:VERSION")
    promote.set_defaults(func=cmd_promote)
    verbs.add_parser("rollback", help="make the previous champion the champion again").set_defaults(func=cmd_rollback)
    verbs.add_parser("history", help="every promotion and rollback").set_defaults(func=cmd_history)
