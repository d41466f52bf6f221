"""LV grids below the transformers: SimBench CSV folders, checked, and where EVs and base load sit.

A transformer names its grid in the optional ``grid`` column of ``transformers.csv``: a folder
``grids/<id>/`` of the scenario, or, when the scenario has no such folder, a grid shipped in
``vpp_sched/data/grids/<id>/`` (SimBench, ODbL 1.0, see ``vpp_sched/data/README.md``). The folder is
in the SimBench CSV format (semicolon-separated ``Node``, ``Line``, ``LineType``, ``Transformer``,
``TransformerType``, ``Switch``, ``ExternalNet``, ``Load``, ``LoadProfile`` (``.csv`` or ``.csv.gz``)).

Placement rule (stated once, here): an EV without ``bus_id`` goes to the grid's load buses (nodes
with a ``Load``) in ev_id order, round-robin over a permutation of those buses seeded by the CRC32 of
the transformer_id, so the same scenario always places the same EV on the same bus.

Base load per bus: the transformer's base load (``base_load.csv``) split over the buses in the shares
of the grid's own loads in that slot, ``pLoad * <profile>_pload`` at the same month, day and clock
time of the SimBench year 2016; reactive power follows each bus's ``qLoad / pLoad``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from vpp_sched.errors import echo

SHIPPED_GRIDS = Path(__file__).resolve().parents[1] / "data" / "grids"
TABLES = ("Node", "Line", "LineType", "Transformer", "TransformerType", "Load", "ExternalNet")


@dataclass(frozen=True, eq=False)
class LvGrid:
    """One LV grid as read: its SimBench tables (text cells) and the checked structure.

    ``load_bus`` : the node of each ``Load`` row; ``lv_node`` : the transformer's LV node;
    ``profiles`` : [2016 quarter-hours x profile] active-power profiles (``<profile>_pload``).
    """

    name: str
    folder: Path
    tables: dict
    profiles: pd.DataFrame | None

    @property
    def nodes(self) -> pd.DataFrame:
        return self.tables["Node"]

    def load_buses(self) -> list[str]:
        """The nodes with a load, in the order of their first load in ``Load.csv``."""
        return list(dict.fromkeys(self.tables["Load"]["node"]))


def grid_folder(scenario_folder: Path, name: str) -> Path:
    """The folder ``name`` names: in the scenario folder, else a shipped grid of that id."""
    own = (scenario_folder / name)
    if own.is_dir():
        return own
    return SHIPPED_GRIDS / Path(name.rstrip("/")).name


def _read_table(folder: Path, name: str) -> pd.DataFrame | None:
    for path in (folder / f"{name}.csv", folder / f"{name}.csv.gz"):
        if path.is_file():
            return pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
    return None


def read_grid(scenario_folder: Path, name: str, where: str, problems) -> LvGrid | None:
    """Read and check grid ``name`` (named at ``where``); problems go to ``problems.add``."""
    folder = grid_folder(scenario_folder, name)
    if not folder.is_dir():
        problems.add(f"{where}: grid {echo(name)} is neither a folder of the scenario nor a shipped grid "
                     f"(shipped: {', '.join(sorted(p.name for p in SHIPPED_GRIDS.iterdir()))})")
        return None
    tables = {}
    for t in TABLES:
        tables[t] = _read_table(folder, t)
        if tables[t] is None:
            problems.add(f"{where}: grid {echo(name)} has no {t}.csv")
    if any(v is None for v in tables.values()):
        return None
    tables["Switch"] = _read_table(folder, "Switch")
    label = f"{name.rstrip('/')}/"
    before = len(problems.lines)
    _check_refs(tables, label, problems)
    if len(problems.lines) == before:
        _check_connected(tables, label, problems)
    profiles = _read_table(folder, "LoadProfile")
    if profiles is None:
        problems.add(f"{where}: grid {echo(name)} has no LoadProfile.csv")
    return LvGrid(name=name, folder=folder, tables=tables, profiles=profiles)


def _known(df: pd.DataFrame, column: str, known: set, file: str, of_what: str, problems) -> None:
    for i in np.flatnonzero(~df[column].isin(known).to_numpy()):
        problems.add(f"{file} row {i + 1} (id={echo(df['id'].iat[i])}): {column} {echo(df[column].iat[i])} "
                     f"is not {of_what}")


def _check_refs(tables: dict, label: str, problems) -> None:
    """Every line names a known type and nodes; transformers, loads, switches name known nodes."""
    nodes = set(tables["Node"]["id"])
    _known(tables["Line"], "type", set(tables["LineType"]["id"]), f"{label}Line.csv",
           f"an id in {label}LineType.csv", problems)
    for file, cols in (("Line", ("nodeA", "nodeB")), ("Transformer", ("nodeHV", "nodeLV")),
                       ("Load", ("node",)), ("ExternalNet", ("node",)), ("Switch", ("nodeA", "nodeB"))):
        if tables.get(file) is None:
            continue
        for c in cols:
            _known(tables[file], c, nodes, f"{label}{file}.csv", f"a node in {label}Node.csv", problems)
    _known(tables["Transformer"], "type", set(tables["TransformerType"]["id"]), f"{label}Transformer.csv",
           f"an id in {label}TransformerType.csv", problems)
    if len(tables["Transformer"]) != 1 or len(tables["ExternalNet"]) != 1:
        problems.add(f"{label}Transformer.csv: an LV grid has one MV/LV transformer and one ExternalNet; "
                     f"found {len(tables['Transformer'])} and {len(tables['ExternalNet'])}")


def _edges(tables: dict) -> list[tuple[str, str]]:
    edges = list(zip(tables["Line"]["nodeA"], tables["Line"]["nodeB"]))
    edges += list(zip(tables["Transformer"]["nodeHV"], tables["Transformer"]["nodeLV"]))
    sw = tables.get("Switch")
    if sw is not None:
        closed = sw[sw["cond"].isin(["1", "1.0", "True", "true"])]
        edges += list(zip(closed["nodeA"], closed["nodeB"]))
    return edges


def reachable_nodes(tables: dict) -> set[str]:
    """Nodes connected to the ExternalNet through lines, the transformer and closed switches."""
    adj: dict[str, list[str]] = {}
    for a, b in _edges(tables):
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)
    start = tables["ExternalNet"]["node"].iat[0]
    seen, todo = {start}, [start]
    while todo:
        for nxt in adj.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _check_connected(tables: dict, label: str, problems) -> None:
    seen = reachable_nodes(tables)
    loads = tables["Load"]
    for i in np.flatnonzero(~loads["node"].isin(seen).to_numpy()):
        problems.add(f"{label}Load.csv row {i + 1} (id={echo(loads['id'].iat[i])}): node "
                     f"{echo(loads['node'].iat[i])} is cut off from the transformer (no closed path of lines "
                     "and switches)")


def place_evs(grid: LvGrid, transformer_id: str, ev_ids: list[str], bus_ids: list[str]) -> list[str]:
    """Bus of each EV: its own ``bus_id``, else the seeded round-robin of the module docstring."""
    buses = grid.load_buses()
    rng = np.random.default_rng(zlib.crc32(transformer_id.encode()))
    order = [buses[i] for i in rng.permutation(len(buses))]
    out, k = [], 0
    for ev, bus in sorted(zip(ev_ids, bus_ids)):
        if bus:
            out.append((ev, bus))
        else:
            out.append((ev, order[k % len(order)]))
            k += 1
    placed = dict(out)
    return [placed[e] for e in ev_ids]


@lru_cache(maxsize=16)
def _profile_rows(grid: LvGrid) -> pd.Series:
    """Row of ``LoadProfile`` for each ``mm-dd HH:MM`` (SimBench's time is ``dd.mm.yyyy HH:MM``); of the
    hour that daylight saving time doubles, its first copy. Once per grid (parsing 35,136 times is slow)."""
    text = grid.profiles["time"].str
    key = (text[3:5] + "-" + text[0:2] + " " + text[11:16]).to_numpy()
    return pd.Series(np.arange(len(key))).groupby(key).first()


@lru_cache(maxsize=16)
def _profile_columns(grid: LvGrid) -> dict:
    """``{profile: [2016 quarter-hours] float}`` of the profiles the loads name, parsed once per grid."""
    return {name: pd.to_numeric(grid.profiles[f"{name}_pload"]).to_numpy(float)
            for name in set(grid.tables["Load"]["profile"])}


def bus_base_load_kw(grid: LvGrid, slots: pd.DatetimeIndex, base_kw: np.ndarray) -> tuple[list[str], np.ndarray,
                                                                                          np.ndarray]:
    """Load buses, their base load [B, T] and reactive load [B, T] from the transformer's base load [T].

    Shares per slot from the grid's own profiles at the same month, day and clock time of 2016 [kW, kvar].
    """
    share, q_per_p = _bus_shares(grid, tuple(slots.strftime("%m-%d %H:%M")))
    p_kw = share * np.asarray(base_kw, float)[None, :]
    return grid.load_buses(), p_kw, p_kw * q_per_p[:, None]


@lru_cache(maxsize=64)
def _bus_shares(grid: LvGrid, slot_keys: tuple) -> tuple[np.ndarray, np.ndarray]:
    """[B, T] each load bus's share of the grid's load per slot, and [B] its qLoad / pLoad (once per grid and day)."""
    loads = grid.tables["Load"]
    buses = grid.load_buses()
    p_mw = pd.to_numeric(loads["pLoad"]).to_numpy()
    q_mw = pd.to_numeric(loads["qLoad"]).to_numpy()
    pos = _profile_rows(grid).reindex(list(slot_keys)).fillna(0).to_numpy(int)  # a missing time: row 0
    columns = _profile_columns(grid)
    per_load = np.stack([columns[name][pos] for name in loads["profile"]])
    per_load = np.maximum(per_load * p_mw[:, None], 0.0)                # [L, T] MW
    bus_of = pd.Index(buses).get_indexer(loads["node"])
    p_bus = np.zeros((len(buses), len(slot_keys)))
    np.add.at(p_bus, bus_of, per_load)
    total = p_bus.sum(axis=0)
    share = np.divide(p_bus, total, out=np.full_like(p_bus, 1.0 / len(buses)), where=total > 0)
    ratio, p_sum = np.zeros(len(buses)), np.zeros(len(buses))
    np.add.at(ratio, bus_of, q_mw)
    np.add.at(p_sum, bus_of, p_mw)
    return share, np.divide(ratio, p_sum, out=np.zeros_like(ratio), where=p_sum > 0)


PHASES = ("a", "b", "c", "abc")


def attach_grids(folder: Path, config, trafos: pd.DataFrame, evs: pd.DataFrame, problems) -> dict:
    """Read the grid of each transformer that names one; resolve ``evs.bus_id`` (placing EVs without one).

    Returns ``{transformer_id: LvGrid}``; ``evs.bus_id`` is filled in for EVs behind a grid.
    """
    read: dict[str, LvGrid | None] = {}
    grids: dict[str, LvGrid] = {}
    for i, (tid, name) in enumerate(zip(trafos["transformer_id"], trafos["grid"])):
        if not name:
            continue
        if name not in read:
            read[name] = read_grid(folder, name, f"{config.transformers} row {i + 1} (transformer_id={echo(tid)})",
                                   problems)
        if read[name] is not None:
            grids[tid] = read[name]
    _check_ev_grid_columns(config, evs, grids, problems)
    trafos["mv_vm_pu"] = _mv_voltage(config.transformers, trafos, problems)
    return grids


MV_VM_RANGE_PU = (0.8, 1.2)


def _mv_voltage(label: str, trafos: pd.DataFrame, problems) -> pd.Series:
    """``mv_vm_pu``: the MV voltage at the transformer's HV side [pu]; empty: the grid's ExternalNet setpoint."""
    raw = trafos["mv_vm_pu"].astype(str)
    values = pd.to_numeric(raw.where(raw != "", None), errors="coerce")
    lo, hi = MV_VM_RANGE_PU
    bad = (raw != "") & ~values.between(lo, hi)
    for i in np.flatnonzero(bad.to_numpy()):
        problems.add(f"{label} row {i + 1} (transformer_id={echo(trafos['transformer_id'].iat[i])}): mv_vm_pu "
                     f"{echo(raw.iat[i])} is not a number in {lo:g}..{hi:g} pu (or empty: the grid's own setpoint)")
    return values.astype(float)


def _check_ev_grid_columns(config, evs: pd.DataFrame, grids: dict, problems) -> None:
    label = config.evs
    for i in np.flatnonzero(~evs["phase"].isin(("",) + PHASES).to_numpy()):
        problems.add(f"{label} row {i + 1} (ev_id={echo(evs['ev_id'].iat[i])}): phase {echo(evs['phase'].iat[i])} "
                     f"is not one of {', '.join(PHASES)} (or empty: spread over the phases)")
    for tid, grid in grids.items():
        mine = np.flatnonzero((evs["transformer_id"] == tid).to_numpy())
        nodes = set(grid.nodes["id"])
        reach = reachable_nodes(grid.tables)
        for i in mine:
            bus = evs["bus_id"].iat[i]
            if bus and bus not in nodes:
                problems.add(f"{label} row {i + 1} (ev_id={echo(evs['ev_id'].iat[i])}): bus_id {echo(bus)} is not "
                             f"a node of {grid.name.rstrip('/')}/Node.csv (grid of transformer {echo(tid)})")
            elif bus and bus not in reach:
                problems.add(f"{label} row {i + 1} (ev_id={echo(evs['ev_id'].iat[i])}): bus_id {echo(bus)} is cut "
                             f"off from transformer {echo(tid)} in {grid.name.rstrip('/')}/")
        if len(mine) and not grid.load_buses():
            problems.add(f"{grid.name.rstrip('/')}/Load.csv: has no loads, so EVs without bus_id cannot be placed")
            continue
        placed = place_evs(grid, tid, list(evs["ev_id"].iloc[mine]), list(evs["bus_id"].iloc[mine]))
        evs.loc[evs.index[mine], "bus_id"] = placed
