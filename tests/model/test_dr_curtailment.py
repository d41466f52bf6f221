"""Curtailed PV is not DR response (issue 13 item 4): a valley-filling event is filled by storage or
EVs, or its shortfall is reported; curtailment never counts (models/dr_events.md).

Transformer T0 carries 30 kW of base load and a station with 20 kW of PV (so it imports 10 kW in
every slot) or 40 kW (it exports 10 kW); the EVs are behind T1, outside the event's scope. Price 0.3
CNY/kWh in slots 0-3, 0.9 after. A valley-filling event asks T0's load to rise 8 kW above its
baseline, base load - PV.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from problem_factory import check_solution, tiny_problem
from vpp_sched.plan.results import make_plan
from vpp_sched.plan.validity import check_plan
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.solve.dispatch import solve_pyomo
from vpp_sched.solve.highs import solve_lean
from vpp_sched.solve.solution import SolveStatus

EXACT = SolverOptions(mip_rel_gap=0.0, time_limit_s=20)
EVENT_SLOTS = slice(6, 8)


def _valley_day(battery: dict | None, pv_kw: float = 20.0, slots: tuple[int, int] = (6, 8)):
    return tiny_problem(
        n_transformers=2, base_load_kw=[[30.0] * 8, [0.0] * 8],
        evs=[{"transformer": 1}, {"transformer": 1}],
        stations=[{"pv": pv_kw, "battery": battery}],
        events=[{"slots": slots, "scope": [0], "reduction": 8.0, "baseline": 30.0 - pv_kw}],
        event_sign=np.array([-1.0]))


def _plan(problem, solve):
    solution = solve(problem, EXACT)
    assert solution.status is SolveStatus.OPTIMAL
    check_solution(problem, solution, tight=True)
    plan = make_plan(problem, solution)
    assert check_plan(problem, plan) == []
    return solution, plan


@pytest.mark.parametrize("solve", [solve_lean, solve_pyomo], ids=["lean", "pyomo"])
def test_curtailment_alone_is_a_reported_shortfall(solve):
    # Only curtailing 8 kW of PV could raise T0's load: it must not count, so the event is short by
    # its whole target (8 kW x 2 slots), and nothing is curtailed (curtailing would only buy imports).
    problem = _valley_day(battery=None)
    solution, plan = _plan(problem, solve)
    np.testing.assert_allclose(solution.pv_curtail_kw, 0.0, atol=1e-7)
    np.testing.assert_allclose(solution.dr_shortfall_kw[0, EVENT_SLOTS], 8.0, atol=1e-6)
    np.testing.assert_allclose(plan.dr_events.delivered_kw, 0.0, atol=1e-6)
    np.testing.assert_allclose(plan.dr_events.shortfall_kw, 8.0, atol=1e-6)
    assert plan.events.compliance_pct.iat[0] == pytest.approx(0.0, abs=1e-4)


@pytest.mark.parametrize("solve", [solve_lean, solve_pyomo], ids=["lean", "pyomo"])
def test_idle_half_full_battery_fills_the_valley_not_curtailment(solve):
    # 40 kW of PV: T0 exports 10 kW. The event (slots 2-3, baseline -10 kW) asks T0's load up to -2 kW.
    # Curtailing 8 kW of exported PV costs nothing, and so does charging the half-full 40 kWh battery
    # from it; before curtailment stopped counting, both builds met slot 2 by curtailing 8 kW.
    problem = _valley_day(battery={"capacity": 40.0, "soc_initial": 20.0, "max_charge": 10.0,
                                   "max_discharge": 10.0}, pv_kw=40.0, slots=(2, 4))
    solution, plan = _plan(problem, solve)
    charge = solution.battery_charge_kw[0, 2:4] - solution.battery_discharge_kw[0, 2:4]
    assert np.all(charge >= 8.0 - 1e-6)                        # the battery delivers
    np.testing.assert_allclose(solution.dr_shortfall_kw, 0.0, atol=1e-6)
    uncurtailed = plan.dr_events.net_load_kw - solution.pv_curtail_kw[0, 2:4]
    np.testing.assert_allclose(plan.dr_events.delivered_kw, uncurtailed + 10.0, atol=1e-6)
    assert np.all(plan.dr_events.delivered_kw >= 8.0 - 1e-6)
    assert plan.events.compliance_pct.iat[0] >= 100.0 - 1e-4


def test_delivered_response_of_a_plan_leaves_out_curtailed_pv():
    # A given plan that curtails 8 kW in the event slots: its metered load rises to 18 kW, but the
    # delivered response (load with PV uncurtailed - baseline) stays 0 and the shortfall is 8 kW.
    problem = _valley_day(battery=None)
    solution = solve_lean(problem, EXACT)
    curtail = solution.pv_curtail_kw.copy()
    curtail[0, EVENT_SLOTS] = 8.0
    plan = make_plan(problem, dataclasses.replace(solution, pv_curtail_kw=curtail))
    rows = plan.dr_events
    np.testing.assert_allclose(rows.net_load_kw, 18.0, atol=1e-6)     # metered
    np.testing.assert_allclose(rows.delivered_kw, 0.0, atol=1e-6)
    np.testing.assert_allclose(rows.shortfall_kw, 8.0, atol=1e-6)
    assert [w for w in check_plan(problem, plan) if "dr_events" in w] == []   # validity measures the same way
