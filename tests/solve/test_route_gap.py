"""The decomposed route's own default gap: 0.5 % where neither the scenario nor the command sets
one, the set gap otherwise, and the gap used is the one the solve records."""

from __future__ import annotations

from problem_factory import random_problem
from vpp_sched.scenario.config import DECOMPOSED_MIP_REL_GAP, SolverOptions
from vpp_sched.solve.dispatch import route_options, solve


def test_unset_gap_is_the_routes_and_a_set_gap_is_kept():
    unset = SolverOptions(time_limit_s=30)
    assert route_options(unset, "decomposed").mip_rel_gap == DECOMPOSED_MIP_REL_GAP == 5e-3
    assert route_options(unset, "lean").mip_rel_gap == 1e-3
    # a scenario's solver: section (validated from YAML) and a --mip-gap override both count as set
    assert route_options(SolverOptions.model_validate({"mip_rel_gap": 1e-3}), "decomposed").mip_rel_gap == 1e-3
    assert route_options(unset.model_copy(update={"mip_rel_gap": 2e-4}), "decomposed").mip_rel_gap == 2e-4


def test_the_decomposed_solve_records_the_gap_it_used():
    p = random_problem(60, 24, 3, seed=2)
    unset = solve(p, SolverOptions(time_limit_s=30), method="decomposed")
    assert unset.solver["options"]["mip_rel_gap"] == DECOMPOSED_MIP_REL_GAP
    assert unset.mip_gap <= DECOMPOSED_MIP_REL_GAP + 1e-12
    tight = solve(p, SolverOptions(time_limit_s=30, mip_rel_gap=1e-4), method="decomposed")
    assert tight.solver["options"]["mip_rel_gap"] == 1e-4 and tight.mip_gap <= 1e-4 + 1e-12
    assert solve(p, SolverOptions(time_limit_s=30), method="lean").solver["options"]["mip_rel_gap"] == 1e-3
