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
import heapq
import threading
import time
from collections import deque

import numpy as np

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
        return {"n": int(len(ms)), "p50_ms": round(float(np.percentile(ms, 50)), 2),
                "p99_ms": round(float(np.percentile(ms, 99)), 2), "max_ms": round(float(ms.max()), 2),
                "over_50_ms": int((ms > 50.0).sum()),
                "worst": [[round(s * 1000.0, 1), _iso(at)] for at, s in worst]}


def _iso(epoch_s: float) -> str:
    return dt.datetime.fromtimestamp(epoch_s, dt.timezone.utc).isoformat(timespec="milliseconds")
