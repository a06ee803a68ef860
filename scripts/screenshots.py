"""Screenshots of the service's page for the README: a real clip's answer, the model view, and the answer at phone
width, as docs/page-classify.png, docs/page-model.png and docs/page-phone.png.

    make screenshots                  # or: .venv/bin/python scripts/screenshots.py [--home H] [--clip SONG]

It serves the champion of the home (``--home``, else $GENRE_HOME, else .genre) with `genre serve` on a free port of
127.0.0.1, without a token, drives Debian's Chromium through Playwright (as the browser tests do), then stops the
server. Train a champion first, e.g. `genre run --data ../shared/data/gtzan-mini`.
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
CLIPS = ROOT.parent / "shared" / "data" / "gtzan-mini"
DESKTOP = {"width": 1000, "height": 760}
PHONE = {"width": 390, "height": 844}


@contextmanager
def serve(home: str, bento: str | None, log: Path) -> Iterator[str]:
    """`genre serve` of the home's champion (or of ``bento``) on a free port; yields its address, stops it at the
    end."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "GENRE_SERVE_TOKEN"}
    with log.open("wb") as out:
        cmd = [str(Path(sys.executable).with_name("genre")), "--home", home, "serve", "--port", str(port)]
        proc = subprocess.Popen(cmd + (["--bento", bento] if bento else []), env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while not _ready(base):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"`genre serve` did not get ready; its log: {log}")
            time.sleep(1)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def shoot(base: str, clip: Path, out: Path, chromium: str) -> list[Path]:
    """The three screenshots, full page, into ``out``."""
    from playwright.sync_api import expect, sync_playwright

    files = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for name, viewport in (("classify", DESKTOP), ("phone", PHONE)):
            page = browser.new_page(viewport=viewport, is_mobile=viewport is PHONE)
            page.goto(base)
            expect(page.locator("#limits")).not_to_be_empty()
            page.get_by_label("Choose an audio file").set_input_files(clip)
            expect(page.locator("#result")).to_be_visible(timeout=120_000)
            files.append(out / f"page-{name}.png")
            page.screenshot(path=files[-1], full_page=True)
            if name == "classify":
                page.get_by_role("link", name="The model").click()
                expect(page.locator("#model-body")).to_be_visible()
                page.wait_for_function("['roc', 'confusion'].every(id => document.getElementById(id).complete)")
                files.append(out / "page-model.png")
                page.screenshot(path=files[-1], full_page=True)
            page.close()
        browser.close()
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Screenshots of the service's page into docs/.")
    parser.add_argument("--home", default=os.environ.get("GENRE_HOME", ".genre"), help="whose champion to serve")
    parser.add_argument("--bento", help="serve this Bento instead of the champion's (`genre package` builds one "
                                        "with the page as it is now)")
    parser.add_argument("--clip", type=Path, default=CLIPS / "jazz" / "jazz.00006.wav", help="the song to drop")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where the PNGs go")
    parser.add_argument("--chromium", default=os.environ.get("GENRE_CHROMIUM", "/usr/bin/chromium"))
    args = parser.parse_args(argv)
    if not (Path(args.home) / "champion.json").is_file():
        parser.error(f"no champion in {args.home}: train one first (genre --home {args.home} run --data "
                     "../shared/data/gtzan-mini) or pass --home")
    for path, what in ((args.clip, "--clip"), (Path(args.chromium), "--chromium (apt-get install chromium)")):
        if not path.is_file():
            parser.error(f"{path} not found: {what}")
    args.out.mkdir(parents=True, exist_ok=True)
    with serve(args.home, args.bento, Path(tempfile.gettempdir()) / "genre-screenshots-serve.log") as base:
        for path in shoot(base, args.clip, args.out, args.chromium):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
