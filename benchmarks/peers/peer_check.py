"""A peer's schedule judged by vpp-sched: its plan tables, validity check and model objective.

Runs in the project's environment. A peer hands back only ``ev_power_kw`` [E, T]; everything else
(net load, overload, DR shortfall, unmet energy) follows from the problem, as for a plan of
vpp-sched's own (:func:`vpp_sched.solve.decompose.plan_objective` prices it on the same objective,
:func:`vpp_sched.plan.validity.check_plan` checks EV bounds and stay, min power, energy and the
transformer limits from the plan's tables).
"""

from __future__ import annotations

import numpy as np

from vpp_sched.plan.results import dr_compensation_cny, make_plan
from vpp_sched.plan.validity import check_plan
from vpp_sched.problem.arrays import Problem
from vpp_sched.problem.build import sum_rows_by
from vpp_sched.solve.decompose import coupled_slack_kw, plan_objective
from vpp_sched.solve.solution import Solution, SolveStatus, relative_gap

ROUND_OFF_KW = 1e-6     # a peer's tiny negative or above-bound values from its solver's tolerances


def peer_solution(p: Problem, ev_power_kw: np.ndarray) -> Solution:
    """The :class:`Solution` a schedule ``ev_power_kw`` [E, T] implies (slacks where the grid needs them)."""
    power = np.where(np.abs(ev_power_kw) < ROUND_OFF_KW, 0.0, np.asarray(ev_power_kw, float))
    net = p.base_load_kw + sum_rows_by(p.ev_transformer, power, p.n_transformers)
    T = p.n_slots
    sol = Solution(status=SolveStatus.FEASIBLE, ev_power_kw=power,
                   ev_unmet_kwh=np.maximum(p.ev_energy_kwh - power.sum(axis=1) * p.dt_h, 0.0),
                   pv_curtail_kw=np.zeros((p.n_stations, T)), battery_charge_kw=np.zeros((0, T)),
                   battery_discharge_kw=np.zeros((0, T)), battery_soc_kwh=np.zeros((0, T)),
                   net_load_kw=net, overload_kw=np.clip(net - p.limit_kw[:, None], 0.0, None))
    sol.feeder_overload_kw, sol.dr_shortfall_kw = coupled_slack_kw(p, net)
    sol.objective_cny = plan_objective(p, sol)
    return sol


def judge(p: Problem, ev_power_kw: np.ndarray, bound_cny: float | None) -> dict:
    """Figures of a peer's schedule on vpp-sched's model: objective (after the DR compensation, as
    ``kpis.json["objective_cny"]``), energy cost, gap to ``bound_cny`` (vpp-sched's bound, same
    basis), unmet energy, overload, DR shortfall, and the validity check's messages."""
    sol = peer_solution(p, ev_power_kw)
    plan = make_plan(p, sol)
    problems = check_plan(p, plan)
    objective = sol.objective_cny - dr_compensation_cny(p)
    dt = p.dt_h
    return {
        "plan_objective_cny": objective,
        "energy_cost_cny": float(np.clip(sol.net_load_kw, 0, None).sum(axis=0) @ p.price_cny_per_kwh) * dt,
        "gap_to_vpp_bound": relative_gap(objective, bound_cny) if bound_cny is not None else None,
        "unmet_energy_kwh": float(plan.kpis.get("unmet_energy_kwh", sol.ev_unmet_kwh.sum())),
        "overload_energy_kwh": float(sol.overload_kw.sum() * dt),
        "dr_shortfall_kwh": float(sol.dr_shortfall_kw.sum() * dt) if p.n_events else 0.0,
        "valid": not problems and float(sol.overload_kw.sum()) <= 1e-3,
        "violations": problems[:5] + (["transformer overload (reported as overload_kw)"]
                                      if float(sol.overload_kw.sum()) > 1e-3 else []),
    }
