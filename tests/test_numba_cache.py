"""librosa's numba kernels compile in one process at a time: parallel compiles can corrupt numba's cache."""

import os
import subprocess
import sys
import time
from pathlib import Path

from genre.atomic import locked

CHILD = """
import numpy as np
from genre.config import FeatureConfig
from genre.features.extractor import clip_features
y = np.random.default_rng(1).standard_normal(3 * 22050).astype(np.float32)
print(clip_features(y, FeatureConfig()).features.shape)
"""


def _waiting_for_a_lock(pid: int) -> bool:
    """True when /proc/locks shows ``pid`` blocked on a lock (a line with '->')."""
    rows = [line.split() for line in Path("/proc/locks").read_text().splitlines()]
    return any("->" in row and row[-4] == str(pid) for row in rows)


def test_a_second_process_waits_for_the_compile_lock_before_touching_numbas_cache(tmp_path):
    numba_cache = tmp_path / "numba"
    env = {**os.environ, "TMPDIR": str(tmp_path), "NUMBA_CACHE_DIR": str(numba_cache)}
    with locked(tmp_path / f"genre-numba-{os.getuid()}"):
        child = subprocess.Popen([sys.executable, "-c", CHILD], env=env, stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not _waiting_for_a_lock(child.pid):
            assert child.poll() is None, "the child finished while another process held the compile lock"
            assert time.monotonic() < deadline, "the child never waited for the compile lock"
            time.sleep(0.2)
        assert not list(numba_cache.rglob("*.nb[ic]")), "librosa compiled before taking the lock"
    out, _ = child.communicate(timeout=300)
    assert child.returncode == 0
    assert out.strip().startswith("(")
    assert list(numba_cache.rglob("*.nbi")), "the child filled numba's cache once it held the lock"
