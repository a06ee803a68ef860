"""Start and stop real servers (Prefect, BentoML) on 127.0.0.1 for integration tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import ROOT

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    """Poll ``check`` until it is true; fail with ``what`` (and the process's exit) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}")
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{what}: not ready after {timeout} s")


def start(cmd: list[str], env: dict[str, str], log: Path, cwd: Path | None = None) -> subprocess.Popen:
    handle = open(log, "wb")
    return subprocess.Popen(cmd, env=env, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen, sig: int = signal.SIGINT, timeout: float = 20) -> None:
    """Stop a process group politely, then firmly."""
    if proc.poll() is not None:
        return
    for s in (sig, signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, s)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def prefect_server(folder: Path) -> Iterator[dict[str, str]]:
    """A real Prefect server on 127.0.0.1 with its own PREFECT_HOME (SQLite) in ``folder``; yields the environment
    that reaches it (deployments made with it run in the repo root)."""
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(folder / "prefect"), "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "INFO", "PWD": str(ROOT)}
    (folder / "prefect").mkdir()
    server = start([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)], env,
                   folder / "server.log")
    try:
        wait_until(lambda: httpx.get(f"{env['PREFECT_API_URL']}/health", timeout=2).status_code == 200, 120,
                   "prefect server", server)
        yield env
    finally:
        stop(server)


def prefect(env: dict[str, str], *args: str) -> str:
    """Run the ``prefect`` command in the repo root; fail with its output unless it succeeds."""
    proc = subprocess.run([str(BIN / "prefect"), *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, f"prefect {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


class PrefectAPI(httpx.Client):
    """An httpx client of a Prefect server that retries while the server answers 503, as Prefect's own client
    does: the server answers 503 for errors a client may retry, such as its SQLite database staying locked while its
    services write (seen once in CI, creating a flow run just after deployments were registered)."""

    def send(self, request: httpx.Request, **kwargs) -> httpx.Response:
        response = super().send(request, **kwargs)
        for delay in (1, 2, 4, 8):
            if response.status_code != 503:
                break
            response.close()
            time.sleep(delay)
            response = super().send(request, **kwargs)
        return response


def start_run(api: str, name: str, parameters: dict) -> str:
    """Start a flow run of deployment ``name`` through the API; returns its id."""
    with PrefectAPI(base_url=api, timeout=30) as client:
        deployment = client.get(f"/deployments/name/{name}").raise_for_status().json()
        return client.post(f"/deployments/{deployment['id']}/create_flow_run",
                           json={"parameters": parameters}).raise_for_status().json()["id"]


def wait_run(api: str, run_id: str, timeout: float) -> dict:
    """The final state of flow run ``run_id``, polled through the API."""
    with PrefectAPI(base_url=api, timeout=30) as client:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = client.get(f"/flow_runs/{run_id}").raise_for_status().json()["state"]
            if state["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                return state
            time.sleep(2)
    raise TimeoutError(f"flow run {run_id} did not finish in {timeout} s")


def run_deployment(api: str, name: str, parameters: dict, timeout: float) -> dict:
    """Start a flow run of deployment ``name`` through the API and wait for its final state."""
    return wait_run(api, start_run(api, name, parameters), timeout)
