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
