"""Plans that respect the LV grids: linearised limits added and re-solved until the AC power flow agrees.

Stopping rule (``models/lv_grid.md``): after each solve the plan's AC power flows are run (balanced
and three-phase); the loop stops when no bus is outside the voltage band, no phase outside the phase
band and no line above its rating, when a round adds no
new row (the linearisation has nothing more to say), when a re-solve leaves the EVs' power as it
was (what breaks the limit is not the EVs' doing, e.g. the base load alone), or after
``grid.max_iterations`` re-solves.
The AC power flow of the final plan, not the linearisation, is what ``plan/validity.py`` judges.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from vpp_sched.network.check import grid_cases
from vpp_sched.network.cuts import grid_cuts, merge_cuts
from vpp_sched.network.powerflow import one_blas_thread
from vpp_sched.plan.grid_output import breaches, grid_warnings
from vpp_sched.plan.results import ev_net_kw


def respect_grids(scenario, problem, solution, make_plan, resolve):
    """``(problem, solution, plan)`` after the grid iterations; ``make_plan(problem, solution, cases)``
    makes a checked plan and its grid flows (``kpis["grid"]``), ``resolve(problem)`` solves a problem."""
    cases = grid_cases(scenario, problem)
    plan, flows = make_plan(problem, solution, cases)
    if flows is None:
        return problem, solution, plan
    first_cost = plan.kpis.get("grid_energy_cost_cny", 0.0)
    limits = scenario.config.grid
    rounds = 0
    while breaches(plan.kpis["grid"]["plan"]) and rounds < limits.max_iterations:
        ev_kw = ev_net_kw(solution)
        with one_blas_thread():
            rows = [r for c, v, ld, ph in zip(flows.cases, flows.v, flows.loading_pct,
                                              flows.phases or [None] * len(flows.cases))
                    for r in grid_cuts(c, v, ld, ev_kw, limits, phases=ph)]
        if not rows:
            break
        rounds += 1
        problem = replace(problem, grid_cuts=merge_cuts(problem.grid_cuts, rows))
        new = resolve(problem)
        if not new.status.has_plan:        # keep the last plan; validity reports its breaches
            break
        moved = not np.allclose(ev_net_kw(new), ev_kw, atol=1e-6)
        solution = new
        plan, flows = make_plan(problem, solution, cases)
        if not moved:                      # the rows changed nothing: what breaks is not the EVs' doing
            break
    g = plan.kpis["grid"]
    g["iterations"] = rounds
    g["model_rows"] = 0 if problem.grid_cuts is None else int(len(problem.grid_cuts.kind))
    g["extra_energy_cost_cny"] = plan.kpis.get("grid_energy_cost_cny", 0.0) - first_cost
    plan.warnings += grid_warnings(g["plan"], rounds, g.get("uncontrolled"))
    return problem, solution, plan

