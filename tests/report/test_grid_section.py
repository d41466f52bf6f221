"""The report's LV-grid section: shown with a grid, with the weakest bus and the uncontrolled comparison."""

from __future__ import annotations

from grid_factory import two_bus_grid
from scenario_factory import TRANSFORMERS, base_load_frame, write_scenario
from vpp_sched.plan.planner import plan_day
from vpp_sched.report.grid_section import grid_section
from vpp_sched.report.plan_report import render_report


def test_grid_section_lists_the_weakest_bus(tmp_path):
    two_bus_grid(tmp_path / "grids" / "two", length_km=0.6)
    run = plan_day(write_scenario(tmp_path, transformers=TRANSFORMERS.assign(grid=["grids/two/", ""]),
                                  base_load=base_load_frame(TRANSFORMERS, peak_share=0.25)))
    key, title, body = grid_section(run)
    low = run.plan.grid_buses.sort_values("vm_pu").iloc[0]
    assert key == "grids" and f"{low.vm_pu:.4f}" in body and "uncontrolled" in body
    assert "LV grids (AC power flow)" in render_report(run)
    b = run.plan.grid_buses
    weakest_phase = b[["vm_a_pu", "vm_b_pu", "vm_c_pu"]].min().min()       # the three-phase flow's weakest phase
    assert "Weakest phase voltages" in body and f"{weakest_phase:.4f}" in body
    assert "lowest phase voltage" in body and "voltage unbalance" in body


def test_no_grid_no_section(tmp_path):
    run = plan_day(write_scenario(tmp_path))
    assert grid_section(run) is None and "LV grids" not in render_report(run)
