"""Solution -> Plan: tidy pandas tables with ids and times, KPIs, and warnings.

Sign convention: power drawn from the grid is positive; ``battery_kw`` is positive when
charging; ``pv_kw`` is positive when producing (after curtailment);
``net_load_kw = base_load_kw + ev_kw + battery_kw - pv_kw``; ``ev_kw`` is charging minus V2G
discharge. With V2G EVs, an EV's ``delivered_kwh`` counts each kWh it discharged as
``1 / (eta_c * eta_d)`` kWh taken back (what recharging it costs at the charger).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vpp_sched.problem.build import epoch_seconds, sum_rows_by, uncontrolled_reference  # noqa: F401 (re-exported)
from vpp_sched.problem.arrays import Problem
from vpp_sched.plan.sites_output import site_kpis, site_tables, site_warnings
from vpp_sched.problem.demand import demand_charge_cny, demand_charge_records
from vpp_sched.scenario.stay import slot_runs, touched_slot_run
from vpp_sched.solve.solution import Solution, relative_gap

TOL_KW = 1e-4   # below this a difference is solver round-off [kW]
TOL_KWH = 1e-2  # below this (10 Wh) an energy difference is solver round-off [kWh]


@dataclass
class Plan:
    """A day-ahead plan as tables (the contract of DESIGN.md section 4) plus KPIs and warnings."""

    ev_schedule: pd.DataFrame
    transformer_load: pd.DataFrame
    evs: pd.DataFrame
    batteries: pd.DataFrame
    feeders: pd.DataFrame
    dr_events: pd.DataFrame
    kpis: dict
    warnings: list[str] = field(default_factory=list)
    events: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per DR event (event_summary)
    sites: dict = field(default_factory=dict)   # swap_stations / fast_charging tables (plan.sites_output)
    grid_buses: pd.DataFrame = field(default_factory=pd.DataFrame)  # LV grids' bus voltages (plan/grid_output.py)
    grid_lines: pd.DataFrame = field(default_factory=pd.DataFrame)  # LV grids' line loading
    grid_phases: pd.DataFrame = field(default_factory=pd.DataFrame)  # per-phase load and unbalance per slot


def grid_kpis(p: Problem, net_load_kw: np.ndarray, unmet_kwh: np.ndarray) -> dict:
    """KPIs of a set of transformer net loads [N, T] (used for the plan and the references)."""
    dt = p.dt_h
    total = net_load_kw.sum(axis=0) if p.n_transformers else np.zeros(p.n_slots)
    # A transformer's limit holds both ways: reverse flow (PV export) beyond it is an overload
    # too, as in the model's transformer_reverse_limit rows and the validity check.
    over = np.maximum(np.abs(net_load_kw) - p.limit_kw[:, None], 0.0)
    loading = np.abs(net_load_kw) / p.rating_kw[:, None]
    return {
        "grid_energy_cost_cny": float((p.price_cny_per_kwh * np.maximum(net_load_kw, 0.0)).sum() * dt),
        "grid_energy_kwh": float(np.maximum(net_load_kw, 0.0).sum() * dt),
        "peak_net_load_kw": float(total.max()) if total.size else 0.0,
        "max_transformer_load_kw": float(net_load_kw.max()) if net_load_kw.size else 0.0,
        "max_loading_pu": float(loading.max()) if loading.size else 0.0,
        "overloaded_transformers": int((over > TOL_KW).any(axis=1).sum()),
        "overload_energy_kwh": float(over.sum() * dt),
        "unmet_energy_kwh": float(unmet_kwh.sum()),
        "evs_short": int((unmet_kwh > TOL_KWH).sum()),
    }


def max_ramp_kw(ev_kw: np.ndarray) -> float:
    """Largest slot-to-slot rise of the portfolio's EV power, from per-EV or per-transformer rows
    ``ev_kw`` [., T] (0 when it never rises) [kW]: the step a 10 kV feeder sees when a tariff
    period starts and every charger switches on at once."""
    total = np.asarray(ev_kw, dtype=float).sum(axis=0)
    return float(max(np.diff(total).max(), 0.0)) if total.size > 1 else 0.0


def make_plan(p: Problem, sol: Solution, evs: pd.DataFrame | None = None) -> Plan:
    """Tables, KPIs and warnings of a solved plan. ``evs`` (scenario table) adds arrival/departure."""
    slots = p.slots
    ev_at = sum_rows_by(p.ev_transformer, ev_net_kw(sol), p.n_transformers)
    pv_kw = (p.pv_kw if p.pv_kw is not None else np.zeros((p.n_stations, p.n_slots))) - sol.pv_curtail_kw
    pv_at = np.zeros_like(ev_at)
    np.add.at(pv_at, p.station_transformer, pv_kw)
    curtail_at = np.zeros_like(ev_at)
    np.add.at(curtail_at, p.station_transformer, sol.pv_curtail_kw)
    bat_at = np.zeros_like(ev_at)
    np.add.at(bat_at, p.station_transformer[p.battery_station],
              sol.battery_charge_kw - sol.battery_discharge_kw)
    net = p.base_load_kw + ev_at + bat_at - pv_at
    site_at = None if p.sites is None else p.sites.site_at_transformer_kw(sol.swap_charge_kw, sol.fast_cap_kw,
                                                                          p.n_transformers)
    if site_at is not None:     # swap stations' charging and fast-charging caps (models/swap_stations.md)
        net = net + site_at
    transformer_load = _by_slot(p.transformer_ids, "transformer_id", slots, {
        "base_load_kw": p.base_load_kw, "ev_kw": ev_at, "pv_kw": pv_at, "battery_kw": bat_at,
        "net_load_kw": net, "limit_kw": np.repeat(p.limit_kw[:, None], p.n_slots, axis=1),
        "overload_kw": sol.overload_kw, "pv_curtailed_kw": curtail_at,
        "loading_pu": net / p.rating_kw[:, None], **({} if site_at is None else {"site_kw": site_at})})
    delivered = ev_delivered_kwh(p, sol)
    unmet = np.maximum(p.ev_energy_kwh - delivered, 0.0)
    unmet[unmet < TOL_KWH] = 0.0
    ev_table = pd.DataFrame({"ev_id": p.ev_ids, "transformer_id": p.transformer_ids[p.ev_transformer],
                             "requested_kwh": p.ev_energy_kwh, "delivered_kwh": delivered,
                             "unmet_kwh": unmet, "reason": _unmet_reasons(p, unmet)})
    if p.has_v2g:
        ev_table = ev_table.assign(**_v2g_columns(p, sol))
    v2g = v2g_kpis(p, ev_table) if p.has_v2g else {}
    if evs is not None:
        ev_table["arrival"] = _iso_text(evs.arrival)
        ev_table["departure"] = _iso_text(evs.departure)
    ev_table["min_power_kw"] = p.ev_min_power_kw  # the OCPP export keeps every non-zero limit at or above it
    batteries = _by_slot(p.station_ids[p.battery_station], "station_id", slots, {
        "charge_kw": sol.battery_charge_kw, "discharge_kw": sol.battery_discharge_kw,
        "soc_kwh": sol.battery_soc_kwh})
    feeders = _feeder_table(p, net, sol)
    events = _event_table(p, net, sol)
    kpis = _kpis(p, sol, net, unmet, events, v2g, ev_at)
    sites = site_tables(p, sol)
    kpis.update(site_kpis(p, sites))
    return Plan(ev_schedule=_ev_schedule(p, sol, evs), transformer_load=transformer_load, evs=ev_table,
                batteries=batteries, feeders=feeders, dr_events=events, kpis=kpis,
                events=event_summary(p, events), sites=sites,
                warnings=_warnings(p, sol, kpis["mip_gap"], ev_table, transformer_load, events) + site_warnings(kpis))


def ev_net_kw(sol: Solution) -> np.ndarray:
    """[E, T] EV power drawn from the grid: charging minus V2G discharge [kW]."""
    return sol.ev_power_kw if sol.ev_discharge_kw is None else sol.ev_power_kw - sol.ev_discharge_kw


def ev_delivered_kwh(p: Problem, sol: Solution) -> np.ndarray:
    """[E] energy delivered towards each EV's request: charged, less discharged x 1/(eta_c eta_d) [kWh]."""
    delivered = sol.ev_power_kw.sum(axis=1) * p.dt_h
    if sol.ev_discharge_kw is not None:
        delivered = delivered - p.v2g_round_trip * sol.ev_discharge_kw.sum(axis=1) * p.dt_h
    return delivered


def _v2g_columns(p: Problem, sol: Solution) -> dict:
    """Per EV: V2G flag, energy charged and discharged at the charger, battery energy at departure."""
    v2g = p.ev_is_v2g
    last = np.where(p.ev_available.any(axis=1), p.n_slots - 1 - np.argmax(p.ev_available[:, ::-1], axis=1), 0)
    soc_end = np.where(v2g & p.ev_available.any(axis=1), sol.ev_soc_kwh[np.arange(p.n_evs), last],
                       np.where(v2g, p.ev_soc_arrival_kwh, np.nan))
    return {"v2g": v2g, "charged_kwh": sol.ev_power_kw.sum(axis=1) * p.dt_h,
            "discharged_kwh": sol.ev_discharge_kw.sum(axis=1) * p.dt_h, "soc_departure_kwh": soc_end}


def v2g_kpis(p: Problem, evs: pd.DataFrame) -> dict:
    """Fleet V2G totals from the plan's EV table (with the :func:`_v2g_columns`): energy discharged to
    the grid, round-trip losses, battery wear paid [kWh, CNY]."""
    v2g = p.ev_is_v2g
    charged = float(evs.charged_kwh.to_numpy()[v2g].sum())
    discharged = float(evs.discharged_kwh.sum())
    stored = float((evs.soc_departure_kwh.to_numpy()[v2g] - p.ev_soc_arrival_kwh[v2g]).sum())
    return {"v2g_evs": int(v2g.sum()), "v2g_discharged_kwh": discharged,
            "v2g_losses_kwh": charged - discharged - stored,
            "v2g_degradation_cny": p.v2g_degradation_cny_per_kwh * discharged}


def _iso_text(times: pd.Series) -> np.ndarray:
    """ISO 8601 text of each time, formatted once per distinct time (``NaT`` for a missing one)."""
    codes, uniques = pd.factorize(times)
    return np.array([t.isoformat() for t in uniques] + ["NaT"], dtype=object)[codes]


def _by_slot(ids: np.ndarray, id_name: str, slots: pd.DatetimeIndex, columns: dict) -> pd.DataFrame:
    """Long table ``id, slot_start, columns...`` from [n, T] arrays."""
    n = len(ids)
    data = {id_name: np.repeat(np.asarray(ids, dtype=object), len(slots)),
            "slot_start": slots[np.tile(np.arange(len(slots)), n)] if n else pd.DatetimeIndex([], tz=slots.tz)}
    for name, arr in columns.items():
        data[name] = np.asarray(arr, dtype=float).reshape(-1)
    return pd.DataFrame(data)


def _ev_schedule(p: Problem, sol: Solution, evs: pd.DataFrame | None) -> pd.DataFrame:
    """Every EV, every slot of its stay (also slots it is plugged in for only part of: power 0 there)."""
    if evs is not None:   # slots overlapping [arrival, departure), found by bisection (no E x T mask)
        e, t = slot_runs(*touched_slot_run(p.slots.as_unit("s").asi8, int(round(p.dt_h * 3600)),
                                           epoch_seconds(evs.arrival), epoch_seconds(evs.departure)))
    else:
        e, t = np.nonzero(p.ev_available)
    # text converted once per EV, not once per row; an object Series, not a NumpyExtensionArray (a frame
    # made of one scans it for missing values: 0.2 s of CPU at 100k)
    ev_ids = pd.Series(np.asarray(p.ev_ids, dtype=object).take(e), dtype=object, copy=False)
    # copy=False: the columns are fresh arrays already (a copy of 4.3 M rows at 100k: 0.15 s)
    table = pd.DataFrame({"ev_id": ev_ids, "slot_start": p.slots[t], "power_kw": sol.ev_power_kw[e, t],
                          "plugged_in_whole_slot": p.ev_available[e, t]}, copy=False)
    if sol.ev_discharge_kw is not None:   # V2G: discharge to the grid, battery energy at the slot's end
        table["discharge_kw"] = sol.ev_discharge_kw[e, t]
        table["soc_kwh"] = np.where(p.ev_is_v2g[e] & p.ev_available[e, t], sol.ev_soc_kwh[e, t], np.nan)
    return table


def _unmet_reasons(p: Problem, unmet: np.ndarray) -> list[str]:
    """Why each EV falls short: its stay is too short, or its transformer is full."""
    reachable = p.ev_available.sum(axis=1) * p.ev_max_power_kw * p.dt_h
    reasons = []
    for e in range(p.n_evs):
        if unmet[e] <= TOL_KWH:
            reasons.append("")
        elif p.ev_available[e].sum() == 0:
            reasons.append("no whole slot of its stay lies in the horizon")
        elif reachable[e] < p.ev_energy_kwh[e] - TOL_KWH:
            reasons.append(f"stay too short: at most {reachable[e]:.2f} kWh at max_power_kw in its whole slots")
        elif p.ev_min_power_kw[e] * p.dt_h > p.ev_energy_kwh[e] + TOL_KWH:
            reasons.append("energy below one slot at min_power_kw")
        else:
            reasons.append(f"transformer {p.transformer_ids[p.ev_transformer[e]]} (or its feeder/DR cap) "
                           "is full while it is plugged in")
    return reasons


def _feeder_table(p: Problem, net: np.ndarray, sol: Solution) -> pd.DataFrame:
    load = np.zeros((p.n_feeders, p.n_slots))
    on = p.transformer_feeder >= 0
    np.add.at(load, p.transformer_feeder[on], net[on])
    return _by_slot(p.feeder_ids, "feeder_id", p.slots, {
        "net_load_kw": load, "capacity_kw": np.repeat(p.feeder_capacity_kw[:, None], p.n_slots, axis=1),
        "overload_kw": sol.feeder_overload_kw})


def _event_table(p: Problem, net: np.ndarray, sol: Solution) -> pd.DataFrame:
    """Per event and slot: baseline, target, the bound it sets, planned load, delivered response, shortfall.

    Delivered response is ``baseline - load`` for peak shaving and ``load - baseline`` for valley
    filling, with the load of valley filling measured with the scope's PV uncurtailed (curtailed PV
    is not response: models/dr_events.md); ``net_load_kw`` is the planned (metered) load.
    """
    curtail_at = np.zeros_like(net)
    np.add.at(curtail_at, p.station_transformer, sol.pv_curtail_kw)
    cols = ["event_id", "kind", "slot_start", "baseline_kw", "target_kw", "cap_kw", "net_load_kw",
            "delivered_kw", "shortfall_kw"]
    parts = []
    for k in range(p.n_events):
        t = np.flatnonzero(p.event_slots[k])
        sign, target = p.event_signs()[k], p.event_reduction_kw[k]
        base = p.event_baseline_kw[k, t]
        load = net[p.event_scope[k]].sum(axis=0)[t]
        measured = load - curtail_at[p.event_scope[k]].sum(axis=0)[t] if sign < 0 else load
        delivered = sign * (base - measured)
        parts.append(pd.DataFrame({
            "event_id": p.event_ids[k], "kind": "peak_shaving" if sign > 0 else "valley_filling",
            "slot_start": p.slots[t], "baseline_kw": base, "target_kw": target,
            "cap_kw": base - sign * target, "net_load_kw": load, "delivered_kw": delivered,
            "shortfall_kw": np.maximum(target - delivered, 0.0)}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)


def event_summary(p: Problem, events: pd.DataFrame) -> pd.DataFrame:
    """One row per event: mean delivered response, energy, compliance, revenue and penalty.

    Revenue is the compensation price on the delivered response up to the target; the penalty is
    the shortfall price on what is missing.
    """
    rows = []
    for k in range(p.n_events):
        e = events[events.event_id == p.event_ids[k]]
        target = p.event_reduction_kw[k]
        paid = np.minimum(e.delivered_kw.clip(lower=0.0), target)
        rows.append({"event_id": p.event_ids[k], "kind": e.kind.iat[0] if len(e) else "",
                     "target_kw": target, "delivered_kw_mean": float(e.delivered_kw.mean()) if len(e) else 0.0,
                     "delivered_kwh": float(e.delivered_kw.sum() * p.dt_h),
                     "compliance_pct": float(100 * e.delivered_kw.mean() / target) if target > 0 and len(e) else 100.0,
                     "slots_met": int((e.shortfall_kw <= TOL_KW).sum()), "slots": len(e),
                     "revenue_cny": float(p.event_price_cny_per_kwh[k] * paid.sum() * p.dt_h),
                     "penalty_cny": float(p.event_penalty_cny_per_kwh[k] * e.shortfall_kw.sum() * p.dt_h)})
    return pd.DataFrame(rows)


def dr_compensation_cny(p: Problem) -> float:
    """The full DR compensation ``sum_k price_k * dt * red_k * |T_k|``, a constant the solver's
    objective leaves out (it prices only the shortfall) [CNY]."""
    return p.dr_compensation_cny()


def objective_kpis(sol: Solution, compensation_cny: float) -> dict:
    """``objective_cny``, ``bound_cny`` and ``mip_gap`` of the reported objective.

    The gap is ``|objective_cny - bound_cny| / max(|objective_cny|, 1e-9)`` of the printed
    numbers (the DR compensation subtracted from both), not the solver's: the solver measures
    its own objective, larger by the compensation, so its gap reads smaller (4.91 % where the
    printed numbers give 9.21 %). NaN without a finite bound.
    """
    objective, bound = sol.objective_cny - compensation_cny, sol.bound_cny - compensation_cny
    return {"objective_cny": objective, "bound_cny": bound, "mip_gap": relative_gap(objective, bound)}


def _kpis(p: Problem, sol: Solution, net: np.ndarray, unmet: np.ndarray, events: pd.DataFrame,
          v2g: dict, ev_at: np.ndarray) -> dict:
    compensation = dr_compensation_cny(p)
    unc_ev, unc_net, unc_unmet = uncontrolled_reference(p)
    kpis = {"status": sol.status.value, **objective_kpis(sol, compensation)}
    kpis.update(grid_kpis(p, net, unmet))
    kpis["max_ramp_kw"] = max_ramp_kw(ev_at)
    kpis["pv_curtailed_kwh"] = float(sol.pv_curtail_kw.sum() * p.dt_h)
    kpis["dr_shortfall_kwh"] = float(events.shortfall_kw.sum() * p.dt_h) if len(events) else 0.0
    kpis.update(v2g)
    kpis.update(_demand_kpis(p, net))
    if p.n_events:
        kpis["dr_events"] = event_summary(p, events).to_dict(orient="records")
    kpis.update({"n_evs": p.n_evs, "n_transformers": p.n_transformers, "n_slots": p.n_slots,
                 "slot_minutes": int(round(p.dt_h * 60)),
                 "build_seconds": sol.build_seconds, "solve_seconds": sol.solve_seconds, "solver": sol.solver})
    kpis["uncontrolled"] = dict(grid_kpis(p, unc_net, unc_unmet), max_ramp_kw=max_ramp_kw(unc_ev),
                                **{k: v for k, v in _demand_kpis(p, unc_net).items() if k == "demand_charge_cny"})
    return kpis


def _demand_kpis(p: Problem, net: np.ndarray) -> dict:
    """``demand_charge_cny`` and the ``demand_charges`` records, with a demand charge in the tariff only."""
    records = demand_charge_records(p, net)
    if not records:
        return {}
    return {"demand_charge_cny": demand_charge_cny(p, net), "demand_charges": records}


def _warnings(p: Problem, sol: Solution, gap: float, evs: pd.DataFrame, load: pd.DataFrame,
              events: pd.DataFrame) -> list[str]:
    """``gap`` is the reported ``mip_gap`` (of ``objective_cny``), so the warning matches kpis.json."""
    out = []
    if sol.status.value == "time_limit":
        out.append(f"time limit reached: the plan is the best found, {gap:.2%} from the bound; the clock cut "
                   "the solve, so another run may give another plan (raise solver.time_limit_s or --time-limit)")
    elif sol.status.value == "feasible":
        out.append(f"the plan is {gap:.2%} from the bound, more than the requested gap")
    elif sol.status.value == "optimal" and gap > _requested_gap(sol) + 1e-12:
        # The solver stops at mip_rel_gap of its own objective, which leaves the DR compensation out.
        out.append(f"the plan is {gap:.2%} from the bound of objective_cny, more than the requested "
                   f"{_requested_gap(sol):.2%}: the solver measures its gap before the DR compensation")
    short = evs[evs.unmet_kwh > TOL_KWH]
    if len(short):
        out.append(f"{len(short)} EV(s) short of {kwh_text(short.unmet_kwh.sum())} kWh in total "
                   f"(see evs.csv, e.g. {short.ev_id.iat[0]}: {short.reason.iat[0]})")
    over = load[load.overload_kw > TOL_KW]
    if len(over):
        out.append(f"{over.transformer_id.nunique()} transformer(s) above their limit in {len(over)} slot(s) "
                   "(base load alone exceeds the limit; see overload_kw in transformer_load.csv)")
    if p.n_feeders and (sol.feeder_overload_kw > TOL_KW).any():
        out.append("feeder capacity exceeded (see overload_kw in feeders.csv)")
    if len(events) and (events.shortfall_kw > TOL_KW).any():
        out.append(f"DR events short of their target by {events.shortfall_kw.sum() * p.dt_h:.1f} kWh "
                   "(see dr_events.csv)")
    return out


def _requested_gap(sol: Solution) -> float:
    """The ``mip_rel_gap`` the solve was given, as recorded in ``sol.solver`` (inf when not recorded)."""
    gap = (sol.solver.get("options") or {}).get("mip_rel_gap") if isinstance(sol.solver, dict) else None
    return float(gap) if isinstance(gap, (int, float)) else float("inf")


def kwh_text(value: float) -> str:
    """Energy for a message: one decimal, more when that would read 0.0 (shortfalls of a few Wh count)."""
    return f"{value:.1f}" if abs(value) >= 0.05 or value == 0 else f"{value:.3f}"
