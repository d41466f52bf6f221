"""``vpp-sched plan`` through the CLI: contract files, determinism, warnings, exit codes."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from scenario_factory import EVS, write_scenario
from vpp_sched.cli import app
from vpp_sched.plan.output import TIMING_KEYS
from vpp_sched.plan.planner import plan_day
from vpp_sched.plan.validity import check_plan

runner = CliRunner()

CONTRACT = {
    "ev_schedule.csv": ["ev_id", "slot_start", "power_kw"],
    "transformer_load.csv": ["transformer_id", "slot_start", "base_load_kw", "ev_kw", "pv_kw", "battery_kw",
                             "net_load_kw", "limit_kw"],
    "evs.csv": ["ev_id", "transformer_id", "requested_kwh", "delivered_kwh", "unmet_kwh"],
    "batteries.csv": ["station_id", "slot_start", "charge_kw", "discharge_kw", "soc_kwh"],
}
KPI_KEYS = ["status", "objective_cny", "grid_energy_cost_cny", "peak_net_load_kw", "max_loading_pu",
            "unmet_energy_kwh", "mip_gap", "build_seconds", "solve_seconds", "solver", "uncontrolled"]


def _plan(folder, out, *args):
    result = runner.invoke(app, ["plan", str(folder), "--out", str(out), *args])
    assert result.exit_code == 0, result.output + result.stderr
    return result


def test_plan_writes_contract_files(tmp_path):
    folder = write_scenario(tmp_path / "sc")
    result = _plan(folder, tmp_path / "plan")
    assert "time: HiGHS" in result.stdout and "modelling overhead" in result.stdout
    for name, columns in CONTRACT.items():
        df = pd.read_csv(tmp_path / "plan" / name)
        assert list(df.columns[:len(columns)]) == columns, name
    kpis = json.loads((tmp_path / "plan" / "kpis.json").read_text())
    for key in KPI_KEYS:
        assert key in kpis
    timing = kpis["timing"]
    assert 0 < timing["highs_s"] <= timing["solve_s"] and timing["read_s"] > 0
    for key in ("grid_energy_cost_cny", "peak_net_load_kw", "max_loading_pu", "unmet_energy_kwh"):
        assert key in kpis["uncontrolled"]
    assert kpis["valid"] is True and kpis["status"] == "optimal"
    load = pd.read_csv(tmp_path / "plan" / "transformer_load.csv")
    assert pd.Timestamp(load.slot_start.iat[0]).tzinfo is not None, "times carry their offset"
    schedule = pd.read_csv(tmp_path / "plan" / "ev_schedule.csv")
    assert set(schedule.ev_id) == set(EVS.ev_id), "every EV appears in the schedule"
    # E1 stays 18:00..07:00: every 15-min slot of its stay is listed
    assert (schedule.ev_id == "E1").sum() == 13 * 4
    assert (tmp_path / "plan" / "ev_schedule.parquet").exists()


def test_same_input_same_plan(tmp_path):
    folder = write_scenario(tmp_path / "sc")
    _plan(folder, tmp_path / "a")
    _plan(folder, tmp_path / "b")
    for name in CONTRACT:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    ka, kb = (json.loads((tmp_path / d / "kpis.json").read_text()) for d in "ab")
    for k in (*TIMING_KEYS, "solver"):
        ka.pop(k, None), kb.pop(k, None)
    assert ka == kb


def test_infeasible_ev_is_a_warning_not_an_error(tmp_path):
    evs = EVS.copy()
    evs.loc[0, "energy_kwh"] = 500.0  # far more than 7 kW x 13 h
    folder = write_scenario(tmp_path / "sc", evs=evs)
    result = _plan(folder, tmp_path / "plan")
    assert "warning: 1 EV(s) short" in result.stderr
    table = pd.read_csv(tmp_path / "plan" / "evs.csv").set_index("ev_id")
    assert table.loc["E1", "unmet_kwh"] == pytest.approx(500.0 - 7.0 * 13, abs=1e-3)
    kpis = json.loads((tmp_path / "plan" / "kpis.json").read_text())
    assert kpis["unmet_energy_kwh"] == pytest.approx(500.0 - 91.0, abs=1e-3)
    assert kpis["warnings"]


@pytest.mark.slow
def test_out_replaces_old_plan_only_when_complete(tmp_path):
    folder = write_scenario(tmp_path / "sc")
    out = tmp_path / "plan"
    _plan(folder, out, "--ocpp", "1.6")
    assert (out / "ocpp" / "index.csv").exists()
    _plan(folder, out)  # an earlier plan is replaced whole: its ocpp/ goes with it
    assert not (out / "ocpp").exists() and (out / "kpis.json").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    (out / "stale.txt").write_text("a user's file")  # not ours: the plan folder is no longer replaced
    result = runner.invoke(app, ["plan", str(folder), "--out", str(out)])
    assert result.exit_code == 2 and "stale.txt" in result.stderr
    assert (out / "stale.txt").read_text() == "a user's file"


def test_time_limit_with_no_solution_exits_4(tmp_path, monkeypatch):
    from vpp_sched.plan import planner
    from vpp_sched.solve.solution import Solution, SolveStatus

    monkeypatch.setattr(planner, "solve", lambda *a, **k: Solution(status=SolveStatus.NO_SOLUTION))
    folder = write_scenario(tmp_path / "sc")
    result = runner.invoke(app, ["plan", str(folder), "--out", str(tmp_path / "plan")])
    assert result.exit_code == 4
    assert "time limit" in result.stderr
    assert not (tmp_path / "plan").exists()


def test_infeasible_exits_3(tmp_path):
    # A battery that must end fuller than it can get: no plan, even with the slacks.
    station = [{"station_id": "S1", "transformer_id": "T1",
                "battery": {"capacity_kwh": 100.0, "max_charge_kw": 1.0, "max_discharge_kw": 1.0,
                            "soc_min": 0.0, "soc_max": 1.0, "soc_initial": 0.0, "soc_final_min": 1.0}}]
    folder = write_scenario(tmp_path / "sc", yaml_overrides={"stations": station})
    result = runner.invoke(app, ["plan", str(folder), "--out", str(tmp_path / "plan")])
    assert result.exit_code == 3, result.output + result.stderr
    assert "infeasible" in result.stderr
    assert not (tmp_path / "plan").exists()


def test_bad_method_is_usage_error(tmp_path):
    result = runner.invoke(app, ["plan", "--method", "magic", "--out", str(tmp_path / "p")])
    assert result.exit_code == 2


@pytest.mark.parametrize("method", ["lean", "pyomo"])
def test_time_limited_run_returns_best_plan_with_gap(tmp_path, method):
    folder = write_scenario(tmp_path / "sc")
    r = plan_day(folder, method=method)
    assert r.plan.kpis["mip_gap"] <= 1e-3 + 1e-12
    assert check_plan(r.problem, r.plan) == []


def test_summary_says_how_each_dr_event_did(tmp_path):
    events = [{"event_id": "P1", "start": "2026-11-27T18:00:00+08:00", "end": "2026-11-27T20:00:00+08:00",
               "notified_at": "2026-11-26T12:00:00+08:00", "target_kw": 2.0},
              {"event_id": "P2", "start": "2026-11-27T19:00:00+08:00", "end": "2026-11-27T20:00:00+08:00",
               "notified_at": "2026-11-26T12:00:00+08:00", "target_kw": 1000.0}]  # more than there is to shed
    folder = write_scenario(tmp_path / "sc", yaml_overrides={"dr_events": events})
    result = _plan(folder, tmp_path / "plan", "--no-report")
    per_slot = pd.read_csv(tmp_path / "plan" / "dr_events.csv")
    summary = pd.read_csv(tmp_path / "plan" / "events.csv").set_index("event_id")
    short = per_slot.groupby("event_id").shortfall_kw.sum() * 0.25
    assert short["P1"] == pytest.approx(0.0, abs=1e-6) and short["P2"] > 100
    line = next(x for x in result.stdout.splitlines() if x.strip().startswith("DR events:"))
    assert line.strip() == (f"DR events: P1 {summary.compliance_pct['P1']:.1f}% of target, 0.0 kWh short; "
                            f"P2 {summary.compliance_pct['P2']:.1f}% of target, {short['P2']:.1f} kWh short")
    assert summary.compliance_pct["P2"] < 50


def test_plan_ocpp_warns_of_raised_limits(tmp_path):
    # `plan --ocpp` prints the export's one line about set-points raised to the charger minimum, as
    # `export-ocpp` does; the line matches the index.csv written beside the plan.
    from vpp_sched.interop.ocpp import raised_warning

    folder = write_scenario(tmp_path / "sc")
    out = tmp_path / "plan"
    res = _plan(folder, out, "--ocpp", "2.0.1", "--no-report", "--no-parquet")
    index = pd.read_csv(out / "ocpp" / "index.csv", keep_default_na=False)
    line = raised_warning(index)
    assert line is not None, "the small plan has set-points under the 1.38 kW charger minimum"
    assert f"warning: {line}" in res.stderr.splitlines()
