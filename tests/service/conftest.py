import pytest
from fastapi.testclient import TestClient

from service_helpers import settings, tokens
from vpp_sched.service.app import create_app


@pytest.fixture
def app(tmp_path):
    return create_app(settings(f"sqlite:///{tmp_path / 'service.db'}"))


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        c.tokens = tokens(app)
        yield c
