"""M/M/c (Erlang-C) waiting times of a fast-charging station, and the smallest power cap that keeps
the expected wait under a target (models/fast_charging.md).

The dispensers are the ``c`` servers. Under a station power cap ``cap_kw`` each busy dispenser
gets ``p = min(dispenser_max_kw, cap_kw / c)`` (the cap shared equally when all are busy: the
conservative case), so a session of mean energy ``E`` takes ``E / p`` hours on average: the service
rate is ``mu = p / E`` [1/h]; arrivals are Poisson at ``lam`` [1/h]; service times exponential.
"""

from __future__ import annotations

import math

import numpy as np

#: Bisection steps of the minimum cap: the cap is found to (c x max) / 2**60, far below a watt.
CAP_BISECTION_STEPS = 60


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in M/M/c with offered load ``a = lam / mu`` < c [-].

    By the Erlang-B recursion ``B(k) = a B(k-1) / (k + a B(k-1))``, ``C = c B / (c - a (1 - B))``,
    stable for any ``c``; 1 when ``a >= c`` (the queue grows without bound).
    """
    if a <= 0:
        return 0.0
    if a >= c:
        return 1.0
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return c * b / (c - a * (1.0 - b))


def mmc_wait_h(lam_per_h: float, mu_per_h: float, c: int) -> float:
    """Expected wait in the queue ``Wq = C(c, a) / (c mu - lam)`` [h]; inf when ``lam >= c mu``, 0 without arrivals."""
    if lam_per_h <= 0:
        return 0.0
    if mu_per_h <= 0 or lam_per_h >= c * mu_per_h:
        return math.inf
    return erlang_c(c, lam_per_h / mu_per_h) / (c * mu_per_h - lam_per_h)


def mmc_p_wait_over(lam_per_h: float, mu_per_h: float, c: int, t_h: float) -> float:
    """``P(Wq > t) = C(c, a) exp(-(c mu - lam) t)`` [-]; 1 when unstable, 0 without arrivals."""
    if lam_per_h <= 0:
        return 0.0
    if mu_per_h <= 0 or lam_per_h >= c * mu_per_h:
        return 1.0
    return erlang_c(c, lam_per_h / mu_per_h) * math.exp(-(c * mu_per_h - lam_per_h) * t_h)


def wait_at_cap(cap_kw: float, lam_per_h: float, energy_kwh: float, c: int, dispenser_max_kw: float,
                target_h: float) -> tuple[float, float]:
    """``(Wq [h], P(Wq > target))`` of the station under power cap ``cap_kw``."""
    if lam_per_h <= 0 or energy_kwh <= 0:
        return 0.0, 0.0
    mu = min(dispenser_max_kw, cap_kw / c) / energy_kwh
    return mmc_wait_h(lam_per_h, mu, c), mmc_p_wait_over(lam_per_h, mu, c, target_h)


def min_cap_kw(lam_per_h: float, energy_kwh: float, c: int, dispenser_max_kw: float, target_h: float) -> float:
    """The smallest cap whose expected wait is at most ``target_h`` [kW]; ``c x dispenser_max_kw`` when even
    that is not enough (the wait then stays above target whatever the grid gives), 0 without demand.

    ``Wq`` falls as the cap rises (a faster service), so bisection between the stable limit
    ``lam x E`` and all dispensers at full power finds it.
    """
    top = c * dispenser_max_kw
    if lam_per_h <= 0 or energy_kwh <= 0:
        return 0.0
    if wait_at_cap(top, lam_per_h, energy_kwh, c, dispenser_max_kw, target_h)[0] > target_h:
        return top
    lo, hi = min(lam_per_h * energy_kwh, top), top
    for _ in range(CAP_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        if wait_at_cap(mid, lam_per_h, energy_kwh, c, dispenser_max_kw, target_h)[0] <= target_h:
            hi = mid
        else:
            lo = mid
    return hi


def min_cap_series_kw(lam_per_h: np.ndarray, energy_kwh: np.ndarray, c: int, dispenser_max_kw: float,
                      target_h: float) -> np.ndarray:
    """:func:`min_cap_kw` per slot [kW]."""
    return np.array([min_cap_kw(float(lam), float(e), c, dispenser_max_kw, target_h)
                     for lam, e in zip(lam_per_h, energy_kwh)], dtype=float)
