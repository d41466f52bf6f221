"""What the CSMS sends after a re-plan: read for all stations at once, checked against the schema once."""

from __future__ import annotations

import asyncio
import copy

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from test_csms import START, until
from service_helpers import STATION_PASSWORD
from vpp_sched.service.db import Base, PlanFile, ProfileSent, make_engine, migrate
from vpp_sched.service.ocpp_schema import SchemaError, check
from vpp_sched.service.profiles import PlanProfiles, scenario_profiles, station_profiles
from vpp_sched.service.sim_station import Clock, connect
from vpp_sched.service.store import current_plan, plan_file


def _two_transactions(live):
    async def scenario():
        out = []
        for sid, tx in (("CS1", "TX1"), ("CS2", "TX2")):
            station, ws, task = await connect(live.ws, sid, STATION_PASSWORD, Clock(START))
            await station.boot()
            await station.transaction(tx, "Started", "CablePluggedIn")
            out.append((station, ws, task))
        await until(lambda: all(s.received.profiles for s, _, _ in out))
        await until(lambda: _recorded(live) == 2)     # the answers are recorded after they arrive
        with live.app.state.sessions() as db:
            batch = scenario_profiles(db, live.scenario_id, {"CS1", "CS2"}, resend=True)
            alone = {s: station_profiles(db, s, resend=True) for s in ("CS1", "CS2")}
            unchanged = scenario_profiles(db, live.scenario_id, {"CS1", "CS2"})
        for _, ws, task in out:
            task.cancel()
            await ws.close()
        return batch, alone, unchanged, [s.received for s, _, _ in out]

    return asyncio.run(scenario())


def _recorded(live) -> int:
    with live.app.state.sessions() as db:
        return db.query(ProfileSent.session_pk).filter(ProfileSent.answer == "Accepted").distinct().count()


def test_the_batch_read_is_each_stations_read_and_skips_what_they_hold(live):
    batch, alone, unchanged, received = _two_transactions(live)
    assert set(batch) == {"CS1", "CS2"}
    assert {s: [vars(o) for o in outs] for s, outs in batch.items()} == \
        {s: [vars(o) for o in outs] for s, outs in alone.items()}
    # both stations accepted the plan's profiles: nothing to send again unless asked to resend
    assert unchanged == {}
    assert all(r.rejected == [] and len(r.profiles) == 1 for r in received)


def test_every_profile_of_a_plan_matches_the_schema_and_a_broken_one_names_its_field(live):
    with live.app.state.sessions() as db:
        plan = current_plan(db, live.scenario_id)
        profiles = PlanProfiles().get(db, plan.id)
    assert profiles
    for payload in profiles.values():
        check("SetChargingProfile", payload)
    broken = copy.deepcopy(next(iter(profiles.values())))
    broken["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] = "lots"
    with pytest.raises(SchemaError, match=r"chargingSchedulePeriod\[0\]\.limit must be number"):
        check("SetChargingProfile", broken)


def test_a_large_plan_file_is_stored_compressed_and_read_back_as_written(tmp_path):
    data = b"slot_start,bus_id,vm_pu\n" + b"".join(b"2026-12-02T00:%02d:00+08:00,B%d,0.98%d\n" % (i % 60, i, i % 10)
                                                   for i in range(20_000))
    small, large = PlanFile.of(1, "kpis.json", b"{}"), PlanFile.of(1, "grid_buses.csv", data)
    assert (small.encoding, small.data) == ("", b"{}")
    assert large.encoding == "zlib" and len(large.content) < len(data) / 4 and large.data == data


def test_the_migrations_build_exactly_the_models_tables(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_a_plan_file_is_served_as_the_plan_wrote_it(live):
    with live.app.state.sessions() as db:
        plan = current_plan(db, live.scenario_id)
        stored = plan_file(db, plan.id, "ev_schedule.csv")
    r = live.client.get(f"/plans/{plan.id}/files/ev_schedule.csv", headers=live.tokens["read"])
    assert r.status_code == 200 and r.content == stored and stored.startswith(b"ev_id")


def test_the_csms_times_its_answers_per_action(live):
    from vpp_sched.service.answer_times import call_action

    assert call_action('[2, "u1", "MeterValues", {}]') == "MeterValues"
    assert call_action('[3, "u1", {"status": "Accepted"}]') is None
    _two_transactions(live)
    times = live.client.get("/csms/answer-times", headers=live.tokens["read"]).json()
    assert {"BootNotification", "TransactionEvent", "all"} <= set(times)
    assert times["BootNotification"]["n"] == 2 and times["all"]["n"] >= 4
    assert 0 < times["all"]["p50_ms"] <= times["all"]["p99_ms"] <= times["all"]["max_ms"]
    assert live.client.get("/csms/answer-times").status_code == 401
