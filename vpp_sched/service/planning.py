"""One plan job's work: the scenario folder with the live data merged in, the plan, its files.

The folder is the uploaded scenario with:

* the live sessions in ``evs.csv`` (a session whose id is an EV of the scenario replaces its row):
  energy still needed = ``energy_kwh - delivered_kwh``; an ended session leaves the plan;
* the live DR events appended to ``scenario.yaml``'s ``dr_events`` (replacing one with the same id);
The day-ahead plan (no ``as_of``) is made by :func:`~vpp_sched.plan.planner.plan_day` on that folder.
A re-plan of the rest of the day (``as_of`` set) is replay's
(:func:`vpp_sched.studies.live_replan.replan_rest_of_day`): the uploaded scenario is the forecast (its
DR baselines stay the day-ahead ones), the live sessions are the day's actual EVs so far, a metered
transformer load in the slot holding ``as_of`` sets its base load (metered load less the EV power the
current plan gives that transformer there), and batteries and swap stations start where the current
plan left them (its ``replan_state.json``). Either is written by
:func:`~vpp_sched.plan.output.write_plan` with the OCPP 2.0.1 profiles (``ocpp/``, charger minimum
included, by :func:`~vpp_sched.interop.ocpp.ocpp_writer`), each profile checked against the OCPP
schema (:func:`~vpp_sched.service.ocpp_schema.check_plan_profiles`, ``ocpp_schema_check.json``).
"""

from __future__ import annotations

import datetime as dt
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from vpp_sched.errors import InputError
from vpp_sched.interop.ocpp import ocpp_writer
from vpp_sched.plan.output import write_plan
from vpp_sched.plan.planner import plan_day
from vpp_sched.scenario.load import load_scenario
from vpp_sched.service.ocpp_schema import PLAN_CHECK_FILE, check_plan_profiles
from vpp_sched.service.uploads import write_files
from vpp_sched.studies.live_replan import STATE_FILE, PlanState, plan_state, replan_rest_of_day

MANIFEST = ".vpp-sched-manifest.json"


@dataclass
class LiveData:
    """What the database holds for one job besides the scenario's own files."""

    files: dict[str, bytes]
    sessions: list[dict]           # columns of evs.csv + "status"
    dr_events: list[dict]          # scenario-schema DR events
    meter_kw: dict[str, float]     # transformer_id -> metered load in the as_of slot [kW]
    plan_ev_kw: dict[str, float]   # transformer_id -> the current plan's EV power in that slot [kW]
    plan_state: bytes | None = None  # the current plan's replan_state.json (storage state per slot)


@dataclass
class PlanOutput:
    kpis: dict
    warnings: list[str]
    files: dict[str, bytes]


def run_plan(live: LiveData, as_of: dt.datetime | None, method: str, executor, workdir: str | None = None) -> PlanOutput:
    """Merge, plan and write in a temporary folder (in ``workdir`` if given); return the plan's files
    (raises InputError, NoPlanError)."""
    with tempfile.TemporaryDirectory(prefix="vpp-sched-job-", dir=workdir) as tmp:
        folder = Path(tmp) / "scenario"
        write_files(live.files, folder)
        if as_of is None:
            _merge(folder, live)
            run = plan_day(load_scenario(folder, allow_outside_tables=False), method=method, executor=executor)
        else:
            _merge_events(folder, live)
            sc = load_scenario(folder, allow_outside_tables=False)
            run = replan_rest_of_day(sc, pd.DataFrame(live.sessions), _delivered(live.sessions), _metered(live), as_of,
                                     PlanState.from_json(live.plan_state), method=method, executor=executor)
        out = write_plan(run.plan, Path(tmp) / "plan", parquet=False, extra={"ocpp": ocpp_writer("2.0.1")})
        files = {str(p.relative_to(out).as_posix()): p.read_bytes() for p in sorted(out.rglob("*"))
                 if p.is_file() and p.name != MANIFEST}
        files[STATE_FILE] = plan_state(run.problem, run.solution).to_json()
        files[PLAN_CHECK_FILE] = check_plan_profiles(files)   # here, not in the server (ocpp_schema)
        return PlanOutput(kpis=run.plan.kpis, warnings=list(run.plan.warnings), files=files)


def run_plan_isolated(live: LiveData, as_of: dt.datetime | None, method: str, scheduler: str | None,
                      workers: int | None, workdir: str | None = None) -> PlanOutput | str:
    """:func:`run_plan` in a worker process: the plan, or the reason it failed as text (our exceptions
    carry more than their message, so they are not sent back across the process boundary)."""
    from vpp_sched.errors import VppSchedError
    from vpp_sched.solve.parallel import get_executor

    try:
        with get_executor(scheduler, workers) as executor:
            return run_plan(live, as_of, method, executor, workdir)
    except VppSchedError as exc:
        return str(exc)


def _delivered(sessions: list[dict]) -> dict[str, float]:
    return {s["ev_id"]: float(s["delivered_kwh"] or 0.0) for s in sessions}


def _metered(live: LiveData) -> dict[str, float]:
    """transformer_id -> base load in the as_of slot: metered load less the current plan's EV power there [kW]."""
    return {t: max(kw - live.plan_ev_kw.get(t, 0.0), 0.0) for t, kw in live.meter_kw.items()}


def _merge_events(folder: Path, live: LiveData) -> None:
    """The live DR events into ``scenario.yaml`` (replacing one with the same id)."""
    config = yaml.safe_load((folder / "scenario.yaml").read_text(encoding="utf-8"))
    events = {e["event_id"]: e for e in config.get("dr_events") or []}
    events.update({e["event_id"]: e for e in live.dr_events})
    start = pd.Timestamp(config["horizon"]["start"])
    config["dr_events"] = [e for e in events.values() if pd.Timestamp(e["end"]) > start]
    (folder / "scenario.yaml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _merge(folder: Path, live: LiveData) -> None:
    """The day-ahead folder: the live DR events and sessions merged in (module docstring)."""
    _merge_events(folder, live)
    config = yaml.safe_load((folder / "scenario.yaml").read_text(encoding="utf-8"))
    _merge_evs(folder / config["evs"], live.sessions, pd.Timestamp(config["horizon"]["start"]))


def _merge_evs(path: Path, sessions: list[dict], now: pd.Timestamp) -> None:
    evs = pd.read_csv(path, dtype={"ev_id": str, "transformer_id": str}, keep_default_na=False)
    live = pd.DataFrame(sessions)
    if len(live):
        evs = evs[~evs.ev_id.isin(live.ev_id)]
        live = live[live.status == "active"].drop(columns="status")
        live["energy_kwh"] = (live.energy_kwh - live.delivered_kwh).clip(lower=0.0)
        evs = pd.concat([evs, live.drop(columns=["delivered_kwh", "ended_at"], errors="ignore")], ignore_index=True)
    departure = pd.to_datetime(evs.departure, utc=True, format="ISO8601")
    evs = evs[departure > now.tz_convert("UTC")]
    evs.to_csv(path, index=False, lineterminator="\n")


def ev_kw_at(transformer_load_csv: bytes, at: dt.datetime) -> dict[str, float]:
    """transformer_id -> EV power of a plan in the slot starting at ``at`` [kW]."""
    load = pd.read_csv(io.BytesIO(transformer_load_csv), dtype={"transformer_id": str})
    rows = load[pd.to_datetime(load.slot_start, utc=True, format="ISO8601") == pd.Timestamp(at).tz_convert("UTC")]
    return {str(r.transformer_id): float(r.ev_kw) for r in rows.itertuples()}
