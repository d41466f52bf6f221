"""Live data: ``POST /sessions`` (EV sessions starting, changing, ending), ``POST /dr-events``, ``POST /meter``.

Each is checked whole before anything is stored (422 with the field path, 404, 409); then it is stored
with its audit entry in one transaction and, when ``replan`` is true, queues a re-plan of the rest of
the day from ``as_of`` (default: the time the data is about) - joining a re-plan already queued.
A session whose stay lies outside the scenario's horizon, or a re-plan asked for from its end on, is
a 422 naming the field (:mod:`vpp_sched.service.horizon`).
"""

from __future__ import annotations

from typing import Literal

import pydantic
from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from vpp_sched.scenario.config import DREvent, id_problem
from vpp_sched.service.api.common import get_db, not_found, replan_time_problems, require, unprocessable
from vpp_sched.service.db import DrEventRow, EvSession, MeterValue, ScenarioRow, utcnow
from vpp_sched.service.horizon import OUTSIDE, Horizon
from vpp_sched.service.jobs import enqueue
from vpp_sched.service.store import audit

router = APIRouter(tags=["live data"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class SessionIn(_Body):
    scenario_id: int
    session_id: str = Field(min_length=1, max_length=200)
    event: Literal["started", "updated", "ended"]
    time: AwareDatetime                       # when the event happened
    transformer_id: str | None = None
    arrival: AwareDatetime | None = None
    departure: AwareDatetime | None = None
    energy_kwh: float | None = Field(None, ge=0, le=1000)
    delivered_kwh: float | None = Field(None, ge=0, le=1000)
    max_power_kw: float | None = Field(None, gt=0, le=1000)
    min_power_kw: float | None = Field(None, ge=0, le=1000)
    replan: bool = True


class DrEventIn(_Body):
    scenario_id: int
    event: dict                              # one DR event in the scenario schema (scenario.yaml dr_events)
    as_of: AwareDatetime | None = None       # default: re-plan the whole horizon
    replan: bool = True


class MeterIn(_Body):
    scenario_id: int
    transformer_id: str
    measured_at: AwareDatetime
    load_kw: float = Field(ge=-100_000, le=100_000)   # the transformer's metered net load [kW]
    replan: bool = False


def _scenario(db: Session, scenario_id: int) -> ScenarioRow:
    row = db.get(ScenarioRow, scenario_id)
    if row is None:
        raise not_found(f"scenario {scenario_id}")
    return row


def _check_replan_time(sc: ScenarioRow, replan: bool, at, loc: list) -> list[tuple[list, str]]:
    """Live data that asks for a re-plan needs a time before the horizon's end."""
    return replan_time_problems(sc, at, loc, " (send replan: false to store the data only)") if replan else []


def _check_stay(sc: ScenarioRow, arrival, departure) -> list[tuple[list, str]]:
    """A session's stay must overlap the horizon: no plan can hold one wholly outside it."""
    horizon = Horizon.of(sc.summary)
    if arrival is not None and arrival >= horizon.end:
        return [(["body", "arrival"], f"{arrival.isoformat()} is at or after the end of scenario {sc.id}'s horizon "
                                      f"({horizon}): no plan can hold the session")]
    if departure is not None and departure <= horizon.start:
        return [(["body", "departure"], f"{departure.isoformat()} is at or before the start of scenario {sc.id}'s "
                                        f"horizon ({horizon}): no plan can hold the session")]
    return []


def _check_transformer(sc: ScenarioRow, value: str | None, loc: list) -> list[tuple[list, str]]:
    if value is not None and value not in sc.summary["transformers"]:
        return [(loc, f"transformer {value!r} is not in scenario {sc.id}")]
    return []


@router.post("/sessions")
def post_session(body: SessionIn, request: Request, db: Session = Depends(get_db),
                 actor: str = Depends(require("plan"))) -> dict:
    sc = _scenario(db, body.scenario_id)
    row = db.scalars(select(EvSession).where(EvSession.scenario_id == sc.id,
                                             EvSession.session_id == body.session_id)).first()
    if body.event == "started" and row is not None:
        raise HTTPException(409, f"session {body.session_id!r} already exists (send event 'updated')")
    if body.event != "started" and row is None:
        raise not_found(f"session {body.session_id!r} of scenario {sc.id}")
    if row is not None and row.status == "ended":
        raise HTTPException(409, f"session {body.session_id!r} has ended; it cannot change")
    if row is not None and row.status == OUTSIDE:
        raise HTTPException(409, f"session {body.session_id!r} lies outside scenario {sc.id}'s horizon; it is not planned")
    problems = _session_problems(body, sc, row)
    if problems:
        raise unprocessable(problems)
    row = _apply_session(db, body, sc, row)
    audit(db, actor, f"session.{body.event}", f"session:{body.session_id}", scenario_id=sc.id)
    job = enqueue(db, sc.id, actor, "session", body.time) if body.replan else None
    db.commit()
    if body.event == "ended":
        request.app.state.csms.session_ended(row.id)
    return _queued(request, job, {"session_id": row.session_id, "status": row.status})


def _session_problems(body: SessionIn, sc: ScenarioRow, row: EvSession | None) -> list[tuple[list, str]]:
    problems = []
    if (why := id_problem(body.session_id)) is not None:
        problems.append((["body", "session_id"], why))
    if body.event == "started":
        problems += [(["body", k], "required when a session starts") for k in
                     ("transformer_id", "arrival", "departure", "energy_kwh", "max_power_kw")
                     if getattr(body, k) is None]
    problems += _check_transformer(sc, body.transformer_id, ["body", "transformer_id"])
    arrival = body.arrival or (row.arrival if row else None)
    departure = body.departure or (row.departure if row else None)
    if arrival and departure and departure <= arrival:
        problems.append((["body", "departure"], "must be after arrival"))
    problems += _check_stay(sc, arrival, departure) + _check_replan_time(sc, body.replan, body.time, ["body", "time"])
    pmax = body.max_power_kw or (row.max_power_kw if row else None)
    pmin = body.min_power_kw if body.min_power_kw is not None else (row.min_power_kw if row else 0.0)
    if pmax is not None and pmin > pmax:
        problems.append((["body", "min_power_kw"], f"{pmin} kW is more than max_power_kw {pmax} kW"))
    return problems


def _apply_session(db: Session, body: SessionIn, sc: ScenarioRow, row: EvSession | None) -> EvSession:
    fields = body.model_dump(include={"transformer_id", "arrival", "departure", "energy_kwh", "delivered_kwh",
                                      "max_power_kw", "min_power_kw"}, exclude_none=True)
    if row is None:
        row = EvSession(scenario_id=sc.id, session_id=body.session_id, **{"min_power_kw": 0.0, **fields})
        db.add(row)
    else:
        for k, v in fields.items():
            setattr(row, k, v)
    row.updated_at = utcnow()
    if body.event == "ended":
        row.status, row.ended_at = "ended", body.time
    db.flush()
    return row


@router.post("/dr-events", status_code=201)
def post_dr_event(body: DrEventIn, request: Request, db: Session = Depends(get_db),
                  actor: str = Depends(require("plan"))) -> dict:
    sc = _scenario(db, body.scenario_id)
    try:
        event = DREvent.model_validate(body.event)
    except pydantic.ValidationError as exc:
        raise unprocessable([(["body", "event", *e["loc"]], e["msg"]) for e in exc.errors()]) from None
    problems = [(["body", "event", k], "needs a UTC offset (e.g. +08:00)")
                for k in ("start", "end", "notified_at") if (t := getattr(event, k)) is not None and t.tzinfo is None]
    scope = [] if event.scope == "all" else event.scope
    known = set(sc.summary["transformers"]) | set(sc.summary.get("stations", []))
    problems += [(["body", "event", "scope", i], f"{s!r} is no transformer or station of scenario {sc.id}")
                 for i, s in enumerate(scope) if s not in known]
    problems += _check_replan_time(sc, body.replan, body.as_of, ["body", "as_of"])
    if problems:
        raise unprocessable(problems)
    if db.scalars(select(DrEventRow).where(DrEventRow.scenario_id == sc.id,
                                           DrEventRow.event_id == event.event_id)).first() is not None:
        raise HTTPException(409, f"DR event {event.event_id!r} already exists in scenario {sc.id}")
    payload = event.model_dump(mode="json", exclude_none=True)
    db.add(DrEventRow(scenario_id=sc.id, event_id=event.event_id, payload=payload))
    audit(db, actor, "dr-event.create", f"dr-event:{event.event_id}", scenario_id=sc.id)
    job = enqueue(db, sc.id, actor, "dr-event", body.as_of) if body.replan else None
    db.commit()
    return _queued(request, job, {"event_id": event.event_id})


@router.post("/meter", status_code=201)
def post_meter(body: MeterIn, request: Request, db: Session = Depends(get_db),
               actor: str = Depends(require("plan"))) -> dict:
    sc = _scenario(db, body.scenario_id)
    problems = _check_transformer(sc, body.transformer_id, ["body", "transformer_id"])
    problems += _check_replan_time(sc, body.replan, body.measured_at, ["body", "measured_at"])
    if problems:
        raise unprocessable(problems)
    row = MeterValue(scenario_id=sc.id, measured_at=body.measured_at, transformer_id=body.transformer_id,
                     power_kw=body.load_kw, source="api")
    db.add(row)
    job = enqueue(db, sc.id, actor, "meter", body.measured_at) if body.replan else None
    db.commit()
    return _queued(request, job, {"id": row.id})


def _queued(request: Request, job, out: dict) -> dict:
    if job is not None:
        request.app.state.runner.wake()
        out["replan"] = job.id
    return out
