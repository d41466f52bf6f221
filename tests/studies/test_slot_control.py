"""The charging platform's slot controller (studies/slot_control.py): catch-up and headroom cap.

Hand-checkable numbers, then the 16:00-24:00 hourly horizon of ``test_planner`` (10 kW base load,
0.9 CNY/kWh until 20:00, 0.3 after) played by ``simulate`` with and without the controller.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scenario_factory import write_scenario
from test_planner import _base, _ev, _trafos, _yaml
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.scenario.load import load_scenario
from vpp_sched.solve.dispatch import solve
from vpp_sched.studies.actuals import Actuals, forecast_as_actuals, make_context, window_problem
from vpp_sched.studies.replay import simulate
from vpp_sched.studies.slot_control import controlled_kw, fit_to_headroom, must_charge_kw, swap_state_after_cut

EXACT = SolverOptions(mip_rel_gap=0.0, time_limit_s=30)


def test_must_charge_is_what_the_later_slots_cannot_give():
    # 3 kWh in 2 slots of 15 min at 8 kW: the next slot gives 2 kWh, so 1 kWh now = 4 kW
    assert must_charge_kw(np.array([3.0]), np.array([2]), np.array([8.0]), 0.25) == pytest.approx([4.0])
    # more than the stay can give: full power; enough time: nothing; last slot: all that is left
    got = must_charge_kw(np.array([5.0, 1.0, 1.5]), np.array([2, 4, 1]), np.array([8.0, 8.0, 8.0]), 0.25)
    assert got == pytest.approx([8.0, 0.0, 6.0])
    # one slot ahead: 1 kWh in 3 slots counts on one later slot only: (1 - 2) < 0 -> 0; 3 kWh -> 4 kW
    assert must_charge_kw(np.array([1.0, 3.0]), np.array([3, 3]), np.array([8.0, 8.0]), 0.25,
                          ahead_slots=1) == pytest.approx([0.0, 4.0])


def test_headroom_serves_the_must_power_first_then_scales_the_rest():
    must, rest = fit_to_headroom(np.array([4.0, 0.0, 1.0]), np.array([2.0, 6.0, 3.0]), np.array([0, 0, 1]),
                                 np.array([8.0, -5.0]))
    assert must == pytest.approx([4.0, 0.0, 0.0])            # transformer 1 has no headroom: all cut
    assert rest == pytest.approx([1.0, 3.0, 0.0])            # 4 kW left for 8 kW asked: half each
    must, rest = fit_to_headroom(np.array([6.0, 2.0]), np.array([1.0, 1.0]), np.array([0, 0]), np.array([4.0]))
    assert must == pytest.approx([3.0, 1.0]) and rest == pytest.approx([0.0, 0.0])
    ev, swap = controlled_kw(np.array([20.0]), np.array([12.0]),
                             [(np.array([2.0]), np.array([1.0]), np.array([0])),     # want raised to must
                              (np.zeros(1), np.array([12.0]), np.array([0]))])
    assert ev == pytest.approx([2.0]) and swap == pytest.approx([6.0])


def test_swap_packs_not_charged_come_off_the_stock():
    # 9 kWh not stored (40 kW x 0.9 x 0.25 h) come off the 10 kWh in the packs not full
    full, partial = swap_state_after_cut(np.array([3.0]), np.array([10.0]), np.array([40.0]), np.array([0.9]),
                                         np.array([50.0]), 0.25)
    assert full == pytest.approx([3.0]) and partial == pytest.approx([1.0])
    # 22.5 kWh: one full pack becomes partial (10 + 50 - 22.5 = 37.5 kWh left in the partial ones)
    full, partial = swap_state_after_cut(np.array([3.0]), np.array([10.0]), np.array([100.0]), np.array([0.9]),
                                         np.array([50.0]), 0.25)
    assert full == pytest.approx([2.0]) and partial == pytest.approx([37.5])
    full, partial = swap_state_after_cut(np.array([3.0]), np.array([-1e-12]), np.array([0.0]), np.array([0.9]),
                                         np.array([50.0]), 0.25)
    assert full[0] == 3.0 and partial[0] == -1e-12          # no cut: the plan's state as it is


TARIFF = {"periods": [{"start": "00:00", "end": "20:00", "price_cny_per_kwh": 0.9},
                      {"start": "20:00", "end": "22:00", "price_cny_per_kwh": 0.3},
                      {"start": "22:00", "end": "24:00", "price_cny_per_kwh": 0.6}]}


def _played(tmp_path, evs, actual_evs=None, base_kw=None):
    trafos = _trafos(("T1", 20.0))
    folder = write_scenario(tmp_path / "sc", yaml_overrides=_yaml(tariff=TARIFF), transformers=trafos,
                            evs=pd.DataFrame(evs),
                            base_load=_base(trafos))
    sc = load_scenario(folder)
    fc = forecast_as_actuals(sc)
    evs_a = fc.evs if actual_evs is None else actual_evs(fc.evs.copy(), sc)
    base = fc.base_load_kw.copy()
    if base_kw is not None:
        base.iloc[:, 0] = base_kw
    ctx = make_context(sc, Actuals(evs=evs_a, base_load_kw=base, source="test"), EXACT, "lean")
    start = window_problem(ctx, 0, np.zeros(len(ctx.fleet.ev_ids)), ctx.problem.battery_soc_initial_kwh,
                           use_actuals=False)
    plan = solve(start, EXACT, method="lean")
    return ctx, {on: simulate(ctx, "test", (start, plan), {}, slot_control=on) for on in (False, True)}


def test_an_early_departure_is_caught_up(tmp_path):
    # planned at the cheap 20:00-22:00; the driver states 19:00 at plug-in: 3 whole slots at 5 kW
    def leaves_early(evs, sc):
        evs["departure"] = pd.Timestamp("2026-11-27T19:00", tz=sc.tz)
        return evs
    ctx, runs = _played(tmp_path, [_ev("E1", energy=10.0, pmax=5.0)], leaves_early)
    assert runs[False].delivered_kwh == pytest.approx([0.0])
    assert runs[True].delivered_kwh == pytest.approx([10.0])
    assert runs[True].ev_kw[0] == pytest.approx([0, 5, 5, 0, 0, 0, 0, 0])   # as late as it can


def test_the_metered_base_load_caps_the_chargers(tmp_path):
    # plan: both EVs at 5 kW 20:00-22:00 (base 10 + 10 = the 20 kW limit); at 20:00 the base is 16 kW
    base = [10.0] * 4 + [16.0] + [10.0] * 3
    ctx, runs = _played(tmp_path, [_ev("E1", energy=10.0, pmax=5.0), _ev("E2", energy=10.0, pmax=5.0)],
                        base_kw=base)
    assert runs[False].net_load_kw[0, 4] == pytest.approx(26.0)
    ctl = runs[True]
    assert ctl.net_load_kw[0].max() <= 20.0 + 1e-9
    assert ctl.ev_kw[:, 4] == pytest.approx([2.0, 2.0])             # 4 kW of headroom, half each
    assert ctl.ev_kw[:, 7] == pytest.approx([3.0, 3.0])             # caught up in the last slot
    assert ctl.delivered_kwh == pytest.approx([10.0, 10.0])
