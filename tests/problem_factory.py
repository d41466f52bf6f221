"""Hand-made and random :class:`~vpp_sched.problem.arrays.Problem` instances, and a validity check of solutions.

``tiny_problem`` builds a small valid Problem whose optimum can be worked out by hand:
1 transformer (limit 100 kW, no base load), 2 EVs of 10 kWh / 5 kW plugged in all day,
8 slots of 1 h, a two-level tariff (0.3 CNY/kWh in the first half, 0.9 in the second), no
stations, feeders or events. Keyword arguments add batteries, PV, feeders, events and
minimum powers; ``**overrides`` replace any Problem field last.

``random_problem`` builds a larger congested instance (benchmarks, time-limit tests).

``check_solution`` verifies that the arrays of a Solution are a physically valid plan.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from vpp_sched.problem.arrays import Problem
from vpp_sched.solve.solution import Solution

TZ = "Asia/Shanghai"


def _slots(n_slots: int, dt_h: float, start: str = "2026-11-27 00:00") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n_slots, freq=pd.Timedelta(hours=dt_h), tz=TZ)


def _per_slot(value, n_slots: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, dtype=float), (n_slots,)).copy()


def _slot_mask(spec, n_slots: int) -> np.ndarray:
    """``(first, stop)`` slot range (stop exclusive) or a bool [T] mask -> bool [T]."""
    spec = np.asarray(spec)
    if spec.dtype == bool:
        return spec.reshape(n_slots).copy()
    first, stop = (int(v) for v in spec)
    mask = np.zeros(n_slots, dtype=bool)
    mask[first:stop] = True
    return mask


def tiny_problem(
    *,
    n_slots: int = 8,
    dt_h: float = 1.0,
    price: Sequence[float] | None = None,
    n_transformers: int = 1,
    limit_kw: float | Sequence[float] = 100.0,
    base_load_kw: float | Sequence = 0.0,
    evs: list[dict] | None = None,
    feeders: list[dict] | None = None,
    stations: list[dict] | None = None,
    events: list[dict] | None = None,
    tie_breaks: bool = True,
    **overrides,
) -> Problem:
    """A small valid Problem with hand-checkable defaults.

    Parameters
    ----------
    price : [T] CNY/kWh; default 0.3 in slots ``< n_slots // 2``, 0.9 after.
    limit_kw : scalar or [N]; base_load_kw : scalar, [T] or [N, T].
    evs : one dict per EV with keys ``energy`` (10), ``pmax`` (5), ``pmin`` (0), ``arrival``
        (0, first slot), ``departure`` (``n_slots``, slot index where the stay ends, exclusive),
        ``available`` (bool [T], overrides arrival/departure), ``transformer`` (0); V2G:
        ``v2g`` (False), ``dmax`` (= pmax), ``battery`` (60 kWh), ``soc0`` (kWh at arrival, 20).
        Default: two default EVs.
    feeders : dicts with ``capacity`` [kW] and ``transformers`` (list of transformer indices).
    stations : dicts with ``transformer`` (0), ``pv`` (scalar or [T] kW, default 0) and
        ``battery`` (None or a dict: ``capacity`` 10, ``max_charge`` 5, ``max_discharge`` 5,
        ``eta_c`` 0.95, ``eta_d`` 0.95, ``soc_min`` 0, ``soc_max`` = capacity,
        ``soc_initial`` 0, ``soc_final`` = soc_initial, all kWh / kW).
    events : dicts with ``slots`` ((first, stop) or bool [T]), ``scope`` (None = all, or list of
        transformer indices), ``reduction`` [kW], ``baseline`` (scalar or [T] kW), ``price`` (0)
        and ``penalty`` (5) CNY/kWh.
    tie_breaks : False sets the early-charging and switch-on tie-breaks to 0.
    overrides : Problem fields replacing the built ones (``dataclasses.replace``).
    """
    T, N = n_slots, n_transformers
    slots = _slots(T, dt_h)
    price_arr = (np.where(np.arange(T) < T // 2, 0.3, 0.9) if price is None
                 else np.asarray(price, dtype=float).reshape(T))
    limit = np.broadcast_to(np.asarray(limit_kw, dtype=float), (N,)).copy()
    base = np.broadcast_to(np.asarray(base_load_kw, dtype=float), (N, T)).copy()

    if evs is None:
        evs = [{}, {}]
    E = len(evs)
    avail = np.zeros((E, T), dtype=bool)
    for e, ev in enumerate(evs):
        if "available" in ev:
            avail[e] = np.asarray(ev["available"], dtype=bool)
        else:
            avail[e, int(ev.get("arrival", 0)):int(ev.get("departure", T))] = True

    feeders = feeders or []
    transformer_feeder = np.full(N, -1, dtype=int)
    for f, fd in enumerate(feeders):
        transformer_feeder[list(fd["transformers"])] = f

    stations = stations or []
    S = len(stations)
    pv = np.zeros((S, T))
    batteries = []
    for s, st in enumerate(stations):
        pv[s] = _per_slot(st.get("pv", 0.0), T)
        if st.get("battery") is not None:
            batteries.append((s, st["battery"]))
    bat = {
        "station": [], "capacity": [], "max_charge": [], "max_discharge": [], "eta_c": [], "eta_d": [],
        "soc_min": [], "soc_max": [], "soc_initial": [], "soc_final": [],
    }
    for s, b in batteries:
        cap = float(b.get("capacity", 10.0))
        soc0 = float(b.get("soc_initial", 0.0))
        bat["station"].append(s)
        bat["capacity"].append(cap)
        bat["max_charge"].append(float(b.get("max_charge", 5.0)))
        bat["max_discharge"].append(float(b.get("max_discharge", 5.0)))
        bat["eta_c"].append(float(b.get("eta_c", 0.95)))
        bat["eta_d"].append(float(b.get("eta_d", 0.95)))
        bat["soc_min"].append(float(b.get("soc_min", 0.0)))
        bat["soc_max"].append(float(b.get("soc_max", cap)))
        bat["soc_initial"].append(soc0)
        bat["soc_final"].append(float(b.get("soc_final", soc0)))

    events = events or []
    K = len(events)
    ev_slots = np.zeros((K, T), dtype=bool)
    ev_scope = np.zeros((K, N), dtype=bool)
    baseline = np.zeros((K, T))
    for k, ev in enumerate(events):
        ev_slots[k] = _slot_mask(ev["slots"], T)
        if ev.get("scope") is None:
            ev_scope[k] = True
        else:
            ev_scope[k, list(ev["scope"])] = True
        baseline[k] = _per_slot(ev["baseline"], T)

    problem = Problem(
        slots=slots,
        dt_h=float(dt_h),
        price_cny_per_kwh=price_arr,
        transformer_ids=np.array([f"T{n}" for n in range(N)], dtype=object),
        limit_kw=limit,
        rating_kw=limit.copy(),
        base_load_kw=base,
        transformer_feeder=transformer_feeder,
        feeder_ids=np.array([f"F{f}" for f in range(len(feeders))], dtype=object),
        feeder_capacity_kw=np.array([float(fd["capacity"]) for fd in feeders]),
        ev_ids=np.array([f"EV{e}" for e in range(E)], dtype=object),
        ev_transformer=np.array([int(ev.get("transformer", 0)) for ev in evs], dtype=int),
        ev_energy_kwh=np.array([float(ev.get("energy", 10.0)) for ev in evs]),
        ev_max_power_kw=np.array([float(ev.get("pmax", 5.0)) for ev in evs]),
        ev_min_power_kw=np.array([float(ev.get("pmin", 0.0)) for ev in evs]),
        ev_available=avail,
        station_ids=np.array([f"S{s}" for s in range(S)], dtype=object),
        station_transformer=np.array([int(st.get("transformer", 0)) for st in stations], dtype=int),
        pv_kw=pv if S else None,
        battery_station=np.array(bat["station"], dtype=int),
        battery_capacity_kwh=np.array(bat["capacity"]),
        battery_max_charge_kw=np.array(bat["max_charge"]),
        battery_max_discharge_kw=np.array(bat["max_discharge"]),
        battery_charge_efficiency=np.array(bat["eta_c"]),
        battery_discharge_efficiency=np.array(bat["eta_d"]),
        battery_soc_min_kwh=np.array(bat["soc_min"]),
        battery_soc_max_kwh=np.array(bat["soc_max"]),
        battery_soc_initial_kwh=np.array(bat["soc_initial"]),
        battery_soc_final_min_kwh=np.array(bat["soc_final"]),
        event_ids=np.array([f"DR{k}" for k in range(K)], dtype=object),
        event_slots=ev_slots if K else None,
        event_scope=ev_scope if K else None,
        event_baseline_kw=baseline if K else None,
        event_reduction_kw=np.array([float(ev["reduction"]) for ev in events]),
        event_price_cny_per_kwh=np.array([float(ev.get("price", 0.0)) for ev in events]),
        event_penalty_cny_per_kwh=np.array([float(ev.get("penalty", 5.0)) for ev in events]),
    )
    if any(ev.get("v2g") for ev in evs):
        problem = dataclasses.replace(
            problem, ev_v2g=np.array([bool(ev.get("v2g", False)) for ev in evs]),
            ev_max_discharge_kw=np.array([float(ev.get("dmax", ev.get("pmax", 5.0))) for ev in evs]),
            ev_battery_kwh=np.array([float(ev.get("battery", 60.0)) for ev in evs]),
            ev_soc_arrival_kwh=np.array([float(ev.get("soc0", 20.0)) for ev in evs]))
    if not tie_breaks:
        problem = dataclasses.replace(problem, early_charging_cny_per_kwh=0.0, switch_on_cny=0.0)
    if overrides:
        problem = dataclasses.replace(problem, **overrides)
    return problem


def random_problem(
    n_evs: int = 1000,
    n_slots: int = 96,
    n_transformers: int = 20,
    *,
    seed: int = 0,
    stay_h: float = 12.0,
    min_power_share: float = 0.5,
    n_feeders: int = 0,
    n_stations: int = 0,
    n_events: int = 0,
    congestion: float = 1.0,
    v2g_share: float = 0.0,
) -> Problem:
    """A random congested day: EVs plugged in ~``stay_h`` hours, valley-peak tariff, evening base peak.

    ``min_power_share`` of the EVs have a minimum power (binary on/off). ``congestion`` scales the
    EV energy relative to the transformer headroom (1.0: the valley alone cannot carry it all).
    Stations get PV and a battery each; events cap the whole network for two evening hours.
    ``v2g_share`` of the EVs may discharge (60 kWh battery, arriving at 30-60 %).
    """
    rng = np.random.default_rng(seed)
    T, E, N = n_slots, n_evs, n_transformers
    dt_h = 24.0 / T
    hours = np.arange(T) * dt_h
    price = np.where((hours >= 23) | (hours < 7), 0.3, np.where((hours >= 18) & (hours < 22), 1.1, 0.65))

    ev_n = rng.integers(0, N, E)
    pmax = rng.choice([7.0, 11.0, 22.0], E, p=[0.5, 0.35, 0.15])
    pmin = np.where(rng.random(E) < min_power_share, np.round(0.3 * pmax, 1), 0.0)
    stay = np.clip(rng.normal(stay_h, 2.0, E), 2.0, 24.0)
    n_stay = np.maximum((stay / dt_h).astype(int), 1)
    arrival = rng.integers(0, np.maximum(T - n_stay, 0) + 1)
    t_idx = np.arange(T)
    avail = (t_idx >= arrival[:, None]) & (t_idx < (arrival + n_stay)[:, None])
    energy = np.round(np.minimum(rng.uniform(8.0, 45.0, E) * congestion, 0.9 * pmax * n_stay * dt_h), 2)

    evs_per_n = np.bincount(ev_n, minlength=N)
    ev_mean_kw = np.bincount(ev_n, weights=energy, minlength=N) / 24.0
    limit = np.maximum(np.round(2.2 * ev_mean_kw + 30.0 * np.sqrt(evs_per_n + 1), 0), 50.0)
    shape = 0.45 + 0.25 * np.exp(-0.5 * ((hours - 19.5) / 2.5) ** 2) + 0.1 * np.exp(-0.5 * ((hours - 11) / 3) ** 2)
    base = limit[:, None] * shape[None, :] * rng.uniform(0.8, 1.1, (N, 1))

    F = n_feeders
    transformer_feeder = rng.integers(0, F, N) if F else np.full(N, -1)
    feeder_cap = (np.array([0.8 * limit[transformer_feeder == f].sum() for f in range(F)])
                  if F else np.zeros(0))

    S = n_stations
    station_n = rng.choice(N, S, replace=False) if S else np.zeros(0, dtype=int)
    sun = np.sin(np.pi * (hours - 6.5) / 11.0)
    sun = np.where(sun > 0.02, sun, 0.0)
    pv = (rng.uniform(50, 300, S)[:, None] * sun[None, :]) if S else None
    cap = rng.uniform(50, 200, S)

    K = n_events
    ev_slots = np.zeros((K, T), dtype=bool)
    for k in range(K):
        ev_slots[k, (hours >= 18 + k % 3) & (hours < 20 + k % 3)] = True
    scope = np.ones((K, N), dtype=bool)
    baseline = np.tile(base.sum(axis=0) + 0.3 * ev_mean_kw.sum(), (K, 1))
    reduction = np.full(K, 0.05 * limit.sum())

    v2g = {}
    if v2g_share > 0:
        battery = np.full(E, 60.0)
        soc0 = battery * rng.uniform(0.3, 0.6, E)
        v2g = dict(ev_v2g=rng.random(E) < v2g_share, ev_max_discharge_kw=pmax.copy(), ev_battery_kwh=battery,
                   ev_soc_arrival_kwh=soc0)
        energy = np.minimum(energy, np.round(0.9 * (battery - soc0), 2))
    return Problem(
        **v2g,
        slots=_slots(T, dt_h),
        dt_h=dt_h,
        price_cny_per_kwh=price,
        transformer_ids=np.array([f"T{n}" for n in range(N)], dtype=object),
        limit_kw=limit,
        rating_kw=limit / 1.0,
        base_load_kw=base,
        transformer_feeder=transformer_feeder,
        feeder_ids=np.array([f"F{f}" for f in range(F)], dtype=object),
        feeder_capacity_kw=feeder_cap,
        ev_ids=np.array([f"EV{e}" for e in range(E)], dtype=object),
        ev_transformer=ev_n,
        ev_energy_kwh=energy,
        ev_max_power_kw=pmax,
        ev_min_power_kw=pmin,
        ev_available=avail,
        station_ids=np.array([f"S{s}" for s in range(S)], dtype=object),
        station_transformer=station_n,
        pv_kw=pv,
        battery_station=np.arange(S),
        battery_capacity_kwh=cap,
        battery_max_charge_kw=0.5 * cap,
        battery_max_discharge_kw=0.5 * cap,
        battery_charge_efficiency=np.full(S, 0.95),
        battery_discharge_efficiency=np.full(S, 0.95),
        battery_soc_min_kwh=0.1 * cap,
        battery_soc_max_kwh=0.9 * cap,
        battery_soc_initial_kwh=0.5 * cap,
        battery_soc_final_min_kwh=0.5 * cap,
        event_ids=np.array([f"DR{k}" for k in range(K)], dtype=object),
        event_slots=ev_slots if K else None,
        event_scope=scope if K else None,
        event_baseline_kw=baseline if K else None,
        event_reduction_kw=reduction,
        event_price_cny_per_kwh=np.full(K, 1.0),
        event_penalty_cny_per_kwh=np.full(K, 5.0),
    )


# ------------------------------------------------------------------------------------------
# validity of a solution
# ------------------------------------------------------------------------------------------
def energy_cost(problem: Problem, solution: Solution) -> float:
    """Tariff cost of the plan: sum over transformers and slots of price * dt * max(net, 0) [CNY]."""
    imports = np.clip(solution.net_load_kw, 0.0, None)
    return float(np.sum(imports * problem.price_cny_per_kwh[None, :]) * problem.dt_h)


def check_solution(problem: Problem, solution: Solution, *, tol: float = 1e-5,
                   binary_tol: float = 1e-4, tight: bool = False) -> None:
    """Assert that ``solution`` is a physically valid plan of ``problem``.

    Checks bounds, availability, energy balance with unmet energy, transformer balance,
    limits covered by the reported overloads (transformer both directions where it has a
    station, feeders, DR events covered by the reported shortfall), battery SOC recursion,
    final SOC and no simultaneous charge/discharge, min-power semi-continuity.
    ``tight=True`` also asserts that every slack is as small as the plan allows (expected at
    an optimum). ``tol`` is in kW / kWh; ``binary_tol`` applies where a binary decides (it
    absorbs the solver's integrality tolerance).
    """
    p, s = problem, solution
    T, E, N, F = p.n_slots, p.n_evs, p.n_transformers, p.n_feeders
    S, B, K = p.n_stations, p.n_batteries, p.n_events
    dt = p.dt_h
    assert s.status.has_plan, f"no plan: {s.status}"
    for name, shape in (("ev_power_kw", (E, T)), ("ev_unmet_kwh", (E,)), ("pv_curtail_kw", (S, T)),
                        ("battery_charge_kw", (B, T)), ("battery_discharge_kw", (B, T)),
                        ("battery_soc_kwh", (B, T)), ("net_load_kw", (N, T)), ("overload_kw", (N, T)),
                        ("feeder_overload_kw", (F, T)), ("dr_shortfall_kw", (K, T))):
        arr = getattr(s, name)
        assert arr is not None and arr.shape == shape, f"{name}: shape {None if arr is None else arr.shape} != {shape}"
        assert np.all(np.isfinite(arr)), f"{name}: not finite"

    # EVs
    power, avail = s.ev_power_kw, np.asarray(p.ev_available, dtype=bool)
    assert power.min(initial=0.0) >= -tol, "negative EV power"
    assert np.all(power <= p.ev_max_power_kw[:, None] + tol), "EV power above its maximum"
    assert np.all(power[~avail] == 0.0), "EV charging outside its availability"
    binary = p.ev_min_power_kw > 0
    pb = power[binary]
    ok = (pb <= binary_tol) | (pb >= p.ev_min_power_kw[binary, None] - binary_tol)
    assert ok.all(), "EV power between 0 and its minimum power"
    unmet = s.ev_unmet_kwh
    assert np.all(unmet >= -tol) and np.all(unmet <= p.ev_energy_kwh + tol), "unmet energy out of bounds"
    v2g = p.ev_is_v2g
    back = np.zeros((E, T))
    if v2g.any():
        dis_ev, soc_ev = s.ev_discharge_kw, s.ev_soc_kwh
        assert dis_ev is not None and dis_ev.shape == (E, T), "V2G discharge missing"
        assert dis_ev.min() >= -tol and np.all(dis_ev <= p.ev_max_discharge_kw[:, None] + tol), "V2G discharge out of bounds"
        assert np.all(dis_ev[~v2g] == 0.0) and np.all(dis_ev[~avail] == 0.0), "discharge by a non-V2G or absent EV"
        assert np.all(np.minimum(power, dis_ev) <= binary_tol), "EV charges and discharges in the same slot"
        stored = p.ev_soc_arrival_kwh[:, None] + np.cumsum(
            p.v2g_charge_efficiency * dt * power - dt / p.v2g_discharge_efficiency * dis_ev, axis=1)
        assert np.all(stored[v2g] >= -tol), "V2G EV battery below empty"
        assert np.all(stored[v2g] <= p.ev_battery_kwh[v2g, None] + tol), "V2G EV battery above full"
        np.testing.assert_allclose(soc_ev[v2g[:, None] & avail], stored[v2g[:, None] & avail], atol=tol, err_msg="EV SOC recursion")
        back = dis_ev * p.v2g_round_trip
    np.testing.assert_allclose((power - back).sum(axis=1) * dt + unmet, p.ev_energy_kwh, atol=tol,
                               err_msg="EV energy + unmet != energy wanted")

    # PV
    pv = np.zeros((S, T)) if p.pv_kw is None else np.asarray(p.pv_kw, dtype=float)
    assert np.all(s.pv_curtail_kw >= -tol) and np.all(s.pv_curtail_kw <= pv + tol), "curtailment out of bounds"

    # batteries
    ch, dis, soc = s.battery_charge_kw, s.battery_discharge_kw, s.battery_soc_kwh
    if B:
        assert np.all(ch >= -tol) and np.all(ch <= p.battery_max_charge_kw[:, None] + tol), "battery charge out of bounds"
        assert np.all(dis >= -tol) and np.all(dis <= p.battery_max_discharge_kw[:, None] + tol), "battery discharge out of bounds"
        assert np.all(soc >= p.battery_soc_min_kwh[:, None] - tol), "SOC below minimum"
        assert np.all(soc <= p.battery_soc_max_kwh[:, None] + tol), "SOC above maximum"
        before = np.concatenate([p.battery_soc_initial_kwh[:, None], soc[:, :-1]], axis=1)
        expected = (before + p.battery_charge_efficiency[:, None] * dt * ch
                    - dt / p.battery_discharge_efficiency[:, None] * dis)
        np.testing.assert_allclose(soc, expected, atol=tol, err_msg="SOC recursion violated")
        assert np.all(soc[:, -1] >= p.battery_soc_final_min_kwh - tol), "final SOC below its minimum"
        assert np.all(np.minimum(ch, dis) <= binary_tol), "battery charges and discharges in the same slot"

    # transformer balance
    net = np.asarray(p.base_load_kw, dtype=float) - p.pv_at_transformer_kw()
    np.add.at(net, p.ev_transformer, power)
    if v2g.any():
        np.add.at(net, p.ev_transformer, -s.ev_discharge_kw)
    if S:
        np.add.at(net, p.station_transformer, s.pv_curtail_kw)
    if B:
        np.add.at(net, p.station_transformer[p.battery_station], ch - dis)
    np.testing.assert_allclose(s.net_load_kw, net, atol=tol, err_msg="transformer balance violated")

    # no storage discharge while the transformer exports with its PV uncurtailed (battery_export, ev_export)
    discharge = np.zeros((N, T))
    if B:
        np.add.at(discharge, p.station_transformer[p.battery_station], dis)
    if v2g.any():
        np.add.at(discharge, p.ev_transformer, s.ev_discharge_kw)
    uncurtailed = s.net_load_kw.copy()
    if S:
        np.subtract.at(uncurtailed, p.station_transformer, s.pv_curtail_kw)
    assert not np.any((discharge > binary_tol) & (uncurtailed < -binary_tol)), "storage discharges into export"

    # transformer limits and reported overload
    over = s.overload_kw
    assert np.all(over >= -tol), "negative overload"
    need = np.clip(s.net_load_kw - p.limit_kw[:, None], 0.0, None)
    has_station = np.zeros(N, dtype=bool)
    has_station[np.asarray(p.station_transformer, dtype=int)] = True
    reverse = np.clip(-p.limit_kw[:, None] - s.net_load_kw, 0.0, None) * has_station[:, None]
    need = np.maximum(need, reverse)
    assert np.all(over >= need - tol), "transformer limit exceeded beyond the reported overload"
    if tight:
        assert np.all(over <= need + tol), "overload reported without need"

    # feeders
    fover = s.feeder_overload_kw
    if F:
        load = np.zeros((F, T))
        on = p.transformer_feeder >= 0
        np.add.at(load, p.transformer_feeder[on], s.net_load_kw[on])
        fneed = np.clip(load - p.feeder_capacity_kw[:, None], 0.0, None)
        assert np.all(fover >= -tol) and np.all(fover >= fneed - tol), "feeder capacity exceeded beyond the reported overload"
        if tight:
            assert np.all(fover <= fneed + tol), "feeder overload reported without need"

    # DR events
    short = s.dr_shortfall_kw
    if K:
        slots = np.asarray(p.event_slots, dtype=bool)
        assert np.all(short[~slots] == 0.0), "shortfall outside event slots"
        assert np.all(short >= -tol), "negative shortfall"
        scope_load = np.asarray(p.event_scope, dtype=float) @ s.net_load_kw
        kneed = np.clip(p.event_signs()[:, None] * scope_load - p.event_cap_kw, 0.0, None) * slots
        assert np.all(short >= kneed - tol), "event cap exceeded beyond the reported shortfall"
        if tight:
            assert np.all(short <= kneed + tol), "shortfall reported without need"


def with_demand_charge(problem: Problem, cny_per_kw_month, demand_so_far_kw=0.0, start: str | None = None,
                       exempt=False) -> Problem:
    """``problem`` with a demand charge: price scalar, [N] or [N, M] over the months of its slots
    (``start`` moves the slots, e.g. across a month's end), ``demand_so_far_kw`` scalar or [N]."""
    from vpp_sched.problem.demand import month_index

    slots = problem.slots if start is None else _slots(problem.n_slots, problem.dt_h, start)
    slot_month, months = month_index(slots)
    shape = (problem.n_transformers, len(months))
    price = np.broadcast_to(np.asarray(cny_per_kw_month, dtype=float).reshape(
        np.shape(cny_per_kw_month) + (1,) * (2 - np.ndim(cny_per_kw_month))), shape).copy()
    exempt = np.broadcast_to(np.asarray(exempt, dtype=bool), shape).copy()
    return dataclasses.replace(problem, slots=slots, slot_month=slot_month, demand_months=months,
                               demand_cny_per_kw_month=np.where(exempt, 0.0, price), demand_exempt=exempt,
                               demand_so_far_kw=np.broadcast_to(np.asarray(demand_so_far_kw, float),
                                                                (problem.n_transformers,)).copy())
