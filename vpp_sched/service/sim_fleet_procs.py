"""The simulated fleet spread over several processes, so the stations' own Python work is not one loop.

500 stations in one process share one event loop: after a re-plan the CSMS sends each its profile,
and a station's MeterValues answer waits behind the others' profiles being read there, a wait the
station's time holds though neither the server nor a real station (a CPU of its own) has it. Here
each of ``processes`` children (``python -m vpp_sched.service.sim_fleet_procs``) runs every
``processes``-th station with :func:`~vpp_sched.service.sim_fleet.run_fleet`, with the same seeded
starts and phases as one process would give them. The parent talks to them by JSON lines on their
stdin and stdout: the probe's questions (have all started? do they hold this plan's profiles?), and
at the end each child's measures, merged into one :class:`~vpp_sched.service.sim_fleet.FleetResult`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace

from vpp_sched.service.loop_lag import GcPauses, freeze_startup
from vpp_sched.service.sim_fleet import CONNECT_AT_ONCE, FleetResult, LocalStations, ReplanProbe, run_fleet, station_times

#: A child's first line can be long (its stations' passwords); its answers too (every call's time).
_LINE_LIMIT = 1 << 28


class ProcessFleet:
    """The children's stations as :func:`~vpp_sched.service.sim_fleet.replan_probe` asks about them."""

    def __init__(self, children: list, ids_of: list[list[str]]):
        self.children, self.ids_of = children, ids_of
        self._lock = asyncio.Lock()   # one question at a time on each child's pipe

    async def _ask_all(self, questions: list[dict]) -> list[dict]:
        async with self._lock:
            return await asyncio.gather(*(_ask(c, q) for c, q in zip(self.children, questions)))

    async def all_started(self) -> None:
        await self._ask_all([{"cmd": "started"}] * len(self.children))

    async def held(self, finished: float, planned: dict[str, list[float]], wait_s: float) -> ReplanProbe:
        child_of = {sid: k for k, ids in enumerate(self.ids_of) for sid in ids}
        theirs: list[dict] = [{} for _ in self.children]
        for key, limits in planned.items():   # "{station id}.{transaction id}"
            if (k := child_of.get(key.split(".", 1)[0])) is not None:
                theirs[k][key] = limits
        qs = [{"cmd": "held", "finished": finished, "wait_s": wait_s, "planned": mine} for mine in theirs]
        out = ReplanProbe()
        for got in await self._ask_all(qs):
            out.delays_s += got["delays_s"]
            out.missing += got["missing"]
            out.mismatched += got["mismatched"]
        return out


async def _ask(child, question: dict) -> dict:
    child.stdin.write((json.dumps(question) + "\n").encode())
    await child.stdin.drain()
    line = await child.stdout.readline()
    if not line:
        raise RuntimeError(f"a station process (pid {child.pid}) exited before answering {question['cmd']!r}: "
                           "its error is on stderr above")
    return json.loads(line)


async def run_fleet_processes(ws_url: str, station_ids: list[str], password: str | dict[str, str], start: dt.datetime,
                              duration_s: float, meter_every_s: float, ramp_s: float, processes: int,
                              probe: Callable[[ProcessFleet], Awaitable] | None = None, seed: int = 0,
                              validate: bool = False) -> FleetResult:
    """As :func:`~vpp_sched.service.sim_fleet.run_fleet`, the stations in ``processes`` children. The result's
    ``loop_lag`` and ``cpu_s`` are each child's (``per_process``) and the worst p99 / the sum."""
    tx_at_s, phase_s = station_times(len(station_ids), ramp_s, meter_every_s, seed)
    here = str(Path(__file__).resolve().parents[2])   # the checkout (or site-packages) holding vpp_sched
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
    children, ids_of = [], []
    for k in range(processes):
        ids = station_ids[k::processes]
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "vpp_sched.service.sim_fleet_procs", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, env=env, limit=_LINE_LIMIT)
        child.stdin.write((json.dumps({
            "ws_url": ws_url, "ids": ids, "start": start.isoformat(), "duration_s": duration_s,
            "meter_every_s": meter_every_s, "ramp_s": ramp_s, "validate": validate,
            "passwords": password if isinstance(password, str) else {i: password[i] for i in ids},
            "tx_at_s": tx_at_s[k::processes].tolist(), "phase_s": phase_s[k::processes].tolist(),
            "connect_at_once": max(CONNECT_AT_ONCE // processes, 1)}) + "\n").encode())
        children.append(child)
        ids_of.append(ids)
    fleet = ProcessFleet(children, ids_of)
    try:
        await asyncio.sleep(ramp_s)
        if probe is not None:
            await probe(fleet)
        results = await fleet._ask_all([{"cmd": "done"}] * processes)
    finally:
        for child in children:
            if child.returncode is None:
                child.stdin.close()
            await child.wait()
    return _merged(results)


def _merged(results: list[dict]) -> FleetResult:
    out = FleetResult(stations=[SimpleNamespace(latencies_s=r["latencies_s"], actions=r["actions"], sent_at=r["sent_at"])
                                for r in results])
    out.meter_sent = sum(r["meter_sent"] for r in results)
    out.failed = [f for r in results for f in r["failed"]]
    out.seconds = max(r["seconds"] for r in results)
    out.cpu_s = sum(r["cpu_s"] for r in results)
    out.rejected = sum(r["rejected"] for r in results)
    lags = [r["loop_lag"] for r in results]
    out.loop_lag = {"p99_ms": max((g.get("p99_ms", 0.0) for g in lags), default=None),
                    "max_ms": max((g.get("max_ms", 0.0) for g in lags), default=None),
                    "per_process": [{**g, "cpu_s": round(r["cpu_s"], 1), "stations": len(r["ids"])}
                                    for g, r in zip(lags, results)]}
    return out


async def _child() -> None:
    """One child: its stations from the first line of stdin; then answers the parent's questions."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    cfg = json.loads(await reader.readline())
    done = loop.create_future()
    freeze_startup()   # the imports' objects out of the collector's walks, as the server does
    pauses = GcPauses()
    pauses.install()

    def answer(obj: dict) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    async def serve(stations) -> None:
        local = LocalStations(stations)
        while line := await reader.readline():
            q = json.loads(line)
            if q["cmd"] == "started":
                await local.all_started()
                answer({})
            elif q["cmd"] == "held":
                got = await local.held(q["finished"], q["planned"], q["wait_s"])
                answer({"delays_s": got.delays_s, "missing": got.missing, "mismatched": got.mismatched})
            else:   # done: the answer is the run's measures, once every station has finished
                break
        done.set_result(None)   # also when the parent has gone (its end of the pipe closed)

    result = await run_fleet(cfg["ws_url"], cfg["ids"], cfg["passwords"], dt.datetime.fromisoformat(cfg["start"]),
                             cfg["duration_s"], cfg["meter_every_s"], cfg["ramp_s"], serve, validate=cfg["validate"],
                             times=(cfg["tx_at_s"], cfg["phase_s"]), connect_at_once=cfg["connect_at_once"])
    await done
    answer({"ids": cfg["ids"], "latencies_s": result.latencies_s.tolist(), "actions": result.actions.tolist(),
            "sent_at": result.sent_at.tolist(), "meter_sent": result.meter_sent, "failed": result.failed,
            "seconds": result.seconds, "cpu_s": result.cpu_s, "rejected": result.rejected,
            "loop_lag": {**result.loop_lag, "gc_pauses": pauses.summary()}})


if __name__ == "__main__":
    asyncio.run(_child())
