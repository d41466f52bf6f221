"""Physical validity of a plan, checked from its tables alone (not from the solver's variables).

Every test that produces a plan runs :func:`check_plan`; ``vpp-sched plan`` runs it too and
refuses to call a plan good when it fails. Returns one message per violation; empty is valid.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vpp_sched.errors import ArgumentError
from vpp_sched.problem.build import sum_rows_by
from vpp_sched.problem.arrays import Problem
from vpp_sched.plan.results import Plan
from vpp_sched.plan.runs import factorize_runs
from vpp_sched.plan.sites_validity import check_sites
from vpp_sched.plan.phase_validity import check_phases

TOL_KW = 1e-3
TOL_KWH = 1e-2


def check_plan(p: Problem, plan: Plan) -> list[str]:
    """All violations of EV, transformer, feeder, battery and DR rules in ``plan``."""
    out: list[str] = []
    ev_kw = _ev_matrix(p, plan.ev_schedule)
    dis_kw = _ev_matrix(p, plan.ev_schedule, "discharge_kw") if p.has_v2g else np.zeros_like(ev_kw)
    out += _check_evs(p, ev_kw, plan.evs, dis_kw)
    if p.has_v2g:
        out += _check_v2g(p, ev_kw, dis_kw, plan.ev_schedule)
    out += _check_transformers(p, ev_kw - dis_kw, plan.transformer_load)
    out += _check_batteries(p, plan.batteries)
    out += _check_discharge_export(p, dis_kw, plan.transformer_load, plan.batteries)
    out += _check_feeders(p, plan.transformer_load, plan.feeders)
    out += _check_events(p, plan.transformer_load, plan.dr_events)
    out += check_sites(p, plan)
    out += check_grid(plan)
    out += check_phases(p, plan, ev_kw - dis_kw)
    return out


def check_grid(plan: Plan) -> list[str]:
    """The LV grids' AC power flow of the plan (``grid_buses``, ``grid_lines``) within the voltage band and
    line ratings of ``kpis["grid"]["limits"]``: one message per transformer and kind, at its worst slot."""
    limits = plan.kpis.get("grid", {}).get("limits")
    if limits is None or not len(plan.grid_buses):
        return []
    out = []
    b = plan.grid_buses
    for kind, bad, col, worst in (("below", b.vm_pu < limits["voltage_min_pu"] - 1e-6, "vm_pu", "idxmin"),
                                  ("above", b.vm_pu > limits["voltage_max_pu"] + 1e-6, "vm_pu", "idxmax")):
        for tid, rows in b[bad].groupby("transformer_id", sort=True):
            w = rows.loc[getattr(rows[col], worst)()]
            out.append(f"grid of {tid}: bus {w.bus_id} at {w.slot_start} has {w.vm_pu:.4f} pu, {kind} the band "
                       f"{limits['voltage_min_pu']:g}..{limits['voltage_max_pu']:g} pu ({len(rows)} bus-slots)")
    out += check_phase_voltages(b, limits)
    ln = plan.grid_lines
    hot = ln[ln.loading_pct > limits["line_loading_max_pct"] + 1e-4]
    for tid, rows in hot.groupby("transformer_id", sort=True):
        w = rows.loc[rows.loading_pct.idxmax()]
        out.append(f"grid of {tid}: line {w.line_id} at {w.slot_start} is loaded {w.loading_pct:.1f} %, above "
                   f"{limits['line_loading_max_pct']:g} % ({len(rows)} line-slots)")
    return out


def check_phase_voltages(b: pd.DataFrame, limits: dict) -> list[str]:
    """The three-phase flow's phase-to-neutral voltages (``vm_a_pu..vm_c_pu``, where it ran) within the
    phase band ``phase_voltage_min_pu..phase_voltage_max_pu``: one message per transformer and kind."""
    cols = [c for c in ("vm_a_pu", "vm_b_pu", "vm_c_pu") if c in b.columns]
    if len(cols) < 3 or "phase_voltage_min_pu" not in limits:
        return []
    lo, hi = limits["phase_voltage_min_pu"], limits["phase_voltage_max_pu"]
    vm = b[cols].to_numpy(float)
    worst_low, worst_high = np.nanmin(vm, axis=1, initial=np.inf), np.nanmax(vm, axis=1, initial=-np.inf)
    out = []
    for kind, bad, val, pick in (("below", worst_low < lo - 1e-6, worst_low, np.argmin),
                                 ("above", worst_high > hi + 1e-6, worst_high, np.argmax)):
        for tid in sorted(set(b.transformer_id[bad])):
            rows = np.flatnonzero(bad & (b.transformer_id == tid).to_numpy())
            i = rows[pick(val[rows])]
            phase = "abc"[int(pick(vm[i]))]
            out.append(f"grid of {tid}: bus {b.bus_id.iat[i]} phase {phase} at {b.slot_start.iat[i]} has "
                       f"{val[i]:.4f} pu, {kind} the phase band {lo:g}..{hi:g} pu ({len(rows)} bus-slots)")
    return out


def _check_events(p: Problem, load: pd.DataFrame, events: pd.DataFrame) -> list[str]:
    """DR rows add up: scope load from transformer_load, delivered = sign x (baseline - load), the load of
    valley filling with its PV uncurtailed (transformer_load pv_curtailed_kw), shortfall."""
    if p.n_events == 0:
        return []
    net = load.net_load_kw.to_numpy(float).reshape(p.n_transformers, p.n_slots)
    curtailed = load.pv_curtailed_kw.to_numpy(float).reshape(p.n_transformers, p.n_slots)
    out = []
    for k in range(p.n_events):
        rows = events[events.event_id == p.event_ids[k]]
        t = np.flatnonzero(p.event_slots[k])
        scope = net[p.event_scope[k]].sum(axis=0)[t]
        sign = p.event_signs()[k]
        measured = scope - curtailed[p.event_scope[k]].sum(axis=0)[t] if sign < 0 else scope  # PV uncurtailed
        bad = np.abs(rows.net_load_kw.to_numpy(float) - scope) > TOL_KW
        bad |= np.abs(rows.delivered_kw.to_numpy(float) - sign * (rows.baseline_kw.to_numpy(float) - measured)) > TOL_KW
        bad |= rows.shortfall_kw.to_numpy(float) + TOL_KW < p.event_reduction_kw[k] - rows.delivered_kw.to_numpy(float)
        if len(rows) != len(t) or bad.any():
            out.append(f"dr_events.csv rows of {p.event_ids[k]} do not add up with transformer_load.csv")
    return out


def slot_positions(slots: pd.DatetimeIndex, times: pd.DatetimeIndex) -> np.ndarray:
    """Position of each time in ``slots`` (-1 where it is not a slot start): arithmetic on the
    regular slot grid (a hash lookup per row costs 10x more at 100,000 EVs), else a lookup."""
    # in the times' own unit when the slots share it (the planner's seconds): no conversion of every row
    unit = slots.unit if times.unit == slots.unit else "ns"
    s = slots.as_unit(unit).asi8
    step = s[1] - s[0] if len(s) > 1 else 0
    if step <= 0 or not np.all(np.diff(s) == step) or times.tz is None or slots.tz is None:
        return slots.get_indexer(times)
    v = times.as_unit(unit).asi8
    q = (v - s[0]) // step
    ok = (s[0] + q * step == v) & (q >= 0) & (q < len(s)) & ~np.asarray(times.isna())
    return np.where(ok, q, -1)


def _ev_matrix(p: Problem, schedule: pd.DataFrame, column: str = "power_kw") -> np.ndarray:
    codes, names = factorize_runs(schedule.ev_id.to_numpy())  # look each EV up once, not once per row
    e = np.where(codes >= 0, pd.Index(p.ev_ids).get_indexer(names)[codes], -1)
    t = slot_positions(p.slots, pd.DatetimeIndex(schedule.slot_start))
    if (e < 0).any() or (t < 0).any():
        raise ArgumentError("ev_schedule names an EV or slot the problem does not have")
    out = np.zeros((p.n_evs, p.n_slots))
    if column not in schedule.columns:
        raise ArgumentError(f"ev_schedule has no {column} column")
    out[e, t] = np.nan_to_num(schedule[column].to_numpy(float))
    return out


def _first(mask: np.ndarray, label, what: str) -> list[str]:
    if not mask.any():        # the usual case, and 5x faster than listing no cases
        return []
    idx = np.argwhere(mask)
    if not len(idx):
        return []
    i = tuple(idx[0])
    return [f"{what}: {len(idx)} case(s), first {label(*i)}"]


def _check_evs(p: Problem, ev_kw: np.ndarray, evs: pd.DataFrame, dis_kw: np.ndarray) -> list[str]:
    name = lambda e, t=None: f"{p.ev_ids[e]}" + ("" if t is None else f" at {p.slots[t].isoformat()}")  # noqa: E731
    out = _first(ev_kw < -TOL_KW, name, "EV power below zero")
    out += _first(ev_kw > p.ev_max_power_kw[:, None] + TOL_KW, name, "EV power above max_power_kw")
    out += _first((ev_kw > TOL_KW) & ~p.ev_available, name, "EV charging outside its whole-slot stay")
    semi = (ev_kw > TOL_KW) & (ev_kw < p.ev_min_power_kw[:, None] - TOL_KW)
    out += _first(semi, name, "EV power between 0 and min_power_kw")
    delivered = (ev_kw - p.v2g_round_trip * dis_kw).sum(axis=1) * p.dt_h
    table = evs.set_index("ev_id").reindex(p.ev_ids)
    out += _first(np.abs(delivered - table.delivered_kwh.to_numpy()) > TOL_KWH, name,
                  "evs.csv delivered_kwh differs from the schedule")
    out += _first(delivered > p.ev_energy_kwh + TOL_KWH, name, "EV gets more than requested")
    gap = p.ev_energy_kwh - delivered - table.unmet_kwh.to_numpy()
    out += _first(np.abs(gap) > TOL_KWH, name, "EV short of energy without reporting it as unmet_kwh")
    return out


def _check_v2g(p: Problem, ch: np.ndarray, dis: np.ndarray, schedule: pd.DataFrame) -> list[str]:
    """V2G EVs: discharge within limits and stay, never with charging, battery within 0..battery_kwh."""
    name = lambda e, t=None: f"{p.ev_ids[e]}" + ("" if t is None else f" at {p.slots[t].isoformat()}")  # noqa: E731
    v2g = p.ev_is_v2g[:, None]
    out = _first((dis > TOL_KW) & ~v2g, name, "discharge by an EV that is not V2G")
    out += _first((dis < -TOL_KW) | (dis > p.ev_max_discharge_kw[:, None] + TOL_KW), name,
                  "discharge_kw out of 0..max_discharge_kw")
    out += _first((dis > TOL_KW) & ~p.ev_available, name, "EV discharging outside its whole-slot stay")
    out += _first((ch > TOL_KW) & (dis > TOL_KW), name, "EV charges and discharges in one slot")
    stored = p.ev_soc_arrival_kwh[:, None] + np.cumsum(
        (p.v2g_charge_efficiency * ch - dis / p.v2g_discharge_efficiency) * p.dt_h, axis=1)
    out += _first(v2g & ((stored < -TOL_KWH) | (stored > p.ev_battery_kwh[:, None] + TOL_KWH)), name,
                  "EV battery energy outside 0..battery_kwh")
    soc = _ev_matrix(p, schedule, "soc_kwh")
    out += _first(v2g & p.ev_available & (np.abs(soc - stored) > TOL_KWH), name,
                  "soc_kwh does not follow charge/discharge with efficiencies")
    return out


def _check_transformers(p: Problem, ev_kw: np.ndarray, load: pd.DataFrame) -> list[str]:
    N, T = p.n_transformers, p.n_slots
    grid = lambda col: load[col].to_numpy(float).reshape(N, T)  # noqa: E731  (rows are transformer-major)
    if list(load.transformer_id.iloc[::T]) != list(p.transformer_ids):
        return ["transformer_load.csv is not ordered by transformer then slot"]
    name = lambda n, t: f"{p.transformer_ids[n]} at {p.slots[t].isoformat()}"  # noqa: E731
    ev_at = sum_rows_by(p.ev_transformer, ev_kw, N)
    net = grid("net_load_kw")
    out = _first(np.abs(grid("ev_kw") - ev_at) > TOL_KW, name, "ev_kw differs from the EV schedule")
    out += _first(np.abs(grid("base_load_kw") - p.base_load_kw) > TOL_KW, name, "base_load_kw differs from input")
    sums = grid("base_load_kw") + grid("ev_kw") + grid("battery_kw") - grid("pv_kw")
    if p.sites is not None:     # swap charging and fast-charging caps (plan.sites_validity)
        sums = sums + (grid("site_kw") if "site_kw" in load.columns else np.nan)
    out += _first(np.abs(net - sums) > TOL_KW, name, "net_load_kw != base + ev + battery - pv + site")
    pv_max = p.pv_at_transformer_kw()
    out += _first((grid("pv_kw") < -TOL_KW) | (grid("pv_kw") > pv_max + TOL_KW), name, "pv_kw outside 0..forecast")
    over = grid("overload_kw")
    out += _first(net > p.limit_kw[:, None] + over + TOL_KW, name, "net load above limit_kw without reported overload")
    out += _first(-net > p.limit_kw[:, None] + over + TOL_KW, name, "reverse flow above limit_kw without reported overload")
    out += _first(np.abs(grid("limit_kw") - p.limit_kw[:, None]) > TOL_KW, name, "limit_kw differs from input")
    return out


def _check_batteries(p: Problem, bat: pd.DataFrame) -> list[str]:
    B, T = p.n_batteries, p.n_slots
    if B == 0:
        return []
    ch, dis, soc = (bat[c].to_numpy(float).reshape(B, T) for c in ("charge_kw", "discharge_kw", "soc_kwh"))
    name = lambda b, t: f"battery of {p.station_ids[p.battery_station[b]]} at {p.slots[t].isoformat()}"  # noqa: E731
    out = _first((ch > TOL_KW) & (dis > TOL_KW), name, "battery charges and discharges in one slot")
    out += _first((ch < -TOL_KW) | (ch > p.battery_max_charge_kw[:, None] + TOL_KW), name, "charge_kw out of range")
    out += _first((dis < -TOL_KW) | (dis > p.battery_max_discharge_kw[:, None] + TOL_KW), name,
                  "discharge_kw out of range")
    out += _first((soc < p.battery_soc_min_kwh[:, None] - TOL_KWH) | (soc > p.battery_soc_max_kwh[:, None] + TOL_KWH),
                  name, "soc_kwh outside soc_min..soc_max")
    previous = np.concatenate([p.battery_soc_initial_kwh[:, None], soc[:, :-1]], axis=1)
    expected = previous + (p.battery_charge_efficiency[:, None] * ch - dis / p.battery_discharge_efficiency[:, None]) * p.dt_h
    out += _first(np.abs(soc - expected) > TOL_KWH, name, "soc_kwh does not follow charge/discharge with efficiencies")
    out += _first((soc[:, -1] < p.battery_soc_final_min_kwh - TOL_KWH)[:, None], lambda b, _: name(b, T - 1),
                  "final soc_kwh below soc_final_min")
    return out


def _check_discharge_export(p: Problem, ev_dis_kw: np.ndarray, load: pd.DataFrame, bat: pd.DataFrame) -> list[str]:
    """No battery or V2G EV discharges while its transformer exports with its PV uncurtailed
    (``battery_export``/``ev_export`` of models/day_ahead.md: export earns nothing)."""
    N, T = p.n_transformers, p.n_slots
    if p.n_batteries == 0 and not p.has_v2g:
        return []
    grid = lambda col: load[col].to_numpy(float).reshape(N, T)  # noqa: E731
    uncurtailed = grid("net_load_kw") - grid("pv_curtailed_kw")
    discharge = sum_rows_by(p.ev_transformer, ev_dis_kw, N) if p.has_v2g else np.zeros((N, T))
    if p.n_batteries:
        np.add.at(discharge, p.station_transformer[p.battery_station],
                  bat.discharge_kw.to_numpy(float).reshape(p.n_batteries, T))
    name = lambda n, t: f"{p.transformer_ids[n]} at {p.slots[t].isoformat()}"  # noqa: E731
    return _first((discharge > TOL_KW) & (uncurtailed < -TOL_KW), name,
                  "battery or V2G discharge while the transformer exports (net load - curtailed PV < 0)")


def _check_feeders(p: Problem, load: pd.DataFrame, feeders: pd.DataFrame) -> list[str]:
    if p.n_feeders == 0:
        return []
    net = load.net_load_kw.to_numpy(float).reshape(p.n_transformers, p.n_slots)
    total = np.zeros((p.n_feeders, p.n_slots))
    on = p.transformer_feeder >= 0
    np.add.at(total, p.transformer_feeder[on], net[on])
    over = feeders.overload_kw.to_numpy(float).reshape(p.n_feeders, p.n_slots)
    name = lambda f, t: f"feeder {p.feeder_ids[f]} at {p.slots[t].isoformat()}"  # noqa: E731
    return _first(total > p.feeder_capacity_kw[:, None] + over + TOL_KW, name,
                  "feeder load above capacity_kw without reported overload")
