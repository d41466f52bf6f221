"""The plan folder's JSON Schema describes what `vpp-sched plan` writes."""

from __future__ import annotations

import json

import jsonschema
import pytest
from typer.testing import CliRunner

from scenario_factory import write_scenario
from vpp_sched.cli import app
from vpp_sched.plan.output import write_plan
from vpp_sched.plan.schema import kpis_schema, plan_document, plan_json_schema, table_row_schema
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
