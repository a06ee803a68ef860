"""BLAS at one thread in processes that analyse clips one at a time.

numpy's and scipy's OpenBLAS start a thread per core and keep the extra ones spinning between calls. On the small
matrices of one clip (mel filter banks, feature statistics) the second thread adds no speed but keeps a second core
busy: one clip cost 0.28 CPU-seconds with two BLAS threads and 0.14 with one, in the same wall time (AMD EPYC,
2 cores; BENCHMARKS.md, serving). Processes that analyse clips (feature workers, the service, ``genre predict``)
therefore run BLAS at one thread and get their parallelism from several clips at once, as Dask's workers do.
TensorFlow's own thread pool is not touched: its two threads do shorten a forward pass.
"""

from __future__ import annotations

import os
from typing import Any

from threadpoolctl import threadpool_limits


def one_blas_thread() -> None:
    """For the rest of this process: BLAS libraries loaded now at one thread, and those loaded later too."""
    os.environ["OPENBLAS_NUM_THREADS"] = "1"  # read by an OpenBLAS when it is loaded
    threadpool_limits(limits=1, user_api="blas")


def one_blas_thread_inside() -> Any:
    """Context manager: BLAS at one thread inside, the process's own setting restored after."""
    return threadpool_limits(limits=1, user_api="blas")
