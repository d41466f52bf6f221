"""EV hosting capacity per transformer: the largest multiple of its EVs it carries without trouble.

For each transformer, under ``uncontrolled`` (every EV at full power from arrival) and under
``orderly`` (a coordinated day plan, see below), find the largest multiple ``m`` of the transformer's own EV
population (resampled as :func:`vpp_sched.studies.whatif.resample_evs`, on this transformer only) at
which the day has

* no overload: net load never above the limit (``rated_kva x power_factor x max_loading_pu``,
  nor below minus the limit where a station feeds in), and
* no unmet energy by the grid: every EV gets what its stay physically allows (an EV whose stay
  is too short at its max power falls short under any grid and is not counted).

Search: a population of ``n`` EVs at multiple ``m`` has ``ev_count(m, n)`` EVs and the
populations are nested (a larger one holds every EV of a smaller one), so the uncontrolled
reference and the LP relaxation host monotonically in ``m``. The bracket starts at ``0..8``;
while the upper end still hosts it doubles, up to 64 (hosting 64x is reported ``capped``).
Then bisection until the bracket is within ``tolerance`` (1 %) of its lower end, or one EV
wide. The reported ``multiple`` is the largest multiple giving the hosted population
(``(c + 0.5) / n`` for ``c`` EVs, rounded down to 4 decimals): every multiple up to it gives at
most ``c`` EVs, and the first multiple shown not to host (``fail_multiple``) is at most
``tolerance`` above it, or one EV more.

Orderly means: a day plan exists that respects every charger (off, or between its min and max
power, only while plugged in for the whole slot) and has no overload and no unmet energy. It is
searched in two passes. The LP relaxation (chargers modulating down to 0) is searched as above;
it hosts whatever a plan can host, so the first population it shows not to host bounds orderly
from above: ``orderly_upper_evs`` is that population minus one (no plan hosts more). The LP's own
search stops within the tolerance, so the largest population *it* was shown to host may lie
below orderly's; hosting.csv does not report it (bisection.csv has every population judged).
Then populations from one EV below the LP's failure down are judged by a least-laxity-first
schedule (:func:`least_laxity_schedule`, fast: when it hosts, that is a valid plan) or, where it
falls short, by a feasibility MILP (:func:`feasibility_milp`: the day-ahead MILP pricing only
overload and unmet energy), which may prove either way: a plan with neither, or a lower bound
showing there is none (``decided_by`` ``milp`` in ``bisection.csv``). Within the time limit it
often cannot prove the second (the LP relaxation hosts more, so its bound stays at 0): such a
population counts as not hosted (``milp-undecided``). So the reported orderly threshold always
has a plan; the true threshold lies between it (``orderly_evs``) and ``orderly_upper_evs``
(``orderly_evs <= orderly_upper_evs`` always), and is the reported one, up to the bisection
tolerance, where the next population is ``milp``-proven. ``planner_at_threshold`` reports
whether the planner's cost-optimal plan also hosts that population: near capacity its LP
rounding can leave EVs short where a plan without shortfall exists.

Each transformer is solved alone: :func:`restrict_to_transformer` keeps only it, its EVs and
its stations; feeders and DR events are dropped (a transformer-only study).

The marginal value of one more kVA is the LP dual of ``transformer_limit`` (and of
``transformer_reverse_limit`` at a station) summed over the slots, from the LP relaxation of the
lean build at the orderly threshold, converted to CNY per kVA per day with
``power_factor x max_loading_pu`` (limit kW per kVA).
"""

from __future__ import annotations

import dataclasses
import math
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vpp_sched.scenario.config import SolverOptions
from vpp_sched.errors import InputError
from vpp_sched.problem.arrays import Problem
from vpp_sched.solve.least_laxity import deliverable_kwh, least_laxity_power_kw
from vpp_sched.plan.results import ev_delivered_kwh
from vpp_sched.scenario.load import Scenario
from vpp_sched.solve.parallel import SerialExecutor
from vpp_sched.studies.whatif import POLICIES, Outcome, ev_count, scale_evs, uncontrolled_outcome, work_bounded

TOLERANCE = 0.01            # relative width of the final bracket [-]
START_MULTIPLE = 8.0        # first upper end of the bracket [-]
MAX_MULTIPLE = 64.0         # the search stops here [-]
OVERLOAD_TOL_KWH = 1e-3     # more overload energy than this fails [kWh]
UNMET_TOL_KWH = 0.1         # more unmet energy (by the grid) than this fails [kWh per transformer-day]
AT_LIMIT_TOL_KW = 1e-2      # a slot within this of the limit is "at the limit" [kW]
NO_PLAN_RETRY_FACTOR = 4.0  # a population without a plan in the time limit is retried with this x the time
LP_TIME_LIMIT_S = 60.0      # least time limit of an LP relaxation [s]
#: Least time limit of the planner's own solve at the threshold (``planner_at_threshold``) [s]: the
#: study's short per-population limit would cut the planner's MILP stages, `vpp-sched plan` has 60 s.
PLANNER_CHECK_TIME_LIMIT_S = 30.0
#: Branch-and-bound nodes of each MILP run of a judgement: the judgement is bounded by work, so it
#: is the same on a busy or an idle machine; the time limit only stops a run that then says so
#: (``decided_by = milp-undecided``, "stopped by the wall-clock limit" in ``fails_with``).
HOSTING_MAX_NODES = 200


# ------------------------------------------------------------------------------------------
# one transformer's subproblem
# ------------------------------------------------------------------------------------------
def restrict_to_transformer(scenario: Scenario, transformer_id: str) -> Scenario:
    """The scenario with only ``transformer_id``, its EVs and its stations (no feeders, no DR events)."""
    trafos = scenario.transformers
    if transformer_id not in set(trafos.transformer_id):
        raise InputError([f"transformer {transformer_id} is not in {scenario.config.transformers}"])
    one = trafos[trafos.transformer_id == transformer_id].reset_index(drop=True)
    one.attrs = {}
    one["feeder_id"] = ""
    stations = [st for st in scenario.config.stations if st.transformer_id == transformer_id]
    config = scenario.config.model_copy(update={"stations": stations, "dr_events": [], "feeders": None})
    evs = scenario.evs[scenario.evs.transformer_id == transformer_id].reset_index(drop=True)
    kept = {st.station_id for st in stations}
    return dataclasses.replace(
        scenario, config=config, transformers=one, feeders=scenario.feeders.iloc[0:0],
        base_load_kw=scenario.base_load_kw[[transformer_id]], evs=evs,
        weather={k: v for k, v in scenario.weather.items() if k in kept})


def station_transformers(scenario: Scenario) -> set[str]:
    return {st.transformer_id for st in scenario.config.stations}


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
    from vpp_sched.problem.build import build_problem

    sc = population(sc1, transformer_id, n_evs, seed)
    problem = build_problem(sc)
    options = options or sc.config.solver
    if mode == "uncontrolled":
        return _judge(uncontrolled_outcome(problem), mode)
    if mode == "lp":
        outcome, _ = lp_relaxation(problem, sc, options)
        return _judge(outcome, mode)
    if mode in ("schedule", "orderly"):
        ev = _judge(least_laxity_schedule(problem), "schedule")
        if ev.hosts or mode == "schedule":
            return ev
    if mode in ("milp", "orderly"):
        # Undecided in the time limit counts as not hosted (no plan shown), with the MILP's best plan:
        # it aims at feasibility only, so it does at least as well as the cost-optimal planner would.
        return feasibility_milp(problem, options)
    if mode == "plan":
        from vpp_sched.errors import NoPlanError
        from vpp_sched.solve.solution import SolveStatus

        try:
            return _judge(_solve_outcome(problem, options, method), mode)
        except NoPlanError as exc:
            if exc.status is not SolveStatus.NO_SOLUTION:
                raise
        # No plan within the time limit (a large population): once more with 4x the time, then
        # count it as not hosted.
        longer = options.model_copy(update={"time_limit_s": options.time_limit_s * NO_PLAN_RETRY_FACTOR})
        try:
            return _judge(_solve_outcome(problem, longer, method), mode)
        except NoPlanError as exc:
            if exc.status is not SolveStatus.NO_SOLUTION:
                raise
        return Evaluation(problem.n_evs, False, float("nan"), float("nan"), None, decided_by=mode,
                          note=f"no plan within {longer.time_limit_s:g} s")
    raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")


def feasibility_milp(problem: Problem, options: SolverOptions) -> Evaluation:
    """Is there any plan with no overload and no unmet energy by the grid? The day-ahead MILP (on/off
    chargers, batteries) with only those two slacks priced (:func:`~vpp_sched.solve.lp_rounding.feasibility_problem`),
    every EV asking what its stay allows, solved as the planner solves (LP-guided rounding, then the
    full MILP where it is small enough): an optimum of 0 is a plan that hosts (proven); a lower bound
    above the tolerances proves that no plan does. ``decided_by`` is ``milp`` when proven either way;
    otherwise (time limit) ``milp-undecided`` with the best plan found.
    """
    from vpp_sched.solve.lp_rounding import feasibility_problem, solve_lp_guided

    t0 = time.perf_counter()
    p = feasibility_problem(dataclasses.replace(problem, ev_energy_kwh=deliverable_kwh(problem)))
    # LP-guided rounding (as the planner) finds plans fast; its full-MILP stage proves infeasibility.
    sol = solve_lp_guided(p, options.model_copy(update={"mip_rel_gap": 0.0}))
    if not sol.status.has_plan:
        return Evaluation(problem.n_evs, False, float("nan"), float("nan"), None, decided_by="milp-undecided",
                          note=f"undecided: feasibility MILP {sol.status.value}{_wall_clock_note(sol, options)}")
    out = _judge(_outcome_of(problem, sol, "orderly", sol.status.value, time.perf_counter() - t0), "milp")
    proven_not = np.isfinite(sol.bound_cny) and sol.bound_cny > UNMET_TOL_KWH + OVERLOAD_TOL_KWH
    if not (out.hosts or proven_not):
        out.decided_by = "milp-undecided"
    return out


def _wall_clock_note(sol, options: SolverOptions) -> str:
    from vpp_sched.solve.solution import SolveStatus

    if sol.status in (SolveStatus.TIME_LIMIT, SolveStatus.NO_SOLUTION):
        return (f", stopped by the wall-clock limit of {options.time_limit_s:g} s (may differ on another "
                "machine: raise --time-limit)")
    return f" within {options.mip_max_nodes} branch-and-bound nodes" if options.mip_max_nodes is not None else ""



def _judge(o: Outcome, decided_by: str) -> Evaluation:
    over = float(o.overload_kw.sum() * o.problem.dt_h)
    unmet = float(o.unmet_by_grid_kwh.sum())
    return Evaluation(o.problem.n_evs, over <= OVERLOAD_TOL_KWH and unmet <= UNMET_TOL_KWH, over, unmet, o,
                      decided_by=decided_by)


def _solve_outcome(problem: Problem, options: SolverOptions, method: str) -> Outcome:
    from vpp_sched.errors import NoPlanError
    from vpp_sched.solve.dispatch import solve

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
        raise RuntimeError("least-laxity schedule charges outside a stay")
    if (power > p.ev_max_power_kw[:, None] + 1e-6).any():
        raise RuntimeError("least-laxity schedule above max power")
    if (on & (power < p.ev_min_power_kw[:, None] - 1e-6)).any():
        raise RuntimeError("least-laxity schedule below min power")
    if (power.sum(axis=1) * p.dt_h > p.ev_energy_kwh + 1e-6).any():
        raise RuntimeError("least-laxity schedule delivers more than requested")


def lp_relaxation(problem: Problem, sc: Scenario, options: SolverOptions) -> tuple[Outcome, np.ndarray]:
    """The LP relaxation's outcome and the marginal value of one kVA per transformer [CNY per kVA per day].

    Raises ``NoPlanError`` when HiGHS ends without an LP optimum.
    """
    from vpp_sched.errors import NoPlanError
    from vpp_sched.model.lean import build_lean
    from vpp_sched.solve.highs import LeanSolver, quiet_highs_banner

    quiet_highs_banner()
    t0 = time.perf_counter()
    # With ev_on continuous, pmin*on <= p <= pmax*on is just 0 <= p <= pmax: the same relaxation
    # without the on/start columns (as vpp_sched.solve.lp_rounding solves it; start-up costs are tie-breaks).
    # HiGHS's simplex needs thousands of degenerate iterations on the version with them.
    relaxed = problem.relaxation()
    model = build_lean(relaxed, relax_integrality=True)
    # An LP is quick; a planner's short study time limit must not cut it on a busy machine.
    options = options.model_copy(update={"time_limit_s": max(options.time_limit_s, LP_TIME_LIMIT_S)})
    solver = LeanSolver(model, relaxed, options)
    sol = solver.run()
    if not sol.status.has_plan:
        raise NoPlanError(sol.status, f"LP relaxation for {problem.n_evs} EVs ended {sol.status.value}")
    kva = kva_value_from_duals(model, np.asarray(solver.h.getSolution().row_dual, float), relaxed, sc)
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
    from vpp_sched.problem.build import build_problem

    sc = population(sc1, transformer_id, n_evs, seed)
    outcome, kva = lp_relaxation(build_problem(sc), sc, options or sc.config.solver)
    return float(kva[0]), outcome


# ------------------------------------------------------------------------------------------
# the search
# ------------------------------------------------------------------------------------------
@dataclass
class Threshold:
    """A policy's hosting threshold on one transformer."""

    policy: str
    multiple: float                 # every multiple up to this hosts
    n_evs: int                      # EVs hosted at ``multiple``
    fail_multiple: float | None     # smallest multiple tried that does not host (None: capped)
    fail_evs: int | None
    capped: bool                    # still hosts at MAX_MULTIPLE
    evaluations: int                # populations judged (cache hits not counted)
    binding: str                    # what is at its limit at the threshold
    fails_with: str                 # what goes wrong just above it
    kva_value: float = float("nan")  # CNY per kVA per day at the threshold (orderly)
    planner: str = ""               # does the planner's own solve host the threshold (orderly)
    at: Evaluation | None = field(default=None, repr=False)
    above: Evaluation | None = field(default=None, repr=False)
    tried: list[dict] = field(default_factory=list, repr=False)   # every population judged, see evaluation_row


def find_threshold(evaluate_count, n: int, policy: str, *, tolerance: float = TOLERANCE,
                   start: float = START_MULTIPLE, cap: float = MAX_MULTIPLE, hint: float | None = None,
                   known_fail: Evaluation | None = None) -> Threshold:
    """Bracket and bisect the multiple of ``n`` EVs; ``evaluate_count(c) -> Evaluation`` for ``c`` EVs.

    Without ``known_fail``, the bracket is ``0..start``, doubling the upper end while it hosts, up to
    ``cap``. ``known_fail`` is a population already shown not to host (e.g. by the LP relaxation,
    which hosts whatever a plan hosts): it is the upper end, and the population one EV below it is
    tried first. ``hint`` is a multiple likely to host (e.g. the uncontrolled threshold), tried
    first to raise the lower end. Bisection stops when the bracket is one EV wide or within
    ``tolerance`` of its lower end.
    """
    cache: dict[int, Evaluation] = {}
    if known_fail is not None:
        cache[known_fail.n_evs] = known_fail

    def at(m: float) -> Evaluation:
        c = ev_count(m, n)
        if c not in cache:
            cache[c] = evaluate_count(c)
        return cache[c]

    def done() -> Threshold:
        th = _threshold(policy, lo, hi, n, cache, evaluated=len(cache) - (known_fail is not None))
        th.tried = [evaluation_row(ev, n) for _, ev in sorted(cache.items()) if ev is not known_fail]
        return th

    lo = 0.0
    zero = at(0.0)
    if not zero.hosts:
        hi = 0.0
        return done()
    if hint is not None and 0 < hint < (known_fail.n_evs / n if known_fail else start) and at(hint).hosts:
        lo = hint
    if known_fail is not None:
        hi = known_fail.n_evs / n
        below = (known_fail.n_evs - 1) / n      # one EV below the known failure: hosts when the planner
        if ev_count(below, n) > ev_count(lo, n):  # does what the LP relaxation does
            if at(below).hosts:
                lo = below
            else:
                hi = below
    else:
        hi = start
        while at(hi).hosts:
            lo = hi
            if hi >= cap:
                return done()
            hi = min(hi * 2, cap)
    while ev_count(hi, n) - ev_count(lo, n) > 1 and not (lo > 0 and hi - lo <= tolerance * lo):
        mid = (lo + hi) / 2
        if at(mid).hosts:
            lo = mid
        else:
            hi = mid
    return done()


EVALUATION_COLUMNS = ["transformer_id", "policy", "n_evs", "multiple", "hosts", "decided_by", "max_loading_pu",
                      "limit_pu", "peak_kw", "overload_kwh", "unmet_by_grid_kwh"]


def evaluation_row(ev: Evaluation, n: int) -> dict:
    """One population the search judged (a row of ``bisection.csv``): its multiple of today's ``n`` EVs,
    whether it hosts, the highest loading [pu of rated kVA x power factor], the limit [pu], the peak
    net load [kW], overload [kWh] and unmet energy by the grid [kWh] (NaN where no plan was found)."""
    row = {"n_evs": ev.n_evs, "multiple": ev.n_evs / n if n else float("nan"), "hosts": bool(ev.hosts),
           "decided_by": ev.decided_by, "max_loading_pu": float("nan"), "limit_pu": float("nan"),
           "peak_kw": float("nan"), "overload_kwh": ev.overload_kwh, "unmet_by_grid_kwh": ev.unmet_by_grid_kwh}
    o = ev.outcome
    if o is not None and o.problem.n_slots and o.problem.n_transformers:
        p, net = o.problem, o.net_load_kw[0]
        row.update(max_loading_pu=float(np.abs(net).max() / p.rating_kw[0]),
                   limit_pu=float(p.limit_kw[0] / p.rating_kw[0]), peak_kw=float(net.max()))
    return row


def _threshold(policy: str, lo: float, hi: float, n: int, cache: dict[int, Evaluation], evaluated: int) -> Threshold:
    """The result of a search ending with ``lo`` hosting and ``hi`` not (``hi == lo`` when capped at lo)."""
    c_lo, c_hi = ev_count(lo, n), ev_count(hi, n)
    at_lo = cache[c_lo]
    if not at_lo.hosts:                       # even no EVs: the base load alone overloads
        return Threshold(policy, 0.0, 0, 0.0, 0, False, evaluated,
                         "base load alone exceeds the limit" + _over_text(at_lo), _fails_with(at_lo),
                         at=None, above=at_lo)
    if c_hi <= c_lo:                          # still hosts at the cap
        return Threshold(policy, lo, c_lo, None, None, True, evaluated, _binding(at_lo),
                         f"still hosts at {lo:g}x (the search cap)", at=at_lo)
    multiple = largest_multiple(c_lo, n, fallback=lo)
    above = cache[c_hi]
    return Threshold(policy, multiple, c_lo, hi, c_hi, False, evaluated, _binding(at_lo), _fails_with(above),
                     at=at_lo, above=above)


def largest_multiple(count: int, n: int, fallback: float = float("nan")) -> float:
    """The largest multiple of ``n`` EVs (4 decimals, rounded down) giving ``count`` EVs: every
    multiple up to it gives at most ``count``; ``fallback`` where 4 decimals are too coarse."""
    multiple = math.floor((count + 0.5) / n * 1e4) / 1e4
    return multiple if ev_count(multiple, n) == count else fallback


def orderly_bound(lp: Threshold, orderly: Threshold, n: int) -> dict:
    """hosting.csv's upper bound of orderly: ``orderly_upper_evs`` = the first population the LP
    relaxation shows not to host, minus one (no plan hosts more), with its multiple; ``None``
    with ``orderly_upper_capped`` when the LP still hosts at the cap.

    Never below ``orderly.n_evs``: a plan hosting a population is an LP solution for it (and the
    orderly search starts below the LP's failure, so this max only guards round-off).
    """
    if lp.fail_evs is None:
        return {"orderly_upper_multiple": None, "orderly_upper_evs": None, "orderly_upper_capped": True}
    upper = max(lp.fail_evs - 1, orderly.n_evs, 0)
    return {"orderly_upper_multiple": largest_multiple(upper, n, fallback=upper / n) if n else float("nan"),
            "orderly_upper_evs": upper, "orderly_upper_capped": False}


def _slot_ranges(slots: pd.DatetimeIndex, mask: np.ndarray, dt_h: float, limit: int = 4) -> str:
    idx = np.flatnonzero(mask)
    if not len(idx):
        return ""
    runs, start = [], idx[0]
    for a, b in zip(idx[:-1], idx[1:]):
        if b != a + 1:
            runs.append((start, a))
            start = b
    runs.append((start, idx[-1]))
    step = pd.Timedelta(hours=dt_h)
    text = [f"{slots[a]:%H:%M}-{slots[b] + step:%H:%M}" for a, b in runs[:limit]]
    more = f" and {len(runs) - limit} more" if len(runs) > limit else ""
    return ", ".join(text) + more + f" ({len(idx)} slot{'s' if len(idx) != 1 else ''})"


def _binding(ev: Evaluation) -> str:
    o = ev.outcome
    if o is None:
        return ev.note
    p = o.problem
    net, limit = o.net_load_kw[0], p.limit_kw[0]
    at_limit = net >= limit - AT_LIMIT_TOL_KW
    if at_limit.any():
        return f"net load at the limit {limit:.0f} kW in " + _slot_ranges(p.slots, at_limit, p.dt_h)
    t = int(np.argmax(net))
    return f"peak {net[t]:.0f} kW = {net[t] / limit:.0%} of the limit at {p.slots[t]:%H:%M}"


def _over_text(ev: Evaluation | None) -> str:
    if ev is None or ev.outcome is None:
        return ""
    o = ev.outcome
    over = o.overload_kw[0] > 0
    return f" in {_slot_ranges(o.problem.slots, over, o.problem.dt_h)}" if over.any() else ""


def _fails_with(ev: Evaluation) -> str:
    o = ev.outcome
    if o is None:
        return f"at {ev.n_evs} EVs: {ev.note}"
    p = o.problem
    parts = []
    if ev.overload_kwh > OVERLOAD_TOL_KWH:
        parts.append(f"overload {ev.overload_kwh:.1f} kWh{_over_text(ev)}")
    short = o.unmet_by_grid_kwh
    if short.sum() > UNMET_TOL_KWH:
        ids = [str(p.ev_ids[e]) for e in np.argsort(-short, kind="stable") if short[e] > 0]
        shown = ", ".join(ids[:5]) + (f", ... ({len(ids)})" if len(ids) > 5 else "")
        parts.append(f"{len(ids)} EV(s) short of {short.sum():.2f} kWh ({shown})")
    who = {"lp": " (LP relaxation)", "plan": " (planner)",
           "milp": " (proven by the feasibility MILP's bound; the least-laxity schedule too)",
           "milp-undecided": " (best plan of the feasibility MILP in the time limit, not proven)"}.get(ev.decided_by, "")
    return f"at {ev.n_evs} EVs{who}: " + "; ".join(parts) if parts else f"at {ev.n_evs} EVs"


# ------------------------------------------------------------------------------------------
# the study
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HostingTask:
    transformer_id: str
    scenario: Scenario               # already restricted to the transformer
    policies: tuple[str, ...]
    seed: int = 0
    method: str = "lean"
    options: SolverOptions | None = None
    tolerance: float = TOLERANCE


def hosting_thresholds(sc1: Scenario, transformer_id: str, policies: Sequence[str] = POLICIES, *, seed: int = 0,
                       method: str = "lean", options: SolverOptions | None = None,
                       tolerance: float = TOLERANCE) -> dict[str, Threshold]:
    """Thresholds of one transformer (``sc1`` restricted to it): ``uncontrolled``, ``orderly`` and,
    with ``orderly``, ``orderly_lp`` (the LP relaxation's search: its first failure bounds orderly
    from above, see :func:`orderly_bound`; its ``n_evs`` is only what that search saw hosted).

    Orderly is searched in two passes: the cheap LP relaxation first (the bracket and bisection of
    the module docstring), then, from one EV below the population the LP fails, populations are
    judged ``orderly``: hosted when the least-laxity schedule or else the feasibility plan
    (:func:`feasibility_milp`) has no overload and no unmet energy. Both are valid plans, so every
    reported orderly threshold is proven hosted; when it meets the LP's, it is exact.
    ``planner_at_threshold`` says whether the planner's own cost-optimal solve (as ``vpp-sched
    plan``, with at least ``PLANNER_CHECK_TIME_LIMIT_S``) also hosts the threshold population.
    """
    n = len(sc1.evs)

    def judge(mode: str):
        return lambda c: evaluate(sc1, transformer_id, c, mode, seed=seed, method=method, options=options)

    found: dict[str, Threshold] = {}
    if "uncontrolled" in policies:
        found["uncontrolled"] = find_threshold(judge("uncontrolled"), n, "uncontrolled", tolerance=tolerance)
    if "orderly" in policies:
        lp = found["orderly_lp"] = find_threshold(judge("lp"), n, "orderly_lp", tolerance=tolerance)
        hint = found["uncontrolled"].multiple if "uncontrolled" in found else None
        orderly = find_threshold(judge("orderly"), n, "orderly", tolerance=tolerance, hint=hint,
                                 known_fail=lp.above)
        if orderly.at is not None:
            orderly.kva_value, lp_at = kva_value(sc1, transformer_id, orderly.n_evs, seed=seed, options=options)
            orderly.binding = _binding(_judge(lp_at, "lp")) + " (cost-optimal LP at the threshold)"
            check = (options or sc1.config.solver).model_copy(update={"time_limit_s": max(
                (options or sc1.config.solver).time_limit_s, PLANNER_CHECK_TIME_LIMIT_S)})
            planner = evaluate(sc1, transformer_id, orderly.n_evs, "plan", seed=seed, method=method, options=check)
            orderly.planner = _planner_text(planner)
        found["orderly"] = orderly
    return found


def _planner_text(ev: Evaluation) -> str:
    if ev.outcome is None:
        return ev.note
    status = ev.outcome.status
    if ev.hosts:
        return f"hosts ({status})"
    return _fails_with(ev).split(": ", 1)[-1] + f" ({status})"


def host_transformer(task: HostingTask) -> dict:
    """One row of ``hosting.csv``; errors become ``status = failed``, never raise."""
    t0 = time.perf_counter()
    sc, tid = task.scenario, task.transformer_id
    trafo = sc.transformers.iloc[0]
    n = len(sc.evs)
    row = {"transformer_id": tid, "rated_kva": float(trafo.rated_kva), "limit_kw": float(trafo.limit_kw),
           "evs_today": n}
    try:
        if n == 0:
            row.update(status="no EVs", error="the transformer has no EVs to scale")
            row["wall_seconds"] = time.perf_counter() - t0
            return row
        found = hosting_thresholds(sc, tid, task.policies, seed=task.seed, method=task.method,
                                   options=task.options, tolerance=task.tolerance)
        for policy, th in found.items():
            if policy == "orderly_lp":
                row.update(orderly_bound(th, found["orderly"], n))
                continue
            row.update({f"{policy}_multiple": th.multiple, f"{policy}_evs": th.n_evs,
                        f"{policy}_fail_multiple": th.fail_multiple, f"{policy}_fail_evs": th.fail_evs,
                        f"{policy}_capped": th.capped, f"{policy}_binding": th.binding,
                        f"{policy}_fails_with": th.fails_with})
        row["_tried"] = [{"transformer_id": tid, "policy": policy, **r} for policy, th in found.items()
                         for r in th.tried]
        if "orderly" in found:
            row["kva_value_cny_per_kva_day"] = found["orderly"].kva_value
            row["planner_at_threshold"] = found["orderly"].planner
        row.update(status="ok", error="", evaluations=sum(th.evaluations for th in found.values()))
    except Exception as exc:  # noqa: BLE001 - one transformer failing is reported, not fatal
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        at = f" (at {Path(where.filename).name}:{where.lineno})" if where else ""
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}{at}")
    row["wall_seconds"] = time.perf_counter() - t0
    return row


@dataclass
class HostingResult:
    scenario_name: str
    policies: list[str]
    table: pd.DataFrame
    tolerance: float
    seed: int
    wall_seconds: float
    executor: str = "serial"
    workers: int = 1
    warnings: list[str] = field(default_factory=list)
    evaluations: pd.DataFrame | None = None   # every population judged (bisection.csv), EVALUATION_COLUMNS
    scenario_folder: str = ""
    method: str = "lean"
    time_limit_s: float | None = None         # solver time limit per plan [s]


def hosting_columns(policies: Sequence[str]) -> list[str]:
    cols = ["transformer_id", "rated_kva", "limit_kw", "evs_today"]
    for pol in policies:
        cols += [f"{pol}_multiple", f"{pol}_evs", f"{pol}_fail_multiple", f"{pol}_fail_evs", f"{pol}_capped",
                 f"{pol}_binding", f"{pol}_fails_with"]
    if "orderly" in policies:
        cols += ["orderly_upper_multiple", "orderly_upper_evs", "orderly_upper_capped",
                 "planner_at_threshold", "kva_value_cny_per_kva_day"]
    return cols + ["tolerance", "evaluations", "status", "error", "wall_seconds"]


def default_transformers(scenario: Scenario) -> list[str]:
    """Every transformer without a station (a station's transformer only when named)."""
    stations = station_transformers(scenario)
    return [t for t in scenario.transformers.transformer_id if t not in stations]


def run_hosting(scenario: Scenario, transformer_ids: Sequence[str] | None = None,
                policies: Sequence[str] = POLICIES, *, seed: int = 0, method: str = "lean",
                options: SolverOptions | None = None, tolerance: float = TOLERANCE,
                executor=None) -> HostingResult:
    """Hosting thresholds of each transformer (default :func:`default_transformers`).

    Raises ``InputError`` for an unknown transformer id; a transformer whose search fails is a
    row with ``status = failed``.
    """
    t0 = time.perf_counter()
    known = list(scenario.transformers.transformer_id)
    ids = list(dict.fromkeys(transformer_ids)) if transformer_ids else default_transformers(scenario)
    unknown = [t for t in ids if t not in known]
    if unknown:
        raise InputError([f"--transformer {t}: not a transformer of {scenario.config.transformers} "
                          f"(known: {', '.join(known[:8])}{', ...' if len(known) > 8 else ''})" for t in unknown])
    policies = tuple(p for p in POLICIES if p in policies)
    options = work_bounded(options or scenario.config.solver, HOSTING_MAX_NODES)
    tasks = [HostingTask(t, restrict_to_transformer(scenario, t), policies, seed, method, options, tolerance)
             for t in ids]
    # Most EVs first: the longest searches start early.
    order = sorted(range(len(tasks)), key=lambda i: -len(tasks[i].scenario.evs))
    ex = executor or SerialExecutor()
    done = ex.map(host_transformer, [tasks[i] for i in order])
    rows = [None] * len(tasks)
    for i, r in zip(order, done):
        rows[i] = r
    tried = [t for r in rows for t in r.pop("_tried", [])]
    table = pd.DataFrame(rows).reindex(columns=hosting_columns(policies))
    table["tolerance"] = tolerance
    result = HostingResult(scenario.config.name, list(policies), table, tolerance, seed, time.perf_counter() - t0,
                           getattr(ex, "name", type(ex).__name__), int(getattr(ex, "workers", 1)),
                           evaluations=pd.DataFrame(tried, columns=EVALUATION_COLUMNS),
                           scenario_folder=str(getattr(scenario, "folder", "") or ""), method=method,
                           time_limit_s=(options or scenario.config.solver).time_limit_s)
    failed = table[table.status == "failed"]
    if len(failed):
        result.warnings.append(f"{len(failed)} of {len(table)} transformer(s) failed (status 'failed' in "
                               f"hosting.csv), e.g. {failed.transformer_id.iat[0]}: {failed.error.iat[0]}")
    return result
