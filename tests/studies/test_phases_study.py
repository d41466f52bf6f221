"""``suggest_phases``: a charger the rule puts beside a fixed one is moved to a free phase."""

from __future__ import annotations

from grid_factory import two_bus_grid
from scenario_factory import EVS, TRANSFORMERS, write_scenario
from vpp_sched.scenario.load import load_scenario
from vpp_sched.studies.phases import suggest_phases


def test_suggestion_spreads_the_chargers_the_rule_stacks(tmp_path):
    two_bus_grid(tmp_path / "grids" / "two")
    folder = write_scenario(tmp_path, transformers=TRANSFORMERS.assign(grid=["grids/two/", ""]),
                            evs=EVS.assign(phase=["a", "", "", "", ""]))
    assignments, summary = suggest_phases(load_scenario(folder))
    got = dict(zip(assignments.ev_id, zip(assignments.phase_rule, assignments.phase_suggested)))
    assert got == {"E2": ("a", "b"), "E3": ("b", "c")}      # E1 keeps its given a; E2 is the larger energy
    row = summary.iloc[0]
    assert row.transformer_id == "T1" and row.evs_moved == 2
    assert row.worst_unbalance_suggested_pct < row.worst_unbalance_rule_pct - 1
