"""LP-guided rounding of the charger on/off decisions: the fast route to a near-optimal MILP plan.

Branch and bound struggles with hundreds of semi-continuous chargers (``p = 0`` or
``pmin <= p <= pmax``): the LP bound is tight, but finding integer plans is slow. So:

1. **Bound.** Solve the relaxation: with ``ev_on`` continuous, ``pmin·on <= p <= pmax·on`` is
   just ``0 <= p <= pmax``, so the relaxation is the model with ``min_power_kw = 0`` and no
   start-up costs (start costs are >= 0, so dropping them keeps the bound valid).
2. **Round.** Slots where the LP charges at >= ``pmin`` stay on; of an EV's slots charged below
   ``pmin`` (fractional), the ``floor(F / (pmin·dt))`` with the most LP power are switched on
   (``F`` is their energy), so the chosen slots can carry the energy at or above ``pmin``.
3. **Fix and solve.** With ``ev_on`` fixed, the model is an LP (plus the few battery-mode
   binaries): HiGHS places the power exactly.
4. **Repair.** An EV still short gets more on-slots, cheapest first, where its transformer
   (and feeder, DR cap) has room for ``pmin``; solve again (a few rounds at most).
5. **Fallback.** If the plan is not within ``mip_rel_gap`` of the bound, the full MILP runs for
   the remaining time with this plan as its starting incumbent.

The reported bound is the LP's (or the MILP's, when better), so the gap is honest.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from vpp_sched.config import SolverOptions
from vpp_sched.lean import LeanModel, build_lean, solve_lean_model
from vpp_sched.problem import Problem
from vpp_sched.solution import Solution, SolveStatus, relative_gap

REPAIR_ROUNDS = 4
TOL = 1e-6


def solve_lp_guided(problem: Problem, options: SolverOptions) -> Solution:
    """Solve the day-ahead MILP by LP-guided rounding (see module docstring)."""
    start = time.perf_counter()
    if not problem.ev_binary.any():
        return solve_lean_model(build_lean(problem), problem, options)
    relaxed = replace(problem, ev_min_power_kw=np.zeros(problem.n_evs), switch_on_cny=0.0)
    lp = solve_lean_model(build_lean(relaxed, relax_integrality=True), relaxed, options)
    if not lp.status.has_plan:
        return lp
    model = build_lean(problem)
    pattern = round_on_pattern(problem, lp.ev_power_kw)
    best = _fixed(model, problem, pattern, options, _remaining(options, start))
    for _ in range(REPAIR_ROUNDS):
        if not best.status.has_plan or best.ev_unmet_kwh.sum() <= lp.ev_unmet_kwh.sum() + TOL:
            break
        pattern, added = repair_pattern(problem, pattern, best)
        if not added:
            break
        candidate = _fixed(model, problem, pattern, options, _remaining(options, start))
        if candidate.status.has_plan and candidate.objective_cny < best.objective_cny:
            best = candidate
    bound = lp.objective_cny
    if not best.status.has_plan or relative_gap(best.objective_cny, bound) > options.mip_rel_gap:
        best, bound = _full_milp(model, problem, options, start, best, bound)
    return _finish(best, lp, bound, options, start)


def round_on_pattern(p: Problem, lp_power_kw: np.ndarray) -> np.ndarray:
    """[E, T] bool on/off pattern from the LP's EV power (rule 2 of the module docstring)."""
    pmin = p.ev_min_power_kw[:, None]
    on = (lp_power_kw >= pmin - TOL) & (lp_power_kw > TOL)
    frac = (lp_power_kw > TOL) & ~on & p.ev_binary[:, None]
    frac_kwh = (lp_power_kw * frac).sum(axis=1) * p.dt_h
    with np.errstate(divide="ignore", invalid="ignore"):
        n_pick = np.floor(frac_kwh / (p.ev_min_power_kw * p.dt_h) + 1e-9)
    n_pick = np.where(np.isfinite(n_pick), n_pick, 0).astype(int)
    # An EV whose energy is all in fractional slots needs at least one slot on.
    n_pick = np.where((frac_kwh > TOL) & (n_pick == 0) & ~on.any(axis=1), 1, n_pick)
    # Never more slots than the EV's energy can fill at pmin (else the fixed model is infeasible).
    with np.errstate(divide="ignore", invalid="ignore"):
        most = np.floor(p.ev_energy_kwh / (p.ev_min_power_kw * p.dt_h) + 1e-9)
    most = np.where(np.isfinite(most), most, p.n_slots).astype(int) - on.sum(axis=1)
    n_pick = np.clip(n_pick, 0, np.maximum(most, 0))
    score = np.where(frac, lp_power_kw, -1.0)
    order = np.argsort(-score, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(p.n_slots), order.shape), axis=1)
    return (on | (frac & (rank < n_pick[:, None]))) & p.ev_available


def room_kw(p: Problem, sol: Solution) -> np.ndarray:
    """[N, T] load that can still be added at each transformer without any limit binding [kW]."""
    room = p.limit_kw[:, None] - sol.net_load_kw
    for f in range(p.n_feeders):
        members = p.transformer_feeder == f
        spare = p.feeder_capacity_kw[f] - sol.net_load_kw[members].sum(axis=0)
        room[members] = np.minimum(room[members], spare)
    for k in range(p.n_events):
        spare = np.full(p.n_slots, np.inf)
        inside = p.event_slots[k]
        spare[inside] = p.event_cap_kw[k, inside] - sol.net_load_kw[p.event_scope[k]].sum(axis=0)[inside]
        room[p.event_scope[k]] = np.minimum(room[p.event_scope[k]], spare)
    return room


def repair_pattern(p: Problem, pattern: np.ndarray, sol: Solution) -> tuple[np.ndarray, int]:
    """Switch on more slots for EVs short of energy, cheapest first, where there is room for ``pmin``."""
    pattern = pattern.copy()
    room = room_kw(p, sol)
    added = 0
    for e in np.flatnonzero(sol.ev_unmet_kwh > TOL):  # few EVs: a loop is fine here
        n, pmin, need = p.ev_transformer[e], p.ev_min_power_kw[e], sol.ev_unmet_kwh[e]
        slots = np.flatnonzero(p.ev_available[e] & ~pattern[e] & (room[n] >= pmin - TOL))
        for t in slots[np.lexsort((slots, p.price_cny_per_kwh[slots]))]:
            if (pattern[e].sum() + 1) * pmin * p.dt_h > p.ev_energy_kwh[e] + TOL:
                break  # one more slot at pmin would exceed the EV's energy
            pattern[e, t] = True
            added += 1
            need -= min(room[n, t], p.ev_max_power_kw[e]) * p.dt_h
            room[n, t] -= pmin
            if need <= TOL:
                break
    return pattern, added


def _fixed(model: LeanModel, p: Problem, pattern: np.ndarray, options: SolverOptions,
           time_left_s: float) -> Solution:
    """Solve with every ``ev_on`` fixed to ``pattern`` (an LP plus the battery-mode binaries)."""
    e, t = model.col_index["ev_on"]
    cols = model.col_families["ev_on"]
    lower, upper = model.col_lower.copy(), model.col_upper.copy()
    lower[cols] = upper[cols] = pattern[e, t].astype(float)
    fixed = replace(model, col_lower=lower, col_upper=upper)
    return solve_lean_model(fixed, p, options.model_copy(update={"time_limit_s": time_left_s, "mip_rel_gap": 1e-4}))


def _full_milp(model, p, options, start, incumbent: Solution, bound: float) -> tuple[Solution, float]:
    """The whole MILP for the remaining time, warm-started from the rounded plan."""
    left = _remaining(options, start)
    if left < 1.0 and incumbent.status.has_plan:
        return incumbent, bound
    warm = incumbent.col_values if incumbent.status.has_plan else None
    sol = solve_lean_model(model, p, options.model_copy(update={"time_limit_s": left}), start=warm)
    if np.isfinite(sol.bound_cny):
        bound = max(bound, sol.bound_cny)
    if sol.status.has_plan and (not incumbent.status.has_plan or sol.objective_cny < incumbent.objective_cny):
        return sol, bound
    return (incumbent if incumbent.status.has_plan else sol), bound


def _finish(best: Solution, lp: Solution, bound: float, options: SolverOptions, start: float) -> Solution:
    if not best.status.has_plan:
        return best
    best.bound_cny = bound
    best.mip_gap = relative_gap(best.objective_cny, bound)
    within = best.mip_gap <= options.mip_rel_gap + 1e-12
    best.status = SolveStatus.OPTIMAL if within else SolveStatus.TIME_LIMIT
    total = time.perf_counter() - start
    best.build_seconds = lp.build_seconds + best.build_seconds
    best.solve_seconds = max(total - best.build_seconds, 0.0)
    best.solver = dict(best.solver, strategy="lp_rounding", lp_bound_cny=lp.objective_cny)
    return best


def _remaining(options: SolverOptions, start: float) -> float:
    return max(options.time_limit_s - (time.perf_counter() - start), 0.01)

