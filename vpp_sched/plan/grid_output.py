"""The LV grids' AC power flow of a plan and of uncontrolled charging: tables, KPIs, limit breaches.

``grid_buses`` (``transformer_id, bus_id, slot_start, vm_pu, vm_a_pu, vm_b_pu, vm_c_pu``: ``vm_pu``
of the balanced flow, the phase-to-neutral voltages of the three-phase flow with the EVs on their
phases) and ``grid_lines`` (``transformer_id, line_id, slot_start, loading_pct``), one row per bus
(SimBench node) or line and slot. Breaches are against ``scenario.yaml`` ``grid``
(:class:`~vpp_sched.scenario.config.GridLimits`): ``vm_pu`` against the three-phase band, the phase
voltages against the phase band.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from vpp_sched.network.check import GridCase, flow, flow_3ph, grid_cases
from vpp_sched.network.phases import phase_power_kw, unbalance_pct
from vpp_sched.network.powerflow import one_blas_thread
from vpp_sched.problem.build import sum_rows_by
from vpp_sched.problem.phases import phase_power_kw as phase_power_kw_model, phase_slacks_kw, unbalance_slots


@dataclass
class GridFlows:
    """The power flow of every grid of one plan (or of uncontrolled charging)."""

    cases: list
    vm_pu: list          # per case [pandapower bus, T]
    loading_pct: list    # per case [line, T]
    v: list              # per case [pandapower bus, T] complex voltages [pu]
    phases: list = None  # per case the three-phase flow (network/powerflow_3ph.Flow3Result)


def plan_grid_flows(scenario, problem, ev_kw: np.ndarray, station_kw: np.ndarray, cases=None) -> GridFlows:
    """AC power flow of each grid for EV net power ``ev_kw`` [E, T] and station power ``station_kw`` [N, T] [kW]."""
    cases = grid_cases(scenario, problem) if cases is None else cases
    with one_blas_thread():
        results = [flow(c, ev_kw, station_kw[c.row], problem.slots) for c in cases]
        phases = [flow_3ph(c, ev_kw, station_kw[c.row], problem.slots) for c in cases]
    return GridFlows(cases=cases, vm_pu=[r.vm_pu for r in results], loading_pct=[r.loading_pct for r in results],
                     v=[r.v for r in results], phases=phases)


def _slot_text(slots: pd.DatetimeIndex) -> np.ndarray:
    return np.array([s.isoformat() for s in slots], dtype=object)


def grid_tables(flows: GridFlows, slots: pd.DatetimeIndex) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``grid_buses`` and ``grid_lines`` (module docstring)."""
    T, text = len(slots), _slot_text(slots)
    buses, lines = [], []
    phases = flows.phases or [None] * len(flows.cases)
    for c, vm, ld, ph in zip(flows.cases, flows.vm_pu, flows.loading_pct, phases):
        names = c.model.net.bus.name.to_numpy()
        abc = ph.vm_abc_pu if ph is not None else np.full((3, *vm.shape), np.nan)
        buses.append(pd.DataFrame({"transformer_id": c.transformer_id, "bus_id": np.repeat(names, T),
                                   "slot_start": np.tile(text, len(names)), "vm_pu": vm.ravel(),
                                   "vm_a_pu": abc[0].ravel(), "vm_b_pu": abc[1].ravel(), "vm_c_pu": abc[2].ravel()}))
        lnames = c.model.net.line.name.to_numpy()
        lines.append(pd.DataFrame({"transformer_id": c.transformer_id, "line_id": np.repeat(lnames, T),
                                   "slot_start": np.tile(text, len(lnames)), "loading_pct": ld.ravel()}))
    empty_b = pd.DataFrame(columns=["transformer_id", "bus_id", "slot_start", "vm_pu", "vm_a_pu", "vm_b_pu",
                                    "vm_c_pu"])
    empty_l = pd.DataFrame(columns=["transformer_id", "line_id", "slot_start", "loading_pct"])
    return (pd.concat(buses, ignore_index=True) if buses else empty_b,
            pd.concat(lines, ignore_index=True) if lines else empty_l)


def phase_table(cases, problem, ev_kw: np.ndarray, station_kw: np.ndarray,
                net_load_kw: np.ndarray | None = None) -> pd.DataFrame:
    """``grid_phases``: ``transformer_id, slot_start, p_a_kw, p_b_kw, p_c_kw, unbalance_pct`` per slot
    (EVs on their phase, the rest balanced; :mod:`vpp_sched.network.phases`) and, where the model has
    phase rows (``problem.phases``, :func:`phase_limit_columns`), per-phase loading and the slacks.
    ``net_load_kw`` [N, T]: the transformers' net load (default base load + EVs + station) [kW]."""
    if problem.phases is not None:
        if net_load_kw is None:
            net_load_kw = problem.base_load_kw + sum_rows_by(problem.ev_transformer, ev_kw, problem.n_transformers) + station_kw
        return phase_limit_columns(problem, ev_kw, net_load_kw)
    text, parts = _slot_text(problem.slots), []
    for c in cases:
        per = phase_power_kw(ev_kw[c.ev_rows], list(c.ev_phase), problem.base_load_kw[c.row] + station_kw[c.row])
        parts.append(pd.DataFrame({"transformer_id": c.transformer_id, "slot_start": text, "p_a_kw": per[0],
                                   "p_b_kw": per[1], "p_c_kw": per[2], "unbalance_pct": unbalance_pct(per)}))
    return pd.concat(parts, ignore_index=True)


def phase_limit_columns(problem, ev_kw: np.ndarray, net_load_kw: np.ndarray) -> pd.DataFrame:
    """``grid_phases`` of the transformers with phase rows (``models/lv_grid.md``, "Phases"): the phase
    powers, ``unbalance_pct``, ``loading_a_pu..loading_c_pu`` (of ``rating_kw / 3``), ``phase_limit_bound``
    (a phase at ``limit_kw / 3``), ``phase_overload_kw`` (summed over the phases), ``unbalance_limited``
    (the slot has the unbalance rows) and ``unbalance_slack_kw``."""
    p, ph, T = problem, problem.phases, problem.n_slots
    per = phase_power_kw_model(p, ev_kw, net_load_kw)                 # [P, 3, T]
    over, short = phase_slacks_kw(p, per)
    phase_rating = np.asarray(p.rating_kw, float)[ph.transformer, None, None] / 3.0
    phase_limit = np.asarray(p.limit_kw, float)[ph.transformer, None] / 3.0
    flat = lambda a: np.asarray(a).reshape(-1)    # noqa: E731  transformer-major, then slot
    cols = {"transformer_id": np.repeat(np.asarray(p.transformer_ids, dtype=object)[ph.transformer], T),
            "slot_start": np.tile(_slot_text(p.slots), len(ph.transformer))}
    cols.update({f"p_{x}_kw": flat(per[:, i]) for i, x in enumerate("abc")})
    cols["unbalance_pct"] = flat(np.stack([unbalance_pct(q) for q in per]) if len(per) else per[:, 0])
    cols.update({f"loading_{x}_pu": flat(per[:, i] / phase_rating[:, 0]) for i, x in enumerate("abc")})
    cols["phase_limit_bound"] = flat(per.max(axis=1) >= phase_limit - BOUND_TOL_KW)
    cols["phase_overload_kw"] = flat(over.sum(axis=1))
    cols["unbalance_limited"] = flat(unbalance_slots(p))
    cols["unbalance_slack_kw"] = flat(short)
    return pd.DataFrame(cols)


def phase_limit_kpis(table: pd.DataFrame, dt_h: float) -> dict:
    """Worst unbalance, highest phase loading, slots above the unbalance limit (slack needed) and with a
    phase above its limit, and the slacks' energy, of one ``grid_phases`` table."""
    out = {"worst_unbalance_pct": float(table.unbalance_pct.max())}
    if "unbalance_slack_kw" not in table.columns:
        return out
    loaded = table[table.unbalance_limited.astype(bool)]
    out.update(worst_unbalance_limited_pct=float(loaded.unbalance_pct.max()) if len(loaded) else 0.0,
               highest_phase_loading_pu=float(table[["loading_a_pu", "loading_b_pu", "loading_c_pu"]].max().max()),
               unbalance_slots_above_limit=int((table.unbalance_slack_kw > SLACK_TOL_KW).sum()),
               phase_overload_slots=int((table.phase_overload_kw > SLACK_TOL_KW).sum()),
               unbalance_slack_kwh=float(table.unbalance_slack_kw.sum() * dt_h),
               phase_overload_kwh=float(table.phase_overload_kw.sum() * dt_h))
    return out


#: A phase within this of its limit counts as bound; a slack above this as needed [kW].
BOUND_TOL_KW = 1e-3
SLACK_TOL_KW = 1e-3


def grid_kpis(flows: GridFlows, limits) -> dict:
    """Lowest voltage, highest line loading, and counts of bus-slots and line-slots beyond the limits."""
    if not flows.cases:
        return {}
    vmin = min(float(v.min()) for v in flows.vm_pu)
    vmax = max(float(v.max()) for v in flows.vm_pu)
    lmax = max((float(ld.max()) for ld in flows.loading_pct if ld.size), default=0.0)
    low = sum(int((v < limits.voltage_min_pu - 1e-9).sum()) for v in flows.vm_pu)
    high = sum(int((v > limits.voltage_max_pu + 1e-9).sum()) for v in flows.vm_pu)
    over = sum(int((ld > limits.line_loading_max_pct + 1e-6).sum()) for ld in flows.loading_pct)
    bad = sorted({c.transformer_id for c, v, ld in zip(flows.cases, flows.vm_pu, flows.loading_pct)
                  if (v < limits.voltage_min_pu - 1e-9).any() or (v > limits.voltage_max_pu + 1e-9).any()
                  or (ld > limits.line_loading_max_pct + 1e-6).any()})
    three, bad_phase = phase_kpis(flows, limits)
    return {"lowest_vm_pu": vmin, "highest_vm_pu": vmax, "highest_line_loading_pct": lmax,
            "undervoltage_bus_slots": low, "overvoltage_bus_slots": high, "overloaded_line_slots": over,
            "transformers_beyond_grid_limits": sorted(set(bad) | bad_phase), **three}


def phase_kpis(flows: GridFlows, limits) -> tuple[dict, set]:
    """KPIs of the three-phase flows: lowest and highest phase-to-neutral voltage [pu], worst voltage
    unbalance ``|V2|/|V1|`` [%] and transformer current unbalance [%], bus-slots beyond the phase band
    (``phase_voltage_min_pu..phase_voltage_max_pu``) and above ``voltage_unbalance_max_pct``; and the
    transformers whose phase voltages leave the band."""
    if not flows.phases:
        return {}, set()
    vm = [r.vm_abc_pu for r in flows.phases]
    low = [np.nan_to_num(v, nan=np.inf) < limits.phase_voltage_min_pu - 1e-9 for v in vm]
    high = [np.nan_to_num(v, nan=-np.inf) > limits.phase_voltage_max_pu + 1e-9 for v in vm]
    unb = [np.nan_to_num(r.unbalance_pct) > limits.voltage_unbalance_max_pct + 1e-9 for r in flows.phases]
    bad = {c.transformer_id for c, lo, hi in zip(flows.cases, low, high) if lo.any() or hi.any()}
    return {"lowest_phase_vm_pu": min(float(np.nanmin(v)) for v in vm),
            "highest_phase_vm_pu": max(float(np.nanmax(v)) for v in vm),
            "worst_voltage_unbalance_pct": max(float(np.nanmax(r.unbalance_pct)) for r in flows.phases),
            "worst_transformer_current_unbalance_pct": max(float(r.trafo_unbalance_pct.max()) for r in flows.phases),
            "phase_undervoltage_bus_slots": sum(int(x.sum()) for x in low),
            "phase_overvoltage_bus_slots": sum(int(x.sum()) for x in high),
            "voltage_unbalance_bus_slots": sum(int(x.sum()) for x in unb)}, bad


def weakest(buses: pd.DataFrame, lines: pd.DataFrame, n: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``n`` buses with the lowest voltage and lines with the highest loading (each at its worst slot)."""
    # nodes joined by closed switches share one voltage: one of them stands for the busbar
    b = (buses.sort_values("vm_pu").drop_duplicates(["transformer_id", "bus_id"])
         .assign(_node=lambda d: d.bus_id.str.replace(r"_\d+$", "", regex=True))
         .drop_duplicates(["transformer_id", "_node"]).head(n)[["transformer_id", "bus_id", "slot_start", "vm_pu"]])
    ln = (lines.sort_values("loading_pct", ascending=False).drop_duplicates(["transformer_id", "line_id"]).head(n)
          [["transformer_id", "line_id", "slot_start", "loading_pct"]])
    return b.reset_index(drop=True), ln.reset_index(drop=True)


def weakest_phases(buses: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """The ``n`` buses with the lowest phase-to-neutral voltage, each at its worst slot and phase
    (``transformer_id, bus_id, slot_start, phase, vm_phase_pu``); empty without three-phase columns."""
    cols = ["vm_a_pu", "vm_b_pu", "vm_c_pu"]
    if not all(c in buses.columns for c in cols) or buses[cols].isna().all().all():
        return pd.DataFrame(columns=["transformer_id", "bus_id", "slot_start", "phase", "vm_phase_pu"])
    # The long table (every bus, slot and phase, in melt's order) sorted by voltage; the first n distinct
    # nodes lie in a short head of it, so only a head is built, doubled until it holds n (or all of it):
    # the first occurrences in a head are those in the whole (the bundled day: 1 M rows, 2 s -> 0.1 s).
    values = np.concatenate([buses[c].to_numpy(dtype=float) for c in cols])
    row = np.tile(np.arange(len(buses)), len(cols))
    phase = np.repeat(np.array([c[3] for c in cols], dtype=object), len(buses))
    keep = ~np.isnan(values)
    values, row, phase = values[keep], row[keep], phase[keep]
    order = np.argsort(values, kind="stable")
    head = max(64 * n, 1)
    while True:
        take = order[:head]
        long = buses[["transformer_id", "bus_id", "slot_start"]].iloc[row[take]].assign(
            phase=phase[take], vm_phase_pu=values[take])
        w = (long.sort_values("vm_phase_pu", kind="stable").drop_duplicates(["transformer_id", "bus_id"])
             .assign(_node=lambda d: d.bus_id.str.replace(r"_\d+$", "", regex=True))
             .drop_duplicates(["transformer_id", "_node"]).head(n))
        if len(w) >= n or head >= len(order):
            return w[["transformer_id", "bus_id", "slot_start", "phase", "vm_phase_pu"]].reset_index(drop=True)
        head *= 2


def station_power_kw(transformer_load: pd.DataFrame, problem) -> np.ndarray:
    """[N, T] what each transformer's station adds to its grid: battery - PV fed in [kW]."""
    wide = transformer_load.assign(station_kw=transformer_load["battery_kw"] - transformer_load["pv_kw"])
    table = wide.pivot(index="transformer_id", columns="slot_start", values="station_kw")
    return table.reindex(index=list(problem.transformer_ids)).to_numpy(float)


__all__ = ["GridCase", "GridFlows", "plan_grid_flows", "grid_tables", "grid_kpis", "grid_warnings", "phase_kpis", "weakest",
           "weakest_phases", "station_power_kw"]


def add_grid_check(scenario, problem, ev_kw: np.ndarray, plan, uncontrolled_ev_kw: np.ndarray | None = None,
                   cases=None, memo: dict | None = None) -> GridFlows | None:
    """Run the grids' power flow of ``plan`` (EV net power ``ev_kw`` [E, T]) and of uncontrolled charging,
    put the tables on the plan and the KPIs in ``plan.kpis["grid"]``; return the plan's flows (``None``
    and nothing added when no grid is named). ``memo`` keeps the uncontrolled KPIs between the plans of
    one run (the same EVs and grids)."""
    cases = grid_cases(scenario, problem) if cases is None else cases
    if not cases:
        return None
    limits = scenario.config.grid
    station_kw = station_power_kw(plan.transformer_load, problem)
    flows = plan_grid_flows(scenario, problem, ev_kw, station_kw, cases)
    plan.grid_buses, plan.grid_lines = grid_tables(flows, problem.slots)
    net = plan.transformer_load.net_load_kw.to_numpy(float).reshape(problem.n_transformers, problem.n_slots)
    plan.grid_phases = phase_table(cases, problem, ev_kw, station_kw, net)
    plan.kpis["grid"] = {"plan": dict(grid_kpis(flows, limits), **phase_limit_kpis(plan.grid_phases, problem.dt_h)),
                         "limits": limits.model_dump()}
    memo = {} if memo is None else memo
    if uncontrolled_ev_kw is not None and "uncontrolled" not in memo:
        idle = -problem.pv_at_transformer_kw()          # batteries idle, PV fed in whole
        memo["uncontrolled"] = dict(
            grid_kpis(plan_grid_flows(scenario, problem, uncontrolled_ev_kw, idle, cases), limits),
            **phase_limit_kpis(phase_table(cases, problem, uncontrolled_ev_kw, idle), problem.dt_h))
    if "uncontrolled" in memo:
        plan.kpis["grid"]["uncontrolled"] = memo["uncontrolled"]
    return flows


def grid_warnings(kpis: dict, iterations: int, uncontrolled: dict | None = None) -> list[str]:
    """The plan's warnings of one ``kpis["grid"]["plan"]`` dict: grid limits still breached after the grid
    iterations, and the priced soft limits the plan used (unbalance slack, phase overload), beside
    uncontrolled charging's count where it is known (``kpis["grid"]["uncontrolled"]``: how much of it
    the base load brings anyway). Each is in the tables too; the warning makes sure the dispatch
    engineer sees it without opening them."""
    def beside(key: str) -> str:
        return "" if not uncontrolled or key not in uncontrolled else f" (uncontrolled charging: {uncontrolled[key]})"

    out = []
    if breaches(kpis):
        out.append(f"LV grid limits breached after {iterations} grid iteration(s): "
                   f"{kpis.get('undervoltage_bus_slots', 0) + kpis.get('phase_undervoltage_bus_slots', 0)} "
                   f"bus-slot(s) below and {kpis.get('overvoltage_bus_slots', 0) + kpis.get('phase_overvoltage_bus_slots', 0)} "
                   f"above the voltage band, {kpis.get('overloaded_line_slots', 0)} line-slot(s) above their "
                   f"loading limit, at {', '.join(kpis.get('transformers_beyond_grid_limits', [])[:5]) or 'the grids'} "
                   "(see grid_buses.csv, grid_lines.csv)")
    if kpis.get("unbalance_slots_above_limit", 0):
        out.append(f"phase unbalance above its limit in {kpis['unbalance_slots_above_limit']} transformer-slot(s)"
                   f"{beside('unbalance_slots_above_limit')}, priced slack {kpis['unbalance_slack_kwh']:.1f} kWh "
                   "(see unbalance_slack_kw in grid_phases.csv)")
    if kpis.get("phase_overload_slots", 0):
        out.append(f"a phase above a third of its transformer's limit in {kpis['phase_overload_slots']} "
                   f"transformer-slot(s){beside('phase_overload_slots')}, {kpis['phase_overload_kwh']:.1f} kWh "
                   "(see phase_overload_kw in grid_phases.csv)")
    return out


def breaches(kpis: dict) -> int:
    """Bus-slots and line-slots beyond the grid limits in one ``grid_kpis`` dict."""
    return int(kpis.get("undervoltage_bus_slots", 0) + kpis.get("overvoltage_bus_slots", 0)
               + kpis.get("overloaded_line_slots", 0) + kpis.get("phase_undervoltage_bus_slots", 0)
               + kpis.get("phase_overvoltage_bus_slots", 0))
