"""Load a scenario folder (``scenario.yaml`` + CSV tables) into a checked, immutable :class:`Scenario`.

Every problem found is collected and raised together as one :class:`~vpp_sched.errors.InputError`,
one line per problem, each naming the file, the row and the field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pydantic

from vpp_sched.scenario import tables
from vpp_sched.scenario.config import MAX_POWER_KW, MAX_PRICE_CNY_PER_KWH, ScenarioConfig
from vpp_sched.errors import InputError, echo, quoted
from vpp_sched.scenario.safe_yaml import load_yaml
from vpp_sched.scenario.sites import read_site_tables
from vpp_sched.scenario.tariff_presets import preset_prices
from vpp_sched.scenario.timeutil import dt_hours, local_time_problem, slot_index, to_local
from vpp_sched.scenario.weather import read_weather_csv
from vpp_sched.scenario.grid import attach_grids

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
    site_demand: dict | None = None     # station_id -> [slots x demand columns] of swap/fast stations (scenario.sites)
    grids: dict = field(default_factory=dict)  # transformer_id -> LvGrid (scenario/grid.py), where one is named

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
    return Path(__file__).resolve().parents[2] / "scenarios" / DEFAULT_SCENARIO


#: Environment variable that, set to 1, lets a scenario name tables outside its folder.
ALLOW_OUTSIDE_ENV = "VPP_SCHED_ALLOW_OUTSIDE_TABLES"


def read_config(path: Path) -> tuple[ScenarioConfig, Path]:
    """Parse and validate ``scenario.yaml`` (``path`` is the file or its folder)."""
    path = Path(path)
    file = path / "scenario.yaml" if path.is_dir() else path
    label = file.name
    if not file.exists():
        raise InputError([f"{file}: scenario not found (give a folder with scenario.yaml, or a .yaml file)"])
    data = load_yaml(file, label)
    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        raise InputError([f"{label}: expected a mapping of keys (name, site, horizon, ...), found {found}"])
    try:
        config = ScenarioConfig.model_validate(data)
    except pydantic.ValidationError as exc:
        raise InputError(_pydantic_lines(label, exc.errors())) from None
    local = _local_time_problems(config, label)
    if local:
        raise InputError(local)
    return config, file.parent


def _pydantic_lines(label: str, errors: list[dict]) -> list[str]:
    """One line per problem; a union's alternatives (``scope: 'all' | [ids]``) are one problem, and
    a list field's bad items (96 NaN cloud factors) are capped like a table's field."""
    problems, seen = tables.Problems(), set()
    for err in errors:
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
        if len(loc) < len(err["loc"]):      # an alternative of a union: the first one says it
            if loc in seen:
                continue
            seen.add(loc)
            err = {**err, "msg": err["msg"] + ", or one of the other forms `vpp-sched schema` lists"}
        generic = ["N" if isinstance(p, int) else str(p) for p in loc]
        if err["type"] == "extra_forbidden":     # 10,000 stray keys are one kind of mistake
            generic[-1:] = ["(unknown keys)"]
        field = ".".join(generic)
        problems.add(_pydantic_line(label, {**err, "loc": loc}), (label, field))
    return problems.close()


def _pydantic_line(label: str, err: dict) -> str:
    loc = ".".join(echo(str(p), 40) for p in err["loc"]) or "(top level)"
    if err["type"] == "extra_forbidden":
        return f"{label}: {loc}: unknown key (check its spelling; `vpp-sched schema` lists the keys)"
    if err["type"] == "missing":
        return f"{label}: {loc}: required key is missing"
    msg = echo(err["msg"].removeprefix("Value error, "), 300)
    return f"{label}: {loc}: {msg} (got {quoted(err.get('input'))})"


def _local_time_problems(config: ScenarioConfig, label: str) -> list[str]:
    """Times of the YAML written without offset that fall in a daylight-saving change of the site's zone."""
    tz = config.site.timezone
    named = [("horizon.start", config.horizon.start)]
    for i, ev in enumerate(config.dr_events):
        named += [(f"dr_events.{i}.{k}", getattr(ev, k)) for k in ("start", "end", "notified_at")]
    return [f"{label}: {where}: {problem}" for where, ts in named
            if ts is not None and (problem := local_time_problem(ts, tz))]


def allow_outside_default() -> bool:
    """Whether tables outside the scenario folder may be read when the caller does not say (the env variable)."""
    return os.environ.get(ALLOW_OUTSIDE_ENV, "").strip().lower() in {"1", "true", "yes"}


def table_path(folder: Path, name: str, where: str, problems: tables.Problems, allow_outside: bool) -> Path | None:
    """The file a table name in scenario.yaml stands for, or ``None`` (and a problem) when it may not be read.

    A scenario is a folder: its tables are read from inside it (symlinks resolved), so a
    scenario from someone else cannot make the tool read, and quote, ``/etc/passwd`` or
    ``~/.ssh``. ``allow_outside`` (``VPP_SCHED_ALLOW_OUTSIDE_TABLES=1`` in the environment, for
    every command) lifts the rule for a trusted scenario that shares tables with others.
    """
    if any(not c.isprintable() for c in name):
        problems.add(f"scenario.yaml: {where}: {quoted(name)} is not a file name (it has a control character)")
        return None
    path = folder / name
    if allow_outside:
        return path
    try:
        inside = path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError, ValueError):   # a symlink loop, a NUL in the name
        inside = False
    if not inside:
        problems.add(f"scenario.yaml: {where}: {echo(name, 200)} is outside the scenario folder; tables are read "
                     f"only from inside it (symlinks resolved); set {ALLOW_OUTSIDE_ENV}=1 to allow it")
        return None
    return path


def load_scenario(path: Path | str | None = None, allow_outside_tables: bool | None = None) -> Scenario:
    """Read, check and align a scenario. ``None`` loads the bundled default scenario.

    ``allow_outside_tables`` lets tables live outside the scenario folder (``None``: as the
    ``VPP_SCHED_ALLOW_OUTSIDE_TABLES`` environment variable says, else no).

    Raises
    ------
    InputError
        With one line per problem in the YAML or in any table.
    """
    config, folder = read_config(Path(path) if path is not None else default_scenario_path())
    allow = allow_outside_default() if allow_outside_tables is None else allow_outside_tables
    tz = config.site.timezone
    h = config.horizon
    slots = slot_index(h.start, h.slots, h.slot_minutes, tz)
    problems = tables.Problems()

    def at(name: str, where: str) -> Path | None:
        return table_path(folder, name, where, problems, allow)

    trafo_path = at(config.transformers, "transformers")
    trafos = tables.read_transformers(trafo_path, config.transformers, problems) if trafo_path else None
    # Other tables are checked against the transformer ids only when all of them could be read:
    # a bad id in transformers.csv is one problem, not also "unknown transformer" in every table.
    trafos_ok = trafos is not None and len(trafos) > 0 and trafos.attrs["source"].ids_complete("transformer_id")
    ids = list(trafos.transformer_id) if trafos_ok else None
    feeders = _read_feeders(config, trafos, problems, at)
    base_path, evs_path = at(config.base_load, "base_load"), at(config.evs, "evs")
    base = evs = None
    if base_path:
        base = tables.read_slot_table(base_path, config.base_load, tz, slots, "transformer_id", "load_kw", ids,
                                      problems, config.transformers, minimum=-MAX_POWER_KW, maximum=MAX_POWER_KW,
                                      unit="kW")
    if evs_path:
        evs = tables.read_evs(evs_path, config.evs, tz, set(ids) if ids is not None else None, problems,
                              config.transformers, charge_efficiency=config.v2g.charge_efficiency)
    price = _price(config, slots, problems, at)
    _check_demand_sites(config, ids, problems)
    weather = _stations_and_events(config, slots, ids, problems, at)
    site_demand, site_weather = read_site_tables(config, slots, set(ids) if ids is not None else None, problems, at)
    weather.update(site_weather)
    history = None
    if config.load_history is not None and (history_path := at(config.load_history, "load_history")):
        history = tables.read_load_history(history_path, config.load_history, tz, problems)
    grids = attach_grids(folder, config, trafos, evs, problems) if trafos is not None and evs is not None else {}
    if problems:
        raise InputError(problems.close())
    return Scenario(grids=grids, config=config, folder=folder, slots=slots,
                    transformers=trafos.drop(columns=[]).reset_index(drop=True),
                    feeders=feeders, base_load_kw=base, evs=evs.reset_index(drop=True),
                    price_cny_per_kwh=price, weather=weather, load_history=history, site_demand=site_demand)


def _read_feeders(config, trafos, problems, at) -> pd.DataFrame:
    if config.feeders is None:
        return pd.DataFrame({"feeder_id": pd.Series(dtype=str), "capacity_kw": pd.Series(dtype=float)})
    path = at(config.feeders, "feeders")
    feeders = tables.read_feeders(path, config.feeders, problems) if path else None
    if feeders is not None and trafos is not None and feeders.attrs["source"].ids_complete("feeder_id"):
        trafos.attrs["source"].known("feeder_id", set(feeders.feeder_id), f"feeder_id in {config.feeders}")
    return feeders if feeders is not None else pd.DataFrame(columns=["feeder_id", "capacity_kw"])


def _price(config, slots, problems, at) -> pd.Series | None:
    tariff = config.tariff
    if tariff.table is not None:
        path = at(tariff.table, "tariff.table")
        if path is None:
            return None
        wide = tables.read_slot_table(path, tariff.table, config.site.timezone, slots, None, "price_cny_per_kwh",
                                      None, problems, minimum=0.0, maximum=MAX_PRICE_CNY_PER_KWH, unit="CNY/kWh")
        return None if wide is None else wide["value"].rename("price_cny_per_kwh")
    if tariff.preset is not None:
        try:
            return preset_prices(tariff.preset, tariff.flat_price_cny_per_kwh, slots)
        except ValueError as exc:
            problems.add(f"scenario.yaml: tariff.preset: {exc}")
            return None
    minute = (slots.hour * 60 + slots.minute).to_numpy()
    price = np.full(len(slots), np.nan)
    for p in tariff.periods:
        start, end = p.minutes()
        inside = (minute >= start) & (minute < end) if start < end else (minute >= start) | (minute < end)
        price[inside] = p.price_cny_per_kwh
    return pd.Series(price, index=slots, name="price_cny_per_kwh")


def _check_demand_sites(config, ids: list[str] | None, problems) -> None:
    """Each demand-charge site names a transformer of transformers.csv (when that table could be read)."""
    charge = config.tariff.demand_charge
    if charge is None or ids is None:
        return
    for i, site in enumerate(charge.sites):
        if site.transformer_id not in ids:
            problems.add(f"scenario.yaml: tariff.demand_charge.sites.{i}.transformer_id: {echo(site.transformer_id)} "
                         f"is not in {config.transformers}")


def _stations_and_events(config, slots, ids: list[str] | None, problems, at) -> dict:
    """Check stations and DR events against the tables (not against one that failed); read station weather files."""
    weather = {}
    ids = set(ids) if ids is not None else None
    for i, st in enumerate(config.stations):
        where = f"scenario.yaml: stations.{i} ({echo(st.station_id)})"
        if ids is not None and st.transformer_id not in ids:
            problems.add(f"{where}: transformer_id {echo(st.transformer_id)} is not in {config.transformers}")
        if st.pv is not None and st.pv.cloud_factor is not None and len(st.pv.cloud_factor) != len(slots):
            problems.add(f"{where}: pv.cloud_factor has {len(st.pv.cloud_factor)} values, the horizon "
                         f"{len(slots)} slots")
        if st.pv is not None and st.pv.weather is not None:
            path = at(st.pv.weather, f"stations.{i}.pv.weather")
            if path is None:
                continue
            try:
                weather[st.station_id] = read_weather_csv(path, config.site.timezone, slots, label=st.pv.weather)
            except InputError as exc:
                for line in exc.problems:
                    problems.add(line)
    for i, ev in enumerate(config.dr_events):
        where = f"scenario.yaml: dr_events.{i} ({echo(ev.event_id)})"
        stations = {st.station_id for st in [*config.stations, *config.sites()]}
        if ev.scope != "all":
            for tid in ev.scope:
                if ids is not None and tid not in ids and tid not in stations:
                    problems.add(f"{where}: scope names {echo(tid)}, neither a transformer_id in {config.transformers} "
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
