"""A later step of the ``plan`` baseline that HiGHS fails on (status unknown; seen at the sixth slot
of step 3 on a 375-EV day, even without a time limit) keeps the plan with a warning that names the
solver, instead of ending the run without a plan; it is no clock cut (the plan is not time_limit)."""

from __future__ import annotations

import pytest

from test_plan_baseline import OPTIONS, _day
from vpp_sched.plan.planner import plan_day
from vpp_sched.solve import plan_baseline as pb
from vpp_sched.solve.budget import Deadline
from vpp_sched.solve.solution import SolveStatus


@pytest.mark.parametrize("fail_at_run", [2, 3])
def test_a_baseline_step_the_solver_fails_keeps_the_plan_and_says_so(tmp_path, monkeypatch, fail_at_run):
    scenario = _day(tmp_path, "d", "peak_shaving", reorder=False)
    real_run, calls = pb._run, []

    def solver_fails(h):
        calls.append(1)
        return SolveStatus.ERROR if len(calls) >= fail_at_run else real_run(h)

    monkeypatch.setattr(pb, "_run", solver_fails)
    budget = Deadline(OPTIONS.time_limit_s)
    _, stopped = pb.scenario_plan_baseline(scenario, OPTIONS, deadline=budget)
    assert stopped.status is SolveStatus.OPTIMAL and not stopped.unique and stopped.net_load_kw is not None
    assert stopped.stopped_by == "solver" and not budget.was_cut
    assert "HiGHS failed" in stopped.warning()
    calls.clear()
    run = plan_day(scenario, options=OPTIONS)
    assert run.plan.kpis["valid"] and run.plan.kpis["status"] != "time_limit"
    assert any("HiGHS failed on a later step" in w for w in run.plan.warnings)
