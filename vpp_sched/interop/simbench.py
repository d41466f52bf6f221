"""Import a SimBench CSV grid as a starter scenario: its MV/LV transformers and their base load.

SimBench (simbench.de) publishes benchmark grids as semicolon-separated CSV tables. This reads
them with pandas only (no pandapower): ``Transformer.csv`` + ``TransformerType.csv`` (rating
``sR`` [MVA]), ``Load.csv`` (each load's ``node``, ``profile`` and peak ``pLoad`` [MW]),
``LoadProfile.csv`` (normalised 15-minute profiles ``<profile>_pload`` for 2016, German local
time without a zone) and ``Node.csv``; ``Line.csv`` and ``Switch.csv`` when the grid has several
MV/LV transformers. A load's active power in a slot is ``pLoad x <profile>_pload``.

The scenario day is mapped to the 2016 day with the same weekday nearest its day of year, and
the profile's local clock time is kept: 19:00 in the profile is 19:00 in the scenario's time
zone (residential evening peaks sit at about the same clock time in Germany and China).

Which loads a transformer feeds: with one MV/LV transformer, all loads. With several, the
node graph of lines and closed switches is searched from every transformer's LV node at once;
a load belongs to the transformer that reaches its node in the fewest hops, and loads no
transformer reaches (MV loads) are left out and listed in the result.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from vpp_sched.errors import ArgumentError, InputError
from vpp_sched.outfolder import OutFolder, check_target
from vpp_sched.scenario.synthetic import EV_COLUMNS, ZEZHOU_SITE, scenario_config, write_scenario
from vpp_sched.scenario.synthetic_base_load import simbench_date
from vpp_sched.scenario.tables import Problems, Table
from vpp_sched.scenario.timeutil import slot_index, to_local

SIMBENCH_YEAR = 2016
PROFILE_TIME_FORMAT = "%d.%m.%Y %H:%M"  # SimBench's "01.01.2016 00:15"
SLOT_MINUTES = 15                        # SimBench's profile resolution
LV_MAX_KV = 1.0                          # a transformer whose low side is at most 1 kV is MV/LV
ATTRIBUTION = ("SimBench (simbench.de), Open Database License 1.0; University of Kassel, TU Dortmund, "
               "RWTH Aachen University, Fraunhofer IEE")


class SimbenchTable(Table):
    """A SimBench CSV table: semicolon-separated, ``NULL`` for an empty cell."""

    def __init__(self, path: Path, label: str, id_col: str | None, problems: Problems):
        self.path, self.label, self.id_col, self.problems = path, label, id_col, problems
        self.ok = False
        try:
            raw = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
        except FileNotFoundError:
            problems.add(f"{label}: file not found at {path}")
            return
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            problems.add(f"{label}: not a readable semicolon-separated table ({str(exc).strip()})")
            return
        raw.columns = [str(c).strip() for c in raw.columns]
        self.raw = raw.apply(lambda c: c.str.strip().replace("NULL", ""))
        self.ok = True


@dataclass
class ImportResult:
    """What :func:`import_simbench` wrote."""

    folder: Path
    transformers: pd.DataFrame        # transformer_id, rated_kva, power_factor, max_loading_pu
    loads_per_transformer: dict[str, int]
    profile_days: list[dt.date]       # the 2016 days whose profiles were used
    unassigned_loads: list[str] = field(default_factory=list)


def read_transformers(folder: Path, problems: Problems) -> pd.DataFrame | None:
    """MV/LV transformers: ``transformer_id, node_lv, rated_kva, row`` (rating from ``sR`` [MVA]).

    ``row`` is the 0-based data row in ``Transformer.csv``, for messages.
    """
    t = SimbenchTable(folder / "Transformer.csv", "Transformer.csv", "id", problems)
    types = SimbenchTable(folder / "TransformerType.csv", "TransformerType.csv", "id", problems)
    if not (t.ok and t.require(["id", "nodeLV", "type"])) or not (types.ok and types.require(["id", "sR", "vmLV"])):
        return None
    sr = types.number("sR", minimum=0, strict=True)
    vm_lv = types.number("vmLV", minimum=0, strict=True)
    type_ids = types.text("id")
    t.text("id")
    t.unique("id")
    t.text("nodeLV")
    t.known("type", set(type_ids), "id in TransformerType.csv")
    by_type = pd.DataFrame({"sr": sr.to_numpy(), "vm_lv": vm_lv.to_numpy()},
                           index=type_ids.to_numpy()).groupby(level=0).first()
    df = pd.DataFrame({"transformer_id": t.raw["id"], "node_lv": t.raw["nodeLV"],
                       "rated_kva": t.raw["type"].map(by_type.sr) * 1000.0,
                       "vm_lv": t.raw["type"].map(by_type.vm_lv), "row": np.arange(len(t.raw))})
    df = df[df.vm_lv <= LV_MAX_KV].drop(columns="vm_lv").reset_index(drop=True)
    if t.ok and not problems and df.empty:
        problems.add(f"Transformer.csv: no MV/LV transformer (none whose type has vmLV <= {LV_MAX_KV:g} kV "
                     "in TransformerType.csv)")
    return df


def read_loads(folder: Path, problems: Problems) -> pd.DataFrame | None:
    """Loads: ``load_id, node, profile, p_kw`` (peak ``pLoad`` [MW] in kW)."""
    t = SimbenchTable(folder / "Load.csv", "Load.csv", "id", problems)
    if not (t.ok and t.require(["id", "node", "profile", "pLoad"])):
        return None
    t.unique("id")
    return pd.DataFrame({"load_id": t.text("id"), "node": t.text("node"), "profile": t.text("profile"),
                         "p_kw": t.number("pLoad") * 1000.0}).assign(row=np.arange(len(t.raw)))


def check_nodes(folder: Path, trafos: pd.DataFrame, loads: pd.DataFrame, problems: Problems) -> None:
    """Every transformer LV node and load node must be a node of ``Node.csv``."""
    nodes = SimbenchTable(folder / "Node.csv", "Node.csv", "id", problems)
    if not (nodes.ok and nodes.require(["id"])):
        return
    known = set(nodes.raw["id"])
    for label, frame, id_col, col in (("Transformer.csv", trafos, "transformer_id", "node_lv"),
                                      ("Load.csv", loads, "load_id", "node")):
        for i in np.flatnonzero(~frame[col].isin(known) & (frame[col] != "")):
            row = int(frame["row"].iat[i])
            problems.add(f"{label} row {row + 1} (id={frame[id_col].iat[i]}): "
                         f"{'nodeLV' if col == 'node_lv' else 'node'} {frame[col].iat[i]} is not an id in Node.csv",
                         (label, col))


def _edges(folder: Path, problems: Problems) -> list[tuple[str, str]]:
    """Node pairs joined by a line or a closed switch (``cond`` 1)."""
    edges: list[tuple[str, str]] = []
    lines = SimbenchTable(folder / "Line.csv", "Line.csv", "id", problems)
    if lines.ok and lines.require(["nodeA", "nodeB"]):
        edges += list(zip(lines.raw["nodeA"], lines.raw["nodeB"]))
    switches = SimbenchTable(folder / "Switch.csv", "Switch.csv", "id", problems)
    if switches.ok and switches.require(["nodeA", "nodeB", "cond"]):
        closed = switches.raw["cond"].isin(["1", "1.0", "True", "true"])
        edges += list(zip(switches.raw["nodeA"][closed], switches.raw["nodeB"][closed]))
    return edges


def assign_loads(trafos: pd.DataFrame, loads: pd.DataFrame, edges: list[tuple[str, str]]) -> pd.Series:
    """Transformer id of each load (``""`` when none reaches it), by breadth-first search.

    The search starts from every transformer's LV node at once, so a node goes to the nearest
    transformer in hops; transformers are not edges, so it never crosses to the MV side.
    """
    if len(trafos) == 1:
        return pd.Series(trafos.transformer_id.iat[0], index=loads.index)
    graph: dict[str, list[str]] = {}
    for a, b in edges:
        graph.setdefault(a, []).append(b)
        graph.setdefault(b, []).append(a)
    owner = {node: tid for tid, node in zip(trafos.transformer_id, trafos.node_lv)}
    queue = deque(owner)
    while queue:
        node = queue.popleft()
        for nxt in graph.get(node, ()):
            if nxt not in owner:
                owner[nxt] = owner[node]
                queue.append(nxt)
    return loads.node.map(owner).fillna("")


def read_profiles(folder: Path, columns: list[str], times: pd.DatetimeIndex, problems: Problems) -> pd.DataFrame | None:
    """Rows of ``LoadProfile.csv`` at naive 2016 ``times`` for ``columns`` [slots x columns]."""
    path, label = folder / "LoadProfile.csv", "LoadProfile.csv"
    try:
        header = pd.read_csv(path, sep=";", nrows=0).columns.str.strip()
    except FileNotFoundError:
        problems.add(f"{label}: file not found at {path}")
        return None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        problems.add(f"{label}: not a readable semicolon-separated table ({str(exc).strip()})")
        return None
    missing = [c for c in ["time", *columns] if c not in header]
    if missing:
        problems.add(f"{label}: missing column {', '.join(missing)} (the profiles of Load.csv need "
                     f"<profile>_pload columns; found {', '.join(header[:8])}{', ...' if len(header) > 8 else ''})")
        return None
    raw = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False, usecols=lambda c: c.strip() in {"time", *columns})
    raw.columns = raw.columns.str.strip()
    stamp = pd.to_datetime(raw["time"].str.strip(), format=PROFILE_TIME_FORMAT, errors="coerce")
    values = raw[columns].apply(lambda c: pd.to_numeric(c.str.strip(), errors="coerce"))
    bad_time = stamp.isna().to_numpy()
    for i in np.flatnonzero(bad_time)[:3]:
        problems.add(f"{label} row {i + 1}: time {raw['time'].iat[i]!r} is not a time dd.mm.yyyy HH:MM", (label, "time"))
    for col in columns:
        for i in np.flatnonzero(values[col].isna().to_numpy())[:3]:
            problems.add(f"{label} row {i + 1}: {col} {raw[col].iat[i]!r} is not a number", (label, col))
    table = values[~bad_time].set_index(stamp[~bad_time])
    table = table[~table.index.duplicated(keep="first")]
    absent = times[~times.isin(table.index)]
    if len(absent):
        span = f"{table.index.min():%d.%m.%Y %H:%M} to {table.index.max():%d.%m.%Y %H:%M}" if len(table) else "no rows"
        problems.add(f"{label}: no row for {len(absent)} slot(s) of the day, first {absent[0]:%d.%m.%Y %H:%M} "
                     f"(the file covers {span})")
        return None
    return table.reindex(times)


def _slots(day: dt.date, timezone: str, start_hour: int, slots: int) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """Scenario slot starts (tz-aware) and the naive 2016 profile time of each (same clock time)."""
    start = to_local(dt.datetime.combine(day, dt.time(start_hour)), timezone)
    index = slot_index(start, slots, SLOT_MINUTES, timezone)
    wall = index.tz_localize(None)
    dates = wall.normalize()
    mapped = pd.DatetimeIndex([pd.Timestamp(simbench_date(d.date())) for d in dates])
    return index, mapped + (wall - dates)


def _read_grid(grid: Path, problems: Problems) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Transformers and loads (with ``transformer_id``) of a SimBench folder; raises on any problem."""
    trafos = read_transformers(grid, problems)
    loads = read_loads(grid, problems)
    if trafos is None or loads is None or problems:
        raise InputError(problems.close())
    check_nodes(grid, trafos, loads, problems)
    edges = _edges(grid, problems) if len(trafos) > 1 else []
    if problems:
        raise InputError(problems.close())
    loads["transformer_id"] = assign_loads(trafos, loads, edges).to_numpy()
    return trafos, loads


def base_load_kw(grid: Path, loads: pd.DataFrame, transformer_ids: list[str], profile_times: pd.DatetimeIndex,
                 problems: Problems) -> np.ndarray | None:
    """Base load per transformer and slot [N, slots] in kW: the sum of ``pLoad x <profile>_pload``."""
    columns = sorted({f"{p}_pload" for p in loads.profile})
    profiles = read_profiles(grid, columns, profile_times, problems)
    if profiles is None or problems:
        return None
    per_load = profiles[[f"{p}_pload" for p in loads.profile]].to_numpy() * loads.p_kw.to_numpy()[None, :]
    # One-hot load -> transformer matrix: unassigned loads ("") match no column and drop out.
    member = (loads.transformer_id.to_numpy()[:, None] == np.asarray(transformer_ids, dtype=object)[None, :])
    return (per_load @ member.astype(float)).T


def import_simbench(grid: Path | str, out: Path | str, day: dt.date, timezone: str = "Asia/Shanghai", *,
                    start_hour: int = 12, slots: int = 96, power_factor: float = 0.95,
                    max_loading_pu: float = 1.0, name: str | None = None, site: dict | None = None,
                    overwrite: bool = False) -> ImportResult:
    """Write a starter scenario (``scenario.yaml``, ``transformers.csv``, ``base_load.csv``, empty
    ``evs.csv``, ``README.md``) from a SimBench CSV grid folder.

    Parameters
    ----------
    grid : folder with the SimBench CSV tables
    out : scenario folder to write; written beside it first and moved into place when complete
    day : scenario day; its profile is the 2016 day from :func:`simbench_date`
    timezone : IANA zone of the scenario; slot times carry its offset, clock time kept
    start_hour : local hour of the first slot [h]; the default 12 with 96 slots plans ``day`` 12:00 to
        the next day's 12:00, the day-ahead horizon of every other command and of the bundled demo
    slots : number of 15-minute slots [-]
    power_factor, max_loading_pu : written for every transformer [-]
    name : scenario name; default the grid folder's name
    site : ``latitude, longitude, altitude_m`` for PV; default the bundled demo's site
    overwrite : replace an earlier scenario folder vpp-sched wrote at ``out``; a folder it did not
        write is never replaced (:func:`vpp_sched.outfolder.check_target`)

    Raises
    ------
    InputError
        A SimBench file or column is missing or malformed (file, row and field named).
    ValueError
        A bad option (unknown time zone, hour, power factor).
    OutFolderError
        ``out`` may not be written: not new, empty or (with ``overwrite``) our scenario folder.
    """
    grid = Path(grid)
    _check_options(timezone, start_hour, slots, power_factor, max_loading_pu)
    out = check_target(out, "scenario", [grid], force=overwrite)
    problems = Problems()
    trafos, loads = _read_grid(grid, problems)
    ids = list(trafos.transformer_id)
    times, profile_times = _slots(day, timezone, start_hour, slots)
    load_kw = base_load_kw(grid, loads, ids, profile_times, problems)
    if load_kw is None:
        raise InputError(problems.close())
    transformers = pd.DataFrame({"transformer_id": ids, "rated_kva": trafos.rated_kva.to_numpy(),
                                 "power_factor": power_factor, "max_loading_pu": max_loading_pu})
    base = pd.DataFrame({"slot_start": np.tile([t.isoformat() for t in times], len(ids)),
                         "transformer_id": np.repeat(np.asarray(ids, dtype=object), len(times)),
                         "load_kw": np.round(load_kw, 6).ravel()})
    days = sorted({d.date() for d in profile_times.normalize()})
    name = name or grid.resolve().name
    config = _config(name, grid, day, days, times[0], slots, timezone, site)
    evs = pd.DataFrame({c: pd.Series(dtype=str) for c in EV_COLUMNS})
    _write_atomic(out, config, {"transformers.csv": transformers, "base_load.csv": base, "evs.csv": evs},
                  _readme(name, grid, day, days), [grid], overwrite)
    counts = loads[loads.transformer_id != ""].groupby("transformer_id").size()
    return ImportResult(folder=out, transformers=transformers,
                        loads_per_transformer={t: int(counts.get(t, 0)) for t in ids}, profile_days=days,
                        unassigned_loads=list(loads.load_id[loads.transformer_id == ""]))


def _check_options(timezone: str, start_hour: int, slots: int, power_factor: float, max_loading_pu: float) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ArgumentError(f"unknown time zone {timezone!r}; use an IANA name such as Asia/Shanghai") from None
    if not 0 <= start_hour <= 23:
        raise ArgumentError(f"start hour must be 0..23, not {start_hour}")
    if slots < 1:
        raise ArgumentError(f"slots must be at least 1, not {slots}")
    if not 0 < power_factor <= 1:
        raise ArgumentError(f"power factor must be in (0, 1], not {power_factor}")
    if not 0 < max_loading_pu <= 5:
        raise ArgumentError(f"max loading must be in (0, 5] pu, not {max_loading_pu}")


def _config(name: str, grid: Path, day: dt.date, days: list[dt.date], start: pd.Timestamp, slots: int,
            timezone: str, site: dict | None) -> dict:
    """``scenario.yaml`` contents: the demo's tariff, the given site and zone, no stations."""
    used = ", ".join(d.isoformat() for d in days)
    description = (f"Starter scenario imported from the SimBench grid in {grid.resolve().name} by "
                   f"vpp-sched import-simbench: base load of {used} (2016 day(s) with the weekday of "
                   f"{day.isoformat()} nearest its day of year), local clock time kept. Add EVs to evs.csv. "
                   f"Data: {ATTRIBUTION}.")
    config = scenario_config(name, description, start.isoformat(), slots, SLOT_MINUTES, stations=[])
    config["site"] = {**ZEZHOU_SITE, **(site or {}), "timezone": timezone}
    return config


def _readme(name: str, grid: Path, day: dt.date, days: list[dt.date]) -> str:
    used = ", ".join(d.isoformat() for d in days)
    return (f"# {name}\n\nStarter scenario written by `vpp-sched import-simbench` from the SimBench CSV grid "
            f"`{grid.resolve().name}`.\n\n`base_load.csv` is the sum of `pLoad x <profile>_pload` of the loads "
            f"below each MV/LV transformer on {used} (the 2016 day(s) with the weekday of {day.isoformat()} "
            "nearest its day of year), at the same local clock time. `evs.csv` is empty: add EV sessions.\n\n"
            f"Data: {ATTRIBUTION}. This scenario is a Produced Work of the SimBench database.\n")


def _write_atomic(out: Path, config: dict, tables: dict[str, pd.DataFrame], readme: str, inputs: list[Path],
                  overwrite: bool) -> None:
    """Write the scenario into a temporary folder beside ``out`` and move it into place."""
    with OutFolder(out, "scenario", inputs, force=overwrite) as folder:
        write_scenario(folder.tmp, config, tables)
        (folder.tmp / "README.md").write_text(readme, encoding="utf-8")
