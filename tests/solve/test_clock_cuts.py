"""The time limit only stops a run that then says so (solve/budget.py, issue 13 items 1 and 6).

A solve the clock did not cut is the work's alone: the same plan at any larger limit. A solve the
clock cut (a HiGHS run stopped, a phase skipped, the plan baseline left non-unique) ends
``time_limit`` whatever its gap, so a plan that could differ on another run never passes as optimal.
"""

from __future__ import annotations

import numpy as np
import pytest

from problem_factory import check_solution, random_problem
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.solve.budget import Deadline
from vpp_sched.solve.dispatch import solve
from vpp_sched.solve.solution import SolveStatus


def _day():
    return random_problem(n_evs=40, n_transformers=3, seed=7, min_power_share=1.0, n_events=1, n_stations=1)


@pytest.mark.parametrize("method", ["lean", "decomposed"])
def test_an_uncut_solve_is_the_same_at_any_larger_limit(method):
    p = _day()
    plans = [solve(p, SolverOptions(time_limit_s=limit, mip_rel_gap=1e-3), method=method) for limit in (30, 600)]
    assert [s.status for s in plans] == [SolveStatus.OPTIMAL] * 2
    small, large = plans
    # a larger limit never finishes with another (better) plan unless the smaller one said time_limit
    assert small.objective_cny == large.objective_cny and small.bound_cny == large.bound_cny
    assert np.array_equal(small.ev_power_kw, large.ev_power_kw)
    check_solution(p, small)


@pytest.mark.parametrize("method", ["lean", "decomposed"])
def test_a_solve_whose_budget_the_clock_cut_says_time_limit_whatever_its_gap(method):
    p = _day()
    options = SolverOptions(time_limit_s=600, mip_rel_gap=1e-3)
    budget = Deadline(options.time_limit_s)
    budget.sub(fraction=0.5).cut("plan baseline")   # e.g. the plan baseline's solve, before this one
    sol = solve(p, options, method=method, deadline=budget)
    assert sol.status.has_plan and sol.mip_gap <= 1e-3 + 1e-12
    assert sol.status is SolveStatus.TIME_LIMIT        # within the gap, but the clock had a hand in it
    assert sol.solver["options"]["time_limit"] == 600.0


def test_a_highs_run_stopped_by_its_limit_is_a_cut():
    from vpp_sched.model.lean import build_lean
    from vpp_sched.solve.highs import LeanSolver

    p = random_problem(n_evs=300, n_transformers=4, seed=3, min_power_share=1.0, n_events=1)
    budget = Deadline(60.0)
    part = budget.sub(0.0)                              # nothing left: HiGHS gets MIN_RUN_S
    sol = LeanSolver(build_lean(p), p, SolverOptions(mip_rel_gap=0.0)).run(part)
    if sol.status is SolveStatus.OPTIMAL:               # a very fast machine: nothing was cut
        assert not budget.was_cut
    else:
        assert sol.status in (SolveStatus.TIME_LIMIT, SolveStatus.NO_SOLUTION) and budget.cuts == ["highs"]
