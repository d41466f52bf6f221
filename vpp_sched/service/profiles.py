"""The charging profiles a station should hold: its active sessions' TxProfiles from the current plan.

The plan's ``ocpp/`` files (:func:`vpp_sched.interop.ocpp.ocpp_writer`, OCPP 2.0.1, limits in W, none
below the charger minimum) are keyed by ``ev_id`` = the session id; the CSMS adds what only it knows:
the transaction id and EVSE of the live transaction, and a profile id that stays the session's
(``sessions.id``), so each new plan's profile replaces the previous one on the station.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vpp_sched.service.db import EvSession, PlanFile, ProfileSent, Station
from vpp_sched.service.store import current_plan

#: Plans whose parsed profiles are kept in memory (the current one and those just replaced) [-].
PLANS_KEPT = 4


@dataclass
class Outgoing:
    session_pk: int
    plan_id: int
    evse_id: int
    charging_profile: dict


def station_profiles(db: Session, station_id: str, resend: bool = False,
                     plans: PlanProfiles | None = None) -> list[Outgoing]:
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
    profiles = (plans or PlanProfiles()).get(db, plan.id)
    out = []
    for s in sessions:
        payload = profiles.get(s.session_id)
        if payload is None:
            continue     # not in this plan (no slot of its stay left in the horizon)
        profile = dict(payload["chargingProfile"], id=s.id, transactionId=s.transaction_id)
        profile["chargingSchedule"] = [dict(c, id=s.id) for c in profile["chargingSchedule"]]
        if not resend and _holds(db, s.id, profile):
            continue
        out.append(Outgoing(session_pk=s.id, plan_id=plan.id, evse_id=s.evse_id or payload["evseId"],
                            charging_profile=profile))
    return out


class PlanProfiles:
    """ev_id -> OCPP profile payload of a plan (``ocpp/index.csv`` and its files), read and parsed once per
    plan: a stored plan's files never change, and after a re-plan every station reads the same ones.
    One per app (plan ids are a database's own)."""

    def __init__(self, kept: int = PLANS_KEPT):
        self._kept: OrderedDict[int, dict[str, dict]] = OrderedDict()
        self._lock, self._most = threading.Lock(), kept

    def get(self, db: Session, plan_id: int) -> dict[str, dict]:
        with self._lock:
            if plan_id in self._kept:
                self._kept.move_to_end(plan_id)
                return self._kept[plan_id]
        files = {f.name: f.content for f in db.scalars(select(PlanFile).where(PlanFile.plan_id == plan_id,
                                                                              PlanFile.name.like("ocpp/%")))}
        index = files.get("ocpp/index.csv")
        rows = csv.DictReader(io.StringIO(index.decode("utf-8"))) if index is not None else []
        parsed = {r["ev_id"]: json.loads(files[f"ocpp/{r['file']}"]) for r in rows
                  if r["file"] and f"ocpp/{r['file']}" in files}
        with self._lock:
            self._kept[plan_id] = parsed
            while len(self._kept) > self._most:
                self._kept.popitem(last=False)
        return parsed


def _holds(db: Session, session_pk: int, profile: dict) -> bool:
    sent = last_sent(db, session_pk)
    return (sent is not None and sent.action == "SetChargingProfile" and sent.answer == "Accepted"
            and sent.payload.get("chargingProfile") == profile)


def last_sent(db: Session, session_pk: int) -> ProfileSent | None:
    return db.scalars(select(ProfileSent).where(ProfileSent.session_pk == session_pk)
                      .order_by(ProfileSent.id.desc()).limit(1)).first()
