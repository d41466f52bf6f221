"""A plan says in its warnings what its LV grids' KPIs hold: limits still breached after the grid
iterations, and the priced soft limits it used (unbalance slack, a phase above its third)."""

from __future__ import annotations

from vpp_sched.plan.grid_output import grid_warnings

CLEAN = {"undervoltage_bus_slots": 0, "overvoltage_bus_slots": 0, "overloaded_line_slots": 0,
         "phase_undervoltage_bus_slots": 0, "phase_overvoltage_bus_slots": 0,
         "transformers_beyond_grid_limits": [], "unbalance_slots_above_limit": 0, "unbalance_slack_kwh": 0.0,
         "phase_overload_slots": 0, "phase_overload_kwh": 0.0}


def test_a_grid_within_every_limit_gives_no_warning():
    assert grid_warnings(CLEAN, iterations=0) == []
    assert grid_warnings({}, iterations=0) == []          # a grid without phase rows has fewer KPIs


def test_breaches_left_after_the_iterations_are_counted_by_kind():
    kpis = dict(CLEAN, undervoltage_bus_slots=3, phase_undervoltage_bus_slots=1, overloaded_line_slots=2,
                transformers_beyond_grid_limits=["T2", "T7"])
    (said,) = grid_warnings(kpis, iterations=2)
    assert said == ("LV grid limits breached after 2 grid iteration(s): 4 bus-slot(s) below and 0 above the "
                    "voltage band, 2 line-slot(s) above their loading limit, at T2, T7 (see grid_buses.csv, "
                    "grid_lines.csv)")


def test_the_soft_phase_limits_used_are_each_one_line_beside_uncontrolled_charging():
    kpis = dict(CLEAN, unbalance_slots_above_limit=273, unbalance_slack_kwh=41.26, phase_overload_slots=4,
                phase_overload_kwh=2.0)
    unbalance, phase = grid_warnings(kpis, iterations=0)
    assert unbalance.startswith("phase unbalance above its limit in 273 transformer-slot(s), priced slack 41.3 kWh")
    assert phase.startswith("a phase above a third of its transformer's limit in 4 transformer-slot(s), 2.0 kWh")
    unbalance, phase = grid_warnings(kpis, iterations=0, uncontrolled=dict(CLEAN, unbalance_slots_above_limit=840))
    assert unbalance.startswith("phase unbalance above its limit in 273 transformer-slot(s) (uncontrolled charging: "
                                "840), priced slack 41.3 kWh")
    assert "(uncontrolled charging: 0), 2.0 kWh" in phase
