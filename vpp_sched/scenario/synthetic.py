"""Seeded synthetic scenarios from real statistics, for tests, benchmarks and demos.

Base load comes from the SimBench low-voltage benchmark grids (``rural1``, ``semiurb4``,
``urban6``); home-charging sessions from the ElaadNL statistics; both ship in
``vpp_sched/data`` (see its README for sources, licences and changes). Every function takes
a ``numpy.random.Generator`` or a seed and is deterministic: the same arguments write the same
bytes. Everything is vectorised over EVs and transformers, so 100,000 EVs on 2,000
transformers take a few seconds.

Times are handled as integer minutes after the horizon start and written as ISO 8601 with the
start's UTC offset. Local clock times (arrivals, tariff periods, DR windows) use the start's
wall clock, which assumes a fixed offset (true for China, which has no daylight saving).

This module assembles and writes the scenario; the base load is drawn in
:mod:`vpp_sched.scenario.synthetic_base_load`, the EV sessions (and their uncontrolled load) in
:mod:`vpp_sched.scenario.synthetic_sessions`, with the time helpers of
:mod:`vpp_sched.scenario.synthetic_common`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from vpp_sched.errors import ArgumentError
from vpp_sched.outfolder import OutFolder, check_target
from vpp_sched.scenario.config import ScenarioConfig
from vpp_sched.scenario.synthetic_base_load import GRIDS, base_load_matrix_kw, base_load_table
from vpp_sched.scenario.synthetic_common import iso_times, minutes_after, parse_start
from vpp_sched.scenario.synthetic_sessions import sample_home_evs, sample_station_sessions, uncontrolled_ev_load_kw

# County residential areas are mostly villages: favour the rural feeder's evening-peaked shape.
GRID_WEIGHTS = (0.5, 0.3, 0.2)
RATINGS_KVA = (160, 200, 250, 315, 400, 500, 630)
ZEZHOU_SITE = {"latitude": 35.49, "longitude": 112.85, "altitude_m": 700.0, "timezone": "Asia/Shanghai"}
# Illustrative Shanxi-like time-of-use prices (not an official tariff) [CNY/kWh].
SHANXI_TOU_PERIODS = [
    {"start": "00:00", "end": "07:00", "price_cny_per_kwh": 0.30},
    {"start": "07:00", "end": "08:00", "price_cny_per_kwh": 0.60},
    {"start": "08:00", "end": "11:00", "price_cny_per_kwh": 0.95},
    {"start": "11:00", "end": "17:00", "price_cny_per_kwh": 0.60},
    {"start": "17:00", "end": "22:00", "price_cny_per_kwh": 0.95},
    {"start": "22:00", "end": "23:00", "price_cny_per_kwh": 0.60},
    {"start": "23:00", "end": "24:00", "price_cny_per_kwh": 0.30},
]
EV_COLUMNS = ["ev_id", "transformer_id", "arrival", "departure", "energy_kwh", "max_power_kw", "min_power_kw"]


# ---------------------------------------------------------------- scenario assembly
def make_transformers(rng: np.random.Generator, n: int, *, prefix: str = "T",
                      feeder_size: int | None = 10) -> pd.DataFrame:
    """``transformer_id, rated_kva, power_factor, max_loading_pu[, feeder_id]`` for ``n`` transformers.

    Ratings are uniform over ``RATINGS_KVA``; consecutive transformers share a feeder of
    ``feeder_size`` (None: no feeders).
    """
    width = max(2, len(str(n)))
    table = pd.DataFrame({"transformer_id": [f"{prefix}{i + 1:0{width}d}" for i in range(n)],
                          "rated_kva": rng.choice(RATINGS_KVA, size=n).astype(float),
                          "power_factor": 0.95, "max_loading_pu": 1.0})
    if feeder_size:
        fw = max(2, len(str(-(-n // feeder_size))))
        table["feeder_id"] = [f"F{i // feeder_size + 1:0{fw}d}" for i in range(n)]
    return table


def limit_kw(transformers: pd.DataFrame) -> np.ndarray:
    """Usable active power ``rated_kva * power_factor * max_loading_pu`` [kW]."""
    return (transformers["rated_kva"] * transformers["power_factor"] * transformers["max_loading_pu"]).to_numpy(float)


def make_feeders(rng: np.random.Generator, transformers: pd.DataFrame) -> pd.DataFrame:
    """``feeder_id, capacity_kw`` at 70-80 % of the sum of the feeder's transformer limits,
    below the sum so that feeders can bind when many transformers peak together."""
    limits = pd.Series(limit_kw(transformers), index=transformers["feeder_id"]).groupby(level=0, sort=True).sum()
    share = rng.uniform(0.70, 0.80, size=len(limits))
    return pd.DataFrame({"feeder_id": limits.index, "capacity_kw": np.round(limits.to_numpy() * share, 1)})


def make_dr_event(rng: np.random.Generator, start: str | dt.datetime, slots: int, slot_minutes: int,
                  total_uncontrolled_kw: np.ndarray) -> dict:
    """One binding peak-shaving event for the whole portfolio, 23:00-01:00 on the first night.

    When the valley tariff starts at 23:00, price-driven charging piles up in a rebound peak
    above what uncontrolled charging would draw then; the province asks for the portfolio to stay
    10-15 % below the uncontrolled baseline. Orderly charging must spread the night's charging to
    deliver it, so the event binds (and a plan that ignores it overshoots the cap by the rebound).
    Notified at 12:00 the day before.
    """
    t0 = parse_start(start)
    first = (23 * 60 - (t0.hour * 60 + t0.minute)) % 1440
    if first + 120 > slots * slot_minutes:
        raise ArgumentError("the horizon holds no 23:00-01:00 window for a DR event")
    s0, s1 = first // slot_minutes, -(-(first + 120) // slot_minutes)
    peak = float(np.max(total_uncontrolled_kw[s0:s1]))
    begin, end = iso_times(t0, np.array([first, first + 120]))
    day = dt.datetime.fromisoformat(begin)
    notified = day.replace(hour=12, minute=0) - dt.timedelta(days=1)
    return {"event_id": "DR1", "start": begin, "end": end, "notified_at": notified.isoformat(), "scope": "all",
            "reduction_kw": round(peak * rng.uniform(0.10, 0.15), 0), "baseline": "uncontrolled",
            "price_cny_per_kwh": 3.0}


class _Dumper(yaml.SafeDumper):
    """Quotes clock times such as ``07:00`` so no reader takes them for YAML 1.1 base-60 numbers."""


_Dumper.add_representer(str, lambda d, v: d.represent_scalar(
    "tag:yaml.org,2002:str", v, style="'" if len(v) == 5 and v[2] == ":" and v.replace(":", "").isdigit() else None))


def write_scenario(out_dir: str | Path, config: dict, tables: dict[str, pd.DataFrame]) -> Path:
    """Validate ``config`` with :class:`ScenarioConfig`, then write it and the CSV tables into ``out_dir``.

    ``tables`` maps file names to frames; time columns that are timestamps are written as ISO
    8601 with the horizon start's offset. Output is byte-deterministic. ``out_dir`` is the
    caller's own folder (an :class:`~vpp_sched.outfolder.OutFolder`'s ``tmp``, or the bundled
    demo's folder for its build script): commands write through :func:`generate_scenario`,
    which refuses a folder vpp-sched did not write.
    """
    ScenarioConfig.model_validate(config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = parse_start(config["horizon"]["start"])
    for name, frame in tables.items():
        frame = frame.copy()
        for col in ("arrival", "departure"):
            if col in frame and not pd.api.types.is_string_dtype(frame[col]):
                frame[col] = iso_times(t0, minutes_after(t0, frame[col]))
        frame.to_csv(out / name, index=False, lineterminator="\n")
    text = yaml.dump(config, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    (out / "scenario.yaml").write_text(text, encoding="utf-8")
    return out


def station_config(station_id: str, transformer_id: str, capacity_kwp: float, battery_kwh: float,
                   battery_kw: float, tilt_deg: float = 30.0) -> dict:
    """A ``stations`` entry: south-facing PV and a battery (efficiencies 0.95, SOC 0.1-0.95, start 0.5)."""
    return {"station_id": station_id, "transformer_id": transformer_id,
            "pv": {"capacity_kwp": float(capacity_kwp), "tilt_deg": float(tilt_deg), "azimuth_deg": 180.0},
            "battery": {"capacity_kwh": float(battery_kwh), "max_charge_kw": float(battery_kw),
                        "max_discharge_kw": float(battery_kw), "charge_efficiency": 0.95,
                        "discharge_efficiency": 0.95, "soc_min": 0.1, "soc_max": 0.95, "soc_initial": 0.5}}


def scenario_config(name: str, description: str, start: str | dt.datetime, slots: int, slot_minutes: int,
                    stations: list[dict], **extra) -> dict:
    """``scenario.yaml`` contents at the Zezhou site with the Shanxi-like tariff; ``extra`` keys are added."""
    return {"name": name, "description": description, "site": dict(ZEZHOU_SITE),
            "horizon": {"start": parse_start(start).isoformat(), "slots": slots, "slot_minutes": slot_minutes},
            "tariff": {"periods": [dict(p) for p in SHANXI_TOU_PERIODS]},
            "transformers": "transformers.csv", "base_load": "base_load.csv", "evs": "evs.csv",
            "stations": stations, "dr_events": [], **extra}


def _stations(rng: np.random.Generator, count: int, sessions: int, feeders, start: dt.datetime, slots: int,
              slot_minutes: int) -> tuple[pd.DataFrame, list[dict], list[pd.DataFrame]]:
    """Transformer rows, ``stations`` entries and DC sessions of ``count`` generic stations."""
    ids = [f"TS{i + 1:02d}" for i in range(count)]
    rows = pd.DataFrame({"transformer_id": ids, "rated_kva": 400.0, "power_factor": 0.95, "max_loading_pu": 1.0})
    if feeders is not None:
        rows["feeder_id"] = [feeders[i % len(feeders)] for i in range(count)]
    configs, visits = [], []
    for i, tid in enumerate(ids):
        configs.append(station_config(f"PV{i + 1:02d}", tid, round(rng.uniform(100, 300), -1), 200.0, 100.0))
        visit = sample_station_sessions(rng, sessions, start, slots, slot_minutes)
        visit.insert(0, "transformer_id", tid)
        visit.insert(0, "ev_id", [f"{tid}-{k + 1:03d}" for k in range(sessions)])
        visits.append(visit)
    return rows, configs, visits


V2G_BATTERY_KWH = (50.0, 60.0, 72.0, 80.0, 100.0)   # usable packs of common Chinese BEVs [kWh]


def add_v2g_columns(rng: np.random.Generator, ev_table: pd.DataFrame, n_home: int, share: float) -> pd.DataFrame:
    """``v2g, max_discharge_kw, battery_kwh, soc_arrival`` for ``share`` of the first ``n_home`` EVs.

    A V2G EV discharges at up to its charger's power; its pack is drawn from ``V2G_BATTERY_KWH``
    but at least the smallest that holds its request within 90 % (requests above 90 kWh: no
    V2G); it arrives at 30-70 % but never so full that the request would not fit (1 % margin,
    at a charge efficiency of 1).
    """
    out = ev_table.copy()
    n = len(out)
    energy = out.energy_kwh.to_numpy()
    packs = np.asarray(V2G_BATTERY_KWH)
    v2g = np.zeros(n, dtype=bool)
    v2g[:n_home] = rng.random(n_home) < share
    v2g &= energy <= 0.9 * packs.max()
    smallest = packs[np.minimum(np.searchsorted(packs, energy / 0.9), len(packs) - 1)]
    battery = np.maximum(rng.choice(packs, size=n), smallest)
    soc = np.minimum(rng.uniform(0.3, 0.7, n), 0.99 - energy / battery)
    out["v2g"] = np.where(v2g, "true", "false")
    out["max_discharge_kw"] = np.where(v2g, out.max_power_kw, np.nan)
    out["battery_kwh"] = np.where(v2g, battery, np.nan)
    out["soc_arrival"] = np.where(v2g, np.round(np.clip(soc, 0.0, 1.0), 3), np.nan)
    return out


def _add_sites(config: dict, tables: dict, table: pd.DataFrame, base: np.ndarray, rng: np.random.Generator,
               n_swap: int, n_fast: int, t0, slots: int, slot_minutes: int) -> None:
    """Append swap and fast-charging stations, with their transformers and base load, to ``config``/``tables``."""
    from vpp_sched.scenario.synthetic_sites import site_block

    rows, site_base, site_config, demand = site_block(rng, n_swap, n_fast, t0, slots, slot_minutes, base_load_matrix_kw)
    both = pd.concat([table, rows], ignore_index=True)
    tables["transformers.csv"] = both
    tables["base_load.csv"] = base_load_table(both["transformer_id"], np.concatenate([base, site_base]), t0, slot_minutes)
    config.update(site_config)
    tables.update(demand)


def generate_scenario(out_dir: str | Path, *, transformers: int, evs: int, stations: int = 0,
                      dr_event: bool = False, min_power=None, seed: int = 0,
                      start: str | dt.datetime = "2026-11-27T12:00:00+08:00", slots: int = 96,
                      slot_minutes: int = 15, name: str | None = None, feeder_size: int | None = 10,
                      station_sessions: int = 25, v2g_share: float = 0.0, force: bool = False,
                      swap_stations: int = 0, fast_stations: int = 0) -> Path:
    """Write a seeded synthetic scenario folder and return its path.

    ``transformers`` residential transformers (ratings from ``RATINGS_KVA``, base-load peak
    45-65 % of the limit, shape from a SimBench grid drawn with ``GRID_WEIGHTS``) carry
    ``evs`` home EVs (:func:`sample_home_evs`, ``min_power`` as there), each on a transformer
    drawn with probability proportional to its rating. Each of ``stations`` stations adds its
    own 400 kVA transformer ``TS..`` (base load peaking at 5 % of its limit), 100-300 kWp of
    PV, a 200 kWh / 100 kW battery and ``station_sessions`` DC sessions
    (:func:`sample_station_sessions`): the files hold ``transformers + stations``
    transformers and ``evs + stations * station_sessions`` sessions. Feeders group
    ``feeder_size`` consecutive transformers (None: no ``feeders.csv``); the tariff is
    ``SHANXI_TOU_PERIODS``; ``dr_event`` adds one :func:`make_dr_event`; ``v2g_share`` of the
    home EVs may discharge (:func:`add_v2g_columns`, its own seeded stream: the rest is unchanged).
    ``swap_stations`` and ``fast_stations`` add issue 14's sites, each on its own transformer
    (:func:`vpp_sched.scenario.synthetic_sites.site_block`, its own seeded stream too).
    ``out_dir`` must be new, empty or an earlier scenario folder of vpp-sched's with ``force``
    (:class:`~vpp_sched.outfolder.OutFolderError` otherwise, before any work).
    """
    if transformers < 1 or evs < 0 or stations < 0:
        raise ArgumentError("need transformers >= 1, evs >= 0 and stations >= 0")
    check_target(out_dir, "scenario", force=force)
    rng = np.random.default_rng(seed)
    t0 = parse_start(start)
    homes = make_transformers(rng, transformers, feeder_size=feeder_size)
    feeders = homes["feeder_id"].unique() if feeder_size else None
    station_rows, configs, visits = _stations(rng, stations, station_sessions, feeders, t0, slots, slot_minutes)
    table = pd.concat([homes, station_rows], ignore_index=True)
    grids = [str(g) for g in rng.choice(GRIDS, size=transformers, p=GRID_WEIGHTS)] + ["semiurb4"] * stations
    share = np.concatenate([rng.uniform(0.45, 0.65, transformers), np.full(stations, 0.05)])
    base = np.round(base_load_matrix_kw(rng, grids, limit_kw(table) * share, t0, slots, slot_minutes), 2)
    cars = sample_home_evs(rng, evs, t0, slots, slot_minutes, min_power=min_power)
    weight = homes["rated_kva"].to_numpy() / homes["rated_kva"].sum()
    cars.insert(0, "transformer_id", homes["transformer_id"].to_numpy()[rng.choice(transformers, size=evs, p=weight)])
    cars.insert(0, "ev_id", [f"E{i + 1:0{max(2, len(str(evs)))}d}" for i in range(evs)])
    ev_table = pd.concat([cars, *visits], ignore_index=True)[EV_COLUMNS]
    if v2g_share > 0:
        ev_table = add_v2g_columns(np.random.default_rng([seed, 2]), ev_table, evs, v2g_share)
    config = scenario_config(name or f"synthetic-{transformers}tr-{evs}ev-seed{seed}",
                             f"Synthetic scenario from vpp_sched.scenario.synthetic.generate_scenario(transformers="
                             f"{transformers}, evs={evs}, stations={stations}, seed={seed})",
                             t0, slots, slot_minutes, configs)
    tables = {"transformers.csv": table, "evs.csv": ev_table,
              "base_load.csv": base_load_table(table["transformer_id"], base, t0, slot_minutes)}
    if feeder_size:
        config["feeders"] = "feeders.csv"
        tables["feeders.csv"] = make_feeders(rng, table)
    if dr_event:
        ev_load = uncontrolled_ev_load_kw(ev_table, table["transformer_id"], t0, slots, slot_minutes)
        config["dr_events"] = [make_dr_event(rng, t0, slots, slot_minutes, base.sum(axis=0) + ev_load.sum(axis=0))]
    if swap_stations or fast_stations:
        _add_sites(config, tables, table, base, np.random.default_rng([seed, 3]), swap_stations, fast_stations,
                   t0, slots, slot_minutes)
    with OutFolder(out_dir, "scenario", force=force) as folder:
        write_scenario(folder.tmp, config, tables)
    return folder.path
