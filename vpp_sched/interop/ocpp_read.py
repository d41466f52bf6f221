"""Reading a written plan folder for the OCPP export: one :class:`~vpp_sched.interop.ocpp_profile.Session`
per EV with set-points (``kpis.json``, ``evs.csv``, ``ev_schedule.csv``; a table written as partitioned
Parquet is read as the text of its CSV, :mod:`vpp_sched.plan.read_plan`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from vpp_sched.errors import InputError
from vpp_sched.interop.ocpp_profile import Session
from vpp_sched.plan.read_plan import plan_table_source, read_plan_table
from vpp_sched.scenario.tables import Problems, Table
from vpp_sched.scenario.timeutil import parse_times


def slot_seconds(folder: Path) -> int:
    """Slot length of the plan from ``kpis.json`` [s]."""
    return _slot_seconds(folder)


def _slot_seconds(folder: Path) -> int:
    """Slot length of the plan from ``kpis.json`` [s]."""
    path = folder / "kpis.json"
    try:
        kpis = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError([f"kpis.json: file not found at {path} (is {folder} a plan folder?)"]) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError([f"kpis.json: not readable JSON ({exc})"]) from None
    minutes = kpis.get("slot_minutes") if isinstance(kpis, dict) else None
    if not isinstance(minutes, int) or minutes <= 0:
        raise InputError([f"kpis.json: slot_minutes must be a positive whole number of minutes, found {minutes!r}"])
    return minutes * 60


def _seconds(times: pd.Series | None) -> np.ndarray | None:
    """Epoch seconds of tz-aware times (checked: no NaT); ``None`` stays ``None``."""
    return None if times is None else times.dt.as_unit("s").astype("int64").to_numpy()


def _times(t: Table, column: str) -> pd.Series:
    """A time column, each distinct text parsed once (a plan has few distinct slot starts)."""
    codes, uniques = pd.factorize(t.raw[column])
    parsed, bad = parse_times(pd.Series(uniques, dtype=object), "UTC")
    t.report(bad[codes], column, lambda i: f"{t.raw[column].iat[i]!r} is not an ISO 8601 time "
                                           "(e.g. 2026-11-27T19:15:00+08:00)")
    return pd.Series(parsed.array.take(codes), index=t.raw.index)


def _id_column(t: Table, version: str) -> str | None:
    """The connector/EVSE id column of evs.csv, the version's own name first."""
    names = ("connector_id", "evse_id") if version == "1.6" else ("evse_id", "connector_id")
    return next((c for c in names if c in t.raw.columns), None)


def _ev_columns(t: Table, version: str, default_connector: int) -> tuple[np.ndarray, list[str | None]]:
    """Connector/EVSE ids and transaction ids per row of evs.csv (problems go to ``t``)."""
    col = _id_column(t, version)
    if col is None:
        connectors = np.full(len(t.raw), default_connector, dtype=np.int64)
    else:
        values = t.number(col, minimum=1).to_numpy()
        frac = np.isfinite(values) & (values != np.round(values))
        t.report(frac, col, lambda i: f"{values[i]:g} is not a whole number")
        connectors = np.where(np.isfinite(values), np.round(values), default_connector).astype(np.int64)
    tx: list[str | None] = [None] * len(t.raw)
    if "transaction_id" in t.raw.columns:
        raw = t.raw["transaction_id"]
        tx = [v if v else None for v in raw]
        if version == "1.6":  # 1.6 transactionId is an integer
            bad = np.array([v is not None and not re.fullmatch(r"-?\d+", v) for v in tx], dtype=bool)
            t.report(bad, "transaction_id", lambda i: f"{raw.iat[i]!r} is not an integer (OCPP 1.6)")
        else:
            long = np.array([v is not None and len(v) > 36 for v in tx], dtype=bool)
            t.report(long, "transaction_id", lambda i: "is longer than 36 characters (OCPP 2.0.1)")
    return connectors, tx


def _plan_table(folder: Path, stem: str, problems: Problems) -> Table | None:
    """The plan table ``stem`` (CSV or partitioned Parquet) as text cells to check, or ``None`` with
    its problem added (so one run names the problems of both tables)."""
    try:
        raw = read_plan_table(folder, stem, text=True)
    except InputError as exc:
        for line in exc.problems:
            problems.add(line)
        return None
    return Table.from_frame(raw, plan_table_source(folder, stem).label, "ev_id", problems)


def read_sessions(folder: Path | str, version: str, connector_id: int = 1) -> tuple[list[Session], int, list[str]]:
    """The EV sessions of a plan folder.

    Returns
    -------
    sessions : one per EV with at least one slot in ``ev_schedule.csv``, in ``evs.csv`` order
    slot_s : slot length [s]
    without_slots : ids of EVs in ``evs.csv`` with no slot in the horizon (no profile)

    Raises
    ------
    InputError
        A file or column is missing or a value is malformed (file, row and field named).
    """
    folder = Path(folder)
    slot_s = _slot_seconds(folder)
    problems = Problems()
    evs, sched = _plan_table(folder, "evs", problems), _plan_table(folder, "ev_schedule", problems)
    ok_evs = evs is not None and evs.require(["ev_id"])
    ok_sched = sched is not None and sched.require(["ev_id", "slot_start", "power_kw"])
    if not (ok_evs and ok_sched):
        raise InputError(problems.close())
    ids = evs.text("ev_id")
    evs.unique("ev_id")
    arrival = _times(evs, "arrival") if "arrival" in evs.raw.columns else None
    departure = _times(evs, "departure") if "departure" in evs.raw.columns else None
    delivered = evs.number("delivered_kwh", default=np.nan).to_numpy()
    if "charged_kwh" in evs.raw.columns:   # V2G plan: a profile carries the charging energy only
        delivered = evs.number("charged_kwh").to_numpy()
    discharged = evs.number("discharged_kwh", default=0.0).to_numpy()
    min_power = evs.number("min_power_kw", minimum=0.0, default=0.0).to_numpy()  # plans before it: 6 A only
    connectors, tx = _ev_columns(evs, version, connector_id)
    starts = _times(sched, "slot_start")
    power = sched.number("power_kw").to_numpy()
    sched.text("ev_id")
    sched.known("ev_id", set(ids), "ev_id in evs.csv")
    if problems:
        raise InputError(problems.close())
    row_of = {e: i for i, e in enumerate(ids)}
    rows = sched.raw["ev_id"].map(row_of).to_numpy(dtype=np.int64)
    secs = _seconds(starts)
    order = np.lexsort((secs, rows))
    rows, secs, power = rows[order], secs[order], power[order]
    cuts = np.flatnonzero(np.diff(rows)) + 1
    # Plain arrays and lists: per-EV pandas indexing would dominate for 10,000 EVs.
    lo_ev, hi_ev, id_list = _seconds(arrival), _seconds(departure), ids.tolist()
    sessions = []
    for r, t, p in zip(np.split(rows, cuts), np.split(secs, cuts), np.split(power, cuts)):
        if not len(r):
            continue
        i = int(r[0])
        lo = max(int(t[0]), int(lo_ev[i])) if lo_ev is not None else int(t[0])
        hi = min(int(t[-1]) + slot_s, int(hi_ev[i])) if hi_ev is not None else int(t[-1]) + slot_s
        sessions.append(Session(ev_id=id_list[i], row=i, slot_start_s=t, power_kw=p, valid_from_s=lo,
                                valid_to_s=hi, delivered_kwh=float(delivered[i]), discharged_kwh=float(discharged[i]),
                                connector_id=int(connectors[i]), transaction_id=tx[i],
                                min_power_kw=float(min_power[i])))
    seen = {s.row for s in sessions}
    return sessions, slot_s, [id_list[i] for i in range(len(id_list)) if i not in seen]

