"""The OCPP 2.0.1 CSMS: ``ws://HOST:PORT/ocpp/{charging_station_id}`` on the API's own port.

A FastAPI websocket route accepts the ``ocpp2.0.1`` subprotocol after checking the station's HTTP
Basic credentials (OCPP 2.0.1 security profile 1: user = the station id, a per-station password,
hashed at rest) and hands an adapter with ``recv``/``send`` to an ``ocpp.v201.ChargePoint`` (the
``ocpp`` package's handlers and schema validation). One port for REST and OCPP keeps deployment
to one process and one TLS terminator.

The CSMS sends ``SetChargingProfile`` (TxProfile from the current plan) to every connected station of a
scenario after each plan of it, to a station when it connects, and ``ClearChargingProfile`` when a
session ends; each is recorded (``profiles_sent``, audit) with the station's answer and what it replaced.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from fastapi import WebSocket, WebSocketDisconnect
from sqlalchemy.exc import InterfaceError, OperationalError
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from vpp_sched.service import csms_store
from vpp_sched.service.answer_times import AnswerTimes, call_action
from vpp_sched.service.auth import Verifier, verify_secret
from vpp_sched.service.csms_ended import EndedSessions
from vpp_sched.service.db import Station
from vpp_sched.service.group_writer import LATER, NOW, GroupWriter
from vpp_sched.service.loop_lag import GcPauses, LoopLag
from vpp_sched.service.ocpp_schema import check_call, check_compiled
from vpp_sched.service.profiles import Outgoing, PlanProfiles, scenario_profiles, station_profiles

log = logging.getLogger("vpp_sched.service.csms")
SUBPROTOCOL = "ocpp2.0.1"
HEARTBEAT_S = 300
#: A message whose database write fails for want of a database is retried this often, this far apart.
DB_RETRIES, DB_RETRY_S = 60, 0.5
#: SetChargingProfile calls in flight at once after a re-plan [-]: enough to keep the stations busy, few
#: enough that a station's MeterValues is never queued behind hundreds of sends on the event loop.
PUSHES_IN_FLIGHT = 32
#: Stations' ``last_seen_at`` is written this often, for all heard from meanwhile in one update [s].
SEEN_EVERY_S = 5.0


class _Connection:
    """The ``recv``/``send`` interface ``ocpp`` expects, over a Starlette websocket."""

    def __init__(self, ws: WebSocket):
        self.ws = ws

    async def recv(self) -> str:
        return await self.ws.receive_text()

    async def send(self, message: str) -> None:
        await self.ws.send_text(message)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")


class StationPoint(ChargePoint):
    """One connected station; each handler stores its message (committed) before answering."""

    def __init__(self, station_id: str, ws: WebSocket, csms: "Csms"):
        super().__init__(station_id, _Connection(ws), response_timeout=csms.settings.ocpp_response_timeout_s)
        self.csms = csms

    async def _db(self, fn, *args):
        return await self.csms.db_retrying(fn, self.id, *args)

    async def _handle_call(self, msg):
        """The package's handling of a station's call, its schema check done here compiled and inline
        (:func:`~vpp_sched.service.ocpp_schema.check_call`) instead of by ``jsonschema`` on a pool thread:
        every handler is registered with ``skip_schema_validation``, which only skips the package's check.
        A call that breaks its schema is answered with the package's CallError, as before."""
        handlers = self.route_map.get(msg.action)
        if handlers is not None and handlers.get("_skip_schema_validation", False):
            check_call(msg.action, msg.payload)
        return await super()._handle_call(msg)

    @classmethod
    def compile_schemas(cls) -> None:
        """Compile the request schemas of every action handled, before the first station connects: a
        schema is compiled at its first use, ~20-100 ms on the event loop where :meth:`_handle_call`
        checks it (at the start of a connect burst every station waited for it)."""
        for handler in vars(cls).values():
            if hasattr(handler, "_on_action"):
                check_compiled(str(handler._on_action))

    async def route_message(self, raw_msg):
        t0 = time.perf_counter()
        await super().route_message(raw_msg)
        action = call_action(raw_msg)
        if action is not None:    # a station's call answered (not an answer to one of ours)
            self.csms.answer_times.record(action, time.perf_counter() - t0)

    @on(Action.boot_notification, skip_schema_validation=True)
    async def on_boot(self, charging_station, reason, **kwargs):
        self.csms.heard(self.id)
        await self._db(csms_store.boot, {"charging_station": charging_station, "reason": reason})
        return call_result.BootNotification(current_time=_now(), interval=HEARTBEAT_S, status="Accepted")

    @on(Action.heartbeat, skip_schema_validation=True)
    async def on_heartbeat(self, **kwargs):
        self.csms.heard(self.id)
        return call_result.Heartbeat(current_time=_now())

    @on(Action.status_notification, skip_schema_validation=True)
    async def on_status(self, timestamp, connector_status, evse_id, connector_id, **kwargs):
        self.csms.heard(self.id)
        statuses = self.csms.status_of.setdefault(self.id, {})   # one connection's messages come in turn
        statuses[str(evse_id)] = connector_status
        await self._db(csms_store.status, dict(statuses))
        return call_result.StatusNotification()

    @on(Action.meter_values, skip_schema_validation=True)
    async def on_meter_values(self, evse_id, meter_value, **kwargs):
        self.csms.heard(self.id)
        await self._db(csms_store.meter_values, meter_value, self.csms.scenario_of[self.id])
        return call_result.MeterValues()

    @on(Action.transaction_event, skip_schema_validation=True)
    async def on_transaction_event(self, event_type, timestamp, trigger_reason, seq_no, transaction_info,
                                   meter_value=None, evse=None, **kwargs):
        job, ended = await self._db(csms_store.transaction_event, event_type, timestamp, transaction_info,
                                    meter_value, evse)
        if job is not None:
            self.csms.wake_jobs()
        if ended is not None:
            self.csms.spawn(self.csms.clear(ended))
        # OCPP 2.0.1 wants idTokenInfo in the answer when the request carried an idToken. This CSMS plans, it
        # does not authorize: the token is Accepted, also for a transaction outside the horizon (not planned,
        # csms_store.transaction_event): the station charges at its own limit instead of refusing the driver.
        return call_result.TransactionEvent(id_token_info={"status": "Accepted"} if kwargs.get("id_token") else None)

    @on(Action.notify_ev_charging_needs, skip_schema_validation=True)
    async def on_charging_needs(self, charging_needs, evse_id, **kwargs):
        if await self._db(csms_store.charging_needs, evse_id, charging_needs) is not None:
            self.csms.wake_jobs()
        return call_result.NotifyEVChargingNeeds(status="Accepted")


class Csms:
    """The connected stations and the messages the service sends them."""

    def __init__(self, sessions, settings, verifier: Verifier, wake_jobs):
        self.sessions, self.settings, self.verifier, self.wake_jobs = sessions, settings, verifier, wake_jobs
        self.points: dict[str, StationPoint] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task] = set()
        self.writer = GroupWriter(sessions)
        self.plans = PlanProfiles()
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiting: set[str] = set()
        # Sessions whose end was heard: a push read before the end (its profiles in hand while it waits
        # for the station's lock) must not send a profile after the ClearChargingProfile (csms_ended.py).
        self._ended = EndedSessions()
        self._pushes: dict[int, int] = {}                 # scenario id -> pushes asked for
        self._scenario_locks: dict[int, asyncio.Lock] = {}
        self._in_flight = asyncio.Semaphore(PUSHES_IN_FLIGHT)
        # Own threads for our reads and the password checks: the loop's default pool runs the ``ocpp``
        # package's schema checks of every incoming message, which must never wait behind 500 reads.
        self._reads = ThreadPoolExecutor(1, thread_name_prefix="vpp-sched-reads")
        self._auth = ThreadPoolExecutor(2, thread_name_prefix="vpp-sched-auth")
        self.scenario_of: dict[str, int] = {}             # connected station -> its scenario (set at connect)
        self.status_of: dict[str, dict[str, str]] = {}    # connected station -> evse id -> connector status
        self._seen: dict[str, dt.datetime] = {}           # heard from since the last touch
        self._touching: asyncio.Task | None = None
        self.answer_times = AnswerTimes()
        self.loop_lag, self.gc_pauses = LoopLag(), GcPauses()
        self._lagging: asyncio.Task | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the app's loop, at its start: the loop's lag is measured from then on."""
        self.loop = loop
        self._lagging = loop.create_task(self.loop_lag.run())
        self.gc_pauses.install()

    def heard(self, station_id: str) -> None:
        self._seen[station_id] = dt.datetime.now(dt.timezone.utc)

    async def touch(self) -> None:
        """Write the stations' ``last_seen_at`` heard since the last touch (one bulk update)."""
        seen, self._seen = self._seen, {}
        if seen:
            await self.db_retrying(csms_store.touch, seen, priority=LATER)

    async def _touch_every(self) -> None:
        while True:
            await asyncio.sleep(SEEN_EVERY_S)
            await self.touch()

    def close(self) -> None:
        for task in (self._touching, self._lagging):
            if task is not None:
                task.cancel()
        self.gc_pauses.uninstall()
        self.writer.stop()
        self._reads.shutdown(wait=False, cancel_futures=True)
        self._auth.shutdown(wait=False, cancel_futures=True)

    async def db_retrying(self, fn, *args, priority: int = NOW):
        """``fn(db, *args)`` in the writer's next group commit, retried while the database is unreachable (a restart):
        the station's message is answered late rather than lost or the connection dropped."""
        for attempt in range(DB_RETRIES):
            try:
                return await self.writer.run(fn, *args, priority=priority)
            except (OperationalError, InterfaceError):
                if attempt == DB_RETRIES - 1:
                    raise
                log.warning("database unreachable; retrying %s in %.1f s", fn.__name__, DB_RETRY_S)
                await asyncio.sleep(DB_RETRY_S)

    async def db_reading(self, fn, *args):
        """``fn(db, *args)`` in a worker thread with its own session, retried as :meth:`db_retrying` is. Reads
        (a station's profiles) stay off the writer's thread, so a push to 500 stations after a re-plan never
        holds up the commits that answer their messages (SQLite in WAL mode reads beside a writer)."""
        def read():
            with self.sessions() as db:
                return fn(db, *args)

        loop = asyncio.get_running_loop()
        for attempt in range(DB_RETRIES):
            try:
                return await loop.run_in_executor(self._reads, read)
            except (OperationalError, InterfaceError):
                if attempt == DB_RETRIES - 1:
                    raise
                log.warning("database unreachable; retrying %s in %.1f s", fn.__name__, DB_RETRY_S)
                await asyncio.sleep(DB_RETRY_S)

    def spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- called from other threads (the job worker, the API's sync routes) --
    def plan_ready(self, scenario_id: int, plan_id: int) -> None:
        if self.loop is not None:
            asyncio.run_coroutine_threadsafe(self.push_scenario(scenario_id), self.loop)

    def session_ended(self, session_pk: int) -> None:
        if self.loop is not None:
            asyncio.run_coroutine_threadsafe(self.clear(session_pk), self.loop)

    # -- on the event loop --
    async def handle(self, ws: WebSocket, station_id: str) -> None:
        self.loop = asyncio.get_running_loop()
        if SUBPROTOCOL not in ws.scope.get("subprotocols", []):
            await ws.close(code=1002, reason=f"subprotocol {SUBPROTOCOL} required")
            return
        header = ws.headers.get("authorization", "")
        known = await self.loop.run_in_executor(self._auth, self._authenticated, station_id, header)
        if known is None:
            await ws.close(code=1008, reason="unknown station or wrong password")
            return
        await ws.accept(subprotocol=SUBPROTOCOL)
        point = StationPoint(station_id, ws, self)
        old = self.points.get(station_id)
        self.points[station_id] = point
        if old is not None:
            await old._connection.ws.close(code=1000)
        self.scenario_of[station_id], self.status_of[station_id] = known
        self.heard(station_id)
        await self.db_retrying(csms_store.set_connected, station_id, True)
        if self._touching is None:
            self._touching = asyncio.ensure_future(self._touch_every())
        self.spawn(self.push_station(station_id, resend=True))   # a station that reconnects gets its profiles again
        try:
            await point.start()
        except WebSocketDisconnect:
            pass
        finally:
            if self.points.get(station_id) is point:
                del self.points[station_id]
                self.heard(station_id)
                await self.db_retrying(csms_store.set_connected, station_id, False)

    def _authenticated(self, station_id: str, header: str) -> tuple[int, dict[str, str]] | None:
        """HTTP Basic: user = station id, its password checked against the stored hash. The station's
        scenario and connector statuses if it may connect (read here, so no write of the connection
        needs to read its row), else ``None``."""
        try:
            kind, _, b64 = header.partition(" ")
            user, _, password = base64.b64decode(b64, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        if kind.lower() != "basic" or user != station_id:
            return None
        with self.sessions() as db:
            station = db.get(Station, station_id)
            if station is None:
                return None
            ok = self.verifier.remembered(header) == station_id or verify_secret(password, station.password_hash)
            known = (station.scenario_id, dict(station.status or {}))
        if not ok:
            return None
        self.verifier.remember(header, station_id)
        return known

    async def push_scenario(self, scenario_id: int) -> None:
        """Send every connected station of the scenario its profiles from the current plan, read for all
        of them at once. Pushes of one scenario run one after the other, and one still waiting to start
        stands for any asked for meanwhile (it reads the newest plan)."""
        asked = self._pushes[scenario_id] = self._pushes.get(scenario_id, 0) + 1
        async with self._scenario_locks.setdefault(scenario_id, asyncio.Lock()):
            if asked != self._pushes[scenario_id]:
                return
            with self._ended.reading():
                batch = await self.db_reading(scenario_profiles, scenario_id, set(self.points), self.plans)
                await asyncio.gather(*(self._send_station(s, outs) for s, outs in batch.items()))

    async def push_station(self, station_id: str, resend: bool = False) -> None:
        """Send one station its profiles from the plan current when the send starts (a station that
        connects). Sends to one station run one after the other (an older plan's send never lands after
        a newer one's), and a push still waiting to start stands for any asked for meanwhile."""
        if station_id in self._waiting and not resend:
            return
        self._waiting.add(station_id)
        async with self._station_lock(station_id):
            self._waiting.discard(station_id)
            with self._ended.reading():
                outs = await self.db_reading(station_profiles, station_id, resend, self.plans)
                await self._send(station_id, outs)

    async def _send_station(self, station_id: str, outs: list[Outgoing]) -> None:
        async with self._station_lock(station_id):
            await self._send(station_id, outs)

    def _station_lock(self, station_id: str) -> asyncio.Lock:
        return self._locks.setdefault(station_id, asyncio.Lock())

    async def _send(self, station_id: str, outs: list[Outgoing]) -> None:
        """SetChargingProfile for each; the profiles were checked against the schema when their plan was
        parsed (:func:`~vpp_sched.service.profiles.PlanProfiles.get`), so the call skips the per-send check."""
        for out in outs:
            point = self.points.get(station_id)
            if point is None:
                return
            if out.session_pk in self._ended:
                continue
            request = call.SetChargingProfile(evse_id=out.evse_id, charging_profile=out.charging_profile)
            async with self._in_flight:
                answer = await self._call(point, request, skip_schema_validation=True)
            await self.db_retrying(csms_store.record_sent, station_id, out.session_pk, out.plan_id,
                                    "SetChargingProfile", {"evseId": out.evse_id, "chargingProfile": out.charging_profile},
                                    answer, priority=LATER)

    async def clear(self, session_pk: int) -> None:
        self._ended.add(session_pk)      # before any await: a send that starts after this skips it
        station_id, evse_id = await self.db_retrying(csms_store.session_station, session_pk)
        if station_id is None or station_id not in self.points:
            return
        async with self._station_lock(station_id):
            point = self.points.get(station_id)
            if point is None:
                return
            answer = await self._call(point, call.ClearChargingProfile(charging_profile_id=session_pk))
            await self.db_retrying(csms_store.record_sent, station_id, session_pk, None,
                                    "ClearChargingProfile", {"chargingProfileId": session_pk}, answer, priority=LATER)

    async def _call(self, point: StationPoint, request, skip_schema_validation: bool = False) -> str:
        try:
            result = await point.call(request, skip_schema_validation=skip_schema_validation)
        except asyncio.TimeoutError:
            return "timeout"
        except Exception as exc:  # noqa: BLE001 - a station gone mid-call; recorded, never raised to the caller
            return f"error: {type(exc).__name__}"
        return "CallError" if result is None else str(result.status)

