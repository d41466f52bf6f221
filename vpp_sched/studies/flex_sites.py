"""What the flexibility envelope measures: a scope's load as columns of the lean model.

A transformer scope is the sum of its transformers' ``net_load_kw``. A site scope is one swap or
fast-charging station's own load (models/swap_stations.md, models/fast_charging.md):

- swap station ``w``: its pack charging ``swap_charge_kw[w,t]`` — shiftable as long as every swap the
  plan serves is still served from full packs on hand, within the bays, packs not full and the
  connection, and the final full packs are kept;
- fast-charging station ``g``: its power cap ``fast_cap_kw[g,t]`` — only *down* to the cap whose
  Erlang-C wait keeps the target (``fast_min_cap_kw``; a raised cap draws nothing more, so the
  envelope never raises it above the plan's, see :func:`site_caps_upper`);

each plus its own battery (charge − discharge) and PV (curtailment − forecast) when it has them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vpp_sched.errors import InputError
from vpp_sched.problem.arrays import Problem
from vpp_sched.solve.solution import Solution

#: ``kind`` of each row of the envelope table: whose flexibility it is.
KIND_TRANSFORMERS, KIND_SWAP, KIND_FAST = "transformers", "swap_station", "fast_charging_station"


@dataclass(frozen=True)
class Scope:
    """A load the envelope moves: ``sum_k coef[k] x[cols[k, t]] + constant_kw[t]`` in slot ``t`` [kW].

    name, kind : the scope's name (``all``, a transformer_id or a site's station_id) and :data:`KIND_*`
    cols : [K, T] lean column indices; coef : [K] their signs; constant_kw : [T]; planned_kw : [T] the plan's load
    """

    name: str
    kind: str
    cols: np.ndarray
    coef: np.ndarray
    constant_kw: np.ndarray
    planned_kw: np.ndarray


def family_cols(model, family: str, n: int, T: int) -> np.ndarray:
    """[n, T] the column indices of a lean family laid out element by slot."""
    return model.col_families[family].start + np.arange(n * T).reshape(n, T)


def transformer_scope(model, p: Problem, plan: Solution, name: str, members: np.ndarray) -> Scope:
    """The summed net load of the transformers ``members`` (bool [N])."""
    cols = family_cols(model, "net_load_kw", p.n_transformers, p.n_slots)[members]
    return Scope(name, KIND_TRANSFORMERS, cols, np.ones(len(cols)), np.zeros(p.n_slots),
                 plan.net_load_kw[members].sum(axis=0))


def site_ids(p: Problem) -> list[str]:
    """The station_ids of the problem's swap stations, then its fast-charging stations."""
    st = p.sites
    return [] if st is None else [*map(str, st.swap_ids), *map(str, st.fast_ids)]


def site_scope(model, p: Problem, plan: Solution, station_id: str) -> Scope:
    """The own load of swap or fast-charging station ``station_id`` (its battery and PV included)."""
    st, T = p.sites, p.n_slots
    swap, fast = (list(map(str, st.swap_ids)), list(map(str, st.fast_ids))) if st is not None else ([], [])
    if station_id in swap:
        w = swap.index(station_id)
        kind, cols = KIND_SWAP, [family_cols(model, "swap_charge_kw", st.n_swap, T)[w]]
        planned = np.asarray(plan.swap_charge_kw, float).reshape(st.n_swap, T)[w].copy()
    elif station_id in fast:
        g = fast.index(station_id)
        kind, cols = KIND_FAST, [family_cols(model, "fast_cap_kw", st.n_fast, T)[g]]
        planned = np.asarray(plan.fast_cap_kw, float).reshape(st.n_fast, T)[g].copy()
    else:
        raise InputError([f"--scope {station_id}: not a swap or fast-charging station of the scenario"])
    coef, constant = [1.0], np.zeros(T)
    s_ids = [str(s) for s in p.station_ids]
    if station_id in s_ids:
        s = s_ids.index(station_id)
        for b in np.flatnonzero(np.asarray(p.battery_station) == s):
            cols += [family_cols(model, "battery_charge_kw", p.n_batteries, T)[b],
                     family_cols(model, "battery_discharge_kw", p.n_batteries, T)[b]]
            coef += [1.0, -1.0]
            planned += plan.battery_charge_kw[b] - plan.battery_discharge_kw[b]
        if p.pv_kw is not None and np.any(p.pv_kw[s]):
            cols.append(family_cols(model, "pv_curtail_kw", p.n_stations, T)[s])
            coef.append(1.0)
            constant = -np.asarray(p.pv_kw[s], float)
            planned += plan.pv_curtail_kw[s] + constant
    return Scope(station_id, kind, np.array(cols), np.array(coef), constant, planned)


def site_caps_upper(model, p: Problem, plan: Solution, upper: np.ndarray) -> None:
    """Bound, in ``upper`` (the lean column upper bounds), what the plan's sites may not give up:
    unserved swaps and fast caps below their minimum at most the plan's, and each fast cap at most
    the plan's (a higher cap is a reservation, not load a VPP can sell as up-flexibility)."""
    st = p.sites
    if st is None:
        return
    for family, allowed in (("swap_unserved", plan.swap_unserved), ("fast_cap_short_kw", plan.fast_cap_short_kw)):
        cols = model.col_families[family]
        upper[cols] = np.asarray(allowed, float).reshape(-1) + 1e-6
    cols = model.col_families["fast_cap_kw"]
    upper[cols] = np.minimum(upper[cols], np.asarray(plan.fast_cap_kw, float).reshape(-1) + 1e-6)
