"""OCPP ``SetChargingProfile`` requests from a written plan folder, one per EV session.

The export works from the plan's own files (``ev_schedule.csv``, ``evs.csv``, ``kpis.json``),
so it can run inside :func:`vpp_sched.plan.output.write_plan` (see :func:`ocpp_writer`) or later on
any plan folder (``vpp-sched export-ocpp``). Each EV gets an absolute ``TxProfile``: the
schedule starts at the EV's first slot, has one period per change of set-point and ends with a
0 period after its last charging slot, so the charger stops when the plan has delivered the
energy. Times are written in UTC with a ``Z``, as OCPP recommends for every time value.

Limits are in W (OCPP's 0.1 steps, rounded to the nearest step: at most 0.05 W off the plan),
or in A per phase when asked (``--unit A``): a set-point ``P`` [kW] is the current per phase
``I = 1000 P / (voltage_v x phases)`` [A] (``--voltage`` phase-to-neutral, ``--phases`` 1 or 3,
unity power factor, balanced phases), rounded *down* to 0.1 A, so a charger never draws more than
the plan gave its transformer because of the rounding.

The charger minimum: an IEC 61851-1 charger signals at least 6 A (``MIN_CURRENT_A``) or nothing,
and the EV draws at least its ``min_power_kw`` (``evs.csv``) when it charges. So a non-zero limit
is never below the charger minimum: in A, the larger of 6 A and ``min_power_kw`` per phase; in W,
the larger of 6 A on one phase (``6 x voltage_v`` W, the least a charger draws whatever its phases)
and ``min_power_kw``; each rounded *up* to the unit's 0.1 step. A set-point below it (and at least
one 0.1 step) is raised to it: the charger then draws more than the plan in those slots and the
profile allows more energy. ``index.csv`` says how much (``raised_slots``, ``raised_kwh``, a note)
and :func:`raised_warning` gives one line for the terminal. A set-point below one 0.1 step stays 0.
Plans whose EVs' ``min_power_kw`` is at least the charger minimum are never raised.

File names: the EV id when it is a plain name (ASCII letters, digits, ``.``, ``_``, ``-``, not
starting with ``.`` or ``-``, at most ``MAX_STEM`` characters, no device name such as ``CON``,
unique ignoring case); any other id becomes a sanitised prefix plus the first 10 hex digits of
its SHA-256 (``index.csv`` maps every ``ev_id`` to its ``file``).

The plan does not know transaction ids: when ``evs.csv`` has a ``transaction_id`` column it is
used, otherwise the CSMS must add ``transactionId`` when it sends the profile (OCPP 2.0.1
rejects a ``TxProfile`` without one). Connector (1.6) / EVSE (2.0.1) ids come from a
``connector_id`` or ``evse_id`` column of ``evs.csv`` when present, else one id for all.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vpp_sched.errors import InputError
from vpp_sched.plan.output import atomic_folder
from vpp_sched.scenario.tables import Problems, Table
from vpp_sched.scenario.timeutil import parse_times

VERSIONS = ("1.6", "2.0.1")
UNITS = ("W", "A")
MAX_PERIODS_201 = 1024  # OCPP 2.0.1 schema: chargingSchedulePeriod maxItems
MIN_CURRENT_A = 6.0     # IEC 61851-1: the least current a charger's PWM signal allows [A per phase]
MAX_STEM = 64           # longest file name stem written as the EV id itself [characters]
HASH_DIGITS = 10        # hex digits of SHA-256 that keep a sanitised file name unique [-]
INDEX_COLUMNS = ["ev_id", "file", "charging_profile_id", "connector_id", "transaction_id", "valid_from",
                 "valid_to", "periods", "profile_kwh", "delivered_kwh", "min_limit", "raised_slots", "raised_kwh",
                 "note"]


@dataclass(frozen=True)
class ProfileOptions:
    """How set-points become OCPP limits.

    Attributes
    ----------
    unit : ``W`` (power) or ``A`` (current per phase)
    voltage_v : phase-to-neutral voltage used to turn power into current [V]
    phases : number of phases the charger uses (1 or 3) [-]; written as ``numberPhases`` in A
    connector_id : connector (1.6) / EVSE (2.0.1) id when ``evs.csv`` has no such column [-]
    stack_level : OCPP stack level of every profile [-]
    first_profile_id : charging profile id of the first EV in ``evs.csv``; ids count up [-]
    """

    unit: str = "W"
    voltage_v: float = 230.0
    phases: int = 3
    connector_id: int = 1
    stack_level: int = 0
    first_profile_id: int = 1

    def check(self) -> None:
        """Raise ``ValueError`` naming the first bad option."""
        if self.unit not in UNITS:
            raise ValueError(f"unit must be one of {', '.join(UNITS)}, not {self.unit!r}")
        if self.phases not in (1, 3):
            raise ValueError(f"phases must be 1 or 3, not {self.phases}")
        if not self.voltage_v > 0:
            raise ValueError(f"voltage must be positive, not {self.voltage_v}")
        for name, low in (("connector_id", 1), ("stack_level", 0), ("first_profile_id", 0)):
            if getattr(self, name) < low:
                raise ValueError(f"{name} must be at least {low}, not {getattr(self, name)}")

    def limits(self, power_kw: np.ndarray) -> np.ndarray:
        """OCPP limits for powers [kW]: W to the nearest 0.1 W, or A per phase floored to 0.1 A
        (before the charger minimum, see :meth:`min_limit`)."""
        watts = np.maximum(np.asarray(power_kw, dtype=float), 0.0) * 1000.0
        if self.unit == "W":
            return np.round(watts * 10.0) / 10.0
        amps = watts / (self.voltage_v * self.phases)
        # 1e-6: a set-point that is a whole 0.1 A step up to CSV round-off keeps its step.
        return np.floor(amps * 10.0 + 1e-6) / 10.0

    def min_limit(self, min_power_kw: float) -> float:
        """The least non-zero limit of a charger for an EV with ``min_power_kw`` [kW], in the unit:
        A: max(6 A, min_power_kw per phase); W: max(6 A x voltage_v on one phase, min_power_kw);
        rounded up to the 0.1 step."""
        ev_w = max(float(min_power_kw), 0.0) * 1000.0
        if self.unit == "W":
            least = max(MIN_CURRENT_A * self.voltage_v, ev_w)
        else:
            least = max(MIN_CURRENT_A, ev_w / (self.voltage_v * self.phases))
        # 1e-6: a minimum that is a whole 0.1 step up to round-off keeps its step.
        return math.ceil(least * 10.0 - 1e-6) / 10.0

    def charger_limits(self, power_kw: np.ndarray, min_power_kw: float) -> tuple[np.ndarray, np.ndarray]:
        """Limits for powers [kW] with no non-zero limit below :meth:`min_limit`, and which were raised."""
        limits = self.limits(power_kw)
        least = self.min_limit(min_power_kw)
        raised = (limits > 0) & (limits < least)
        return np.where(raised, least, limits), raised

    def to_kw(self, limit: float) -> float:
        """Power [kW] of one limit in this unit."""
        return limit / 1000.0 if self.unit == "W" else limit * self.voltage_v * self.phases / 1000.0


@dataclass
class Session:
    """One EV's rows of the plan: slot starts (UTC seconds), set-points [kW] and its window."""

    ev_id: str
    row: int                 # 0-based position in evs.csv
    slot_start_s: np.ndarray  # int64 epoch seconds, sorted
    power_kw: np.ndarray
    valid_from_s: int
    valid_to_s: int
    delivered_kwh: float     # the plan's charging energy at the charger (charged_kwh for a V2G EV)
    connector_id: int
    transaction_id: str | None
    discharged_kwh: float = 0.0   # V2G discharge the profile cannot carry
    min_power_kw: float = 0.0     # the EV's least charging power when on [kW]


def _utc(seconds: int) -> str:
    """ISO 8601 UTC text of epoch seconds (time.gmtime: pandas Timestamps cost 50x more per call)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(seconds)))


def schedule_periods(slot_start_s: np.ndarray, limits: np.ndarray, slot_s: int) -> list[tuple[int, float]]:
    """``(startPeriod [s], limit)`` pairs: one per change of set-point, a 0 after the last slot.

    A gap between listed slots (not expected in a plan) is filled with a 0 period so the
    charger never carries a set-point over time the plan did not give it.
    """
    t0 = int(slot_start_s[0])
    periods: list[tuple[int, float]] = []
    end = t0
    for start, limit in zip(slot_start_s.tolist(), limits.tolist()):
        if start > end and periods and periods[-1][1] != 0.0:
            periods.append((end - t0, 0.0))
        if not periods or periods[-1][1] != limit:
            periods.append((start - t0, float(limit)))
        end = start + slot_s
    if periods[-1][1] != 0.0:
        periods.append((end - t0, 0.0))
    return periods


def periods_energy_kwh(periods: list[tuple[int, float]], end_s: int, to_kw: Callable[[float], float]) -> float:
    """Energy of a period list up to ``end_s`` seconds after its start [kWh]."""
    bounds = [p[0] for p in periods[1:]] + [end_s]
    return sum(to_kw(lim) * max(b - s, 0) / 3600.0 for (s, lim), b in zip(periods, bounds))


def profile_payload(s: Session, version: str, profile_id: int, slot_s: int, opts: ProfileOptions) -> dict:
    """The ``SetChargingProfile`` request payload of one session in OCPP ``version``."""
    periods = schedule_periods(s.slot_start_s, opts.charger_limits(s.power_kw, s.min_power_kw)[0], slot_s)
    rows = []
    for start, limit in periods:
        row = {"startPeriod": int(start), "limit": limit}
        if opts.unit == "A":
            row["numberPhases"] = opts.phases
        rows.append(row)
    schedule = {"startSchedule": _utc(s.slot_start_s[0]), "chargingRateUnit": opts.unit,
                "chargingSchedulePeriod": rows}
    profile = {"stackLevel": opts.stack_level, "chargingProfilePurpose": "TxProfile",
               "chargingProfileKind": "Absolute", "validFrom": _utc(s.valid_from_s), "validTo": _utc(s.valid_to_s)}
    if version == "1.6":
        profile = {"chargingProfileId": profile_id, **profile, "chargingSchedule": schedule}
        if s.transaction_id is not None:
            profile["transactionId"] = int(s.transaction_id)
        return {"connectorId": s.connector_id, "csChargingProfiles": profile}
    if len(rows) > MAX_PERIODS_201:
        raise InputError([f"ev_schedule.csv (ev_id={s.ev_id}): {len(rows)} set-point changes exceed the "
                          f"{MAX_PERIODS_201} periods an OCPP 2.0.1 charging schedule may hold"])
    profile = {"id": profile_id, **profile, "chargingSchedule": [{"id": profile_id, **schedule}]}
    if s.transaction_id is not None:
        profile["transactionId"] = s.transaction_id
    return {"evseId": s.connector_id, "chargingProfile": profile}


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
    evs = Table(folder / "evs.csv", "evs.csv", "ev_id", problems)
    sched = Table(folder / "ev_schedule.csv", "ev_schedule.csv", "ev_id", problems)
    ok_evs = evs.ok and evs.require(["ev_id"])
    ok_sched = sched.ok and sched.require(["ev_id", "slot_start", "power_kw"])
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


# A plain id is its own file name: no separator, no leading dot or dash, no trailing dot.
_PLAIN = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_-])?")
_DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"{d}{i}" for d in ("COM", "LPT") for i in range(10))}  # Windows


def _hashed_stem(ev_id: str) -> str:
    """A sanitised prefix of ``ev_id`` and the start of its SHA-256: short, safe, unique per id."""
    digest = hashlib.sha256(ev_id.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_DIGITS]
    prefix = re.sub(r"[^A-Za-z0-9_-]+", "_", ev_id).strip("_-")[:MAX_STEM - HASH_DIGITS - 1]
    return f"{prefix or 'ev'}-{digest}"


def file_names(ev_ids: list[str]) -> list[str]:
    """A safe, unique JSON file name per EV id, whatever the id (length, separators, ``..``, unicode,
    leading dots, ids equal ignoring case): the id itself when plain, else :func:`_hashed_stem`."""
    names, used = [], set()
    for ev in ev_ids:
        plain = (len(ev) <= MAX_STEM and _PLAIN.fullmatch(ev) is not None
                 and ev.split(".")[0].upper() not in _DEVICES and f"{ev}.json".lower() not in used)
        stem = ev if plain else _hashed_stem(ev)
        name, k = f"{stem}.json", 1
        while name.lower() in used:  # case-insensitive file systems; a plain id equal to a hashed name
            k += 1
            name = f"{stem}_{k}.json"
        used.add(name.lower())
        names.append(name)
    return names


def build_profiles(folder: Path | str, version: str, **options) -> tuple[dict[str, dict], pd.DataFrame]:
    """Payloads (file name -> request) and the index table of a plan folder.

    ``options`` are the fields of :class:`ProfileOptions`.
    """
    if version not in VERSIONS:
        raise ValueError(f"OCPP version must be one of {', '.join(VERSIONS)}, not {version!r}")
    opts = ProfileOptions(**options)
    opts.check()
    sessions, slot_s, without = read_sessions(folder, version, opts.connector_id)
    files = file_names([s.ev_id for s in sessions])
    payloads, index = {}, []
    for s, name in zip(sessions, files):
        pid = opts.first_profile_id + s.row
        payload = profile_payload(s, version, pid, slot_s, opts)
        payloads[name] = payload
        sched = payload["csChargingProfiles"]["chargingSchedule"] if version == "1.6" \
            else payload["chargingProfile"]["chargingSchedule"][0]
        periods = [(p["startPeriod"], p["limit"]) for p in sched["chargingSchedulePeriod"]]
        end = int(s.slot_start_s[-1]) + slot_s - int(s.slot_start_s[0])
        least = opts.min_limit(s.min_power_kw)
        limits, raised = opts.charger_limits(s.power_kw, s.min_power_kw)
        raised_kwh = opts.to_kw(float((limits - opts.limits(s.power_kw)).sum())) * slot_s / 3600.0
        notes = [] if s.transaction_id is not None else ["no transaction_id: the CSMS adds transactionId"]
        if raised.any():
            notes.append(f"{int(raised.sum())} slot(s) below the charger minimum {least:g} {opts.unit} raised to "
                         f"it: {raised_kwh:.3f} kWh more than the plan")
        if s.discharged_kwh > 0:
            notes.append(f"V2G: the plan discharges {s.discharged_kwh:.3f} kWh, which OCPP {version} "
                         "SetChargingProfile cannot request (limit 0 W there); send it by OCPP 2.1 / ISO 15118-20")
        note = "; ".join(notes)
        index.append({"ev_id": s.ev_id, "file": name, "charging_profile_id": pid, "connector_id": s.connector_id,
                      "transaction_id": s.transaction_id or "", "valid_from": _utc(s.valid_from_s),
                      "valid_to": _utc(s.valid_to_s), "periods": len(periods),
                      "profile_kwh": periods_energy_kwh(periods, end, opts.to_kw),
                      "delivered_kwh": s.delivered_kwh, "min_limit": least, "raised_slots": int(raised.sum()),
                      "raised_kwh": raised_kwh, "note": note})
    for ev in without:
        index.append({"ev_id": ev, "file": "", "note": "no slot of its stay in the horizon: no profile"})
    return payloads, pd.DataFrame(index, columns=INDEX_COLUMNS)


def raised_warning(index: pd.DataFrame) -> str | None:
    """One line when some profile raises set-points to the charger minimum (``index.csv``), else ``None``."""
    slots = pd.to_numeric(index.raised_slots, errors="coerce").fillna(0)
    if not (slots > 0).any():
        return None
    kwh = float(pd.to_numeric(index.raised_kwh, errors="coerce").fillna(0).sum())
    return (f"{int((slots > 0).sum())} of {int(index.file.astype(bool).sum())} profile(s) raise {int(slots.sum())} "
            f"slot(s) below the charger minimum (IEC 61851: {MIN_CURRENT_A:g} A, or the EV's min_power_kw) to it: "
            f"the chargers may draw {kwh:.3f} kWh more than the plan (index.csv raised_slots, raised_kwh)")


def write_profiles(folder: Path | str, payloads: dict[str, dict], index: pd.DataFrame) -> None:
    """Write one JSON file per payload and ``index.csv`` into ``folder`` (created)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, payload in payloads.items():
        # Compact: json's C encoder is skipped when indenting, 10x slower for 10,000 EVs.
        (folder / name).write_text(json.dumps(payload, ensure_ascii=False) + "\n", encoding="utf-8")
    index.to_csv(folder / "index.csv", index=False, float_format="%.6f", lineterminator="\n")


def export_ocpp(plan_folder: Path | str, version: str, out: Path | str | None = None, force: bool = False,
                **options) -> Path:
    """Write the OCPP profiles of a plan folder to ``out`` (default ``<plan>/ocpp``), atomically.

    ``out`` is written to a temporary folder beside it and replaces an earlier export only when
    complete. ``options`` are the fields of :class:`ProfileOptions`. Returns ``out``.
    """
    payloads, index = build_profiles(plan_folder, version, **options)
    out = Path(out if out is not None else Path(plan_folder) / "ocpp").resolve()
    with atomic_folder(out, "ocpp", inputs=[plan_folder], force=force) as tmp:
        write_profiles(tmp, payloads, index)
    return out


def ocpp_writer(version: str, **options) -> Callable[[Path], None]:
    """A ``write_plan`` extra: ``extra={"ocpp": ocpp_writer("2.0.1")}`` writes ``ocpp/`` in the plan.

    It reads the CSVs ``write_plan`` has already written into its temporary folder, so the
    profiles always match the plan's files. Options are checked now, before any solve is wasted.
    """
    if version not in VERSIONS:
        raise ValueError(f"OCPP version must be one of {', '.join(VERSIONS)}, not {version!r}")
    ProfileOptions(**options).check()

    def write(folder: Path) -> None:
        payloads, index = build_profiles(folder, version, **options)
        write_profiles(Path(folder) / "ocpp", payloads, index)

    return write
