"""Screenshots of a completed pipeline run in the Prefect UI: its flow run graph and its artifacts (for the README).

    .venv/bin/python scripts/ui_screenshot.py          # a temporary server, a small run on the SYNTHETIC demo set
    .venv/bin/python scripts/ui_screenshot.py --api http://127.0.0.1:4200/api [--flow-run ID]   # an existing run

Headless Chromium (Debian's ``chromium`` package) through Playwright. Writes ``docs/prefect-run-graph.png`` (the
graph of stage flows and the run's Artifacts tab), ``docs/prefect-run-report.png`` (its report artifact) and
``docs/prefect-run-artifacts.png`` (the Artifacts page). Without ``--api`` it starts a Prefect server on a free
port of 127.0.0.1 with its own PREFECT_HOME and GENRE_HOME in a temporary folder, runs ``genre run`` against it
and stops it at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
DEMO = ["workers=2", "classical.search_iterations=2", "cnn.epochs=3", "gate.bootstrap=100", "classical.bootstrap=100"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def temporary_server(folder: Path) -> Iterator[str]:
    """A Prefect server on 127.0.0.1 with its own PREFECT_HOME under ``folder``; yields its API URL."""
    api = f"http://127.0.0.1:{_free_port()}/api"
    env = {**os.environ, "PREFECT_HOME": str(folder / "prefect"), "PREFECT_API_URL": api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    port = api.rsplit(":", 1)[1].split("/")[0]
    with open(folder / "server.log", "wb") as log:
        server = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", port],
                                  env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"the Prefect server did not start: see {folder / 'server.log'}")
            time.sleep(0.5)
        yield api
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=60)


def demo_run(api: str, home: Path) -> None:
    """``genre run`` on the SYNTHETIC demo set with small settings, reporting to ``api``."""
    env = {**os.environ, "PREFECT_API_URL": api, "GENRE_HOME": str(home)}
    cmd = [str(BIN / "genre"), "run", *[a for kv in DEMO for a in ("--set", kv)]]
    print("running", " ".join(cmd), flush=True)
    subprocess.run(cmd, env=env, cwd=ROOT, check=True)


def latest_run(api: str) -> str:
    """The id of the newest completed top-level run of ``genre-pipeline`` or ``retrain``."""
    with httpx.Client(base_url=api, timeout=30) as client:
        runs = client.post("/flow_runs/filter", json={
            "flows": {"name": {"any_": ["genre-pipeline", "retrain"]}},
            "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}, "parent_task_run_id": {"is_null_": True}},
            "sort": "START_TIME_DESC", "limit": 1}).raise_for_status().json()
    if not runs:
        raise SystemExit(f"no completed genre-pipeline or retrain run on {api}")
    return runs[0]["id"]


def screenshot(api: str, run_id: str, out: Path, width: int, height: int) -> list[Path]:
    """PNGs in ``out``: the run's page (its graph of stage flows, its Artifacts tab), its report artifact, and the
    Artifacts page (the newest artifact of each key: on a temporary server, this run's)."""
    from playwright.sync_api import sync_playwright

    ui = api.removesuffix("/api")
    with httpx.Client(base_url=api, timeout=30) as client:
        [report] = client.post("/artifacts/filter", json={"artifacts": {
            "key": {"any_": ["genre-pipeline-report"]}, "flow_run_id": {"any_": [run_id]}}}).raise_for_status().json()
    shots = {"graph": out / "prefect-run-graph.png", "report": out / "prefect-run-report.png",
             "artifacts": out / "prefect-run-artifacts.png"}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(f"{ui}/runs/flow-run/{run_id}", wait_until="networkidle")
        page.locator("canvas").wait_for()
        page.wait_for_timeout(10_000)  # the graph is laid out and drawn after the data arrives
        page.locator("li.p-tab#artifacts").click()
        page.wait_for_timeout(3000)
        page.screenshot(path=str(shots["graph"]))
        for name, url in (("report", f"{ui}/artifacts/artifact/{report['id']}"), ("artifacts", f"{ui}/artifacts")):
            page.goto(url, wait_until="networkidle")
            page.wait_for_timeout(3000)
            page.screenshot(path=str(shots[name]))
        browser.close()
    for path in shots.values():
        print(f"wrote {path}")
    return list(shots.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", help="API of a running Prefect server (default: start a temporary one and run the "
                                      "demo on it)")
    parser.add_argument("--flow-run", help="flow run id (default: the newest completed pipeline or retrain run)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for the PNGs (default: docs/)")
    parser.add_argument("--size", default="1600x1000", help="browser window, WIDTHxHEIGHT (default: 1600x1000)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    args.out.mkdir(parents=True, exist_ok=True)
    if args.api:
        screenshot(args.api, args.flow_run or latest_run(args.api), args.out, width, height)
        return 0
    with tempfile.TemporaryDirectory(prefix="genre-ui-") as tmp, temporary_server(Path(tmp)) as api:
        demo_run(api, Path(tmp) / "home")
        screenshot(api, args.flow_run or latest_run(api), args.out, width, height)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
