"""Fixtures' helpers for the service tests: an app on a fresh database, tokens, a scenario zip, waiting for jobs."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

from scenario_factory import write_scenario
from vpp_sched.service.auth import create_token
from vpp_sched.service.settings import Settings

#: Cheap hashes in tests (the default 2**14 costs ~50 ms per check) [-].
TEST_SCRYPT_N = 2**10
JOB_TIMEOUT_S = 60.0


def settings(db_url: str, **kw) -> Settings:
    return Settings(db_url=db_url, scheduler="serial", method="lean", scrypt_n=TEST_SCRYPT_N, **kw)


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
