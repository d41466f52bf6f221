"""The status page: plain HTML with the current plan, transformers, stations and audit; checked in Chromium."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

from service_helpers import STATION_PASSWORD
from test_plan_report import browse, parse
from vpp_sched.service.sim_station import Clock, connect

START = dt.datetime.fromisoformat("2026-11-27T20:05:00+08:00")


def _with_a_station(live) -> None:
    async def scenario():
        station, ws, task = await connect(live.ws, "CS1", STATION_PASSWORD, Clock(START))
        await station.boot()
        await station.transaction("TX1", "Started", "CablePluggedIn")
        end = time.monotonic() + 20
        while not station.received.profiles and time.monotonic() < end:
            await asyncio.sleep(0.05)
        task.cancel()
        await ws.close()

    asyncio.run(scenario())


def test_the_status_page_needs_a_read_token(client):
    assert client.get("/status").status_code == 401
    token = client.tokens["read"]["Authorization"].split()[1]
    r = client.get("/status", params={"token": token})
    assert r.status_code == 200 and "No scenario yet" in r.text
    assert "script" not in r.text.lower() and "default-src 'none'" in r.headers["content-security-policy"]


def test_the_status_page_renders_in_headless_chromium(live, tmp_path):
    _with_a_station(live)
    token = live.tokens["read"]["Authorization"].split()[1]
    dom = browse(tmp_path, f"{live.http}/status?token={token}", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = parse(dom.stdout)
    assert set(page.sections) >= {"plans", "stations", "audit"}
    assert not page.refs and page.tags["script"] == 0 and page.tags["table"] >= 4
    text = " ".join(page.text)
    for expected in ("Scenario 1: example", "Highest loading [pu]", "Transformers", "T1", "T2", "CS1", "CS2",
                     "SetChargingProfile", "Accepted", "plan.succeeded", "session.started"):
        assert expected in text, expected
