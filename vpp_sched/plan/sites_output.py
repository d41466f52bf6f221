"""The plan's tables and KPIs of the swap and fast-charging stations: ``swap_stations.csv``,
``fast_charging.csv`` and ``kpis.json`` ``swap_stations`` / ``fast_charging_stations``
(models/swap_stations.md, models/fast_charging.md)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from vpp_sched.plan.queue_sim import SIM_SEED, simulate_station
from vpp_sched.problem.arrays import Problem
from vpp_sched.problem.queueing import wait_at_cap
from vpp_sched.problem.sites import Sites

#: Below this a pack count or a swap is solver round-off [-].
TOL_PACKS = 1e-6

SWAP_COLUMNS = ["station_id", "slot_start", "swaps_requested", "swaps_served", "unserved_swaps", "full_packs",
                "packs_charging", "charge_kw"]
FAST_COLUMNS = ["station_id", "slot_start", "arrivals", "energy_demand_kwh", "served_kwh", "power_cap_kw",
                "battery_kw", "expected_wait_min", "p_wait_over_target"]


def long_table(ids: np.ndarray, slots: pd.DatetimeIndex, columns: dict) -> pd.DataFrame:
    """``station_id, slot_start, columns...`` from [n, T] arrays, station-major."""
    n = len(ids)
    data = {"station_id": np.repeat(np.asarray(ids, dtype=object), len(slots)),
            "slot_start": slots[np.tile(np.arange(len(slots)), n)] if n else pd.DatetimeIndex([], tz=slots.tz)}
    for name, arr in columns.items():
        data[name] = np.asarray(arr, dtype=float).reshape(-1)
    return pd.DataFrame(data)


def _clean(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float).copy()
    a[np.abs(a) < TOL_PACKS] = 0.0
    return a


def swap_table(p: Problem, sol) -> pd.DataFrame:
    """One row per swap station and slot; full packs at the slot's end, charging at the grid side."""
    st = p.sites
    unserved = _clean(sol.swap_unserved)
    charge = _clean(sol.swap_charge_kw)
    bays = np.ceil(charge / st.swap_bay_max_kw[:, None] - TOL_PACKS)   # bays busy: each at most bay_max_kw
    return long_table(st.swap_ids, p.slots, {
        "swaps_requested": st.swap_demand, "swaps_served": st.swap_demand - unserved, "unserved_swaps": unserved,
        "full_packs": _clean(sol.swap_full_packs), "packs_charging": np.maximum(bays, 0.0), "charge_kw": charge})[SWAP_COLUMNS]


def station_battery_kw(p: Problem, sol, station_id: str) -> np.ndarray:
    """[T] charge - discharge of the battery of ``station_id`` (0 without one) [kW]."""
    ids = np.asarray(p.station_ids, dtype=object)[np.asarray(p.battery_station, dtype=np.int64)]
    mine = np.flatnonzero(ids == station_id)
    if not len(mine):
        return np.zeros(p.n_slots)
    return (sol.battery_charge_kw[mine] - sol.battery_discharge_kw[mine]).sum(axis=0)


def fast_waits(st: Sites, g: int, cap_kw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[T] Erlang-C expected wait [min] (NaN where the queue is unstable) and P(wait > target) under ``cap_kw``."""
    out = [wait_at_cap(float(c), float(lam), float(e), int(st.fast_dispensers[g]), float(st.fast_dispenser_max_kw[g]),
                       float(st.fast_target_wait_h[g]))
           for c, lam, e in zip(cap_kw, st.fast_arrivals_per_h[g], st.fast_mean_energy_kwh[g])]
    wait = np.array([w * 60 if math.isfinite(w) else np.nan for w, _ in out])
    return wait, np.array([q for _, q in out])


def fast_table(p: Problem, sol) -> pd.DataFrame:
    """One row per fast-charging station and slot: expected arrivals and energy, the cap and the waits."""
    st, dt = p.sites, p.dt_h
    cap = _clean(sol.fast_cap_kw)
    demand_kw = st.fast_arrivals_per_h * st.fast_mean_energy_kwh
    waits = [fast_waits(st, g, cap[g]) for g in range(st.n_fast)]
    return long_table(st.fast_ids, p.slots, {
        "arrivals": st.fast_arrivals_per_h * dt, "energy_demand_kwh": demand_kw * dt,
        "served_kwh": np.minimum(demand_kw, cap) * dt, "power_cap_kw": cap,
        "battery_kw": np.array([station_battery_kw(p, sol, sid) for sid in st.fast_ids]).reshape(st.n_fast, p.n_slots),
        "expected_wait_min": np.array([w for w, _ in waits]).reshape(st.n_fast, p.n_slots),
        "p_wait_over_target": np.array([q for _, q in waits]).reshape(st.n_fast, p.n_slots)})[FAST_COLUMNS]


def swap_kpis(table: pd.DataFrame, dt_h: float) -> list[dict]:
    """Per swap station: swaps requested, served, unserved and the service level (served / requested)."""
    out = []
    for sid, rows in table.groupby("station_id", sort=False):
        req, served = float(rows.swaps_requested.sum()), float(rows.swaps_served.sum())
        out.append({"station_id": sid, "swaps_requested": req, "swaps_served": served,
                    "unserved_swaps": float(rows.unserved_swaps.sum()),
                    "service_level": served / req if req > 0 else 1.0,
                    "charged_kwh": float(rows.charge_kw.sum() * dt_h)})
    return out


def fast_kpis(p: Problem, table: pd.DataFrame) -> list[dict]:
    """Per fast-charging station: energy served, mean wait and P(wait > target), from the Erlang-C model
    (arrival-weighted over the slots) and from the seeded simulation (:mod:`vpp_sched.plan.queue_sim`)."""
    st, out = p.sites, []
    for g, sid in enumerate(st.fast_ids):
        rows = table[table.station_id == sid]
        arrivals = rows.arrivals.to_numpy(float)
        w = arrivals / arrivals.sum() if arrivals.sum() > 0 else np.zeros(len(arrivals))
        wait = rows.expected_wait_min.to_numpy(float)
        sim = simulate_station(st.fast_arrivals_per_h[g], st.fast_mean_energy_kwh[g], rows.power_cap_kw.to_numpy(float),
                               int(st.fast_dispensers[g]), float(st.fast_dispenser_max_kw[g]), p.dt_h,
                               float(st.fast_target_wait_h[g]), seed=SIM_SEED + g)
        target_min = float(st.fast_target_wait_h[g] * 60)
        out.append({"station_id": sid, "target_wait_min": target_min,
                    "energy_demand_kwh": float(rows.energy_demand_kwh.sum()), "energy_served_kwh": float(rows.served_kwh.sum()),
                    # over the slots whose queue is stable (an unstable slot's wait grows without bound)
                    "model_mean_wait_min": _weighted(np.nan_to_num(wait), w * ~np.isnan(wait)),
                    "model_unstable_slots": int((np.isnan(wait) & (arrivals > 0)).sum()),
                    "model_p_wait_over_target": float(np.sum(w * rows.p_wait_over_target.to_numpy(float))),
                    "slots_over_target": int(((wait > target_min + 1e-6) | np.isnan(wait)).sum()),
                    "sim_sessions": sim.sessions, "sim_mean_wait_min": sim.mean_wait_min,
                    "sim_p_wait_over_target": sim.p_wait_over_target,
                    "sim_energy_served_kwh_per_day": float(sim.served_kwh_per_day)})
    return out


def _weighted(values: np.ndarray, weights: np.ndarray) -> float:
    return float(np.sum(values * weights) / np.sum(weights)) if np.sum(weights) > 0 else 0.0


def site_tables(p: Problem, sol) -> dict[str, pd.DataFrame]:
    """``{"swap_stations": ..., "fast_charging": ...}`` for the kinds of site the problem has."""
    st = p.sites
    if st is None:
        return {}
    out = {}
    if st.n_swap:
        out["swap_stations"] = swap_table(p, sol)
    if st.n_fast:
        out["fast_charging"] = fast_table(p, sol)
    return out


def site_kpis(p: Problem, tables: dict[str, pd.DataFrame]) -> dict:
    out = {}
    if "swap_stations" in tables:
        out["swap_stations"] = swap_kpis(tables["swap_stations"], p.dt_h)
    if "fast_charging" in tables:
        out["fast_charging_stations"] = fast_kpis(p, tables["fast_charging"])
    return out


def site_warnings(kpis: dict) -> list[str]:
    """One warning per station that leaves swaps unserved or drivers waiting over target."""
    out = [f"swap station {k['station_id']}: {k['unserved_swaps']:.2f} of {k['swaps_requested']:.2f} swaps unserved"
           for k in kpis.get("swap_stations", []) if k["unserved_swaps"] > 1e-3]
    out += [f"fast-charging station {k['station_id']}: expected wait over {k['target_wait_min']:g} min in "
            f"{k['slots_over_target']} slot(s)" for k in kpis.get("fast_charging_stations", []) if k["slots_over_target"]]
    return out
