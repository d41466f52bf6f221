"""The ``plan`` DR baseline is unique: the same day written differently gives the same baseline
(``models/dr_events.md``, "The plan baseline")."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from vpp_sched.problem.build import build_problem
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.scenario.load import load_scenario
from vpp_sched.scenario.synthetic import generate_scenario
from vpp_sched.solve.plan_baseline import scenario_plan_baseline

OPTIONS = SolverOptions(time_limit_s=60)


def _day(tmp_path, name: str, kind: str, reorder: bool):
    """A generated day whose event is measured against the ``plan`` baseline; ``reorder``: the same
    day with the EVs, transformers and base-load rows listed backwards and the EVs renamed."""
    folder = generate_scenario(tmp_path / name, transformers=4, evs=60, dr_event=True, seed=5)
    path = folder / "scenario.yaml"
    config = yaml.safe_load(path.read_text())
    event = config["dr_events"][0]
    event.update(baseline="plan", kind=kind, target_kw=event.pop("reduction_kw", None) or event.get("target_kw"))
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    if reorder:
        for table in ("evs.csv", "transformers.csv", "base_load.csv"):
            frame = pd.read_csv(folder / table)
            if table == "evs.csv":
                frame["ev_id"] = "X" + frame.ev_id.astype(str)
            frame.iloc[::-1].to_csv(folder / table, index=False)
    return load_scenario(folder)


def _baseline_kw(scenario) -> np.ndarray:
    free, baseline = scenario_plan_baseline(scenario, OPTIONS)
    assert baseline.status.has_plan
    problem = build_problem(scenario, pv_kw=free.pv_kw, plan_net_load_kw=baseline.net_load_kw)
    return problem.event_baseline_kw[0, problem.event_slots[0]]


@pytest.mark.parametrize("kind", ["peak_shaving", "valley_filling"])
def test_plan_baseline_does_not_depend_on_the_order_of_the_files(tmp_path, kind):
    # The no-event LP has many optima that differ in the window's energy (the simplex path, set
    # by the column order, picks one); the secondary objectives leave one baseline.
    first = _baseline_kw(_day(tmp_path, "a", kind, reorder=False))
    second = _baseline_kw(_day(tmp_path, "b", kind, reorder=True))
    assert len(first) > 1
    np.testing.assert_allclose(second, first, rtol=0, atol=2e-3)


@pytest.mark.parametrize("stop_at_run", [2, 3])
def test_a_baseline_stopped_by_the_clock_keeps_a_plan_and_says_so(tmp_path, monkeypatch, stop_at_run):
    # The wall clock may stop the later steps (2: window energy, 3: slot by slot) on a busy machine:
    # the plan keeps the last finished step's no-event optimum and warns that it is not unique.
    from vpp_sched.plan.planner import plan_day
    from vpp_sched.solve import plan_baseline as pb
    from vpp_sched.solve.solution import SolveStatus

    scenario = _day(tmp_path, "d", "peak_shaving", reorder=False)
    _, unique = scenario_plan_baseline(scenario, OPTIONS)
    assert unique.unique and unique.warning() is None
    real_run, calls = pb._run, []

    def clock_runs_out(h):
        calls.append(1)
        return SolveStatus.NO_SOLUTION if len(calls) >= stop_at_run else real_run(h)

    monkeypatch.setattr(pb, "_run", clock_runs_out)
    free, stopped = scenario_plan_baseline(scenario, OPTIONS)
    assert stopped.status is SolveStatus.OPTIMAL and not stopped.unique
    assert stopped.net_load_kw.shape == unique.net_load_kw.shape
    assert stopped.cost_cny == pytest.approx(unique.cost_cny, rel=1e-9)
    calls.clear()
    run = plan_day(scenario, options=OPTIONS)
    assert run.plan.kpis["valid"]
    assert any("could not be made unique within the time limit" in w for w in run.plan.warnings)
    # the first solve (the day's cost) stopped: no baseline, no plan
    calls.clear()
    monkeypatch.setattr(pb, "_run", lambda h: SolveStatus.NO_SOLUTION)
    assert scenario_plan_baseline(scenario, OPTIONS)[1].status is SolveStatus.NO_SOLUTION
