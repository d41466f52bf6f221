"""The HiGHS hand-over: a built :class:`~vpp_sched.model.lean.LeanModel` solved by highspy.

:class:`LeanSolver` holds one HiGHS instance with the model passed in (``Highs.passModel``) and
re-solves it after bound changes (warm starts); :func:`solve_lean` builds and solves in one call.
The HiGHS options a solve sets (:func:`highs_options`, the LP presolve rule :func:`lp_presolve`),
the HiGHS version and the silenced start-up banner (:func:`quiet_highs_banner`) live here too, so
every solve path (lean, LP-guided rounding, decomposed, Pyomo) takes them from one place.
"""

from __future__ import annotations

import functools
import os
import sys
import time

import highspy
import numpy as np

from vpp_sched.errors import InternalError
from vpp_sched.model.lean import INF, LeanModel, build_lean
from vpp_sched.problem.arrays import Problem
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.solve.budget import Deadline
from vpp_sched.solve import sites as solve_sites
from vpp_sched.solve.solution import Solution, SolveStatus, relative_gap
from vpp_sched.solve.timing import run_highs

HIGHS_VERSION = f"{highspy.HIGHS_VERSION_MAJOR}.{highspy.HIGHS_VERSION_MINOR}.{highspy.HIGHS_VERSION_PATCH}"


@functools.cache
def quiet_highs_banner() -> None:
    """HiGHS prints a banner to stdout when the first instance of a process is made; send it to /dev/null."""
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


#: HiGHS model status -> our status. ``kTimeLimit`` is refined by whether a primal solution exists.
_STATUS_MAP: dict[highspy.HighsModelStatus, SolveStatus] = {
    highspy.HighsModelStatus.kOptimal: SolveStatus.OPTIMAL,
    highspy.HighsModelStatus.kTimeLimit: SolveStatus.TIME_LIMIT,
    highspy.HighsModelStatus.kInfeasible: SolveStatus.INFEASIBLE,
    # a work limit (mip_max_nodes): a plan not proven within the gap, the same on any machine
    highspy.HighsModelStatus.kSolutionLimit: SolveStatus.FEASIBLE,
    highspy.HighsModelStatus.kIterationLimit: SolveStatus.FEASIBLE,
}

_ZERO_TOL = 1e-9


#: LPs up to this many columns are solved without HiGHS's presolve: on the planner's LPs (one
#: transformer block, up to a few thousand EVs) presolve takes longer than the simplex it saves
#: (2-3x faster without, measured on 10,000- and 100,000-EV blocks); on a whole 10,000-EV day
#: (440k columns) it pays off (16 s with, 26 s without).
LP_PRESOLVE_MIN_COLS = 100_000


def lp_presolve(n_cols: int) -> str:
    """HiGHS ``presolve`` for an LP of ``n_cols`` columns (see ``LP_PRESOLVE_MIN_COLS``)."""
    return "off" if n_cols < LP_PRESOLVE_MIN_COLS else "choose"


#: Dual simplex pricing of those block-sized LPs: Devex (HiGHS ``simplex_dual_edge_weight_strategy``
#: 1) instead of HiGHS's choice (steepest edge): about as many iterations, each cheaper (10k-EV day's
#: decomposed solve, serial CPU: gap 0.5 % 5-10 % less, gap 0.1 % 10.4 -> 8.9 s); larger LPs keep
#: HiGHS's choice (-1), not measured with Devex.
LP_DEVEX = 1


def lp_dual_edge_weights(n_cols: int) -> int:
    """HiGHS ``simplex_dual_edge_weight_strategy`` for an LP of ``n_cols`` columns (see ``LP_DEVEX``)."""
    return LP_DEVEX if n_cols < LP_PRESOLVE_MIN_COLS else -1


#: A day without on/off chargers is one LP solved once (no re-solves to warm-start): from this many
#: columns HiGHS's interior point (with crossover, so the plan is a vertex as the simplex gives) solves
#: it several times faster than the dual simplex, whose many equal-price slots make it degenerate
#: (generated days, 1 core: 1,000 EVs / 10 transformers, 45,736 columns, 12.9 -> 2.3 s of CPU; 2,000 /
#: 20, 89,354 columns, 49 -> 13 s; the same objective).
LP_IPM_MIN_COLS = 20_000


def one_shot_lp_solver(n_cols: int) -> str:
    """HiGHS ``solver`` for an LP of ``n_cols`` columns solved once (see ``LP_IPM_MIN_COLS``)."""
    return "ipm" if n_cols >= LP_IPM_MIN_COLS else "choose"


def highs_options(options: SolverOptions) -> dict:
    """The HiGHS options a solve sets, by HiGHS name (recorded in kpis.json); the one set of every
    build (lean, decomposed, Pyomo), so the recorded options do not depend on the method."""
    out = {
        "time_limit": float(options.time_limit_s),
        "mip_rel_gap": float(options.mip_rel_gap),
        "threads": int(options.threads),
        "random_seed": int(options.random_seed),
        "presolve": "choose",
        "output_flag": False,
    }
    if options.mip_max_nodes is not None:   # recorded only when set: plans without it keep their kpis
        out["mip_max_nodes"] = int(options.mip_max_nodes)
    return out


def solve_lean(problem: Problem, options: SolverOptions, *, relax_integrality: bool = False,
               deadline: Deadline | None = None) -> Solution:
    """Build the lean model of ``problem`` and solve it with HiGHS."""
    deadline = Deadline.of(options.time_limit_s, deadline)
    model = build_lean(problem, relax_integrality=relax_integrality)
    return solve_lean_model(model, problem, options, deadline=deadline)


def solve_lean_model(model: LeanModel, problem: Problem, options: SolverOptions,
                     start: np.ndarray | None = None, deadline: Deadline | None = None,
                     one_shot: bool = False) -> Solution:
    """Solve an already built :class:`LeanModel` by ``deadline`` (default: ``options.time_limit_s``
    from now); ``build_seconds`` = its build + passModel.

    ``start`` is a feasible column vector (e.g. a rounded plan) HiGHS takes as its first incumbent.
    ``one_shot``: an LP solved once and never re-solved (:func:`one_shot_lp_solver` picks HiGHS's solver).
    """
    deadline = Deadline.of(options.time_limit_s, deadline)
    solver = LeanSolver(model, problem, options)
    if one_shot and not model.is_mip and start is None:
        solver.set_option("solver", one_shot_lp_solver(model.n_cols))
    if start is not None:
        solver.set_start(start)
    return solver.run(deadline)


class LeanSolver:
    """A HiGHS instance holding one :class:`LeanModel`, re-solved after bound changes.

    Changing column bounds keeps HiGHS's simplex basis, so a re-solve is a warm start: this is
    what makes the fix-and-repair rounding of :mod:`vpp_sched.solve.lp_rounding` cheap.
    """

    def __init__(self, model: LeanModel, problem: Problem, options: SolverOptions):
        self.model, self.problem, self.options = model, problem, options
        self.opts = highs_options(options)
        if not model.is_mip:
            self.opts["presolve"] = lp_presolve(model.n_cols)
            self.opts["simplex_dual_edge_weight_strategy"] = lp_dual_edge_weights(model.n_cols)
        h = self.h = highspy.Highs()
        h.setOptionValue("output_flag", False)     # before anything else, so HiGHS stays quiet
        for name, value in self.opts.items():
            _check(h.setOptionValue(name, value), f"setting HiGHS option {name}={value!r}")
        t0 = time.perf_counter()
        _check(h.passModel(model.n_cols, model.n_rows, model.nnz,
                           int(highspy.MatrixFormat.kColwise), int(highspy.ObjSense.kMinimize), 0.0,
                           model.col_cost, model.col_lower, model.col_upper,
                           model.row_lower, model.row_upper,
                           model.a_start, model.a_index, model.a_value,
                           model.integrality), "passing the model to HiGHS")
        self.build_seconds = model.build_seconds + (time.perf_counter() - t0)
        self.lower = self.upper = None       # the bounds HiGHS holds, once any were changed

    def set_option(self, name: str, value) -> None:
        """One more HiGHS option, set and recorded with the others (kpis.json)."""
        _check(self.h.setOptionValue(name, value), f"setting HiGHS option {name}={value!r}")
        self.opts[name] = value

    def set_start(self, x: np.ndarray) -> None:
        # Every column given by index: the array goes to HiGHS as a buffer (a HighsSolution's
        # col_value is converted element by element, 4x slower).
        x = np.ascontiguousarray(x, dtype=np.float64)
        _check(self.h.setSolution(len(x), np.arange(len(x), dtype=np.int32), x),
               "passing the starting solution to HiGHS")

    def set_col_bounds(self, cols: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        """Change the bounds of ``cols``. Only the columns whose bounds differ are passed: HiGHS
        spends ~0.5 us per column passed, changed or not, and a repair round changes a few."""
        cols = np.asarray(cols, dtype=np.int32)
        lower = np.broadcast_to(np.asarray(lower, dtype=np.float64), cols.shape)
        upper = np.broadcast_to(np.asarray(upper, dtype=np.float64), cols.shape)
        if self.lower is None:
            self.lower, self.upper = self.model.col_lower.copy(), self.model.col_upper.copy()
        changed = (self.lower[cols] != lower) | (self.upper[cols] != upper)
        if not changed.any():
            return
        cols, lower, upper = cols[changed], np.ascontiguousarray(lower[changed]), np.ascontiguousarray(upper[changed])
        _check(self.h.changeColsBounds(len(cols), cols, lower, upper), "changing column bounds")
        self.lower[cols], self.upper[cols] = lower, upper

    def run(self, deadline: Deadline | None = None) -> Solution:
        """Solve (again), to end by ``deadline`` (default: ``options.time_limit_s`` of HiGHS's own
        time, the option as set). The recorded ``options`` stay the user's."""
        h, model, problem = self.h, self.model, self.problem
        if deadline is not None:
            _check(h.setOptionValue("time_limit", deadline.highs_time_limit(h.getRunTime())), "setting time_limit")
        # HiGHS keeps one task scheduler per calling thread, sized by the ``threads`` option of
        # the first run in that thread (ours or anyone's, e.g. Pyomo's); a run asking for another
        # size fails. Resetting this thread's scheduler first makes ``threads`` always apply.
        highspy.Highs.resetThreadScheduler(True)
        t0 = time.perf_counter()
        run_status = run_highs(h)
        solve_seconds = time.perf_counter() - t0
        model_status = h.getModelStatus()
        if model_status == highspy.HighsModelStatus.kTimeLimit and deadline is not None:
            deadline.cut("highs")     # where it stopped depends on the machine: the solve says so
        info = h.getInfo()
        has_primal = info.primal_solution_status == highspy.kSolutionStatusFeasible
        status = _STATUS_MAP.get(model_status, SolveStatus.ERROR)
        if run_status == highspy.HighsStatus.kError and status is SolveStatus.OPTIMAL:
            status = SolveStatus.ERROR
        if status in (SolveStatus.TIME_LIMIT, SolveStatus.FEASIBLE) and not has_primal:
            status = SolveStatus.NO_SOLUTION
        solver = {
            "name": "highs", "version": h.version(), "build": "lean", "options": self.opts,
            "relax_integrality": model.relax_integrality, "model_status": h.modelStatusToString(model_status),
            "n_cols": model.n_cols, "n_rows": model.n_rows, "n_nonzeros": model.nnz, "n_integer": model.n_integer,
        }
        out = Solution(status=status, build_seconds=self.build_seconds, solve_seconds=solve_seconds, solver=solver)
        if model.is_mip:
            bound = float(info.mip_dual_bound)
            out.bound_cny = bound if np.isfinite(bound) and abs(bound) < INF else float("nan")
        if not status.has_plan:
            return out
        x = np.asarray(h.getSolution().col_value, dtype=np.float64)
        # A MIP's objective is the cost of the point it returns, not HiGHS's figure: with a start
        # (setSolution) and presolve, HiGHS 1.16 can report an objective and dual bound below the
        # returned point's own cost (an evaluate re-plan: 23.32 for a point costing 26.47, while
        # the relaxation's bound was 26.42), and comparisons of plans by objective then keep the
        # wrong one. The model has no objective offset (passModel's is 0).
        out.objective_cny = float(model.col_cost @ x) if model.is_mip else float(info.objective_function_value)
        if not model.is_mip:
            out.bound_cny = out.objective_cny
        out.mip_gap = relative_gap(out.objective_cny, out.bound_cny)
        out.col_values = x
        _unpack(model, problem, x, out)
        return out


def _check(status, what: str) -> None:
    if status == highspy.HighsStatus.kError:
        raise InternalError(f"HiGHS error while {what}")


def _unpack(model: LeanModel, problem: Problem, x: np.ndarray, out: Solution) -> None:
    """Fill the Solution arrays from the column vector ``x`` (zeros where no variable exists)."""
    x = x.copy()
    x[np.abs(x) < _ZERO_TOL] = 0.0
    T = problem.n_slots
    fam = model.col_families
    idx = model.col_index

    def grid(name: str, n: int) -> np.ndarray:
        return x[fam[name]].reshape(n, T).copy()

    power = np.zeros((problem.n_evs, T))
    power[idx["ev_power_kw"][0], idx["ev_power_kw"][1]] = x[fam["ev_power_kw"]]
    out.ev_power_kw = power
    out.ev_unmet_kwh = x[fam["ev_unmet_kwh"]].copy()
    if problem.has_v2g:
        out.ev_discharge_kw = np.zeros((problem.n_evs, T))
        out.ev_soc_kwh = np.zeros((problem.n_evs, T))
        ve, vt = idx["ev_discharge_kw"]
        out.ev_discharge_kw[ve, vt] = x[fam["ev_discharge_kw"]]
        out.ev_soc_kwh[ve, vt] = x[fam["ev_soc_kwh"]]
    out.pv_curtail_kw = grid("pv_curtail_kw", problem.n_stations)
    out.battery_charge_kw = grid("battery_charge_kw", problem.n_batteries)
    out.battery_discharge_kw = grid("battery_discharge_kw", problem.n_batteries)
    out.battery_soc_kwh = grid("battery_soc_kwh", problem.n_batteries)
    out.net_load_kw = grid("net_load_kw", problem.n_transformers)
    out.overload_kw = grid("overload_kw", problem.n_transformers)
    out.feeder_overload_kw = grid("feeder_overload_kw", problem.n_feeders)
    short = np.zeros((problem.n_events, T))
    short[idx["dr_shortfall_kw"][0], idx["dr_shortfall_kw"][1]] = x[fam["dr_shortfall_kw"]]
    out.dr_shortfall_kw = short
    solve_sites.unpack_lean(fam, x, problem, out)


def solve_lp_with_duals(problem: Problem, options: SolverOptions) -> tuple[Solution, LeanModel, np.ndarray | None]:
    """Solve the LP relaxation of ``problem``'s lean build; also return the model and its row duals.

    The duals (``row_dual`` of HiGHS, one per row of the model, in the model's row order: see
    ``LeanModel.row_families`` and ``row_index``) are d(objective)/d(row bound) [CNY per row
    unit]; ``None`` when the solve has no plan. For studies that price a constraint (the hosting
    study's value of one more kVA) without reaching into the HiGHS instance.
    """
    quiet_highs_banner()
    model = build_lean(problem, relax_integrality=True)
    solver = LeanSolver(model, problem, options)
    sol = solver.run()
    duals = np.asarray(solver.h.getSolution().row_dual, float) if sol.status.has_plan else None
    return sol, model, duals
