"""A scenario on the shanxi-2026 preset with a demand charge, planned end to end: the KPIs add up,
validate against the schema, and the charge keeps the site's peak at the month's peak so far."""

from __future__ import annotations

import json

import jsonschema
import pytest
from typer.testing import CliRunner

from scenario_factory import write_scenario
from vpp_sched.cli import app
from vpp_sched.plan.output import write_plan
from vpp_sched.plan.planner import plan_day
from vpp_sched.plan.schema import kpis_schema
from vpp_sched.plan.validity import check_plan
from vpp_sched.report.plan_report import render_report

runner = CliRunner()


def _tariff(cny_per_kw_month: float, so_far_kw: float) -> dict:
    return {"preset": "shanxi-2026", "flat_price_cny_per_kwh": 0.6,
            "demand_charge": {"cny_per_kw_month": cny_per_kw_month, "sites": [
                {"transformer_id": "T1", "demand_so_far_kw": so_far_kw},
                {"transformer_id": "T2", "charging_facility": True}]}}


def test_planned_demand_charge_kpis(tmp_path):
    free = plan_day(write_scenario(tmp_path / "free", yaml_overrides={"tariff": _tariff(0.0, 0.0)}))
    peak_free = free.plan.transformer_load.query("transformer_id == 'T1'").net_load_kw.max()
    so_far = round(float(0.8 * peak_free), 1)  # below the uncharged plan's peak, so keeping to it takes planning
    run = plan_day(write_scenario(tmp_path / "sc", yaml_overrides={"tariff": _tariff(40.0, so_far)}))
    assert check_plan(run.problem, run.plan) == []
    k = run.plan.kpis
    written = json.loads((write_plan(run.plan, tmp_path / "plan", parquet=False) / "kpis.json").read_text())
    jsonschema.validate(written, kpis_schema())
    t1, t2 = k["demand_charges"]
    assert (t1["transformer_id"], t1["month"], t1["exempt"], t1["demand_so_far_kw"]) == ("T1", "2026-11", False, so_far)
    assert (t2["transformer_id"], t2["exempt"], t2["demand_charge_cny"]) == ("T2", True, 0.0)   # a charging facility in 2026
    peak = run.plan.transformer_load.query("transformer_id == 'T1'").net_load_kw.max()
    assert t1["peak_kw"] == pytest.approx(peak)
    assert t1["new_peak_kw"] == pytest.approx(max(peak - so_far, 0.0), abs=1e-9)
    assert k["demand_charge_cny"] == pytest.approx(40.0 * t1["new_peak_kw"], abs=1e-6)
    # 40 CNY per kW of new peak outweighs any tariff spread of a day: the plan keeps T1 at the peak so far
    # where the uncharged plan went above it, and the uncontrolled reference pays for its peak
    assert peak <= max(so_far, run.problem.base_load_kw[0].max()) + 1e-4
    assert k["uncontrolled"]["demand_charge_cny"] > k["demand_charge_cny"]
    assert "Demand charge (new monthly peaks)" in render_report(run)


def test_schema_lists_the_tariff_fields():
    schema = json.loads(runner.invoke(app, ["schema"]).output)
    tariff = schema["$defs"]["Tariff"]["properties"]
    assert {"preset", "flat_price_cny_per_kwh", "demand_charge"} <= set(tariff)
    assert {"demand_so_far_kw", "charging_facility", "cny_per_kw_month"} <= set(
        schema["$defs"]["DemandChargeSite"]["properties"])


def test_bad_demand_charge_settings_are_one_line_each(tmp_path):
    tariff = _tariff(-1.0, 0.0)
    tariff["demand_charge"]["sites"].append({"transformer_id": "T9"})
    folder = write_scenario(tmp_path / "sc", yaml_overrides={"tariff": tariff})
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if "demand_charge" in line]
    assert len(lines) == 1 and "tariff.demand_charge.cny_per_kw_month" in lines[0], result.output
    tariff["demand_charge"]["cny_per_kw_month"] = 10.0
    folder = write_scenario(tmp_path / "sc2", yaml_overrides={"tariff": tariff})
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 1
    assert "tariff.demand_charge.sites.2.transformer_id: T9 is not in transformers.csv" in result.output + result.stderr
