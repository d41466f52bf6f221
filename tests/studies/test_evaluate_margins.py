"""The robust margins (vpp_sched.problem.margins): the chance constraint by hand, the margin in the model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.problem_factory import tiny_problem
from vpp_sched.problem.margins import chance_margins_kw, margin_used_kw, robust_stays, with_margins
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.scenario.uncertainty import Uncertainty
from vpp_sched.solve.dispatch import solve


def test_one_slot_margin_is_the_quantile_by_hand():
    # 4 sampled days, one slot with extra load 1, -1, 3, -3 kW (sd sqrt(5)), one slot without spread.
    extra = np.array([[1.0, 0.0], [-1.0, 0.0], [3.0, 0.0], [-3.0, 0.0]])[:, None, :]
    margin, lam, sd = chance_margins_kw(extra, epsilon=0.25)
    assert sd[0].tolist() == pytest.approx([math.sqrt(5), 0.0])
    assert lam[0] == pytest.approx(1 / math.sqrt(5))       # the 3rd smallest of the days' worst z
    assert margin[0].tolist() == pytest.approx([1.0, 0.0])  # one day in four (3 kW) passes it
    margin, lam, _ = chance_margins_kw(extra, epsilon=0.5)
    assert lam[0] == 0.0 and margin[0].tolist() == [0.0, 0.0]   # the median day has no extra load


def test_two_slot_margin_holds_the_whole_day():
    # Slot 0: 1, -1, 3, -3 kW (sd sqrt 5); slot 1: 2, 0, -2, 0 kW (sd sqrt 2). The days' worst
    # standardised loads are 2/sqrt2, 0, 3/sqrt5, 0: lam = 3/sqrt5 (epsilon 0.25), so the margins are
    # 3 kW and 3 sqrt(2/5) kW, and only day 0 (2 kW > 1.897 kW in slot 1) passes them.
    extra = np.array([[1.0, 2.0], [-1.0, 0.0], [3.0, -2.0], [-3.0, 0.0]])[:, None, :]
    margin, lam, _ = chance_margins_kw(extra, epsilon=0.25)
    assert lam[0] == pytest.approx(3 / math.sqrt(5))
    assert margin[0].tolist() == pytest.approx([3.0, 3 * math.sqrt(2 / 5)])
    over_days = (extra[:, 0, :] > margin[0] + 1e-12).any(axis=1)
    assert over_days.tolist() == [True, False, False, False]


OPTIONS = SolverOptions(time_limit_s=30)


def test_margin_is_kept_where_it_costs_only_money():
    # 1 transformer, limit 10 kW; one EV of 20 kWh at up to 10 kW all day; 0.3 CNY/kWh in slots 0-3, 0.9 after.
    # A 6 kW margin in slots 0-3 leaves 4 kW there: 16 kWh cheap, 4 kWh dear, none of the margin used.
    p = tiny_problem(limit_kw=10.0, evs=[{"energy": 20.0, "pmax": 10.0}], tie_breaks=False)
    margin = np.array([[6.0] * 4 + [0.0] * 4])
    sol = solve(with_margins(p, margin, 50.0), OPTIONS)
    assert sol.net_load_kw[0, :4].max() <= 4.0 + 1e-6
    assert sol.ev_power_kw.sum() == pytest.approx(20.0)
    assert (sol.net_load_kw[0] * p.price_cny_per_kwh).sum() == pytest.approx(16 * 0.3 + 4 * 0.9)
    assert margin_used_kw(with_margins(p, margin, 50.0), sol.dr_shortfall_kw).sum() == pytest.approx(0.0, abs=1e-6)


def test_margin_gives_way_to_the_evs():
    # A margin of 8 kW in every slot leaves 2 kW x 8 h = 16 kWh: the EV still gets its 20 kWh and the
    # plan says it used 4 kWh of the margin (it costs less than unmet energy).
    p = tiny_problem(limit_kw=10.0, evs=[{"energy": 20.0, "pmax": 10.0}], tie_breaks=False)
    robust = with_margins(p, np.full((1, 8), 8.0), 50.0)
    assert list(robust.event_ids) == ["margin:" + str(p.transformer_ids[0])]
    sol = solve(robust, OPTIONS)
    assert sol.ev_unmet_kwh.sum() == pytest.approx(0.0, abs=1e-6)
    assert margin_used_kw(robust, sol.dr_shortfall_kw).sum() * p.dt_h == pytest.approx(4.0)
    assert sol.net_load_kw.max() <= 10.0 + 1e-6


def test_no_margin_leaves_the_problem_alone():
    p = tiny_problem()
    assert with_margins(p, np.zeros((1, 8)), 50.0) is p


def test_robust_stays_shorten_the_stay_and_raise_the_energy():
    import pandas as pd

    slots = pd.date_range("2026-11-27 18:00", periods=64, freq="15min", tz="Asia/Shanghai")
    evs = pd.DataFrame({"arrival": pd.to_datetime(["2026-11-27 18:00", "2026-11-27 18:00"]).tz_localize("Asia/Shanghai"),
                        "departure": pd.to_datetime(["2026-11-28 06:00", "2026-11-27 19:00"]).tz_localize("Asia/Shanghai"),
                        "energy_kwh": [10.0, 6.5], "max_power_kw": [7.0, 7.0]})
    u = Uncertainty(arrival_shift_sd_min=20, departure_shift_sd_min=30, energy_error_sd=0.1)
    out = robust_stays(evs, u, slots, 0.25, epsilon=0.05)
    # z(0.95) = 1.645: arrival + 33 min, departure - 49 min, energy x 1.1645 (to 1 Wh, capped by the stay)
    assert out.arrival.iat[0] == evs.arrival.iat[0] + pd.Timedelta(minutes=33)
    assert out.departure.iat[0] == evs.departure.iat[0] - pd.Timedelta(minutes=49)
    assert out.energy_kwh.iat[0] == pytest.approx(10 * (1 + 0.1 * 1.6448536), abs=1e-3)
    # the 1 h stay takes 7 kWh at most: the energy rises to 7 kWh, and the stay cannot shrink
    assert out.energy_kwh.iat[1] == pytest.approx(7.0)
    assert out.arrival.iat[1] == evs.arrival.iat[1] and out.departure.iat[1] == evs.departure.iat[1]


def test_plan_robust_writes_valid_plan_and_margins(tmp_path):
    from typer.testing import CliRunner

    from tests.scenario_factory import TRANSFORMERS, write_scenario
    from vpp_sched.cli.app import app
    from vpp_sched.plan.planner import plan_day
    from vpp_sched.scenario.load import load_scenario

    folder = write_scenario(tmp_path / "sc", transformers=TRANSFORMERS.assign(rated_kva=[30.0, 160.0]),
                            yaml_overrides={"uncertainty": {"robust_scenarios": 40}})
    run = plan_day(load_scenario(folder), robust=True)
    assert run.plan.kpis["valid"] and run.plan.kpis["robust"]["transformers_with_margin"] == 2
    assert run.margins.margin_kw.max() > 0
    # the plan keeps its margins wherever it uses none of them
    net = run.solution.net_load_kw
    kept = net <= run.problem.limit_kw[:, None] - run.margins.margin_kw + run.margin_used_kw + 1e-6
    assert kept.all()
    assert list(run.problem.event_ids) == []           # margin events never reach the plan's tables
    r = CliRunner().invoke(app, ["plan", str(folder), "--robust", "--no-report", "--out", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    import pandas as pd

    m = pd.read_csv(tmp_path / "p" / "margins.csv")
    assert len(m) == 2 * 96 and {"margin_kw", "planned_limit_kw", "margin_used_kw"} <= set(m.columns)
    assert m.margin_kw.to_numpy() == pytest.approx(run.margins.margin_kw.ravel())
