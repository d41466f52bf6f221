"""A fleet of simulated stations against a running service: the load test's driver and its measures.

Each station connects (HTTP Basic), boots, starts one transaction at a moment drawn at random
(seeded) within ``ramp_s`` (each start queues a re-plan; bursts join one), then sends MeterValues
every ``meter_every_s`` on its own clock, at a random phase, until ``duration_s`` has passed.
``probe`` (optional) runs meanwhile, after the ramp, e.g. to ask for a re-plan and time how fast every
station holds the new profile. Measured: every call's response time at the station (handed to the
``ocpp`` client to its answer received) and when it was sent, every call that failed (a lost
message), the profiles received, and the fleet's own event-loop lag and CPU (the stations' times
hold them too).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import zipfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from vpp_sched.service.loop_lag import LoopLag
from vpp_sched.service.sim_station import Clock, SimStation, connect

#: Stations opening their websocket at the same moment (a real fleet reconnects spread out too).
CONNECT_AT_ONCE = 50


def folder_zip(folder) -> bytes:
    """A scenario folder's files (its top level) as the zip ``POST /scenarios`` takes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.iterdir()):
            if p.is_file():
                z.write(p, p.name)
    return buf.getvalue()


@dataclass
class FleetResult:
    stations: list[SimStation]
    meter_sent: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: The fleet's own event loop: how late a 10 ms ticker woke (``LoopLag.summary``). A station's call
    #: is timed on this loop, so a lag here is in every station's time and not in the server's.
    loop_lag: dict = field(default_factory=dict)
    cpu_s: float = 0.0                  # CPU of the fleet's process during the run (user + system) [s]
    rejected: int = 0                   # profiles received that broke the schema

    @property
    def latencies_s(self) -> np.ndarray:
        return np.concatenate([np.asarray(s.latencies_s) for s in self.stations]) if self.stations else np.zeros(0)

    @property
    def sent_at(self) -> np.ndarray:
        """When each call of :attr:`latencies_s` was sent (epoch s)."""
        return np.concatenate([np.asarray(s.sent_at) for s in self.stations]) if self.stations else np.zeros(0)

    @property
    def actions(self) -> np.ndarray:
        return np.concatenate([np.asarray(s.actions) for s in self.stations]) if self.stations else np.zeros(0)

    def by_action_ms(self, q: float) -> dict[str, float]:
        """The ``q`` percentile of the response time per action [ms]."""
        acts, lat = self.actions, self.latencies_s
        return {a: float(np.percentile(lat[acts == a], q) * 1000.0) for a in sorted(set(acts.tolist()))}

    def percentile_ms(self, q: float) -> float:
        lat = self.latencies_s
        return float(np.percentile(lat, q) * 1000.0) if len(lat) else float("nan")


def station_times(n: int, ramp_s: float, meter_every_s: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each station's transaction start after the fleet's start, spread at random over ``ramp_s``, and
    the phase of its MeterValues after that start, at random within one period [s]. Real stations are
    not in step; seeded, so every run sends the same pattern."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, ramp_s, n), rng.uniform(0.0, meter_every_s, n)


async def run_fleet(ws_url: str, station_ids: list[str], password: str | dict[str, str], start: dt.datetime, duration_s: float,
                    meter_every_s: float, ramp_s: float, probe: Callable[[list[SimStation]], Awaitable] | None = None,
                    power_w: float = 7000.0, seed: int = 0, validate: bool = False,
                    times: tuple | None = None, connect_at_once: int = CONNECT_AT_ONCE) -> FleetResult:
    """``password``: one for all stations, or each station's (station id -> password). ``validate``: the
    ``ocpp`` package checks our calls and the CSMS's answers (see :class:`SimStation`); without it the
    profiles received are checked after the run (``FleetResult.rejected``). ``times``: each station's
    transaction start and MeterValues phase [s] (:func:`station_times` of ``seed`` unless given)."""
    result = FleetResult(stations=[])
    gate = asyncio.Semaphore(connect_at_once)
    t0 = time.monotonic()
    end = t0 + duration_s
    conns = []
    tx_at_s, phase_s = times if times is not None else station_times(len(station_ids), ramp_s, meter_every_s, seed)

    async def one(i: int, sid: str) -> None:
        station = None
        try:
            async with gate:
                station, ws, task = await connect(ws_url, sid, password if isinstance(password, str) else password[sid],
                                                  Clock(start), validate)
            conns.append((ws, task))
            result.stations.append(station)
            await station.boot()
            await asyncio.sleep(max(t0 + tx_at_s[i] - time.monotonic(), 0.0))
            await station.transaction(f"{sid}-TX", "Started", "CablePluggedIn")
            # on the station's own clock: a late answer does not shift its later samples
            due = time.monotonic() + phase_s[i]
            while due < end:
                await asyncio.sleep(max(due - time.monotonic(), 0.0))
                await station.meter(power_w, meter_every_s)
                result.meter_sent += 1
                due += meter_every_s
        except Exception as exc:  # noqa: BLE001 - counted as a lost message, the fleet goes on
            result.failed.append(f"{sid}: {type(exc).__name__}: {exc}")
            if station is not None:
                station.alive = False

    async def probing() -> None:
        await asyncio.sleep(ramp_s)
        if probe is not None:
            await probe(result.stations)

    lag, cpu0 = LoopLag(), time.process_time()
    ticking = asyncio.ensure_future(lag.run())
    since = dt.datetime.now(dt.timezone.utc)
    await asyncio.gather(*(one(i, s) for i, s in enumerate(station_ids)), probing())
    result.cpu_s, result.loop_lag = time.process_time() - cpu0, lag.summary(since)
    ticking.cancel()
    for ws, task in conns:
        task.cancel()
        await ws.close()
    result.seconds = time.monotonic() - t0
    result.rejected = sum(s.check_received() for s in result.stations)
    return result


@dataclass
class ReplanProbe:
    """How fast a re-plan reached the fleet: per station, seconds from the plan's end to its new profile."""

    plan_id: int | None = None
    delays_s: list[float] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)       # stations without the latest plan's profile
    mismatched: list[str] = field(default_factory=list)    # stations whose profile differs from the plan's


async def settle(http, headers: dict, scenario_id: int, timeout_s: float = 600.0) -> None:
    """Wait until no plan job of the scenario is queued or running (a re-plan on a busy machine takes minutes)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        jobs = (await http.get("/plans", params={"scenario_id": scenario_id}, headers=headers)).json()
        if not any(j["status"] in ("queued", "running") for j in jobs):
            return
        await asyncio.sleep(0.5)   # a client waiting on jobs polls, it does not hammer
    raise TimeoutError("plan jobs still running")


async def replan_probe(http, headers: dict, scenario_id: int, as_of: dt.datetime, stations,
                       wait_s: float = 10.0) -> ReplanProbe:
    """Ask for a re-plan, then check each station's latest profile against the plan's, and when it came.
    ``stations``: the fleet's stations, or anything with :class:`LocalStations`'s two methods (the
    stations of several processes)."""
    fleet = stations if hasattr(stations, "held") else LocalStations(stations)
    await fleet.all_started()   # every arrival's re-plan asked for first
    await settle(http, headers, scenario_id)
    job = (await http.post("/plans", json={"scenario_id": scenario_id, "as_of": as_of.isoformat()}, headers=headers)).json()
    plan_id = job["id"]
    while (job := (await http.get(f"/plans/{plan_id}", headers=headers)).json())["status"] not in ("succeeded", "failed"):
        await asyncio.sleep(0.25)   # a client polling a job, not a busy loop
    if job["status"] != "succeeded":
        raise RuntimeError(f"re-plan {plan_id} failed: {job['reason']}")
    finished = dt.datetime.fromisoformat(job["finished_at"]).timestamp()
    planned = (await http.get(f"/plans/{plan_id}/ocpp", headers=headers)).json()["profiles"]
    out = await fleet.held(finished, {k: _limits(v["chargingProfile"]) for k, v in planned.items()}, wait_s)
    out.plan_id = plan_id
    return out


class LocalStations:
    """The stations of this process, as :func:`replan_probe` asks about them."""

    def __init__(self, stations: list[SimStation]):
        self.stations = stations

    async def all_started(self, timeout_s: float = 120.0) -> None:
        end = time.monotonic() + timeout_s
        while not all(s.started for s in self.stations if s.alive) and time.monotonic() < end:
            await asyncio.sleep(0.05)

    async def held(self, finished: float, planned: dict[str, list[float]], wait_s: float) -> ReplanProbe:
        """Wait up to ``wait_s`` for every station to hold its profile of the plan that ended at ``finished``
        (epoch s); ``planned``: the plan's limits by ``"{station id}.{transaction id}"``."""
        out = ReplanProbe()
        stations = [s for s in self.stations if s.alive and s.started]   # the failed ones count as lost messages
        want = {s.id: _planned_limits(planned, s) for s in stations}
        end = time.monotonic() + wait_s
        # a push of an older plan may still land after this plan ended: wait for this plan's own profile
        while time.monotonic() < end and not all(_latest_limits(s) == want[s.id] for s in stations):
            await asyncio.sleep(0.05)
        for s in stations:   # a profile the plan left unchanged is not sent again: it is held from before (delay 0)
            if want[s.id] is None or _latest_limits(s) != want[s.id]:
                (out.missing if _latest_time(s) < finished else out.mismatched).append(
                    f"{s.id}: got {(_latest_limits(s) or [])[:6]}, plan {(want[s.id] or [])[:6]}")
            else:
                out.delays_s.append(max(_latest_time(s) - finished, 0.0))
        return out


def _latest(s: SimStation) -> dict | None:
    return max(s.received.profiles.values(), key=lambda p: s.received.profile_times[p["id"]], default=None)


def _latest_limits(s: SimStation) -> list[float] | None:
    got = _latest(s)
    return None if got is None else [p["limit"] for p in got["charging_schedule"][0]["charging_schedule_period"]]


def _planned_limits(planned: dict[str, list[float]], s: SimStation) -> list[float] | None:
    got = _latest(s)
    return planned.get(f"{s.id}.{got['transaction_id']}") if got is not None else None


def _limits(charging_profile: dict) -> list[float]:
    """The limits of a profile as the CSMS sends it (camelCase)."""
    return [p["limit"] for p in charging_profile["chargingSchedule"][0]["chargingSchedulePeriod"]]


def _latest_time(s: SimStation) -> float:
    return max(s.received.profile_times.values(), default=0.0)
