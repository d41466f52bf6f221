"""Judging one population of the hosting study: does the transformer host ``n`` EVs under a mode?

The modes (:data:`MODES`) and the hosting rule (no overload, no unmet energy by the grid) are
described in :mod:`vpp_sched.studies.hosting`; the value of one more kVA comes from the LP
relaxation's duals (:func:`kva_value`).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from vpp_sched.errors import ArgumentError, InternalError, NoPlanError
from vpp_sched.plan.results import ev_delivered_kwh
from vpp_sched.problem.arrays import Problem
from vpp_sched.problem.build import build_problem
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.scenario.load import Scenario
from vpp_sched.solve.dispatch import solve
from vpp_sched.solve.highs import solve_lp_with_duals
from vpp_sched.solve.least_laxity import deliverable_kwh, least_laxity_power_kw
from vpp_sched.solve.lp_rounding import feasibility_problem, solve_lp_guided
from vpp_sched.solve.solution import SolveStatus
from vpp_sched.studies.outcome import Outcome, uncontrolled_outcome
from vpp_sched.studies.resample import scale_evs

OVERLOAD_TOL_KWH = 1e-3     # more overload energy than this fails [kWh]
UNMET_TOL_KWH = 0.1         # more unmet energy (by the grid) than this fails [kWh per transformer-day]
NO_PLAN_RETRY_FACTOR = 4.0  # a population without a plan in the time limit is retried with this x the time
LP_TIME_LIMIT_S = 60.0      # least time limit of an LP relaxation [s]


@dataclass
class Evaluation:
    """One population tried: does the transformer host it?"""

    n_evs: int
    hosts: bool
    overload_kwh: float
    unmet_by_grid_kwh: float
    outcome: Outcome | None = None
    decided_by: str = ""                # a mode of MODES, or "milp-undecided" (not hosted, not proven)
    note: str = ""                      # why there is no outcome


#: How a population is judged: ``uncontrolled`` reference, ``lp`` relaxation, ``schedule`` (the
#: least-laxity-first schedule), ``milp`` (:func:`feasibility_milp`: proven either way, or
#: undecided), ``plan`` (the planner's solve), ``orderly`` (schedule, else milp).
MODES = ("uncontrolled", "lp", "schedule", "milp", "plan", "orderly")


def population(sc1: Scenario, transformer_id: str, n_evs: int, seed: int = 0) -> Scenario:
    """The one-transformer scenario with ``n_evs`` EVs of the nested resampled population."""
    n = len(sc1.evs)
    return scale_evs(sc1, n_evs / n, [transformer_id], seed) if n else sc1


def evaluate(sc1: Scenario, transformer_id: str, n_evs: int, mode: str, *, seed: int = 0,
             method: str = "lean", options: SolverOptions | None = None) -> Evaluation:
    """Does the one-transformer scenario ``sc1`` host ``n_evs`` EVs, judged by ``mode`` (see MODES)?"""
    sc = population(sc1, transformer_id, n_evs, seed)
    problem = build_problem(sc)
    options = options or sc.config.solver
    if mode == "uncontrolled":
        return judge_outcome(uncontrolled_outcome(problem), mode)
    if mode == "lp":
        outcome, _ = lp_relaxation(problem, sc, options)
        return judge_outcome(outcome, mode)
    if mode in ("schedule", "orderly"):
        ev = judge_outcome(least_laxity_schedule(problem), "schedule")
        if ev.hosts or mode == "schedule":
            return ev
    if mode in ("milp", "orderly"):
        # Undecided in the time limit counts as not hosted (no plan shown), with the MILP's best plan:
        # it aims at feasibility only, so it does at least as well as the cost-optimal planner would.
        return feasibility_milp(problem, options)
    if mode == "plan":
        try:
            return judge_outcome(_solve_outcome(problem, options, method), mode)
        except NoPlanError as exc:
            if exc.status is not SolveStatus.NO_SOLUTION:
                raise
        # No plan within the time limit (a large population): once more with 4x the time, then
        # count it as not hosted.
        longer = options.model_copy(update={"time_limit_s": options.time_limit_s * NO_PLAN_RETRY_FACTOR})
        try:
            return judge_outcome(_solve_outcome(problem, longer, method), mode)
        except NoPlanError as exc:
            if exc.status is not SolveStatus.NO_SOLUTION:
                raise
        return Evaluation(problem.n_evs, False, float("nan"), float("nan"), None, decided_by=mode,
                          note=f"no plan within {longer.time_limit_s:g} s")
    raise ArgumentError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")


def feasibility_milp(problem: Problem, options: SolverOptions) -> Evaluation:
    """Is there any plan with no overload and no unmet energy by the grid? The day-ahead MILP (on/off
    chargers, batteries) with only those two slacks priced (:func:`~vpp_sched.solve.lp_rounding.feasibility_problem`),
    every EV asking what its stay allows, solved as the planner solves (LP-guided rounding, then the
    full MILP where it is small enough): an optimum of 0 is a plan that hosts (proven); a lower bound
    above the tolerances proves that no plan does. ``decided_by`` is ``milp`` when proven either way;
    otherwise (time limit) ``milp-undecided`` with the best plan found.
    """
    t0 = time.perf_counter()
    p = feasibility_problem(dataclasses.replace(problem, ev_energy_kwh=deliverable_kwh(problem)))
    # LP-guided rounding (as the planner) finds plans fast; its full-MILP stage proves infeasibility.
    sol = solve_lp_guided(p, options.model_copy(update={"mip_rel_gap": 0.0}))
    if not sol.status.has_plan:
        return Evaluation(problem.n_evs, False, float("nan"), float("nan"), None, decided_by="milp-undecided",
                          note=f"undecided: feasibility MILP {sol.status.value}{wall_clock_note(sol, options)}")
    out = judge_outcome(_outcome_of(problem, sol, "orderly", sol.status.value, time.perf_counter() - t0), "milp")
    proven_not = np.isfinite(sol.bound_cny) and sol.bound_cny > UNMET_TOL_KWH + OVERLOAD_TOL_KWH
    if not (out.hosts or proven_not):
        out.decided_by = "milp-undecided"
    return out


def wall_clock_note(sol, options: SolverOptions) -> str:
    """What stopped an undecided feasibility MILP: the wall clock (said, since it may differ on
    another machine) or the work limit of ``mip_max_nodes``."""
    if sol.status in (SolveStatus.TIME_LIMIT, SolveStatus.NO_SOLUTION):
        return (f", stopped by the wall-clock limit of {options.time_limit_s:g} s (may differ on another "
                "machine: raise --time-limit)")
    return f" within {options.mip_max_nodes} branch-and-bound nodes" if options.mip_max_nodes is not None else ""


def judge_outcome(o: Outcome, decided_by: str) -> Evaluation:
    """The outcome as an :class:`Evaluation`: hosted when overload and unmet energy by the grid are
    within ``OVERLOAD_TOL_KWH`` and ``UNMET_TOL_KWH`` [kWh]."""
    over = float(o.overload_kw.sum() * o.problem.dt_h)
    unmet = float(o.unmet_by_grid_kwh.sum())
    return Evaluation(o.problem.n_evs, over <= OVERLOAD_TOL_KWH and unmet <= UNMET_TOL_KWH, over, unmet, o,
                      decided_by=decided_by)


def _solve_outcome(problem: Problem, options: SolverOptions, method: str) -> Outcome:
    t0 = time.perf_counter()
    sol = solve(problem, options, method=method)
    if not sol.status.has_plan:
        raise NoPlanError(sol.status, f"no plan for {problem.n_evs} EVs ({sol.status.value})")
    return _outcome_of(problem, sol, "orderly", sol.status.value, time.perf_counter() - t0)


def _outcome_of(problem: Problem, sol, policy: str, status: str, seconds: float) -> Outcome:
    pv_used = np.zeros((problem.n_transformers, problem.n_slots))
    if problem.n_stations and problem.pv_kw is not None:
        np.add.at(pv_used, problem.station_transformer, problem.pv_kw - sol.pv_curtail_kw)
    return Outcome(policy, problem, np.asarray(sol.net_load_kw, float), pv_used,
                   ev_delivered_kwh(problem, sol), status=status, mip_gap=sol.mip_gap,
                   wall_seconds=seconds)


def least_laxity_schedule(problem: Problem) -> Outcome:
    """An orderly schedule built slot by slot, least laxity first: a feasibility certificate.

    In each slot the room under the limit (limit - base load + PV forecast) goes to the plugged-in
    EVs with the least laxity (whole slots left minus slots still needed at max power), each at
    up to its max power and at least its min power (or not at all); a charge that would leave less
    than one slot at min power to deliver is cut so that exactly that remains. Batteries stay idle,
    PV is not curtailed. Every EV gets at most what its stay allows (:func:`deliverable_kwh`).
    When the outcome has no overload and no unmet energy, it is a valid plan for the population,
    which proves the transformer hosts it under orderly charging (the planner's cost-optimal
    plan may still fall short, see ``planner_at_threshold``). Checked by :func:`_check_schedule`.
    """
    t0 = time.perf_counter()
    p, dt = problem, problem.dt_h
    pv = p.pv_at_transformer_kw()
    power = least_laxity_power_kw(p)
    ev_at = np.zeros((p.n_transformers, p.n_slots))
    np.add.at(ev_at, p.ev_transformer, power)
    _check_schedule(p, power)
    return Outcome("orderly-schedule", p, p.base_load_kw + ev_at - pv, pv, power.sum(axis=1) * dt,
                   status="schedule", wall_seconds=time.perf_counter() - t0)


def _check_schedule(p: Problem, power: np.ndarray) -> None:
    """Charger limits, stays and energies of a schedule (the limit is judged by the caller)."""
    on = power > 0
    if (on & ~np.asarray(p.ev_available, bool)).any():
        raise InternalError("least-laxity schedule charges outside a stay")
    if (power > p.ev_max_power_kw[:, None] + 1e-6).any():
        raise InternalError("least-laxity schedule above max power")
    if (on & (power < p.ev_min_power_kw[:, None] - 1e-6)).any():
        raise InternalError("least-laxity schedule below min power")
    if (power.sum(axis=1) * p.dt_h > p.ev_energy_kwh + 1e-6).any():
        raise InternalError("least-laxity schedule delivers more than requested")


def lp_relaxation(problem: Problem, sc: Scenario, options: SolverOptions) -> tuple[Outcome, np.ndarray]:
    """The LP relaxation's outcome and the marginal value of one kVA per transformer [CNY per kVA per day].

    Raises ``NoPlanError`` when HiGHS ends without an LP optimum.
    """
    t0 = time.perf_counter()
    # With ev_on continuous, pmin*on <= p <= pmax*on is just 0 <= p <= pmax: the same relaxation
    # without the on/start columns (as vpp_sched.solve.lp_rounding solves it; start-up costs are tie-breaks).
    # HiGHS's simplex needs thousands of degenerate iterations on the version with them.
    relaxed = problem.relaxation()
    # An LP is quick; a planner's short study time limit must not cut it on a busy machine.
    options = options.model_copy(update={"time_limit_s": max(options.time_limit_s, LP_TIME_LIMIT_S)})
    sol, model, row_dual = solve_lp_with_duals(relaxed, options)
    if not sol.status.has_plan:
        raise NoPlanError(sol.status, f"LP relaxation for {problem.n_evs} EVs ended {sol.status.value}")
    kva = kva_value_from_duals(model, row_dual, relaxed, sc)
    return _outcome_of(problem, sol, "orderly-lp", sol.status.value, time.perf_counter() - t0), kva


def kva_value_from_duals(model, row_dual: np.ndarray, problem: Problem, sc: Scenario) -> np.ndarray:
    """[N] CNY per kVA per day that one more kVA of each transformer would save (>= 0).

    ``transformer_limit`` rows are ``net - overload <= limit`` and ``transformer_reverse_limit``
    rows ``net + overload >= -limit``; a dual is d(objective)/d(bound), so one more kW of limit
    changes the objective by ``sum_t (dual_limit - dual_reverse)``. One kVA is
    ``power_factor x max_loading_pu`` kW of limit; the horizon lasts ``T dt / 24`` days.
    """
    per_kw = np.zeros(problem.n_transformers)
    fwd = model.row_families["transformer_limit"]
    np.add.at(per_kw, model.row_index["transformer_limit"][0], row_dual[fwd])
    rev = model.row_families.get("transformer_reverse_limit")
    if rev is not None and rev.stop > rev.start:
        np.add.at(per_kw, model.row_index["transformer_reverse_limit"][0], -row_dual[rev])
    trafos = sc.transformers.set_index("transformer_id").loc[list(problem.transformer_ids)]
    kw_per_kva = (trafos.power_factor * trafos.max_loading_pu).to_numpy(float)
    days = problem.n_slots * problem.dt_h / 24.0
    return np.maximum(-per_kw * kw_per_kva / days, 0.0)


def kva_value(sc1: Scenario, transformer_id: str, n_evs: int, *, seed: int = 0,
              options: SolverOptions | None = None) -> tuple[float, Outcome]:
    """CNY per kVA per day one more kVA saves ``transformer_id`` with ``n_evs`` EVs (LP duals),
    and the LP's outcome."""
    sc = population(sc1, transformer_id, n_evs, seed)
    outcome, kva = lp_relaxation(build_problem(sc), sc, options or sc.config.solver)
    return float(kva[0]), outcome

