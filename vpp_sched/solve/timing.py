"""Where a planning run's time goes: HiGHS's own solves, and everything else (the modelling overhead).

Every ``highspy.Highs.run`` of the planner goes through :func:`run_highs`, which records the
call's wall-clock interval on each :class:`HighsClock` open in its context. Calls that overlap
(decomposed blocks on a thread pool) count once: the clock measures the wall time during which
HiGHS was working, so ``wall - clock.seconds`` is the time nothing but Python (or I/O) ran.

Open clocks live in a context variable: the tasks of :class:`~vpp_sched.solve.parallel.ThreadExecutor`
run in a copy of the caller's context, so a plan's clock sees its own blocks' runs, and plans made
side by side on threads (a study's cases) each see only their own. HiGHS runs in other processes
(a Dask ``LocalCluster`` or a scheduler's workers) are timed there and recorded here when their
task's result comes back (:class:`~vpp_sched.solve.parallel.DaskExecutor`), placed by the wall clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_lock = threading.Lock()
_open: ContextVar[tuple] = ContextVar("vpp_sched_highs_clocks", default=())


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
    """Count ``[start, end]`` (``time.perf_counter``) as HiGHS time on the clocks open in this context."""
    clocks = _open.get()
    if clocks:
        with _lock:
            for clock in clocks:
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
    """A clock of the HiGHS runs made in this context (and the thread-pool tasks it starts) until
    the block ends."""
    clock = HighsClock()
    token = _open.set(_open.get() + (clock,))
    try:
        yield clock
    finally:
        _open.reset(token)
