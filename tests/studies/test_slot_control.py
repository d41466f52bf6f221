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
from vpp_sched.studies import slot_control
from vpp_sched.studies.replay import simulate
from vpp_sched.studies.slot_control import (controlled_kw, fit_tiers_to_headroom, must_charge_kw,
                                           battery_relief_kw, soon_charge_kw)

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
    must, rest = fit_tiers_to_headroom([np.array([4.0, 0.0, 1.0]), np.array([2.0, 6.0, 3.0])], np.array([0, 0, 1]),
                                       np.array([8.0, -5.0]))
    assert must == pytest.approx([4.0, 0.0, 0.0])            # transformer 1 has no headroom: all cut
    assert rest == pytest.approx([1.0, 3.0, 0.0])            # 4 kW left for 8 kW asked: half each
    must, rest = fit_tiers_to_headroom([np.array([6.0, 2.0]), np.array([1.0, 1.0])], np.array([0, 0]), np.array([4.0]))
    assert must == pytest.approx([3.0, 1.0]) and rest == pytest.approx([0.0, 0.0])
    ev, swap = controlled_kw(np.array([20.0]), np.array([12.0]),
                             [(np.array([2.0]), np.array([1.0]), np.array([0])),     # want raised to must
                              (np.zeros(1), np.array([12.0]), np.array([0]))])
    assert ev == pytest.approx([2.0]) and swap == pytest.approx([6.0])


def test_look_ahead_charges_now_what_the_later_room_cannot_take_least_laxity_first():
    dt = 0.25
    # transformer 0: A 2 kWh and B 3 kWh, 2 slots each at 8 kW; the next slot has 8 kW of room (2 kWh).
    # B must take 1 kWh now (4 kW); the two slots must give 5 kWh, the later one 2: 3 kWh now = 12 kW,
    # 8 kW beyond B's must, B first (laxity 2 - 1.5 = 0.5 against A's 1): B up to 8 kW (+4), A the other 4.
    # transformer 1: C alone with room to spare: nothing ahead. D asks more than its stay takes
    # (10 kWh, 2 slots): its due is its stay at full power, which the must already gives.
    need = np.array([2.0, 3.0, 2.0, 10.0])
    k, pmax, group = np.array([2, 2, 2, 2]), np.full(4, 8.0), np.array([0, 0, 1, 2])
    must = must_charge_kw(need, k, pmax, dt)
    assert must == pytest.approx([0.0, 4.0, 0.0, 8.0])
    room = np.array([[8.0, 0.0], [20.0, 0.0], [8.0, 0.0]])
    assert soon_charge_kw(need, k, pmax, must, group, room, dt) == pytest.approx([4.0, 4.0, 0.0, 0.0])
    # the later room shared: A alone on transformer 0 with 4 kW (1 kWh) later needs 1 kWh now
    assert soon_charge_kw(need[:1], k[:1], pmax[:1], must[:1], group[:1], np.array([[4.0]]), dt) == \
        pytest.approx([4.0])
    # not plugged in (0 slots left) or nothing needed: nothing
    assert soon_charge_kw(np.array([2.0, 0.0]), np.array([0, 3]), np.full(2, 8.0), np.zeros(2), np.zeros(2, int),
                          np.zeros((1, 3)), dt) == pytest.approx([0.0, 0.0])


def test_tiers_are_served_in_order_each_scaled_by_one_factor():
    # 10 kW: must 4 (fits), soon 2 + 2 (fits), rest 3 + 1 gets the 2 kW left: half each
    must, soon, rest = fit_tiers_to_headroom([np.array([4.0, 0.0]), np.array([2.0, 2.0]), np.array([3.0, 1.0])],
                                             np.array([0, 0]), np.array([10.0]))
    assert must == pytest.approx([4.0, 0.0]) and soon == pytest.approx([2.0, 2.0])
    assert rest == pytest.approx([1.5, 0.5])
    # 5 kW: soon scaled to the 1 kW the must left, the rest nothing
    must, soon, rest = fit_tiers_to_headroom([np.array([4.0, 0.0]), np.array([2.0, 2.0]), np.array([3.0, 1.0])],
                                             np.array([0, 0]), np.array([5.0]))
    assert must == pytest.approx([4.0, 0.0]) and soon == pytest.approx([0.5, 0.5]) and rest == pytest.approx([0, 0])
    ev, = controlled_kw(np.array([10.0]), np.array([5.0]),
                        [(np.array([1.0]), np.array([2.0]), np.array([0.5]), np.array([0]))])   # want raised
    assert ev == pytest.approx([3.0])


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


def test_an_early_departure_is_caught_up(tmp_path, monkeypatch):
    monkeypatch.setattr(slot_control, "EARLY_LAXITY_SLOTS", 0.0)   # catch-up alone (early fill: test_early_fill.py)
    # planned at the cheap 20:00-22:00; the driver states 19:00 at plug-in: 3 whole slots at 5 kW
    def leaves_early(evs, sc):
        evs["departure"] = pd.Timestamp("2026-11-27T19:00", tz=sc.tz)
        return evs
    ctx, runs = _played(tmp_path, [_ev("E1", energy=10.0, pmax=5.0)], leaves_early)
    assert runs[False].delivered_kwh == pytest.approx([0.0])
    assert runs[True].delivered_kwh == pytest.approx([10.0])
    assert runs[True].ev_kw[0] == pytest.approx([0, 5, 5, 0, 0, 0, 0, 0])   # as late as it can


def test_the_metered_base_load_caps_the_chargers(tmp_path, monkeypatch):
    monkeypatch.setattr(slot_control, "EARLY_LAXITY_SLOTS", 0.0)   # catch-up alone (early fill: test_early_fill.py)
    # plan: both EVs at 5 kW 20:00-22:00 (base 10 + 10 = the 20 kW limit); at 20:00 the base is 16 kW
    base = [10.0] * 4 + [16.0] + [10.0] * 3
    ctx, runs = _played(tmp_path, [_ev("E1", energy=10.0, pmax=5.0), _ev("E2", energy=10.0, pmax=5.0)],
                        base_kw=base)
    assert runs[False].net_load_kw[0, 4] == pytest.approx(26.0)
    ctl = runs[True]
    assert ctl.net_load_kw[0].max() <= 20.0 + 1e-9
    # 4 kW of headroom. The look-ahead expects the 6 kW error to carry on (x 0.75 a slot): later room
    # 20 - 10 (1 + 0.6 * 0.75^j) = 5.5, 6.625, 7.46875 kW (19.59375 kWh) for the 20 kWh both need in
    # the 4 slots: 0.40625 kW now to E1 (the tie goes to the first), the other 3.59375 kW scaled on
    # the rest, 4.59375 and 5 kW asked
    rest = 3.59375 / 9.59375
    assert ctl.ev_kw[:, 4] == pytest.approx([0.40625 + 4.59375 * rest, 5.0 * rest])
    e1 = 0.40625 + 4.59375 * rest
    assert ctl.ev_kw[:, 7] == pytest.approx([5.0 - e1, 5.0 - (4.0 - e1)])   # caught up in the last slot
    assert ctl.delivered_kwh == pytest.approx([10.0, 10.0])


def test_an_unannounced_ev_is_charged_before_the_evening_fills_the_transformer(tmp_path):
    # 20 kW limit; base 10 kW until 20:00, then 18 kW (forecast and metered): 2 kW of room at night.
    # E2 is not forecast: it plugs in at 16:00 for 10 kWh by 24:00 at 5 kW. Catch-up alone waits until
    # 22:00 and then finds 2 kW (4 kWh); the look-ahead sees the 2 kW nights and starts at 19:00
    # (10 kWh - 4 x 2 kWh = 2 kW), so the driver gets the 10 kWh uncontrolled charging gives.
    base = [10.0] * 4 + [18.0] * 4

    def unannounced(evs, sc):
        extra = pd.DataFrame([_ev("E2", energy=10.0, pmax=5.0)])
        for col in ("arrival", "departure"):
            extra[col] = pd.to_datetime(extra[col]).dt.tz_localize(sc.tz)
        return pd.concat([evs, extra[evs.columns]], ignore_index=True)
    trafos = _trafos(("T1", 20.0))
    folder = write_scenario(tmp_path / "sc", yaml_overrides=_yaml(tariff=TARIFF), transformers=trafos,
                            evs=pd.DataFrame([_ev("E1", energy=1.0, pmax=5.0)]), base_load=_base(trafos, base))
    sc = load_scenario(folder)
    fc = forecast_as_actuals(sc)
    ctx = make_context(sc, Actuals(evs=unannounced(fc.evs.copy(), sc), base_load_kw=fc.base_load_kw, source="t"),
                       EXACT, "lean")
    start = window_problem(ctx, 0, np.zeros(len(ctx.fleet.ev_ids)), ctx.problem.battery_soc_initial_kwh,
                           use_actuals=False)
    run = simulate(ctx, "test", (start, solve(start, EXACT, method="lean")), {}, slot_control=True)
    e2 = list(ctx.fleet.ev_ids).index("E2")
    assert run.delivered_kwh[e2] == pytest.approx(10.0)
    assert run.ev_kw[e2, :3] == pytest.approx([0.0, 0.0, 0.0])             # no earlier than it must
    assert run.net_load_kw[0].max() <= 20.0 + 1e-9


def test_the_overload_allowance_is_for_the_evs_catch_up_only():
    limit, other = np.array([100.0]), np.array([98.0])        # 2 kW of headroom
    evs = (np.array([5.0, 0.0]), np.array([5.0, 3.0]), np.array([0, 0]))   # E1 must 5 kW, E2 wants 3 kW
    fast = (np.array([4.0]), np.array([4.0]), np.array([0]))               # a fast cap that must keep 4 kW
    ev, cap = controlled_kw(limit, other, [evs, fast])
    assert ev.sum() + cap.sum() == pytest.approx(2.0)        # off: the limit, must tier scaled by 2/9
    assert ev == pytest.approx([5 * 2 / 9, 0.0]) and cap == pytest.approx([4 * 2 / 9])
    # 10 % (10 kW) allowed: the EV's must not served below the limit (5 - 10/9 kW) fits above it; the
    # fast cap keeps its share below the limit, E2 (no must) nothing
    ev, cap = controlled_kw(limit, other, [evs, fast], catch_up_overload_pct=10.0)
    assert ev == pytest.approx([5.0, 0.0]) and cap == pytest.approx([4 * 2 / 9])
    # 2 % (2 kW): the EV gets 2 kW more than below the limit
    ev, cap = controlled_kw(limit, other, [evs, fast], catch_up_overload_pct=2.0)
    assert ev == pytest.approx([5 * 2 / 9 + 2.0, 0.0]) and cap == pytest.approx([4 * 2 / 9])
    # no EV catch-up: a fast cap alone gets no allowance
    ev, cap = controlled_kw(limit, other, [(np.zeros(2), evs[1], evs[2]), fast], catch_up_overload_pct=10.0)
    assert ev == pytest.approx([0.0, 0.0]) and cap == pytest.approx([2.0])


def test_a_site_battery_charges_less_then_discharges_for_the_catch_up():
    # transformer 0 lacks 40 kW: its battery charging 30 kW stops and discharges 10; transformer 1 lacks
    # nothing: its battery keeps charging; transformer 2 lacks 10 kW, its battery discharges 20 of at most 25
    ch, dis = battery_relief_kw(np.array([40.0, -5.0, 10.0]), np.array([0, 1, 2]), np.array([30.0, 30.0, 0.0]),
                                np.array([0.0, 0.0, 20.0]), np.array([50.0, 50.0, 25.0]))
    assert ch == pytest.approx([0.0, 30.0, 0.0]) and dis == pytest.approx([10.0, 0.0, 25.0])


def test_the_evs_catch_up_takes_what_a_fast_cap_keeps_above_its_drivers_draw():
    # 40 kW of headroom; E1 must 30 kW, the fast station must keep a 20 kW cap and its drivers draw 12 kW
    limit, other = np.array([100.0]), np.array([60.0])
    evs = (np.array([30.0]), np.array([30.0]), np.array([0]))
    fast = (np.array([20.0]), np.array([20.0]), np.array([0]))
    ev, cap = controlled_kw(limit, other, [evs, fast])
    assert ev == pytest.approx([24.0]) and cap == pytest.approx([16.0])     # the cap counted in full: both x 0.8
    ev, cap = controlled_kw(limit, other, [evs, fast], draw_most_kw=[None, np.array([12.0])])
    # the kept 16 kW cap draws 12: E1 gets the 4 kW it holds free, the metered load is the limit
    assert ev == pytest.approx([28.0]) and cap == pytest.approx([16.0])
    assert other[0] + ev[0] + min(cap[0], 12.0) == pytest.approx(100.0)
    # drivers drawing the whole cap: nothing held free, nothing changes
    ev, cap = controlled_kw(limit, other, [evs, fast], draw_most_kw=[None, np.array([25.0])])
    assert ev == pytest.approx([24.0]) and cap == pytest.approx([16.0])
    # the look-ahead power takes it too, after the must; the plan's rest does not: E1 must 10, soon 20,
    # E2 wants 5 (rest); the cap's 20 kW draw 5: the soon tier gets 10 below the limit, 10 more from the 15 held
    evs2 = (np.array([10.0, 0.0]), np.array([20.0, 0.0]), np.array([30.0, 5.0]), np.array([0, 0]))
    ev, cap = controlled_kw(limit, other, [evs2, fast], draw_most_kw=[None, np.array([5.0])])
    assert ev == pytest.approx([30.0, 0.0]) and cap == pytest.approx([20.0])
    # with the allowance: the reserve first, the rest of the must above the limit (5 % = 5 kW)
    big = (np.array([40.0]), np.array([40.0]), np.array([0]))
    ev, cap = controlled_kw(limit, other, [big, fast], 5.0, [None, np.array([12.0])])
    # below the limit 40 x 40/60: E1 26.67, cap 13.33 (draws 12: 1.33 free); E1 26.67 + 1.33 + 5 = 33 kW
    assert ev == pytest.approx([40 * 40 / 60 + (20 * 40 / 60 - 12.0) + 5.0]) and cap == pytest.approx([20 * 40 / 60])


def test_a_site_battery_is_not_drained_for_what_a_fast_cap_holds_free():
    from types import SimpleNamespace
    from vpp_sched.studies.slot_control import relieve_batteries
    p = SimpleNamespace(n_batteries=1, n_transformers=1, limit_kw=np.array([100.0]), station_transformer=np.array([0]),
                        battery_station=np.array([0]), battery_max_discharge_kw=np.array([50.0]),
                        battery_soc_min_kwh=np.array([0.0]), battery_discharge_efficiency=np.array([1.0]), dt_h=0.25)
    loads = [(np.array([30.0]), np.zeros(1), np.array([30.0]), np.array([0])),
             (np.array([20.0]), np.array([20.0]), np.array([0]))]
    # 10 kW short below the limit: the battery discharges 10 kW; with 4 kW held free by the cap, 6 kW
    _, dis, other = relieve_batteries(p, loads, np.array([60.0]), np.zeros(1), np.zeros(1), np.array([100.0]))
    assert dis == pytest.approx([10.0]) and other == pytest.approx([50.0])
    _, dis, _ = relieve_batteries(p, loads, np.array([60.0]), np.zeros(1), np.zeros(1), np.array([100.0]), np.array([4.0]))
    assert dis == pytest.approx([6.0])


def test_the_look_ahead_expects_the_fast_drivers_rate_error_to_carry_on():
    from types import SimpleNamespace
    from vpp_sched.studies.slot_control import expected_fast_draw_kw
    # forecast 2 drivers/h x 30 kWh = 60 kW in every slot; now they draw 90 kW (+50 %): later slots expect
    # 60 x (1 + 0.5 x 0.9^j), at most the dispensers' 85 kW; a station with no forecast expects nothing
    st = SimpleNamespace(fast_arrivals_per_h=np.array([[2.0] * 4, [0.0] * 4]), fast_mean_energy_kwh=np.full((2, 4), 30.0),
                         fast_max_kw=np.array([85.0, 85.0]))
    got = expected_fast_draw_kw(st, np.array([90.0, 5.0]), 0, 0.9)
    assert got[0] == pytest.approx([85.0, 60 * (1 + 0.5 * 0.81), 60 * (1 + 0.5 * 0.729)])
    assert got[1] == pytest.approx([0.0, 0.0, 0.0])
    # fewer drivers than forecast (-100 %): the error decays back towards the forecast
    assert expected_fast_draw_kw(st, np.array([0.0, 0.0]), 1, 0.5)[0] == pytest.approx([30.0, 45.0])
