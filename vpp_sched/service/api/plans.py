"""``/plans``: plan jobs (status, KPIs, warnings), their files and their OCPP profiles."""

from __future__ import annotations

import io
import json
import mimetypes

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from vpp_sched.service.api.common import get_db, not_found, replan_time_problems, require, unprocessable
from vpp_sched.service.db import PlanFile, PlanJob, ScenarioRow
from vpp_sched.service.jobs import enqueue
from vpp_sched.service.store import plan_file

router = APIRouter(tags=["plans"])


class PlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scenario_id: int
    as_of: AwareDatetime | None = None   # set: re-plan the rest of the day from the slot holding it (horizon.py)


@router.post("/plans", status_code=202)
def create_plan(body: PlanRequest, request: Request, db: Session = Depends(get_db),
                actor: str = Depends(require("plan"))) -> dict:
    sc = db.get(ScenarioRow, body.scenario_id)
    if sc is None:
        raise not_found(f"scenario {body.scenario_id}")
    problems = replan_time_problems(sc, body.as_of, ["body", "as_of"])   # one before the start runs from the start
    if problems:
        raise unprocessable(problems)
    job = enqueue(db, body.scenario_id, actor, "request", body.as_of)
    db.commit()
    request.app.state.runner.wake()
    return {"id": job.id, "status": job.status}


@router.get("/plans")
def list_plans(scenario_id: int | None = None, db: Session = Depends(get_db),
               actor: str = Depends(require("read"))) -> list[dict]:
    q = select(PlanJob).order_by(PlanJob.id)
    if scenario_id is not None:
        q = q.where(PlanJob.scenario_id == scenario_id)
    return [job_out(j) for j in db.scalars(q)]


@router.get("/plans/{plan_id}")
def get_plan(plan_id: int, db: Session = Depends(get_db), actor: str = Depends(require("read"))) -> dict:
    job = _job(db, plan_id)
    out = job_out(job)
    out["files"] = list(db.scalars(select(PlanFile.name).where(PlanFile.plan_id == job.id).order_by(PlanFile.name)))
    return out


@router.get("/plans/{plan_id}/files/{name:path}")
def get_plan_file(plan_id: int, name: str, db: Session = Depends(get_db),
                  actor: str = Depends(require("read"))) -> Response:
    _succeeded(_job(db, plan_id))
    content = plan_file(db, plan_id, name)   # only names stored for this plan: no path reaches the disk
    if content is None:
        raise not_found(f"file {name!r} of plan {plan_id}")
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Response(content, media_type=kind)


@router.get("/plans/{plan_id}/ocpp")
def get_plan_ocpp(plan_id: int, db: Session = Depends(get_db), actor: str = Depends(require("read"))) -> Response:
    """The plan's OCPP 2.0.1 SetChargingProfile requests per EV, with ``ocpp/index.csv`` as rows.

    The JSON is put together here, on the request's worker thread, from the profiles' files as stored:
    a returned dict is encoded by FastAPI on the event loop, where 1,000 profiles of 96 periods held
    every station's answer for about a second."""
    _succeeded(_job(db, plan_id))
    index = pd.read_csv(io.BytesIO(plan_file(db, plan_id, "ocpp/index.csv")), keep_default_na=False,
                        dtype={"ev_id": str, "transaction_id": str})
    files = {f.name: f.data for f in db.scalars(select(PlanFile).where(PlanFile.plan_id == plan_id,
                                                                          PlanFile.name.like("ocpp/%")))}
    profiles = ",".join(f"{json.dumps(r.ev_id)}:{files[f'ocpp/{r.file}'].decode('utf-8').strip()}"
                        for r in index.itertuples() if r.file)
    body = f'{{"version":"2.0.1","index":{index.to_json(orient="records")},"profiles":{{{profiles}}}}}'
    return Response(body, media_type="application/json")


def _job(db: Session, plan_id: int) -> PlanJob:
    job = db.get(PlanJob, plan_id)
    if job is None:
        raise not_found(f"plan {plan_id}")
    return job


def _succeeded(job: PlanJob) -> None:
    if job.status != "succeeded":
        raise HTTPException(409, f"plan {job.id} is {job.status}: it has no files"
                            + (f" ({job.reason})" if job.reason else ""))


def job_out(j: PlanJob) -> dict:
    iso = lambda t: t.isoformat() if t is not None else None  # noqa: E731
    return {"id": j.id, "scenario_id": j.scenario_id, "status": j.status, "trigger": j.trigger, "as_of": iso(j.as_of),
            "requested_by": j.requested_by, "created_at": iso(j.created_at), "started_at": iso(j.started_at),
            "finished_at": iso(j.finished_at), "attempts": j.attempts, "reason": j.reason, "kpis": j.kpis,
            "warnings": j.warnings, "replaces": j.replaces_id}
