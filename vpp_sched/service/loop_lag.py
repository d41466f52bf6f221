"""How late the event loop runs what is due: a ticker that should wake every ``TICK_S``.

Every station's message is read, answered and sent on the one event loop, so anything that holds it
(a long call in a handler, a thread holding the GIL) delays every answer at once. The ticker sleeps
``TICK_S`` and records how much later than asked it woke: the loop's lag. Its p99 and maximum beside
the CSMS's answer times (``GET /csms/answer-times``) tell a slow loop (all answers late together)
from a slow database write (the ones waiting on it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import heapq
import threading
import time
from collections import deque

import numpy as np

from vpp_sched.service.answer_times import latency_stats

#: How often the ticker asks to wake [s]: often enough to see a 20 ms hold, rarely enough to cost nothing.
TICK_S = 0.01
#: Lags kept (the latest; 10 minutes at 100 a second) [-].
KEPT = 60_000
#: The longest lags listed with their times, to match them with what the server did then [-].
WORST = 10


class LoopLag:
    """The lags of the loop :meth:`run` runs on [s], the latest :data:`KEPT`."""

    def __init__(self, tick_s: float = TICK_S, kept: int = KEPT):
        self.tick_s = tick_s
        self._lags: deque[tuple[float, float]] = deque(maxlen=kept)   # (when it ended [epoch s], lag [s])
        self._lock = threading.Lock()

    async def run(self) -> None:
        """Tick until cancelled."""
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(self.tick_s)
            self.record(time.perf_counter() - t0 - self.tick_s)

    def record(self, lag_s: float) -> None:
        with self._lock:
            self._lags.append((time.time(), max(lag_s, 0.0)))

    def summary(self, since: dt.datetime | None = None) -> dict:
        """``n``, ``p50_ms``, ``p99_ms``, ``max_ms`` of the lags kept, ``over_50_ms``: how many were
        longer (each a moment every answer waited at least that long), and ``worst``: the longest
        ``[ms, when it ended (UTC, ISO 8601)]``, longest first; of the lags kept, or of those ending after
        ``since`` (e.g. a load test's start, leaving out the server's own start-up)."""
        after = since.timestamp() if since is not None else float("-inf")
        with self._lock:
            lags = [(at, s) for at, s in self._lags if at > after]
        if not lags:
            return {"n": 0}
        ms = np.asarray([s for _, s in lags]) * 1000.0
        worst = heapq.nlargest(WORST, lags, key=lambda x: x[1])
        return {**latency_stats(ms), "over_50_ms": int((ms > 50.0).sum()),
                "worst": [[round(s * 1000.0, 1), _iso(at)] for at, s in worst]}


def _iso(epoch_s: float) -> str:
    return dt.datetime.fromtimestamp(epoch_s, dt.timezone.utc).isoformat(timespec="milliseconds")


class GcPauses:
    """How long Python's cyclic garbage collector stopped the process, per generation [ms].

    A collection runs on whichever thread allocates, holding the GIL: every thread, the event loop too,
    waits for it. A full (generation 2) collection walks every tracked object, so the server freezes the
    ones its start-up made (modules, the planner's libraries: :func:`freeze_startup`) and this tells
    whether the collector still shows among the loop's worst lags.
    """

    def __init__(self):
        self._t0: float | None = None
        self._ms: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._lock = threading.Lock()

    def install(self) -> None:
        gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        elif self._t0 is not None:
            with self._lock:
                self._ms[info["generation"]].append((time.perf_counter() - self._t0) * 1000.0)
            self._t0 = None

    def summary(self) -> dict:
        """Per generation: ``n`` collections, ``max_ms`` and ``total_ms`` of their pauses."""
        with self._lock:
            return {f"gen{g}": {"n": len(v), "max_ms": round(max(v, default=0.0), 2), "total_ms": round(sum(v), 1)}
                    for g, v in self._ms.items()}


def freeze_startup() -> None:
    """Move every object alive now (after start-up) out of the collector's reach (``gc.freeze``): they
    live as long as the server, and walking them made each full collection a long pause."""
    gc.collect()
    gc.freeze()
