"""The report's per-transformer curves: read off the transformer table by a reshape when it is in
the problem's order, by a pivot otherwise, the same numbers and the same page either way."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from scenario_factory import write_scenario
from vpp_sched.plan.planner import plan_day
from vpp_sched.report import plan_report
from vpp_sched.report.plan_report import render_report


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return plan_day(write_scenario(tmp_path_factory.mktemp("sc") / "sc"))


def test_a_shuffled_table_gives_the_same_curves_and_page(run):
    tl = run.plan.transformer_load
    assert plan_report._in_problem_order(tl, run.problem)
    shuffled = tl.sample(frac=1.0, random_state=0).reset_index(drop=True)
    assert not plan_report._in_problem_order(shuffled, run.problem)
    other = replace(run, plan=replace(run.plan, transformer_load=shuffled))
    a, b = plan_report._curves(run), plan_report._curves(other)
    for name in ("plan_net_kw", "plan_ev_kw", "unc_net_kw", "unc_ev_kw"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.plan_net_kw.shape == (run.problem.n_transformers, run.problem.n_slots)
    assert render_report(other) == render_report(run)


def test_the_uncontrolled_ev_curves_sum_to_the_uncontrolled_charging(run):
    c = plan_report._curves(run)
    p = run.problem
    from vpp_sched.problem.build import uncontrolled_reference

    ev = uncontrolled_reference(p)[0]
    np.testing.assert_allclose(c.unc_ev_kw.sum(axis=0), ev.sum(axis=0))
    assert c.unc_ev_kw.sum() > 0
