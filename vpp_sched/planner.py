"""The pipeline behind ``vpp-sched plan``: scenario -> problem -> solve -> plan tables."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vpp_sched.config import SolverOptions
from vpp_sched.errors import NoPlanError
from vpp_sched.prepare import build_problem, needs_plan_baseline
from vpp_sched.problem import Problem
from vpp_sched.results import Plan, make_plan
from vpp_sched.scenario import Scenario, load_scenario
from vpp_sched.solution import Solution, SolveStatus
from vpp_sched.solve import choose_method, solve
from vpp_sched.validity import check_plan


@dataclass
class PlanRun:
    """Everything one planning run produced, for the CLI, tests and studies."""

    scenario: Scenario
    problem: Problem
    solution: Solution
    plan: Plan


def plan_day(scenario: Scenario | Path | str | None = None, method: str = "lean",
             options: SolverOptions | None = None, progress: Callable[[str], None] | None = None,
             executor=None) -> PlanRun:
    """Plan one day. ``scenario`` is a loaded scenario, a path, or ``None`` for the bundled default.

    ``progress`` is called with the name of each stage as it starts (the CLI shows it on a terminal);
    ``executor`` (:func:`vpp_sched.parallel.get_executor`) runs the blocks of ``method="decomposed"``.

    Raises
    ------
    InputError
        The scenario is invalid.
    NoPlanError
        The solver ended without a plan (infeasible, time limit before any plan, solver error).
    """
    start = time.perf_counter()
    say = progress or (lambda stage: None)
    if not isinstance(scenario, Scenario):
        say("reading the scenario")
        scenario = load_scenario(scenario)
    options = options or scenario.config.solver
    say("forecasting PV and building the problem")
    if needs_plan_baseline(scenario):
        say("planning without the DR events (their 'plan' baseline)")
        free_problem = build_problem(scenario, with_events=False)
        free = solve(free_problem, options, method=method, executor=executor)
        if not free.status.has_plan:
            raise NoPlanError(free.status, "the plan without DR events (the 'plan' baseline): "
                              + _no_plan_message(free, options))
        problem = build_problem(scenario, pv_kw=free_problem.pv_kw, plan_net_load_kw=free.net_load_kw)
    else:
        problem = build_problem(scenario)
    say(f"solving {problem.n_evs} EVs on {problem.n_transformers} transformers ({method})")
    solution = solve(problem, options, method=method, executor=executor)
    if not solution.status.has_plan:
        raise NoPlanError(solution.status, _no_plan_message(solution, options))
    say("checking the plan")
    plan = make_plan(problem, solution, scenario.evs)
    plan.kpis["scenario"] = scenario.config.name
    # The plan is checked from its own tables, independently of the solver's variables.
    violations = check_plan(problem, plan)
    plan.kpis["valid"] = not violations
    plan.warnings += [f"validity check failed: {v}" for v in violations]
    plan.kpis["method"] = choose_method(problem, method)
    plan.kpis["total_seconds"] = time.perf_counter() - start
    return PlanRun(scenario=scenario, problem=problem, solution=solution, plan=plan)


def _no_plan_message(solution: Solution, options: SolverOptions) -> str:
    if solution.status is SolveStatus.NO_SOLUTION:
        return (f"no plan found within the time limit of {options.time_limit_s:g} s; raise solver.time_limit_s "
                "in scenario.yaml or --time-limit")
    if solution.status is SolveStatus.INFEASIBLE:
        return ("the model is infeasible even with its slacks: check battery SOC settings (soc_initial vs "
                "soc_final_min and the energy the battery can reach) and DR event scopes")
    return "the solver failed; rerun with --debug and report the scenario"
