"""What a policy (uncontrolled or orderly) does to one scenario, and its rows of the case tables."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from vpp_sched.plan.planner import plan_day
from vpp_sched.plan.results import TOL_KW, grid_kpis, uncontrolled_reference
from vpp_sched.problem.arrays import Problem
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.scenario.load import Scenario
from vpp_sched.solve.least_laxity import deliverable_kwh
from vpp_sched.studies.site_cases import site_columns

#: A slot counts as overloaded when its net load exceeds the limit by more than this [kW].
OVERLOAD_TOL_KW = 1e-3


@dataclass
class Outcome:
    """What one policy does to one scenario: transformer net loads and EV deliveries."""

    policy: str
    problem: Problem
    net_load_kw: np.ndarray          # [N, T]
    pv_used_kw: np.ndarray           # [N, T] PV fed in after curtailment
    delivered_kwh: np.ndarray        # [E]
    status: str
    valid: bool | None = None
    mip_gap: float = float("nan")
    wall_seconds: float = 0.0
    run: object | None = None        # the PlanRun of ``orderly``

    @property
    def unmet_kwh(self) -> np.ndarray:
        short = np.maximum(self.problem.ev_energy_kwh - self.delivered_kwh, 0.0)
        return np.where(short < 1e-3, 0.0, short)

    @property
    def unmet_by_grid_kwh(self) -> np.ndarray:
        """[E] energy an EV could physically get in its stay but does not (the grid's doing) [kWh]."""
        short = np.maximum(deliverable_kwh(self.problem) - self.delivered_kwh, 0.0)
        return np.where(short < 1e-3, 0.0, short)

    @property
    def overload_kw(self) -> np.ndarray:
        """[N, T] net load above the limit (or below minus the limit) [kW]."""
        limit = self.problem.limit_kw[:, None]
        over = np.maximum(self.net_load_kw - limit, 0.0) + np.maximum(-limit - self.net_load_kw, 0.0)
        return np.where(over > OVERLOAD_TOL_KW, over, 0.0)


def uncontrolled_outcome(problem: Problem) -> Outcome:
    t0 = time.perf_counter()
    ev, net, _ = uncontrolled_reference(problem)
    return Outcome("uncontrolled", problem, net, problem.pv_at_transformer_kw(), ev.sum(axis=1) * problem.dt_h,
                   status="reference", wall_seconds=time.perf_counter() - t0)


def orderly_outcome(scenario: Scenario, method: str = "lean", options: SolverOptions | None = None) -> Outcome:
    """Plan the day (:func:`~vpp_sched.plan.planner.plan_day`); raises ``NoPlanError`` without a plan."""
    t0 = time.perf_counter()
    run = plan_day(scenario, method=method, options=options)
    p, load = run.problem, run.plan.transformer_load
    shape = (p.n_transformers, p.n_slots)
    return Outcome("orderly", p, load.net_load_kw.to_numpy(float).reshape(shape),
                   load.pv_kw.to_numpy(float).reshape(shape), run.plan.evs.delivered_kwh.to_numpy(float),
                   status=str(run.plan.kpis["status"]), valid=bool(run.plan.kpis.get("valid")),
                   mip_gap=float(run.plan.kpis.get("mip_gap", float("nan"))),
                   wall_seconds=time.perf_counter() - t0, run=run)


def outcome_row(o: Outcome) -> tuple[dict, list[dict]]:
    """The case-table KPIs of an outcome and its per-transformer rows."""
    p = o.problem
    net, over = o.net_load_kw, o.overload_kw
    unmet, by_grid = o.unmet_kwh, o.unmet_by_grid_kwh
    k = grid_kpis(p, net, unmet)
    over_slots = over > 0
    pv_fc = p.pv_at_transformer_kw()
    pv_total = float(pv_fc.sum() * p.dt_h)
    export = np.minimum(np.maximum(-net, 0.0), o.pv_used_kw)
    pv_share = float((o.pv_used_kw - export).sum() * p.dt_h / pv_total) if pv_total > TOL_KW else float("nan")
    row = {
        "status": o.status, "n_evs": p.n_evs,
        "max_loading_pu": k["max_loading_pu"],
        "overloaded_transformers": int(over_slots.any(axis=1).sum()),
        "overload_hours": float(over_slots.sum() * p.dt_h),
        "overload_kwh": float(over.sum() * p.dt_h),
        "unmet_energy_kwh": float(unmet.sum()), "evs_short": int((unmet > 0).sum()),
        "unmet_by_grid_kwh": float(by_grid.sum()), "evs_short_by_grid": int((by_grid > 0).sum()),
        "grid_energy_cost_cny": k["grid_energy_cost_cny"], "peak_net_load_kw": k["peak_net_load_kw"],
        "pv_self_consumption": pv_share, "valid": o.valid, "mip_gap": o.mip_gap,
    }
    row.update(site_columns(o))      # swap and fast-charging stations, when the scenario has them
    peaks = []
    for n, tid in enumerate(p.transformer_ids):
        peaks.append({"transformer_id": tid, "limit_kw": float(p.limit_kw[n]),
                      "peak_kw": float(net[n].max()) if p.n_slots else 0.0,
                      "max_loading_pu": float(np.abs(net[n]).max() / p.rating_kw[n]) if p.n_slots else 0.0,
                      "overload_hours": float(over_slots[n].sum() * p.dt_h),
                      "overload_kwh": float(over[n].sum() * p.dt_h)})
    return row, peaks

