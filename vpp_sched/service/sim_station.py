"""A simulated OCPP 2.0.1 charging station (the ``ocpp`` package as client), for tests, load tests and demos.

    python -m vpp_sched.service.sim_station --url ws://127.0.0.1:8080/ocpp --id CS1 --password <16+ chars> \\
        --start 2026-11-27T20:00:00+08:00 --meter-every 10 --duration 60

It boots, reports its connector, starts a transaction, sends MeterValues (and TransactionEvent
updates) every ``--meter-every`` seconds, ends the transaction after ``--duration`` seconds and
prints the charging profiles it received. Its clock for message timestamps starts at ``--start``
(the scenario's day) and runs ``--speed`` times as fast as the wall clock.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import time
from dataclasses import dataclass, field

from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from vpp_sched.service.ocpp_schema import SchemaError, check

SUBPROTOCOL = "ocpp2.0.1"


@dataclass
class Received:
    """What the station got from the CSMS: profiles by id (latest), clears, and when."""

    profiles: dict[int, dict] = field(default_factory=dict)
    profile_times: dict[int, float] = field(default_factory=dict)   # wall time (epoch s) of the latest profile
    cleared: list[int] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)               # every profile, in order
    rejected: list[dict] = field(default_factory=list)              # profiles that broke the schema
    unchecked: list[tuple[int, dict]] = field(default_factory=list)  # (evse id, profile) accepted, not yet checked


class SimStation(ChargePoint):
    def __init__(self, station_id: str, connection, clock: "Clock", validate: bool = True):
        super().__init__(station_id, connection, response_timeout=30)
        self.received, self.clock = Received(), clock
        #: ``False`` (a load test): no schema check of our calls and the CSMS's answers by the package, and a
        #: received profile's check waits for :meth:`check_received` (the CSMS checks every call and its
        #: plans' profiles itself; 500 simulated stations share the server's 2 cores, where a real station
        #: has a CPU of its own).
        self.validate = validate
        self.latencies_s: list[float] = []
        self.actions: list[str] = []        # the action of each entry of latencies_s
        self.sent_at: list[float] = []      # when each entry of latencies_s was sent (epoch s)
        self.energy_wh = 0.0
        self.seq = 0
        self.started = False                # a transaction's Started event has been answered
        self.alive = True                   # no call of it has failed

    # Checked against the schema compiled (ocpp_schema), not by the package's slower check: 500 simulated
    # stations share one process, where a real station has a CPU of its own.
    @on(Action.set_charging_profile, skip_schema_validation=True)
    async def on_set_profile(self, evse_id, charging_profile, **kwargs):
        if self.validate and not _valid_profile(evse_id, charging_profile):
            self.received.rejected.append(charging_profile)
            return call_result.SetChargingProfile(status="Rejected")
        if not self.validate:
            self.received.unchecked.append((evse_id, charging_profile))
        self.received.profiles[charging_profile["id"]] = charging_profile
        self.received.profile_times[charging_profile["id"]] = time.time()
        self.received.history.append(charging_profile)
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.clear_charging_profile)
    async def on_clear_profile(self, charging_profile_id=None, **kwargs):
        self.received.cleared.append(charging_profile_id)
        self.received.profiles.pop(charging_profile_id, None)
        return call_result.ClearChargingProfile(status="Accepted")

    def check_received(self) -> int:
        """Check the profiles accepted unchecked (``validate=False``) against the schema: a broken one
        moves to ``received.rejected``. Returns how many were broken."""
        broken = [p for evse_id, p in self.received.unchecked if not _valid_profile(evse_id, p)]
        self.received.rejected.extend(broken)
        self.received.unchecked.clear()
        return len(broken)

    async def timed(self, request):
        """The call, timed as the station sees it: from handing it to the client to its answer received."""
        self.sent_at.append(time.time())
        t0 = time.perf_counter()
        result = await self.call(request, suppress=False, skip_schema_validation=not self.validate)
        self.latencies_s.append(time.perf_counter() - t0)
        self.actions.append(type(request).__name__)
        return result

    async def boot(self):
        await self.timed(call.BootNotification(charging_station={"model": "sim", "vendor_name": "vpp-sched"},
                                               reason="PowerUp"))
        await self.timed(call.StatusNotification(timestamp=self.clock.text(), connector_status="Occupied",
                                                 evse_id=1, connector_id=1))

    async def transaction(self, tx_id: str, event_type: str, trigger: str):
        self.seq += 1
        await self.timed(call.TransactionEvent(
            event_type=event_type, timestamp=self.clock.text(), trigger_reason=trigger, seq_no=self.seq,
            transaction_info={"transaction_id": tx_id}, evse={"id": 1, "connector_id": 1},
            meter_value=[self._sample()] if event_type != "Started" else None))
        self.started = self.started or event_type == "Started"

    async def meter(self, power_w: float, seconds: float):
        self.energy_wh += power_w * seconds / 3600.0
        await self.timed(call.MeterValues(evse_id=1, meter_value=[self._sample(power_w)]))

    def _sample(self, power_w: float | None = None) -> dict:
        values = [{"value": round(self.energy_wh, 1), "measurand": "Energy.Active.Import.Register"}]
        if power_w is not None:
            values.append({"value": power_w, "measurand": "Power.Active.Import"})
        return {"timestamp": self.clock.text(), "sampled_value": values}


def _valid_profile(evse_id: int, charging_profile: dict) -> bool:
    try:
        check("SetChargingProfile", {"evseId": evse_id, "chargingProfile": snake_to_camel_case(charging_profile)})
    except SchemaError:
        return False
    return True


class Clock:
    """The station's clock: ``start`` plus the wall time elapsed x ``speed``."""

    def __init__(self, start: dt.datetime, speed: float = 1.0):
        self.start, self.speed, self.t0 = start, speed, time.monotonic()

    def now(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=(time.monotonic() - self.t0) * self.speed)

    def text(self) -> str:
        return self.now().astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def basic_auth(station_id: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{station_id}:{password}".encode()).decode()}


async def connect(url: str, station_id: str, password: str, clock: Clock, validate: bool = True):
    """Open the websocket and start the station's receive loop; returns ``(station, websocket, task)``."""
    from websockets.asyncio.client import connect as ws_connect

    ws = await ws_connect(f"{url.rstrip('/')}/{station_id}", subprotocols=[SUBPROTOCOL],
                          additional_headers=basic_auth(station_id, password), open_timeout=30)
    station = SimStation(station_id, ws, clock, validate)
    task = asyncio.create_task(station.start())
    return station, ws, task


async def run(url: str, station_id: str, password: str, start: dt.datetime, meter_every_s: float,
              duration_s: float, speed: float = 1.0, power_w: float = 7000.0) -> SimStation:
    """Boot, one transaction with meter values, end; returns the station with what it received."""
    station, ws, task = await connect(url, station_id, password, Clock(start, speed))
    try:
        await station.boot()
        tx = f"T{int(time.time() * 1000) % 10**9}"
        await station.transaction(tx, "Started", "CablePluggedIn")
        end = time.monotonic() + duration_s
        while time.monotonic() < end:
            await asyncio.sleep(min(meter_every_s, max(end - time.monotonic(), 0)))
            await station.meter(power_w, meter_every_s * speed)
        await station.transaction(tx, "Ended", "EVCommunicationLost")
        await asyncio.sleep(1.0)   # time for the ClearChargingProfile
    finally:
        task.cancel()
        await ws.close()
    return station


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="ws://127.0.0.1:8080/ocpp")
    p.add_argument("--id", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--start", required=True, help="the station clock's start, with offset (the scenario's day)")
    p.add_argument("--meter-every", type=float, default=10.0)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--speed", type=float, default=1.0)
    a = p.parse_args(argv)
    station = asyncio.run(run(a.url, a.id, a.password, dt.datetime.fromisoformat(a.start), a.meter_every,
                              a.duration, a.speed))
    print(json.dumps({"profiles_received": station.received.history,
                      "cleared": station.received.cleared, "messages": len(station.latencies_s),
                      "max_response_s": max(station.latencies_s)}, indent=2))


if __name__ == "__main__":
    main()
