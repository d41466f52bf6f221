"""The benchmark's instances: seeded synthetic days of ``generate_scenario``, by size and variant."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import shutil
import time
from pathlib import Path

import pandas as pd

from vpp_sched.plan.results import uncontrolled_reference
from vpp_sched.problem.build import build_problem
from vpp_sched.scenario.load import load_scenario
from vpp_sched.scenario import synthetic
from vpp_sched.scenario.synthetic import generate_scenario

EVS_PER_TRANSFORMER = 50          # 1k -> 20, 10k -> 200, 100k -> 2000 transformers
MIN_POWER_KW = 1.4                # IEC 61851 6 A single phase
SINGLE_EVS = 200                  # the single-transformer instance
SINGLE_UNCONTROLLED_PU = 1.3      # its rating: uncontrolled peak = 1.3 x rated_kva x power_factor
DR_SHARE = 0.0                    # > 0: DR reduction = share x uncontrolled portfolio peak in the window (0: as generated)
VARIANTS = {                      # name -> generate_scenario keywords
    "plain": {"dr_event": False, "min_power": None},
    "dr": {"dr_event": True, "min_power": None},
    "minp": {"dr_event": False, "min_power": MIN_POWER_KW},
    "dr+minp": {"dr_event": True, "min_power": MIN_POWER_KW},
}
FULL_SIZES = "single,1k,10k,100k"
QUICK_SIZES = "50@5"
QUICK_VARIANTS = "plain,dr+minp"


def parse_size(token: str) -> dict:
    """``1k`` -> 1,000 EVs on 20 transformers; ``1m`` -> 1,000,000 on 20,000 (the province, issue 17:
    run it with ``--scheduler local --workers 2``); ``200@5`` -> 200 EVs on 5; ``single`` -> 200 EVs on 1."""
    token = token.strip().lower()
    if token == "single":
        return {"label": "single", "evs": SINGLE_EVS, "transformers": 1, "single": True}
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([km]?)(?:@(\d+))?", token)
    if not m:
        raise argparse.ArgumentTypeError(f"size {token!r}: use e.g. 1k, 10k, 100k, 1m, 200@5 or single")
    evs = int(round(float(m.group(1)) * {"k": 1000, "m": 1_000_000}.get(m.group(2), 1)))
    transformers = int(m.group(3)) if m.group(3) else max(1, evs // EVS_PER_TRANSFORMER)
    return {"label": token, "evs": evs, "transformers": transformers, "single": False}


def instance_list(sizes: list[dict], variants: list[str], seed: int, dr_share: float = DR_SHARE) -> list[dict]:
    out = []
    for size in sizes:
        # The single-transformer instance is the min-power target case only.
        for variant in (["minp"] if size["single"] else variants):
            name = (f"single-{size['evs']}ev-minp" if size["single"]
                    else f"{size['evs']}ev-{size['transformers']}tr-{variant}")
            if dr_share and VARIANTS[variant]["dr_event"] and not size["single"]:
                name += f"-dr{dr_share * 100:g}"       # its own instance: the event's target changed
            out.append({"name": name, "size": size["label"], "variant": variant, "evs": size["evs"],
                        "transformers": size["transformers"], "single": size["single"], "seed": seed,
                        **VARIANTS[variant], "dr_share": (dr_share or None) if VARIANTS[variant]["dr_event"] else None})
    return out


def make_instance(inst: dict, work: Path) -> tuple[Path, float, dict]:
    """Generate (or reuse) the scenario folder of ``inst``; returns it, the generation time [s]
    (0 when reused) and what the benchmark changed in the generated files."""
    folder = work / "instances" / f"{inst['name'].replace('+', '_')}-s{inst['seed']}"
    marker = folder / "benchmark-instance.json"
    key = {k: inst[k] for k in ("evs", "transformers", "single", "seed", "dr_event", "min_power", "dr_share")}
    key["generator"] = generator_hash()  # a changed generator makes new instances
    if marker.exists() and (known := json.loads(marker.read_text())).get("key") == key:
        return folder, 0.0, known.get("info", {})
    shutil.rmtree(folder, ignore_errors=True)
    t0 = time.perf_counter()
    generate_scenario(folder, transformers=inst["transformers"], evs=inst["evs"], dr_event=inst["dr_event"],
                      min_power=inst["min_power"], seed=inst["seed"],
                      feeder_size=None if inst["single"] else 10)
    info = {}
    if inst["single"]:
        info = resize_single(folder)
    if inst["dr_event"] and inst["dr_share"]:
        info = tighten_dr_event(folder, inst["dr_share"])
    seconds = time.perf_counter() - t0
    marker.write_text(json.dumps({"key": key, "info": info}, indent=1))
    return folder, seconds, info



def generator_hash() -> str:
    """A hash of the scenario generator's code (every ``vpp_sched/scenario/synthetic*.py``)."""
    digest = hashlib.sha256()
    for path in sorted(Path(synthetic.__file__).parent.glob("synthetic*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def resize_single(folder: Path) -> dict:
    """Rate the one transformer so uncontrolled charging peaks at ``SINGLE_UNCONTROLLED_PU``.

    ``generate_scenario`` draws the rating from 160-630 kVA whatever the number of EVs, so 200
    EVs on one transformer can be hopelessly overloaded (every plan short of energy) or not
    congested at all. Here the rating is set from the uncontrolled peak (base load + every EV
    at full power from arrival), rounded up to 10 kVA: uncontrolled charging overloads the
    transformer by ~30 %, a planned day fits. The base load (kW) is kept as generated. The
    scenario has no feeder (``feeder_size=None``): a feeder sized at 70-80 % of one
    transformer would be the real limit.
    """
    problem = build_problem(load_scenario(folder))
    _, net, _ = uncontrolled_reference(problem)
    table = pd.read_csv(folder / "transformers.csv")
    generated = float(table.rated_kva.iloc[0])
    pf, pu = float(table.power_factor.iloc[0]), float(table.max_loading_pu.iloc[0])
    rated = math.ceil(float(net.max()) / (SINGLE_UNCONTROLLED_PU * pf * pu) / 10) * 10
    table["rated_kva"] = float(rated)
    table.to_csv(folder / "transformers.csv", index=False, lineterminator="\n")
    return {"generated_rated_kva": generated, "rated_kva": rated, "uncontrolled_peak_kw": float(net.max())}


def tighten_dr_event(folder: Path, share: float) -> dict:
    """Set the DR event's ``reduction_kw`` to ``share`` x the uncontrolled portfolio peak in its window.

    Off by default (``--dr-share 0``): the generated event is used as is. It was needed when
    ``generate_scenario``'s event (then 18:00-21:00) did not bind; whether the event binds is
    measured and reported in every run (``dr_binding``) either way.
    """
    problem = build_problem(load_scenario(folder))
    peak = float(problem.event_baseline_kw[0][problem.event_slots[0]].max())
    reduction = float(round(share * peak))
    path = folder / "scenario.yaml"
    text, n = re.subn(r"(reduction_kw:\s*)[0-9.eE+-]+", lambda m: f"{m.group(1)}{reduction}", path.read_text())
    if n != 1:
        raise RuntimeError(f"{path}: expected one reduction_kw, found {n}")
    generated = float(problem.event_reduction_kw[0])
    path.write_text(text)
    return {"generated_reduction_kw": generated, "reduction_kw": reduction, "dr_share": share,
            "uncontrolled_peak_in_window_kw": peak}

