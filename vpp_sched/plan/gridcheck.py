"""``vpp-sched gridcheck``: the LV grids' AC power flow of a written plan, from its tables alone.

The EV power comes from ``ev_schedule.csv`` (``power_kw`` - ``discharge_kw``), the stations' from
``transformer_load.csv`` (``battery_kw - pv_kw``); the grids, base load and EV buses from the
scenario. The result is compared with the plan's own ``grid_buses.csv`` / ``grid_lines.csv``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vpp_sched.errors import InputError, echo
from vpp_sched.plan.grid_output import (grid_kpis, grid_tables, plan_grid_flows, station_power_kw, weakest,
                                        weakest_phases)
from vpp_sched.plan.read_plan import find_plan_table, numbers, read_plan_table
from vpp_sched.problem.build import build_problem


@dataclass
class GridCheck:
    """The recomputed tables, KPIs, breaches and the largest differences from the plan's own tables."""

    buses: pd.DataFrame
    lines: pd.DataFrame
    kpis: dict
    weakest_buses: pd.DataFrame
    weakest_lines: pd.DataFrame
    max_vm_difference_pu: float | None
    max_loading_difference_pct: float | None
    weakest_phases: pd.DataFrame = None
    max_phase_vm_difference_pu: float | None = None


def _ev_matrix(schedule: pd.DataFrame, problem, label: str = "ev_schedule.csv") -> np.ndarray:
    """[E, T] EV net power of the plan (rows in the problem's EV order) [kW]; ``label`` names the
    table in messages."""
    row = pd.Index(problem.ev_ids).get_indexer(schedule["ev_id"].astype(str))
    slot_text = [s.isoformat() for s in problem.slots]
    col = pd.Index(slot_text).get_indexer(schedule["slot_start"].astype(str))
    bad = np.flatnonzero((row < 0) | (col < 0))
    if len(bad):
        i = int(bad[0])
        raise InputError([f"{label} row {i + 1}: ev_id {echo(schedule['ev_id'].iat[i])} at "
                          f"{echo(schedule['slot_start'].iat[i])} is not an EV and slot of the scenario"])
    net = numbers(schedule, "power_kw", label)
    if "discharge_kw" in schedule.columns:
        net = net - np.nan_to_num(numbers(schedule, "discharge_kw", label), nan=0.0)
    out = np.zeros((problem.n_evs, problem.n_slots))
    np.add.at(out, (row, col), net)
    return out


def _difference(mine: pd.DataFrame, folder: Path, stem: str, keys: list[str], value: str) -> float | None:
    """Largest difference of ``value`` from the plan's own table ``stem`` (``None`` without it)."""
    if find_plan_table(folder, stem) is None:
        return None
    theirs = read_plan_table(folder, stem, keys + [value])
    both = mine.merge(theirs, on=keys, suffixes=("", "_written"), how="outer")
    return float(np.nanmax(np.abs(both[value] - both[f"{value}_written"]).fillna(np.inf)))


def _bus_differences(mine: pd.DataFrame, folder: Path) -> tuple[float | None, float | None]:
    """Largest differences of ``vm_pu`` and of ``vm_a_pu..vm_c_pu`` from the written ``grid_buses.csv``
    (read once; for the phases both empty counts as equal, one empty as infinite; ``None`` when the
    plan has no such table or phase columns)."""
    if find_plan_table(folder, "grid_buses") is None:
        return None, None
    theirs = read_plan_table(folder, "grid_buses", ["transformer_id", "bus_id", "slot_start", "vm_pu"])
    both = mine.merge(theirs, on=["transformer_id", "bus_id", "slot_start"], suffixes=("", "_written"), how="outer")
    vm = float(np.nanmax(np.abs(both["vm_pu"] - both["vm_pu_written"]).fillna(np.inf)))
    cols = ["vm_a_pu", "vm_b_pu", "vm_c_pu"]
    if not all(c in theirs.columns for c in cols):
        return vm, None
    worst = 0.0
    for c in cols:
        a, b = both[c].to_numpy(float), both[f"{c}_written"].to_numpy(float)
        d = np.where(np.isnan(a) & np.isnan(b), 0.0, np.abs(a - b))
        worst = max(worst, float(np.nan_to_num(d, nan=np.inf).max(initial=0.0)))
    return vm, worst


def check_written_plan(plan_folder: Path | str, scenario) -> GridCheck:
    """The grid check of the plan in ``plan_folder`` on ``scenario`` (a loaded scenario)."""
    folder = Path(plan_folder)
    kpis = json.loads((folder / "kpis.json").read_text()) if (folder / "kpis.json").is_file() else {}
    if kpis.get("scenario") not in (None, scenario.config.name):
        raise InputError([f"{folder / 'kpis.json'}: the plan is of scenario {echo(kpis['scenario'])}, not of "
                          f"{echo(scenario.config.name)}; name the plan's scenario"])
    if not scenario.grids:
        raise InputError([f"{scenario.config.transformers}: no transformer names a grid (column grid)"])
    schedule = read_plan_table(folder, "ev_schedule", ["ev_id", "slot_start", "power_kw"])
    load = read_plan_table(folder, "transformer_load", ["transformer_id", "slot_start", "battery_kw", "pv_kw"])
    problem = build_problem(scenario)
    label = find_plan_table(folder, "ev_schedule").label
    flows = plan_grid_flows(scenario, problem, _ev_matrix(schedule, problem, label), station_power_kw(load, problem))
    buses, lines = grid_tables(flows, problem.slots)
    wb, wl = weakest(buses, lines)
    vm_diff, phase_diff = _bus_differences(buses, folder)
    return GridCheck(buses=buses, lines=lines, kpis=grid_kpis(flows, scenario.config.grid), weakest_buses=wb,
                     weakest_lines=wl, max_vm_difference_pu=vm_diff,
                     max_loading_difference_pct=_difference(lines, folder, "grid_lines",
                                                            ["transformer_id", "line_id", "slot_start"], "loading_pct"),
                     weakest_phases=weakest_phases(buses), max_phase_vm_difference_pu=phase_diff)
