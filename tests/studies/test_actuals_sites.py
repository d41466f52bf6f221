"""The sites on the day as it happened (studies/actuals_sites.py): swaps served from full packs, fast-charging
drivers under the cap the policy leaves, a day as forecast playing the plan's site KPIs, and evaluate's
days.csv with the sites' KPIs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sites_factory import site_scenario, sites
from vpp_sched.plan.sites_output import site_kpis, site_tables
from vpp_sched.scenario.load import load_scenario
from vpp_sched.errors import InputError
from vpp_sched.studies.actuals import forecast_as_actuals, load_actuals
from vpp_sched.studies.actuals_sites import (FAST_DAY_COLUMNS, SWAP_DAY_COLUMNS, SitePlay, site_day_kpis,
                                             swap_catch_up_kw)
from vpp_sched.studies.evaluate import DAY_COLUMNS, run_evaluate
from vpp_sched.studies.evaluate_output import write_evaluate
from vpp_sched.studies.evaluate_sites import site_cells, site_stats
from vpp_sched.studies.replay import replay_day, run_kpis, write_replay

DT = 0.25


def _table(column: str, values) -> pd.DataFrame:
    return pd.DataFrame({column: np.asarray(values, float)})


def test_three_full_packs_and_five_swaps_leave_two_unserved():
    # one station: 5 packs of 10 kWh to charge, 3 full at the start; forecast 1 swap a slot, actually 5, 0, 1, 0
    st = sites(4, swap=[{"packs": 5, "initial": 3, "demand": 1.0, "charge_max_kw": 40, "bay_max_kw": 10}])
    play = SitePlay.start(st, {"W0": _table("swaps", [5, 0, 1, 0])})
    # slot 0: 3 served from the full packs, 2 unserved; the racks draw at most the bays of the 2 packs not
    # full at the slot's start (10 kW each), below the connection (40 kW) and the room of the 5 packs not full
    assert play.swap_most_kw(0, DT) == pytest.approx([20.0])
    load = play.play(0, np.array([40.0]), np.zeros(0), DT, 1)
    assert load == pytest.approx([20.0])                     # the set-point cut to what the bays take
    assert play.swap_served[0, 0] == 3.0 and play.full == pytest.approx([0.5])   # 20 kW x 0.25 h = half a pack
    play.play(1, np.array([40.0]), np.zeros(0), DT, 1)        # 40 kW: 4.5 packs not full, 4 bays of 10 kW
    assert play.full == pytest.approx([1.5])
    play.play(2, np.zeros(1), np.zeros(0), DT, 1)             # 1 swap from the 1.5 full packs
    play.play(3, np.zeros(1), np.zeros(0), DT, 1)
    assert play.swap_served[0].tolist() == [3.0, 0.0, 1.0, 0.0]
    assert site_day_kpis(play, DT) == {"unserved_swaps": pytest.approx(2.0)}
    assert play.stock[0] == pytest.approx([0.5]) and play.stock[1] == pytest.approx([0.0])


def test_fast_drivers_draw_within_the_cap_and_the_rest_is_unserved():
    # 2 dispensers of 50 kW; forecast 2 arrivals/h of 30 kWh, actually 4/h (120 kW wanted) then 1/h
    st = sites(2, fast=[{"dispensers": 2, "max_kw": 50.0, "lam": 2.0, "energy": 30.0, "target_min": 10}])
    demand = pd.DataFrame({"arrivals_per_hour": [4.0, 1.0], "mean_energy_kwh": [30.0, 30.0]})
    play = SitePlay.start(st, {"G0": demand})
    assert play.play(0, np.zeros(0), np.array([100.0]), DT, 1) == pytest.approx([100.0])   # at the cap
    assert play.play(1, np.zeros(0), np.array([100.0]), DT, 1) == pytest.approx([30.0])    # what is wanted
    k = site_day_kpis(play, DT)
    assert k["fast_unserved_kwh"] == pytest.approx((120.0 - 100.0) * DT)
    # slot 0 is unstable (4/h x 30 kWh above 2 x 50 kW): over target, left out of the mean wait;
    # slot 1: M/M/2 with mu = 50/30 /h, lam = 1/h: Wq = C(2, 0.6) / (2 mu - lam), C by the Erlang-B recursion
    a, mu = 0.6, 50.0 / 30.0
    b1 = a / (1 + a)
    b2 = a * b1 / (2 + a * b1)
    c = 2 * b2 / (2 - a * (1 - b2))
    assert k["fast_wait_min"] == pytest.approx(60 * c / (2 * mu - 1.0))
    assert k["fast_slots_over_target"] == 1


@pytest.fixture(scope="module")
def short_packs(tmp_path_factory):
    """The site scenario with slow bays, so the plan itself leaves swaps unserved."""
    folder = site_scenario(tmp_path_factory.mktemp("sc"), swap_overrides={"bay_max_kw": 60, "initial_full_packs": 3,
                                                                          "final_full_packs_min": 0})
    return load_scenario(folder)


def test_a_day_as_forecast_plays_the_plans_site_kpis(short_packs):
    sc = short_packs
    r = replay_day(sc, forecast_as_actuals(sc), replan_every=32)
    p, sol = r.day_ahead, r.day_ahead_solution
    plan = site_kpis(p, site_tables(p, sol))
    swap, fast = plan["swap_stations"][0], plan["fast_charging_stations"][0]
    assert swap["unserved_swaps"] > 1.0                     # the case is not trivial
    for name in ("replanned", "day_ahead_only"):
        k = run_kpis(r.context, r.runs[name])
        assert k["unserved_swaps"] == pytest.approx(swap["unserved_swaps"], abs=1e-6), name
        assert k["fast_unserved_kwh"] == pytest.approx(fast["energy_demand_kwh"] - fast["energy_served_kwh"], abs=1e-6)
        assert k["fast_wait_min"] == pytest.approx(fast["model_mean_wait_min"], abs=1e-6)
        assert k["fast_slots_over_target"] == fast["slots_over_target"]
        # a driver is served whenever a full pack is on hand (the plan may leave a slot's swap unserved and
        # serve a later one instead: the same total); every swap asked is the forecast's
        assert r.runs[name].sites.swap_served.sum() == pytest.approx(swap["swaps_served"], abs=1e-6)
        assert np.array_equal(r.runs[name].sites.swaps, p.sites.swap_demand)
    # the same day given as explicit site tables equal to the forecast plays the same
    explicit = forecast_as_actuals(sc)
    explicit = type(explicit)(evs=explicit.evs, base_load_kw=explicit.base_load_kw, source="test",
                              site_demand={sid: t.copy() for sid, t in sc.site_demand.items()})
    again = replay_day(sc, explicit, replan_every=32)
    assert run_kpis(again.context, again.runs["day_ahead_only"])["unserved_swaps"] == pytest.approx(
        swap["unserved_swaps"], abs=1e-6)


def test_evaluate_days_carry_the_sites_kpis_and_repeat(short_packs, tmp_path):
    sc = short_packs
    a = run_evaluate(sc, 2, seed=3, policies=("uncontrolled", "day-ahead"))
    b = run_evaluate(sc, 2, seed=3, policies=("uncontrolled", "day-ahead"))
    cols = DAY_COLUMNS + SWAP_DAY_COLUMNS + FAST_DAY_COLUMNS
    assert list(a.days.columns[:len(cols)]) == cols
    # same seed, same files; the summary names the sites' KPIs (the report's section: test_sites_in_the_report)
    files = {}
    for name, r in (("a", a), ("b", b)):
        write_evaluate(r, tmp_path / name, report=False)
        files[name] = {f.name: f.read_bytes() for f in sorted((tmp_path / name).iterdir()) if f.is_file()}
    assert files["a"] == files["b"] and {"days.csv", "summary.md"} <= set(files["a"])
    summary = files["a"]["summary.md"].decode()
    assert "## Swap and fast-charging stations" in summary and "unserved swaps mean [-]" in summary
    d = a.days.set_index(["day", "policy"])
    # the sampled days' swaps and drivers differ from day to day (the plan's own day leaves 41.86 swaps unserved)
    assert d.loc[(0, "day-ahead"), "unserved_swaps"] != d.loc[(1, "day-ahead"), "unserved_swaps"]
    assert d.loc[(0, "day-ahead"), "fast_wait_min"] != d.loc[(1, "day-ahead"), "fast_wait_min"]
    for day in (0, 1):
        assert d.loc[(day, "uncontrolled"), "fast_slots_over_target"] == 0   # no cap: every dispenser at full power
        assert d.loc[(day, "uncontrolled"), "fast_unserved_kwh"] == 0.0


def test_sites_in_the_report():
    days = pd.DataFrame({"day": [0, 0, 1, 1], "policy": ["uncontrolled", "replan"] * 2,
                         "unserved_swaps": [0.0, 2.0, 0.0, 4.0], "fast_unserved_kwh": [0.0, 1.5, 0.0, 0.5],
                         "fast_wait_min": [0.1, 3.0, 0.2, 5.0], "fast_slots_over_target": [0, 2, 0, 4]})
    stats = site_stats(days, ["uncontrolled", "replan"]).set_index("policy")
    assert stats.loc["replan", "unserved_swaps_mean"] == 3.0 and stats.loc["replan", "days_with_unserved_swaps"] == 1.0
    assert stats.loc["uncontrolled", "fast_wait_min_mean"] == pytest.approx(0.15)
    head, rows = site_cells(stats.reset_index(), lambda x, d: f"{x:.{d}f}")
    assert head[:2] == ["policy", "unserved swaps mean [-]"] and rows[1][:4] == ["replan", "3.00", "3.90", "100%"]
    assert site_stats(days.drop(columns=["unserved_swaps", "fast_unserved_kwh", "fast_wait_min",
                                         "fast_slots_over_target"]), ["replan"]).empty


@pytest.mark.slow
def test_the_report_has_the_sites_section(short_packs):
    from vpp_sched.studies.evaluate_report import render_evaluate_report

    html = render_evaluate_report(run_evaluate(short_packs, 1, seed=3, policies=("uncontrolled", "day-ahead")))
    assert "Swap and fast-charging stations" in html
    assert "fast-charging wait mean [min]" in html


def test_the_written_actuals_replay_the_same_sites_day(tmp_path):
    sc = load_scenario(site_scenario(tmp_path / "sc"))
    r = replay_day(sc, seed=2, replan_every=48)
    write_replay(r, tmp_path / "a")
    assert {"swap_demand.csv", "fast_demand.csv"} <= {f.name for f in (tmp_path / "a" / "actuals").iterdir()}
    back = load_actuals(tmp_path / "a" / "actuals", sc)
    for sid, table in r.context.actuals.site_demand.items():
        pd.testing.assert_frame_equal(back.site_demand[sid], table, check_freq=False, check_names=False)
    again = replay_day(sc, back, replan_every=48)
    for name in ("replanned", "uncontrolled"):
        k0, k1 = run_kpis(r.context, r.runs[name]), run_kpis(again.context, again.runs[name])
        assert {c: k1[c] for c in SWAP_DAY_COLUMNS + FAST_DAY_COLUMNS} == {c: k0[c] for c in SWAP_DAY_COLUMNS + FAST_DAY_COLUMNS}
        assert np.array_equal(again.runs[name].net_load_kw, r.runs[name].net_load_kw)
    # a bad value is one line naming the file, the row and the field
    bad = tmp_path / "a" / "actuals" / "fast_demand.csv"
    text = bad.read_text().splitlines()
    cells = text[5].split(",")
    cells[2] = "-1"
    bad.write_text("\n".join(text[:5] + [",".join(cells)] + text[6:]) + "\n")
    with pytest.raises(InputError) as err:
        load_actuals(tmp_path / "a" / "actuals", sc)
    assert len(err.value.problems) == 1 and "actuals fast_demand.csv" in err.value.problems[0]
    assert "arrivals_per_hour" in err.value.problems[0]


def test_the_controller_catches_the_swaps_and_the_drivers_up():
    # 4 packs of 10 kWh, 1 full; 1 swap now, 2 forecast next slot, 1 after; 200 kW connection, eta 1, dt 0.25 h:
    # for slot 1, 1 + 2 - 1 = 2 packs must be completed in this slot (20 kWh / 0.25 h = 80 kW); slot 2's
    # third pack can come from slot 1 at full power (50 kWh); the racks could take 160 kW (room of 4 packs)
    st = sites(3, swap=[{"packs": 4, "initial": 1, "demand": [1.0, 2.0, 1.0], "charge_max_kw": 200, "bay_max_kw": 100}])
    play = SitePlay.start(st, None)
    assert swap_catch_up_kw(st, play.full, play.partial, play.swaps[:, 0], 0, DT) == pytest.approx([80.0])
    swap, fast = play.must_kw(0, DT)
    assert swap == pytest.approx([80.0]) and len(fast) == 0
    # nothing to come at the last slot; a full stock needs nothing
    assert swap_catch_up_kw(st, np.array([4.0]), np.zeros(1), np.array([1.0]), 1, DT) == pytest.approx([0.0])
    # fast: the wait-keeping cap at the slot's actual rate, not the forecast's
    st = sites(1, fast=[{"dispensers": 2, "max_kw": 50.0, "lam": 1.0, "energy": 30.0, "target_min": 10}])
    busy = SitePlay.start(st, {"G0": pd.DataFrame({"arrivals_per_hour": [1.5], "mean_energy_kwh": [30.0]})})
    cap = busy.must_kw(0, DT)[1][0]
    assert cap > st.fast_min_cap_kw[0, 0]
    assert site_day_kpis(_played(busy, cap), DT)["fast_slots_over_target"] == 0   # at that cap the wait keeps the target


def _played(play, cap):
    play.play(0, np.zeros(0), np.array([cap]), DT, 1)
    return play
