"""``vpp-sched validate PLAN_DIR`` (plan/check_folder.py): a written plan passes; a tampered one fails
with one line per problem naming the file, the row and the field, and nothing is written."""

from __future__ import annotations

import ast
import hashlib
import inspect
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from scenario_factory import write_scenario
from vpp_sched.cli import app
from vpp_sched.plan import validity
from vpp_sched.plan.check_folder import FINDINGS, check_plan_folder, is_plan_folder
from vpp_sched.plan.output import write_plan
from vpp_sched.plan.planner import plan_day
from vpp_sched.scenario.load import load_scenario

runner = CliRunner()


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """(scenario folder, plan folder) of the 5-EV example."""
    base = tmp_path_factory.mktemp("check_folder")
    scenario = write_scenario(base / "sc")
    run = plan_day(scenario)
    assert run.plan.kpis["valid"]
    return scenario, write_plan(run.plan, base / "plan", parquet=False)


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _validate(plan: Path, scenario: Path):
    return runner.invoke(app, ["validate", str(plan), "--scenario", str(scenario)])


def _tampered(written, tmp_path, stem: str, row: int, column: str, value: str) -> Path:
    _, plan = written
    copy = shutil.copytree(plan, tmp_path / "plan")
    table = pd.read_csv(copy / f"{stem}.csv", dtype=str, keep_default_na=False)
    table.loc[row, column] = value
    table.to_csv(copy / f"{stem}.csv", index=False)
    return copy


def test_a_written_plan_passes_and_nothing_is_written(written, tmp_path, monkeypatch):
    scenario, plan = written
    monkeypatch.chdir(tmp_path)
    before, around = _digest(plan), _digest(scenario.parent)
    res = _validate(plan, scenario)
    assert res.exit_code == 0, res.output + res.stderr
    assert "a valid plan of example" in res.output and "JSON Schema and physical validity" in res.output
    assert _digest(plan) == before and _digest(scenario.parent) == around and not any(tmp_path.iterdir())
    assert is_plan_folder(plan) and not is_plan_folder(scenario)


def test_a_scenario_folder_is_still_a_scenario(written):
    scenario, _ = written
    res = runner.invoke(app, ["validate", str(scenario)])
    assert res.exit_code == 0 and "example: valid (2 transformers, 5 EVs" in res.output


def test_a_wrong_type_names_its_row_and_field_only(written, tmp_path):
    scenario, _ = written
    plan = _tampered(written, tmp_path, "ev_schedule", 6, "power_kw", "abc")
    ev_id = pd.read_csv(plan / "ev_schedule.csv").ev_id.iat[6]
    before = _digest(plan)
    res = _validate(plan, scenario)
    assert res.exit_code == 1
    lines = [line.strip() for line in res.stderr.splitlines()[1:]]
    assert lines == [f"ev_schedule.csv row 7 (ev_id={ev_id}): power_kw: 'abc' is not of type 'number'"]
    assert _digest(plan) == before


def test_a_charger_limit_exceeded_names_its_row_and_field(written, tmp_path):
    scenario, plan = written
    schedule = pd.read_csv(plan / "ev_schedule.csv")
    row = int(schedule.index[(schedule.ev_id == "E1") & (schedule.power_kw > 0)][0])   # E1: max_power_kw 7
    bad = _tampered(written, tmp_path, "ev_schedule", row, "power_kw", "9.500000")
    res = _validate(bad, scenario)
    assert res.exit_code == 1
    slot = schedule.slot_start.iat[row]
    assert (f"ev_schedule.csv row {row + 1} (ev_id=E1, slot_start={slot}): power_kw: EV power above max_power_kw "
            "(1 case(s) in all)") in res.stderr
    # the other tables no longer add up with it, each named at its own row and field
    assert "evs.csv row 1 (ev_id=E1): delivered_kwh: evs.csv delivered_kwh differs from the schedule" in res.stderr
    assert "transformer_load.csv row " in res.stderr and ": ev_kw: ev_kw differs from the EV schedule" in res.stderr


def test_a_transformer_limit_exceeded_names_its_row_and_field(written, tmp_path):
    scenario, plan = written
    load = pd.read_csv(plan / "transformer_load.csv")
    row = 40
    tid, slot, limit = load.transformer_id.iat[row], load.slot_start.iat[row], load.limit_kw.iat[row]
    bad = _tampered(written, tmp_path, "transformer_load", row, "net_load_kw", f"{limit + 50:.6f}")
    res = _validate(bad, scenario)
    assert res.exit_code == 1
    where = f"transformer_load.csv row {row + 1} (transformer_id={tid}, slot_start={slot}): net_load_kw: "
    assert where + "net load above limit_kw without reported overload" in res.stderr
    assert where + "net_load_kw != base + ev + battery - pv + site" in res.stderr


def test_schema_problems_of_several_files_and_kpis(written, tmp_path):
    scenario, _ = written
    plan = _tampered(written, tmp_path, "evs", 2, "unmet_kwh", "-1")
    (plan / "batteries.csv").unlink()
    kpis = (plan / "kpis.json").read_text().replace('"status": "optimal"', '"status": "fine"')
    (plan / "kpis.json").write_text(kpis)
    check = check_plan_folder(plan, load_scenario(scenario))
    assert not check.physical                      # the tables are not read as numbers before the schema passes
    assert "evs.csv row 3 (ev_id=E3): unmet_kwh: -1.0 is less than the minimum of 0" in check.problems
    assert any(p.startswith("batteries.csv: file not found") for p in check.problems)
    assert any(p.startswith("kpis.json: status: 'fine' is not one of") for p in check.problems)


def test_every_finding_of_the_validity_check_has_its_file_and_field():
    """Each ``_first(..., what)`` of plan/validity.py is in FINDINGS: its messages get a row."""
    tree = ast.parse(inspect.getsource(validity))
    whats = {node.args[2].value for node in ast.walk(tree) if isinstance(node, ast.Call)
             and getattr(node.func, "id", "") == "_first" and len(node.args) == 3
             and isinstance(node.args[2], ast.Constant)}
    assert len(whats) > 20 and whats <= set(FINDINGS), sorted(whats - set(FINDINGS))


def test_a_partitioned_plan_is_checked_as_its_csv_plan(written, tmp_path):
    scenario, _ = written
    out = tmp_path / "parts"
    res = runner.invoke(app, ["plan", str(scenario), "--out", str(out), "--no-report", "--partition-rows", "50",
                              "--csv-max-rows", "0"])
    assert res.exit_code == 0, res.output
    assert (out / "ev_schedule").is_dir() and not (out / "ev_schedule.csv").exists()
    check = check_plan_folder(out, load_scenario(scenario))
    assert check.problems == [] and check.physical and check.tables["ev_schedule"] > 50
