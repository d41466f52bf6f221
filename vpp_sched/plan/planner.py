"""The pipeline behind ``vpp-sched plan``: scenario -> problem -> solve -> plan tables."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vpp_sched.scenario.config import SolverOptions
from vpp_sched.errors import NoPlanError
from vpp_sched.problem.build import build_problem, needs_plan_baseline
from vpp_sched.problem.arrays import Problem
from vpp_sched.problem.margins import (Margins, margin_kpis, margin_used_kw, robust_margins, robust_problem,
                                       without_margins)
from vpp_sched.plan.results import Plan, make_plan
from vpp_sched.scenario.load import Scenario, load_scenario
from vpp_sched.solve.solution import Solution, SolveStatus
from vpp_sched.solve.dispatch import choose_method, solve
from vpp_sched.solve.budget import Deadline
from vpp_sched.solve.plan_baseline import scenario_plan_baseline
from vpp_sched.solve.timing import highs_clock
from vpp_sched.plan.validity import check_plan
from vpp_sched.plan.grid_output import add_grid_check
from vpp_sched.network.check import grid_cases as network_grid_cases
from vpp_sched.plan.grid_iterations import respect_grids
from vpp_sched.plan.results import ev_net_kw
from vpp_sched.problem.build import uncontrolled_reference

#: The ``plan``-baseline solve (the day without its events) may take up to this share of the time
#: limit; what it leaves unused goes to the solve with the events. Both end within the one limit.
BASELINE_SOLVE_SHARE = 0.5


@dataclass
class PlanRun:
    """Everything one planning run produced, for the CLI, tests and studies."""

    scenario: Scenario
    problem: Problem
    solution: Solution
    plan: Plan
    margins: Margins | None = None          # plan --robust: the margins kept below the limits
    margin_used_kw: np.ndarray | None = None  # [N, T] the margin the robust plan used [kW]


def plan_day(scenario: Scenario | Path | str | None = None, method: str = "lean",
             options: SolverOptions | None = None, progress: Callable[[str], None] | None = None,
             executor=None, robust: bool = False, problem: Problem | None = None) -> PlanRun:
    """Plan one day (``robust``: the robust plan of ``models/uncertainty.md``, margins kept below the limits). ``scenario`` is a loaded scenario, a path, or ``None`` for the bundled default.

    ``progress`` is called with the name of each stage as it starts (the CLI shows it on a terminal);
    ``executor`` (:func:`vpp_sched.solve.parallel.get_executor`) runs the blocks of ``method="decomposed"``.
    ``problem``: plan this problem of the scenario instead of building it (a re-plan of the rest of the
    day, :func:`vpp_sched.studies.actuals.window_problem`; its DR baselines are the day-ahead ones).

    Raises
    ------
    InputError
        The scenario is invalid.
    NoPlanError
        The solver ended without a plan (infeasible, time limit before any plan, solver error).
    """
    start = time.perf_counter()
    say = progress or (lambda stage: None)
    scenario = _loaded(scenario, say)
    options = options or scenario.config.solver
    stages = _Stages()
    with highs_clock() as highs:
        problem, budget, baseline_warning = _problem_to_plan(scenario, problem, robust, options, stages, say)
        solve_problem, problem, margins = _with_robust_margins(scenario, problem, robust, stages, say)
        solver = _DaySolver(options=options, method=method, executor=executor,
                            deadline=budget or Deadline(options.time_limit_s), stages=stages,
                            n_events=problem.n_events, robust=margins is not None)
        solution = solver.first_solution(solve_problem, problem, say)
        say("checking the plan")
        problem, solution, plan = _plan_within_grids(scenario, problem, solution, solve_problem, solver,
                                                     baseline_warning)
        if margins is not None:
            plan.kpis["robust"] = margin_kpis(margins, solver.margin_used_kw, problem.dt_h)
    plan.kpis["total_seconds"] = time.perf_counter() - start
    plan.kpis["timing"] = timing_kpis(stages.seconds, highs.seconds, highs.runs, problem.n_evs)
    return PlanRun(scenario=scenario, problem=problem, solution=solution, plan=plan, margins=margins,
                   margin_used_kw=solver.margin_used_kw)


def _loaded(scenario: Scenario | Path | str | None, say: Callable[[str], None]) -> Scenario:
    """``scenario`` itself when loaded, else the scenario at that path (``None``: the bundled default)."""
    if isinstance(scenario, Scenario):
        return scenario
    say("reading the scenario")
    return load_scenario(scenario)


def _problem_to_plan(scenario: Scenario, problem: Problem | None, robust: bool, options: SolverOptions,
                     stages: _Stages, say: Callable[[str], None]) -> tuple[Problem, Deadline | None, str | None]:
    """:func:`_build`'s problem, time budget and baseline warning, or the given ``problem`` as it is (no
    budget of its own, no warning; not robust: its margins would have to be sampled for it)."""
    if problem is None:
        say("forecasting PV and building the problem")
        return _build(scenario, options, stages, say)
    if robust:
        raise ValueError("plan_day: a given problem is planned as it is, not robust")
    return problem, None, None


def _with_robust_margins(scenario: Scenario, problem: Problem, robust: bool, stages: _Stages,
                         say: Callable[[str], None]) -> tuple[Problem, Problem, Margins | None]:
    """``(problem to solve, problem of the plan's tables, margins)``: with ``robust``, the margins of
    ``models/uncertainty.md`` as extra rows of the solved problem, which the tables' problem leaves out;
    otherwise ``problem`` twice and no margins."""
    if not robust:
        return problem, problem, None
    say("sampling days for the robust margins")
    with stages("prepare_s"):
        margins = robust_margins(scenario, problem)
        solve_problem = robust_problem(problem, scenario, margins)
        return solve_problem, without_margins(solve_problem, problem.n_events), margins


@dataclass
class _DaySolver:
    """The run's solves: one budget (``deadline``) for all, timed as ``solve_s``; with ``robust``, each
    solution cut back to the scenario's ``n_events`` events and the margin it used kept."""

    options: SolverOptions
    method: str
    executor: object
    deadline: Deadline
    stages: _Stages
    n_events: int
    robust: bool
    margin_used_kw: np.ndarray | None = None   # [N, T] robust: the margin the last solve used [kW]

    def _solve(self, problem: Problem) -> Solution:
        return solve(problem, self.options, method=self.method, executor=self.executor, deadline=self.deadline)

    def scenario_events(self, solution: Solution, solved: Problem) -> Solution:
        """``solution`` with the tables' events only (robust: the margins' rows dropped, their use kept)."""
        if not self.robust:
            return solution
        self.margin_used_kw = margin_used_kw(solved, solution.dr_shortfall_kw)
        return replace(solution, dr_shortfall_kw=solution.dr_shortfall_kw[:self.n_events])

    def first_solution(self, solve_problem: Problem, problem: Problem, say: Callable[[str], None]) -> Solution:
        """The first solve of ``solve_problem`` (``problem``: the tables' problem, named in the progress).

        Raises
        ------
        NoPlanError
            The solver ended without a plan.
        """
        say(f"solving {problem.n_evs} EVs on {problem.n_transformers} transformers ({self.method})")
        with self.stages("solve_s"):
            solution = self._solve(solve_problem)
        if not solution.status.has_plan:
            raise NoPlanError(solution.status, _no_plan_message(solution, self.options))
        return self.scenario_events(solution, solve_problem)

    def resolve(self, solved: Problem) -> Solution:
        """A re-solve of ``solved`` (a problem with more grid rows, plan/grid_iterations.py)."""
        with self.stages("solve_s"):
            return self.scenario_events(self._solve(solved), solved)


def _plan_within_grids(scenario: Scenario, problem: Problem, solution: Solution, solve_problem: Problem,
                       solver: _DaySolver, baseline_warning: str | None) -> tuple[Problem, Solution, Plan]:
    """``(problem, solution, plan)`` after the LV grid iterations (:func:`respect_grids`): each plan
    checked (:func:`_checked_plan`), each re-solve with the grid rows found so far (robust: added to the
    problem with the margins)."""
    memo: dict = {}   # the uncontrolled grid KPIs, once per run

    def checked(problem_, solution_, cases):    # one plan and its LV grids' power flow
        return _checked_plan(scenario, problem_, solution_, solver.method, solver.stages, baseline_warning,
                             cases, memo)

    def resolve(problem_):
        solved = replace(solve_problem, grid_cuts=problem_.grid_cuts) if solver.robust else problem_
        return solver.resolve(solved)

    return respect_grids(scenario, problem, solution, checked, resolve)


def _build(scenario: Scenario, options: SolverOptions, stages: _Stages,
           say: Callable[[str], None]) -> tuple[Problem, Deadline | None, str | None]:
    """The problem (with the events' ``plan`` baseline solved first if they need one), the run's one
    time budget if that solve started it, and the baseline's warning."""
    if not needs_plan_baseline(scenario):
        with stages("prepare_s"):
            return build_problem(scenario), None, None
    say("planning without the DR events (their 'plan' baseline)")
    with stages("solve_s"):   # the unique baseline of models/dr_events.md, whatever the method
        budget = Deadline(options.time_limit_s)
        free_problem, free = scenario_plan_baseline(scenario, options,
                                                    deadline=budget.sub(fraction=BASELINE_SOLVE_SHARE))
    if not free.status.has_plan:
        raise NoPlanError(free.status, "the plan without DR events (the 'plan' baseline): "
                          + _no_plan_message(free, options))
    with stages("prepare_s"):
        problem = build_problem(scenario, pv_kw=free_problem.pv_kw, plan_net_load_kw=free.net_load_kw)
    return problem, budget, free.warning()


def _checked_plan(scenario: Scenario, problem: Problem, solution: Solution, method: str, stages: _Stages,
                  baseline_warning: str | None, grid_cases=None, memo: dict | None = None):
    """The plan tables of the solution, checked, with their KPIs but the run's total and timing, and the
    plan's LV grid flows (``None`` without grids)."""
    with stages("results_s"):
        plan = make_plan(problem, solution, scenario.evs)
    plan.kpis["scenario"] = scenario.config.name
    if baseline_warning:
        plan.warnings.append(baseline_warning)
    _solve_stage_seconds(plan.kpis, solution, stages.seconds["solve_s"])
    # The plan is checked from its own tables, independently of the solver's variables.
    with stages("grid_s"):    # the LV grids' AC power flow of the plan (plan/grid_output.py)
        cases = network_grid_cases(scenario, problem) if grid_cases is None else grid_cases
        # the uncontrolled EV power [E, T] only for a day with grids (0.2-0.4 s at 100,000 EVs)
        flows = add_grid_check(scenario, problem, ev_net_kw(solution), plan,
                               uncontrolled_reference(problem)[0] if cases else None, cases, memo)
    with stages("check_s"):
        violations = check_plan(problem, plan)
    plan.kpis["valid"] = not violations
    plan.warnings += [f"validity check failed: {v}" for v in violations]
    plan.kpis["method"] = choose_method(problem, method)
    return plan, flows


def _solve_stage_seconds(kpis: dict, solution: Solution, solve_stage_s: float) -> None:
    """``kpis.build_seconds`` + ``kpis.solve_seconds`` = ``timing.solve_s``, the solve stage's wall time
    (the ``plan``-baseline solve included): ``build_seconds`` is building the final model(s) and
    handing them to HiGHS, ``solve_seconds`` the rest of the stage (solving, rounding, the baseline solve)."""
    kpis["build_seconds"] = min(solution.build_seconds, solve_stage_s)
    kpis["solve_seconds"] = solve_stage_s - kpis["build_seconds"]


class _Stages:
    """Summed wall time per stage name: ``with stages("solve_s"): ...``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0


def timing_kpis(stages: dict[str, float], highs_s: float, highs_runs: int, n_evs: int) -> dict:
    """``kpis["timing"]``: stage times, HiGHS's own time and the modelling overhead [s].

    ``modelling_overhead_s`` = the solve stage minus HiGHS: building the model(s), passing them to
    HiGHS, the solve method's own Python between runs (rounding, coordination) and reading the
    solutions back. ``pipeline_overhead_s`` adds preparing the problem arrays and making and
    checking the plan tables (everything between the loaded scenario and the checked plan).
    """
    out = {k: stages.get(k, 0.0) for k in ("prepare_s", "solve_s", "results_s", "check_s", "grid_s")}
    out.update(highs_s=highs_s, highs_runs=highs_runs,
               modelling_overhead_s=max(out["solve_s"] - highs_s, 0.0),
               pipeline_overhead_s=max(sum(out.values()) - highs_s, 0.0))
    per = 1e4 / max(n_evs, 1)
    out["modelling_overhead_s_per_10k_evs"] = out["modelling_overhead_s"] * per
    out["pipeline_overhead_s_per_10k_evs"] = out["pipeline_overhead_s"] * per
    return out


def _no_plan_message(solution: Solution, options: SolverOptions) -> str:
    if solution.status is SolveStatus.NO_SOLUTION:
        return (f"no plan found within the time limit of {options.time_limit_s:g} s; raise solver.time_limit_s "
                "in scenario.yaml or --time-limit")
    if solution.status is SolveStatus.INFEASIBLE:
        return ("the model is infeasible even with its slacks: check battery SOC settings (soc_initial vs "
                "soc_final_min and the energy the battery can reach) and DR event scopes")
    return "the solver failed; rerun with --debug and report the scenario"
