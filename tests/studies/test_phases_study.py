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
    # judged by the three-phase flow too: spreading the chargers lifts the weakest phase and lowers the
    # voltage unbalance, and the suggestion is never worse than the rule on either
    assert row.lowest_phase_vm_suggested_pu > row.lowest_phase_vm_rule_pu
    assert row.worst_voltage_unbalance_suggested_pct < row.worst_voltage_unbalance_rule_pct
    assert row.chosen in ("power", "drop")


def test_suggestion_never_lowers_the_weakest_phase():
    from vpp_sched.studies.phases import _choose

    rule, power, drop = (30.0, 0.95, 1.0), (20.0, 0.94, 0.8), (25.0, 0.96, 0.9)
    assert _choose([rule, power, drop]) == 2          # the drop rule: less unbalance and a higher voltage
    assert _choose([rule, power]) == 0                # less unbalance but a lower phase voltage: keep the rule
    assert _choose([rule, (20.0, 0.95 + 5e-5, 0.8)]) == 1   # voltage tied: the lower unbalance
