"""Load benchmark of ``vpp-sched serve``: many simulated OCPP 2.0.1 stations against a real server.

    python benchmarks/bench_service.py                       # the target: 500 stations, 10 minutes
    python benchmarks/bench_service.py --stations 100 --minutes 2 --db postgresql+psycopg://u:pw@host/db

The server is ``vpp-sched serve`` in its own process (SQLite in a temporary folder unless ``--db``),
with the bundled Zezhou demo (20 transformers) and ``--stations`` stations spread over them. The
stations (the ``ocpp`` package as client, in this process, on 127.0.0.1) connect, boot, start a
transaction each over the first ``--ramp`` seconds (each start queues a re-plan of the rest of the
day; bursts join one) and send MeterValues every ``--meter-every`` seconds to the end. Every
``--probe-every`` seconds a re-plan is asked for and each station's profile is checked against that
plan's, with the time it took to arrive.

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
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vpp_sched.scenario.load import default_scenario_path, load_scenario  # noqa: E402
from vpp_sched.service.auth import create_token  # noqa: E402
from vpp_sched.service.db import MeterValue, make_engine, make_sessions, migrate  # noqa: E402
from vpp_sched.service.sim_fleet import folder_zip, replan_probe, run_fleet, settle  # noqa: E402

PASSWORD = "bench-station-password"
TARGET_P99_MS, TARGET_PUSH_S = 200.0, 5.0
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
    p.add_argument("--out", help="also write the JSON results here")
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
        ids = [f"B{i:04d}" for i in range(a.stations)]
        for i, sid in enumerate(ids):
            trafo = sc["transformers"][i % len(sc["transformers"])]
            r = await http.post("/stations", headers=h, json={"station_id": sid, "password": PASSWORD, "scenario_id": sc["id"],
                                                               "transformer_id": trafo, "default_energy_kwh": 15.0,
                                                               "default_stay_h": 10.0})
            r.raise_for_status()
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
        fleet = await run_fleet(f"ws://{host}/ocpp", ids, PASSWORD, START, a.minutes * 60, a.meter_every, a.ramp, probing)
        cpu = (_cpu_s(server.pid) - cpu0[0], time.process_time() - cpu0[1])
        plans = (await http.get("/plans", params={"scenario_id": sc["id"]}, headers=h)).json()
        server_ms = (await http.get("/csms/answer-times", headers=h)).json()
    with make_sessions(make_engine(url))() as db:
        stored = db.query(MeterValue).filter(MeterValue.power_kw.is_not(None)).count()
    return _report(a, fleet, probes, stored, plans, cpu, server_ms)


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


def _report(a, fleet, probes, stored: int, plans: list[dict], cpu: tuple[float, float], server_ms: dict) -> dict:
    delays = [p["max_delay_s"] for p in probes if p["max_delay_s"] is not None]
    done = [p for p in plans if p["status"] == "succeeded"]
    out = {
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "load_average": os.getloadavg()},
        "stations": a.stations, "minutes": a.minutes, "meter_every_s": a.meter_every, "seconds": round(fleet.seconds, 1),
        "calls": int(len(fleet.latencies_s)), "failed": len(fleet.failed), "failed_examples": fleet.failed[:5],
        "meter_values_answered": fleet.meter_sent, "meter_values_stored": stored,
        "p50_ms": round(fleet.percentile_ms(50), 1), "p99_ms": round(fleet.percentile_ms(99), 1),
        "max_ms": round(float(fleet.latencies_s.max() * 1000), 1) if len(fleet.latencies_s) else None,
        "p99_ms_by_action": {k: round(v, 1) for k, v in fleet.by_action_ms(99).items()},
        "plans": len(plans), "plans_succeeded": len(done),
        "plan_seconds": [round(dt.datetime.fromisoformat(p["finished_at"]).timestamp()
                               - dt.datetime.fromisoformat(p["started_at"]).timestamp(), 2) for p in done],
        "probes": probes, "max_push_delay_s": max(delays, default=None),
        # load-independent: the server's own CPU per answered call (plans run in a worker process)
        "server_cpu_s": round(cpu[0], 1), "stations_cpu_s": round(cpu[1], 1),
        "server_cpu_ms_per_call": round(1000 * cpu[0] / max(len(fleet.latencies_s), 1), 2),
        # the CSMS's own part of each answer (reading the message to sending the answer), per action
        "server_answer_ms": server_ms,
    }
    out["targets"] = {"no_message_lost": out["failed"] == 0 and stored == fleet.meter_sent,
                      "p99_under_200_ms": out["p99_ms"] < TARGET_P99_MS,
                      "profiles_within_5_s": bool(probes) and all(p["missing"] == 0 and p["mismatched"] == 0 for p in probes)
                      and max(delays, default=1e9) <= TARGET_PUSH_S}
    return out


if __name__ == "__main__":
    main()
