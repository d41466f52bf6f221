"""Reverse flow beyond the limit is overload on every transformer where it can occur, with or
without a station (models/day_ahead.md, ``transformer_reverse_limit``).

T1 has no station; its base load feeds back -150 kW in slots 2-4 against a 100 kW limit, and its
one EV (5 kW, 10 kWh, plugged in all day) can at most take 5 kW of that back. So at least 45 kW of
reverse overload is left in each of those slots, and the plan must report it.
"""

from __future__ import annotations

import numpy as np
import pytest

from problem_factory import tiny_problem
from vpp_sched.model.lean import build_lean
from vpp_sched.plan.results import make_plan
from vpp_sched.plan.validity import check_plan
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.solve.dispatch import solve_pyomo
from vpp_sched.solve.highs import solve_lean
from vpp_sched.solve.solution import SolveStatus

BASE_T1 = [10.0, 0.0, -150.0, -150.0, -150.0, 0.0, 10.0, 10.0]


def _day():
    return tiny_problem(n_transformers=2, base_load_kw=[[5.0] * 8, BASE_T1],
                        evs=[{"energy": 8.0}, {"energy": 10.0, "transformer": 1}])


def test_the_row_exists_without_a_station():
    model = build_lean(_day())
    rows = model.row_families["transformer_reverse_limit"]
    names = {model.row_name(i) for i in range(rows.start, rows.stop)}
    assert names == {f"transformer_reverse_limit[1,{t}]" for t in range(8)}   # T0's base never feeds back


@pytest.mark.parametrize("solve", [solve_lean, solve_pyomo], ids=["lean", "pyomo"])
def test_a_feeding_back_base_load_is_a_reported_overload(solve):
    problem = _day()
    solution = solve(problem, SolverOptions(mip_rel_gap=0.0, time_limit_s=20))
    assert solution.status is SolveStatus.OPTIMAL
    plan = make_plan(problem, solution)
    assert check_plan(problem, plan) == []
    over = solution.overload_kw[1]
    net = solution.net_load_kw[1]
    assert over[2:5].sum() == pytest.approx(-np.minimum(net[2:5] + 100.0, 0.0).sum(), abs=1e-6)
    assert over[2:5].sum() >= 3 * 45.0 - 1e-6
    assert np.all(over[[0, 1, 5, 6, 7]] <= 1e-6)
    assert plan.kpis["overloaded_transformers"] == 1
    assert plan.kpis["overload_energy_kwh"] == pytest.approx(over.sum() * problem.dt_h, abs=1e-6)
