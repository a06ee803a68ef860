"""`genre monitor`: the monitor flow (drift, live quality, a report, a retrain past the thresholds) once, now."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from flows.cli.common import config_args, home_dir, parse_overrides, prefect_env


def cmd_monitor(args: argparse.Namespace) -> int:
    prefect_env()
    from flows.monitor import monitor
    from genre.config import MonitorConfig, nest

    sections = nest(parse_overrides(args.set))
    if set(sections) - {"monitor"}:
        print(f"genre monitor: --set takes monitor.KEY=VALUE only, got {sorted(set(sections) - {'monitor'})}",
              file=sys.stderr)
        return 2
    try:
        settings = MonitorConfig(**sections.get("monitor", {}))
        summary = monitor(config=args.config, home=home_dir(args), settings=settings, since=args.since,
                          retrain=not args.no_retrain)
    except (FileNotFoundError, ValueError) as exc:
        print(f"genre monitor: stopped: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    mon = sub.add_parser("monitor", help="check the served champion for drift and live accuracy; retrain if needed",
                         description="Read the prediction log of the last monitor.window_days (and the feedback), "
                                     "test each feature and the predicted-genre mix for drift against the champion's "
                                     "training clips, score live accuracy from feedback, write a report to "
                                     "<home>/runs/monitor-<time>/report.html, and past the thresholds start the "
                                     "retrain deployment (once per monitor.cooldown_hours). Uses Prefect's local API "
                                     "unless PREFECT_API_URL is set; the retrain needs a server with prefect.yaml "
                                     "deployed.")
    mon.add_argument("--since", type=datetime.fromisoformat, metavar="TIME",
                     help="start of the window, ISO 8601 (UTC unless it says otherwise); default: window_days ago")
    mon.add_argument("--no-retrain", action="store_true", help="report only: start no retrain whatever it finds")
    config_args(mon, "monitor.min_requests=20")
    mon.set_defaults(func=cmd_monitor)
