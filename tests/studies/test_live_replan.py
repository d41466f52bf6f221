"""A re-plan from live data by replay's machinery (what ``vpp-sched serve`` runs after a session or a meter value).

Hand-checkable cases on the 16:00-24:00 hourly horizon of ``test_planner`` (10 kW base load).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from test_planner import _battery_station, _ev
from test_replay import EVENING, _scenario
from vpp_sched.errors import InputError
from vpp_sched.plan.planner import plan_day
from vpp_sched.studies.live_replan import PlanState, plan_state, replan_rest_of_day

DAY = "2026-11-27T"


def _session(ev_id, arrival, departure, energy, status="active", ended_at=None, pmax=5.0):
    return {"ev_id": ev_id, "transformer_id": "T1", "arrival": f"{DAY}{arrival}:00+08:00",
            "departure": f"{DAY}{departure}:00+08:00", "energy_kwh": energy, "max_power_kw": pmax, "min_power_kw": 0.0,
            "status": status, "ended_at": None if ended_at is None else f"{DAY}{ended_at}:00+08:00"}


def test_a_session_that_plugged_in_during_the_slot_is_planned_with_what_it_still_needs(tmp_path):
    sc = _scenario(tmp_path, [_ev("E1", arrival="16:00", energy=10.0)])
    live = pd.DataFrame([_session("S1", "18:20", "23:00", 12.0), _session("E1", "16:00", "23:59", 10.0)])
    run = replan_rest_of_day(sc, live, {"S1": 2.0, "E1": 4.0}, {}, pd.Timestamp(f"{DAY}18:30+08:00"), None)
    p = run.problem
    assert p.slots[0] == pd.Timestamp(f"{DAY}18:00+08:00") and p.n_slots == 6     # from the slot holding as_of
    evs = run.plan.evs.set_index("ev_id")
    assert evs.requested_kwh.to_dict() == pytest.approx({"E1": 6.0, "S1": 10.0})  # energy less delivered
    sched = run.plan.ev_schedule
    s1 = sched[(sched.ev_id == "S1") & (sched.power_kw > 1e-6)]
    assert pd.to_datetime(s1.slot_start).min() >= pd.Timestamp(f"{DAY}19:00+08:00")  # plugged in whole slots only
    assert run.plan.kpis["valid"] and evs.unmet_kwh.sum() == pytest.approx(0.0)


def test_an_ended_session_leaves_the_plan_and_a_forecast_ev_not_plugged_in_is_expected_later(tmp_path):
    sc = _scenario(tmp_path, [_ev("E1", arrival="16:00", energy=10.0), _ev("E2", arrival="17:00", energy=4.0)])
    live = pd.DataFrame([_session("E1", "16:00", "23:59", 10.0, status="ended", ended_at="18:10")])
    run = replan_rest_of_day(sc, live, {"E1": 7.0}, {}, pd.Timestamp(f"{DAY}19:00+08:00"), None)
    assert set(run.plan.evs.ev_id) == {"E2"}
    sched = run.plan.ev_schedule
    e2 = sched[(sched.ev_id == "E2") & (sched.power_kw > 1e-6)]
    # forecast at 17:00 but not plugged in by 19:00: expected from the next slot on, as replay believes
    assert pd.to_datetime(e2.slot_start).min() >= pd.Timestamp(f"{DAY}20:00+08:00")


def test_the_battery_starts_where_the_current_plan_left_it_and_the_meter_sets_the_base_load(tmp_path):
    tariff = {"periods": [{"start": "00:00", "end": "18:00", "price_cny_per_kwh": 0.3},
                          {"start": "18:00", "end": "24:00", "price_cny_per_kwh": 0.9}]}
    sc = _scenario(tmp_path, [_ev(energy=0.0)], stations=_battery_station(), tariff=tariff)
    day = plan_day(sc)
    state = PlanState.from_json(plan_state(day.problem, day.solution).to_json())
    soc_1800 = float(day.plan.batteries.set_index("slot_start").soc_kwh.iloc[1])   # at the end of 17:00-18:00
    assert soc_1800 == pytest.approx(9.0, abs=1e-6)   # charged 2 h x 5 kW x 0.9 while cheap
    run = replan_rest_of_day(sc, pd.DataFrame(), {}, {"T1": 25.0}, pd.Timestamp(f"{DAY}18:05+08:00"), state)
    assert run.problem.battery_soc_initial_kwh.tolist() == pytest.approx([soc_1800])
    assert run.problem.base_load_kw[0, 0] == pytest.approx(25.0) and run.problem.base_load_kw[0, 1] == 10.0
    without = replan_rest_of_day(sc, pd.DataFrame(), {}, {}, pd.Timestamp(f"{DAY}18:05+08:00"), None)
    assert without.problem.battery_soc_initial_kwh.tolist() == pytest.approx([0.0])   # no plan: the scenario's


def test_a_dr_event_keeps_its_day_ahead_baseline_in_the_replan(tmp_path):
    event = {"event_id": "DR1", "start": f"{DAY}19:00:00+08:00", "end": f"{DAY}21:00:00+08:00", "scope": "all",
             "target_kw": 3.0, "baseline": "plan", "price_cny_per_kwh": 2.0}
    sc = _scenario(tmp_path, [_ev("E1", arrival="16:00", energy=10.0)], dr_events=[event], tariff=EVENING)
    day = plan_day(sc)
    # E1 plugged in late and wants less: a plan from scratch would lower the 'plan' baseline in the event
    live = pd.DataFrame([_session("E1", "18:00", "23:59", 4.0)])
    run = replan_rest_of_day(sc, live, {"E1": 0.0}, {}, pd.Timestamp(f"{DAY}18:00+08:00"), None)
    assert day.problem.event_baseline_kw[0, 3:5].tolist() == pytest.approx([15.0, 15.0])  # 10 kW + E1's 5 kW
    assert np.allclose(run.problem.event_baseline_kw, day.problem.event_baseline_kw[:, 2:])
    fresh = _scenario(tmp_path / "fresh", [_ev("E1", arrival="18:00", energy=4.0)], dr_events=[event], tariff=EVENING)
    assert plan_day(fresh).problem.event_baseline_kw[0, 3:5].sum() < 30.0 - 1.0
    assert run.plan.kpis["valid"]


def test_an_as_of_outside_the_horizon_is_one_line(tmp_path):
    sc = _scenario(tmp_path, [_ev()])
    with pytest.raises(InputError, match="outside the scenario's horizon"):
        replan_rest_of_day(sc, pd.DataFrame(), {}, {}, pd.Timestamp("2026-11-28T00:00+08:00"), None)


def test_a_replan_on_a_two_part_tariff_charges_the_peak_of_the_slots_left(tmp_path):
    tariff = {"preset": "shanxi-2026", "flat_price_cny_per_kwh": 0.6,
              "demand_charge": {"cny_per_kw_month": 40.0, "sites": [{"transformer_id": "T1", "demand_so_far_kw": 12.0}]}}
    sc = _scenario(tmp_path, [_ev("E1", arrival="16:00", energy=10.0)], tariff=tariff)
    run = replan_rest_of_day(sc, pd.DataFrame([_session("E1", "16:00", "23:59", 10.0)]), {"E1": 3.0}, {},
                             pd.Timestamp(f"{DAY}20:00+08:00"), None)
    k = run.plan.kpis
    peak = run.plan.transformer_load.net_load_kw.max()
    assert run.problem.n_slots == 4 and k["valid"]
    assert k["demand_charge_cny"] == pytest.approx(40.0 * max(peak - 12.0, 0.0), abs=1e-6)


def test_a_replan_on_an_lv_grid_with_phase_rows_drops_the_ev_that_left_and_places_a_walk_in(tmp_path):
    from test_phase_limits import _scenario as phase_scenario
    from vpp_sched.scenario.load import load_scenario

    sc = load_scenario(phase_scenario(tmp_path))      # T1 on a two-bus grid, E1-E3 on phase a
    live = pd.DataFrame([_session("E1", "18:00", "23:59", 20.0, status="ended", ended_at="20:00", pmax=7.0),
                         _session("S9", "20:05", "23:30", 8.0, pmax=7.0)])
    run = replan_rest_of_day(sc, live, {"E1": 12.0, "S9": 0.0}, {}, pd.Timestamp(f"{DAY}20:10+08:00"), None)
    p = run.problem
    assert "E1" not in set(p.ev_ids) and "S9" in set(p.ev_ids)
    assert p.phases is not None and len(p.phases.ev_share) == p.n_evs         # phase data row for row
    assert run.plan.kpis["valid"], run.plan.warnings
    assert run.plan.evs.set_index("ev_id").unmet_kwh.sum() == pytest.approx(0.0, abs=1e-6)
