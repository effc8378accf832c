"""Timing helper shared by the benchmarks (and by the peer's timer, which runs in the peer's
venv: numpy is the only import).
"""

import time

import numpy as np


def timed(fn, repeat):
    """(median, 90th percentile) milliseconds of ``repeat`` calls of ``fn``, after one warm-up."""
    fn()  # warm-up
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(1000 * (time.perf_counter() - t))
    return float(np.median(out)), float(np.percentile(out, 90))
