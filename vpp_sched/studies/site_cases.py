"""What-if, flex and hosting keys of the swap and fast-charging stations, and their columns in the
case tables: ``swap_stations.<ID>.<field>=...`` (e.g. ``swap_stations.mine-1.packs=8,10,12``) and
``fast_charging_stations.<ID>.<field>=...`` (e.g. ``fast_charging_stations.sa-north.dispensers=6,8``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pydantic

from vpp_sched.errors import InputError
from vpp_sched.problem.sites import uncontrolled_swap
from vpp_sched.scenario.config import FastChargingStation, SwapStation
from vpp_sched.scenario.load import Scenario

#: Key prefix -> (the config list it sets, the numeric fields a case may set).
SITE_KEYS = {
    "swap_stations": ("swap_stations", ("packs", "pack_kwh", "bays", "bay_max_kw", "grid_max_kw", "charge_efficiency",
                                        "full_soc", "returned_soc", "initial_full_packs", "final_full_packs_min")),
    "fast_charging_stations": ("fast_charging_stations", ("dispensers", "dispenser_max_kw", "target_wait_min")),
}
SITE_KEY_HELP = "swap_stations.<ID>.<packs|bays|...>, fast_charging_stations.<ID>.<dispensers|dispenser_max_kw|target_wait_min>"
_MODELS = {"swap_stations": SwapStation, "fast_charging_stations": FastChargingStation}


def is_site_key(parts: list[str]) -> bool:
    return parts[0] in SITE_KEYS and len(parts) >= 3 and all(parts[1:-1])


def site_field_problem(parts: list[str]) -> str | None:
    """Why ``parts`` (a split key) names no settable field, or ``None``."""
    fields = SITE_KEYS[parts[0]][1]
    if parts[-1] not in fields:
        return f"unknown field {parts[-1]!r}; numeric fields: {', '.join(fields)}"
    return None


def set_site(sc: Scenario, key: str, value: float) -> Scenario:
    """The scenario with one swap or fast-charging station's field set; the Problem re-derives the rest."""
    parts = key.split(".")
    kind, sid, name = parts[0], ".".join(parts[1:-1]), parts[-1]
    items = list(getattr(sc.config, kind))
    idx = [i for i, st in enumerate(items) if st.station_id == sid]
    if not idx:
        known = ", ".join(st.station_id for st in items) or "none"
        raise InputError([f"--vary {key}: {sid} is not in scenario.yaml's {kind} (known: {known})"])
    if name in ("packs", "bays", "dispensers") and float(value) != int(value):
        raise InputError([f"--vary {key}={value:g}: {name} must be a whole number"])
    number = int(value) if name in ("packs", "bays", "dispensers") else float(value)
    try:
        new = _MODELS[kind].model_validate({**items[idx[0]].model_dump(), name: number})
    except pydantic.ValidationError as exc:
        msgs = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise InputError([f"--vary {key}={value:g}: {msgs}"]) from None
    items[idx[0]] = new
    return dataclasses.replace(sc, config=sc.config.model_copy(update={kind: items}))


def site_columns(outcome) -> dict:
    """Case-table columns of the sites (none without sites): swaps unserved and fast-charging slots whose
    expected wait is over target. Uncontrolled: packs charged on return, caps at what drivers need."""
    p = outcome.problem
    st = p.sites
    if st is None:
        return {}
    if outcome.run is None:          # the uncontrolled reference
        unserved = float(uncontrolled_swap(st, p.dt_h)[1].sum()) if st.n_swap else 0.0
        return {"unserved_swaps": unserved, "fast_slots_over_target": int((st.fast_min_cap_kw
                                                                           >= st.fast_max_kw[:, None] - 1e-6).sum()
                                                                          if st.n_fast else 0)}
    k = outcome.run.plan.kpis
    return {"unserved_swaps": float(np.sum([s["unserved_swaps"] for s in k.get("swap_stations", [])])),
            "fast_slots_over_target": int(np.sum([s["slots_over_target"] for s in k.get("fast_charging_stations", [])]))}
