"""Least-laxity-first charging: a fast feasible schedule when transformers are nearly full.

Slot by slot, the room under each transformer's limit goes to the plugged-in EVs with the least
laxity (whole slots left minus slots still needed at max power), each at up to its max power and
at least its min power (or not at all). It ignores prices, so it is no plan on its own; it is a
*feasibility* heuristic: the planner's LP rounding may leave EVs short near capacity where this
schedule serves them all, and the hosting study uses it as a certificate that a population fits.
"""

from __future__ import annotations

import numpy as np

from vpp_sched.problem.arrays import Problem

_EPS = 1e-9


def deliverable_kwh(p: Problem) -> np.ndarray:
    """[E] the most each EV can get in its whole slots at its max power (0 when its energy is below
    one slot at min power) [kWh]: what no grid limit is to blame for missing."""
    reachable = p.ev_available.sum(axis=1) * p.ev_max_power_kw * p.dt_h
    out = np.minimum(p.ev_energy_kwh, reachable)
    return np.where(p.ev_min_power_kw * p.dt_h > p.ev_energy_kwh + 1e-3, 0.0, out)


def least_laxity_power_kw(p: Problem, room_kw: np.ndarray | None = None, evs: np.ndarray | None = None,
                          need_kwh: np.ndarray | None = None) -> np.ndarray:
    """[E, T] least-laxity-first charging power [kW].

    ``room_kw`` [N, T]: power the scheduled EVs may add at each transformer (default: limit - base
    load + PV forecast); ``evs`` [E] bool: the EVs to schedule (default all; the others get 0);
    ``need_kwh`` [E]: energy to give each (default :func:`deliverable_kwh`). A charge that would
    leave less than one slot at min power to deliver is cut so that exactly that remains.
    """
    dt = p.dt_h
    need = (deliverable_kwh(p) if need_kwh is None else np.asarray(need_kwh, float)).copy()
    if evs is not None:
        need[~np.asarray(evs, bool)] = 0.0
    room = (p.limit_kw[:, None] - p.base_load_kw + p.pv_at_transformer_kw()) if room_kw is None else room_kw
    avail = np.asarray(p.ev_available, bool)
    slots_left = np.cumsum(avail[:, ::-1], axis=1)[:, ::-1]     # whole slots from t to the end
    pmax, pmin, where = p.ev_max_power_kw, p.ev_min_power_kw, p.ev_transformer
    power = np.zeros((p.n_evs, p.n_slots))
    for t in range(p.n_slots):
        here = np.flatnonzero(avail[:, t] & (need > _EPS))
        if not len(here):
            continue
        cap = np.maximum(room[:, t], 0.0)
        laxity = slots_left[here, t] - need[here] / (pmax[here] * dt)
        for e in here[np.argsort(laxity, kind="stable")]:   # few EVs per slot: a loop is fine
            n = where[e]
            pw = min(pmax[e], need[e] / dt, cap[n])
            rest = need[e] - pw * dt
            if _EPS < rest < pmin[e] * dt - _EPS:   # leave at least one slot at min power, or nothing
                pw = (need[e] - pmin[e] * dt) / dt
            if pw <= _EPS or pw < pmin[e] - _EPS:
                continue
            power[e, t] = pw
            cap[n] -= pw
            need[e] -= pw * dt
    return power
