import pytest
from fastapi.testclient import TestClient

from service_helpers import live_server, settings, tokens
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
