"""OCPP ``SetChargingProfile`` requests from a written plan folder, one per EV session.

The export works from the plan's own files (``ev_schedule.csv``, ``evs.csv``, ``kpis.json``, and
``transformer_load.csv`` when a set-point is under the charger minimum),
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
Plans whose EVs' ``min_power_kw`` is at least the charger minimum are never raised. A raise is kept
only where the EV's transformer has the room for it in ``transformer_load.csv``
(:mod:`vpp_sched.interop.ocpp_headroom`); elsewhere the limit is 0 (``lowered_slots``, ``lowered_kwh``),
so the rounding never takes a transformer over its limit.

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
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from vpp_sched.interop.ocpp_profile import (MIN_CURRENT_A, UNITS, VERSIONS, OcppOptionError, ProfileOptions,
                                            periods_energy_kwh, profile_payload, schedule_periods, utc_text)
from vpp_sched.interop.ocpp_headroom import with_headroom
from vpp_sched.interop.ocpp_read import read_sessions, slot_seconds
from vpp_sched.interop.ocpp_station import station_payloads
from vpp_sched.plan.output import atomic_folder

__all__ = ["MIN_CURRENT_A", "UNITS", "VERSIONS", "OcppOptionError", "ProfileOptions", "build_profiles",
           "export_ocpp", "file_names", "ocpp_writer", "raised_warning", "schedule_periods", "write_profiles"]

MAX_STEM = 64           # longest file name stem written as the EV id itself [characters]
HASH_DIGITS = 10        # hex digits of SHA-256 that keep a sanitised file name unique [-]
INDEX_COLUMNS = ["ev_id", "file", "charging_profile_id", "connector_id", "transaction_id", "valid_from",
                 "valid_to", "periods", "profile_kwh", "delivered_kwh", "min_limit", "raised_slots", "raised_kwh",
                 "note", "lowered_slots", "lowered_kwh"]


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
        raise OcppOptionError(f"OCPP version must be one of {', '.join(VERSIONS)}, not {version!r}")
    opts = ProfileOptions(**options)
    opts.check()
    sessions, slot_s, without = read_sessions(folder, version, opts.connector_id)
    sessions = with_headroom(folder, sessions, opts)     # raises only where the transformer keeps its limit
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
        floored = opts.limits(s.power_kw)
        limits, raised = opts.charger_limits(s.power_kw, s.min_power_kw, s.may_raise)
        lowered = opts.below_minimum(floored, s.min_power_kw) & ~raised
        raised_kwh = opts.to_kw(float((limits - floored)[raised].sum())) * slot_s / 3600.0
        lowered_kwh = float(s.power_kw[lowered].sum()) * slot_s / 3600.0
        notes = [] if s.transaction_id is not None else ["no transaction_id: the CSMS adds transactionId"]
        if raised.any():
            notes.append(f"{int(raised.sum())} slot(s) below the charger minimum {least:g} {opts.unit} raised to "
                         f"it: {raised_kwh:.3f} kWh more than the plan")
        if lowered.any():
            notes.append(f"{int(lowered.sum())} slot(s) below the charger minimum set to 0: raised, they would take "
                         f"the transformer over its limit_kw; {lowered_kwh:.3f} kWh less than the plan")
        if s.discharged_kwh > 0:
            notes.append(f"V2G: the plan discharges {s.discharged_kwh:.3f} kWh, which OCPP {version} "
                         "SetChargingProfile cannot request (limit 0 W there); send it by OCPP 2.1 / ISO 15118-20")
        note = "; ".join(notes)
        index.append({"ev_id": s.ev_id, "file": name, "charging_profile_id": pid, "connector_id": s.connector_id,
                      "transaction_id": s.transaction_id or "", "valid_from": utc_text(s.valid_from_s),
                      "valid_to": utc_text(s.valid_to_s), "periods": len(periods),
                      "profile_kwh": periods_energy_kwh(periods, end, opts.to_kw),
                      "delivered_kwh": s.delivered_kwh, "min_limit": least, "raised_slots": int(raised.sum()),
                      "raised_kwh": raised_kwh, "note": note, "lowered_slots": int(lowered.sum()),
                      "lowered_kwh": lowered_kwh})
    for ev in without:
        index.append({"ev_id": ev, "file": "", "note": "no slot of its stay in the horizon: no profile"})
    return payloads, pd.DataFrame(index, columns=INDEX_COLUMNS)


def raised_warning(index: pd.DataFrame) -> str | None:
    """One line when some profile raises set-points to the charger minimum or sets them to 0 because a
    raise would overload the transformer (``index.csv``), else ``None``."""
    def total(col: str) -> pd.Series:
        return pd.to_numeric(index[col], errors="coerce").fillna(0) if col in index else pd.Series(0.0, index.index)
    slots, low = total("raised_slots"), total("lowered_slots")
    if not (slots > 0).any() and not (low > 0).any():
        return None
    kwh = float(total("raised_kwh").sum())
    line = (f"{int((slots > 0).sum())} of {int(index.file.astype(bool).sum())} profile(s) raise {int(slots.sum())} "
            f"slot(s) below the charger minimum (IEC 61851: {MIN_CURRENT_A:g} A, or the EV's min_power_kw) to it: "
            f"the chargers may draw {kwh:.3f} kWh more than the plan (index.csv raised_slots, raised_kwh)")
    if (low > 0).any():
        line += (f"; {int(low.sum())} slot(s) of {int((low > 0).sum())} profile(s) set to 0 instead, where the raise "
                 f"would take the transformer over its limit: {float(total('lowered_kwh').sum()):.3f} kWh less "
                 "(lowered_slots, lowered_kwh)")
    return line


def write_station_profiles(plan_folder: Path | str, out: Path | str, version: str, stack_level: int = 0) -> None:
    """The fast-charging stations' station-wide caps (:mod:`vpp_sched.interop.ocpp_station`) as
    ``stations/<file>.json`` and ``stations/index.csv`` in ``out``; nothing without fast-charging stations."""
    payloads = station_payloads(plan_folder, version, slot_seconds(Path(plan_folder)), stack_level)
    if not payloads:
        return
    names = file_names(list(payloads))
    folder = Path(out) / "stations"
    folder.mkdir(parents=True, exist_ok=True)
    for name, payload in zip(names, payloads.values()):
        (folder / name).write_text(json.dumps(payload, ensure_ascii=False) + "\n", encoding="utf-8")
    pd.DataFrame({"station_id": list(payloads), "file": names}).to_csv(folder / "index.csv", index=False,
                                                                       lineterminator="\n")


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
        write_station_profiles(plan_folder, tmp, version, options.get("stack_level", 0))
    return out


def ocpp_writer(version: str, **options) -> Callable[[Path], None]:
    """A ``write_plan`` extra: ``extra={"ocpp": ocpp_writer("2.0.1")}`` writes ``ocpp/`` in the plan.

    It reads the CSVs ``write_plan`` has already written into its temporary folder, so the
    profiles always match the plan's files. Options are checked now, before any solve is wasted.
    """
    if version not in VERSIONS:
        raise OcppOptionError(f"OCPP version must be one of {', '.join(VERSIONS)}, not {version!r}")
    ProfileOptions(**options).check()

    def write(folder: Path) -> None:
        payloads, index = build_profiles(folder, version, **options)
        write_profiles(Path(folder) / "ocpp", payloads, index)
        write_station_profiles(folder, Path(folder) / "ocpp", version, options.get("stack_level", 0))

    return write
