"""What the CSMS writes to the database for each OCPP message (synchronous; run in a worker thread).

Each function adds to the caller's transaction; the caller (:class:`GroupWriter`) commits before the
station gets its answer, so a station that got its answer never loses the message. The frequent ones
(boot, status, meter values, connect) leave the flush to that commit, so a group's inserts go to the
database together; a write that fails there fails its group, which the writer then runs one by one. A transaction that starts becomes a session (its id ``<station>.<transaction>``): arrival at
the event's time, energy and departure from the EV's charging needs when it sends them
(NotifyEVChargingNeeds), else the station's defaults. A transaction whose stay lies outside its
scenario's horizon is stored as :data:`~vpp_sched.service.horizon.OUTSIDE` (its meter values kept) and
queues no re-plan; a re-plan is never queued from the horizon's end on (:mod:`vpp_sched.service.horizon`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vpp_sched.service.db import AuditEntry, EvSession, MeterValue, ProfileSent, ScenarioRow, Station, utcnow
from vpp_sched.service.group_writer import stage, stage_update
from vpp_sched.service.horizon import OUTSIDE, Horizon
from vpp_sched.service.jobs import enqueue
from vpp_sched.service.profiles import last_sent_id
from vpp_sched.service.store import audit

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"


def parse_time(text: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.timezone.utc)


def set_connected(db: Session, station_id: str, connected: bool) -> None:
    """Mark the station (dis)connected, with its audit entry (staged: the group's one statement each)."""
    stage_update(db, Station, {"id": station_id, "connected": connected})
    stage(db, AuditEntry, {"at": utcnow(), "actor": f"station:{station_id}", "target": f"station:{station_id}",
                           "action": "station.connect" if connected else "station.disconnect", "detail": {}})


def boot(db: Session, station_id: str, info: dict) -> None:
    """The station's BootNotification (staged; its ``last_seen_at`` goes with :func:`touch`)."""
    stage_update(db, Station, {"id": station_id, "boot": info})


def status(db: Session, station_id: str, statuses: dict[str, str]) -> None:
    """The station's connector statuses (evse id -> status), all of them as the CSMS now knows them:
    it keeps them from the connection's start, so no read of the row is needed (staged)."""
    stage_update(db, Station, {"id": station_id, "status": statuses})


def meter_samples(meter_value: list[dict] | None) -> list[tuple[dt.datetime, float | None, float | None]]:
    """``(time, power [kW], energy register [kWh])`` per sampled MeterValue (W and Wh by OCPP's default)."""
    out = []
    for mv in meter_value or []:
        power = energy = None
        for s in mv.get("sampled_value", []):
            unit = (s.get("unit_of_measure") or {}).get("unit", "")
            scale = 1.0 if unit.lower().startswith("k") else 1e-3
            measurand = s.get("measurand", ENERGY)
            if measurand == ENERGY:
                energy = float(s["value"]) * scale
            elif measurand == POWER:
                power = float(s["value"]) * scale
        out.append((parse_time(mv["timestamp"]), power, energy))
    return out


def store_meter(db: Session, station: Station, meter_value, transaction_id: str | None = None) -> float | None:
    """Store the samples; return the last energy register [kWh] (or ``None``)."""
    energy = None
    for at, power, e in meter_samples(meter_value):
        db.add(MeterValue(scenario_id=station.scenario_id, measured_at=at, station_id=station.id,
                          transaction_id=transaction_id, power_kw=power, energy_kwh=e, source="ocpp"))
        energy = e if e is not None else energy
    return energy


def meter_values(db: Session, station_id: str, meter_value: list[dict], scenario_id: int) -> None:
    """The samples of a MeterValues, staged for the group's one insert (the most frequent message: no
    ORM object, no station row read; its ``last_seen_at`` goes with :func:`touch`)."""
    for at, power, e in meter_samples(meter_value):
        stage(db, MeterValue, {"scenario_id": scenario_id, "measured_at": at, "station_id": station_id,
                               "transaction_id": None, "power_kw": power, "energy_kwh": e, "source": "ocpp"})


def touch(db: Session, seen: dict[str, dt.datetime]) -> None:
    """``last_seen_at`` of the stations heard from since the last touch, in one bulk update."""
    if seen:
        db.execute(update(Station), [{"id": sid, "last_seen_at": at} for sid, at in seen.items()])


def transaction_event(db: Session, station_id: str, event_type: str, timestamp: str, info: dict,
                      meter_value, evse: dict | None) -> tuple[int | None, int | None]:
    """Store a TransactionEvent; returns ``(queued re-plan id or None, ended session pk or None)``."""
    station = db.get(Station, station_id)
    at, tx = parse_time(timestamp), str(info["transaction_id"])
    sid = f"{station_id}.{tx}"
    row = db.scalars(select(EvSession).where(EvSession.scenario_id == station.scenario_id,
                                             EvSession.session_id == sid)).first()
    energy = store_meter(db, station, meter_value, tx)
    job = ended = None
    if row is None and event_type != "Ended":
        row = _new_session(db, station, sid, tx, at, evse)
        job = _replan(db, station, at) if row.status != OUTSIDE else None
    if row is not None and energy is not None:
        row.delivered_kwh = energy
    if row is not None and event_type == "Ended" and row.status == OUTSIDE:
        row.ended_at = row.ended_at or at        # never planned: no re-plan, no profile to clear
    elif row is not None and event_type == "Ended" and row.status != "ended":
        row.status, row.ended_at = "ended", at
        audit(db, f"station:{station_id}", "session.ended", f"session:{sid}", delivered_kwh=row.delivered_kwh)
        job = _replan(db, station, at)
        db.flush()
        ended = row.id
    station.last_seen_at = utcnow()
    db.flush()
    return job, ended


def _new_session(db: Session, station: Station, sid: str, tx: str, at: dt.datetime, evse: dict | None) -> EvSession:
    """The session of a transaction first heard of at ``at``, with its audit entry: planned when its stay
    overlaps the horizon, else stored as :data:`OUTSIDE` with the reason."""
    departure = at + dt.timedelta(hours=station.default_stay_h)
    horizon = Horizon.of(db.get(ScenarioRow, station.scenario_id).summary)
    inside = horizon.holds(at, departure)
    row = EvSession(scenario_id=station.scenario_id, session_id=sid, transformer_id=station.transformer_id,
                    station_id=station.id, evse_id=(evse or {}).get("id", 1), transaction_id=tx, arrival=at,
                    departure=departure, energy_kwh=station.default_energy_kwh, max_power_kw=station.max_power_kw,
                    min_power_kw=station.min_power_kw, status="active" if inside else OUTSIDE)
    db.add(row)
    if inside:
        audit(db, f"station:{station.id}", "session.started", f"session:{sid}", scenario_id=station.scenario_id)
    else:
        audit(db, f"station:{station.id}", "session.outside-horizon", f"session:{sid}", scenario_id=station.scenario_id,
              arrival=at.isoformat(), departure=departure.isoformat(), horizon=str(horizon),
              reason="its stay lies outside the scenario's horizon: stored, not planned, no re-plan, no profile")
    return row


def _replan(db: Session, station: Station, at: dt.datetime) -> int | None:
    """The re-plan of the station's scenario from ``at`` (``None``: from the horizon's end on, none)."""
    job = enqueue(db, station.scenario_id, f"station:{station.id}", "session", at)
    return None if job is None else job.id


def charging_needs(db: Session, station_id: str, evse_id: int, needs: dict) -> int | None:
    """The EV's energy and departure (ISO 15118 via NotifyEVChargingNeeds) into its active session."""
    row = db.scalars(select(EvSession).where(EvSession.station_id == station_id, EvSession.evse_id == evse_id,
                                             EvSession.status == "active").order_by(EvSession.id.desc())).first()
    if row is None:
        return None
    ac = needs.get("ac_charging_parameters") or {}
    if "energy_amount" in ac:
        row.energy_kwh = float(ac["energy_amount"]) / 1000.0 + row.delivered_kwh
    if needs.get("departure_time"):
        row.departure = max(parse_time(needs["departure_time"]), row.arrival + dt.timedelta(minutes=1))
    # re-planned from the session's arrival: the plan's clock is the data's, never the wall's
    job = enqueue(db, row.scenario_id, f"station:{station_id}", "session", row.arrival)
    db.flush()
    return None if job is None else job.id


def record_sent(db: Session, station_id: str, session_pk: int, plan_id: int | None, action: str, payload: dict,
                answer: str) -> None:
    previous = last_sent_id(db, session_pk)
    db.add(ProfileSent(station_id=station_id, session_pk=session_pk, plan_id=plan_id, action=action, payload=payload,
                       answer=answer, replaces_id=previous))
    audit(db, "service", f"ocpp.{action}", f"station:{station_id}", session_pk=session_pk, plan_id=plan_id,
          answer=answer, replaces=previous)
    db.flush()


def session_station(db: Session, session_pk: int) -> tuple[str | None, int | None]:
    row = db.get(EvSession, session_pk)
    return (row.station_id, row.evse_id) if row is not None else (None, None)
