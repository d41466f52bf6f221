"""Load a scenario folder (``scenario.yaml`` + CSV tables) into a checked, immutable :class:`Scenario`.

Every problem found is collected and raised together as one :class:`~vpp_sched.errors.InputError`,
one line per problem, each naming the file, the row and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pydantic
import yaml

from vpp_sched import tables
from vpp_sched.config import ScenarioConfig
from vpp_sched.errors import InputError
from vpp_sched.timeutil import dt_hours, slot_index, to_local

DEFAULT_SCENARIO = "zezhou-demo"


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: the YAML settings and the tables, aligned to the horizon's slots."""

    config: ScenarioConfig
    folder: Path
    slots: pd.DatetimeIndex
    transformers: pd.DataFrame          # one row per transformer, + limit_kw, rating_kw
    feeders: pd.DataFrame               # feeder_id, capacity_kw (may be empty)
    base_load_kw: pd.DataFrame          # [slots x transformer_id]
    evs: pd.DataFrame                   # one row per EV, tz-aware arrival/departure
    price_cny_per_kwh: pd.Series        # [slots]
    weather: dict                       # station_id -> DataFrame of ghi, dni, dhi, temp_air (or absent)
    load_history: pd.DataFrame | None = None  # slot_start (tz-aware), scope_id, load_kw: metered, for DR baselines

    @property
    def tz(self) -> str:
        return self.config.site.timezone

    @property
    def dt_h(self) -> float:
        return dt_hours(self.config.horizon.slot_minutes)


def default_scenario_path() -> Path:
    """The bundled default scenario: package data in an install, ``scenarios/`` in a checkout."""
    packaged = resources.files("vpp_sched") / "scenarios" / DEFAULT_SCENARIO
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "scenarios" / DEFAULT_SCENARIO


def read_config(path: Path) -> tuple[ScenarioConfig, Path]:
    """Parse and validate ``scenario.yaml`` (``path`` is the file or its folder)."""
    path = Path(path)
    file = path / "scenario.yaml" if path.is_dir() else path
    label = file.name
    if not file.exists():
        raise InputError([f"{file}: scenario not found (give a folder with scenario.yaml, or a .yaml file)"])
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise InputError([f"{label}: malformed YAML{where}: {reason}"]) from None
    except UnicodeDecodeError as exc:
        raise InputError([f"{label}: not UTF-8 text ({exc.reason})"]) from None
    if not isinstance(data, dict):
        raise InputError([f"{label}: expected a mapping of keys (name, site, horizon, ...), found {type(data).__name__}"])
    try:
        return ScenarioConfig.model_validate(data), file.parent
    except pydantic.ValidationError as exc:
        raise InputError([_pydantic_line(label, err) for err in exc.errors()]) from None


def _pydantic_line(label: str, err: dict) -> str:
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    if err["type"] == "extra_forbidden":
        return f"{label}: {loc}: unknown key (check its spelling; `vpp-sched schema` lists the keys)"
    if err["type"] == "missing":
        return f"{label}: {loc}: required key is missing"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{label}: {loc}: {msg} (got {err.get('input')!r})"


def load_scenario(path: Path | str | None = None) -> Scenario:
    """Read, check and align a scenario. ``None`` loads the bundled default scenario.

    Raises
    ------
    InputError
        With one line per problem in the YAML or in any table.
    """
    config, folder = read_config(Path(path) if path is not None else default_scenario_path())
    tz = config.site.timezone
    h = config.horizon
    slots = slot_index(h.start, h.slots, h.slot_minutes, tz)
    problems = tables.Problems()

    trafos = tables.read_transformers(folder / config.transformers, config.transformers, problems)
    ids = list(trafos.transformer_id) if trafos is not None else None
    feeders = _read_feeders(config, folder, trafos, problems)
    base = tables.read_slot_table(folder / config.base_load, config.base_load, tz, slots,
                                  "transformer_id", "load_kw", ids, problems, config.transformers)
    evs = tables.read_evs(folder / config.evs, config.evs, tz, set(ids) if ids else None, problems,
                          config.transformers, charge_efficiency=config.v2g.charge_efficiency)
    price = _price(config, folder, slots, problems)
    weather = _stations_and_events(config, folder, slots, set(ids or []), problems)
    history = None
    if config.load_history is not None:
        history = tables.read_load_history(folder / config.load_history, config.load_history, tz, problems)
    if problems:
        raise InputError(problems.close())
    return Scenario(config=config, folder=folder, slots=slots,
                    transformers=trafos.drop(columns=[]).reset_index(drop=True),
                    feeders=feeders, base_load_kw=base, evs=evs.reset_index(drop=True),
                    price_cny_per_kwh=price, weather=weather, load_history=history)


def _read_feeders(config, folder, trafos, problems) -> pd.DataFrame:
    if config.feeders is None:
        return pd.DataFrame({"feeder_id": pd.Series(dtype=str), "capacity_kw": pd.Series(dtype=float)})
    feeders = tables.read_feeders(folder / config.feeders, config.feeders, problems)
    if feeders is not None and trafos is not None:
        trafos.attrs["source"].known("feeder_id", set(feeders.feeder_id), f"feeder_id in {config.feeders}")
    return feeders if feeders is not None else pd.DataFrame(columns=["feeder_id", "capacity_kw"])


def _price(config, folder, slots, problems) -> pd.Series | None:
    tariff = config.tariff
    if tariff.table is not None:
        wide = tables.read_slot_table(folder / tariff.table, tariff.table, config.site.timezone, slots,
                                      None, "price_cny_per_kwh", None, problems, minimum=0.0)
        return None if wide is None else wide["value"].rename("price_cny_per_kwh")
    minute = (slots.hour * 60 + slots.minute).to_numpy()
    price = np.full(len(slots), np.nan)
    for p in tariff.periods:
        start, end = p.minutes()
        inside = (minute >= start) & (minute < end) if start < end else (minute >= start) | (minute < end)
        price[inside] = p.price_cny_per_kwh
    return pd.Series(price, index=slots, name="price_cny_per_kwh")


def _stations_and_events(config, folder, slots, ids: set[str], problems) -> dict:
    """Check stations and DR events against the tables; read station weather files."""
    weather = {}
    for i, st in enumerate(config.stations):
        where = f"scenario.yaml: stations.{i} ({st.station_id})"
        if ids and st.transformer_id not in ids:
            problems.add(f"{where}: transformer_id {st.transformer_id} is not in {config.transformers}")
        if st.pv is not None and st.pv.cloud_factor is not None and len(st.pv.cloud_factor) != len(slots):
            problems.add(f"{where}: pv.cloud_factor has {len(st.pv.cloud_factor)} values, the horizon "
                         f"{len(slots)} slots")
        if st.pv is not None and st.pv.weather is not None:
            from vpp_sched.forecast.pv import read_weather_csv
            try:
                weather[st.station_id] = read_weather_csv(folder / st.pv.weather, config.site.timezone, slots,
                                                          label=st.pv.weather)
            except InputError as exc:
                for line in exc.problems:
                    problems.add(line)
    for i, ev in enumerate(config.dr_events):
        where = f"scenario.yaml: dr_events.{i} ({ev.event_id})"
        stations = {st.station_id for st in config.stations}
        if ev.scope != "all":
            for tid in ev.scope:
                if ids and tid not in ids and tid not in stations:
                    problems.add(f"{where}: scope names {tid}, neither a transformer_id in {config.transformers} "
                                 "nor a station_id")
        mask = event_slot_mask(slots, config.horizon.slot_minutes, ev.start, ev.end, config.site.timezone)
        if not mask.any():
            problems.add(f"{where}: start..end ({ev.start.isoformat()} to {ev.end.isoformat()}) covers no "
                         "whole slot of the horizon")
    return weather


def event_slot_mask(slots: pd.DatetimeIndex, slot_minutes: int, start, end, tz: str) -> np.ndarray:
    """[T] bool: slots lying wholly inside ``[start, end)``."""
    start, end = to_local(start, tz), to_local(end, tz)
    slot_end = slots + pd.Timedelta(minutes=slot_minutes)
    return np.asarray((slots >= start) & (slot_end <= end))
