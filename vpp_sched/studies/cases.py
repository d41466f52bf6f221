"""Applying a what-if case (a value per ``--vary`` key) to a loaded scenario, in memory."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pydantic

from vpp_sched.errors import InputError
from vpp_sched.scenario.load import Scenario
from vpp_sched.studies.resample import scale_evs
from vpp_sched.studies.site_cases import is_site_key, set_site
from vpp_sched.studies.vary import KEY_HELP, Vary, VaryError


def check_varies(scenario: Scenario, varies: Sequence[Vary]) -> None:
    """Check ids and values against the scenario by applying every single value once.

    Raises
    ------
    InputError
        One line per unknown transformer/station/feeder id or value the scenario cannot take
        (e.g. resizing a battery the station does not have).
    """
    problems: list[str] = []
    for v in varies:
        for value in v.values:
            try:
                apply_case(scenario, {v.key: value})
            except InputError as exc:
                problems += [p for p in exc.problems if p not in problems]
    if problems:
        raise InputError(problems)



def apply_case(scenario: Scenario, case: dict, seed: int = 0) -> Scenario:
    """The scenario with the case's values set (a new object; ``scenario`` is unchanged).

    ``evs.scale`` is applied last, so it resamples the EVs of the case's transformers.
    """
    sc = scenario
    for key, value in case.items():
        if key != "evs.scale":
            sc = _apply_one(sc, key, value)
    if "evs.scale" in case:
        sc = scale_evs(sc, case["evs.scale"], seed=seed)
    return sc


def _apply_one(sc: Scenario, key: str, value) -> Scenario:
    parts = key.split(".")
    if parts[0] == "transformers":
        return _set_transformer(sc, ".".join(parts[1:-1]), parts[-1], value)
    if key == "tariff.scale":
        return dataclasses.replace(sc, price_cny_per_kwh=sc.price_cny_per_kwh * float(value))
    if parts[0] == "stations":
        return _set_station(sc, ".".join(parts[1:-2]), parts[-2], parts[-1], float(value))
    if is_site_key(parts):
        return set_site(sc, key, float(value))
    raise VaryError(f"--vary {key}: unknown key; use one of {KEY_HELP}")


def _set_transformer(sc: Scenario, tid: str, column: str, value) -> Scenario:
    trafos = sc.transformers.copy()
    trafos.attrs = {}
    rows = trafos.transformer_id == tid
    if not rows.any():
        raise InputError([f"--vary transformers.{tid}.{column}: transformer {tid} is not in "
                          f"{sc.config.transformers} (known: {_some(trafos.transformer_id)})"])
    if column == "feeder_id":
        known = set(sc.feeders.feeder_id)
        if value and value not in known:
            raise InputError([f"--vary transformers.{tid}.feeder_id: {value} is not a feeder of "
                              f"{sc.config.feeders or 'the scenario (it has no feeders)'}"])
        trafos.loc[rows, "feeder_id"] = value
    else:
        trafos.loc[rows, column] = float(value)
    trafos["rating_kw"] = trafos.rated_kva * trafos.power_factor
    trafos["limit_kw"] = trafos.rating_kw * trafos.max_loading_pu
    return dataclasses.replace(sc, transformers=trafos)


def _set_station(sc: Scenario, sid: str, device: str, name: str, value: float) -> Scenario:
    where = f"--vary stations.{sid}.{device}.{name}"
    stations = list(sc.config.stations)
    idx = [i for i, st in enumerate(stations) if st.station_id == sid]
    if not idx:
        known = ", ".join(st.station_id for st in stations) or "none"
        raise InputError([f"{where}: station {sid} is not in scenario.yaml (stations: {known})"])
    st = stations[idx[0]]
    current = getattr(st, device)
    removes = value == 0 and name == ("capacity_kwh" if device == "battery" else "capacity_kwp")
    if removes:
        new = None
    elif current is None:
        raise InputError([f"{where}: station {sid} has no {device} in scenario.yaml; only an existing "
                          f"{device} can be changed (capacity 0 removes it)"])
    else:
        try:
            new = type(current).model_validate({**current.model_dump(), name: value})
        except pydantic.ValidationError as exc:
            msgs = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            raise InputError([f"{where}={value:g}: {msgs}"]) from None
    stations[idx[0]] = st.model_copy(update={device: new})
    config = sc.config.model_copy(update={"stations": stations})
    return dataclasses.replace(sc, config=config)


def _some(ids) -> str:
    ids = list(ids)
    return ", ".join(map(str, ids[:8])) + (f", ... ({len(ids)} in all)" if len(ids) > 8 else "")

