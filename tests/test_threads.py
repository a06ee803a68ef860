"""BLAS at one thread where clips are analysed one at a time (genre/threads.py), checked in fresh processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def blas_threads_in_a_fresh_process(code: str) -> dict:
    """Run ``code`` in a new interpreter whose environment sets no BLAS threads; it prints JSON."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


PREFIX = """
import json, os
from threadpoolctl import threadpool_info
def blas():
    return sorted((i["filepath"].split("/")[-1], i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas")
"""


def test_one_blas_thread_holds_for_libraries_loaded_before_and_after() -> None:
    got = blas_threads_in_a_fresh_process(PREFIX + """
import numpy
before = blas()
from genre.threads import one_blas_thread
one_blas_thread()
import scipy.linalg  # its own OpenBLAS, loaded after the call
print(json.dumps({"before": before, "after": blas()}))
""")
    assert [n for _, n in got["before"]] == [os.cpu_count()]  # numpy's OpenBLAS, a thread per core by default
    assert len(got["after"]) == 2  # numpy's and scipy's
    assert all(n == 1 for _, n in got["after"])


def test_one_blas_thread_inside_restores_the_process_setting() -> None:
    got = blas_threads_in_a_fresh_process(PREFIX + """
import numpy, scipy.linalg
from genre.threads import one_blas_thread_inside
before = blas()
with one_blas_thread_inside():
    inside = blas()
print(json.dumps({"before": before, "inside": inside, "after": blas()}))
""")
    assert all(n == 1 for _, n in got["inside"])
    assert got["after"] == got["before"] and all(n == os.cpu_count() for _, n in got["before"])
