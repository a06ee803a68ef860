"""What every command shares: config overrides, the home folder, the champion."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


def parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set expects KEY=VALUE (e.g. cnn.epochs=2), got {pair!r}")
        out[key.strip()] = parse_value(value)
    return out


def home_dir(args: argparse.Namespace) -> str:
    home = args.home or os.environ.get("GENRE_HOME", ".genre")
    os.environ["GENRE_HOME"] = home
    return home


def prefect_env() -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # the embedded API's first start on a fresh database can take longer than Prefect's 20 s default on 2 cores
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    if os.environ.get("PREFECT_HOME"):
        Path(os.environ["PREFECT_HOME"]).expanduser().mkdir(parents=True, exist_ok=True)


def config_args(sub: argparse.ArgumentParser, example: str) -> None:
    sub.add_argument("--config", help="TOML file with config sections (see genre/config.py)")
    sub.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help=f"override one config value, e.g. {example} (repeatable)")



def champion_record(args: argparse.Namespace) -> tuple[str, dict[str, Any]] | None:
    """The home folder and its champion record; says what to do when there is none."""
    from genre.serving import registry

    home = home_dir(args)
    record = registry.champion(home)
    if record is None:
        print(f"no champion model in {home}: run `genre run` first", file=sys.stderr)
        return None
    return home, record
