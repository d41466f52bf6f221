"""Checking a written plan folder (``vpp-sched validate PLAN_DIR``): its files against the plan's JSON
Schema (:mod:`vpp_sched.plan.schema`), then its physical validity (:mod:`vpp_sched.plan.validity`) on
the plan's scenario, each table read through :mod:`vpp_sched.plan.read_plan` (CSV or partitioned
Parquet alike). Nothing is written.

A table is checked column by column: each distinct cell of a column the schema describes is turned
into the JSON value the schema reads (numbers, ``True``/``False``, empty = null where the column is
nullable) and validated with ``jsonschema`` against that column's schema, so a million-row schedule
costs one validation per distinct value, and a bad cell is reported at every row holding it (capped
per file and field, :class:`~vpp_sched.scenario.tables.Problems`). ``kpis.json`` and the manifest
are validated whole. The physical check runs only on a folder that passed the schema (it reads the
tables as numbers); its messages name an EV, transformer, battery or feeder and a slot, which
:func:`where_in_plan` turns into the file, row and field.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from vpp_sched.errors import InputError, echo
from vpp_sched.outfolder import MANIFEST, read_manifest
from vpp_sched.plan.read_plan import find_plan_table, read_plan_table
from vpp_sched.plan.schema import OPTIONAL_TABLES, TABLES, kpis_schema, manifest_schema, table_row_schema
from vpp_sched.scenario.tables import Problems

#: Plan tables the physical check reads into :class:`~vpp_sched.plan.results.Plan` fields of the same name.
PLAN_FIELDS = ("ev_schedule", "transformer_load", "evs", "batteries", "feeders", "dr_events", "events",
               "grid_buses", "grid_lines", "grid_phases")
SITE_STEMS = ("swap_stations", "fast_charging")


@dataclass
class FolderCheck:
    """What :func:`check_plan_folder` found: the problems (one line each) and what was checked."""

    problems: list[str]
    tables: dict[str, int] = field(default_factory=dict)     # stem -> rows checked
    physical: bool = False                                  # the physical check ran
    kpis: dict = field(default_factory=dict)


def is_plan_folder(path: Path | str) -> bool:
    """A folder vpp-sched wrote as a plan (its manifest's ``kind``), or one holding a plan's
    ``kpis.json`` and ``ev_schedule`` table (a plan copied without its manifest)."""
    path = Path(path)
    if not path.is_dir():
        return False
    manifest = read_manifest(path)
    if manifest is not None:
        return manifest.get("kind") == "plan"
    return (path / "kpis.json").is_file() and find_plan_table(path, "ev_schedule") is not None


def check_plan_folder(folder: Path | str, scenario=None) -> FolderCheck:
    """Every problem of the plan in ``folder``: the schema's, then (with ``scenario``, a loaded
    scenario, and no schema problem) the physical validity's."""
    folder = Path(folder)
    found = Problems()
    check = FolderCheck([])
    frames = {}
    for stem in TABLES:
        source = find_plan_table(folder, stem)
        if source is None:
            if stem not in OPTIONAL_TABLES:
                found.add(f"{stem}.csv: file not found (every plan has it), nor a partitioned Parquet folder {stem}/")
            continue
        try:
            frame = read_plan_table(folder, stem, text=True)
        except InputError as exc:
            for line in exc.problems:
                found.add(line)
            continue
        table_problems(frame, stem, source.label, found)
        frames[stem], check.tables[stem] = frame, len(frame)
    check.kpis = _json_file_problems(folder, found)
    if scenario is not None and not found:
        for line in physical_problems(folder, scenario, frames):
            found.add(line)
        check.physical = True
    check.problems = found.close()
    return check


# --- the schema --------------------------------------------------------------------------------
def table_problems(frame: pd.DataFrame, stem: str, label: str, found: Problems) -> None:
    """Into ``found``: the required columns ``frame`` (cells as text) lacks, and each row whose cell
    does not fit its column's schema (``label row N (id): field: what``)."""
    schema = table_row_schema(stem)
    for col in schema["required"]:
        if col not in frame.columns:
            found.add(f"{label}: missing column {col}")
    id_col = next((c for c in schema["required"] if c.endswith("_id")), None)
    for col, spec in schema["properties"].items():
        if col not in frame.columns:
            continue
        cells = frame[col].to_numpy(dtype=object)
        codes, uniques = pd.factorize(cells)
        validator = _validator(json.dumps(spec, sort_keys=True))
        for u, value in enumerate(uniques):
            message = cell_problem(spec, value, validator)
            if message is None:
                continue
            for i in np.flatnonzero(codes == u):
                if found.full((label, col)):
                    found.add("", key=(label, col))       # counted, not listed
                    continue
                ident = f" ({id_col}={echo(frame[id_col].iat[i])})" if id_col and id_col in frame.columns else ""
                found.add(f"{label} row {i + 1}{ident}: {col}: {message}", key=(label, col))


def cell_problem(spec: dict, cell: str, validator=None) -> str | None:
    """What is wrong with the CSV cell ``cell`` under the column schema ``spec`` (``None``: nothing);
    ``validator``: ``spec``'s, when the caller has it."""
    validator = validator or _validator(json.dumps(spec, sort_keys=True))
    errors = sorted(validator.iter_errors(json_value(cell, spec.get("type"))), key=lambda e: e.validator)
    return errors[0].message if errors else None


def json_value(cell: str, kind) -> object:
    """The JSON value a plan CSV cell stands for under the schema type ``kind`` (module docstring);
    a cell that is no such value stays text, for the schema to refuse."""
    kinds = kind if isinstance(kind, list) else [kind]
    text = cell.strip()
    if text == "" and "null" in kinds:
        return None
    if "number" in kinds or "integer" in kinds:
        try:
            value = float(text)
        except ValueError:
            return cell
        if not math.isfinite(value):
            return cell
        return int(value) if "integer" in kinds and value.is_integer() else value
    if "boolean" in kinds:
        return {"True": True, "False": False}.get(text, cell)
    return cell


@lru_cache(maxsize=256)
def _validator(spec_json: str):
    import jsonschema

    spec = json.loads(spec_json)
    cls = jsonschema.validators.validator_for({"$schema": "https://json-schema.org/draft/2020-12/schema"})
    return cls(spec, format_checker=_format_checker())


@lru_cache(maxsize=1)
def _format_checker():
    """``date-time`` as the plan writes it: ISO 8601 with a UTC offset (jsonschema checks the format
    only with an optional package; this needs none)."""
    import jsonschema

    checker = jsonschema.FormatChecker(formats=())

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value) -> bool:
        if not isinstance(value, str):
            return True
        if datetime.fromisoformat(value).tzinfo is None:
            raise ValueError("no UTC offset")
        return True
    return checker


def _json_file_problems(folder: Path, found: Problems) -> dict:
    """Into ``found``: ``kpis.json``'s and the manifest's problems (``file: key.path: what``); the KPIs."""
    kpis = {}
    for name, schema in (("kpis.json", kpis_schema()), (MANIFEST, manifest_schema())):
        path = folder / name
        if not path.is_file():
            if name == "kpis.json":
                found.add("kpis.json: file not found (every plan has it)")
            continue
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            found.add(f"{name}: not readable JSON ({echo(str(exc), 200)})")
            continue
        validator = _validator(json.dumps(schema, sort_keys=True))
        for error in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
            where = ".".join(str(k) for k in error.absolute_path) or "(top)"
            found.add(f"{name}: {where}: {error.message}", key=(name, where))
        if name == "kpis.json" and isinstance(doc, dict):
            kpis = doc
    return kpis


# --- the physical validity --------------------------------------------------------------------
def physical_problems(folder: Path, scenario, frames: dict[str, pd.DataFrame]) -> list[str]:
    """:func:`~vpp_sched.plan.validity.check_plan` of the written plan on ``scenario``'s problem, each
    message placed by :func:`where_in_plan`."""
    from vpp_sched.plan.results import Plan
    from vpp_sched.plan.validity import check_plan
    from vpp_sched.problem.build import build_problem

    kpis = json.loads((folder / "kpis.json").read_text(encoding="utf-8"))
    if kpis.get("scenario") not in (None, scenario.config.name):
        return [f"kpis.json: scenario: the plan is of scenario {echo(kpis['scenario'])}, not of "
                f"{echo(scenario.config.name)}; name the plan's scenario (--scenario)"]
    typed = {stem: read_plan_table(folder, stem) for stem in frames}
    plan = Plan(**{stem: typed.get(stem, pd.DataFrame()) for stem in PLAN_FIELDS if stem != "events"},
                kpis=kpis, events=typed.get("events", pd.DataFrame()),
                sites={stem: typed[stem] for stem in SITE_STEMS if stem in typed})
    problem = build_problem(scenario)
    if isinstance(kpis.get("robust"), dict) and "epsilon" in kpis["robust"]:
        # `plan --robust` plans the EVs' robust sessions (models/uncertainty.md): its tables are of those
        from vpp_sched.problem.margins import robust_sessions_problem
        problem = robust_sessions_problem(problem, scenario, float(kpis["robust"]["epsilon"]))
    try:
        found = check_plan(problem, plan)
    except (ValueError, KeyError, IndexError) as exc:   # rows that do not fit the scenario's EVs and slots
        # (ArgumentError is a ValueError)
        return [f"plan: the tables do not fit the scenario {echo(scenario.config.name)} ({echo(str(exc), 200)})"]
    labels = {stem: find_plan_table(folder, stem).label for stem in typed}
    return [where_in_plan(message, typed, labels) for message in found]


#: validity.py's finding -> (plan table, field). Its messages read ``what: N case(s), first WHO [at SLOT]``.
FINDINGS: dict[str, tuple[str, str]] = {
    "EV power below zero": ("ev_schedule", "power_kw"),
    "EV power above max_power_kw": ("ev_schedule", "power_kw"),
    "EV charging outside its whole-slot stay": ("ev_schedule", "power_kw"),
    "EV power between 0 and min_power_kw": ("ev_schedule", "power_kw"),
    "evs.csv delivered_kwh differs from the schedule": ("evs", "delivered_kwh"),
    "EV gets more than requested": ("evs", "delivered_kwh"),
    "EV short of energy without reporting it as unmet_kwh": ("evs", "unmet_kwh"),
    "discharge by an EV that is not V2G": ("ev_schedule", "discharge_kw"),
    "discharge_kw out of 0..max_discharge_kw": ("ev_schedule", "discharge_kw"),
    "EV discharging outside its whole-slot stay": ("ev_schedule", "discharge_kw"),
    "EV charges and discharges in one slot": ("ev_schedule", "discharge_kw"),
    "EV battery energy outside 0..battery_kwh": ("ev_schedule", "soc_kwh"),
    "soc_kwh does not follow charge/discharge with efficiencies": ("ev_schedule", "soc_kwh"),  # or batteries
    "ev_kw differs from the EV schedule": ("transformer_load", "ev_kw"),
    "base_load_kw differs from input": ("transformer_load", "base_load_kw"),
    "net_load_kw != base + ev + battery - pv + site": ("transformer_load", "net_load_kw"),
    "pv_kw outside 0..forecast": ("transformer_load", "pv_kw"),
    "net load above limit_kw without reported overload": ("transformer_load", "net_load_kw"),
    "reverse flow above limit_kw without reported overload": ("transformer_load", "net_load_kw"),
    "limit_kw differs from input": ("transformer_load", "limit_kw"),
    "battery charges and discharges in one slot": ("batteries", "charge_kw"),
    "charge_kw out of range": ("batteries", "charge_kw"),
    "discharge_kw out of range": ("batteries", "discharge_kw"),
    "soc_kwh outside soc_min..soc_max": ("batteries", "soc_kwh"),
    "final soc_kwh below soc_final_min": ("batteries", "soc_kwh"),
    "battery or V2G discharge while the transformer exports (net load - curtailed PV < 0)":
        ("transformer_load", "net_load_kw"),
    "feeder load above capacity_kw without reported overload": ("feeders", "net_load_kw"),
}
_KEYS = {"ev_schedule": "ev_id", "evs": "ev_id", "transformer_load": "transformer_id", "batteries": "station_id",
         "feeders": "feeder_id"}
_FINDING = re.compile(r"^(?P<what>.+): (?P<n>\d+) case\(s\), first (?:battery of |feeder )?(?P<who>.+?)"
                      r"(?: at (?P<slot>\S+))?$")


def where_in_plan(message: str, tables: dict[str, pd.DataFrame], labels: dict[str, str] | None = None) -> str:
    """A validity message as ``file row N (id, slot_start): field: what (N case(s))`` where it names a
    finding of :data:`FINDINGS` and the row is in the table; else the message, after the file it names."""
    m = _FINDING.match(message)
    if m is None or m["what"] not in FINDINGS:
        return message if re.match(r"^[\w]+\.csv", message) else f"plan: {message}"
    stem, col = FINDINGS[m["what"]]
    if m["what"].startswith("soc_kwh does not follow") and " battery of " in message:
        stem = "batteries"
    frame = tables.get(stem)
    label = (labels or {}).get(stem, f"{stem}.csv")
    row = _row_of(frame, _KEYS[stem], m["who"], m["slot"])
    at = f" at {m['slot']}" if m["slot"] else ""
    if row is None:
        return f"{label}: {col}: {m['what']} ({m['n']} case(s), first {m['who']}{at}, not a row of the file)"
    slot = f", slot_start={m['slot']}" if m["slot"] else ""
    return f"{label} row {row + 1} ({_KEYS[stem]}={m['who']}{slot}): {col}: {m['what']} ({m['n']} case(s) in all)"


def _row_of(frame: pd.DataFrame | None, key: str, who: str, slot: str | None) -> int | None:
    """The position of the row of ``key == who`` (at ``slot``, compared as times) in ``frame``."""
    if frame is None or key not in frame.columns:
        return None
    rows = np.flatnonzero((frame[key].astype(str) == who).to_numpy())
    if slot is not None and len(rows) and "slot_start" in frame.columns:
        times = pd.to_datetime(frame.slot_start.iloc[rows], utc=True, format="ISO8601")
        rows = rows[(times == pd.Timestamp(slot).tz_convert("UTC")).to_numpy()]
    return int(rows[0]) if len(rows) else None
