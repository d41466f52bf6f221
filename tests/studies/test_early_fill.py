"""The slot controller's early fill: an EV with little laxity charges where the limit leaves room
(``slot_control.early_fill_kw``, ``models/uncertainty.md``, "The slot controller", step 5)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scenario_factory import write_scenario
from test_planner import _base, _ev, _trafos, _yaml
from test_slot_control import EXACT, TARIFF
from vpp_sched.scenario.load import load_scenario
from vpp_sched.solve.dispatch import solve
from vpp_sched.studies import slot_control
from vpp_sched.studies.actuals import Actuals, forecast_as_actuals, make_context, window_problem
from vpp_sched.studies.replay import simulate, uncontrolled_run
from vpp_sched.studies.slot_control import early_fill_kw


def test_the_headroom_left_goes_to_the_least_laxity_first_each_up_to_full_power():
    # one transformer, 6 kW left; E0 laxity 1 slot, E1 laxity 3, E2 laxity 9 (above the 4 asked), E3 not plugged
    need = np.array([4.0, 5.0, 1.0, 5.0])          # over one slot [kW]
    slots_left = np.array([5, 4, 10, 2])
    pmax = np.array([5.0, 5.0, 10.0, 5.0])
    ev = np.array([1.0, 0.0, 0.0, 0.0])
    plugged = np.array([True, True, True, False])
    got = early_fill_kw(np.array([6.0]), ev, need, slots_left, pmax, plugged, np.zeros(4, int), laxity_slots=4.0)
    # E0: laxity 5 - 4/5 = 4.2 > 4; E1: 4 - 1 = 3 -> first, up to min(5, 5) - 0; E2: 10 - 0.1 > 4
    assert got == pytest.approx([0.0, 5.0, 0.0, 0.0])
    got = early_fill_kw(np.array([6.0]), ev, need, slots_left, pmax, plugged, np.zeros(4, int), laxity_slots=4.5)
    assert got == pytest.approx([1.0, 5.0, 0.0, 0.0])   # E1 first (least laxity), E0 gets the 1 kW left
    # off (0) or no headroom left: nothing
    assert early_fill_kw(np.array([6.0]), ev, need, slots_left, pmax, plugged, np.zeros(4, int), 0.0) == pytest.approx(0)
    assert early_fill_kw(np.array([-2.0]), ev, need, slots_left, pmax, plugged, np.zeros(4, int), 9.0) == pytest.approx(0)


def _deferred_then_spike(tmp_path):
    """20 kW limit, base 10 kW forecast; E1 wants 20 kWh at 5 kW in 16:00-24:00 (laxity 4 slots), so the plan
    puts it in the cheap 20:00-24:00. Metered, the base load jumps to 18 kW at 22:00, which no look-ahead
    sees at 21:00 (the base load was as forecast then)."""
    trafos = _trafos(("T1", 20.0))
    folder = write_scenario(tmp_path / "sc", yaml_overrides=_yaml(tariff=TARIFF), transformers=trafos,
                            evs=pd.DataFrame([_ev("E1", energy=20.0, pmax=5.0)]), base_load=_base(trafos))
    sc = load_scenario(folder)
    fc = forecast_as_actuals(sc)
    base = fc.base_load_kw.copy()
    base.iloc[:, 0] = [10.0] * 6 + [18.0] * 2
    ctx = make_context(sc, Actuals(evs=fc.evs, base_load_kw=base, source="test"), EXACT, "lean")
    start = window_problem(ctx, 0, np.zeros(len(ctx.fleet.ev_ids)), ctx.problem.battery_soc_initial_kwh,
                           use_actuals=False)
    return ctx, (start, solve(start, EXACT, method="lean"))


def test_an_ev_with_little_laxity_charges_before_a_base_load_spike_only_with_the_early_fill(tmp_path, monkeypatch):
    ctx, plan = _deferred_then_spike(tmp_path)
    assert uncontrolled_run(ctx).delivered_kwh == pytest.approx([20.0])
    monkeypatch.setattr(slot_control, "EARLY_LAXITY_SLOTS", 0.0)
    off = simulate(ctx, "test", plan, {}, slot_control=True)
    # 20:00 and 21:00 at 5 kW as planned, then 2 kW of room in each of the last two slots: 6 kWh short
    assert off.delivered_kwh == pytest.approx([14.0])
    monkeypatch.setattr(slot_control, "EARLY_LAXITY_SLOTS", 4.0)
    on = simulate(ctx, "test", plan, {}, slot_control=True)
    assert on.delivered_kwh == pytest.approx([20.0])                 # what uncontrolled charging gives
    assert on.ev_kw[0, :4] == pytest.approx([5.0] * 4)              # 16:00-20:00, within the limit
    assert on.net_load_kw[0].max() <= 20.0 + 1e-9
    monkeypatch.setattr(slot_control, "EARLY_LAXITY_SLOTS", 2.0)
    # laxity 2 is reached at 18:00 (6 slots left for 4): 18:00 and 19:00, then the plan's 20:00 and 21:00
    late = simulate(ctx, "test", plan, {}, slot_control=True)
    assert late.ev_kw[0, :6] == pytest.approx([0.0, 0.0, 5.0, 5.0, 5.0, 5.0])
    assert late.delivered_kwh == pytest.approx([20.0])
