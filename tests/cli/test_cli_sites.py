"""``vpp-sched plan`` with swap and fast-charging stations: their files and KPIs, a valid plan, both
methods' plans alike, and bad input refused before anything is written."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from sites_factory import site_scenario
from vpp_sched.cli import app
from vpp_sched.plan.planner import plan_day
from vpp_sched.plan.validity import check_plan

runner = CliRunner()


def test_plan_writes_the_site_files(tmp_path):
    folder = site_scenario(tmp_path / "sc")
    result = runner.invoke(app, ["plan", str(folder), "--out", str(tmp_path / "plan")])
    assert result.exit_code == 0, result.output + result.stderr
    swap = pd.read_csv(tmp_path / "plan" / "swap_stations.csv")
    assert list(swap.columns) == ["station_id", "slot_start", "swaps_requested", "swaps_served", "unserved_swaps",
                                  "full_packs", "packs_charging", "charge_kw"]
    fast = pd.read_csv(tmp_path / "plan" / "fast_charging.csv")
    assert list(fast.columns) == ["station_id", "slot_start", "arrivals", "energy_demand_kwh", "served_kwh",
                                  "power_cap_kw", "battery_kw", "expected_wait_min", "p_wait_over_target"]
    kpis = json.loads((tmp_path / "plan" / "kpis.json").read_text())
    assert kpis["valid"] is True
    (sw,) = kpis["swap_stations"]
    assert sw["station_id"] == "mine-1" and sw["swaps_requested"] == pytest.approx(swap.swaps_requested.sum())
    assert sw["service_level"] == pytest.approx(1.0)         # 10 packs on 8 x 300 kW serve ~100 swaps a day
    (fc,) = kpis["fast_charging_stations"]
    assert fc["slots_over_target"] == 0 and fc["model_mean_wait_min"] <= 10 + 1e-6
    assert 0 <= fc["sim_p_wait_over_target"] <= 1 and fc["sim_sessions"] > 0
    load = pd.read_csv(tmp_path / "plan" / "transformer_load.csv")
    assert "site_kw" in load.columns


@pytest.mark.slow
def test_lean_and_pyomo_plans_agree(tmp_path):
    folder = site_scenario(tmp_path / "sc")
    lean, pyomo = plan_day(folder, method="lean"), plan_day(folder, method="pyomo")
    assert check_plan(lean.problem, lean.plan) == [] and check_plan(pyomo.problem, pyomo.plan) == []
    # both within the MIP gap (1e-3, the EVs' minimum powers are binary) of the same optimum
    assert lean.plan.kpis["objective_cny"] == pytest.approx(pyomo.plan.kpis["objective_cny"], rel=2e-3)
    assert (lean.plan.kpis["swap_stations"][0]["swaps_served"]
            == pytest.approx(pyomo.plan.kpis["swap_stations"][0]["swaps_served"], rel=1e-6))


def test_bad_demand_exits_1_and_writes_nothing(tmp_path):
    folder = site_scenario(tmp_path / "sc")
    text = (folder / "swap_demand.csv").read_text().splitlines()
    text[7] = text[7].rsplit(",", 1)[0] + ",many"
    (folder / "swap_demand.csv").write_text("\n".join(text) + "\n")
    result = runner.invoke(app, ["plan", str(folder), "--out", str(tmp_path / "plan")])
    assert result.exit_code == 1
    assert "swap_demand.csv row 7 (station_id=mine-1): swaps 'many' is not a number" in result.output + result.stderr
    assert not (tmp_path / "plan").exists()
