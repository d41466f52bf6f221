"""Scenario -> Problem: forecasts and tables turned into the solver-neutral arrays."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from vpp_sched.forecast import baselines
from vpp_sched.errors import ArgumentError, InputError

from vpp_sched.problem.arrays import Problem
from vpp_sched.problem.phases import scenario_phases
from vpp_sched.problem.sites import build_sites, uncontrolled_site_kw
from vpp_sched.problem.demand import demand_fields
from vpp_sched.scenario.load import Scenario, event_slot_mask
from vpp_sched.scenario.stay import (slot_runs, sum_rows_by, uncontrolled_ev_power_kw,  # noqa: F401 (re-exported)
                                     uncontrolled_reference as stay_reference, whole_slots)
from vpp_sched.scenario.stay import uncontrolled_row_kw


def ev_availability(slots: pd.DatetimeIndex, dt_h: float, arrival: pd.Series,
                    departure: pd.Series) -> np.ndarray:
    """[E, T] bool: EV plugged in for the whole slot (slot start >= arrival, slot end <= departure),
    the rule of :func:`vpp_sched.scenario.stay.whole_slot_run` on epoch seconds."""
    return whole_slots(slots.as_unit("s").asi8, int(round(dt_h * 3600)), epoch_seconds(arrival),
                       epoch_seconds(departure))


def epoch_seconds(times: pd.Series) -> np.ndarray:
    """[E] tz-aware times as integer seconds since the epoch."""
    return times.dt.as_unit("s").astype("int64").to_numpy()


def pv_forecast_kw(scenario: Scenario) -> np.ndarray:
    """[S, T] PV AC forecast per station (zero without PV) [kW]."""
    stations = scenario.config.pv_battery_stations()
    out = np.zeros((len(stations), len(scenario.slots)))
    for i, st in enumerate(stations):
        if st.pv is None:
            continue
        from vpp_sched.forecast.pv import pv_ac_power_kw  # pvlib takes ~1 s to import: only when PV is forecast

        cloud = None if st.pv.cloud_factor is None else np.asarray(st.pv.cloud_factor, dtype=float)
        out[i] = pv_ac_power_kw(scenario.config.site, st.pv, scenario.slots, scenario.dt_h,
                                weather=scenario.weather.get(st.station_id), cloud_factor=cloud).to_numpy()
    return out


def build_problem(scenario: Scenario, pv_kw: np.ndarray | None = None, plan_net_load_kw: np.ndarray | None = None,
                  with_events: bool = True) -> Problem:
    """Arrays of the day-ahead problem. ``pv_kw`` [S, T] overrides the pvlib forecast;
    ``plan_net_load_kw`` [N, T] is the plan without events, for ``baseline: plan``."""
    cfg, slots, dt_h = scenario.config, scenario.slots, scenario.dt_h
    trafos, evs = scenario.transformers, scenario.evs
    t_ids = trafos.transformer_id.to_numpy(dtype=object)
    t_index = {tid: i for i, tid in enumerate(t_ids)}
    f_ids = scenario.feeders.feeder_id.to_numpy(dtype=object)
    f_index = {fid: i for i, fid in enumerate(f_ids)}
    available = ev_availability(slots, dt_h, evs.arrival, evs.departure)
    stations = cfg.pv_battery_stations()   # the stations, then swap/fast stations with PV or a battery
    if pv_kw is None:
        pv_kw = pv_forecast_kw(scenario)
    batteries = [(i, st.battery) for i, st in enumerate(stations) if st.battery is not None]
    bat = lambda attr: np.array([getattr(b, attr) for _, b in batteries], dtype=float)  # noqa: E731
    cap = bat("capacity_kwh")
    base = scenario.base_load_kw[list(t_ids)].to_numpy().T.astype(float)
    problem = Problem(
        slots=slots, dt_h=dt_h, price_cny_per_kwh=scenario.price_cny_per_kwh.to_numpy(dtype=float),
        transformer_ids=t_ids, limit_kw=trafos.limit_kw.to_numpy(float), rating_kw=trafos.rating_kw.to_numpy(float),
        base_load_kw=base,
        transformer_feeder=np.array([f_index.get(f, -1) for f in trafos.feeder_id], dtype=int),
        feeder_ids=f_ids, feeder_capacity_kw=scenario.feeders.capacity_kw.to_numpy(float),
        ev_ids=evs.ev_id.to_numpy(dtype=object),
        ev_transformer=_positions(t_ids, evs.transformer_id, "evs: transformer_id"),
        ev_energy_kwh=evs.energy_kwh.to_numpy(float), ev_max_power_kw=evs.max_power_kw.to_numpy(float),
        ev_min_power_kw=evs.min_power_kw.to_numpy(float), ev_available=available,
        station_ids=np.array([s.station_id for s in stations], dtype=object),
        station_transformer=np.array([t_index[s.transformer_id] for s in stations], dtype=int),
        pv_kw=np.asarray(pv_kw, dtype=float).reshape(len(stations), len(slots)),
        battery_station=np.array([i for i, _ in batteries], dtype=int), battery_capacity_kwh=cap,
        battery_max_charge_kw=bat("max_charge_kw"), battery_max_discharge_kw=bat("max_discharge_kw"),
        battery_charge_efficiency=bat("charge_efficiency"),
        battery_discharge_efficiency=bat("discharge_efficiency"),
        battery_soc_min_kwh=cap * bat("soc_min"), battery_soc_max_kwh=cap * bat("soc_max"),
        battery_soc_initial_kwh=cap * bat("soc_initial"), battery_soc_final_min_kwh=cap * bat("final_soc_min"),
        unmet_penalty_cny_per_kwh=cfg.penalties.unmet_energy_cny_per_kwh,
        overload_penalty_cny_per_kwh=cfg.penalties.overload_cny_per_kwh,
        early_charging_cny_per_kwh=cfg.penalties.early_charging_cny_per_kwh,
        switch_on_cny=cfg.penalties.switch_on_cny,
        ramp_penalty_cny_per_kw=cfg.penalties.ramp_cny_per_kw,
        **_v2g_fields(evs, cfg),
        sites=build_sites(cfg, scenario.site_demand or {}, list(t_ids), len(slots)),
        **demand_fields(cfg.tariff, slots, t_ids),
    )
    problem = replace(problem, phases=scenario_phases(scenario, problem),   # models/lv_grid.md, "Phases"
                      unbalance_penalty_cny_per_kwh=cfg.penalties.unbalance_cny_per_kwh)
    return _with_events(problem, scenario, plan_net_load_kw) if with_events else problem


def _positions(ids: np.ndarray, values: pd.Series, what: str) -> np.ndarray:
    """Position of each value in ``ids`` (one hash lookup per value, vectorised)."""
    pos = pd.Index(ids).get_indexer(pd.Index(values.to_numpy(dtype=object)))
    if len(pos) and pos.min() < 0:      # tables.py checks references; this is a guard
        raise ArgumentError(f"{what} names an unknown id: {values.iloc[int(np.argmin(pos))]!r}")
    return pos.astype(int)


def _v2g_fields(evs: pd.DataFrame, cfg) -> dict:
    """Problem fields of the V2G columns; none when ``evs.csv`` has no ``v2g`` column (nothing changes)."""
    if "v2g" not in evs.columns:
        return {}
    return dict(ev_v2g=evs.v2g.to_numpy(bool), ev_max_discharge_kw=evs.max_discharge_kw.to_numpy(float),
                ev_battery_kwh=evs.battery_kwh.to_numpy(float),
                ev_soc_arrival_kwh=(evs.battery_kwh * evs.soc_arrival).to_numpy(float),
                v2g_charge_efficiency=cfg.v2g.charge_efficiency,
                v2g_discharge_efficiency=cfg.v2g.discharge_efficiency,
                v2g_degradation_cny_per_kwh=cfg.v2g.degradation_cny_per_kwh)


def uncontrolled_reference(problem: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """EV power [E, T], transformer net load [N, T] (batteries idle) and unmet energy [E] when nobody
    controls charging (:func:`vpp_sched.scenario.stay.uncontrolled_reference`) [kW, kW, kWh]."""
    p = problem
    ev, ev_at, unmet = stay_reference(p.ev_available, p.ev_energy_kwh, p.ev_max_power_kw, p.dt_h,
                                      p.ev_transformer, p.n_transformers)
    return ev, _uncontrolled_net_kw(p, ev_at), unmet


def _uncontrolled_net_kw(p: Problem, ev_at: np.ndarray) -> np.ndarray:
    at = np.zeros_like(p.base_load_kw)  # keeps base_load_kw's memory order, so the sums below
    at[...] = ev_at                     # (and BLAS on them) keep their bits
    if p.sites is not None:             # swap packs charged at once, fast stations at the cap drivers need
        at += uncontrolled_site_kw(p.sites, p.n_transformers, p.n_slots, p.dt_h)
    return p.base_load_kw + at - p.pv_at_transformer_kw()


def uncontrolled_transformer_kw(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """EV power [N, T] and net load [N, T] per transformer of the uncontrolled reference, those of
    :func:`uncontrolled_reference` bit for bit, without its [E, T] EV array
    (:func:`vpp_sched.scenario.stay.uncontrolled_row_kw`) [kW]."""
    p = problem
    ev_at = uncontrolled_row_kw(p.ev_available, p.ev_energy_kwh, p.ev_max_power_kw, p.dt_h,
                                p.ev_transformer, p.n_transformers)
    return ev_at, _uncontrolled_net_kw(p, ev_at)


def uncontrolled_net_load_kw(problem: Problem) -> np.ndarray:
    """[N, T] transformer net load of the uncontrolled reference (batteries idle) [kW]."""
    return uncontrolled_transformer_kw(problem)[1]


def _with_events(problem: Problem, scenario: Scenario, plan_net_load_kw: np.ndarray | None) -> Problem:
    events = scenario.config.dr_events
    if not events:
        return problem
    ids = list(problem.transformer_ids)
    scope, masks = event_scopes_and_slots(ids, scenario)
    uncontrolled = uncontrolled_net_load_kw(problem)
    baseline = np.zeros(masks.shape)
    for k, ev in enumerate(events):
        members = [t for t, inside in zip(ids, scope[k]) if inside]
        baseline[k] = event_baseline_kw(ev, scenario, members, masks[k], scope[k] @ uncontrolled,
                                        None if plan_net_load_kw is None else scope[k] @ plan_net_load_kw)
    return replace(problem, event_ids=np.array([ev.event_id for ev in events], dtype=object),
                   event_slots=masks, event_scope=scope, event_baseline_kw=baseline,
                   event_reduction_kw=np.array([ev.target for ev in events], dtype=float),
                   event_sign=np.array([ev.sign for ev in events], dtype=float),
                   event_price_cny_per_kwh=np.array([ev.price_cny_per_kwh for ev in events], dtype=float),
                   event_penalty_cny_per_kwh=np.array([ev.shortfall_penalty_cny_per_kwh for ev in events],
                                                      dtype=float))


def event_scopes_and_slots(transformer_ids, scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """``([K, N] transformers in each event's scope, [K, T] slots of each event)`` for the scenario's events."""
    cfg, slots, ids = scenario.config, scenario.slots, list(transformer_ids)
    events = cfg.dr_events
    station_at = {st.station_id: st.transformer_id for st in [*cfg.stations, *cfg.sites()]}
    scope = np.array([[True] * len(ids) if ev.scope == "all"
                      else [t in {station_at.get(x, x) for x in ev.scope} for t in ids] for ev in events],
                     dtype=bool).reshape(len(events), len(ids))
    masks = np.array([event_slot_mask(slots, cfg.horizon.slot_minutes, ev.start, ev.end, cfg.site.timezone)
                      for ev in events], dtype=bool).reshape(len(events), len(slots))
    return scope, masks


#: The ``plan`` baseline is rounded to this many decimals of a kW (1 W): ``models/dr_events.md``,
#: "The plan baseline".
PLAN_BASELINE_DECIMALS = 3


def needs_plan_baseline(scenario: Scenario) -> bool:
    """True when an event's baseline is the plan without the events (a first solve is needed)."""
    return any(ev.baseline == "plan" for ev in scenario.config.dr_events)


def event_baseline_kw(ev, scenario: Scenario, members: list[str], mask: np.ndarray,
                      uncontrolled_kw: np.ndarray, plan_kw: np.ndarray | None) -> np.ndarray:
    """[T] baseline of one event's scope by its method [kW]."""
    tz, slots = scenario.config.site.timezone, scenario.slots
    if ev.baseline == "uncontrolled":
        return uncontrolled_kw
    if ev.baseline == "plan":
        if plan_kw is None:
            raise ArgumentError("baseline 'plan' needs the plan without events: see needs_plan_baseline")
        # the unique baseline of vpp_sched.solve.plan_baseline, to a resolution far above its LP
        # tolerances, so solvers and orderings that agree to 1e-7 kW print the same numbers
        return np.round(plan_kw, PLAN_BASELINE_DECIMALS)
    history = None
    if scenario.load_history is not None:
        history = baselines.scope_history_kw(scenario.load_history, members, ev.scope == "all")
    if ev.baseline == "pre_event_15min":
        return baselines.pre_event_baseline_kw(history, uncontrolled_kw, ev, slots, mask, tz)
    if history is None or history.empty:
        raise InputError([f"scenario.yaml: dr_events ({ev.event_id}): baseline {ev.baseline} needs load_history "
                          "rows for its scope (slot_start, scope_id, load_kw)"])
    # working days: the scenario's calendar (holidays, adjusted working days), less days marked dr_event
    calendar = baselines.working_days(scenario.config.calendar,
                                      baselines.event_days(scenario.load_history, members, ev.scope == "all"))
    if ev.baseline == "jiangsu_5d":
        return baselines.jiangsu_baseline_kw(history, ev, slots, mask, tz, calendar)
    return baselines.beijing_baseline_kw(history, ev, slots, mask, tz, calendar)
