"""The load test's simulated fleet: seeded phases, its own measures, the cheap station, several processes."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import httpx
import numpy as np

from service_helpers import STATION_PASSWORD, add_stations
from test_csms import START
from vpp_sched.service.db import MeterValue
from vpp_sched.service.sim_fleet import replan_probe, station_times
from vpp_sched.service.sim_fleet_procs import run_fleet_processes
from vpp_sched.service.sim_station import Clock, SimStation

PROFILE = {"id": 7, "stack_level": 0, "charging_profile_purpose": "TxProfile", "charging_profile_kind": "Absolute",
           "transaction_id": "TX1", "charging_schedule": [{
               "id": 7, "charging_rate_unit": "W", "start_schedule": "2026-11-27T12:00:00Z",
               "charging_schedule_period": [{"start_period": 0, "limit": 7000.0}]}]}
BROKEN = {**PROFILE, "charging_schedule": [{**PROFILE["charging_schedule"][0], "charging_rate_unit": "kW"}]}


def test_the_stations_times_are_seeded_and_not_in_step():
    tx, phase = station_times(500, 60.0, 10.0, seed=0)
    again, other = station_times(500, 60.0, 10.0, seed=0), station_times(500, 60.0, 10.0, seed=1)
    assert np.array_equal(tx, again[0]) and np.array_equal(phase, again[1]) and not np.array_equal(phase, other[1])
    assert 0 <= tx.min() and tx.max() < 60.0 and 0 <= phase.min() and phase.max() < 10.0
    # the MeterValues of 500 stations spread over the period: no tenth of it holds twice its share
    assert np.histogram(phase, bins=10, range=(0, 10))[0].max() < 2 * 50


def test_a_cheap_station_accepts_at_once_and_finds_a_broken_profile_afterwards():
    async def receive(validate: bool):
        station = SimStation("X1", None, Clock(START), validate=validate)
        answers = [(await station.on_set_profile(1, p)).status for p in (PROFILE, BROKEN)]
        return station, answers

    checked, answers = asyncio.run(receive(True))
    assert answers == ["Accepted", "Rejected"] and checked.received.rejected == [BROKEN]
    cheap, answers = asyncio.run(receive(False))
    assert answers == ["Accepted", "Accepted"] and cheap.received.rejected == []
    assert cheap.check_received() == 1 and cheap.received.rejected == [BROKEN] and cheap.received.unchecked == []
    assert cheap.check_received() == 0   # each profile checked once


def test_a_fleet_over_two_processes_loses_nothing_and_holds_the_latest_profile(live):
    ids = [f"P{i:02d}" for i in range(6)]
    add_stations(live.client, live.tokens["admin"], live.scenario_id, ids, "T1")
    probes = []

    async def main():
        async with httpx.AsyncClient(base_url=live.http, timeout=60) as http:
            async def probe(fleet):
                probes.append(await replan_probe(http, live.tokens["plan"], live.scenario_id,
                                                 START + dt.timedelta(minutes=15), fleet))

            return await run_fleet_processes(live.ws, ids, STATION_PASSWORD, START, 3.0, 0.5, 1.0, 2, probe, seed=3)

    t0 = time.time()
    result = asyncio.run(main())
    assert not result.failed, result.failed[:3]
    with live.app.state.sessions() as db:
        stored = db.query(MeterValue).filter(MeterValue.station_id.in_(ids), MeterValue.power_kw.is_not(None)).count()
    assert result.meter_sent == stored >= 6 * 3
    (p,) = probes
    assert len(p.delays_s) == 6 and not p.missing and not p.mismatched and max(p.delays_s) < 5.0
    # every station's calls came back, each with when it was sent, and each child measured its own loop
    acts = result.actions.tolist()
    assert acts.count("BootNotification") == 6 and acts.count("TransactionEvent") == 6 and acts.count("MeterValues") == stored
    assert len(result.sent_at) == len(result.latencies_s) and t0 < result.sent_at.min() <= result.sent_at.max() < time.time()
    assert [c["stations"] for c in result.loop_lag["per_process"]] == [3, 3]
    assert all(c["n"] > 100 and c["cpu_s"] > 0 for c in result.loop_lag["per_process"]) and result.cpu_s > 0
    assert all(set(c["gc_pauses"]) == {"gen0", "gen1", "gen2"} for c in result.loop_lag["per_process"])
    assert result.rejected == 0
    # the CSMS's answers listed with when each was read, as many as the stations' calls
    got = live.client.get("/csms/answer-times", params={"listed": True, "since": dt.datetime.fromtimestamp(
        t0, dt.timezone.utc).isoformat()}, headers=live.tokens["read"]).json()["answers"]
    assert len(got) == len(result.latencies_s) and all(t0 <= at <= time.time() and ms >= 0 for at, _, ms in got)
