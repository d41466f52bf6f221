"""``/stations`` (charging stations allowed to connect), ``/tokens`` and ``/audit``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from vpp_sched.service.api.common import get_db, not_found, require, unprocessable
from vpp_sched.service.auth import SCOPES, create_token, generate_secret, hash_generated, hash_secret
from vpp_sched.service.db import AuditEntry, ProfileSent, ScenarioRow, Station
from vpp_sched.service.store import audit

router = APIRouter(tags=["admin"])


class StationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    station_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    # OCPP 2.0.1 BasicAuthPassword: 16-40 characters; left out, the service generates one (answered once)
    password: str | None = Field(None, min_length=16, max_length=40)
    scenario_id: int
    transformer_id: str
    default_energy_kwh: float = Field(20.0, gt=0, le=1000)   # when the EV does not say [kWh]
    default_stay_h: float = Field(8.0, gt=0, le=72)           # when the EV does not say [h]
    max_power_kw: float = Field(7.0, gt=0, le=1000)
    min_power_kw: float = Field(1.4, ge=0, le=1000)


@router.post("/stations", status_code=201)
def create_station(body: StationIn, request: Request, db: Session = Depends(get_db),
                   actor: str = Depends(require("admin"))) -> dict:
    sc = db.get(ScenarioRow, body.scenario_id)
    if sc is None:
        raise not_found(f"scenario {body.scenario_id}")
    if body.transformer_id not in sc.summary["transformers"]:
        raise unprocessable([(["body", "transformer_id"], f"transformer {body.transformer_id!r} is not in scenario {sc.id}")])
    if body.min_power_kw > body.max_power_kw:
        raise unprocessable([(["body", "min_power_kw"], "must not exceed max_power_kw")])
    if db.get(Station, body.station_id) is not None:
        raise HTTPException(409, f"station {body.station_id!r} already exists")
    fields = body.model_dump(exclude={"station_id", "password"})
    generated = generate_secret() if body.password is None else None
    # a generated password is random enough for a fast salted hash; a chosen one keeps scrypt (auth.py)
    stored = (hash_generated(generated) if generated is not None
              else hash_secret(body.password, request.app.state.settings.station_scrypt_n))
    db.add(Station(id=body.station_id, password_hash=stored, **fields))
    audit(db, actor, "station.create", f"station:{body.station_id}", scenario_id=sc.id,
          password="generated" if generated is not None else "chosen")
    db.commit()
    return {"station_id": body.station_id, **fields, **({"password": generated} if generated is not None else {})}


@router.get("/stations")
def list_stations(db: Session = Depends(get_db), actor: str = Depends(require("read"))) -> list[dict]:
    return [station_out(db, s) for s in db.scalars(select(Station).order_by(Station.id))]


def station_out(db: Session, s: Station) -> dict:
    sent = db.scalars(select(ProfileSent).where(ProfileSent.station_id == s.id).order_by(ProfileSent.id.desc())
                      .limit(1)).first()
    return {"station_id": s.id, "scenario_id": s.scenario_id, "transformer_id": s.transformer_id,
            "connected": s.connected, "last_seen_at": s.last_seen_at.isoformat() if s.last_seen_at else None,
            "status": s.status, "last_profile": None if sent is None else
            {"action": sent.action, "plan_id": sent.plan_id, "sent_at": sent.sent_at.isoformat(), "answer": sent.answer}}


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: str = Field(pattern="^(" + "|".join(SCOPES) + ")$")
    name: str = Field("", max_length=200)


@router.post("/tokens", status_code=201)
def post_token(body: TokenIn, request: Request, db: Session = Depends(get_db),
               actor: str = Depends(require("admin"))) -> dict:
    token = create_token(db, body.scope, body.name, n=request.app.state.settings.scrypt_n, actor=actor)
    return {"token": token, "scope": body.scope}


@router.get("/audit")
def get_audit(limit: int = 100, db: Session = Depends(get_db), actor: str = Depends(require("read"))) -> list[dict]:
    rows = db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(max(1, min(limit, 1000))))
    return [audit_out(a) for a in rows]


def audit_out(a: AuditEntry) -> dict:
    return {"id": a.id, "at": a.at.isoformat(), "actor": a.actor, "action": a.action, "target": a.target,
            "detail": a.detail}


@router.get("/csms/answer-times")
def answer_times(request: Request, since: AwareDatetime | None = None, listed: bool = False,
                 actor: str = Depends(require("read"))) -> dict:
    """How long the CSMS took to answer the stations' messages, per action (the latest 200,000), and under
    ``loop_lag`` how late its event loop ran what was due (:mod:`~vpp_sched.service.loop_lag`; only after
    ``since`` if given), under ``gc_pauses`` the garbage collector's pauses per generation; with ``listed``,
    under ``answers`` each answer as ``[read at (epoch s), action, ms]`` (after ``since`` if given)."""
    csms = request.app.state.csms
    out = {**csms.answer_times.summary(), "loop_lag": csms.loop_lag.summary(since), "gc_pauses": csms.gc_pauses.summary()}
    if listed:
        out["answers"] = csms.answer_times.listed(since.timestamp() if since is not None else None)
    return out
