import contextlib

import httpx
import pytest
from fastapi.testclient import TestClient

from service_helpers import LiveServer, add_stations, scenario_zip, settings, tokens, wait_job
from vpp_sched.service.app import create_app


@pytest.fixture
def app(tmp_path):
    return create_app(settings(f"sqlite:///{tmp_path / 'service.db'}"))


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        c.tokens = tokens(app)
        yield c


@pytest.fixture
def live(tmp_path):
    """A live server with the test scenario, stations CS1 and CS2 on T1 and a first plan."""
    with live_server(tmp_path) as server:
        yield server


@contextlib.contextmanager
def live_server(tmp_path, **kw):
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
