"""Queries the API, the jobs and the CSMS share: a scenario's files, its current plan, live data."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from vpp_sched.service.db import (AuditEntry, DrEventRow, EvSession, MeterValue, PlanFile, PlanJob, ScenarioFile,
                                  ScenarioRow)
from vpp_sched.service.horizon import OUTSIDE
from vpp_sched.service.planning import LiveData, ev_kw_at
from vpp_sched.studies.live_replan import STATE_FILE


def audit(db: Session, actor: str, action: str, target: str = "", **detail) -> None:
    """Add an audit entry to the session's transaction (committed with what it records)."""
    db.add(AuditEntry(actor=actor, action=action, target=target, detail=detail))


def current_plan(db: Session, scenario_id: int) -> PlanJob | None:
    """The scenario's newest succeeded plan."""
    return db.scalars(select(PlanJob).where(PlanJob.scenario_id == scenario_id, PlanJob.status == "succeeded")
                      .order_by(PlanJob.finished_at.desc(), PlanJob.id.desc()).limit(1)).first()


def plan_file(db: Session, plan_id: int, name: str) -> bytes | None:
    row = db.scalars(select(PlanFile).where(PlanFile.plan_id == plan_id, PlanFile.name == name)).first()
    return None if row is None else row.data


def session_row(s: EvSession) -> dict:
    """A session as a row of evs.csv (+ delivered energy and status)."""
    return {"ev_id": s.session_id, "transformer_id": s.transformer_id, "arrival": s.arrival.isoformat(),
            "departure": s.departure.isoformat(), "energy_kwh": s.energy_kwh, "max_power_kw": s.max_power_kw,
            "min_power_kw": s.min_power_kw, "delivered_kwh": s.delivered_kwh, "status": s.status,
            "ended_at": s.ended_at.isoformat() if s.ended_at is not None else None}


def live_data(db: Session, job: PlanJob) -> LiveData:
    sc = db.get(ScenarioRow, job.scenario_id)
    files = {f.name: f.content for f in db.scalars(select(ScenarioFile).where(ScenarioFile.scenario_id == sc.id))}
    sessions = [session_row(s) for s in db.scalars(select(EvSession).where(EvSession.scenario_id == sc.id,
                                                                           EvSession.status != OUTSIDE)
                                                   .order_by(EvSession.id))]
    events = [e.payload for e in db.scalars(select(DrEventRow).where(DrEventRow.scenario_id == sc.id)
                                            .order_by(DrEventRow.id))]
    meter, plan_kw, state = {}, {}, None
    if job.as_of is not None:
        slot = dt.timedelta(minutes=sc.summary["slot_minutes"])
        rows = db.scalars(select(MeterValue).where(
            MeterValue.scenario_id == sc.id, MeterValue.transformer_id.is_not(None), MeterValue.power_kw.is_not(None),
            MeterValue.measured_at <= job.as_of, MeterValue.measured_at > job.as_of - slot)
            .order_by(MeterValue.measured_at, MeterValue.id))
        meter = {m.transformer_id: m.power_kw for m in rows}   # the latest per transformer
        current = current_plan(db, sc.id)
        load = plan_file(db, current.id, "transformer_load.csv") if current is not None and meter else None
        if load is not None:
            start = dt.datetime.fromisoformat(sc.summary["start"])
            slot_start = start + slot * ((job.as_of - start) // slot)
            plan_kw = ev_kw_at(load, slot_start)
        state = plan_file(db, current.id, STATE_FILE) if current is not None else None
    return LiveData(files=files, sessions=sessions, dr_events=events, meter_kw=meter, plan_ev_kw=plan_kw,
                    plan_state=state)
