"""The charging profiles a station should hold: its active sessions' TxProfiles from the current plan.

The plan's ``ocpp/`` files (:func:`vpp_sched.interop.ocpp.ocpp_writer`, OCPP 2.0.1, limits in W, none
below the charger minimum) are keyed by ``ev_id`` = the session id; the CSMS adds what only it knows:
the transaction id and EVSE of the live transaction, and a profile id that stays the session's
(``sessions.id``), so each new plan's profile replaces the previous one on the station.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vpp_sched.service.db import EvSession, ProfileSent, Station
from vpp_sched.service.store import current_plan, plan_file


@dataclass
class Outgoing:
    session_pk: int
    plan_id: int
    evse_id: int
    charging_profile: dict


def station_profiles(db: Session, station_id: str, resend: bool = False) -> list[Outgoing]:
    """SetChargingProfile contents for each active transaction of the station in its scenario's current plan.

    A profile the station already accepted, unchanged by the new plan, is not sent again unless
    ``resend`` (a station that reconnects gets all): after one EV's arrival most of the fleet's
    profiles stay as they were, and 500 stations need not be told so.
    """
    station = db.get(Station, station_id)
    plan = current_plan(db, station.scenario_id) if station is not None else None
    if plan is None:
        return []
    sessions = list(db.scalars(select(EvSession).where(EvSession.station_id == station_id,
                                                       EvSession.status == "active",
                                                       EvSession.transaction_id.is_not(None))))
    if not sessions:
        return []
    files = _index(db, plan.id)
    out = []
    for s in sessions:
        if not files.get(s.session_id):
            continue     # not in this plan (no slot of its stay left in the horizon)
        payload = json.loads(plan_file(db, plan.id, f"ocpp/{files[s.session_id]}"))
        profile = dict(payload["chargingProfile"], id=s.id, transactionId=s.transaction_id)
        profile["chargingSchedule"] = [dict(c, id=s.id) for c in profile["chargingSchedule"]]
        if not resend and _holds(db, s.id, profile):
            continue
        out.append(Outgoing(session_pk=s.id, plan_id=plan.id, evse_id=s.evse_id or payload["evseId"],
                            charging_profile=profile))
    return out


@functools.lru_cache(maxsize=8)
def _index_of(plan_id: int, content: bytes) -> dict[str, str]:
    return {r["ev_id"]: r["file"] for r in csv.DictReader(io.StringIO(content.decode("utf-8")))}


def _index(db: Session, plan_id: int) -> dict[str, str]:
    """ev_id -> profile file of a plan's ``ocpp/index.csv`` (parsed once per plan: every station reads it)."""
    return _index_of(plan_id, plan_file(db, plan_id, "ocpp/index.csv"))


def _holds(db: Session, session_pk: int, profile: dict) -> bool:
    sent = last_sent(db, session_pk)
    return (sent is not None and sent.action == "SetChargingProfile" and sent.answer == "Accepted"
            and sent.payload.get("chargingProfile") == profile)


def last_sent(db: Session, session_pk: int) -> ProfileSent | None:
    return db.scalars(select(ProfileSent).where(ProfileSent.session_pk == session_pk)
                      .order_by(ProfileSent.id.desc()).limit(1)).first()
