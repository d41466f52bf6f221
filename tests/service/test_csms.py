"""The OCPP 2.0.1 CSMS with simulated stations (the ``ocpp`` package as client) against a live server."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest

from service_helpers import STATION_PASSWORD
from vpp_sched.service.db import EvSession, MeterValue, ProfileSent
from vpp_sched.service.sim_station import Clock, connect

START = dt.datetime.fromisoformat("2026-11-27T20:05:00+08:00")
WAIT_S = 20.0


async def until(check, timeout_s: float = WAIT_S):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if check():
            return True
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout_s} s")


def test_a_transaction_gets_a_profile_meter_values_are_kept_and_the_end_clears_it(live):
    async def scenario():
        station, ws, task = await connect(live.ws, "CS1", STATION_PASSWORD, Clock(START))
        await station.boot()
        await station.transaction("TX1", "Started", "CablePluggedIn")
        await until(lambda: station.received.profiles)
        for _ in range(3):
            await station.meter(7000.0, 10.0)
        await station.transaction("TX1", "Updated", "MeterValuePeriodic")
        (pid, profile), = station.received.profiles.items()
        await station.transaction("TX1", "Ended", "EVCommunicationLost")
        await until(lambda: station.received.cleared)
        task.cancel()
        await ws.close()
        return pid, profile, station.received.cleared

    pid, profile, cleared = asyncio.run(scenario())
    assert profile["transaction_id"] == "TX1" and profile["charging_profile_purpose"] == "TxProfile"
    limits = [p["limit"] for p in profile["charging_schedule"][0]["charging_schedule_period"]]
    assert any(x > 0 for x in limits) and all(x == 0 or x >= 1380.0 for x in limits)   # the charger minimum
    assert cleared == [pid]
    with live.app.state.sessions() as db:
        session = db.get(EvSession, pid)
        assert session.session_id == "CS1.TX1" and session.status == "ended"
        assert session.delivered_kwh == pytest.approx(7.0 * 30 / 3600, abs=1e-3)
        assert db.query(MeterValue).filter(MeterValue.station_id == "CS1").count() == 3 + 2
        sent = db.query(ProfileSent).filter(ProfileSent.station_id == "CS1").order_by(ProfileSent.id).all()
    assert [s.action for s in sent][-1] == "ClearChargingProfile" and all(s.answer == "Accepted" for s in sent)
    assert sent[0].plan_id is not None and sent[-1].replaces_id == sent[-2].id
    audit = live.client.get("/audit", params={"limit": 200}, headers=live.tokens["read"]).json()
    actions = {a["action"] for a in audit}
    assert {"session.started", "session.ended", "ocpp.SetChargingProfile", "ocpp.ClearChargingProfile",
            "station.connect"} <= actions


def test_a_station_that_reconnects_gets_its_profile_again(live):
    async def scenario():
        station, ws, task = await connect(live.ws, "CS2", STATION_PASSWORD, Clock(START))
        await station.boot()
        await station.transaction("TX7", "Started", "CablePluggedIn")
        await until(lambda: station.received.profiles)
        first = dict(station.received.profiles)
        task.cancel()
        await ws.close()
        station2, ws2, task2 = await connect(live.ws, "CS2", STATION_PASSWORD, Clock(START))
        await until(lambda: station2.received.profiles)
        again = dict(station2.received.profiles)
        task2.cancel()
        await ws2.close()
        return first, again

    first, again = asyncio.run(scenario())
    assert first.keys() == again.keys() and list(again.values())[0]["transaction_id"] == "TX7"


def test_wrong_password_unknown_station_and_no_subprotocol_are_refused(live):
    from websockets.asyncio.client import connect as ws_connect
    from websockets.exceptions import InvalidStatus

    from vpp_sched.service.sim_station import basic_auth

    async def refused(station_id, password, subprotocols=("ocpp2.0.1",)):
        with pytest.raises(InvalidStatus) as info:
            await ws_connect(f"{live.ws}/{station_id}", subprotocols=list(subprotocols),
                             additional_headers=basic_auth(station_id, password))
        return info.value.response.status_code

    async def scenario():
        return [await refused("CS1", "wrong-password-123"), await refused("CS9", STATION_PASSWORD),
                await refused("CS1", STATION_PASSWORD, ("ocpp1.6",))]

    assert all(code == 403 for code in asyncio.run(scenario()))


def test_the_evs_charging_needs_set_its_energy_and_departure(live):
    from ocpp.v201 import call

    async def scenario():
        station, ws, task = await connect(live.ws, "CS1", STATION_PASSWORD, Clock(START))
        await station.boot()
        await station.transaction("TX3", "Started", "CablePluggedIn")
        await station.timed(call.NotifyEVChargingNeeds(evse_id=1, charging_needs={
            "requested_energy_transfer": "AC_three_phase", "departure_time": "2026-11-28T04:00:00Z",
            "ac_charging_parameters": {"energy_amount": 25000, "ev_min_current": 6, "ev_max_current": 16,
                                       "ev_max_voltage": 400}}))
        task.cancel()
        await ws.close()

    asyncio.run(scenario())
    with live.app.state.sessions() as db:
        session = db.query(EvSession).filter(EvSession.session_id == "CS1.TX3").one()
    assert session.energy_kwh == pytest.approx(25.0)   # default was 10 kWh
    assert session.departure == dt.datetime(2026, 11, 28, 4, tzinfo=dt.timezone.utc)
