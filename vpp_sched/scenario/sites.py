"""Read and check the demand tables of the swap and fast-charging stations.

``swap_demand.csv``: ``slot_start, station_id, swaps``; ``fast_demand.csv``: ``slot_start,
station_id, arrivals_per_hour, mean_energy_kwh``. Several stations may share one file (each names
it as ``demand``); each file is read once, with the table reader of :mod:`vpp_sched.scenario.tables`,
so every problem is one line naming the file, the row and the field. Rows outside the horizon are
ignored; every slot of the horizon must be there for every station that names the file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vpp_sched.errors import InputError, echo
from vpp_sched.scenario import tables
from vpp_sched.scenario.weather import read_weather_csv

#: Largest expected swaps in one slot, arrivals per hour and mean energy of a fast-charging session.
MAX_SWAPS_PER_SLOT = 10_000.0
MAX_ARRIVALS_PER_HOUR = 10_000.0
MAX_SESSION_KWH = 2_000.0

#: The value columns of each kind of demand table: name -> (minimum, maximum, unit).
SWAP_COLUMNS = {"swaps": (0.0, MAX_SWAPS_PER_SLOT, "")}
FAST_COLUMNS = {"arrivals_per_hour": (0.0, MAX_ARRIVALS_PER_HOUR, "1/h"),
                "mean_energy_kwh": (0.0, MAX_SESSION_KWH, "kWh")}


def read_site_tables(config, slots: pd.DatetimeIndex, transformer_ids: set[str] | None,
                     problems: tables.Problems, at) -> tuple[dict, dict]:
    """``({station_id: DataFrame [slots x value columns]}, {station_id: weather})`` of the swap and
    fast-charging stations; problems go to ``problems``. ``at(name, where)`` resolves a table path."""
    demand, weather = {}, {}
    for kind, stations, columns in (("swap_stations", config.swap_stations, SWAP_COLUMNS),
                                    ("fast_charging_stations", config.fast_charging_stations, FAST_COLUMNS)):
        for i, st in enumerate(stations):
            where = f"scenario.yaml: {kind}.{i} ({echo(st.station_id)})"
            if transformer_ids is not None and st.transformer_id not in transformer_ids:
                problems.add(f"{where}: transformer_id {echo(st.transformer_id)} is not in {config.transformers}")
            _site_weather(st, f"{kind}.{i}", where, slots, config.site.timezone, problems, at, weather)
        by_file: dict[str, list[str]] = {}
        for st in stations:
            by_file.setdefault(st.demand, []).append(st.station_id)
        for i, (name, ids) in enumerate(by_file.items()):
            path = at(name, f"{kind}.demand")
            if path is not None:
                demand.update(read_demand(path, name, config.site.timezone, slots, ids, columns, problems))
    return demand, weather


def _site_weather(st, key: str, where: str, slots, tz: str, problems, at, weather: dict) -> None:
    if st.pv is not None and st.pv.cloud_factor is not None and len(st.pv.cloud_factor) != len(slots):
        problems.add(f"{where}: pv.cloud_factor has {len(st.pv.cloud_factor)} values, the horizon {len(slots)} slots")
    if st.pv is None or st.pv.weather is None or (path := at(st.pv.weather, f"{key}.pv.weather")) is None:
        return
    try:
        weather[st.station_id] = read_weather_csv(path, tz, slots, label=st.pv.weather)
    except InputError as exc:
        for line in exc.problems:
            problems.add(line)


def read_demand(path, label: str, tz: str, slots: pd.DatetimeIndex, station_ids: list[str],
                columns: dict[str, tuple[float, float, str]], problems: tables.Problems) -> dict[str, pd.DataFrame]:
    """``{station_id: DataFrame [slots x columns]}`` of one demand file (only the stations that name it)."""
    t = tables.Table(path, label, "station_id", problems)
    if not t.ok or not t.require(["slot_start", "station_id", *columns]):
        return {}
    times = t.time("slot_start", tz)
    ids = t.text("station_id")
    values = {c: t.number(c, minimum=lo, maximum=hi, unit=unit) for c, (lo, hi, unit) in columns.items()}
    long = pd.DataFrame({"slot_start": times, "station_id": ids, **values})
    dup = long.duplicated(["slot_start", "station_id"], keep="first").to_numpy() & long.slot_start.notna().to_numpy()
    t.report(dup, "slot_start", lambda i: f"{times.iat[i].isoformat()} appears twice for station_id={echo(ids.iat[i])}")
    long = long[long.slot_start.isin(slots) & ~dup]
    out = {}
    for sid in station_ids:
        mine = long[long.station_id == sid].set_index("slot_start")
        missing = slots[~slots.isin(mine.index)]
        if len(missing):
            first = ", ".join(s.isoformat() for s in missing[:3])
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            problems.add(f"{label}: slot_start missing for station_id={echo(sid)}: {len(missing)} slot(s) of the "
                         f"horizon have no row ({first}{more})")
            continue
        out[sid] = mine.reindex(slots)[list(columns)].astype(float)
    return out


def demand_array(demand: dict, station_ids: list[str], column: str, n_slots: int) -> np.ndarray:
    """[S, T] one column of the demand tables for ``station_ids`` (0 where a station has no table)."""
    out = np.zeros((len(station_ids), n_slots))
    for i, sid in enumerate(station_ids):
        if sid in demand:
            out[i] = demand[sid][column].to_numpy(float)
    return out
