"""Judging one population of the hosting study against every limit of a transformer with an LV grid.

The four limits (:data:`LIMITS`), in a population of ``c`` EVs:

* ``transformer``: overload or EVs short of energy by the grid, as the transformer-only study judges
  (:func:`~vpp_sched.studies.hosting_judge.judge_outcome`);
* ``line``: a line above ``grid.line_loading_max_pct`` of its ``iMax`` in some slot;
* ``voltage``: a bus outside ``grid.voltage_min_pu .. voltage_max_pu`` in some slot, or a phase of the
  three-phase flow outside ``grid.phase_voltage_min_pu .. phase_voltage_max_pu`` (a power flow that does
  not converge, i.e. a voltage collapse, counts as voltage failing);
* ``unbalance``: the transformer's current unbalance ``(max - min) / max`` of its phase powers
  (:mod:`vpp_sched.network.phases`) above ``grid.unbalance_max_pct`` in some slot where the rule
  applies, as the plan's model applies it (``grid_phases.unbalance_limited``: a slot in which the
  transformer can be loaded above ``UNBALANCE_MIN_LOADING_PU``; models/lv_grid.md, "Phases").

Uncontrolled: every EV at full power from arrival, batteries idle, PV fed in whole, and the AC power
flow of all slots of that profile. Orderly: the planner's plan (``plan_day``, with its grid rows iterated
against the AC power flow, ``plan/grid_iterations.py``), judged by the AC power flow of that final plan
(``kpis["grid"]``). An orderly plan that leaves EVs short (by the grid) fails the transformer when it
has no grid rows, else the kinds of grid rows it has (the planner shed the energy to keep the voltage or
the lines); it fails the transformer too when the transformer-only orderly search has shown the
transformer cannot host ``c`` (``transformer_hosts``).

Placement of added EVs (stated once, here): EVs of today's population keep their bus and phase (an
empty phase resolved once on today's whole population, :func:`~vpp_sched.network.phases.resolve_phases`),
so smaller populations are subsets. The added EVs (copies ``E0001~2`` of the resampling) are placed
by the grid's seeded rule for EVs without ``bus_id`` (:func:`~vpp_sched.scenario.grid.place_evs`: round
robin over the load buses permuted by the CRC32 of the transformer id), taken in the order the
resampling adds them, so a larger population keeps every bus of a smaller one. Their phase
(``added_phase``): ``spread`` puts single-phase chargers (at most ``SINGLE_PHASE_MAX_KW``) round robin
on a, b, c in the same order; ``a``, ``b`` or ``c`` puts every added single-phase charger on that phase.
A larger charger is three-phase (``abc``) either way.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from vpp_sched.errors import InputError, NoPlanError
from vpp_sched.network.check import grid_cases
from vpp_sched.network.phases import SINGLE_PHASE_MAX_KW, resolve_phases
from vpp_sched.plan.grid_output import grid_kpis, phase_table, plan_grid_flows
from vpp_sched.problem.build import build_problem, uncontrolled_reference
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.scenario.grid import place_evs
from vpp_sched.scenario.load import Scenario
from vpp_sched.studies.hosting_judge import OVERLOAD_TOL_KWH, UNMET_TOL_KWH, judge_outcome, population
from vpp_sched.studies.outcome import orderly_outcome, uncontrolled_outcome

LIMITS = ("transformer", "line", "voltage", "unbalance")
ADDED_PHASES = ("spread", "a", "b", "c")
#: grid_kpis counts that break the voltage limit: the balanced band, and the phase band of the 3-phase flow
VOLTAGE_BREACHES = ("undervoltage_bus_slots", "overvoltage_bus_slots", "phase_undervoltage_bus_slots",
                    "phase_overvoltage_bus_slots")


@dataclass
class LimitJudgement:
    """One population against every limit: which fail, and the worst values seen."""

    n_evs: int
    failed: frozenset
    worst: dict = field(default_factory=dict)   # lowest_vm_pu, highest_line_loading_pct, worst_unbalance_pct, ...
    note: str = ""
    unknown: frozenset = frozenset()            # limits this population could not judge (no power flow)


def today_phases(sc1: Scenario) -> dict:
    """``{ev_id: phase}`` of today's EVs, an empty phase resolved on the whole population (module docstring)."""
    evs = sc1.evs
    return dict(zip(evs.ev_id, resolve_phases(list(evs.ev_id), list(evs.phase), evs.max_power_kw.to_numpy(float))))


def grid_population(sc1: Scenario, transformer_id: str, n_evs: int, *, seed: int = 0,
                    added_phase: str = "spread", phases: dict | None = None) -> Scenario:
    """The one-transformer scenario with ``n_evs`` EVs, the added ones placed (module docstring)."""
    sc = population(sc1, transformer_id, n_evs, seed)
    phases = today_phases(sc1) if phases is None else phases
    evs = sc.evs.copy()
    today = evs.ev_id.isin(phases.keys()).to_numpy()
    evs.loc[today, "phase"] = [phases[e] for e in evs.ev_id[today]]
    added = np.flatnonzero(~today)        # in the order the resampling adds them
    if len(added):
        grid = sc.grids[transformer_id]
        order = [f"{k:09d}" for k in range(len(added))]     # place_evs takes EVs in id order
        evs.loc[evs.index[added], "bus_id"] = place_evs(grid, transformer_id, order, [""] * len(added))
        single = evs.max_power_kw.to_numpy(float)[added] <= SINGLE_PHASE_MAX_KW
        spread = ["abc"[k % 3] for k in range(int(single.sum()))]
        one = spread if added_phase == "spread" else [added_phase] * len(spread)
        evs.loc[evs.index[added], "phase"] = "abc"
        evs.loc[evs.index[added[single]], "phase"] = one
    return dataclasses.replace(sc, evs=evs)


def judged_unbalance_pct(phases) -> float:
    """The worst unbalance of a ``grid_phases`` table in the slots where the unbalance rule applies [%]."""
    if "unbalance_limited" in phases.columns:
        phases = phases[phases.unbalance_limited.astype(bool)]
    return float(phases.unbalance_pct.max()) if len(phases) else 0.0


def _grid_limits_failed(kpis: dict, unbalance_pct: float, limits) -> set:
    failed = set()
    if kpis.get("overloaded_line_slots", 0):
        failed.add("line")
    if any(kpis.get(k, 0) for k in VOLTAGE_BREACHES):
        failed.add("voltage")
    if unbalance_pct > limits.unbalance_max_pct + 1e-9:
        failed.add("unbalance")
    return failed


def judge_uncontrolled(sc: Scenario) -> LimitJudgement:
    """Uncontrolled charging of the population ``sc`` (one transformer with a grid) against every limit."""
    problem = build_problem(sc)
    outcome = uncontrolled_outcome(problem)
    tr = judge_outcome(outcome, "uncontrolled")
    failed = set() if tr.hosts else {"transformer"}
    worst = {"overload_kwh": tr.overload_kwh, "unmet_by_grid_kwh": tr.unmet_by_grid_kwh}
    ev_kw = uncontrolled_reference(problem)[0]
    idle = -problem.pv_at_transformer_kw()                 # batteries idle, PV fed in whole
    cases = grid_cases(sc, problem)
    limits = sc.config.grid
    unb = judged_unbalance_pct(phase_table(cases, problem, ev_kw, idle))
    if unb > limits.unbalance_max_pct + 1e-9:
        failed.add("unbalance")
    worst["worst_unbalance_pct"] = unb
    try:
        flows = plan_grid_flows(sc, problem, ev_kw, idle, cases)
    except InputError as exc:                              # no convergence: the voltage collapses
        return LimitJudgement(problem.n_evs, frozenset(failed | {"voltage"}), worst, note=exc.problems[0],
                              unknown=frozenset({"line"}))
    kpis = grid_kpis(flows, limits)
    worst.update(_worst(kpis, unb))
    return LimitJudgement(problem.n_evs, frozenset(failed | _grid_limits_failed(kpis, unb, limits)), worst)


def _worst(kpis: dict, unbalance_pct: float) -> dict:
    return {"lowest_vm_pu": kpis.get("lowest_vm_pu", float("nan")),
            "highest_vm_pu": kpis.get("highest_vm_pu", float("nan")),
            "lowest_phase_vm_pu": kpis.get("lowest_phase_vm_pu", float("nan")),
            "highest_line_loading_pct": kpis.get("highest_line_loading_pct", float("nan")),
            "worst_unbalance_pct": unbalance_pct}


def judge_orderly(sc: Scenario, *, method: str = "lean", options: SolverOptions | None = None,
                  transformer_hosts: bool = True) -> LimitJudgement:
    """The planner's plan of the population ``sc`` with its grid rows, judged by its AC power flow
    (module docstring). ``transformer_hosts``: the transformer-only orderly search hosts this population."""
    n = len(sc.evs)
    try:
        outcome = orderly_outcome(sc, method=method, options=options)
    except NoPlanError as exc:
        return LimitJudgement(n, frozenset({"transformer"}), {}, note=f"no plan: {exc}")
    except InputError as exc:   # the power flow of the planner's first plan does not converge: no grid rows
        failed = {"voltage"} | (set() if transformer_hosts else {"transformer"})
        return LimitJudgement(n, frozenset(failed), {}, note=exc.problems[0],
                              unknown=frozenset({"line", "unbalance"} | ({"transformer"} - failed)))
    tr = judge_outcome(outcome, "plan")
    run = outcome.run
    g = run.plan.kpis["grid"]["plan"]
    unb = float(g.get("worst_unbalance_limited_pct", g.get("worst_unbalance_pct", 0.0)))
    failed = _grid_limits_failed(g, unb, sc.config.grid)
    cuts = run.problem.grid_cuts
    kinds = set() if cuts is None else set(cuts.kind.tolist())
    if not transformer_hosts or tr.overload_kwh > OVERLOAD_TOL_KWH:
        failed.add("transformer")
    if tr.unmet_by_grid_kwh > UNMET_TOL_KWH:   # the planner shed energy: to what limit?
        failed |= kinds or {"transformer"}
    worst = {"overload_kwh": tr.overload_kwh, "unmet_by_grid_kwh": tr.unmet_by_grid_kwh,
             "grid_rows": 0 if cuts is None else int(len(cuts.kind)),
             "grid_iterations": int(run.plan.kpis["grid"].get("iterations", 0)), **_worst(g, unb)}
    return LimitJudgement(n, frozenset(failed), worst)
