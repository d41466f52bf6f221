"""Seeded synthetic swap and fast-charging stations: their ``scenario.yaml`` entries and demand tables.

Sizes follow public figures where they exist (``vpp_sched/data/README.md``, "Swap and fast-charging
stations"): heavy-truck swap stations at mines hold 8-10 packs of 280-282 kWh on 8 chargers of
300 kW and serve about 150 swaps a day; passenger-car stations hold 13 (NIO's second generation)
to 21 (third) packs of 75-100 kWh on 60-80 kW modules. The daily shapes and the fast-charging
arrival rates are assumptions, stated in :data:`SHAPES` and :data:`FAST_KINDS`. Holidays come from
``vpp_sched/data/cn_holidays.csv`` (State Council), so a holiday day differs from a working day.
"""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pandas as pd

from vpp_sched.scenario.synthetic_common import data_bytes, iso_times, parse_start

#: Swap-station kinds: their settings and swaps per day.
SWAP_KINDS = {
    "heavy_truck": {"vehicle": "heavy_truck", "packs": 10, "pack_kwh": 282.0, "bays": 8, "bay_max_kw": 300.0,
                    "charge_efficiency": 0.95, "full_soc": 0.95, "returned_soc": 0.2, "swaps_per_day": 150.0,
                    "shape": "mine_shifts", "weekend_factor": 1.0, "holiday_factor": 0.8},
    "passenger_car": {"vehicle": "passenger_car", "packs": 13, "pack_kwh": 75.0, "bays": 13, "bay_max_kw": 60.0,
                      "charge_efficiency": 0.95, "full_soc": 0.9, "returned_soc": 0.2, "swaps_per_day": 120.0,
                      "shape": "town", "weekend_factor": 0.9, "holiday_factor": 1.2},
}
#: Fast-charging kinds (assumptions): dispensers, arrivals a working day, mean energy, day-type factors.
#: Holidays (toll-free for small passenger cars on China's expressways) and weekends bring more drivers.
FAST_KINDS = {
    "expressway": {"dispensers": 8, "dispenser_max_kw": 120.0, "target_wait_min": 10.0, "arrivals_per_day": 200.0,
                   "mean_energy_kwh": 30.0, "shape": "expressway", "weekend_factor": 1.3, "holiday_factor": 2.0},
    "tourist_road": {"dispensers": 8, "dispenser_max_kw": 60.0, "target_wait_min": 15.0, "arrivals_per_day": 60.0,
                     "mean_energy_kwh": 25.0, "shape": "tourist", "weekend_factor": 1.8, "holiday_factor": 2.5},
}
#: Daily shapes (assumptions): (floor, [(peak hour, width h, height), ...]) of a relative rate.
SHAPES = {
    "mine_shifts": (0.6, [(7.5, 1.0, 0.9), (15.5, 1.0, 0.9), (23.5, 1.0, 0.9)]),  # coal hauled in three shifts
    "town": (0.15, [(8.0, 1.5, 0.8), (12.5, 1.5, 0.5), (18.5, 2.0, 1.2)]),          # commuting, ride-hailing
    "expressway": (0.15, [(14.0, 4.5, 1.0)]),                                       # daytime through traffic
    "tourist": (0.02, [(12.5, 2.5, 1.0)]),                                          # day visitors
}


def hourly_shape(shape: str, hour: np.ndarray) -> np.ndarray:
    """Relative rate at clock ``hour`` [h] (peaks wrap round midnight) [-]."""
    floor, peaks = SHAPES[shape]
    out = np.full(len(hour), floor, dtype=float)
    for at, width, height in peaks:
        d = (np.asarray(hour, float) - at + 12) % 24 - 12
        out += height * np.exp(-0.5 * (d / width) ** 2)
    return out


def day_kinds(dates) -> np.ndarray:
    """``holiday``, ``weekend`` or ``working`` per date: cn_holidays.csv's holidays and adjusted working days."""
    table = pd.read_csv(io.BytesIO(data_bytes("cn_holidays.csv")), dtype=str)
    kind = dict(zip(table["date"], table["kind"]))
    out = []
    for d in dates:
        k = kind.get(d.isoformat())
        out.append("holiday" if k == "holiday" else "working" if k == "working_day" or d.weekday() < 5 else "weekend")
    return np.array(out, dtype=object)


def _rate_per_h(kind: dict, per_day: float, start: dt.datetime, slots: int, slot_minutes: int) -> tuple[np.ndarray, np.ndarray]:
    """[T] rate [1/h] with the day-type factors, and the slot start texts."""
    minutes = np.arange(slots) * slot_minutes
    times = [start + dt.timedelta(minutes=int(m)) for m in minutes]
    hour = np.array([t.hour + t.minute / 60 for t in times])
    grid = np.arange(0, 24, slot_minutes / 60)
    norm = hourly_shape(kind["shape"], grid).mean() * 24            # so a day's integral is per_day
    factor = {"working": 1.0, "weekend": kind["weekend_factor"], "holiday": kind["holiday_factor"]}
    day = np.array([factor[k] for k in day_kinds([t.date() for t in times])])
    return per_day * day * hourly_shape(kind["shape"], hour) / norm, iso_times(start, minutes)


def swap_demand(rng: np.random.Generator, station_id: str, kind: str, start, slots: int, slot_minutes: int,
                swaps_per_day: float | None = None) -> pd.DataFrame:
    """``slot_start, station_id, swaps``: expected swaps per slot, the shape times a seeded +-10 % noise."""
    spec = SWAP_KINDS[kind]
    rate, text = _rate_per_h(spec, spec["swaps_per_day"] if swaps_per_day is None else swaps_per_day,
                             parse_start(start), slots, slot_minutes)
    noise = rng.lognormal(0.0, 0.1, slots)
    return pd.DataFrame({"slot_start": text, "station_id": station_id,
                         "swaps": np.round(rate * noise * slot_minutes / 60, 3)})


def fast_demand(rng: np.random.Generator, station_id: str, kind: str, start, slots: int, slot_minutes: int,
                arrivals_per_day: float | None = None) -> pd.DataFrame:
    """``slot_start, station_id, arrivals_per_hour, mean_energy_kwh`` with a seeded +-10 % noise on each."""
    spec = FAST_KINDS[kind]
    rate, text = _rate_per_h(spec, spec["arrivals_per_day"] if arrivals_per_day is None else arrivals_per_day,
                             parse_start(start), slots, slot_minutes)
    return pd.DataFrame({"slot_start": text, "station_id": station_id,
                         "arrivals_per_hour": np.round(rate * rng.lognormal(0.0, 0.1, slots), 3),
                         "mean_energy_kwh": np.round(spec["mean_energy_kwh"] * rng.lognormal(0.0, 0.05, slots), 2)})


def swap_station_config(station_id: str, transformer_id: str, kind: str, demand: str = "swap_demand.csv",
                        **overrides) -> dict:
    """A ``swap_stations`` entry of ``kind``: full packs at the start, as many kept for the next day."""
    spec = {k: v for k, v in SWAP_KINDS[kind].items() if k not in ("swaps_per_day", "shape", "weekend_factor",
                                                                      "holiday_factor")}
    full = float(round(0.7 * spec["packs"]))
    return {"station_id": station_id, "transformer_id": transformer_id, **spec, "initial_full_packs": full,
            "final_full_packs_min": full, "demand": demand, **overrides}


def fast_station_config(station_id: str, transformer_id: str, kind: str, demand: str = "fast_demand.csv",
                        **overrides) -> dict:
    """A ``fast_charging_stations`` entry of ``kind``."""
    spec = FAST_KINDS[kind]
    return {"station_id": station_id, "transformer_id": transformer_id, "dispensers": spec["dispensers"],
            "dispenser_max_kw": spec["dispenser_max_kw"], "target_wait_min": spec["target_wait_min"],
            "demand": demand, **overrides}


#: Transformer of each kind of site in generated scenarios: rated kVA, SimBench shape, base-load peak [kW],
#: and the battery a fast-charging station gets (None: none), so the plan can keep the limit.
SITE_TRANSFORMER = {
    "heavy_truck": (2500.0, "semiurb4", 500.0, None),
    "passenger_car": (630.0, "urban6", 250.0, None),
    "expressway": (800.0, "semiurb4", 150.0, {"capacity_kwh": 600.0, "max_charge_kw": 300.0, "max_discharge_kw": 300.0,
                                              "soc_initial": 0.8, "soc_max": 0.95}),
    "tourist_road": (400.0, "semiurb4", 20.0, {"capacity_kwh": 300.0, "max_charge_kw": 150.0, "max_discharge_kw": 150.0,
                                               "soc_initial": 0.8, "soc_max": 0.95}),
}


def site_block(rng: np.random.Generator, n_swap: int, n_fast: int, start, slots: int, slot_minutes: int,
               base_load_matrix_kw) -> tuple[pd.DataFrame, np.ndarray, dict, dict[str, pd.DataFrame]]:
    """``n_swap`` swap stations (heavy-truck and passenger-car in turn, transformers ``TW..``) and
    ``n_fast`` fast-charging stations (expressway and tourist road in turn, ``TF..``), each on its own
    transformer: (transformer rows, base load [n, T], config keys, demand tables).
    ``base_load_matrix_kw`` is :func:`vpp_sched.scenario.synthetic_base_load.base_load_matrix_kw`."""
    swap_kinds = [("heavy_truck", "passenger_car")[i % 2] for i in range(n_swap)]
    fast_kinds = [("expressway", "tourist_road")[i % 2] for i in range(n_fast)]
    ids = [f"TW{i + 1:02d}" for i in range(n_swap)] + [f"TF{i + 1:02d}" for i in range(n_fast)]
    specs = [SITE_TRANSFORMER[k] for k in swap_kinds + fast_kinds]
    rows = pd.DataFrame({"transformer_id": ids, "rated_kva": [s[0] for s in specs], "power_factor": 0.95,
                         "max_loading_pu": 1.0})
    base = np.round(base_load_matrix_kw(rng, [s[1] for s in specs], np.array([s[2] for s in specs]), start, slots,
                                        slot_minutes), 2) if ids else np.zeros((0, slots))
    swap_cfg, fast_cfg, swap_tables, fast_tables = [], [], [], []
    for i, kind in enumerate(swap_kinds):
        sid = f"swap-{i + 1:02d}"
        swap_cfg.append(swap_station_config(sid, ids[i], kind))
        swap_tables.append(swap_demand(rng, sid, kind, start, slots, slot_minutes))
    for i, kind in enumerate(fast_kinds):
        sid, battery = f"fast-{i + 1:02d}", SITE_TRANSFORMER[kind][3]
        fast_cfg.append(fast_station_config(sid, ids[n_swap + i], kind, **({"battery": dict(battery)} if battery else {})))
        fast_tables.append(fast_demand(rng, sid, kind, start, slots, slot_minutes))
    config, tables = {}, {}
    if n_swap:
        config["swap_stations"], tables["swap_demand.csv"] = swap_cfg, pd.concat(swap_tables, ignore_index=True)
    if n_fast:
        config["fast_charging_stations"], tables["fast_demand.csv"] = fast_cfg, pd.concat(fast_tables, ignore_index=True)
    return rows, base, config, tables
