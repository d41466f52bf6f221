"""OpenADR 2.0b events in: the signal mapping, `vpp-sched ven` against a real openleadr VTN on
127.0.0.1, and `vpp-sched import-openadr` on stored messages (tests/data/openadr_*.xml).

The small scenario of scenario_factory: T1 (95 kW usable) and T2 (152 kW), evening-peaked base
load (148 kW summed at 19:30 local), EVs arriving 17:30-19:10. 18:00-20:00 Asia/Shanghai is
10:00-12:00 UTC.

The mapping and stored-message tests use the scenario's fixed day (2026-11-27): no clock is read
there. The VTN is a real server that judges events by the wall clock (openleadr delivers no event
that has ended), so its tests plan the day starting at the next local noon and put the events on
that evening: they pass on any date.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
import threading
from pathlib import Path

import numpy as np
import openleadr
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from scenario_factory import next_local_noon, write_scenario
from vpp_sched.cli import app
from vpp_sched.interop.openadr import SignalMapping, convert_event
from vpp_sched.interop.openadr.messages import read_distribute_event
from vpp_sched.interop.openadr.ven import VenSession, run_ven
from vpp_sched.problem.build import build_problem, uncontrolled_net_load_kw
from vpp_sched.scenario.load import load_scenario

DATA = Path(__file__).parents[1] / "data"
STORED = DATA / "openadr_distribute_event.xml"
MALFORMED = DATA / "openadr_malformed.xml"
UTC = dt.timezone.utc
START, END = dt.datetime(2026, 11, 27, 10, tzinfo=UTC), dt.datetime(2026, 11, 27, 12, tzinfo=UTC)
CAPACITY_KW = 95.0 + 152.0  # usable limits of T1 and T2
runner = CliRunner()
# openleadr's server still uses plain string keys on its aiohttp app
pytestmark = pytest.mark.filterwarnings("ignore:It is recommended to use web.AppKey")


@pytest.fixture
def scenario_dir(tmp_path):
    return write_scenario(tmp_path / "scenario")


@pytest.fixture
def live_day(tmp_path):
    """For the VTN tests: the scenario of the day from the next local noon, and its 18:00-20:00 local
    (10:00-12:00 UTC) window, still ahead whatever the date."""
    noon = next_local_noon()
    start = (noon + dt.timedelta(hours=6)).tz_convert(UTC).to_pydatetime()
    return write_scenario(tmp_path / "live", day_start=noon), start, start + dt.timedelta(hours=2)


def _event(event_id, signal_name, signal_type, payloads, targets=None, status="far", hours=2):
    """An event as openleadr parses it: one signal, intervals of ``hours / len(payloads)`` from 10:00 UTC."""
    step = dt.timedelta(hours=hours / len(payloads))
    return {"event_descriptor": {"event_id": event_id, "modification_number": 0, "event_status": status,
                                 "created_date_time": dt.datetime(2026, 11, 26, 4, tzinfo=UTC)},
            "active_period": {"dtstart": START, "duration": step * len(payloads)},
            "event_signals": [{"signal_name": signal_name, "signal_type": signal_type,
                               "intervals": [{"duration": step, "uid": i, "signal_payload": v}
                                             for i, v in enumerate(payloads)]}],
            "targets": targets or [{"ven_id": "ven-1"}]}


# --- mapping ---------------------------------------------------------------------------------

def test_capacity_signal_caps_every_slot(scenario_dir):
    sc = load_scenario(scenario_dir)
    conv = convert_event(_event("CAP", "LOAD_CONTROL", "x-loadControlCapacity", [0.65]), sc)
    assert conv.problems == [] and conv.signal == "LOAD_CONTROL/x-loadControlCapacity"
    (ev,) = conv.events
    assert ev.event_id == "CAP" and ev.kind == "peak_shaving" and ev.scope == "all"
    # UTC in, the scenario's zone out
    assert ev.start.isoformat() == "2026-11-27T18:00:00+08:00" and ev.end.isoformat() == "2026-11-27T20:00:00+08:00"
    assert ev.notified_at.isoformat() == "2026-11-26T12:00:00+08:00"
    p = build_problem(sc)
    window = (p.slots >= ev.start) & (p.slots < ev.end)
    uncontrolled = uncontrolled_net_load_kw(p).sum(axis=0)[window]
    # baseline - target <= cap in every slot, with equality at the baseline's peak
    assert ev.target_kw == pytest.approx(uncontrolled.max() - 0.65 * CAPACITY_KW, abs=1e-3)
    kw = convert_event(_event("CAP", "LOAD_CONTROL", "x-loadControlCapacity", [160.55]), sc,
                       SignalMapping(capacity_unit="kw"))
    assert kw.events[0].target_kw == pytest.approx(ev.target_kw, abs=1e-3)


def test_simple_levels_and_scope(scenario_dir):
    sc = load_scenario(scenario_dir)
    conv = convert_event(_event("S", "SIMPLE", "level", [2, 0, 1, 3], targets=[{"resource_id": "T1"}]), sc)
    assert conv.problems == []
    assert [e.event_id for e in conv.events] == ["S.0", "S.2", "S.3"]  # level 0 is normal operation
    assert any("level 0" in n for n in conv.notes)
    assert all(e.scope == ["T1"] for e in conv.events)
    # 18:00-18:30 on T1: E1 (7 kW from 18:00) uncontrolled -> flexible 7 kW; level 2 asks half
    assert conv.events[0].target_kw == pytest.approx(0.5 * 7.0)
    fixed = convert_event(_event("S", "SIMPLE", "level", [1, 2, 3, 0]), sc, SignalMapping(level_kw=(10, 20, 30)))
    assert [e.target_kw for e in fixed.events] == [10, 20, 30]


@pytest.mark.parametrize("event, expected", [
    (_event("X", "ELECTRICITY_PRICE", "price", [0.9]), "no supported signal"),
    (_event("X", "SIMPLE", "level", [5]), "not 0, 1, 2 or 3"),
    (_event("X", "SIMPLE", "level", [2], targets=[{"resource_id": "T9"}]), "T9 is neither"),
    (_event("X", "LOAD_CONTROL", "x-loadControlCapacity", [20.0]), "above 1"),
])
def test_unusable_events_say_why(scenario_dir, event, expected):
    conv = convert_event(event, load_scenario(scenario_dir))
    assert conv.events == [] and any(expected in p for p in conv.problems), conv.problems


def test_event_outside_the_horizon(scenario_dir):
    event = _event("LATE", "SIMPLE", "level", [2])
    event["active_period"]["dtstart"] = dt.datetime(2026, 12, 5, 10, tzinfo=UTC)
    conv = convert_event(event, load_scenario(scenario_dir))
    assert conv.events == [] and "outside the planning horizon" in conv.problems[0]
    normal = convert_event(_event("NORMAL", "SIMPLE", "level", [0, 0]), load_scenario(scenario_dir))
    assert normal.events == [] and normal.problems == [] and len(normal.notes) == 2  # nothing asked


# --- the VEN against a real VTN -----------------------------------------------------------------

@pytest.mark.parametrize("now, noon", [
    ("2026-12-01T11:59:59+08:00", "2026-12-01T12:00:00+08:00"),
    ("2026-12-01T12:00:00+08:00", "2026-12-02T12:00:00+08:00"),   # strictly after now
    ("2026-12-31T20:00:00+00:00", "2027-01-01T12:00:00+08:00"),   # 04:00 local on 1 January
])
def test_live_day_is_ahead_and_the_same_day(tmp_path, now, noon):
    assert next_local_noon(pd.Timestamp(now)) == pd.Timestamp(noon)
    moved = load_scenario(write_scenario(tmp_path / "moved", day_start=pd.Timestamp(noon)))
    fixed = load_scenario(write_scenario(tmp_path / "fixed"))
    days = pd.Timestamp(noon) - pd.Timestamp(fixed.config.horizon.start)
    assert moved.config.horizon.start == pd.Timestamp(noon)
    assert (moved.evs.arrival - fixed.evs.arrival == days).all() and (moved.evs.departure - fixed.evs.departure == days).all()
    assert np.array_equal(moved.base_load_kw.to_numpy(), fixed.base_load_kw.to_numpy())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Vtn:
    """An openleadr VTN in its own thread and event loop on 127.0.0.1; records the VEN's opt answers."""

    def __init__(self):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/OpenADR2/Simple/2.0b"
        self.opts: dict[str, str] = {}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server = None

    def start(self):
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=10)

    async def _start(self):
        self.server = openleadr.OpenADRServer(vtn_id="VTN-TEST", http_host="127.0.0.1", http_port=self.port,
                                              requested_poll_freq=dt.timedelta(seconds=1))

        async def register(info):
            return f"ven-{info['ven_name']}", "reg-1"

        self.server.add_handler("on_create_party_registration", register)
        await self.server.run()

    def add_event(self, ven_id, signal_name, signal_type, payload, event_id, start, end):
        def opted(ven_id, event_id, opt_type):
            self.opts[event_id] = opt_type

        def add():
            self.server.add_event(ven_id=ven_id, signal_name=signal_name, signal_type=signal_type, event_id=event_id,
                                  intervals=[{"dtstart": start, "duration": end - start, "signal_payload": payload}],
                                  callback=opted)
        self.loop.call_soon_threadsafe(add)

    def cancel_event(self, ven_id, event_id):
        self.loop.call_soon_threadsafe(self.server.cancel_event, ven_id, event_id)

    def stop(self):
        if self.server is not None and self.server.app_runner is not None:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def vtn():
    server = Vtn()
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_ven_opts_in_and_out_and_replans(vtn, live_day, tmp_path):
    scenario_dir, start, end = live_day
    # 0.65 x 247 kW = 160.6 kW: above the base load, below the uncontrolled evening peak (176.7 kW)
    vtn.add_event("ven-zezhou", "LOAD_CONTROL", "x-loadControlCapacity", 0.65, "CAP-OK", start, end)
    # 0.5 x 247 kW = 123.5 kW: below the base load alone (148 kW at 19:30), so it cannot be met
    vtn.add_event("ven-zezhou", "LOAD_CONTROL", "x-loadControlCapacity", 0.5, "CAP-TOO-LOW", start, end)
    out = tmp_path / "plan"
    res = runner.invoke(app, ["ven", "--vtn-url", vtn.url, "--ven-name", "zezhou", "--scenario", str(scenario_dir),
                              "--out", str(out), "--max-events", "2", "--timeout", "60", "--no-parquet"])
    assert res.exit_code == 0, res.output + res.stderr
    assert "VEN stopped after 2 event(s)" in res.output
    assert vtn.opts == {"CAP-OK": "optIn", "CAP-TOO-LOW": "optOut"}

    log = pd.read_csv(out / "openadr_events.csv").set_index("oadr_event_id")
    assert log.loc["CAP-OK", "opt"] == "optIn" and log.loc["CAP-TOO-LOW", "opt"] == "optOut"
    assert "cannot be met" in log.loc["CAP-TOO-LOW", "reason"]
    # the plan keeps the event it took, and its scope's net load stays under the cap
    events = pd.read_csv(out / "events.csv")
    assert list(events.event_id) == ["CAP-OK"] and events.slots_met.iat[0] == events.slots.iat[0] == 8
    rows = pd.read_csv(out / "dr_events.csv")
    assert set(rows.event_id) == {"CAP-OK"}
    slots = pd.to_datetime(rows.slot_start, utc=True)   # the event where the VTN put it, in the plan's day
    assert slots.min() == start and slots.max() == end - dt.timedelta(minutes=15)
    assert (rows.net_load_kw <= 0.65 * CAPACITY_KW + 1e-3).all() and (rows.shortfall_kw <= 1e-6).all()
    assert json.loads((out / "kpis.json").read_text())["valid"] is True   # the plan-validity check
    load = pd.read_csv(out / "transformer_load.csv")
    load["slot_start"] = pd.to_datetime(load.slot_start, utc=True)
    window = load[(load.slot_start >= start) & (load.slot_start < end)]
    assert len(window) == 2 * 8  # both transformers in every slot of the event
    assert window.groupby("slot_start").net_load_kw.sum().max() <= 0.65 * CAPACITY_KW + 1e-3


def test_ven_drops_a_cancelled_event(vtn, live_day, tmp_path):
    scenario_dir, start, end = live_day
    vtn.add_event("ven-zezhou", "SIMPLE", "level", 2, "S-1", start, end)
    out = tmp_path / "plan"
    session = VenSession(load_scenario(scenario_dir), out, parquet=False)
    seen = []

    def decided(event, opt, reason):
        seen.append((event["event_descriptor"]["event_status"], opt))
        if len(seen) == 1:  # taken: now the VTN calls it off
            assert pd.read_csv(out / "events.csv").event_id.tolist() == ["S-1"]
            assert json.loads((out / "kpis.json").read_text())["valid"] is True
            vtn.cancel_event("ven-zezhou", "S-1")

    decisions = asyncio.run(run_ven(session, vtn.url, "zezhou", max_events=2, timeout_s=60, on_decision=decided))
    assert decisions == 2 and seen == [("far", "optIn"), ("cancelled", "optIn")]
    assert session.taken == {} and not (out / "events.csv").exists()  # re-planned without it
    log = pd.read_csv(out / "openadr_events.csv")
    assert log.status.tolist() == ["far", "cancelled"] and "removed from the plan" in log.reason.iat[1]


def test_ven_without_vtn_fails_cleanly(scenario_dir, tmp_path):
    url = f"http://127.0.0.1:{_free_port()}/OpenADR2/Simple/2.0b"  # nothing listens there
    res = runner.invoke(app, ["ven", "--vtn-url", url, "--ven-name", "zezhou", "--scenario", str(scenario_dir),
                              "--out", str(tmp_path / "plan"), "--timeout", "5"])
    assert res.exit_code == 2, res.output + res.stderr
    assert "did not register" in res.stderr and url in res.stderr
    assert not (tmp_path / "plan").exists()


# --- stored messages -------------------------------------------------------------------------

def test_import_stored_message(scenario_dir, tmp_path):
    out = tmp_path / "with-events"
    res = runner.invoke(app, ["import-openadr", str(STORED), "--scenario", str(scenario_dir), "--out", str(out)])
    assert res.exit_code == 0, res.output + res.stderr
    events = {e["event_id"]: e for e in yaml.safe_load((out / "scenario.yaml").read_text())["dr_events"]}
    assert set(events) == {"PEAK-1.0", "PEAK-1.1", "CAP-1"}
    assert events["PEAK-1.1"]["start"] == "2026-11-27T19:00:00+08:00"  # intervals follow one another
    assert events["PEAK-1.0"]["scope"] == ["T1"] and events["CAP-1"]["scope"] == "all"
    # the same conversion as the live VEN: read the stored events with openleadr's parser, convert
    sc = load_scenario(scenario_dir)
    cap = convert_event(read_distribute_event(STORED)[1], sc).events[0]
    assert events["CAP-1"]["target_kw"] == pytest.approx(cap.target_kw)
    plan = runner.invoke(app, ["plan", str(out), "--out", str(tmp_path / "plan"), "--no-report", "--no-parquet"])
    assert plan.exit_code == 0, plan.output + plan.stderr
    assert set(pd.read_csv(tmp_path / "plan" / "events.csv").event_id) == set(events)
    assert json.loads((tmp_path / "plan" / "kpis.json").read_text())["valid"] is True


@pytest.mark.parametrize("name, content, expected", [
    ("openadr_malformed.xml", None, "malformed XML"),
    ("other.xml", "<?xml version='1.0'?><root/>", "not an OpenADR 2.0b message"),
    ("missing.xml", False, "cannot read the file"),
])
def test_import_bad_message(scenario_dir, tmp_path, name, content, expected):
    path = MALFORMED if content is None else tmp_path / name
    if content:
        path.write_text(content)
    out = tmp_path / "new"
    res = runner.invoke(app, ["import-openadr", str(path), "--scenario", str(scenario_dir), "--out", str(out)])
    assert res.exit_code == 1, res.output + res.stderr
    assert str(path) in res.stderr and expected in res.stderr
    assert not out.exists() and not list(tmp_path.glob(".new.*"))  # nothing half-written


def test_import_refuses_unknown_target_and_existing_folder(scenario_dir, tmp_path):
    text = STORED.read_text().replace("<ei:resourceID>T1</ei:resourceID>", "<ei:resourceID>T9</ei:resourceID>")
    bad = tmp_path / "t9.xml"
    bad.write_text(text)
    res = runner.invoke(app, ["import-openadr", str(bad), "--scenario", str(scenario_dir), "--out", str(tmp_path / "x")])
    assert res.exit_code == 1 and "event PEAK-1: target resource_id T9" in res.stderr
    res = runner.invoke(app, ["import-openadr", str(STORED), "--scenario", str(scenario_dir), "--out", str(scenario_dir)])
    assert res.exit_code == 2 and "input folder" in res.stderr  # never the scenario it reads
