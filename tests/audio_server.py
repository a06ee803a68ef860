"""A local HTTP server for ingestion tests and benches: real files, Range requests and misbehaving routes.

Routes, all under one folder of files:
  /<file>            the file (single byte ranges honoured, as real web servers do)
  /stall/<file>      sends the headers and a first chunk, then goes silent for ``stall_seconds``
  /truncated/<file>  announces the whole Content-Length, sends a third of the body, closes
Anything missing is a 404. ``latency`` and ``bandwidth`` (bytes/s per connection) let a bench
mimic a remote server.
"""

from __future__ import annotations

import mimetypes
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from genre.data.audio import ffmpeg_exe

CODECS = {"mp3": ["-c:a", "libmp3lame", "-b:a", "128k"], "flac": ["-c:a", "flac"], "ogg": ["-c:a", "libvorbis"],
          "m4a": ["-c:a", "aac"], "wav": ["-c:a", "pcm_s16le"], "webm": ["-c:a", "libopus"]}


def convert(src: Path, dst: Path, seconds: float | None = None) -> Path:
    """Re-encode ``src`` into ``dst`` (format from the suffix) with ffmpeg."""
    cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", "-y", "-i", str(src)]
    if seconds:
        cmd += ["-t", str(seconds)]
    subprocess.run([*cmd, *CODECS[dst.suffix[1:]], str(dst)], check=True, capture_output=True)
    return dst


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that hang up (timeouts, cancelled downloads) are expected here; report the rest."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class AudioServer:
    """``with AudioServer(folder) as srv: srv.url("a.mp3")``; counts requests per path."""

    def __init__(self, root: Path, stall_seconds: float = 30.0, latency: float = 0.0,
                 bandwidth: float | None = None) -> None:
        self.root, self.stall_seconds, self.latency, self.bandwidth = Path(root), stall_seconds, latency, bandwidth
        self.hits: Counter[str] = Counter()
        self._closing = threading.Event()
        self.httpd = _QuietServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/{path}"

    def __enter__(self) -> AudioServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def do_HEAD(self) -> None:
                self._serve(body=False)

            def do_GET(self) -> None:
                self._serve(body=True)

            def _serve(self, body: bool) -> None:
                path = self.path.split("?", 1)[0]
                server.hits[path] += 1
                mode, name = "plain", path.lstrip("/")
                for prefix in ("stall", "truncated"):
                    if name.startswith(prefix + "/"):
                        mode, name = prefix, name[len(prefix) + 1:]
                file = (server.root / name).resolve()
                if server.latency:
                    time.sleep(server.latency)
                if not file.is_relative_to(server.root.resolve()) or not file.is_file():
                    self.send_error(404, "File not found")
                    return
                data = file.read_bytes()
                start, end = 0, len(data)
                rng = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
                if rng and mode == "plain":
                    start = int(rng.group(1))
                    end = min(len(data), int(rng.group(2)) + 1) if rng.group(2) else len(data)
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Type", mimetypes.guess_type(name)[0] or "application/octet-stream")
                self.send_header("Content-Length", str(end - start))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if not body:
                    return
                chunk = data[start:end]
                if mode == "truncated":
                    self._send(chunk[: len(chunk) // 3])
                    self.close_connection = True
                elif mode == "stall":
                    self._send(chunk[:4096])
                    server._closing.wait(server.stall_seconds)
                    self.close_connection = True
                else:
                    self._send(chunk)

            def _send(self, chunk: bytes) -> None:
                step = 64 * 1024
                try:
                    for i in range(0, len(chunk), step):
                        self.wfile.write(chunk[i:i + step])
                        if server.bandwidth:
                            time.sleep(min(step, len(chunk) - i) / server.bandwidth)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        return Handler
