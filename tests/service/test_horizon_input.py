"""Live data about times outside the scenario's horizon (12:00 .. 12:00 the next day here): no re-plan
that must fail is queued. The API refuses a session wholly outside, and a re-plan from the horizon's
end on, with a 422 naming the field; the CSMS answers the station's TransactionEvent (valid OCPP
2.0.1), stores the session as not planned and says why in the audit trail; a stay that only starts
before the horizon is planned from its start (vpp_sched/service/horizon.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest
from ocpp.v201 import call

from scenario_factory import START
from service_helpers import STATION_PASSWORD, scenario_zip, wait_job
from vpp_sched.service.db import AuditEntry, EvSession, MeterValue, PlanJob, ProfileSent
from vpp_sched.service.horizon import OUTSIDE
from vpp_sched.service.sim_station import Clock, connect

ZIP = {"content-type": "application/zip"}
HORIZON_START = dt.datetime.fromisoformat(START)
AFTER = "2026-11-28T13:00:00+08:00"           # an hour after the horizon's end
SESSION = {"session_id": "S1", "event": "started", "time": "2026-11-27T20:05:00+08:00", "transformer_id": "T1",
           "arrival": "2026-11-27T20:05:00+08:00", "departure": "2026-11-28T06:00:00+08:00", "energy_kwh": 15.0,
           "max_power_kw": 7.0}


def _upload(client, tmp_path) -> int:
    r = client.post("/scenarios", content=scenario_zip(tmp_path), headers={**client.tokens["plan"], **ZIP})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _count(app, model) -> int:
    with app.state.sessions() as db:
        return db.query(model).count()


@pytest.mark.parametrize("change, field", [
    ({"arrival": AFTER, "departure": "2026-11-28T18:00:00+08:00", "time": AFTER, "replan": False}, ["body", "arrival"]),
    ({"arrival": "2026-11-27T06:00:00+08:00", "departure": "2026-11-27T11:00:00+08:00",
      "time": "2026-11-27T06:00:00+08:00"}, ["body", "departure"]),
    ({"time": AFTER}, ["body", "time"]),
])
def test_a_session_outside_the_horizon_is_422_naming_the_field_and_stores_nothing(client, app, tmp_path, change, field):
    sid = _upload(client, tmp_path)
    audit, jobs = _count(app, AuditEntry), _count(app, PlanJob)
    r = client.post("/sessions", json={"scenario_id": sid, **SESSION, **change}, headers=client.tokens["plan"])
    assert r.status_code == 422, r.text
    (problem,) = r.json()["detail"]
    assert problem["loc"] == field and "horizon" in problem["msg"] and "2026-11-28T12:00:00+08:00" in problem["msg"]
    assert _count(app, EvSession) == 0 and _count(app, AuditEntry) == audit and _count(app, PlanJob) == jobs


def test_an_event_after_the_horizon_is_stored_when_no_replan_is_asked_for(client, app, tmp_path):
    sid = _upload(client, tmp_path)
    assert client.post("/sessions", json={"scenario_id": sid, **SESSION, "replan": False},
                       headers=client.tokens["plan"]).status_code == 200
    end = {"scenario_id": sid, "session_id": "S1", "event": "ended", "time": AFTER}
    r = client.post("/sessions", json=end, headers=client.tokens["plan"])
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "time"]
    r = client.post("/sessions", json={**end, "replan": False}, headers=client.tokens["plan"])
    assert r.status_code == 200 and "replan" not in r.json() and _count(app, PlanJob) == 0


@pytest.mark.parametrize("path, body, field", [
    ("/plans", {"as_of": AFTER}, ["body", "as_of"]),
    ("/meter", {"transformer_id": "T1", "measured_at": AFTER, "load_kw": 50.0, "replan": True}, ["body", "measured_at"]),
])
def test_a_replan_from_the_horizons_end_on_is_422(client, app, tmp_path, path, body, field):
    sid = _upload(client, tmp_path)
    r = client.post(path, json={"scenario_id": sid, **body}, headers=client.tokens["plan"])
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == field, r.text
    assert _count(app, PlanJob) == 0 and _count(app, MeterValue) == 0


def test_a_stay_that_starts_before_the_horizon_is_replanned_from_its_start(client, tmp_path):
    sid = _upload(client, tmp_path)
    early = {**SESSION, "arrival": "2026-11-27T11:00:00+08:00", "time": "2026-11-27T11:00:00+08:00"}
    r = client.post("/sessions", json={"scenario_id": sid, **early}, headers=client.tokens["plan"])
    assert r.status_code == 200, r.text
    job = wait_job(client, client.tokens["read"], r.json()["replan"])
    assert job["status"] == "succeeded", job["reason"]
    assert dt.datetime.fromisoformat(job["as_of"]) == HORIZON_START and job["kpis"]["n_slots"] == 96


async def _until(check, timeout_s: float = 20.0) -> None:
    end = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < end, "not within the time"
        await asyncio.sleep(0.05)


def _event(event_type: str, seq: int, at: str, **kw):
    return call.TransactionEvent(event_type=event_type, timestamp=at, trigger_reason="CablePluggedIn", seq_no=seq,
                                 transaction_info={"transaction_id": "TXO"}, evse={"id": 1, "connector_id": 1}, **kw)


def test_a_transaction_after_the_horizon_is_answered_stored_and_not_planned(live):
    """Before, it queued a re-plan from its start, which failed ('as_of ... outside the horizon')."""
    at = dt.datetime.fromisoformat(AFTER).astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    sample = [{"timestamp": at, "sampled_value": [{"value": 10.0, "measurand": "Energy.Active.Import.Register"}]}]
    with live.app.state.sessions() as db:
        jobs = db.query(PlanJob).count()

    async def scenario():
        station, ws, task = await connect(live.ws, "CS1", STATION_PASSWORD, Clock(HORIZON_START))
        # the ocpp package checks each answer against OCPP 2.0.1's TransactionEventResponse schema
        started = await station.call(_event("Started", 1, at, id_token={"id_token": "RFID1", "type": "ISO14443"},
                                            meter_value=sample), suppress=False)
        ended = await station.call(_event("Ended", 2, at, meter_value=sample), suppress=False)
        await asyncio.sleep(0.5)                    # room for a ClearChargingProfile that must not come
        task.cancel()
        await ws.close()
        return started, ended, station.received

    started, ended, received = asyncio.run(scenario())
    assert started.id_token_info == {"status": "Accepted"} and ended.id_token_info is None
    assert not received.profiles and not received.cleared
    with live.app.state.sessions() as db:
        session = db.query(EvSession).filter(EvSession.session_id == "CS1.TXO").one()
        assert session.status == OUTSIDE and session.ended_at is not None
        assert db.query(PlanJob).count() == jobs
        assert db.query(MeterValue).filter(MeterValue.transaction_id == "TXO").count() == 2
        assert db.query(ProfileSent).filter(ProfileSent.session_pk == session.id).count() == 0
        (entry,) = db.query(AuditEntry).filter(AuditEntry.target == "session:CS1.TXO").all()
    assert entry.action == "session.outside-horizon" and "not planned" in entry.detail["reason"]
    assert entry.detail["horizon"] == "2026-11-27T12:00:00+08:00 .. 2026-11-28T12:00:00+08:00"


def test_a_transaction_that_starts_before_the_horizon_is_planned_from_its_start(live):
    before = dt.datetime.fromisoformat("2026-11-27T11:30:00+08:00")   # plugged in; the default stay is 6 h

    async def scenario():
        station, ws, task = await connect(live.ws, "CS2", STATION_PASSWORD, Clock(before))
        await station.boot()
        await station.transaction("TXB", "Started", "CablePluggedIn")
        await _until(lambda: station.received.profiles)
        task.cancel()
        await ws.close()
        return station.received.profiles

    profiles = asyncio.run(scenario())
    assert [p["transaction_id"] for p in profiles.values()] == ["TXB"]
    with live.app.state.sessions() as db:
        job = db.query(PlanJob).order_by(PlanJob.id.desc()).first()
    assert job.status == "succeeded" and job.as_of == HORIZON_START
