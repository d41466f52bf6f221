"""Solve a :class:`~vpp_sched.problem.arrays.Problem` with HiGHS, through Pyomo or the lean highspy build.

The solver's termination codes are mapped to :class:`~vpp_sched.solve.solution.SolveStatus` by an
explicit table; results are loaded only when a solution exists.
"""

from __future__ import annotations

import functools
import sys
import time

import numpy as np

from vpp_sched.errors import ArgumentError
from vpp_sched.scenario.config import DECOMPOSED_MIP_REL_GAP, SolverOptions
from vpp_sched.solve.lp_rounding import solve_lp_guided   # the default route: imported with the CLI, not in the solve
from vpp_sched.problem.arrays import Problem
from vpp_sched.solve.budget import Deadline
from vpp_sched.solve.decompose import solve_decomposed
from vpp_sched.solve import sites as solve_sites
from vpp_sched.solve.solution import Solution, SolveStatus, relative_gap
from vpp_sched.solve.highs import HIGHS_VERSION, highs_options, quiet_highs_banner
from vpp_sched.solve.timing import record

METHODS = ("pyomo", "lean", "decomposed")
#: ``auto`` decomposes from this many EVs on (benchmarks, 2 cores: at 10,000 EVs with a DR event and
#: min powers the decomposed route took 16 s and 390 MB, the monolithic one 26 s and 2 GB; at 2,000
#: the monolithic one is faster, and its blocks are one block anyway; at 100,000 only decomposed fits).
AUTO_DECOMPOSE_EVS = 5_000


def choose_method(problem: Problem, method: str) -> str:
    """Resolve ``auto`` by size: ``decomposed`` for large portfolios, else ``lean``."""
    if method != "auto":
        return method
    return "decomposed" if problem.n_evs >= AUTO_DECOMPOSE_EVS and problem.n_transformers > 1 else "lean"


def route_options(options: SolverOptions, method: str) -> SolverOptions:
    """``options`` with the route's own default gap where none was set: the decomposed route stops
    at :data:`~vpp_sched.scenario.config.DECOMPOSED_MIP_REL_GAP` unless the scenario's ``solver:``
    or ``--mip-gap`` names ``mip_rel_gap`` (the solve records the gap it used)."""
    if method != "decomposed" or "mip_rel_gap" in options.model_fields_set:
        return options
    return options.model_copy(update={"mip_rel_gap": DECOMPOSED_MIP_REL_GAP})


@functools.cache
def _pyomo_status() -> dict:
    """Pyomo's termination conditions -> our status (Pyomo is imported only for ``method="pyomo"``)."""
    from pyomo.contrib.solver.common.results import TerminationCondition

    return {
        TerminationCondition.convergenceCriteriaSatisfied: SolveStatus.OPTIMAL,
        TerminationCondition.maxTimeLimit: SolveStatus.TIME_LIMIT,
        TerminationCondition.iterationLimit: SolveStatus.TIME_LIMIT,
        TerminationCondition.interrupted: SolveStatus.TIME_LIMIT,
        TerminationCondition.provenInfeasible: SolveStatus.INFEASIBLE,
        TerminationCondition.locallyInfeasible: SolveStatus.INFEASIBLE,
        TerminationCondition.infeasibleOrUnbounded: SolveStatus.INFEASIBLE,
    }


@functools.cache
def _pyomo_version() -> str:
    """Pyomo's version without importing Pyomo (its import takes seconds)."""
    if "pyomo" in sys.modules:
        return sys.modules["pyomo"].__version__
    from importlib.metadata import version

    return version("pyomo")


def solver_info(options: SolverOptions, build: str) -> dict:
    return {"name": "highs", "highs_version": HIGHS_VERSION, "pyomo_version": _pyomo_version(),
            "build": build, "options": highs_options(options)}


def solve(problem: Problem, options: SolverOptions, method: str = "lean", executor=None,
          deadline: Deadline | None = None, lp_start=None, keep_basis: bool = False,
          gap_fallback: bool = True) -> Solution:
    """Solve the day-ahead model by ``deadline`` (:class:`~vpp_sched.solve.budget.Deadline`; default
    ``options.time_limit_s`` from now). ``options`` are passed on (and recorded) as given.

    ``method``: ``lean`` (numpy build, LP-guided rounding of charger on/off, then the MILP only if
    the rounded plan is not within the gap), ``pyomo`` (the readable model, plain branch and bound),
    ``decomposed`` (per-transformer blocks coordinated on feeders and DR events, run on
    ``executor``, see :mod:`vpp_sched.solve.decompose`) or ``auto`` (by size). ``lp_start`` and
    ``keep_basis`` (lean only, else ignored): the relaxation's warm start from a previous window's
    basis and keeping this one's (:mod:`vpp_sched.solve.warm_start`, for rolling re-plans);
    ``gap_fallback=False`` (lean only): no MILP for the rounded plan's gap, only when it has no plan.
    """
    quiet_highs_banner()
    deadline = Deadline.of(options.time_limit_s, deadline)
    method = choose_method(problem, method)
    if method == "decomposed":
        return solve_decomposed(problem, route_options(options, method), executor=executor, deadline=deadline)
    if method == "pyomo":
        return solve_pyomo(problem, options, deadline=deadline)
    if method == "lean":
        return solve_lp_guided(problem, options, deadline=deadline, lp_start=lp_start, keep_basis=keep_basis,
                               gap_fallback=gap_fallback)
    raise ArgumentError(f"unknown method {method!r}; choose one of auto, {', '.join(METHODS)}")


def solve_pyomo(problem: Problem, options: SolverOptions, relax_integrality: bool = False,
                deadline: Deadline | None = None) -> Solution:
    """Build the Pyomo model and solve it with HiGHS (appsi-free ``pyomo.contrib.solver`` interface)."""
    import pyomo.environ as pyo
    from pyomo.contrib.solver.common.results import SolutionStatus
    from pyomo.contrib.solver.solvers.highs import Highs

    from vpp_sched.model import create_model  # the Pyomo model: Pyomo takes seconds to import, only for method="pyomo"

    start = time.perf_counter()
    deadline = Deadline.of(options.time_limit_s, deadline)
    m = create_model(problem, relax_integrality=relax_integrality)
    built = time.perf_counter()
    opts = highs_options(options)
    res = Highs().solve(
        m, load_solutions=False, raise_exception_on_nonoptimal_result=False,
        time_limit=deadline.highs_time_limit(), rel_gap=opts["mip_rel_gap"], threads=opts["threads"],
        solver_options={"random_seed": opts["random_seed"], "output_flag": opts["output_flag"],
                        "presolve": opts["presolve"],
                        **({"mip_max_nodes": opts["mip_max_nodes"]} if "mip_max_nodes" in opts else {})})
    solved = time.perf_counter()
    has_solution = res.solution_status in (SolutionStatus.feasible, SolutionStatus.optimal)
    status = _pyomo_status().get(res.termination_condition, SolveStatus.ERROR)
    if status is SolveStatus.TIME_LIMIT and not has_solution:
        status = SolveStatus.NO_SOLUTION
    if status is SolveStatus.OPTIMAL and not has_solution:
        status = SolveStatus.ERROR
    # Pyomo's handover to HiGHS is part of the modelling overhead: count it as build time.
    timing = res.timing_info
    solver_wall = float(getattr(timing, "highs_time", None) or getattr(timing, "solve_time", 0.0) or 0.0)
    build_s = (built - start) + max((solved - built) - solver_wall, 0.0) if solver_wall else built - start
    record(solved - (solver_wall or solved - built), solved)   # HiGHS's run ends Pyomo's solve call
    solve_s = solver_wall if solver_wall else solved - built
    sol = Solution(status=status, build_seconds=build_s, solve_seconds=solve_s,
                   solver=solver_info(options, "pyomo"))
    if not status.has_plan:
        return sol
    res.solution_loader.load_vars()
    sol.objective_cny = float(pyo.value(m.objective))
    bound = res.objective_bound
    sol.bound_cny = float(bound) if bound is not None and np.isfinite(bound) else sol.objective_cny
    sol.mip_gap = relative_gap(sol.objective_cny, sol.bound_cny)
    _extract(m, problem, sol)
    return sol


def _extract(m: pyo.ConcreteModel, p: Problem, sol: Solution) -> None:
    """Copy variable values into the Solution arrays (zeros where a variable does not exist)."""
    T = p.n_slots

    def grid(var, rows: int) -> np.ndarray:
        out = np.zeros((rows, T))
        for (i, t), v in var.items():
            out[i, t] = v.value or 0.0
        return out

    ev = np.zeros((p.n_evs, T))
    for (e, t), v in m.ev_power_kw.items():
        ev[e, t] = v.value or 0.0
    sol.ev_power_kw = _clean(ev)
    sol.ev_unmet_kwh = _clean(np.array([m.ev_unmet_kwh[e].value or 0.0 for e in range(p.n_evs)]))
    if p.has_v2g:
        sol.ev_discharge_kw = _clean(grid(m.ev_discharge_kw, p.n_evs))
        sol.ev_soc_kwh = _clean(grid(m.ev_soc_kwh, p.n_evs))
    sol.pv_curtail_kw = _clean(grid(m.pv_curtail_kw, p.n_stations))
    sol.battery_charge_kw = _clean(grid(m.battery_charge_kw, p.n_batteries))
    sol.battery_discharge_kw = _clean(grid(m.battery_discharge_kw, p.n_batteries))
    sol.battery_soc_kwh = _clean(grid(m.battery_soc_kwh, p.n_batteries))
    sol.net_load_kw = grid(m.net_load_kw, p.n_transformers)
    sol.overload_kw = _clean(grid(m.overload_kw, p.n_transformers))
    sol.feeder_overload_kw = _clean(grid(m.feeder_overload_kw, p.n_feeders))
    sol.dr_shortfall_kw = _clean(grid(m.dr_shortfall_kw, p.n_events))
    solve_sites.unpack_pyomo(m, p, sol, _clean)


def _clean(a: np.ndarray) -> np.ndarray:
    """Solver round-off: values within 1e-9 of zero become zero."""
    a = np.asarray(a, dtype=float)
    a[np.abs(a) < 1e-9] = 0.0
    return a
