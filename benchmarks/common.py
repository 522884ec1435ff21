"""What every benchmark of the course shares: timing by the median of repeats, and a note on how
busy the machine was (a number measured while other jobs ran is marked, never passed off as idle;
on Linux "other jobs" is measured: the machine's CPU time minus the benchmark's own).

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


def cpu_snapshot() -> tuple[float, float | None, float]:
    """``(wall clock, busy CPU seconds of the whole machine or None, CPU seconds of this
    process)`` now; the machine's from ``/proc/stat`` (Linux; None elsewhere)."""
    busy = None
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)      # idle + iowait
        busy = (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    return time.perf_counter(), busy, time.process_time()


def others_load_per_core(since: tuple, now: tuple | None = None) -> float | None:
    """The share of the cores that *other* processes kept busy since ``since`` (a
    ``cpu_snapshot()``) until ``now`` (default: now): the machine's busy time minus this
    process's own, per core and second. None where the OS does not say."""
    wall0, busy0, own0 = since
    wall1, busy1, own1 = now or cpu_snapshot()
    if busy0 is None or busy1 is None or wall1 <= wall0:
        return None
    return max(0.0, (busy1 - busy0) - (own1 - own0)) / ((wall1 - wall0) * (os.cpu_count() or 1))


def busy_note(since: tuple | None = None) -> str:
    """'' on an idle machine, else a marker for the row just measured. With ``since`` (a
    ``cpu_snapshot()`` from the start of the row): how much of the machine other processes used
    meanwhile (the benchmark's own threads do not count); without it, or where the OS does not
    say, the 1-minute load average per core (which counts the benchmark itself)."""
    others = others_load_per_core(since) if since is not None else None
    if others is not None:
        return f" (busy: others used {others:.0%} of the CPU)" if others > 0.1 else ""
    load = load_per_core()
    return f" (busy: load {load:.1f}/core)" if load > BUSY_LOAD_PER_CORE else ""


def machine_line(sample_seconds: float = 1.0) -> str:
    """One line for the top of a results table: how busy the machine is as the run starts (the
    share of the CPU other processes use over ``sample_seconds``; the load average where the OS
    does not say)."""
    cores = os.cpu_count() or 1
    since = cpu_snapshot()
    time.sleep(sample_seconds)
    others = others_load_per_core(since)
    if others is not None:
        state = "BUSY: absolute numbers are pessimistic" if others > 0.1 else "idle"
        return f"other processes use {others:.0%} of {cores} cores: {state}"
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "load average: unknown"
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
