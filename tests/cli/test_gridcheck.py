"""``vpp-sched gridcheck`` reproduces the grid tables of a written plan; bad folders are one line."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from grid_factory import two_bus_grid
from scenario_factory import TRANSFORMERS, base_load_frame, write_scenario
from vpp_sched.cli import app


def test_gridcheck_reproduces_the_plans_tables(tmp_path):
    two_bus_grid(tmp_path / "s" / "grids" / "two", length_km=0.6)
    scenario = write_scenario(tmp_path / "s", transformers=TRANSFORMERS.assign(grid=["grids/two/", ""]),
                              base_load=base_load_frame(TRANSFORMERS, peak_share=0.25))
    runner = CliRunner()
    planned = runner.invoke(app, ["plan", str(scenario), "--out", str(tmp_path / "plan"), "--no-report"])
    assert planned.exit_code == 0, planned.output
    res = runner.invoke(app, ["gridcheck", str(tmp_path / "plan"), "--scenario", str(scenario),
                              "--out", str(tmp_path / "check")])
    assert res.exit_code == 0, res.output
    assert "0 breach(es)" in res.output and "T1 B1 at" in res.output
    diff = float(res.output.split("largest difference ")[1].split(" pu")[0])
    assert diff < 1e-6                                    # the CSV's six digits
    mine = pd.read_csv(tmp_path / "check" / "grid_buses.csv")
    theirs = pd.read_csv(tmp_path / "plan" / "grid_buses.csv")
    assert len(mine) == len(theirs) == 3 * 96


def test_gridcheck_of_a_folder_that_is_no_plan(tmp_path):
    two_bus_grid(tmp_path / "s" / "grids" / "two")
    scenario = write_scenario(tmp_path / "s", transformers=TRANSFORMERS.assign(grid=["grids/two/", ""]))
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(app, ["gridcheck", str(tmp_path / "empty"), "--scenario", str(scenario)])
    assert res.exit_code == 1
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert lines[0] == "error: invalid input (1 problem):"
    assert len(lines) == 2 and "ev_schedule.csv: file not found" in lines[1] and "ev_schedule/" in lines[1]
