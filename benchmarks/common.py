"""What every benchmark of the course shares: timing by the median of repeats, and a note on how
busy the machine was (a number measured while other jobs ran is marked, never passed off as idle).

    from common import busy_note, median_seconds
"""
from __future__ import annotations

import os
import statistics
import time

BUSY_LOAD_PER_CORE = 0.5    # 1-minute load average per core above which a row is marked "busy"


def load_per_core() -> float:
    """The 1-minute load average divided by the number of cores (0 where the OS has none)."""
    try:
        return os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:          # Windows
        return 0.0


def busy_note() -> str:
    """'' on an idle machine, else a marker for the row measured now (load average per core)."""
    load = load_per_core()
    return f" (busy: load {load:.1f}/core)" if load > BUSY_LOAD_PER_CORE else ""


def machine_line() -> str:
    """One line for the top of a results table: the load when the run started."""
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "load average: unknown"
    cores = os.cpu_count() or 1
    busy = one / cores > BUSY_LOAD_PER_CORE
    state = "BUSY: absolute numbers are pessimistic" if busy else "idle"
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {cores} cores: {state}"


def median_seconds(fn, repeats: int = 5, warmup: int = 1, clock=time.perf_counter) -> float:
    """The median time of ``fn()`` over ``repeats`` calls after ``warmup`` untimed ones, on
    ``clock`` (wall time; ``time.process_time`` for this process's CPU time, which stays close to
    an idle machine's on a shared one)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times)
