"""Pyomo phase family of ``models/lv_grid.md`` ("Phases"); :mod:`vpp_sched.model.lean_phases` is the same in numpy."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from vpp_sched.problem.arrays import Problem
from vpp_sched.problem.phases import PHASE_PAIRS, phase_ev_bounds_kw, phase_row_slots, unbalance_slots


def define_phase_limits(m: pyo.ConcreteModel, p: Problem) -> None:
    """``phase_ev[n,p,t]``: phase_ev_kw - sum_e share_e,p·(ev_power_kw - ev_discharge_kw) = 0;
    ``phase_limit[n,p,t]``: P_p - phase_overload_kw <= limit_kw / 3;
    ``phase_unbalance[n,k,t]`` (k the pair (p, q), in ``unbalance_slots``): P_q - (1 - u)·P_p + unbalance_slack_kw >= 0,
    with P_p = phase_ev_kw[n,p,t] + (net_load_kw[n,t] - sum_r phase_ev_kw[n,r,t]) / 3."""
    ph, T = p.phases, p.n_slots
    trafo = [] if ph is None else [int(n) for n in ph.transformer]
    mask = unbalance_slots(p) if trafo else np.zeros((0, T), bool)
    unb = [(trafo[l], int(t)) for l, t in zip(*np.nonzero(mask))]
    rows_at = phase_row_slots(p) if trafo else np.zeros((0, T), bool)
    m.NPT_phase = pyo.Set(initialize=[(trafo[l], q, int(t)) for l, t in zip(*np.nonzero(rows_at)) for q in range(3)],
                          dimen=3, ordered=True)
    m.NT_unbalance = pyo.Set(initialize=unb, dimen=2, ordered=True)
    m.NKT_unbalance = pyo.Set(initialize=[(n, k, t) for k in range(6) for n, t in unb], dimen=3, ordered=True)
    local = {n: i for i, n in enumerate(trafo)}
    low, up = phase_ev_bounds_kw(p) if trafo else (None, None)
    m.phase_ev_kw = pyo.Var(m.NPT_phase, bounds=lambda m, n, q, t: (float(low[local[n], q, t]), float(up[local[n], q, t])))
    m.phase_overload_kw = pyo.Var(m.NPT_phase, domain=pyo.NonNegativeReals)
    m.unbalance_slack_kw = pyo.Var(m.NT_unbalance, domain=pyo.NonNegativeReals)
    share = None if ph is None else np.asarray(ph.ev_share, float)

    def ev_on_phase(m, n, q, t):
        return sum(float(share[e, q]) * (m.ev_power_kw[e, t] - (m.ev_discharge_kw[e, t] if (e, t) in m.EVT_v2g else 0))
                   for e in m._evs_at.get((n, t), ()) if share[e, q] > 0)

    def power(m, n, q, t):      # P_q: the EVs on q and a third of the balanced rest
        return m.phase_ev_kw[n, q, t] + (m.net_load_kw[n, t] - sum(m.phase_ev_kw[n, r, t] for r in range(3))) / 3.0

    m.phase_ev = pyo.Constraint(m.NPT_phase, rule=lambda m, n, q, t: m.phase_ev_kw[n, q, t] - ev_on_phase(m, n, q, t) == 0)
    m.phase_limit = pyo.Constraint(m.NPT_phase, rule=lambda m, n, q, t: (
        power(m, n, q, t) - m.phase_overload_kw[n, q, t] <= float(p.limit_kw[n]) / 3.0))
    u = 0.0 if ph is None else ph.u

    def unbalance(m, n, k, t):
        pp, q = PHASE_PAIRS[k]
        return power(m, n, q, t) - (1.0 - u) * power(m, n, pp, t) + m.unbalance_slack_kw[n, t] >= 0

    m.phase_unbalance = pyo.Constraint(m.NKT_unbalance, rule=unbalance)


def phase_objective(m: pyo.ConcreteModel, p: Problem):
    """The phase slacks' cost: overload per phase like ``overload_kw``, unbalance at its own price."""
    return p.dt_h * (p.overload_penalty_cny_per_kwh * sum(m.phase_overload_kw.values())
                     + p.unbalance_penalty_cny_per_kwh * sum(m.unbalance_slack_kw.values()))
