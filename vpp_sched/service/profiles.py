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
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vpp_sched.service.db import EvSession, PlanFile, ProfileSent, Station
from vpp_sched.service.ocpp_schema import PLAN_CHECK_FILE, SchemaError, check
from vpp_sched.service.store import current_plan, plan_file

log = logging.getLogger("vpp_sched.service.csms")

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
    if station is None:
        return []
    active = _active_sessions(station.scenario_id).where(EvSession.station_id == station_id)
    return scenario_profiles(db, station.scenario_id, {station_id}, plans, resend, active).get(station_id, [])


def scenario_profiles(db: Session, scenario_id: int, station_ids: set[str], plans: PlanProfiles | None = None,
                      resend: bool = False, active=None) -> dict[str, list[Outgoing]]:
    """:func:`station_profiles` of many stations of one scenario in three queries (the plan, the active
    transactions, the last profile sent to each), not four per station: after a re-plan the CSMS reads
    what all its connected stations should hold at once."""
    plan = current_plan(db, scenario_id)
    if plan is None or not station_ids:
        return {}
    active = _active_sessions(scenario_id) if active is None else active
    sessions = [s for s in db.scalars(active) if s.station_id in station_ids]
    if not sessions:
        return {}
    last = {} if resend else _last_sent_of(db, active.with_only_columns(EvSession.id))
    profiles = (plans or PlanProfiles()).get(db, plan.id, {s.session_id for s in sessions})
    out: dict[str, list[Outgoing]] = {}
    for s in sessions:
        payload = profiles.get(s.session_id)
        if payload is None:
            continue     # not in this plan (no slot of its stay left in the horizon)
        profile = dict(payload["chargingProfile"], id=s.id, transactionId=s.transaction_id)
        profile["chargingSchedule"] = [dict(c, id=s.id) for c in profile["chargingSchedule"]]
        if not resend and _accepted(last.get(s.id), profile):
            continue
        out.setdefault(s.station_id, []).append(Outgoing(session_pk=s.id, plan_id=plan.id,
                                                         evse_id=s.evse_id or payload["evseId"],
                                                         charging_profile=profile))
    return out


def _active_sessions(scenario_id: int):
    return select(EvSession).where(EvSession.scenario_id == scenario_id, EvSession.status == "active",
                                   EvSession.transaction_id.is_not(None))


def _last_sent_of(db: Session, session_pks) -> dict[int, ProfileSent]:
    """session pk -> the last profile message sent for it, for the sessions ``session_pks`` selects."""
    latest = (select(func.max(ProfileSent.id)).where(ProfileSent.session_pk.in_(session_pks))
              .group_by(ProfileSent.session_pk))
    return {r.session_pk: r for r in db.scalars(select(ProfileSent).where(ProfileSent.id.in_(latest)))}


class PlanProfiles:
    """ev_id -> OCPP profile payload of a plan (``ocpp/index.csv`` and its files), each file read and parsed
    once per plan and only when a station needs it: a stored plan's files never change, after a re-plan
    every station reads the same ones, and most of a plan's EVs (the scenario's forecast ones) have no
    station. One per app (plan ids are a database's own)."""

    def __init__(self, kept: int = PLANS_KEPT):
        self._kept: OrderedDict[int, _Plan] = OrderedDict()
        self._lock, self._most = threading.Lock(), kept

    def get(self, db: Session, plan_id: int, ev_ids: set[str] | None = None) -> dict[str, dict]:
        """The valid profiles of ``ev_ids`` (default: all the plan's EVs) that the plan has."""
        plan = self._plan(db, plan_id)
        want = plan.files.keys() if ev_ids is None else ev_ids
        with self._lock:
            new = sorted(ev for ev in want if ev in plan.files and ev not in plan.parsed)
        for i in range(0, len(new), _FILES_PER_QUERY):
            chunk = {f"ocpp/{plan.files[ev]}": ev for ev in new[i:i + _FILES_PER_QUERY]}
            rows = db.scalars(select(PlanFile).where(PlanFile.plan_id == plan_id, PlanFile.name.in_(chunk)))
            parsed = {chunk[f.name]: json.loads(f.data) for f in rows}
            parsed = {ev: p if plan.valid(plan_id, ev, p) else None for ev, p in parsed.items()}
            with self._lock:
                plan.parsed.update(parsed)
        with self._lock:
            return {ev: plan.parsed[ev] for ev in want if plan.parsed.get(ev) is not None}

    def _plan(self, db: Session, plan_id: int) -> "_Plan":
        with self._lock:
            if plan_id in self._kept:
                self._kept.move_to_end(plan_id)
                return self._kept[plan_id]
        index = plan_file(db, plan_id, "ocpp/index.csv")
        rows = csv.DictReader(io.StringIO(index.decode("utf-8"))) if index is not None else []
        checked = plan_file(db, plan_id, PLAN_CHECK_FILE)
        plan = _Plan(files={r["ev_id"]: r["file"] for r in rows if r["file"]},
                     invalid=None if checked is None else json.loads(checked)["invalid"])
        with self._lock:
            plan = self._kept.setdefault(plan_id, plan)
            while len(self._kept) > self._most:
                self._kept.popitem(last=False)
        return plan


#: Plan files read in one query [-] (well under SQLite's limit of bound parameters).
_FILES_PER_QUERY = 500


@dataclass
class _Plan:
    files: dict[str, str]              # ev_id -> its file under ocpp/
    invalid: dict[str, str] | None     # ev_id -> why its profile breaks the schema; None: not checked yet
    parsed: dict[str, dict | None] = field(default_factory=dict)   # None: breaks the schema

    def valid(self, plan_id: int, ev_id: str, payload: dict) -> bool:
        """The profile matches OCPP 2.0.1's SetChargingProfileRequest, so each send skips the ``ocpp``
        package's slower check (:mod:`.ocpp_schema`). The planning process checked the plan's profiles
        (``ocpp_schema_check.json``); a plan stored before it did is checked here. One that does not
        match is our bug: logged, not sent, and the station keeps the profile it has."""
        if self.invalid is not None:
            why = self.invalid.get(ev_id)
        else:
            try:
                check("SetChargingProfile", payload)
                why = None
            except SchemaError as exc:
                why = str(exc)
        if why is not None:
            log.error("plan %s: the profile of %s is not sent: %s", plan_id, ev_id, why)
        return why is None


def _accepted(sent: ProfileSent | None, profile: dict) -> bool:
    """The station accepted this very profile last."""
    return (sent is not None and sent.action == "SetChargingProfile" and sent.answer == "Accepted"
            and sent.payload.get("chargingProfile") == profile)


def last_sent_id(db: Session, session_pk: int) -> int | None:
    """The id of the last profile message sent for the session (its id only: the payload, 96 periods of
    JSON, is not read for it)."""
    return db.scalars(select(ProfileSent.id).where(ProfileSent.session_pk == session_pk)
                      .order_by(ProfileSent.id.desc()).limit(1)).first()
