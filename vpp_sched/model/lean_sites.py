"""The lean build's families of the swap and fast-charging stations (models/swap_stations.md,
models/fast_charging.md), as the Pyomo functions of the same name in
:mod:`vpp_sched.model.day_ahead_sites`.

Their load enters ``transformer_balance[n,t]`` of their transformer (coefficient -1, as EV power),
so the transformer limit, feeders and DR events see it as they see any load.
"""

from __future__ import annotations

import numpy as np

from vpp_sched.model.lean_layout import INF, LeanBuilder, grid
from vpp_sched.problem.arrays import Problem
from vpp_sched.problem.sites import Sites


def sites_of(p: Problem) -> Sites:
    return p.sites if p.sites is not None else Sites()


def _previous(W: int, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``(w, t)`` with ``t >= 1`` as positions in a [W, T] family, and the position of ``(w, t-1)``."""
    j = np.flatnonzero(np.tile(np.arange(T), W) >= 1)
    return j, j - 1


def define_swap_stations(b: LeanBuilder, T: int, dt: float, p: Problem) -> None:
    """Pack charging, full packs and unserved swaps of each swap station ``w`` (F[w,-1] = initial full
    packs, D[w,-1] = 0; served = demand - swap_unserved):

    (D[w,-1] = ``partial0_kwh``, 0 but in a re-plan that starts mid-day)
    ``swap_completed[w,t]``: F[t] - F[t-1] + served[t] >= 0 (packs finished in t, never negative)
    ``swap_energy[w,t]``: D[t] - D[t-1] - eta·dt·swap_charge_kw[t] + e·(F[t] - F[t-1] + served[t]) = 0
    ``swap_on_hand[w,t]``: served[t] <= F[t-1] (a swap takes a pack full at the slot's start)
    ``swap_bays[w,t]``: swap_charge_kw[t] <= bay_max_kw·(packs - F[t-1]) (one bay per pack not full)
    ``swap_partial_room[w,t]``: D[t] <= e·(packs - F[t]) (the packs not full hold less than full)

    F = ``swap_full_packs``, D = ``swap_partial_kwh``, e = ``pack_charge_kwh``; the bays' and the
    connection's limit and F[T-1] >= final_full_packs_min are column bounds.
    """
    st = sites_of(p)
    W = st.n_swap
    idx = grid(W, T)
    rep = lambda v: np.repeat(np.asarray(v, dtype=np.float64), T)  # noqa: E731
    demand = np.asarray(st.swap_demand, dtype=np.float64).reshape(W, T).ravel()
    last_lo = np.zeros(W * T)
    last_lo[np.arange(W) * T + T - 1] = st.swap_final_full_min
    b.add_cols("swap_charge_kw", idx, upper=rep(st.swap_charge_max_kw))
    b.add_cols("swap_unserved", idx, upper=demand)
    b.add_cols("swap_full_packs", idx, lower=last_lo, upper=rep(st.swap_packs))
    b.add_cols("swap_partial_kwh", idx)
    e, eta, packs, bay = (rep(st.swap_pack_charge_kwh), rep(st.swap_efficiency), rep(st.swap_packs),
                          rep(st.swap_bay_max_kw))
    first = np.zeros(W * T)
    first[np.arange(W) * T] = st.swap_initial_full          # F[w,-1] on the right-hand side of t = 0
    j, jp = _previous(W, T)
    jall = np.arange(W * T, dtype=np.int64)
    b.add_rows("swap_completed", idx, first - demand, INF)
    b.coef("swap_completed", jall, "swap_full_packs", jall, 1.0)
    b.coef("swap_completed", j, "swap_full_packs", jp, -1.0)
    b.coef("swap_completed", jall, "swap_unserved", jall, -1.0)
    rhs = e * (first - demand)
    rhs[np.arange(W) * T] += st.partial0_kwh                # D[w,-1] on the right-hand side of t = 0
    b.add_rows("swap_energy", idx, rhs, rhs)
    b.coef("swap_energy", jall, "swap_partial_kwh", jall, 1.0)
    b.coef("swap_energy", j, "swap_partial_kwh", jp, -1.0)
    b.coef("swap_energy", jall, "swap_charge_kw", jall, -eta * dt)
    b.coef("swap_energy", jall, "swap_full_packs", jall, e)
    b.coef("swap_energy", j, "swap_full_packs", jp, -e[j])
    b.coef("swap_energy", jall, "swap_unserved", jall, -e)
    b.add_rows("swap_on_hand", idx, demand - first, INF)
    b.coef("swap_on_hand", jall, "swap_unserved", jall, 1.0)
    b.coef("swap_on_hand", j, "swap_full_packs", jp, 1.0)
    b.add_rows("swap_bays", idx, -INF, bay * (packs - first))
    b.coef("swap_bays", jall, "swap_charge_kw", jall, 1.0)
    b.coef("swap_bays", j, "swap_full_packs", jp, bay[j])
    b.add_rows("swap_partial_room", idx, -INF, e * packs)
    b.coef("swap_partial_room", jall, "swap_partial_kwh", jall, 1.0)
    b.coef("swap_partial_room", jall, "swap_full_packs", jall, e)
    b.coef("transformer_balance", np.repeat(st.swap_transformer, T) * T + idx[1], "swap_charge_kw", jall, -1.0)
    b.set_cost("swap_unserved", st.unserved_swap_cny_per_swap)


def define_fast_charging(b: LeanBuilder, T: int, dt: float, p: Problem) -> None:
    """Power cap of each fast-charging station ``g`` (its load at the transformer), within all dispensers
    at full power (column bound), and ``fast_wait_cap[g,t]``: fast_cap_kw[g,t] + fast_cap_short_kw[g,t] >=
    cap_min[g,t], the smallest cap whose Erlang-C expected wait is at most target_wait_min."""
    st = sites_of(p)
    G = st.n_fast
    idx = grid(G, T)
    cap_min = np.asarray(st.fast_min_cap_kw, dtype=np.float64).reshape(G, T).ravel()
    b.add_cols("fast_cap_kw", idx, upper=np.repeat(np.asarray(st.fast_max_kw, dtype=np.float64), T))
    b.add_cols("fast_cap_short_kw", idx, upper=cap_min)
    jall = np.arange(G * T, dtype=np.int64)
    b.add_rows("fast_wait_cap", idx, cap_min, INF)
    b.coef("fast_wait_cap", jall, "fast_cap_kw", jall, 1.0)
    b.coef("fast_wait_cap", jall, "fast_cap_short_kw", jall, 1.0)
    b.coef("transformer_balance", np.repeat(st.fast_transformer, T) * T + idx[1], "fast_cap_kw", jall, -1.0)
    b.set_cost("fast_cap_short_kw", st.fast_shortfall_cny_per_kwh * dt)
