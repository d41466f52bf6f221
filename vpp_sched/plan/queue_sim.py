"""A seeded discrete-event simulation of a fast-charging station's queue, to check the Erlang-C
model of :mod:`vpp_sched.problem.queueing` against random arrivals (models/fast_charging.md).

Drivers arrive as a Poisson process whose rate is constant within a slot (``arrivals_per_hour``),
each wanting an exponentially distributed energy of the slot's mean; the ``c`` dispensers serve
first come, first served; a session starting in slot ``t`` charges at ``min(dispenser_max_kw,
cap_kw[t] / c)`` to its end. The same seed gives the same numbers.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

#: Days simulated per station (replications of the horizon): enough for P(wait > target) to about ±0.01.
SIM_DAYS = 40
SIM_SEED = 20261201


@dataclass(frozen=True)
class QueueStats:
    """What the simulation measured over all replications."""

    sessions: int
    mean_wait_min: float
    p_wait_over_target: float
    served_kwh_per_day: float


def simulate_station(lam_per_h: np.ndarray, energy_kwh: np.ndarray, cap_kw: np.ndarray, dispensers: int,
                     dispenser_max_kw: float, dt_h: float, target_wait_h: float, seed: int = SIM_SEED,
                     days: int = SIM_DAYS) -> QueueStats:
    """Replicate the horizon ``days`` times with ``numpy.random.default_rng(seed)``.

    A driver still waiting at the horizon's end counts with the wait until then (censored).
    """
    rng = np.random.default_rng(seed)
    T = len(lam_per_h)
    power = np.minimum(dispenser_max_kw, np.asarray(cap_kw, float) / dispensers)   # [T] per busy dispenser
    waits, served = [], 0.0
    for _ in range(days):
        counts = rng.poisson(np.asarray(lam_per_h, float) * dt_h)
        slot = np.repeat(np.arange(T), counts)
        arrive = (slot + rng.random(len(slot))) * dt_h
        order = np.argsort(arrive, kind="stable")
        arrive, slot = arrive[order], slot[order]
        energy = rng.exponential(1.0, len(slot)) * np.asarray(energy_kwh, float)[slot]
        w, e = _fcfs(arrive, energy, power, dispensers, dt_h, T * dt_h)
        waits.append(w)
        served += e
    w = np.concatenate(waits) if waits else np.zeros(0)
    return QueueStats(sessions=len(w), mean_wait_min=float(w.mean() * 60) if len(w) else 0.0,
                      p_wait_over_target=float((w > target_wait_h).mean()) if len(w) else 0.0,
                      served_kwh_per_day=served / days)


def _fcfs(arrive: np.ndarray, energy: np.ndarray, power: np.ndarray, c: int, dt_h: float,
          horizon_h: float) -> tuple[np.ndarray, float]:
    """Waits [h] of drivers in arrival order on ``c`` dispensers, and the energy they were given [kWh]."""
    free = [0.0] * c                       # when each dispenser is next free [h]
    waits = np.zeros(len(arrive))
    given = 0.0
    T = len(power)
    for i, (a, e) in enumerate(zip(arrive, energy)):
        start = max(a, heapq.heappop(free))
        t = min(int(start / dt_h), T - 1)
        while t < T and power[t] <= 0:      # no power under a zero cap: wait for the next slot with some
            t += 1
        if t >= T or start >= horizon_h:
            waits[i] = horizon_h - a
            heapq.heappush(free, horizon_h)
            continue
        start = max(start, t * dt_h)
        waits[i] = start - a
        given += e
        heapq.heappush(free, start + e / power[t])
    return waits, given
