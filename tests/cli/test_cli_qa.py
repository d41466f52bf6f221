"""What a new user sees of the commands the README documents: counts, messages and exit codes."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from scenario_factory import write_scenario
from vpp_sched.cli import app

runner = CliRunner()


def _plan(tmp_path):
    folder = write_scenario(tmp_path / "sc")
    out = tmp_path / "plan"
    res = runner.invoke(app, ["plan", str(folder), "--out", str(out), "--no-report", "--no-parquet"])
    assert res.exit_code == 0, res.output + res.stderr
    return out


def test_export_ocpp_counts_the_requests_not_the_manifest(tmp_path):
    # The folder holds one request per EV, index.csv and its hidden .vpp-sched-manifest.json; the line
    # must count the EVs' requests only (it said 6 for the 5 EVs of this scenario).
    plan = _plan(tmp_path)
    res = runner.invoke(app, ["export-ocpp", str(plan), "--version", "2.0.1"])
    assert res.exit_code == 0, res.output + res.stderr
    folder = plan / "ocpp"
    requests = [p for p in folder.glob("*.json") if not p.name.startswith(".")]
    assert (folder / ".vpp-sched-manifest.json").exists()
    index = pd.read_csv(folder / "index.csv", keep_default_na=False)
    assert len(requests) == (index["file"] != "").sum() == 5
    assert res.stdout.startswith(f"5 OCPP 2.0.1 SetChargingProfile request(s) written to {folder}")


def test_refusing_another_kind_of_folder_reads_right(tmp_path):
    # "is a vpp-sched plan folder, not a evaluate folder" was the line for evaluate --out PLAN.
    plan = _plan(tmp_path)
    res = runner.invoke(app, ["evaluate", str(tmp_path / "sc"), "--days", "1", "--out", str(plan)])
    assert res.exit_code == 2
    assert f"error: {plan} is a vpp-sched plan folder, not an evaluate folder; pass --force" in res.stderr
    assert sorted(p.name for p in plan.iterdir()) == sorted(json.loads(
        (plan / ".vpp-sched-manifest.json").read_text())["files"] + [".vpp-sched-manifest.json"])


def test_validate_a_plans_file_points_at_its_folder(tmp_path):
    # `validate PLAN/kpis.json` read the KPIs as a scenario.yaml: 38 lines of "required key is missing"
    # and "unknown key"; one line naming the plan folder says what to run.
    plan = _plan(tmp_path)
    res = runner.invoke(app, ["validate", str(plan / "kpis.json")])
    assert res.exit_code == 1
    lines = res.stderr.strip().splitlines()
    assert lines[0] == "error: invalid input (1 problem):"
    assert lines[1:] == [f"  {plan / 'kpis.json'}: a file of the plan folder {plan}, not a scenario; "
                         f"check the plan with `vpp-sched validate {plan}`"]


def test_validate_accepts_a_robust_plan(tmp_path):
    # `plan --robust` plans each EV's robust session (more energy, a shorter stay: models/uncertainty.md);
    # `validate PLAN` checked its tables on the forecast sessions and called every EV's energy wrong.
    folder = write_scenario(tmp_path / "sc")
    plan = tmp_path / "robust"
    res = runner.invoke(app, ["plan", str(folder), "--robust", "--out", str(plan), "--no-report", "--no-parquet"])
    assert res.exit_code == 0, res.output + res.stderr
    evs = pd.read_csv(plan / "evs.csv")
    assert (evs.requested_kwh > pd.read_csv(folder / "evs.csv").energy_kwh + 1e-6).any(), "robust sessions ask more"
    res = runner.invoke(app, ["validate", str(plan), "--scenario", str(folder)])
    assert res.exit_code == 0, res.output + res.stderr
    assert "a valid plan of example" in res.stdout
    # the check still bites: one EV given more than its robust session asks
    schedule = pd.read_csv(plan / "ev_schedule.csv")
    first = schedule.index[(schedule.ev_id == "E1") & (schedule.power_kw == 0) & schedule.plugged_in_whole_slot][0]
    schedule.loc[first, "power_kw"] = 7.0
    schedule.to_csv(plan / "ev_schedule.csv", index=False)
    res = runner.invoke(app, ["validate", str(plan), "--scenario", str(folder)])
    assert res.exit_code == 1
    assert "evs.csv row 1 (ev_id=E1): delivered_kwh: evs.csv delivered_kwh differs from the schedule" in res.stderr
