"""Fixtures' helpers for the service tests: an app on a fresh database, tokens, a scenario zip, waiting for jobs."""

from __future__ import annotations

import contextlib
import io
import time
import zipfile
from pathlib import Path

import httpx

from scenario_factory import write_scenario
from vpp_sched.service.app import create_app
from vpp_sched.service.auth import create_token
from vpp_sched.service.settings import Settings

#: Cheap hashes in tests (the default 2**14 costs ~50 ms per check) [-].
TEST_SCRYPT_N = 2**10
JOB_TIMEOUT_S = 60.0


def settings(db_url: str, **kw) -> Settings:
    """Small and fast: plans in the job thread (no worker process to start) unless asked otherwise."""
    return Settings(db_url=db_url, scheduler="serial", method="lean", scrypt_n=TEST_SCRYPT_N, station_scrypt_n=TEST_SCRYPT_N,
                    **{"plan_process": False, **kw})


def tokens(app) -> dict[str, dict[str, str]]:
    """Authorization headers per scope."""
    out = {}
    with app.state.sessions() as db:
        for scope in ("read", "plan", "admin"):
            out[scope] = {"Authorization": f"Bearer {create_token(db, scope, f'test {scope}', n=TEST_SCRYPT_N)}"}
    return out


def scenario_zip(tmp: Path, top: str | None = "example", **kw) -> bytes:
    folder = tmp / "scenario-src"
    write_scenario(folder, **kw)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.iterdir()):
            z.write(p, f"{top}/{p.name}" if top else p.name)
    return buf.getvalue()


def wait_job(client, headers, plan_id: int, timeout_s: float = JOB_TIMEOUT_S) -> dict:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        job = client.get(f"/plans/{plan_id}", headers=headers).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"plan {plan_id} still {job['status']} after {timeout_s} s")


STATION_PASSWORD = "station-password-16"


class LiveServer:
    """``vpp-sched serve``'s app under uvicorn in a thread on a free port of 127.0.0.1."""

    def __init__(self, app):
        import socket
        import threading

        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.app = app
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, ws="websockets-sansio",
                                                    log_level="warning", ws_ping_interval=None))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def __enter__(self):
        self.thread.start()
        end = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > end or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(15)


def add_stations(client, headers, scenario_id: int, ids: list[str], transformer_id: str = "T1") -> None:
    for sid in ids:
        r = client.post("/stations", json={"station_id": sid, "password": STATION_PASSWORD, "scenario_id": scenario_id,
                                           "transformer_id": transformer_id, "default_energy_kwh": 10.0,
                                           "default_stay_h": 6.0, "max_power_kw": 7.0, "min_power_kw": 1.4},
                        headers=headers)
        assert r.status_code == 201, r.text


@contextlib.contextmanager
def live_server(tmp_path, **kw):
    """A live server with the test scenario, stations CS1 and CS2 on T1 and a first plan."""
    app = create_app(settings(f"sqlite:///{tmp_path / 'csms.db'}", **kw))
    with LiveServer(app) as server:
        t = tokens(app)
        with httpx.Client(base_url=server.http, timeout=60) as client:
            r = client.post("/scenarios", content=scenario_zip(tmp_path), headers={**t["plan"], "content-type": "application/zip"})
            sid = r.json()["id"]
            add_stations(client, t["admin"], sid, ["CS1", "CS2"])
            job = client.post("/plans", json={"scenario_id": sid}, headers=t["plan"]).json()
            assert wait_job(client, t["read"], job["id"])["status"] == "succeeded"
            server.client, server.tokens, server.scenario_id = client, t, sid
            yield server
