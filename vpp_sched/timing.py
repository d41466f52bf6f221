"""Where a planning run's time goes: HiGHS's own solves, and everything else (the modelling overhead).

Every ``highspy.Highs.run`` of the planner goes through :func:`run_highs`, which records the
call's wall-clock interval on each open :class:`HighsClock`. Calls that overlap (decomposed
blocks on a thread pool) count once: the clock measures the wall time during which HiGHS was
working, so ``wall - clock.seconds`` is the time nothing but Python (or I/O) ran. HiGHS runs in
other processes (a Dask ``LocalCluster``) are not seen and count as overhead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_open: list[HighsClock] = []


class HighsClock:
    """The intervals of the HiGHS runs made while it was open."""

    def __init__(self) -> None:
        self.intervals: list[tuple[float, float]] = []

    @property
    def runs(self) -> int:
        return len(self.intervals)

    @property
    def seconds(self) -> float:
        """Wall time covered by at least one run [s] (overlapping runs count once)."""
        return union_seconds(self.intervals)


def union_seconds(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of ``(start, end)`` intervals."""
    total, end = 0.0, -float("inf")
    for a, b in sorted(intervals):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def record(start: float, end: float) -> None:
    """Count ``[start, end]`` (``time.perf_counter``) as HiGHS time on every open clock."""
    if _open:
        with _lock:
            for clock in _open:
                clock.intervals.append((start, end))


def run_highs(h):
    """``h.run()``, timed on every open clock."""
    t0 = time.perf_counter()
    try:
        return h.run()
    finally:
        record(t0, time.perf_counter())


@contextmanager
def highs_clock() -> Iterator[HighsClock]:
    """A clock of the HiGHS runs made (in any thread of this process) until the block ends."""
    clock = HighsClock()
    with _lock:
        _open.append(clock)
    try:
        yield clock
    finally:
        with _lock:
            _open[:] = [c for c in _open if c is not clock]
