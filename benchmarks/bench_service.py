"""Load benchmark of ``vpp-sched serve``: many simulated OCPP 2.0.1 stations against a real server.

    python benchmarks/bench_service.py                       # the target: 500 stations, 10 minutes
    python benchmarks/bench_service.py --stations 100 --minutes 2 --db postgresql+psycopg://u:pw@host/db

The server is ``vpp-sched serve`` in its own process (SQLite in a temporary folder unless ``--db``),
with the bundled Zezhou demo (20 transformers) and ``--stations`` stations spread over them. The
stations (the ``ocpp`` package as client, on 127.0.0.1, in ``--processes`` child processes) connect,
boot, start a transaction each at a seeded random moment of the first ``--ramp`` seconds (each start
queues a re-plan of the rest of the day; bursts join one) and send MeterValues every
``--meter-every`` seconds, each station at its own seeded random phase, to the end. Every
``--probe-every`` seconds a re-plan is asked for and each station's profile is checked against that
plan's, with the time it took to arrive. A station's time is its call handed to the ``ocpp`` client
to the answer received there; beside it the stations' processes report their own event-loop lag and
CPU (``stations_loop_lag_ms``), and both the stations' and the CSMS's times are split by when the call
was sent (``p99_ms_by_window``: just after a plan, while one ran, the rest).

Targets (issue 18): no message lost (every answered MeterValues stored; no call failed), p99 response
under 200 ms, every station holding the latest plan's profile within 5 s of it. Results: one JSON
document on stdout (and in ``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vpp_sched.scenario.load import default_scenario_path, load_scenario  # noqa: E402
from vpp_sched.service.answer_times import latency_stats  # noqa: E402
from vpp_sched.service.auth import create_token  # noqa: E402
from vpp_sched.service.db import MeterValue, make_engine, make_sessions, migrate  # noqa: E402
from vpp_sched.service.sim_fleet import folder_zip, replan_probe, run_fleet, settle  # noqa: E402
from vpp_sched.service.sim_fleet_procs import run_fleet_processes  # noqa: E402

TARGET_P99_MS, TARGET_PUSH_S = 200.0, 5.0
#: A plan's profiles reach all 500 stations within ~1-2 s: calls sent this long after a plan ended [s].
PUSH_WINDOW_S = 3.0
#: Processes the simulated stations run in (see ``--processes``).
PROCESSES = 2
#: The fleet's clock starts at 19:00 of the bundled day (its evening peak), read off the scenario's horizon.
START = pd.Timestamp(load_scenario().config.horizon.start).to_pydatetime() + dt.timedelta(hours=7)


def main() -> None:
    a = _args()
    with tempfile.TemporaryDirectory(prefix="vpp-sched-bench-") as tmp:
        url = a.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        token = _token(url)
        port = _free_port()
        server = subprocess.Popen([sys.executable, "-c", "from vpp_sched.cli import main; main()", "serve", "--db", url,
                                   "--port", str(port), "--log-level", "warning"],
                                  env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True)
        try:
            result = asyncio.run(_bench(a, f"127.0.0.1:{port}", token, server, url))
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(30)
    text = json.dumps(result, indent=2)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")


def _args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stations", type=int, default=500)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--meter-every", type=float, default=10.0, help="[s]")
    p.add_argument("--ramp", type=float, default=60.0, help="transactions start over this long [s]")
    p.add_argument("--probe-every", type=float, default=120.0, help="a re-plan is asked for this often [s]")
    p.add_argument("--db", help="database URL of the server (default: SQLite in a temporary folder)")
    p.add_argument("--processes", type=int, default=PROCESSES, help="processes the stations are spread over "
                   "(each every n-th station; 0: in this process, beside the probe's requests)")
    p.add_argument("--seed", type=int, default=0, help="of the stations' transaction starts and MeterValues phases")
    p.add_argument("--validate", action="store_true", help="the stations' ocpp client checks every call and answer "
                   "against the schema (the package's jsonschema check) and each profile as it arrives")
    p.add_argument("--out", help="also write the JSON results here")
    p.add_argument("--password", help="one chosen password for every station (16-40 characters; stored with "
                   "scrypt), instead of one generated by the server for each (the default; a fast salted hash)")
    return p.parse_args()


def _token(url: str) -> str:
    if url.startswith("postgresql"):
        from sqlalchemy import text

        with make_engine(url).begin() as conn:   # a fresh schema: the benchmark counts rows
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    engine = make_engine(url)
    migrate(engine)
    with make_sessions(engine)() as db:
        token = create_token(db, "admin", "bench")
    engine.dispose()
    return token


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _bench(a, host: str, token: str, server, url: str) -> dict:
    h = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"http://{host}", timeout=120) as http:
        await _up(http, server)
        sc = (await http.post("/scenarios", content=folder_zip(default_scenario_path()), headers={**h, "content-type": "application/zip"})).json()
        ids, passwords = [f"B{i:04d}" for i in range(a.stations)], {}
        for i, sid in enumerate(ids):
            trafo = sc["transformers"][i % len(sc["transformers"])]
            body = {"station_id": sid, "scenario_id": sc["id"], "transformer_id": trafo, "default_energy_kwh": 15.0,
                    "default_stay_h": 10.0}
            if a.password:
                body["password"] = a.password
            r = await http.post("/stations", headers=h, json=body)
            r.raise_for_status()
            passwords[sid] = a.password or r.json()["password"]   # generated by the server unless given
        await http.post("/plans", json={"scenario_id": sc["id"]}, headers=h)
        await settle(http, h, sc["id"], timeout_s=600)   # the day-ahead plan (and the worker's start) first
        probes = []

        async def probing(stations):
            k = 1
            while True:
                t0 = time.monotonic()
                p = await replan_probe(http, h, sc["id"], START + dt.timedelta(minutes=15 * k), stations)
                probes.append({"plan_id": p.plan_id, "max_delay_s": max(p.delays_s, default=None),
                               "stations_checked": len(p.delays_s), "missing": len(p.missing),
                               "mismatched": len(p.mismatched)})
                k += 1
                rest = a.minutes * 60 - a.ramp - (time.monotonic() - fleet_t0)
                if rest < a.probe_every + 30:
                    return
                await asyncio.sleep(max(a.probe_every - (time.monotonic() - t0), 0))

        fleet_t0, cpu0 = time.monotonic(), (_cpu_s(server.pid), time.process_time())
        fleet_at = dt.datetime.now(dt.timezone.utc)
        if a.processes:
            fleet = await run_fleet_processes(f"ws://{host}/ocpp", ids, passwords, START, a.minutes * 60, a.meter_every,
                                              a.ramp, a.processes, probing, seed=a.seed, validate=a.validate)
        else:
            fleet = await run_fleet(f"ws://{host}/ocpp", ids, passwords, START, a.minutes * 60, a.meter_every, a.ramp,
                                    probing, seed=a.seed, validate=a.validate)
        cpu = (_cpu_s(server.pid) - cpu0[0], time.process_time() - cpu0[1])
        plans = (await http.get("/plans", params={"scenario_id": sc["id"]}, headers=h)).json()
        # the loop's lags of the fleet's run only (not the server's start and the day-ahead plan)
        server_ms = (await http.get("/csms/answer-times", params={"since": fleet_at.isoformat(), "listed": True},
                                    headers=h)).json()
    with make_sessions(make_engine(url))() as db:
        stored = db.query(MeterValue).filter(MeterValue.power_kw.is_not(None)).count()
    out = _report(a, fleet, probes, stored, plans, cpu, server_ms, fleet_at)
    # when things happened, to match the loop's worst lags (server_loop_lag_ms.worst) with them
    out["timeline"] = {"fleet_started_at": fleet_at.isoformat(timespec="milliseconds"),
                       "plans_finished_at": [p["finished_at"] for p in plans if p["finished_at"]],
                       # each plan job's start and end in seconds after the fleet's start (the slow calls' timeline's clock)
                       "plans_s": [[round(dt.datetime.fromisoformat(p[k]).timestamp() - fleet_at.timestamp(), 1)
                                    for k in ("started_at", "finished_at")] for p in plans if p["started_at"] and p["finished_at"]]}
    return out


def _cpu_s(pid: int) -> float:
    """CPU time of one process (user + system, not its children: the plan worker is one) [s]."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _up(http, server, timeout_s: float = 120.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if server.poll() is not None:
            raise RuntimeError("the server exited")
        try:
            if (await http.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("the server did not start")


def _by_window(sent: np.ndarray, ms: np.ndarray, plans: list[dict]) -> dict:
    """Answer times [ms] of the calls sent (epoch s) within :data:`PUSH_WINDOW_S` after a plan ended (its
    profiles being sent to every station), of those sent while a plan job ran (planning in the worker
    process, then its files stored), and of the rest."""
    after, running = np.zeros(len(sent), bool), np.zeros(len(sent), bool)
    for p in plans:
        if p["started_at"] and p["finished_at"]:
            t0, t1 = (dt.datetime.fromisoformat(p[k]).timestamp() for k in ("started_at", "finished_at"))
            after |= (sent >= t1) & (sent < t1 + PUSH_WINDOW_S)
            running |= (sent >= t0) & (sent < t1)
    running &= ~after
    return {name: latency_stats(ms[m]) if m.any() else {"n": 0}
            for name, m in (("after_a_plan", after), ("plan_running", running), ("rest", ~after & ~running))}


def _slow_timeline(sent: np.ndarray, ms: np.ndarray, t0: float, bucket_s: float = 10.0) -> list[list]:
    """Where the calls over the p99 target were: ``[seconds after the fleet's start, calls sent then, of
    them over TARGET_P99_MS]`` per ``bucket_s``, the buckets with any over only."""
    k = np.floor((sent - t0) / bucket_s).astype(int)
    over = ms > TARGET_P99_MS
    return [[int(b * bucket_s), int((k == b).sum()), int((over & (k == b)).sum())] for b in np.unique(k[over])]


def _server_by_window(answers: list[list], plans: list[dict]) -> dict:
    """The CSMS's own answer times by the same windows (``answers``: ``[read at, action, ms]``)."""
    if not answers:
        return {}
    return _by_window(np.asarray([a[0] for a in answers]), np.asarray([a[2] for a in answers]), plans)


def _report(a, fleet, probes, stored: int, plans: list[dict], cpu: tuple[float, float], server_ms: dict,
            fleet_at: dt.datetime) -> dict:
    delays = [p["max_delay_s"] for p in probes if p["max_delay_s"] is not None]
    done = [p for p in plans if p["status"] == "succeeded"]
    out = {
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "load_average": os.getloadavg()},
        "stations": a.stations, "station_passwords": "chosen (scrypt)" if a.password else "generated (hmac-sha256)",
        "minutes": a.minutes, "meter_every_s": a.meter_every, "seconds": round(fleet.seconds, 1),
        "calls": int(len(fleet.latencies_s)), "failed": len(fleet.failed), "failed_examples": fleet.failed[:5],
        "meter_values_answered": fleet.meter_sent, "meter_values_stored": stored,
        "p50_ms": round(fleet.percentile_ms(50), 1), "p99_ms": round(fleet.percentile_ms(99), 1),
        "max_ms": round(float(fleet.latencies_s.max() * 1000), 1) if len(fleet.latencies_s) else None,
        "p99_ms_by_action": {k: round(v, 1) for k, v in fleet.by_action_ms(99).items()},
        # the same calls by when they were sent: just after a plan (its profiles pushed), while one ran, the rest
        "p99_ms_by_window": _by_window(fleet.sent_at, fleet.latencies_s * 1000.0, plans),
        "over_200_ms_by_10_s": _slow_timeline(fleet.sent_at, fleet.latencies_s * 1000.0, fleet_at.timestamp()),
        # the simulated stations' own process: a lag of its loop is in every station's time, not the server's
        "stations_loop_lag_ms": fleet.loop_lag, "stations_cpu_ms_per_call": round(
            1000 * fleet.cpu_s / max(len(fleet.latencies_s), 1), 2),
        "stations_validate": a.validate, "profiles_rejected": fleet.rejected,
        "plans": len(plans), "plans_succeeded": len(done),
        "plan_seconds": [round(dt.datetime.fromisoformat(p["finished_at"]).timestamp()
                               - dt.datetime.fromisoformat(p["started_at"]).timestamp(), 2) for p in done],
        "probes": probes, "max_push_delay_s": max(delays, default=None),
        # load-independent: the server's own CPU per answered call (plans run in a worker process)
        "server_cpu_s": round(cpu[0], 1), "stations_cpu_s": round(fleet.cpu_s, 1), "stations_processes": a.processes,
        "bench_process_cpu_s": round(cpu[1], 1),
        "server_cpu_ms_per_call": round(1000 * cpu[0] / max(len(fleet.latencies_s), 1), 2),
        # the CSMS's own part of each answer (reading the message to sending the answer), per action
        "server_answer_ms": {k: v for k, v in server_ms.items() if k != "answers"},
        "server_answer_ms_by_window": _server_by_window(server_ms.get("answers", []), plans),
        "server_over_200_ms_by_10_s": _slow_timeline(np.asarray([x[0] for x in server_ms.get("answers", [])]),
                                                     np.asarray([x[2] for x in server_ms.get("answers", [])]),
                                                     fleet_at.timestamp()),
        # how late the server's event loop ran what was due (a 10 ms ticker): a hold delays every answer
        "server_loop_lag_ms": server_ms.get("loop_lag"),
        "server_gc_pauses_ms": server_ms.get("gc_pauses"),
    }
    out["targets"] = {"no_message_lost": out["failed"] == 0 and stored == fleet.meter_sent,
                      "p99_under_200_ms": out["p99_ms"] < TARGET_P99_MS,
                      "profiles_within_5_s": bool(probes) and all(p["missing"] == 0 and p["mismatched"] == 0 for p in probes)
                      and max(delays, default=1e9) <= TARGET_PUSH_S}
    return out


if __name__ == "__main__":
    main()
