"""Faults: the server stopped during a plan job (resumed, or failed with the reason), nothing live lost."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from service_helpers import scenario_zip, settings, tokens, wait_job
from vpp_sched.scenario.load import default_scenario_path
from vpp_sched.service.app import create_app
from vpp_sched.service.db import AuditEntry, EvSession, MeterValue, PlanJob, make_engine, make_sessions, migrate
from vpp_sched.service.sim_fleet import folder_zip

ZIP = {"content-type": "application/zip"}


def _left_running(url: str, tmp_path: Path, attempts: int) -> tuple[int, dict]:
    """A server that planned once, then 'stopped' with a job running (as a kill leaves it)."""
    app = create_app(settings(url))
    with TestClient(app) as c:
        t = tokens(app)
        sid = c.post("/scenarios", content=scenario_zip(tmp_path), headers={**t["plan"], **ZIP}).json()["id"]
        job = wait_job(c, t["read"], c.post("/plans", json={"scenario_id": sid}, headers=t["plan"]).json()["id"])
    with app.state.sessions() as db:
        row = db.get(PlanJob, job["id"])
        row.status, row.attempts, row.finished_at, row.kpis = "running", attempts, None, {}
        db.commit()
    return job["id"], t


def test_a_job_left_running_is_resumed_at_the_next_start(tmp_path):
    url = f"sqlite:///{tmp_path / 'faults.db'}"
    job_id, t = _left_running(url, tmp_path, attempts=1)
    app = create_app(settings(url))
    with TestClient(app) as c:
        job = wait_job(c, t["read"], job_id)
        audit = c.get("/audit", headers=t["read"]).json()
    assert job["status"] == "succeeded" and job["attempts"] == 2 and job["kpis"]["valid"]
    assert any(a["action"] == "plan.resume" and a["target"] == f"plan:{job_id}" for a in audit)


def test_a_job_the_server_stopped_in_too_often_fails_with_the_reason(tmp_path):
    url = f"sqlite:///{tmp_path / 'faults.db'}"
    job_id, t = _left_running(url, tmp_path, attempts=2)
    app = create_app(settings(url))
    with TestClient(app) as c:
        job = c.get(f"/plans/{job_id}", headers=t["read"]).json()
    assert job["status"] == "failed" and "server stopped during this job 2 time(s)" in job["reason"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(db_url: str, port: int, tmp_dir: Path | None = None) -> subprocess.Popen:
    """``vpp-sched serve`` in its own process group (``tmp_dir``: its and its planning process's TMPDIR)."""
    cmd = [sys.executable, "-c", "from vpp_sched.cli import main; main()", "serve", "--db", db_url, "--port", str(port),
           "--method", "lean", "--scheduler", "serial", "--log-level", "warning"]
    env = None if tmp_dir is None else {**os.environ, "TMPDIR": str(tmp_dir)}
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env)


def _up(client: httpx.Client, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        assert proc.poll() is None, "the server exited"
        try:
            if client.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not start")


@pytest.mark.slow
def test_the_server_killed_during_a_plan_job_resumes_it_and_loses_no_live_data(tmp_path):
    db = tmp_path / "killed.db"
    url, port = f"sqlite:///{db}", _free_port()
    from vpp_sched.service.db import make_engine, make_sessions, migrate

    engine = make_engine(url)
    migrate(engine)
    with make_sessions(engine)() as s:
        from vpp_sched.service.auth import create_token

        h = {"Authorization": f"Bearer {create_token(s, 'plan')}"}
    engine.dispose()
    server_tmp = tmp_path / "server-tmp"      # the killed job's folder stays there, not in /tmp
    server_tmp.mkdir()
    proc = _serve(url, port, server_tmp)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
            _up(c, proc)
            job_id = _demo_with_live_data_and_a_plan_job(c, h)
            end = time.monotonic() + 60
            while c.get(f"/plans/{job_id}", headers=h).json()["status"] != "running":
                assert time.monotonic() < end
                time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)   # mid-solve: no shutdown code runs
        proc.wait(10)
        proc = _serve(url, port, server_tmp)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
            _up(c, proc)
            job = wait_job(c, h, job_id, timeout_s=120)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    assert job["status"] == "succeeded" and job["attempts"] == 2, job
    with make_sessions(make_engine(url))() as s:
        assert s.query(EvSession).filter(EvSession.session_id == "LIVE1").count() == 1
        assert s.query(MeterValue).count() == 1


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_shuts_the_server_down_cleanly_with_exit_0(tmp_path, signum):
    """SIGTERM (systemd, docker stop) and Ctrl-C are a service's normal stop: one line, exit 0."""
    url, port = f"sqlite:///{tmp_path / 'stop.db'}", _free_port()
    cmd = [sys.executable, "-c", "from vpp_sched.cli import main; main()", "serve", "--db", url, "--port", str(port),
           "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            _up(c, proc)
        os.killpg(proc.pid, signum)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, stderr
    assert "error" not in stderr.lower() and "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1].endswith("shut down cleanly"), stderr


#: How soon a server stopped during a plan job must have exited [s]: the plan's SIGTERM, its grace
#: (plan_process.STOP_GRACE_S) and uvicorn's shutdown; it waited ~100 s for the plan before.
STOP_WITHIN_S = 12.0
#: How long the plan runs before the stop [s]: the worker process has started and is planning.
PLAN_BEFORE_STOP_S = 3.0


def _demo_with_live_data_and_a_plan_job(c: httpx.Client, h: dict) -> int:
    """Upload the demo, store one meter value and one live session (no re-plan), ask for a plan: its job id."""
    sid = c.post("/scenarios", content=folder_zip(default_scenario_path()), headers={**h, **ZIP}).json()["id"]
    c.post("/meter", json={"scenario_id": sid, "transformer_id": "T01", "measured_at": "2026-12-04T19:00:00+08:00",
                           "load_kw": 300.0}, headers=h).raise_for_status()
    c.post("/sessions", json={"scenario_id": sid, "session_id": "LIVE1", "event": "started", "replan": False,
                              "time": "2026-12-04T19:00:00+08:00", "transformer_id": "T01",
                              "arrival": "2026-12-04T19:00:00+08:00", "departure": "2026-12-05T07:00:00+08:00",
                              "energy_kwh": 20.0, "max_power_kw": 7.0}, headers=h).raise_for_status()
    return c.post("/plans", json={"scenario_id": sid}, headers=h).json()["id"]


def _plan_token(url: str) -> dict[str, str]:
    from vpp_sched.service.auth import create_token

    engine = make_engine(url)
    migrate(engine)
    with make_sessions(engine)() as s:
        h = {"Authorization": f"Bearer {create_token(s, 'plan')}"}
    engine.dispose()
    return h


def _wait_running(c: httpx.Client, h: dict, job_id: int, attempts: int) -> None:
    end = time.monotonic() + 60
    while (job := c.get(f"/plans/{job_id}", headers=h).json())["status"] != "running" or job["attempts"] != attempts:
        assert job["status"] in ("queued", "running") and time.monotonic() < end, job
        time.sleep(0.05)


def _stop_mid_plan(proc: subprocess.Popen) -> tuple[float, list]:
    """SIGTERM to the server's process only (``kill PID``, ``docker stop``); its exit time [s] and the
    processes it had started (the planning process) that are still alive after it."""
    import psutil

    children = psutil.Process(proc.pid).children(recursive=True)
    assert children, "no planning process was running"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(120)
    stop_s = time.monotonic() - t0
    _, alive = psutil.wait_procs(children, timeout=2)
    return stop_s, alive


def _job_and_audit(url: str, job_id: int) -> tuple[PlanJob, list]:
    engine = make_engine(url)
    with make_sessions(engine)() as s:
        job = s.get(PlanJob, job_id)
        s.expunge(job)
        audit = [(a.action, a.detail) for a in s.query(AuditEntry).filter(AuditEntry.target == f"plan:{job_id}")]
    engine.dispose()
    return job, audit


@pytest.mark.slow
def test_sigterm_during_a_plan_job_stops_its_plan_promptly_and_the_restart_resumes_it(tmp_path):
    """The server's exit waited for the job's planning process (~100 s on the demo). Now the plan is
    stopped, the server exits within seconds with 0, no process of it and no job folder is left,
    the job is queued again with the reason in the audit trail, the restart resumes it, and the live
    data stay."""
    url, port = f"sqlite:///{tmp_path / 'stopped.db'}", _free_port()
    h = _plan_token(url)
    server_tmp = tmp_path / "server-tmp"
    server_tmp.mkdir()
    proc = _serve(url, port, server_tmp)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
            _up(c, proc)
            job_id = _demo_with_live_data_and_a_plan_job(c, h)
            _wait_running(c, h, job_id, attempts=1)
            time.sleep(PLAN_BEFORE_STOP_S)
        first_s, left = _stop_mid_plan(proc)
        assert proc.returncode == 0 and first_s < STOP_WITHIN_S and not left, (first_s, left)
        job, audit = _job_and_audit(url, job_id)
        assert job.status == "queued" and job.attempts == 1 and not job.reason
        assert [a for a, _ in audit][-1] == "plan.interrupted" and "resumed" in audit[-1][1]["reason"]

        assert not list(server_tmp.glob("vpp-sched-job-*"))
        proc = _serve(url, port, server_tmp)          # the restart resumes it ...
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
            _up(c, proc)
            _wait_running(c, h, job_id, attempts=2)
            time.sleep(PLAN_BEFORE_STOP_S)
        second_s, left = _stop_mid_plan(proc)         # ... and a second stop is as prompt
        assert proc.returncode == 0 and second_s < STOP_WITHIN_S and not left, (second_s, left)
        assert not list(server_tmp.glob("vpp-sched-job-*"))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    job, _ = _job_and_audit(url, job_id)
    assert job.status == "queued" and job.attempts == 2
    engine = make_engine(url)
    with make_sessions(engine)() as s:
        assert s.query(EvSession).filter(EvSession.session_id == "LIVE1").count() == 1
        assert s.query(MeterValue).count() == 1
    engine.dispose()
