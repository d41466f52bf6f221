"""How long the CSMS takes to answer each station message, from reading it to sending the answer.

A station measures its own round trip, which also holds the network and its own CPU (500 simulated
stations in one process wait on each other there); this is the server's part alone, per action, so
an operator (and the load benchmark) can tell the two apart. It does not hold the time a message
waits in the socket before the CSMS reads it.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque

import numpy as np

#: Answer times kept (the latest), over all actions [-].
KEPT = 200_000
_ACTION = re.compile(r'^\s*\[\s*2\s*,\s*"[^"]*"\s*,\s*"([A-Za-z0-9]+)"')


def call_action(raw: str) -> str | None:
    """The action of an OCPP-J Call (``[2, "id", "Action", {...}]``), else ``None``."""
    m = _ACTION.match(raw)
    return m.group(1) if m else None


class AnswerTimes:
    def __init__(self, kept: int = KEPT):
        self._times: deque[tuple[str, float, float]] = deque(maxlen=kept)   # (action, seconds, answered at [epoch s])
        self._lock = threading.Lock()

    def record(self, action: str, seconds: float) -> None:
        with self._lock:
            self._times.append((action, seconds, time.time()))

    def listed(self, since: float | None = None) -> list[list]:
        """Each answer kept (answered after ``since``, epoch s): ``[when it was read (epoch s), action, ms]``,
        to set the answers beside what the server did then (a plan's pushes, its files stored)."""
        with self._lock:
            times = list(self._times)
        after = since if since is not None else float("-inf")
        return [[round(at - s, 3), action, round(s * 1000.0, 2)] for action, s, at in times if at > after]

    def summary(self) -> dict[str, dict]:
        """Per action and ``all``: ``n``, ``p50_ms``, ``p99_ms``, ``max_ms`` of the answers kept."""
        with self._lock:
            times = list(self._times)
        by: dict[str, list[float]] = {}
        for action, s, _ in times:
            by.setdefault(action, []).append(s)
            by.setdefault("all", []).append(s)
        return {a: latency_stats(np.asarray(v) * 1000.0) for a, v in sorted(by.items())}


def latency_stats(ms: np.ndarray) -> dict:
    """``n``, ``p50_ms``, ``p99_ms``, ``max_ms`` of durations in milliseconds."""
    return {"n": int(len(ms)), "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2), "max_ms": round(float(ms.max()), 2)}
