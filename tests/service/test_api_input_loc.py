"""An uploaded scenario's bad input: the 422's ``loc`` names the file, row and field of each problem."""

from __future__ import annotations

from scenario_factory import EVS, MINIMAL_YAML
from service_helpers import scenario_zip
from vpp_sched.service.db import ScenarioRow

ZIP = {"content-type": "application/zip"}


def _detail(client, body: bytes) -> list[dict]:
    r = client.post("/scenarios", content=body, headers={**client.tokens["plan"], **ZIP})
    assert r.status_code == 422, r.text
    return r.json()["detail"]


def test_a_broken_cell_and_an_unknown_key_have_their_field_paths(client, app, tmp_path):
    # Every upload problem had loc ["body"]; the field was only in the message.
    evs = EVS.astype({"energy_kwh": object})
    evs.loc[1, "energy_kwh"] = "abc"
    detail = _detail(client, scenario_zip(tmp_path / "a", evs=evs))
    assert [(d["loc"], d["msg"]) for d in detail] == [
        (["body", "evs.csv", 2, "energy_kwh"], "evs.csv row 2 (ev_id=E2): energy_kwh 'abc' is not a number")]
    horizon = {**MINIMAL_YAML["horizon"], "slot_minute": 15}
    detail = _detail(client, scenario_zip(tmp_path / "b", yaml_overrides={"horizon": horizon}))
    assert ["body", "scenario.yaml", "horizon", "slot_minute"] in [d["loc"] for d in detail]
    with app.state.sessions() as db:
        assert db.query(ScenarioRow).count() == 0


def test_a_line_without_a_file_keeps_the_body(client, tmp_path):
    from vpp_sched.service.api.common import input_error_loc

    assert input_error_loc("upload: evs.csv: unpacks 1029x its packed size") == ["body"]
    assert input_error_loc("evs.csv: missing column energy_kwh (columns found: ev_id)") == ["body", "evs.csv"]
