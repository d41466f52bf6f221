"""The peer comparison's instances, and their export to the peers as one ``.npz`` file each.

Runs in the project's environment (it reads scenarios with vpp-sched). The peers run in their own
environment (``benchmarks/peers/README.md``) and read only the ``.npz``: numpy arrays, no vpp-sched.

**What the instances hold.** The model that all three can state: EVs (whole-slot availability,
energy by departure, max power and, in the ``minp`` variants, an on/off band ``{0} u [pmin, pmax]``),
transformers (usable limit, base-load forecast) and the time-of-use tariff; no feeders and no
ramp price (FlexMeasures' ``device_scheduler`` has neither: its site limit is per EMS, and a
price on a transformer's largest slot-to-slot rise is no flow or stock constraint). So the
generated day is the benchmark's (``generate_scenario``, seeded) with ``feeder_size=None`` and
``penalties.ramp_cny_per_kw: 0`` appended to ``scenario.yaml``; vpp-sched plans this same folder.
The ``dr`` variants keep the generator's DR event: vpp-sched and linopy model it, FlexMeasures is
run without it (one device group per transformer cannot carry a portfolio cap priced as a soft
shortfall), and its schedule is then checked against the event like the others'.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from vpp_sched.plan.results import dr_compensation_cny
from vpp_sched.problem.arrays import Problem
from vpp_sched.problem.build import build_problem
from vpp_sched.scenario.load import load_scenario
from vpp_sched.scenario.synthetic import generate_scenario

from bench_instances import VARIANTS, generator_hash, parse_size, resize_single  # benchmarks/ on sys.path

PEER_PENALTIES = "\npenalties:\n  ramp_cny_per_kw: 0.0\n"   # no ramp price: no peer can state it


def peer_instances(sizes: str, variants: str, seed: int) -> list[dict]:
    """``single`` -> 200 EVs on one transformer (min power only, as in ``benchmarks/run.py``); ``2k`` ->
    2,000 EVs on 40 transformers; each size in each of ``variants``."""
    out = []
    for token in sizes.split(","):
        size = parse_size(token)
        for variant in (["minp"] if size["single"] else variants.split(",")):
            name = (f"single-{size['evs']}ev-minp" if size["single"]
                    else f"{size['evs']}ev-{size['transformers']}tr-{variant}")
            out.append({"name": name, "variant": variant, "evs": size["evs"], "transformers": size["transformers"],
                        "single": size["single"], "seed": seed, **VARIANTS[variant]})
    return out


def make_peer_instance(inst: dict, work: Path) -> Path:
    """Generate (or reuse, when its parameters and the generator are unchanged) the scenario folder."""
    folder = work / "instances" / f"peers-{inst['name'].replace('+', '_')}-s{inst['seed']}"
    marker = folder / "peer-instance.json"
    key = {k: inst[k] for k in ("evs", "transformers", "single", "seed", "dr_event", "min_power")}
    key["generator"] = generator_hash()
    if marker.exists() and json.loads(marker.read_text()).get("key") == key:
        return folder
    shutil.rmtree(folder, ignore_errors=True)      # our own work folder (benchmarks/work, git-ignored)
    generate_scenario(folder, transformers=inst["transformers"], evs=inst["evs"], dr_event=inst["dr_event"],
                      min_power=inst["min_power"], seed=inst["seed"], feeder_size=None)
    with open(folder / "scenario.yaml", "a") as f:
        f.write(PEER_PENALTIES)
    if inst["single"]:
        resize_single(folder)
    marker.write_text(json.dumps({"key": key}, indent=1))
    return folder


def problem_of(folder: Path) -> Problem:
    return build_problem(load_scenario(folder))


def export_problem(p: Problem, path: Path) -> None:
    """Write the arrays a peer needs [kW, kWh, CNY/kWh, h]; refuse what the peers do not model."""
    if p.n_feeders or p.n_stations or p.n_batteries or p.has_v2g or p.has_ramp or p.sites is not None:
        raise ValueError("peer instances have no feeders, stations, V2G, ramp price or sites")
    if p.grid_cuts is not None or (len(p.demand_cny_per_kw_month) and np.any(p.demand_cny_per_kw_month > 0)):
        raise ValueError("peer instances have no LV grid cuts and no demand charge")
    if np.any(p.base_load_kw < 0):
        raise ValueError("peer instances need base load >= 0 (grid import = net load)")
    K = p.n_events
    np.savez(path, slot_start_ns=p.slots.as_unit("ns").asi8, tz=str(p.slots.tz), dt_h=p.dt_h,
             price_cny_per_kwh=p.price_cny_per_kwh, limit_kw=p.limit_kw, base_load_kw=p.base_load_kw,
             transformer_ids=p.transformer_ids.astype(str), ev_ids=p.ev_ids.astype(str),
             ev_transformer=p.ev_transformer, ev_energy_kwh=p.ev_energy_kwh, ev_max_power_kw=p.ev_max_power_kw,
             ev_min_power_kw=p.ev_min_power_kw, ev_available=p.ev_available,
             event_slots=p.event_slots if K else np.zeros((0, p.n_slots), bool),
             event_scope=p.event_scope if K else np.zeros((0, p.n_transformers), bool),
             event_cap_kw=p.event_cap_kw if K else np.zeros((0, p.n_slots)),
             event_sign=p.event_signs() if K else np.zeros(0),
             event_shortfall_cny_per_kwh=(p.event_penalty_cny_per_kwh + p.event_price_cny_per_kwh) if K else np.zeros(0),
             event_compensation_cny=dr_compensation_cny(p),
             unmet_penalty_cny_per_kwh=p.unmet_penalty_cny_per_kwh,
             overload_penalty_cny_per_kwh=p.overload_penalty_cny_per_kwh,
             switch_on_cny=p.switch_on_cny, early_charging_cny_per_kwh=p.early_charging_cny_per_kwh)
