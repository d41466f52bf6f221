"""Replay a day slot by slot: what the plan delivers when reality differs from the forecast.

``vpp-sched replay`` plans the day ahead from the forecast, then walks through the day. At each
decision slot (every ``replan_every`` slots, at a DR event's notice, at an EV's arrival in
another slot than forecast) it re-plans the rest of the horizon from the actual state; in every
slot it applies the current plan's set-points to the actual EVs, base load and PV and meters the
transformers. Three runs on the same actuals: ``replanned``, ``day_ahead_only`` (the day-ahead
set-points, never re-planned) and ``uncontrolled``. Method and definitions: ``models/replay.md``.
"""

# Over the ~400-line guide (~430) and not split yet: issue 13's replay work edits it in parallel; the
# seam is simulating the day (simulate, replay_day) vs its tables, KPIs and files (event_table onwards).

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vpp_sched.studies.actuals import (Actuals, Context, make_context, perturb_forecast, same_inputs, whole_slots,
                                window_problem, write_actuals)
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.errors import NoPlanError
from vpp_sched.plan.output import atomic_folder, target_path
from vpp_sched.problem.build import uncontrolled_ev_power_kw
from vpp_sched.problem.arrays import Problem
from vpp_sched.plan.results import TOL_KW, dr_compensation_cny, event_summary, grid_kpis, objective_kpis
from vpp_sched.scenario.load import Scenario
from vpp_sched.solve.solution import Solution, SolveStatus
from vpp_sched.solve.dispatch import solve
from vpp_sched.studies.slot_control import (controlled_kw, early_fill_kw, ev_catch_up_kw, relieve_batteries,
                                            reserve_kw)
from vpp_sched.studies.actuals_sites import SitePlay, site_day_kpis, uncontrolled_play

RUNS = ("replanned", "day_ahead_only", "uncontrolled")
# A re-plan is a controller's decision at the start of a slot: it must come within seconds. What it
# decides may depend only on its inputs (models/replay.md, "Repeatable"): the MILP fallback is
# bounded by work (REPLAN_MAX_NODES branch-and-bound nodes), never by wall time, so a replay gives
# the same files on a busy or an idle machine. REPLAN_TIME_LIMIT_S is the controller's deadline:
# a re-plan that takes longer is counted (kpis ``replans_over_deadline``, a timing) but kept.
REPLAN_TIME_LIMIT_S = 5.0
REPLAN_MAX_NODES = 500
# A re-plan keeps its rounded plan when it has one: the MILP for the last part of its gap (a root
# node of 38-100 s of CPU on one sampled day) cannot come within REPLAN_TIME_LIMIT_S, and the next
# re-plan, a few slots on, starts over from the state then. The plan reports its gap.
REPLAN_GAP_FALLBACK = False


@dataclass
class ReplayRun:
    """One run through the day on the actuals. Arrays [kW] per slot, ``soc_kwh`` at the end of the slot."""

    name: str
    dt_h: float                        # slot length [h]
    ev_kw: np.ndarray                  # [U, T]
    charge_kw: np.ndarray              # [B, T]
    discharge_kw: np.ndarray           # [B, T]
    soc_kwh: np.ndarray                # [B, T]
    curtail_kw: np.ndarray             # [S, T]
    net_load_kw: np.ndarray            # [N, T] metered transformer load
    decisions: list[dict] = field(default_factory=list)   # one per decision slot: reasons, solved, seconds
    warnings: list[str] = field(default_factory=list)
    ev_discharge_kw: np.ndarray | None = None   # [U, T] V2G discharge (``ev_kw`` is the charging)
    round_trip: float = 1.0                     # charger kWh that put back one kWh discharged
    sites: SitePlay | None = None               # the swap and fast-charging stations on the day's demand

    @property
    def delivered_kwh(self) -> np.ndarray:
        """[U] energy delivered per EV: charged, less V2G discharge x ``round_trip`` [kWh]."""
        out = self.ev_kw.sum(axis=1) * self.dt_h
        if self.ev_discharge_kw is not None:
            out = out - self.round_trip * self.ev_discharge_kw.sum(axis=1) * self.dt_h
        return out


@dataclass
class Replay:
    """A replayed day: the context, the day-ahead plan and the three runs."""

    context: Context
    day_ahead: Problem
    day_ahead_solution: Solution
    day_ahead_seconds: float
    runs: dict[str, ReplayRun]
    decisions: dict[int, list[str]]
    replan_every: int
    replan_options: SolverOptions
    replan_deadline_s: float | None = None   # the controller's deadline of a re-plan (counted, not enforced) [s]


def decision_points(ctx: Context, replan_every: int) -> dict[int, list[str]]:
    """Slot -> why the planner re-plans there: ``periodic``, ``notice DR1``, ``arrival E7`` (its first
    whole slot is not the forecast one: unexpected, early or late). Slot 0 holds the day-ahead plan;
    it is re-planned only for an arrival."""
    T, p = ctx.problem.n_slots, ctx.problem
    out: dict[int, list[str]] = {}
    for t in range(replan_every, T, replan_every) if replan_every > 0 else ():
        out.setdefault(t, []).append("periodic")
    for k in range(p.n_events):
        last = np.flatnonzero(p.event_slots[k]).max()
        if 0 < ctx.notice_slot[k] <= last:
            out.setdefault(int(ctx.notice_slot[k]), []).append(f"notice {p.event_ids[k]}")
    f = ctx.fleet
    planned = whole_slots(ctx.start_s, ctx.dt_s, f.f_arrival_s, f.f_departure_s)
    actual = ctx.actual_available
    first_f = np.where(planned.any(axis=1), planned.argmax(axis=1), T)
    first_a = np.where(actual.any(axis=1), actual.argmax(axis=1), T)
    for u in np.flatnonzero((first_a < T) & (first_a != first_f)):
        out.setdefault(int(first_a[u]), []).append(f"arrival {f.ev_ids[u]}")
    return dict(sorted(out.items()))


class _State:
    """Energy delivered per EV [kWh], battery SOC [kWh] and V2G EV battery energy [kWh] at the start
    of the current slot."""

    def __init__(self, ctx: Context):
        self.delivered = np.zeros(ctx.fleet.ev_ids.shape[0])
        self.soc = ctx.problem.battery_soc_initial_kwh.astype(float).copy()
        f = ctx.fleet
        self.ev_soc = f.soc_arrival_kwh.astype(float).copy() if f.has_v2g else None
        st = ctx.problem.sites       # swap stations: full packs and energy in the packs not full
        self.sites = None if st is None else (st.swap_initial_full.astype(float).copy(), st.partial0_kwh.copy())


def simulate(ctx: Context, name: str, day_ahead: tuple[Problem, Solution], decisions: dict[int, list[str]],
             options: SolverOptions | None = None, skip_unchanged: bool = True,
             progress: Callable[[str], None] | None = None, slot_control: bool = False) -> ReplayRun:
    """Walk through the day applying the current plan; re-plan at ``decisions`` (slot -> reasons).

    ``options``: solver options of the re-plans (default ``ctx.options``). ``skip_unchanged``: keep
    the current plan when the re-plan's inputs are what it expected (:func:`same_inputs`), so
    set-points do not flap between equally good plans. ``slot_control``: the charging platform's
    slot controller fits the set-points to each metered slot (:mod:`vpp_sched.studies.slot_control`).
    """
    p, T = ctx.problem, ctx.problem.n_slots
    run = ReplayRun(name, p.dt_h, np.zeros((len(ctx.fleet.ev_ids), T)), *np.zeros((3, p.n_batteries, T)),
                    np.zeros((p.n_stations, T)), np.zeros((p.n_transformers, T)))
    state, available = _State(ctx), ctx.actual_available
    run.sites = SitePlay.start(ctx.problem.sites, ctx.actuals.site_demand)   # the day's swaps and drivers
    if state.ev_soc is not None:
        run.ev_discharge_kw, run.round_trip = np.zeros_like(run.ev_kw), p.v2g_round_trip
    plan_p, plan = day_ahead
    t_plan = 0
    slots_left = np.cumsum(available[:, ::-1], axis=1)[:, ::-1]   # [U, T] whole slots from t on
    for t in range(T):
        if t in decisions:
            record = {"slot": t, "slot_start": p.slots[t].isoformat(), "reasons": decisions[t], "solved": False}
            new = window_problem(ctx, t, state.delivered, state.soc, ev_soc_kwh=state.ev_soc, site_state=state.sites)
            if not (skip_unchanged and same_inputs(plan_p, plan, t - t_plan, new)):
                if progress:
                    progress(f"{name}: re-planning at {p.slots[t]:%H:%M} ({len(run.decisions) + 1}/{len(decisions)})")
                started, cpu = time.perf_counter(), time.process_time()
                # the relaxation starts from the current plan's basis (solve/warm_start.py)
                sol = solve(new, options or ctx.options, method=ctx.method, lp_start=plan.lp_start, keep_basis=True,
                            gap_fallback=REPLAN_GAP_FALLBACK)
                record.update(solved=True, status=sol.status.value, seconds=time.perf_counter() - started,
                              cpu_seconds=time.process_time() - cpu, mip_gap=sol.mip_gap)
                if sol.status.has_plan:
                    plan_p, plan, t_plan = new, sol, t
                else:
                    run.warnings.append(f"re-plan at {p.slots[t].isoformat()} ended {sol.status.value}: "
                                        "the previous plan was kept")
                if sol.status in (SolveStatus.TIME_LIMIT, SolveStatus.NO_SOLUTION):
                    run.warnings.append(f"re-plan at {p.slots[t].isoformat()} was stopped by the wall-clock limit "
                                        f"of {(options or ctx.options).time_limit_s:g} s (solver.time_limit_s): "
                                        "this replay may not repeat on another machine")
            run.decisions.append(record)
        _apply(ctx, plan, t - t_plan, t, state, available, run, slots_left if slot_control else None)
    return run


def _apply(ctx: Context, plan: Solution, k: int, t: int, state: _State, available: np.ndarray, run: ReplayRun,
           slots_left: np.ndarray | None = None) -> None:
    """Slot ``t`` in reality with the plan's column ``k``: EVs take at most their set-point, their charger
    limit and what they still need, only when plugged in for the whole slot; the battery follows its
    set-point within its SOC bounds; PV curtailment at most the actual PV. ``slots_left`` [U, T] (whole
    slots of each EV's actual stay from ``t`` on): the slot controller corrects EVs and swap racks first."""
    p, f, dt = ctx.problem, ctx.fleet, ctx.problem.dt_h
    need_kw = np.maximum(f.a_energy_kwh - state.delivered, 0.0) / dt
    ev_dis = np.zeros_like(need_kw)
    if state.ev_soc is not None and plan.ev_discharge_kw is not None:
        # V2G: discharge at most what the battery holds; charge at most what it can take
        v_c, v_d = p.v2g_charge_efficiency, p.v2g_discharge_efficiency
        ev_dis = np.where(available[:, t] & f.v2g, _within(np.minimum(plan.ev_discharge_kw[:, k], f.max_discharge_kw),
                                                           state.ev_soc * v_d / dt), 0.0)
        need_kw = np.where(f.v2g & (ev_dis <= 0), np.minimum(need_kw, (f.battery_kwh - state.ev_soc) / (v_c * dt)),
                           np.where(ev_dis > 0, 0.0, need_kw))
    ev = np.where(available[:, t], _within(np.minimum(plan.ev_power_kw[:, k], f.a_max_power_kw), need_kw), 0.0)
    eta_c, eta_d = p.battery_charge_efficiency, p.battery_discharge_efficiency
    ch = _within(plan.battery_charge_kw[:, k], (p.battery_soc_max_kwh - state.soc) / (eta_c * dt))
    dis = _within(plan.battery_discharge_kw[:, k], (state.soc - p.battery_soc_min_kwh) * eta_d / dt)
    curtail = _within(plan.pv_curtail_kw[:, k], ctx.pv_actual_kw[:, t])
    N = p.n_transformers
    other_kw = (ctx.base_actual_kw[:, t] - np.bincount(f.transformer, ev_dis, N)
                + np.bincount(p.station_transformer[p.battery_station], ch - dis, N)
                - np.bincount(p.station_transformer, ctx.pv_actual_kw[:, t] - curtail, N))
    st = p.sites                 # the sites on the day's demand: racks within what the packs take (SitePlay)
    swap_kw, fast_kw = ((np.minimum(plan.swap_charge_kw[:, k], run.sites.swap_most_kw(t, dt)), plan.fast_cap_kw[:, k])
                        if st is not None else (None, None))
    if slots_left is not None:
        must, soon = ev_catch_up_kw(ctx, plan, k, t, need_kw, slots_left[:, t], available[:, t] & (ev_dis <= 0),
                                    run.sites)
        loads, draws, free = [(must, soon, ev, f.transformer)], None, 0.0
        if st is not None:   # the stations' catch-up: swaps to come, the slot's drivers (studies/actuals_sites.py)
            swap_must, fast_must = run.sites.must_kw(t, dt)
            loads += [(swap_must, np.maximum(swap_kw, swap_must), st.swap_transformer),
                      (fast_must, np.maximum(fast_kw, fast_must), st.fast_transformer)]
            # the fast caps' must above their drivers' draw: room the EVs' catch-up takes before a battery's
            draws = [None, None, run.sites.fast_draw_kw(t)]
            free = np.minimum(reserve_kw(fast_must, draws[2], st.fast_transformer, N),
                              np.bincount(f.transformer, must + soon, N))
        ch, dis, other_kw = relieve_batteries(p, loads, other_kw, ch, dis, state.soc, free)   # a site battery helps first
        ev, *site_kw = controlled_kw(p.limit_kw, other_kw, loads,
                                     ctx.scenario.config.uncertainty.catch_up_overload_pct, draws)
        swap_kw, fast_kw = site_kw or (None, None)
        # what the limit leaves, the fast caps at their drivers' draw (as the reserve above counts them)
        fast_draw = None if st is None else np.minimum(fast_kw, run.sites.fast_draw_kw(t))
        ev = ev + early_fill_kw(_headroom_left_kw(p, other_kw, ev, f.transformer, swap_kw, fast_draw), ev, need_kw,
                                slots_left[:, t], f.a_max_power_kw, available[:, t] & (ev_dis <= 0), f.transformer)
    run.net_load_kw[:, t] = other_kw + np.bincount(f.transformer, ev, N)
    state.delivered += ev * dt
    if state.ev_soc is not None:
        state.delivered -= p.v2g_round_trip * ev_dis * dt
        state.ev_soc = state.ev_soc + (p.v2g_charge_efficiency * ev - ev_dis / p.v2g_discharge_efficiency) * dt
        run.ev_discharge_kw[:, t] = ev_dis
    state.soc = state.soc + eta_c * dt * ch - dt / eta_d * dis
    if st is not None:
        run.net_load_kw[:, t] += run.sites.play(t, swap_kw, fast_kw, dt, N, plan.swap_partial_kwh[:, k])
        state.sites = run.sites.stock
    run.ev_kw[:, t], run.charge_kw[:, t], run.discharge_kw[:, t] = ev, ch, dis
    run.soc_kwh[:, t], run.curtail_kw[:, t] = state.soc, curtail


def _headroom_left_kw(p: Problem, other_kw: np.ndarray, ev_kw: np.ndarray, ev_transformer: np.ndarray,
                      swap_kw: np.ndarray | None, fast_kw: np.ndarray | None) -> np.ndarray:
    """[N] ``limit_kw`` less the slot's metered load with the controller's powers (``fast_kw``: what the fast-charging
    stations draw under their caps) [kW]."""
    load = other_kw + np.bincount(ev_transformer, ev_kw, p.n_transformers)
    if p.sites is not None:
        load = load + p.sites.site_at_transformer_kw(np.reshape(swap_kw, (-1, 1)), np.reshape(fast_kw, (-1, 1)),
                                                     p.n_transformers)[:, 0]
    return p.limit_kw - load


def _within(set_point: np.ndarray, most: np.ndarray) -> np.ndarray:
    """``set_point`` kept within ``[0, most]``; a ``most`` below zero by round-off counts as zero [kW]."""
    return np.minimum(np.maximum(set_point, 0.0), np.maximum(most, 0.0))


def uncontrolled_run(ctx: Context) -> ReplayRun:
    """Every EV that actually plugs in at full power from its first whole slot; batteries idle, PV uncurtailed."""
    p, f = ctx.problem, ctx.fleet
    energy = f.a_energy_kwh
    if f.has_v2g:   # a V2G EV takes no more than its battery holds
        room = (f.battery_kwh - f.soc_arrival_kwh) / p.v2g_charge_efficiency
        energy = np.where(f.v2g, np.minimum(energy, room), energy)
    ev = uncontrolled_ev_power_kw(ctx.actual_available, energy, f.a_max_power_kw, p.dt_h)
    net = ctx.base_actual_kw.copy()
    np.add.at(net, f.transformer, ev)
    np.add.at(net, p.station_transformer, -ctx.pv_actual_kw)
    sites = uncontrolled_play(p.sites, ctx.actuals.site_demand, p.dt_h)   # the day's swaps and drivers
    if sites is not None:
        net += sites.load_kw(p.n_transformers)
    soc = np.repeat(p.battery_soc_initial_kwh[:, None], p.n_slots, axis=1)
    idle = np.zeros((p.n_batteries, p.n_slots))
    return ReplayRun("uncontrolled", p.dt_h, ev, idle, idle.copy(), soc, np.zeros((p.n_stations, p.n_slots)), net,
                     sites=sites)


def replay_day(scenario: Scenario, actuals: Actuals | None = None, *, seed: int = 0, replan_every: int = 4,
               options: SolverOptions | None = None, method: str = "lean",
               replan_time_limit_s: float | None = REPLAN_TIME_LIMIT_S, skip_unchanged: bool = True,
               progress: Callable[[str], None] | None = None) -> Replay:
    """Replay ``scenario``'s day on ``actuals`` (default: the forecast perturbed with ``seed``).

    ``options`` (default the scenario's) apply to the day-ahead plan and, with at most
    ``REPLAN_MAX_NODES`` branch-and-bound nodes per MILP run, to the re-plans. ``replan_time_limit_s``
    [s] is the controller's deadline for a re-plan: one that takes longer is counted
    (``replans_over_deadline``) but not cut, so results never depend on the machine's speed. Only the
    solver's own wall-clock limit (``options.time_limit_s``, a safety net) can stop a re-plan, and
    the replay then says so in its warnings.

    Raises
    ------
    NoPlanError
        The day-ahead plan could not be made (a failed re-plan keeps the previous plan instead).
    """
    say = progress or (lambda stage: None)
    actuals = actuals if actuals is not None else perturb_forecast(scenario, seed)
    options = options or scenario.config.solver
    say("building the forecast problem")
    ctx = make_context(scenario, actuals, options, method)
    zero = _State(ctx)
    day_p = window_problem(ctx, 0, zero.delivered, zero.soc, use_actuals=False)
    say("planning the day ahead")
    started = time.perf_counter()
    day_sol = solve(day_p, options, method=method, keep_basis=True)
    day_seconds = time.perf_counter() - started
    if not day_sol.status.has_plan:
        raise NoPlanError(day_sol.status, f"the day-ahead plan ended {day_sol.status.value}")
    decisions = decision_points(ctx, replan_every)
    replan_options = options.model_copy(update={"mip_max_nodes": min(options.mip_max_nodes or REPLAN_MAX_NODES,
                                                                     REPLAN_MAX_NODES)})
    runs = {"replanned": simulate(ctx, "replanned", (day_p, day_sol), decisions, replan_options, skip_unchanged,
                                  say),
            "day_ahead_only": simulate(ctx, "day_ahead_only", (day_p, day_sol), {}),
            "uncontrolled": uncontrolled_run(ctx)}
    return Replay(context=ctx, day_ahead=day_p, day_ahead_solution=day_sol, day_ahead_seconds=day_seconds,
                  runs=runs, decisions=decisions, replan_every=replan_every, replan_options=replan_options,
                  replan_deadline_s=replan_time_limit_s)


# ---- reporting ---------------------------------------------------------------------------
def event_table(p: Problem, net_load_kw: np.ndarray) -> pd.DataFrame:
    """Per event and slot: baseline (the day-ahead problem's), target, cap, metered scope load,
    delivered response ``sign * (baseline - load)``, shortfall and compliance [kW, %]."""
    parts = []
    for k in range(p.n_events):
        t = np.flatnonzero(p.event_slots[k])
        sign, target = p.event_signs()[k], p.event_reduction_kw[k]
        base, load = p.event_baseline_kw[k, t], net_load_kw[p.event_scope[k]].sum(axis=0)[t]
        delivered = sign * (base - load)
        with np.errstate(divide="ignore", invalid="ignore"):
            compliance = np.where(target > 0, 100.0 * delivered / target, 100.0)
        parts.append(pd.DataFrame({
            "event_id": p.event_ids[k], "kind": "peak_shaving" if sign > 0 else "valley_filling",
            "slot_start": p.slots[t], "baseline_kw": base, "target_kw": target, "cap_kw": base - sign * target,
            "actual_kw": load, "delivered_kw": delivered, "shortfall_kw": np.maximum(target - delivered, 0.0),
            "compliance_pct": compliance}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[
        "event_id", "kind", "slot_start", "baseline_kw", "target_kw", "cap_kw", "actual_kw", "delivered_kw",
        "shortfall_kw", "compliance_pct"])


def run_kpis(ctx: Context, run: ReplayRun) -> dict:
    """Energy cost, peak, loading, overloads, unmet energy and DR delivery of one run (metered loads)."""
    p, f = ctx.problem, ctx.fleet
    unmet = np.where(f.in_actuals, np.maximum(f.a_energy_kwh - run.delivered_kwh, 0.0), 0.0)
    unmet[unmet < 1e-3] = 0.0
    k = grid_kpis(p, run.net_load_kw, unmet)
    k["overload_slots"] = int((np.abs(run.net_load_kw) - p.limit_kw[:, None] > TOL_KW).sum())   # both ways
    k["ev_energy_kwh"] = float(run.delivered_kwh.sum())
    k["pv_curtailed_kwh"] = float(run.curtail_kw.sum() * p.dt_h)
    events = event_table(p, run.net_load_kw)
    k["dr_shortfall_kwh"] = float(events.shortfall_kw.sum() * p.dt_h) if len(events) else 0.0
    k.update(site_day_kpis(run.sites, p.dt_h))   # unserved swaps, fast-charging energy and waits
    if p.n_events:
        k["dr_events"] = event_summary(p, events).to_dict(orient="records")
    solved = [d for d in run.decisions if d["solved"]]
    k.update(decision_points=len(run.decisions), replans=len(solved),
             replan_solve_seconds=float(sum(d["seconds"] for d in solved)),
             replan_cpu_seconds=float(sum(d["cpu_seconds"] for d in solved)),
             replan_max_seconds=float(max((d["seconds"] for d in solved), default=0.0)))
    return k


def replay_kpis(r: Replay) -> dict:
    """kpis.json: the setting, the day-ahead solve, and the KPIs of each run."""
    ctx, sol = r.context, r.day_ahead_solution
    status = ctx.fleet.status
    out = {"scenario": ctx.scenario.config.name, "actuals": ctx.actuals.source, "replan_every": r.replan_every,
           "replan_deadline_s": r.replan_deadline_s, "replan_time_limit_s": r.replan_options.time_limit_s,
           "replan_max_nodes": r.replan_options.mip_max_nodes,
           "method": ctx.method, "n_slots": ctx.problem.n_slots, "n_evs_forecast": int(ctx.fleet.in_forecast.sum()),
           "n_evs_actual": int(ctx.fleet.in_actuals.sum()), "unexpected_evs": int((status == "unexpected").sum()),
           "no_shows": int((status == "no_show").sum()),
           "event_baseline": "event_baseline_kw of the day-ahead problem (forecast), as vpp-sched plan builds it",
           # objective, bound and gap as the plan's kpis give them (the DR compensation subtracted)
           "day_ahead": {"status": sol.status.value, **objective_kpis(sol, dr_compensation_cny(r.day_ahead)),
                         "solve_seconds": r.day_ahead_seconds}}
    for name in RUNS:
        k = run_kpis(ctx, r.runs[name])
        k["solve_seconds"] = k["replan_solve_seconds"] + (r.day_ahead_seconds if name != "uncontrolled" else 0.0)
        # a timing: how often the controller's deadline was missed on this machine (results do not depend on it)
        k["replans_over_deadline"] = sum(1 for d in r.runs[name].decisions if d["solved"] and r.replan_deadline_s
                                         is not None and d["seconds"] > r.replan_deadline_s)
        out[name] = k
    out["warnings"] = replay_warnings(r)
    return out


def replay_warnings(r: Replay) -> list[str]:
    """What the replanned run did not deliver: EVs short, overloads, DR shortfall, failed re-plans."""
    p, run = r.context.problem, r.runs["replanned"]
    k = run_kpis(r.context, run)
    out = list(run.warnings)
    if r.day_ahead_solution.status is SolveStatus.TIME_LIMIT:
        out.append(f"the day-ahead plan was stopped by the wall-clock limit of "
                   f"{r.replan_options.time_limit_s:g} s (solver.time_limit_s): this replay may not repeat on "
                   "another machine; raise --time-limit")
    if k["evs_short"]:
        # Uncontrolled charging gives each EV all it can physically get: the rest is the plan's doing.
        floor = run_kpis(r.context, r.runs["uncontrolled"])["unmet_energy_kwh"]
        out.append(f"{k['evs_short']} EV(s) short of {k['unmet_energy_kwh']:.1f} kWh in total (uncontrolled "
                   f"charging: {floor:.1f} kWh; see evs.csv)")
    over = np.abs(run.net_load_kw) - p.limit_kw[:, None] > TOL_KW   # import or reverse flow
    for n in np.flatnonzero(over.any(axis=1)):
        t = np.flatnonzero(over[n])
        out.append(f"transformer {p.transformer_ids[n]} above its limit in {len(t)} slot(s), first "
                   f"{p.slots[t[0]].isoformat()} by {(np.abs(run.net_load_kw[n, t]) - p.limit_kw[n]).max():.1f} kW at most "
                   "(see timeline.csv)")
    if k["dr_shortfall_kwh"] > 1e-3:
        out.append(f"DR events short of their target by {k['dr_shortfall_kwh']:.1f} kWh (see dr_events.csv)")
    return out


def timeline_table(r: Replay) -> pd.DataFrame:
    """Per slot and scope (each transformer, ``all``, and any other event scope): DR baseline, target
    and cap in event slots (else empty), the day-ahead plan's load and the metered load of each run [kW]."""
    p = r.context.problem
    scopes = {str(tid): np.arange(p.n_transformers) == n for n, tid in enumerate(p.transformer_ids)}
    scopes["all"] = np.ones(p.n_transformers, dtype=bool)
    for k in range(p.n_events):
        if not any(np.array_equal(m, p.event_scope[k]) for m in scopes.values()):
            scopes["+".join(p.transformer_ids[p.event_scope[k]])] = p.event_scope[k]
    loads = {"planned_kw": r.day_ahead_solution.net_load_kw, "actual_kw": r.runs["replanned"].net_load_kw,
             "day_ahead_only_kw": r.runs["day_ahead_only"].net_load_kw,
             "uncontrolled_kw": r.runs["uncontrolled"].net_load_kw}
    parts = []
    for name, mask in scopes.items():
        cols = {c: np.full(p.n_slots, np.nan) for c in ("baseline_kw", "target_kw", "cap_kw")}
        event = np.full(p.n_slots, "", dtype=object)
        for k in np.flatnonzero([np.array_equal(mask, s) for s in p.event_scope] if p.n_events else []):
            t = p.event_slots[k] & (event == "")       # overlapping events: the first one is shown
            sign, target = p.event_signs()[k], p.event_reduction_kw[k]
            event[t], cols["baseline_kw"][t], cols["target_kw"][t] = p.event_ids[k], p.event_baseline_kw[k, t], target
            cols["cap_kw"][t] = p.event_baseline_kw[k, t] - sign * target
        limit = p.limit_kw[mask][0] if mask.sum() == 1 else np.nan
        parts.append(pd.DataFrame({"slot_start": p.slots, "scope": name, "event_id": event, **cols,
                                   **{c: mask @ v for c, v in loads.items()}, "limit_kw": limit}))
    order = {name: i for i, name in enumerate(scopes)}
    table = pd.concat(parts, ignore_index=True)
    return table.sort_values(["slot_start", "scope"], key=lambda c: c.map(order) if c.name == "scope" else c,
                             kind="stable", ignore_index=True)


def ev_table(r: Replay) -> pd.DataFrame:
    """Per EV session: status, actual stay, requested (actual) and delivered energy of each run [kWh]."""
    p, f = r.context.problem, r.context.fleet
    tz = r.context.scenario.tz
    when = lambda s, on: [pd.Timestamp(x, unit="s", tz=tz).isoformat() if o else "" for x, o in zip(s, on)]  # noqa

    delivered = r.runs["replanned"].delivered_kwh
    requested = np.where(f.in_actuals, f.a_energy_kwh, 0.0)
    unmet = np.maximum(requested - delivered, 0.0)
    unmet[unmet < 1e-3] = 0.0   # round-off, as in the plan's evs.csv
    extra = {}
    if r.runs["replanned"].ev_discharge_kw is not None:   # V2G: discharged to the grid, re-planned run
        extra["discharged_kwh"] = r.runs["replanned"].ev_discharge_kw.sum(axis=1) * p.dt_h
    return pd.DataFrame({**extra, "ev_id": f.ev_ids, "transformer_id": p.transformer_ids[f.transformer], "status": f.status,
                         "arrival": when(f.a_arrival_s, f.in_actuals), "departure": when(f.a_departure_s, f.in_actuals),
                         "requested_kwh": requested, "delivered_kwh": delivered, "unmet_kwh": unmet,
                         "day_ahead_only_kwh": r.runs["day_ahead_only"].delivered_kwh,
                         "uncontrolled_kwh": r.runs["uncontrolled"].delivered_kwh})


def write_replay(r: Replay, out_dir, inputs=(), force: bool = False) -> Path:
    """Write the replay folder atomically (``models/replay.md`` lists the files); ``out_dir`` is a
    path or an :class:`~vpp_sched.outfolder.OutFolder` opened before the replay."""
    ctx = r.context
    events = event_table(ctx.problem, r.runs["replanned"].net_load_kw)
    summary = event_summary(ctx.problem, events) if len(events) else pd.DataFrame(columns=[
        "event_id", "kind", "target_kw", "delivered_kw_mean", "delivered_kwh", "compliance_pct", "slots_met", "slots",
        "revenue_cny", "penalty_cny"])
    decisions = pd.DataFrame([{"slot_start": d["slot_start"], "reasons": "; ".join(d["reasons"]), "solved": d["solved"],
                               "status": d.get("status", "")} for d in r.runs["replanned"].decisions],
                             columns=["slot_start", "reasons", "solved", "status"])
    tables = {"timeline": timeline_table(r), "events": summary, "dr_events": events, "evs": ev_table(r),
              "decisions": decisions}
    with atomic_folder(out_dir, "replay", inputs, force) as tmp:
        for stem, table in tables.items():
            table = table.copy()
            if "slot_start" in table and len(table) and not isinstance(table.slot_start.iat[0], str):
                table["slot_start"] = table.slot_start.map(lambda x: x.isoformat())
            table.to_csv(tmp / f"{stem}.csv", index=False, float_format="%.6f", lineterminator="\n")
        (tmp / "kpis.json").write_text(json.dumps(_json_safe(replay_kpis(r)), indent=2) + "\n")
        write_actuals(ctx.actuals, tmp / "actuals", list(ctx.problem.station_ids), ctx.scenario.config)
    return target_path(out_dir)


def _json_safe(value):
    """NaN and infinities as null; numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
