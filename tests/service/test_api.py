"""The REST API on a fresh SQLite database: tokens, scenarios (zip and JSON), plan jobs, live data, errors."""

from __future__ import annotations

import io
import json
import zipfile

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from scenario_factory import MINIMAL_YAML, TRANSFORMERS, EVS, base_load_frame
from service_helpers import scenario_zip, wait_job
from vpp_sched.service.db import AuditEntry, EvSession, PlanJob, ScenarioRow

ZIP = {"content-type": "application/zip"}


def upload(client, tmp_path, **kw) -> int:
    r = client.post("/scenarios", content=scenario_zip(tmp_path, **kw), headers={**client.tokens["plan"], **ZIP})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def planned(client, scenario_id: int, **body) -> dict:
    r = client.post("/plans", json={"scenario_id": scenario_id, **body}, headers=client.tokens["plan"])
    assert r.status_code == 202, r.text
    return wait_job(client, client.tokens["read"], r.json()["id"])


def count(app, model) -> int:
    with app.state.sessions() as db:
        return db.query(model).count()


def test_health_needs_no_token_and_everything_else_does(client):
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/scenarios").status_code == 401
    assert client.get("/scenarios", headers={"Authorization": "Bearer vpps_nope_nope"}).status_code == 401
    assert client.get("/scenarios", headers=client.tokens["read"]).status_code == 200
    r = client.post("/plans", json={"scenario_id": 1}, headers=client.tokens["read"])
    assert r.status_code == 403 and "'read'" in r.json()["detail"]
    assert client.post("/tokens", json={"scope": "read"}, headers=client.tokens["plan"]).status_code == 403
    new = client.post("/tokens", json={"scope": "read"}, headers=client.tokens["admin"]).json()["token"]
    assert client.get("/scenarios", headers={"Authorization": f"Bearer {new}"}).status_code == 200


def test_tokens_are_stored_only_as_hashes(client, app):
    from vpp_sched.service.db import ApiToken

    secrets = [h["Authorization"].split("_", 2)[2] for h in client.tokens.values()]
    with app.state.sessions() as db:
        stored = " ".join(t.secret_hash + t.id for t in db.query(ApiToken))
    assert stored.count("scrypt$") == 3 and not any(s in stored for s in secrets)


def test_zip_upload_plan_files_and_ocpp(client, tmp_path):
    sid = upload(client, tmp_path)
    sc = client.get(f"/scenarios/{sid}", headers=client.tokens["read"]).json()
    assert sc["transformers"] == ["T1", "T2"] and sc["n_evs"] == 5 and "evs.csv" in sc["files"]
    job = planned(client, sid)
    assert job["status"] == "succeeded" and job["kpis"]["status"] in ("optimal", "feasible") and job["kpis"]["valid"]
    names = client.get(f"/plans/{job['id']}", headers=client.tokens["read"]).json()["files"]
    assert {"ev_schedule.csv", "transformer_load.csv", "kpis.json", "ocpp/index.csv", "ocpp/E1.json"} <= set(names)
    kpis = client.get(f"/plans/{job['id']}/files/kpis.json", headers=client.tokens["read"]).json()
    assert kpis["grid_energy_cost_cny"] == pytest.approx(job["kpis"]["grid_energy_cost_cny"])
    for bad in ("../scenario.yaml", "ocpp/../../service.db", "nothing.csv"):
        assert client.get(f"/plans/{job['id']}/files/{bad}", headers=client.tokens["read"]).status_code == 404
    ocpp = client.get(f"/plans/{job['id']}/ocpp", headers=client.tokens["read"]).json()
    assert set(ocpp["profiles"]) == set(EVS.ev_id)
    for payload in ocpp["profiles"].values():   # every non-zero limit at or above the charger minimum (6 A x 230 V)
        limits = [p["limit"] for p in payload["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"]]
        assert all(x == 0 or x >= 1380.0 for x in limits) and any(x > 0 for x in limits)


def test_json_upload_and_its_422_names_the_field_and_stores_nothing(client, app, tmp_path):
    tables = {"transformers.csv": TRANSFORMERS.to_dict("records"), "evs.csv": EVS.to_dict("records"),
              "base_load.csv": base_load_frame(TRANSFORMERS).to_csv(index=False)}
    r = client.post("/scenarios", json={"scenario": MINIMAL_YAML, "tables": tables}, headers=client.tokens["plan"])
    assert r.status_code == 201, r.text
    bad = dict(MINIMAL_YAML, horizon={**MINIMAL_YAML["horizon"], "slots": "many"}, colour="red")
    r = client.post("/scenarios", json={"scenario": bad, "tables": tables}, headers=client.tokens["plan"])
    assert r.status_code == 422
    text = json.dumps(r.json())
    assert "horizon.slots" in text and "colour" in text and "Traceback" not in text
    assert count(app, ScenarioRow) == 1


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("members, says", [
    ({"../evil.yaml": b"x", "scenario.yaml": b"name: x"}, "outside the upload"),
    ({"/etc/scenario.yaml": b"x"}, "outside the upload"),
    ({"scenario.yaml": b"name: x", "evs.csv": b"0" * 20_000_000}, "zip bomb"),
    ({"evs.csv": b"a,b\n"}, "no scenario.yaml"),
])
def test_unsafe_zips_are_refused_and_nothing_is_stored(client, app, members, says):
    r = client.post("/scenarios", content=_zip(members), headers={**client.tokens["plan"], **ZIP})
    assert r.status_code == 422 and says in json.dumps(r.json())
    assert count(app, ScenarioRow) == 0


def test_an_upload_over_the_size_limit_is_413(client):
    limit = client.app.state.settings.max_upload_bytes
    r = client.post("/scenarios", content=b"0" * (limit + 1), headers={**client.tokens["plan"], **ZIP})
    assert r.status_code == 413


SESSION = {"session_id": "S1", "event": "started", "time": "2026-11-27T20:05:00+08:00", "transformer_id": "T1",
           "arrival": "2026-11-27T20:05:00+08:00", "departure": "2026-11-28T06:00:00+08:00", "energy_kwh": 15.0,
           "max_power_kw": 7.0}


def test_a_session_replans_the_rest_of_the_day(client, tmp_path):
    sid = upload(client, tmp_path)
    first = planned(client, sid)
    r = client.post("/sessions", json={"scenario_id": sid, **SESSION}, headers=client.tokens["plan"])
    assert r.status_code == 200, r.text
    job = wait_job(client, client.tokens["read"], r.json()["replan"])
    assert job["status"] == "succeeded" and job["trigger"] == "session" and job["replaces"] == first["id"]
    assert job["kpis"]["n_slots"] == 96 - 32   # 20:00 .. noon the next day, 15-min slots
    evs = pd.read_csv(io.BytesIO(client.get(f"/plans/{job['id']}/files/evs.csv", headers=client.tokens["read"]).content))
    s1 = evs.set_index("ev_id").loc["S1"]
    assert s1.requested_kwh == pytest.approx(15.0) and s1.delivered_kwh == pytest.approx(15.0, abs=1e-3)
    # delivered energy counts: the next re-plan asks only for what is left
    r = client.post("/sessions", json={"scenario_id": sid, "session_id": "S1", "event": "updated",
                                       "time": "2026-11-27T21:00:00+08:00", "delivered_kwh": 5.0},
                    headers=client.tokens["plan"])
    job = wait_job(client, client.tokens["read"], r.json()["replan"])
    evs = pd.read_csv(io.BytesIO(client.get(f"/plans/{job['id']}/files/evs.csv", headers=client.tokens["read"]).content))
    assert evs.set_index("ev_id").loc["S1"].requested_kwh == pytest.approx(10.0)
    r = client.post("/sessions", json={"scenario_id": sid, "session_id": "S1", "event": "ended",
                                       "time": "2026-11-27T22:00:00+08:00"}, headers=client.tokens["plan"])
    job = wait_job(client, client.tokens["read"], r.json()["replan"])
    evs = pd.read_csv(io.BytesIO(client.get(f"/plans/{job['id']}/files/evs.csv", headers=client.tokens["read"]).content))
    assert "S1" not in set(evs.ev_id)


@pytest.mark.parametrize("change, field", [
    ({"energy_kwh": "lots"}, ["body", "energy_kwh"]),
    ({"colour": "red"}, ["body", "colour"]),
    ({"time": "2026-11-27T20:05:00"}, ["body", "time"]),
    ({"arrival": "2026-11-27T20:05"}, ["body", "arrival"]),
    ({"transformer_id": "T9"}, ["body", "transformer_id"]),
    ({"departure": "2026-11-27T19:00:00+08:00"}, ["body", "departure"]),
    ({"max_power_kw": None}, ["body", "max_power_kw"]),
    ({"session_id": "=cmd()"}, ["body", "session_id"]),
])
def test_bad_session_input_is_422_naming_the_field_and_stores_nothing(client, app, tmp_path, change, field):
    sid = upload(client, tmp_path)
    before = count(app, AuditEntry)
    r = client.post("/sessions", json={"scenario_id": sid, **SESSION, **change}, headers=client.tokens["plan"])
    assert r.status_code == 422, r.text
    assert field in [e["loc"] for e in r.json()["detail"]]
    assert count(app, EvSession) == 0 and count(app, AuditEntry) == before


def test_session_conflicts_and_unknowns(client, tmp_path):
    sid = upload(client, tmp_path)
    body = {"scenario_id": sid, **SESSION, "replan": False}
    assert client.post("/sessions", json=body, headers=client.tokens["plan"]).status_code == 200
    assert client.post("/sessions", json=body, headers=client.tokens["plan"]).status_code == 409
    upd = {"scenario_id": sid, "session_id": "S9", "event": "updated", "time": SESSION["time"], "replan": False}
    assert client.post("/sessions", json=upd, headers=client.tokens["plan"]).status_code == 404
    end = dict(upd, session_id="S1", event="ended")
    assert client.post("/sessions", json=end, headers=client.tokens["plan"]).status_code == 200
    assert client.post("/sessions", json=dict(end, event="updated"), headers=client.tokens["plan"]).status_code == 409
    assert client.post("/sessions", json=dict(body, scenario_id=99), headers=client.tokens["plan"]).status_code == 404
    assert client.get("/plans/99", headers=client.tokens["read"]).status_code == 404


def test_a_dr_event_is_planned_and_checked(client, tmp_path):
    sid = upload(client, tmp_path)
    event = {"event_id": "DR1", "start": "2026-11-27T18:00:00+08:00", "end": "2026-11-27T20:00:00+08:00",
             "scope": ["T1"], "target_kw": 5.0, "price_cny_per_kwh": 2.0}
    r = client.post("/dr-events", json={"scenario_id": sid, "event": event}, headers=client.tokens["plan"])
    assert r.status_code == 201, r.text
    job = wait_job(client, client.tokens["read"], r.json()["replan"])
    assert job["status"] == "succeeded"
    files = client.get(f"/plans/{job['id']}", headers=client.tokens["read"]).json()["files"]
    assert "dr_events.csv" in files
    assert client.post("/dr-events", json={"scenario_id": sid, "event": event},
                       headers=client.tokens["plan"]).status_code == 409
    bad = [({"scope": ["T9"]}, ["body", "event", "scope", 0]), ({"start": "2026-11-27T18:00:00"}, ["body", "event", "start"]),
           ({"target_kw": "x"}, ["body", "event", "target_kw"])]
    for change, loc in bad:
        r = client.post("/dr-events", json={"scenario_id": sid, "event": {**event, "event_id": "DR2", **change}},
                        headers=client.tokens["plan"])
        assert r.status_code == 422 and loc in [e["loc"] for e in r.json()["detail"]], r.text


def test_a_metered_load_sets_the_base_load_of_its_slot(client, tmp_path):
    sid = upload(client, tmp_path)
    current = planned(client, sid)
    load = pd.read_csv(io.BytesIO(client.get(f"/plans/{current['id']}/files/transformer_load.csv",
                                             headers=client.tokens["read"]).content))
    at = "2026-11-27T19:00:00+08:00"
    row = load[(load.transformer_id == "T1") & (pd.to_datetime(load.slot_start) == pd.Timestamp(at))].iloc[0]
    r = client.post("/meter", json={"scenario_id": sid, "transformer_id": "T1", "measured_at": "2026-11-27T19:07:00+08:00",
                                    "load_kw": 80.0, "replan": True}, headers=client.tokens["plan"])
    assert r.status_code == 201, r.text
    job = wait_job(client, client.tokens["read"], r.json()["replan"])
    new = pd.read_csv(io.BytesIO(client.get(f"/plans/{job['id']}/files/transformer_load.csv",
                                            headers=client.tokens["read"]).content))
    first = new[new.transformer_id == "T1"].iloc[0]
    assert pd.Timestamp(first.slot_start) == pd.Timestamp(at)
    assert first.base_load_kw == pytest.approx(80.0 - row.ev_kw, abs=1e-3)


def test_a_replan_outside_the_horizon_is_422_and_a_failed_plan_serves_no_files(client, app, tmp_path):
    """A re-plan from after the horizon's end was queued and failed ('outside the scenario's horizon'):
    now it is refused up front (service/horizon.py)."""
    sid = upload(client, tmp_path)
    r = client.post("/plans", json={"scenario_id": sid, "as_of": "2026-12-05T00:00:00+08:00"},
                    headers=client.tokens["plan"])
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "as_of"], r.text
    job = planned(client, sid)
    with app.state.sessions() as db:     # a job that failed (its files, if any, are not served)
        row = db.get(PlanJob, job["id"])
        row.status, row.reason = "failed", "the test failed it"
        db.commit()
    r = client.get(f"/plans/{job['id']}/files/kpis.json", headers=client.tokens["read"])
    assert r.status_code == 409 and "failed" in r.json()["detail"]


def test_an_unexpected_error_is_a_500_without_traceback(app, monkeypatch):
    from vpp_sched.service.api import scenarios

    def boom(*a, **k):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(scenarios, "select", boom)
    with TestClient(app, raise_server_exceptions=False) as c:
        from service_helpers import tokens

        r = c.get("/scenarios", headers=tokens(app)["read"])
    assert r.status_code == 500 and r.json() == {"detail": "internal error"}
