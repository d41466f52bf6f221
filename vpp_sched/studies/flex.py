"""Flexibility envelope: how far a scope's load can be raised or lowered in a window.

For each window (``duration`` slots starting at a slot) and scope, two LPs find the highest and
the lowest mean net load of the scope over the window such that every EV still gets what the
plan gives it by departure and no transformer, feeder, battery or DR limit is broken beyond
what the plan itself needs. The difference to the plan is what the VPP desk can offer. A swap or
fast-charging station may be a scope of its own (``sites``; what its load is and what it may not
give up: :mod:`vpp_sched.studies.flex_sites`); every scope's rows carry its ``kind``.

The LPs are the relaxation of the day-ahead model (chargers modulate down to zero, battery
modes relaxed), so the envelope is an upper estimate where chargers have a minimum power.
One HiGHS instance is re-solved with only the objective changed (warm starts). Each of its runs
gets the whole ``solver.time_limit_s`` of its own (HiGHS counts time over an instance's life, so
one limit for all runs would cut the later windows short on a busy machine): the envelope is the
LPs' optimum, not what a clock allowed. A run the clock stops anyway leaves its cell empty and is
counted in ``table.attrs["time_limited"]`` (the CLI warns).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from vpp_sched.scenario.config import SolverOptions
from vpp_sched.model.lean import build_lean
from vpp_sched.problem.arrays import Problem
from vpp_sched.solve.budget import Deadline
from vpp_sched.solve.highs import LeanSolver
from vpp_sched.solve.solution import Solution, SolveStatus
from vpp_sched.studies.flex_sites import Scope, site_caps_upper, site_scope, transformer_scope


def flexibility_envelope(p: Problem, plan: Solution, options: SolverOptions, duration_slots: int,
                         scopes: dict[str, np.ndarray], step: int = 1, sites: list[str] | None = None) -> pd.DataFrame:
    """Envelope table: ``scope, kind, slot_start, duration_min, planned_kw, max_kw, min_kw, up_kw, down_kw``;
    ``attrs["time_limited"]``: the number of window LPs stopped by the time limit (their cells NaN).

    Parameters
    ----------
    p : the day-ahead problem; ``plan`` its solved plan (the reference and the slack allowances)
    duration_slots : window length [slots]; ``step`` : evaluate a window every ``step`` slots
    scopes : scope name -> bool [N] of its transformers (``kind`` ``transformers``: their net load)
    sites : station_ids of swap and fast-charging stations, each a scope of its own load (``kind``
        ``swap_station`` or ``fast_charging_station``; :mod:`vpp_sched.studies.flex_sites`)
    """
    relaxed = p.relaxation()
    model = build_lean(relaxed, relax_integrality=True)
    upper = model.col_upper.copy()
    # No new slack: unmet energy, overloads and DR shortfall stay within what the plan used.
    for family, allowed in (("ev_unmet_kwh", plan.ev_unmet_kwh.reshape(-1)),
                            ("overload_kw", plan.overload_kw.reshape(-1)),
                            ("feeder_overload_kw", plan.feeder_overload_kw.reshape(-1))):
        cols = model.col_families[family]
        upper[cols] = allowed + 1e-6
    e_k, e_t = model.col_index["dr_shortfall_kw"]
    upper[model.col_families["dr_shortfall_kw"]] = plan.dr_shortfall_kw[e_k, e_t] + 1e-6
    site_caps_upper(model, p, plan, upper)   # nor unserved swaps, fast caps short, caps raised
    zero_cost = np.zeros(model.n_cols)
    solver = LeanSolver(replace(model, col_upper=upper, col_cost=zero_cost), relaxed, options)
    measured = [transformer_scope(model, p, plan, name, members) for name, members in scopes.items()]
    measured += [site_scope(model, p, plan, station_id) for station_id in sites or []]
    rows, stops = [], [0]
    for scope in measured:
        for t0 in range(0, p.n_slots - duration_slots + 1, step):
            window = slice(t0, t0 + duration_slots)
            planned = scope.planned_kw[window].mean()
            high = _extreme(solver, scope, window, -1.0, duration_slots, options, stops)
            low = _extreme(solver, scope, window, 1.0, duration_slots, options, stops)
            rows.append({"scope": scope.name, "kind": scope.kind, "slot_start": p.slots[t0],
                         "duration_min": int(round(duration_slots * p.dt_h * 60)),
                         "planned_kw": planned, "max_kw": high, "min_kw": low,
                         "up_kw": max(high - planned, 0.0), "down_kw": max(planned - low, 0.0)})
    table = pd.DataFrame(rows)
    table.attrs["time_limited"] = stops[0]
    return table


#: Outcomes of a run stopped before the optimum (the only limit set is the time limit).
_STOPPED = (SolveStatus.TIME_LIMIT, SolveStatus.FEASIBLE, SolveStatus.NO_SOLUTION)


def _extreme(solver: LeanSolver, scope: Scope, window: slice, sense: float, duration_slots: int,
             options: SolverOptions, stops: list[int]) -> float:
    """Min (sense +1) or max (sense -1) of the scope's mean load over the window [kW]; NaN
    (and ``stops[0]`` counted up) when the run's own time limit stops it before the optimum."""
    h = solver.h
    n = solver.model.n_cols
    cols = scope.cols[:, window]
    h.changeColsCost(n, np.arange(n, dtype=np.int32), np.zeros(n))
    h.changeColsCost(cols.size, cols.reshape(-1).astype(np.int32),
                     np.repeat(sense * scope.coef, cols.shape[1]).astype(np.float64))
    sol = solver.run(Deadline(float(options.time_limit_s)))   # this run's own limit, from now
    if sol.status in _STOPPED:
        stops[0] += 1   # not the optimum: an empty cell, said so, rather than a number a clock chose
        return float("nan")
    if not sol.status.has_plan:
        return float("nan")
    return sense * sol.objective_cny / duration_slots + scope.constant_kw[window].mean()
