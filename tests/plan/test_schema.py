"""The plan folder's JSON Schema describes what `vpp-sched plan` writes."""

from __future__ import annotations

import json

import jsonschema
import pytest
from typer.testing import CliRunner

from scenario_factory import write_scenario
from vpp_sched.cli import app
from vpp_sched.plan.output import write_plan
from vpp_sched.plan.read_plan import plan_document
from vpp_sched.plan.schema import kpis_schema, plan_json_schema, table_row_schema
from vpp_sched.plan.planner import plan_day

runner = CliRunner()


def test_a_real_plan_validates(tmp_path):
    folder = write_plan(plan_day(write_scenario(tmp_path / "sc")).plan, tmp_path / "plan", parquet=False)
    schema = plan_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    kpis = json.loads((folder / "kpis.json").read_text())
    jsonschema.validate(kpis, kpis_schema())
    doc = plan_document(folder)
    jsonschema.validate(doc, schema)
    doc["kpis.json"]["uncontrolled"].pop("peak_net_load_kw")
    with pytest.raises(jsonschema.ValidationError, match="peak_net_load_kw"):
        jsonschema.validate(doc, schema)
    row = dict(doc["ev_schedule.csv"][0], power_kw="7 kW")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(row, table_row_schema("ev_schedule"))


def test_schema_command():
    plan = runner.invoke(app, ["schema", "--what", "plan"])
    assert plan.exit_code == 0
    assert json.loads(plan.output)["properties"]["kpis.json"] == {"$ref": "#/$defs/kpis"}
    scenario = runner.invoke(app, ["schema"])
    assert scenario.exit_code == 0 and "horizon" in json.loads(scenario.output)["properties"]
    assert runner.invoke(app, ["schema", "--what", "x"]).exit_code == 2


def test_dr_tables_validate_and_read_as_the_schema_says(tmp_path):
    """dr_events.csv per kind (cap_kw on the side the kind bounds) and events.csv's
    delivered_kw_mean over the slots wholly inside the event, as the schema describes them."""
    import pandas as pd

    events = [{"event_id": "PS", "kind": "peak_shaving", "start": "2026-11-27T18:10:00+08:00",
               "end": "2026-11-27T20:00:00+08:00", "notified_at": "2026-11-26T12:00:00+08:00",
               "scope": "all", "target_kw": 5.0, "price_cny_per_kwh": 2.0},
              {"event_id": "VF", "kind": "valley_filling", "start": "2026-11-28T02:00:00+08:00",
               "end": "2026-11-28T03:05:00+08:00", "notified_at": "2026-11-26T12:00:00+08:00",
               "scope": ["T1"], "target_kw": 3.0, "price_cny_per_kwh": 1.0}]
    run = plan_day(write_scenario(tmp_path / "sc", yaml_overrides={"dr_events": events}))
    folder = write_plan(run.plan, tmp_path / "plan", parquet=False)
    doc = plan_document(folder)
    jsonschema.validate(doc, plan_json_schema())
    rows = plan_json_schema()["$defs"]
    assert set(rows["events_row"]["required"]) <= set(doc["events.csv"][0])
    assert "wholly inside" in rows["events_row"]["properties"]["delivered_kw_mean"]["description"]
    assert "valley_filling" in rows["dr_events_row"]["properties"]["cap_kw"]["description"]
    per_slot = pd.DataFrame(doc["dr_events.csv"])
    summary = pd.DataFrame(doc["events.csv"]).set_index("event_id")
    for event_id, sign, slots in (("PS", 1.0, 7), ("VF", -1.0, 4)):   # 18:15-20:00 and 02:00-03:00
        e = per_slot[per_slot.event_id == event_id]
        assert len(e) == summary.at[event_id, "slots"] == slots
        assert (e.kind == ("peak_shaving" if sign > 0 else "valley_filling")).all()
        assert e.cap_kw.to_numpy() == pytest.approx((e.baseline_kw - sign * e.target_kw).to_numpy(), abs=1e-5)
        assert e.delivered_kw.to_numpy() == pytest.approx((sign * (e.baseline_kw - e.net_load_kw)).to_numpy(), abs=1e-5)
        assert summary.at[event_id, "delivered_kw_mean"] == pytest.approx(e.delivered_kw.sum() / slots, abs=1e-5)


def test_site_tables_validate(tmp_path):
    from sites_factory import site_scenario

    folder = write_plan(plan_day(site_scenario(tmp_path / "sc")).plan, tmp_path / "plan", parquet=False)
    doc = plan_document(folder)
    assert "swap_stations.csv" in doc and "fast_charging.csv" in doc
    jsonschema.validate(doc, plan_json_schema())
    doc["swap_stations.csv"][0].pop("full_packs")
    with pytest.raises(jsonschema.ValidationError, match="full_packs"):
        jsonschema.validate(doc, plan_json_schema())
