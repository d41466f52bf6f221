"""Pyomo families of the swap and fast-charging stations (models/swap_stations.md,
models/fast_charging.md); :mod:`vpp_sched.model.lean_sites` builds the same rows for highspy.

``define_swap_stations`` and ``define_fast_charging`` run before ``define_transformer``, whose
``transformer_balance`` adds :func:`site_load` of each transformer and slot.
"""

from __future__ import annotations

import pyomo.environ as pyo

from vpp_sched.problem.arrays import Problem
from vpp_sched.problem.sites import Sites


def _sites(p: Problem) -> Sites:
    return p.sites if p.sites is not None else Sites()


def define_swap_stations(m: pyo.ConcreteModel, p: Problem) -> None:
    """Swap stations ``w``: ``swap_completed``, ``swap_energy``, ``swap_on_hand``, ``swap_bays``,
    ``swap_partial_room`` (formulas in :func:`vpp_sched.model.lean_sites.define_swap_stations`)."""
    st, dt, last = _sites(p), p.dt_h, p.n_slots - 1
    m.W = pyo.RangeSet(0, st.n_swap - 1)
    m.swap_charge_kw = pyo.Var(m.W, m.T, bounds=lambda m, w, t: (0.0, float(st.swap_charge_max_kw[w])))
    m.swap_unserved = pyo.Var(m.W, m.T, bounds=lambda m, w, t: (0.0, float(st.swap_demand[w, t])))
    m.swap_full_packs = pyo.Var(m.W, m.T, bounds=lambda m, w, t: (
        float(st.swap_final_full_min[w]) if t == last else 0.0, float(st.swap_packs[w])))
    m.swap_partial_kwh = pyo.Var(m.W, m.T, domain=pyo.NonNegativeReals)
    full_before = lambda m, w, t: m.swap_full_packs[w, t - 1] if t > 0 else float(st.swap_initial_full[w])  # noqa: E731
    partial_before = lambda m, w, t: m.swap_partial_kwh[w, t - 1] if t > 0 else float(st.partial0_kwh[w])  # noqa: E731
    served = lambda m, w, t: float(st.swap_demand[w, t]) - m.swap_unserved[w, t]  # noqa: E731
    e = lambda w: float(st.swap_pack_charge_kwh[w])  # noqa: E731
    m.swap_completed = pyo.Constraint(m.W, m.T, rule=lambda m, w, t: (
        m.swap_full_packs[w, t] - full_before(m, w, t) + served(m, w, t) >= 0))
    m.swap_energy = pyo.Constraint(m.W, m.T, rule=lambda m, w, t: (
        m.swap_partial_kwh[w, t] - partial_before(m, w, t) - float(st.swap_efficiency[w]) * dt * m.swap_charge_kw[w, t]
        + e(w) * (m.swap_full_packs[w, t] - full_before(m, w, t) + served(m, w, t)) == 0))
    m.swap_on_hand = pyo.Constraint(m.W, m.T, rule=lambda m, w, t: (     # served <= F[t-1]
        m.swap_unserved[w, t] + full_before(m, w, t) >= float(st.swap_demand[w, t])))
    m.swap_bays = pyo.Constraint(m.W, m.T, rule=lambda m, w, t: (
        m.swap_charge_kw[w, t] - float(st.swap_bay_max_kw[w]) * (float(st.swap_packs[w]) - full_before(m, w, t)) <= 0))
    m.swap_partial_room = pyo.Constraint(m.W, m.T, rule=lambda m, w, t: (
        m.swap_partial_kwh[w, t] + e(w) * m.swap_full_packs[w, t] <= e(w) * float(st.swap_packs[w])))


def define_fast_charging(m: pyo.ConcreteModel, p: Problem) -> None:
    """Fast-charging stations ``g``: ``fast_wait_cap[g,t]``: fast_cap_kw + fast_cap_short_kw >= cap_min."""
    st = _sites(p)
    m.G = pyo.RangeSet(0, st.n_fast - 1)
    m.fast_cap_kw = pyo.Var(m.G, m.T, bounds=lambda m, g, t: (0.0, float(st.fast_max_kw[g])))
    m.fast_cap_short_kw = pyo.Var(m.G, m.T, bounds=lambda m, g, t: (0.0, float(st.fast_min_cap_kw[g, t])))
    m.fast_wait_cap = pyo.Constraint(m.G, m.T, rule=lambda m, g, t: (
        m.fast_cap_kw[g, t] + m.fast_cap_short_kw[g, t] >= float(st.fast_min_cap_kw[g, t])))


def site_load(m: pyo.ConcreteModel, p: Problem, n: int, t: int):
    """Swap charging plus fast-charging caps behind transformer ``n`` in slot ``t`` [kW] (0 without sites)."""
    st = _sites(p)
    return (sum(m.swap_charge_kw[w, t] for w in range(st.n_swap) if st.swap_transformer[w] == n)
            + sum(m.fast_cap_kw[g, t] for g in range(st.n_fast) if st.fast_transformer[g] == n))


def site_objective(m: pyo.ConcreteModel, p: Problem):
    """Penalties of unserved swaps and of fast-charging caps below their wait-keeping minimum [CNY]."""
    st = _sites(p)
    return (st.unserved_swap_cny_per_swap * sum(m.swap_unserved[w, t] for w in m.W for t in m.T)
            + st.fast_shortfall_cny_per_kwh * p.dt_h * sum(m.fast_cap_short_kw[g, t] for g in m.G for t in m.T))
