"""Vehicle-to-grid: EVs that may discharge, for tariff arbitrage and DR events.

The hand-checked case uses the planner-cases day (16:00-24:00, 1-hour slots, 0.9 CNY/kWh before
20:00 and 0.3 after, 10 kW base load) with one V2G EV plugged in all evening.
"""

from __future__ import annotations

import filecmp

import numpy as np
import pandas as pd
import pytest

from problem_factory import check_solution, random_problem
from test_planner import _ev, run
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.errors import InputError
from vpp_sched.plan.output import write_plan
from vpp_sched.plan.planner import plan_day
from vpp_sched.scenario.load import load_scenario
from scenario_factory import write_scenario
from test_planner import _base, _trafos, _yaml
from vpp_sched.solve.dispatch import solve
from vpp_sched.plan.validity import check_plan

ETA = 0.95


def _v2g_ev(**kw):
    ev = _ev(arrival="16:00", departure="2026-11-28T00:00", energy=10.0, pmax=7.0)
    ev.update({"v2g": "true", "max_discharge_kw": 7.0, "battery_kwh": 60.0, "soc_arrival": 0.5})
    ev.update(kw)
    return ev


def test_arbitrage_by_hand(tmp_path):
    result = run(tmp_path, "lean", [_v2g_ev()])
    ev = result.plan.evs.set_index("ev_id").loc["E1"]
    # Recharging in the 4 cheap hours at 7 kW gives 28 kWh at the charger; 10 of it is the request,
    # the rest puts back what was discharged: D / (eta_c eta_d) = 18, so D = 18 x 0.9025.
    discharged = 18 * ETA * ETA
    assert ev.discharged_kwh == pytest.approx(discharged, abs=1e-4)
    assert ev.charged_kwh == pytest.approx(28.0, abs=1e-4)
    assert ev.delivered_kwh == pytest.approx(10.0, abs=1e-4) and ev.unmet_kwh == 0
    sched = result.plan.ev_schedule
    expensive = pd.DatetimeIndex(sched.slot_start).hour < 20
    assert sched.power_kw[expensive].sum() == pytest.approx(0.0, abs=1e-6)      # no charging at 0.9
    assert sched.discharge_kw[~expensive].sum() == pytest.approx(0.0, abs=1e-6)  # no discharge at 0.3
    # battery energy at departure: 30 + 0.95 x 28 - D / 0.95
    assert ev.soc_departure_kwh == pytest.approx(30 + ETA * 28 - discharged / ETA, abs=1e-4)
    k = result.plan.kpis
    assert k["v2g_discharged_kwh"] == pytest.approx(discharged, abs=1e-4)
    assert k["v2g_losses_kwh"] == pytest.approx((1 - ETA) * 28 + (1 / ETA - 1) * discharged, abs=1e-4)
    assert k["grid_energy_cost_cny"] == pytest.approx(0.9 * (40 - discharged) + 0.3 * (40 + 28), abs=1e-3)
    load = result.plan.transformer_load
    early = pd.DatetimeIndex(load.slot_start).hour < 20
    assert load.ev_kw[early].sum() == pytest.approx(-discharged, abs=1e-4)   # ev_kw is charge minus discharge


def test_no_arbitrage_when_the_spread_does_not_pay_the_losses(tmp_path):
    # 0.9 < 0.8 / 0.9025 + wear: discharging at 0.9 and recharging at 0.8 loses money
    tariff = {"periods": [{"start": "00:00", "end": "20:00", "price_cny_per_kwh": 0.9},
                          {"start": "20:00", "end": "24:00", "price_cny_per_kwh": 0.8}]}
    result = run(tmp_path, "lean", [_v2g_ev()], tariff=tariff)
    assert result.plan.kpis["v2g_discharged_kwh"] == pytest.approx(0.0, abs=1e-6)


def test_battery_never_below_empty(tmp_path):
    # arriving almost empty: it can discharge only what it charged first, and charging is dear early
    result = run(tmp_path, "lean", [_v2g_ev(soc_arrival=0.02)])
    sched = result.plan.ev_schedule
    assert sched.soc_kwh.min() >= -1e-6
    assert result.plan.evs.discharged_kwh.iat[0] <= 0.02 * 60 * ETA + 1e-6


def test_a_plan_without_v2g_evs_is_unchanged(tmp_path):
    evs = [_ev("E1", energy=20.0, pmax=7.0, pmin=1.4), _ev("E2", arrival="17:00", energy=15.0, pmax=3.5)]
    flagged = [dict(e, v2g="false", battery_kwh="", soc_arrival="") for e in evs]
    outs = []
    for name, table in (("plain", evs), ("flagged", flagged)):
        result = run(tmp_path / name, "lean", table)
        assert "discharge_kw" not in result.plan.ev_schedule.columns
        write_plan(result.plan, tmp_path / name / "plan")
        outs.append(tmp_path / name / "plan")
    files = sorted(p.name for p in outs[0].iterdir() if p.suffix == ".csv")
    assert files and filecmp.cmpfiles(outs[0], outs[1], files, shallow=False)[0] == files


@pytest.mark.parametrize("method", ["lean", "decomposed", "pyomo"])
def test_random_day_with_v2g_is_valid(method):
    p = random_problem(n_evs=40, n_slots=48, n_transformers=3, seed=7, n_stations=1, n_events=1, v2g_share=0.5)
    sol = solve(p, SolverOptions(time_limit_s=30, mip_rel_gap=1e-3), method=method)
    check_solution(p, sol)   # incl. never charging and discharging at once, battery within 0..size
    assert sol.ev_discharge_kw.sum() > 0
    without = solve(random_problem(n_evs=40, n_slots=48, n_transformers=3, seed=7, n_stations=1, n_events=1),
                    SolverOptions(time_limit_s=30, mip_rel_gap=1e-3), method="lean")
    assert sol.ev_discharge_kw is not None and without.ev_discharge_kw is None


def test_v2g_delivers_a_peak_shaving_event_charging_alone_cannot(tmp_path):
    # baseline 10 kW base + nothing; target 5 kW below it from 17:00 to 19:00: only discharge can do it
    event = {"event_id": "DR1", "kind": "peak_shaving", "start": "2026-11-27T17:00:00+08:00",
             "end": "2026-11-27T19:00:00+08:00", "notified_at": "2026-11-26T12:00:00+08:00",
             "target_kw": 5.0, "baseline": "uncontrolled", "price_cny_per_kwh": 2.0}
    tariff = {"periods": [{"start": "00:00", "end": "24:00", "price_cny_per_kwh": 0.5}]}
    plain = run(tmp_path / "plain", "lean", [_ev(arrival="20:00", energy=10.0, pmax=7.0)], tariff=tariff,
                dr_events=[event])
    v2g = run(tmp_path / "v2g", "lean", [_v2g_ev()], tariff=tariff, dr_events=[event])
    assert plain.plan.events.compliance_pct.iat[0] < 1.0      # base load alone sits at the baseline
    assert v2g.plan.events.compliance_pct.iat[0] == pytest.approx(100.0, abs=1e-3)
    assert v2g.plan.evs.unmet_kwh.iat[0] == 0


def test_valley_filling_cannot_be_faked_by_charging_and_discharging_at_once(tmp_path):
    # raise the load 12 kW above the baseline: a 7 kW charger can add 7 kW at most, never more by cycling
    event = {"event_id": "DR1", "kind": "valley_filling", "start": "2026-11-27T21:00:00+08:00",
             "end": "2026-11-27T22:00:00+08:00", "notified_at": "2026-11-26T12:00:00+08:00",
             "target_kw": 12.0, "baseline": "uncontrolled", "price_cny_per_kwh": 20.0,
             "shortfall_penalty_cny_per_kwh": 50.0}
    ev = _v2g_ev(arrival="2026-11-27T21:00", energy=30.0)
    result = run(tmp_path, "lean", [ev], dr_events=[event])
    sched = result.plan.ev_schedule
    assert (np.minimum(sched.power_kw, sched.discharge_kw) <= 1e-6).all()
    assert result.plan.dr_events.delivered_kw.max() <= 7.0 + 1e-6


def test_validity_check_catches_simultaneous_charge_and_discharge(tmp_path):
    result = run(tmp_path, "lean", [_v2g_ev()])
    plan = result.plan
    sched = plan.ev_schedule.copy()
    i = int(np.flatnonzero(sched.discharge_kw.to_numpy() > 1)[0])
    sched.loc[i, "power_kw"] = 1.0
    plan.ev_schedule = sched
    assert any("charges and discharges" in v for v in check_plan(result.problem, plan))


@pytest.mark.parametrize("change, message", [
    ({"battery_kwh": ""}, "row 1 (ev_id=E1): battery_kwh is required where v2g is true"),
    ({"soc_arrival": "1.5"}, "row 1 (ev_id=E1): soc_arrival 1.5 must be at least 0 and at most 1"),
    ({"v2g": "maybe"}, "row 1 (ev_id=E1): v2g 'maybe' is not true/false"),
    ({"energy_kwh": 40.0, "soc_arrival": 0.5}, "row 1 (ev_id=E1): energy_kwh 40 does not fit in the battery"),
])
def test_bad_v2g_columns_are_named(tmp_path, change, message):
    trafos = _trafos(("T1", 100.0))
    folder = write_scenario(tmp_path / "sc", yaml_overrides=_yaml(), transformers=trafos,
                            evs=pd.DataFrame([_v2g_ev(**change)]), base_load=_base(trafos))
    with pytest.raises(InputError) as err:
        load_scenario(folder)
    assert message in str(err.value)
    assert "evs.csv" in str(err.value)
    assert len(err.value.problems) == 1, "one line per problem, no follow-on lines"


def test_max_discharge_defaults_to_max_power(tmp_path):
    trafos = _trafos(("T1", 100.0))
    folder = write_scenario(tmp_path / "sc", yaml_overrides=_yaml(), transformers=trafos,
                            evs=pd.DataFrame([_v2g_ev(max_discharge_kw="")]), base_load=_base(trafos))
    result = plan_day(folder)
    assert result.problem.ev_max_discharge_kw[0] == 7.0
    assert result.plan.ev_schedule.discharge_kw.max() <= 7.0 + 1e-9


def test_v2g_plan_folder_matches_the_schema(tmp_path):
    import json

    import jsonschema

    from vpp_sched.plan.read_plan import plan_document
    from vpp_sched.plan.schema import plan_json_schema

    evs = [_v2g_ev(), _ev("E2", energy=12.0, pmax=3.5)]   # one V2G EV, one that is not
    result = run(tmp_path, "lean", evs)
    folder = write_plan(result.plan, tmp_path / "plan")
    doc = plan_document(folder)
    jsonschema.validate(doc, plan_json_schema())
    rows = {r["ev_id"]: r for r in doc["evs.csv"]}
    assert rows["E1"]["v2g"] is True and rows["E2"]["v2g"] is False
    assert rows["E2"]["soc_departure_kwh"] is None
    assert json.loads((folder / "kpis.json").read_text())["v2g_evs"] == 1
    assert pd.read_parquet(folder / "ev_schedule.parquet").discharge_kw.sum() > 0


def test_ocpp_profiles_of_a_v2g_plan_carry_the_charging_energy(tmp_path):
    from vpp_sched.interop.ocpp import build_profiles

    result = run(tmp_path, "lean", [_v2g_ev(), _ev("E2", energy=12.0, pmax=3.5)])
    folder = write_plan(result.plan, tmp_path / "plan", parquet=False)
    _, index = build_profiles(folder, "2.0.1")
    row = index.set_index("ev_id").loc["E1"]
    assert row.profile_kwh == pytest.approx(result.plan.evs.charged_kwh.iat[0], abs=1e-3)
    assert "V2G" in row.note and "cannot request" in row.note
    assert "V2G" not in str(index.set_index("ev_id").loc["E2"].note)


def test_generated_v2g_fleet_plans_validly(tmp_path):
    from vpp_sched.scenario.synthetic import generate_scenario

    folder = generate_scenario(tmp_path / "g", transformers=3, evs=60, dr_event=True, v2g_share=0.3, seed=2)
    plain = generate_scenario(tmp_path / "p", transformers=3, evs=60, dr_event=True, seed=2)
    evs = pd.read_csv(folder / "evs.csv")
    assert 5 <= evs.v2g.sum() <= 35
    # the V2G columns come from their own random stream: everything else is as without them
    pd.testing.assert_frame_equal(evs.drop(columns=["v2g", "max_discharge_kw", "battery_kwh", "soc_arrival"]),
                                  pd.read_csv(plain / "evs.csv"))
    result = plan_day(folder)
    assert result.plan.kpis["valid"] is True and check_plan(result.problem, result.plan) == []
    assert result.plan.kpis["v2g_evs"] == evs.v2g.sum()


def test_replay_of_a_v2g_day(tmp_path):
    from vpp_sched.studies.actuals import forecast_as_actuals
    from vpp_sched.studies.replay import ev_table, replay_day, replay_kpis, timeline_table

    trafos = _trafos(("T1", 100.0))
    folder = write_scenario(tmp_path / "sc", yaml_overrides=_yaml(), transformers=trafos,
                            evs=pd.DataFrame([_v2g_ev(), _ev("E2", energy=12.0, pmax=3.5)]), base_load=_base(trafos))
    sc = load_scenario(folder)
    exact = SolverOptions(mip_rel_gap=0.0, time_limit_s=30)
    r = replay_day(sc, forecast_as_actuals(sc), replan_every=1, options=exact)
    run = r.runs["replanned"]
    # on the forecast, the replay carries out the day-ahead plan: discharge early, recharge late
    assert np.allclose(run.ev_discharge_kw[0], r.day_ahead_solution.ev_discharge_kw[0], atol=1e-6)
    assert run.ev_discharge_kw.sum() * 1.0 == pytest.approx(18 * ETA * ETA, abs=1e-4)
    line = timeline_table(r)
    assert np.allclose(line.actual_kw, line.planned_kw, atol=1e-6)
    evs = ev_table(r).set_index("ev_id")
    assert evs.loc["E1", "delivered_kwh"] == pytest.approx(10.0, abs=1e-4) and evs.unmet_kwh.sum() == 0
    assert evs.loc["E1", "discharged_kwh"] > 0 and evs.loc["E2", "discharged_kwh"] == 0
    assert replay_kpis(r)["replanned"]["replans"] == 0   # nothing new, incl. the EV battery: plan kept
    # re-planning anyway every hour from the actual battery state keeps the same cost
    again = replay_day(sc, forecast_as_actuals(sc), replan_every=1, options=exact, skip_unchanged=False)
    assert replay_kpis(again)["replanned"]["grid_energy_cost_cny"] == pytest.approx(
        replay_kpis(r)["replanned"]["grid_energy_cost_cny"], abs=1e-6)
    stored = 30 + np.cumsum(ETA * again.runs["replanned"].ev_kw[0] - again.runs["replanned"].ev_discharge_kw[0] / ETA)
    assert stored.min() >= -1e-9 and stored.max() <= 60 + 1e-9


def test_flexibility_envelope_counts_v2g_discharge(tmp_path):
    from vpp_sched.studies.flex import flexibility_envelope

    plain = run(tmp_path / "plain", "lean", [_ev(energy=10.0, pmax=7.0)])
    v2g = run(tmp_path / "v2g", "lean", [_v2g_ev()])
    low = {}
    for name, r in (("plain", plain), ("v2g", v2g)):
        env = flexibility_envelope(r.problem, r.solution, r.scenario.config.solver, 1,
                                   {"all": np.ones(r.problem.n_transformers, dtype=bool)})
        low[name] = env.set_index(env.slot_start.dt.hour).min_kw
    assert low["plain"].loc[16] == pytest.approx(10.0)          # base load; the EV can wait
    assert low["v2g"].loc[16] == pytest.approx(10.0 - 7.0)      # and a V2G EV can discharge 7 kW


@pytest.mark.slow
def test_replay_on_perturbed_actuals_keeps_v2g_batteries_physical(tmp_path):
    from vpp_sched.studies.replay import ev_table, replay_day, replay_kpis
    from vpp_sched.scenario.synthetic import generate_scenario

    sc = load_scenario(generate_scenario(tmp_path / "g", transformers=3, evs=60, dr_event=True, v2g_share=0.4,
                                         seed=3))
    r = replay_day(sc, seed=1, replan_every=1)
    k = replay_kpis(r)
    # re-planning every slot on the actuals leaves no EV shorter than uncontrolled charging does (its
    # floor); V2G EVs included, though they discharge before drivers' actual departures are known
    assert k["replanned"]["unmet_energy_kwh"] <= k["uncontrolled"]["unmet_energy_kwh"] + 1e-3
    f, p = r.context.fleet, r.context.problem
    for name in ("replanned", "uncontrolled"):
        run_ = r.runs[name]
        dis = run_.ev_discharge_kw if run_.ev_discharge_kw is not None else np.zeros_like(run_.ev_kw)
        stored = f.soc_arrival_kwh[:, None] + np.cumsum(
            (p.v2g_charge_efficiency * run_.ev_kw - dis / p.v2g_discharge_efficiency) * p.dt_h, axis=1)
        assert (stored[f.v2g] >= -1e-6).all() and (stored[f.v2g] <= f.battery_kwh[f.v2g, None] + 1e-6).all(), name
    assert ev_table(r).discharged_kwh.sum() > 0
