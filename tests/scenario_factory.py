"""Write small scenario folders in the section-3 format for tests (the issue's minimal example).

The scenario's day is fixed (``START``, 2026-11-27 noon): right for every test where nothing compares
it with the wall clock. Where something does (a real OpenADR VTN delivers only events that have not
ended), move the day with ``write_scenario(..., day_start=next_local_noon())``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

START = "2026-11-27T12:00:00+08:00"
TZ = "Asia/Shanghai"

MINIMAL_YAML = {
    "name": "example",
    "site": {"latitude": 35.49, "longitude": 112.85, "altitude_m": 700, "timezone": TZ},
    "horizon": {"start": START, "slots": 96, "slot_minutes": 15},
    "tariff": {"periods": [
        {"start": "00:00", "end": "08:00", "price_cny_per_kwh": 0.30},
        {"start": "08:00", "end": "17:00", "price_cny_per_kwh": 0.60},
        {"start": "17:00", "end": "24:00", "price_cny_per_kwh": 0.90}]},
    "transformers": "transformers.csv",
    "base_load": "base_load.csv",
    "evs": "evs.csv",
    "stations": [],
    "dr_events": [],
}

TRANSFORMERS = pd.DataFrame({"transformer_id": ["T1", "T2"], "rated_kva": [100.0, 160.0],
                             "power_factor": [0.95, 0.95], "max_loading_pu": [1.0, 1.0]})

EVS = pd.DataFrame({
    "ev_id": ["E1", "E2", "E3", "E4", "E5"],
    "transformer_id": ["T1", "T1", "T1", "T2", "T2"],
    "arrival": ["2026-11-27T18:00:00+08:00", "2026-11-27T18:40:00+08:00", "2026-11-27T19:10",
                "2026-11-27T17:30:00+08:00", "2026-11-28T08:10:00+08:00"],
    "departure": ["2026-11-28T07:00:00+08:00", "2026-11-28T07:30:00+08:00", "2026-11-28T06:50",
                  "2026-11-28T08:00:00+08:00", "2026-11-28T11:50:00+08:00"],
    "energy_kwh": [20.0, 30.0, 12.0, 40.0, 10.0],
    "max_power_kw": [7.0, 7.0, 3.5, 11.0, 7.0],
    "min_power_kw": [1.4, 0.0, 1.4, 4.2, 0.0],
})


def base_load_frame(transformers: pd.DataFrame, start: str = START, slots: int = 96, slot_minutes: int = 15,
                    peak_share: float = 0.6) -> pd.DataFrame:
    """An evening-peaked residential shape per transformer, peak = peak_share x limit [kW]."""
    idx = pd.date_range(pd.Timestamp(start), periods=slots, freq=f"{slot_minutes}min")
    hour = idx.hour + idx.minute / 60
    shape = 0.45 + 0.25 * np.exp(-((hour - 12.5) / 2.5) ** 2) + 0.55 * np.exp(-((hour - 19.5) / 2.0) ** 2)
    shape = shape / shape.max()
    rows = []
    for t in transformers.itertuples():
        limit = t.rated_kva * t.power_factor * t.max_loading_pu
        rows.append(pd.DataFrame({"slot_start": [s.isoformat() for s in idx], "transformer_id": t.transformer_id,
                                  "load_kw": np.round(peak_share * limit * shape, 3)}))
    return pd.concat(rows, ignore_index=True)


def next_local_noon(now: pd.Timestamp | None = None, tz: str = TZ) -> pd.Timestamp:
    """The first local noon strictly after ``now`` (default: the wall clock) in ``tz``."""
    now = (pd.Timestamp.now(tz=tz) if now is None else pd.Timestamp(now)).tz_convert(tz)
    noon = now.normalize() + pd.Timedelta(hours=12)
    return noon if noon > now else noon + pd.Timedelta(days=1)


def shift_times(column: pd.Series, delta: pd.Timedelta) -> pd.Series:
    """ISO 8601 texts moved by ``delta``, each keeping its form (with or without UTC offset)."""
    return pd.Series([(pd.Timestamp(v) + delta).isoformat() for v in column], index=column.index)


def write_scenario(folder: Path, yaml_overrides: dict | None = None, transformers: pd.DataFrame | None = None,
                   evs: pd.DataFrame | None = None, base_load: pd.DataFrame | None = None,
                   extra_files: dict[str, pd.DataFrame] | None = None,
                   day_start: pd.Timestamp | str | None = None) -> Path:
    """Write scenario.yaml and its tables to ``folder``; returns the folder.

    ``day_start`` (a local noon, e.g. :func:`next_local_noon`) moves the day: the horizon starts
    there and the EVs' arrivals and departures move by whole days with it (the base load follows
    the horizon), so the scenario is the same at another date. Default: ``START``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {**MINIMAL_YAML, **(yaml_overrides or {})}
    transformers = TRANSFORMERS if transformers is None else transformers
    evs = EVS if evs is None else evs
    if day_start is not None:
        delta = pd.Timestamp(day_start) - pd.Timestamp(config["horizon"]["start"])
        if delta % pd.Timedelta(days=1):
            raise ValueError(f"day_start {day_start} is not a whole number of days from {config['horizon']['start']}")
        config["horizon"] = {**config["horizon"], "start": pd.Timestamp(day_start).isoformat()}
        evs = evs.assign(**{c: shift_times(evs[c], delta) for c in ("arrival", "departure") if c in evs})
    if base_load is None:
        h = config["horizon"]
        base_load = base_load_frame(transformers, h["start"], h["slots"], h.get("slot_minutes", 15))
    (folder / "scenario.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    transformers.to_csv(folder / "transformers.csv", index=False)
    evs.to_csv(folder / "evs.csv", index=False)
    base_load.to_csv(folder / "base_load.csv", index=False)
    for name, df in (extra_files or {}).items():
        df.to_csv(folder / name, index=False)
    return folder
