"""Validity of the swap and fast-charging stations' tables (``swap_stations.csv``, ``fast_charging.csv``),
checked from the tables alone against every rule of models/swap_stations.md and models/fast_charging.md."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vpp_sched.problem.arrays import Problem

TOL = 1e-4       # packs, swaps, kW
TOL_KWH = 1e-2


def _first(mask: np.ndarray, label, what: str) -> list[str]:
    idx = np.argwhere(mask)
    return [f"{what}: {len(idx)} case(s), first {label(*tuple(idx[0]))}"] if len(idx) else []


def check_sites(p: Problem, plan) -> list[str]:
    """Violations in the sites' tables, and between them and ``transformer_load.csv`` and ``batteries.csv``."""
    st = p.sites
    if st is None:
        return []
    tables = getattr(plan, "sites", {})
    out = []
    swap_kw, fast_kw = np.zeros((st.n_swap, p.n_slots)), np.zeros((st.n_fast, p.n_slots))
    if st.n_swap:
        swap = tables.get("swap_stations")
        if swap is None or len(swap) != st.n_swap * p.n_slots:
            return ["swap_stations.csv is missing or has not one row per swap station and slot"]
        out += check_swap(p, swap)
        swap_kw = swap.charge_kw.to_numpy(float).reshape(st.n_swap, p.n_slots)
    if st.n_fast:
        fast = tables.get("fast_charging")
        if fast is None or len(fast) != st.n_fast * p.n_slots:
            return out + ["fast_charging.csv is missing or has not one row per station and slot"]
        out += check_fast(p, fast, plan.batteries)
        fast_kw = fast.power_cap_kw.to_numpy(float).reshape(st.n_fast, p.n_slots)
    site = plan.transformer_load.site_kw.to_numpy(float).reshape(p.n_transformers, p.n_slots)
    name = lambda n, t: f"{p.transformer_ids[n]} at {p.slots[t].isoformat()}"  # noqa: E731
    out += _first(np.abs(site - st.site_at_transformer_kw(swap_kw, fast_kw, p.n_transformers)) > TOL, name,
                  "transformer_load.csv site_kw differs from swap charging + fast-charging caps")
    return out


def check_swap(p: Problem, table: pd.DataFrame) -> list[str]:
    """Demand, served <= full packs on hand, pack count, bays, connection, pack energy, final full packs."""
    st, T, dt = p.sites, p.n_slots, p.dt_h
    g = lambda c: table[c].to_numpy(float).reshape(st.n_swap, T)  # noqa: E731
    req, served, unserved, full, charging, charge = (g(c) for c in ("swaps_requested", "swaps_served",
                                                                 "unserved_swaps", "full_packs", "packs_charging",
                                                                 "charge_kw"))
    col = lambda a: np.asarray(a, dtype=float)[:, None]  # noqa: E731
    before = np.concatenate([col(st.swap_initial_full), full[:, :-1]], axis=1)
    name = lambda w, t: f"{st.swap_ids[w]} at {p.slots[t].isoformat()}"  # noqa: E731
    out = _first(np.abs(req - st.swap_demand) > TOL, name, "swaps_requested differs from swap_demand")
    out += _first((unserved < -TOL) | (unserved > req + TOL) | (np.abs(served + unserved - req) > TOL), name,
                  "swaps_served + unserved_swaps != swaps_requested (or out of range)")
    out += _first(served > before + TOL, name, "more swaps served than full packs on hand at the slot's start")
    out += _first((full < -TOL) | (full > col(st.swap_packs) + TOL), name, "full_packs outside 0..packs")
    out += _first((full[:, -1:] < col(st.swap_final_full_min) - TOL), lambda w, _: name(w, T - 1),
                  "full_packs at the horizon's end below final_full_packs_min")
    out += _first((charge < -TOL) | (charge > col(st.swap_charge_max_kw) + TOL), name,
                  "charge_kw outside 0..min(bays x bay_max_kw, grid_max_kw)")
    out += _first(charge > col(st.swap_bay_max_kw) * (col(st.swap_packs) - before) + TOL, name,
                  "charge_kw above bay_max_kw x packs not full")
    out += _first((charging > col(st.swap_bays) + TOL) | (charging * col(st.swap_bay_max_kw) < charge - TOL), name,
                  "packs_charging above bays, or too few for charge_kw")
    completed = full - before + served
    out += _first(completed < -TOL, name, "full packs fall by more than the swaps served")
    e = col(st.swap_pack_charge_kwh)
    partial = col(st.partial0_kwh) + np.cumsum(col(st.swap_efficiency) * dt * charge - e * completed, axis=1)
    out += _first((partial < -TOL_KWH) | (partial > e * (col(st.swap_packs) - full) + TOL_KWH), name,
                  "pack energy does not add up: packs made full without the charging energy, or more stored than packs hold")
    return out


def check_fast(p: Problem, table: pd.DataFrame, batteries: pd.DataFrame) -> list[str]:
    """Demand, cap within the dispensers, served energy, battery column, waits over target only where the
    cap is below its wait-keeping minimum."""
    st, T, dt = p.sites, p.n_slots, p.dt_h
    g = lambda c: table[c].to_numpy(float).reshape(st.n_fast, T)  # noqa: E731
    col = lambda a: np.asarray(a, dtype=float)[:, None]  # noqa: E731
    name = lambda f, t: f"{st.fast_ids[f]} at {p.slots[t].isoformat()}"  # noqa: E731
    cap, served, demand = g("power_cap_kw"), g("served_kwh"), g("energy_demand_kwh")
    out = _first((np.abs(g("arrivals") - st.fast_arrivals_per_h * dt) > TOL)
                 | (np.abs(demand - st.fast_arrivals_per_h * st.fast_mean_energy_kwh * dt) > TOL_KWH), name,
                 "arrivals or energy_demand_kwh differ from fast_demand")
    out += _first((cap < -TOL) | (cap > col(st.fast_max_kw) + TOL), name,
                  "power_cap_kw outside 0..dispensers x dispenser_max_kw")
    out += _first((served < -TOL_KWH) | (served > np.minimum(cap * dt, demand) + TOL_KWH), name,
                  "served_kwh above the cap's energy or the demand")
    wait = g("expected_wait_min")
    over = np.isnan(wait) | (wait > col(st.fast_target_wait_h) * 60 + 1e-6)
    short = cap < st.fast_min_cap_kw - TOL
    at_max = st.fast_min_cap_kw >= col(st.fast_max_kw) - TOL       # even every dispenser at full power is too slow
    out += _first(over & ~short & ~at_max, name, "expected wait over target although the cap is not below its minimum")
    ids = np.asarray(p.station_ids, dtype=object)[np.asarray(p.battery_station, dtype=np.int64)]
    for f, sid in enumerate(st.fast_ids):
        rows = batteries[batteries.station_id == sid]
        bat = (rows.charge_kw.to_numpy(float) - rows.discharge_kw.to_numpy(float)) if (ids == sid).any() else 0.0
        out += _first((np.abs(g("battery_kw")[f] - bat) > TOL)[None, :], lambda _, t: name(f, t),
                      "battery_kw differs from batteries.csv")
    return out
