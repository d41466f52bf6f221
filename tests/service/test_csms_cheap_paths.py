"""The CSMS's cheap paths under load: generated station passwords with a fast salted hash (old scrypt rows
still verify), the incoming calls' schema check compiled inline, the plan's profiles checked where it is
made and parsed only for the stations that need them, small groups of audit writes, the loop's lag."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import csv
import io
import json
import threading
import time

import pytest
from ocpp.exceptions import FormatViolationError, ProtocolError, TypeConstraintViolationError

from test_csms import START, until
from vpp_sched.service.auth import generate_secret, hash_generated, hash_secret, verify_secret
from vpp_sched.service.db import AuditEntry, PlanFile, Station
from vpp_sched.service.group_writer import LATER, MAX_LATER, NOW, GroupWriter
from vpp_sched.service.loop_lag import GcPauses, LoopLag
from vpp_sched.service.ocpp_schema import PLAN_CHECK_FILE, check_call
from vpp_sched.service.profiles import PlanProfiles
from vpp_sched.service.sim_station import Clock, connect
from vpp_sched.service.store import current_plan, plan_file


def test_a_generated_password_gets_a_salted_hmac_a_chosen_one_scrypt_and_both_verify():
    secret = generate_secret()
    assert 16 <= len(secret) <= 40 and secret != generate_secret()
    fast, again = hash_generated(secret), hash_generated(secret)
    assert fast.startswith("hmac-sha256$") and fast != again            # salted: no two rows alike
    assert verify_secret(secret, fast) and verify_secret(secret, again)
    assert not verify_secret(secret[:-1], fast) and not verify_secret(secret + "x", fast)
    chosen = hash_secret("an-operators-pick-16", n=2**10)
    assert chosen.startswith("scrypt$") and verify_secret("an-operators-pick-16", chosen)
    assert not verify_secret("an-operators-pick-17", chosen)
    assert verify_secret(secret, hash_secret(secret, n=2**10))          # a row stored before still verifies
    for broken in ("", "hmac-sha256$onlysalt", "md5$a$b", fast + "$extra", "scrypt$x$8$1$a$b"):
        assert not verify_secret(secret, broken)


def test_a_station_without_a_password_gets_one_generated_that_connects(live):
    body = {"station_id": "CS7", "scenario_id": live.scenario_id, "transformer_id": "T1"}
    r = live.client.post("/stations", json=body, headers=live.tokens["admin"])
    assert r.status_code == 201, r.text
    password = r.json()["password"]
    listed = live.client.get("/stations", headers=live.tokens["read"]).json()
    assert all("password" not in s for s in listed)                     # answered once, never listed
    with live.app.state.sessions() as db:
        assert db.get(Station, "CS7").password_hash.startswith("hmac-sha256$")
        assert db.get(Station, "CS1").password_hash.startswith("scrypt$")  # chosen: scrypt as before
        detail = db.query(AuditEntry).filter(AuditEntry.target == "station:CS7").one().detail
    assert detail["password"] == "generated"

    async def scenario():
        station, ws, task = await connect(live.ws, "CS7", password, Clock(START))
        await station.boot()                      # raises on a CallError
        task.cancel()
        await ws.close()
        return station.actions

    assert asyncio.run(scenario()) == ["BootNotification", "StatusNotification"]


def test_an_incoming_call_is_checked_compiled_with_the_packages_errors():
    good = {"evseId": 1, "meterValue": [{"timestamp": "2026-11-27T20:05:00Z", "sampledValue": [{"value": 7000}]}]}
    check_call("MeterValues", good)
    with pytest.raises(TypeConstraintViolationError, match="evseId must be integer"):
        check_call("MeterValues", {**good, "evseId": "one"})
    with pytest.raises(ProtocolError, match="must contain"):
        check_call("MeterValues", {"evseId": 1})
    with pytest.raises(FormatViolationError):
        check_call("MeterValues", {**good, "colour": "red"})


def test_a_station_sending_a_broken_call_gets_a_call_error_and_stays_connected(live):
    from service_helpers import STATION_PASSWORD

    async def scenario():
        station, ws, task = await connect(live.ws, "CS1", STATION_PASSWORD, Clock(START))
        got = asyncio.get_running_loop().create_future()
        original = station.route_message

        async def route(raw):
            msg = json.loads(raw)
            if msg[:2] == [4, "broken-1"]:
                got.set_result(msg)
            else:
                await original(raw)

        station.route_message = route
        await ws.send(json.dumps([2, "broken-1", "MeterValues", {"evseId": "one", "meterValue": []}]))
        error = await asyncio.wait_for(got, 20)
        await station.boot()                      # the connection lives on
        task.cancel()
        await ws.close()
        return error

    error = asyncio.run(scenario())
    assert error[0] == 4 and error[2] == "TypeConstraintViolation"
    assert "MeterValuesRequest: data.evseId must be integer" in error[4]["cause"]   # our compiled check answered


def test_the_planning_process_checks_the_profiles_and_the_csms_parses_only_those_asked_for(live):
    with live.app.state.sessions() as db:
        plan = current_plan(db, live.scenario_id)
        checked = json.loads(plan_file(db, plan.id, PLAN_CHECK_FILE))
        files = {r["ev_id"]: r["file"] for r in csv.DictReader(io.StringIO(plan_file(db, plan.id, "ocpp/index.csv").decode()))
                 if r["file"]}
        evs = sorted(files)
        assert checked["checked"] == len(evs) >= 2 and checked["invalid"] == {}
        plans = PlanProfiles()
        one = plans.get(db, plan.id, {evs[0], "no-such-ev"})
        assert set(one) == {evs[0]} and set(plans._kept[plan.id].parsed) == {evs[0]}
        assert set(plans.get(db, plan.id)) == set(evs)
        # an EV the check marked invalid is never handed out; a plan stored without the check is checked here
        marked = PlanProfiles()
        marked.get(db, plan.id, set())
        marked._kept[plan.id].invalid = {evs[1]: "SetChargingProfileRequest: broken"}
        assert set(marked.get(db, plan.id)) == set(evs) - {evs[1]}
        db.query(PlanFile).filter(PlanFile.plan_id == plan.id, PlanFile.name == f"ocpp/{files[evs[0]]}") \
            .update({"content": b'{"evseId": 1, "chargingProfile": {"id": "x"}}'})
        db.query(PlanFile).filter(PlanFile.plan_id == plan.id, PlanFile.name == PLAN_CHECK_FILE).delete()
        assert set(PlanProfiles().get(db, plan.id)) == set(evs) - {evs[0]}
        db.rollback()
        stored = {ev: json.loads(plan_file(db, plan.id, f"ocpp/{f}")) for ev, f in files.items()}
    # the API's JSON of the plan's profiles, put together from the files as stored, says what they say
    r = live.client.get(f"/plans/{plan.id}/ocpp", headers=live.tokens["read"])
    assert r.headers["content-type"] == "application/json" and r.json()["profiles"] == stored
    assert {row["ev_id"] for row in r.json()["index"] if row["file"]} == set(stored)


class _Db:
    def __init__(self, log):
        self.log, self.info = log, {}

    def commit(self):
        self.log.append("commit")


def test_records_of_what_was_sent_go_in_small_groups_and_a_message_waits_for_one_at_most():
    log, hold, in_r0, release_r0 = [], threading.Event(), threading.Event(), threading.Event()

    def write(db, name):
        if name == "hold":
            hold.wait(5)
        if name == "r0":
            in_r0.set()
            release_r0.wait(5)
        db.log.append(name)

    async def scenario():
        w = GroupWriter(lambda: contextlib.nullcontext(_Db(log)))
        first = asyncio.ensure_future(w.run(write, "hold"))
        await asyncio.sleep(0.05)                 # the writer waits inside "hold"
        later = [asyncio.ensure_future(w.run(write, f"r{i}", priority=LATER)) for i in range(3 * MAX_LATER)]
        await asyncio.sleep(0.05)
        hold.set()
        while not in_r0.is_set():                 # the first group of records has started
            await asyncio.sleep(0.005)
        meter = asyncio.ensure_future(w.run(write, "meter", priority=NOW))
        await asyncio.sleep(0.05)
        release_r0.set()
        await asyncio.gather(first, *later, meter)
        w.stop()

    asyncio.run(scenario())
    groups = [g.split() for g in " ".join(log).split(" commit") if g.strip()]
    assert [len(g) for g in groups] == [1, MAX_LATER, MAX_LATER + 1, MAX_LATER]
    assert groups[2][0] == "meter"                # behind one group of records, not all of them


def test_the_loop_lag_sees_a_hold_and_the_csms_reports_it(live):
    async def held():
        lag = LoopLag(tick_s=0.005)
        ticker = asyncio.ensure_future(lag.run())
        await asyncio.sleep(0.05)
        time.sleep(0.12)                          # the loop held: nothing runs for 120 ms
        await asyncio.sleep(0.05)
        ticker.cancel()
        later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
        assert lag.summary(since=later) == {"n": 0}          # only lags after ``since`` count
        return lag.summary()

    s = asyncio.run(held())
    assert s["max_ms"] >= 100 and s["over_50_ms"] == 1 and s["p50_ms"] < s["max_ms"] and s["n"] >= 5
    (worst_ms, at), *rest = s["worst"]
    assert worst_ms == pytest.approx(s["max_ms"], abs=0.1) and all(ms <= worst_ms for ms, _ in rest)
    assert abs(dt.datetime.fromisoformat(at).timestamp() - time.time()) < 60
    times = live.client.get("/csms/answer-times", headers=live.tokens["read"]).json()
    soon = live.client.get("/csms/answer-times", params={"since": "2999-01-01T00:00:00+00:00"},
                           headers=live.tokens["read"]).json()
    assert soon["loop_lag"] == {"n": 0} and live.client.get("/csms/answer-times", params={"since": "2026-01-01T00:00:00"},
                                                            headers=live.tokens["read"]).status_code == 422
    assert set(times["gc_pauses"]) == {"gen0", "gen1", "gen2"}
    assert times["loop_lag"]["n"] > 0 and 0 <= times["loop_lag"]["p50_ms"] <= times["loop_lag"]["max_ms"]


def test_connect_boot_and_statuses_are_stored_without_reading_the_row_and_kept_across_connections(live):
    from ocpp.v201 import call as ocpp_call

    from service_helpers import STATION_PASSWORD

    def row():
        with live.app.state.sessions() as db:
            s = db.get(Station, "CS1")
            return s.connected, s.boot, s.status

    async def status(station, evse_id, value):
        await station.timed(ocpp_call.StatusNotification(timestamp=station.clock.text(), connector_status=value,
                                                         evse_id=evse_id, connector_id=1))

    async def scenario():
        station, ws, task = await connect(live.ws, "CS1", STATION_PASSWORD, Clock(START))
        await station.boot()                                  # evse 1 Occupied
        await status(station, 2, "Available")
        first = row()
        task.cancel()
        await ws.close()
        await until(lambda: not row()[0])
        station, ws, task = await connect(live.ws, "CS1", STATION_PASSWORD, Clock(START))
        await status(station, 1, "Available")                 # merged with what the last connection said
        second = row()
        task.cancel()
        await ws.close()
        return first, second

    first, second = asyncio.run(scenario())
    assert first == (True, {"charging_station": {"model": "sim", "vendor_name": "vpp-sched"}, "reason": "PowerUp"},
                     {"1": "Occupied", "2": "Available"})
    assert second[0] is True and second[2] == {"1": "Available", "2": "Available"}
    with live.app.state.sessions() as db:
        actions = [a.action for a in db.query(AuditEntry).filter(AuditEntry.target == "station:CS1").order_by(AuditEntry.id)]
    assert actions.count("station.connect") == 2 and actions.count("station.disconnect") >= 1


def test_every_handled_actions_schema_is_compiled_before_the_first_station(monkeypatch):
    import vpp_sched.service.csms as csms

    compiled = []
    monkeypatch.setattr(csms, "check_compiled", compiled.append)
    csms.StationPoint.compile_schemas()
    assert set(compiled) == {"BootNotification", "Heartbeat", "StatusNotification", "MeterValues", "TransactionEvent",
                             "NotifyEVChargingNeeds"}


def test_the_garbage_collectors_pauses_are_timed_per_generation():
    import gc

    pauses = GcPauses()
    pauses.install()
    try:
        gc.collect(2)
        gc.collect(0)
    finally:
        pauses.uninstall()
    gc.collect(2)                                 # not counted once uninstalled
    s = pauses.summary()
    assert s["gen2"]["n"] == 1 and s["gen0"]["n"] >= 1 and s["gen2"]["max_ms"] > 0
    assert s["gen2"]["total_ms"] == pytest.approx(s["gen2"]["max_ms"], abs=0.1)
