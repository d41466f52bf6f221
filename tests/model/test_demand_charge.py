"""The demand charge of the two-part tariff (models/tariff.md): hand-checked optima, the month a
horizon enters, the exemption of charging facilities by the horizon's date, and the KPIs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from problem_factory import tiny_problem, with_demand_charge
from vpp_sched.model.lean import build_lean
from vpp_sched.plan.results import make_plan
from vpp_sched.problem.demand import demand_fields, new_peak_kw
from vpp_sched.scenario.config import SolverOptions, Tariff
from vpp_sched.solve.dispatch import solve_pyomo
from vpp_sched.solve.highs import solve_lean_model

OPTIONS = SolverOptions(mip_rel_gap=1e-9)
PRICE = [0.5, 0.5, 0.1, 0.1]     # [CNY/kWh], 1-hour slots


def one_transformer(energy_kwh: float, so_far_kw: float, cny_per_kw_month: float = 10.0, start=None):
    """One transformer, base load 10 kW in each of 4 one-hour slots, one EV of ``energy_kwh`` at up to 20 kW."""
    p = tiny_problem(n_slots=4, price=PRICE, base_load_kw=10.0, tie_breaks=False,
                     evs=[{"energy": energy_kwh, "pmax": 20.0}], ramp_penalty_cny_per_kw=0.0)
    return with_demand_charge(p, cny_per_kw_month, so_far_kw, start=start)


def solve_both(p):
    lean = solve_lean_model(build_lean(p), p, OPTIONS)
    ref = solve_pyomo(p, OPTIONS)
    assert lean.status.value == ref.status.value == "optimal"
    assert lean.objective_cny == pytest.approx(ref.objective_cny, abs=1e-6)
    return lean


def test_only_the_peak_above_the_month_so_far_costs():
    # 40 kWh: 5 kW fit under the 15 kW peak so far in each slot (20 kWh); the other 20 kWh cost
    # 0.5-0.1 CNY/kWh at most by moving them, but 10 CNY per kW of new peak, so the plan raises the
    # peak once by 5 kW and uses it in all four slots: 20 kW net in every slot.
    p = one_transformer(40.0, so_far_kw=15.0)
    sol = solve_both(p)
    assert sol.net_load_kw[0] == pytest.approx([20.0] * 4, abs=1e-6)
    assert new_peak_kw(p, sol.net_load_kw) == pytest.approx(np.array([[5.0]]), abs=1e-6)
    energy = float(np.dot(PRICE, sol.net_load_kw[0]))            # 20 kW x 1.2 CNY/kWh-slots
    assert sol.objective_cny == pytest.approx(energy + 10.0 * 5.0, abs=1e-6)
    assert energy == pytest.approx(24.0, abs=1e-6)
    kpis = make_plan(p, sol).kpis
    assert kpis["demand_charge_cny"] == pytest.approx(50.0, abs=1e-5)
    (site,) = kpis["demand_charges"]
    assert site == {**site, "transformer_id": "T0", "month": "2026-11", "demand_so_far_kw": 15.0, "exempt": False}
    assert (site["peak_kw"], site["new_peak_kw"]) == pytest.approx((20.0, 5.0), abs=1e-6)


def test_a_peak_below_the_month_so_far_is_free():
    # so far 25 kW: the cheap slots take 15 kWh each without a new peak; the last 10 kWh go to the
    # dear slots (5 CNY) rather than raise the peak by 5 kW (50 CNY).
    p = one_transformer(40.0, so_far_kw=25.0)
    sol = solve_both(p)
    assert sol.net_load_kw[0, 2:] == pytest.approx([25.0, 25.0], abs=1e-6)
    assert sol.net_load_kw[0].max() == pytest.approx(25.0, abs=1e-6)
    assert new_peak_kw(p, sol.net_load_kw) == pytest.approx(np.array([[0.0]]), abs=1e-6)
    assert make_plan(p, sol).kpis["demand_charge_cny"] == pytest.approx(0.0, abs=1e-5)


def test_without_the_charge_the_cheap_slots_peak():
    p = one_transformer(40.0, so_far_kw=15.0, cny_per_kw_month=0.0)
    assert not p.has_demand_charge
    sol = solve_both(p)
    assert sol.net_load_kw[0, 2:] == pytest.approx([30.0, 30.0], abs=1e-6)
    assert "demand_charges" not in make_plan(p, sol).kpis


def test_a_month_the_horizon_enters_starts_from_no_peak():
    # slots 22:00, 23:00 on 30 November (so far 15 kW), 00:00, 01:00 on 1 December (a new month, nothing metered)
    p = one_transformer(40.0, so_far_kw=15.0, start="2026-11-30 22:00")
    assert list(p.demand_months) == ["2026-11", "2026-12"] and list(p.slot_month) == [0, 0, 1, 1]
    sol = solve_both(p)
    new = new_peak_kw(p, sol.net_load_kw)
    # December's whole peak costs (>= its 10 kW base load); the EV goes where the cheaper kW are
    assert new[0, 1] >= 10.0 - 1e-6
    assert sol.objective_cny == pytest.approx(float(np.dot(PRICE, sol.net_load_kw[0])) + 10.0 * new.sum(), abs=1e-6)


def _tariff(charging_facility: bool) -> Tariff:
    return Tariff.model_validate({"periods": [{"start": "00:00", "end": "24:00", "price_cny_per_kwh": 0.5}],
                                  "demand_charge": {"cny_per_kw_month": 30.0, "sites": [
                                      {"transformer_id": "TS1", "demand_so_far_kw": 80.0,
                                       "charging_facility": charging_facility},
                                      {"transformer_id": "T2", "cny_per_kw_month": 25.0}]}})


@pytest.mark.parametrize("start, exempt", [("2026-11-27 12:00", [True]), ("2030-12-31 12:00", [True, False]),
                                           ("2031-03-01 00:00", [False])])
def test_charging_facilities_are_exempt_up_to_2030_by_the_horizon_date(start, exempt):
    slots = pd.date_range(start, periods=96, freq="15min", tz="Asia/Shanghai")
    ids = np.array(["T1", "TS1", "T2"], dtype=object)
    fields = demand_fields(_tariff(charging_facility=True), slots, ids)
    assert fields["demand_exempt"][1].tolist() == exempt
    assert fields["demand_cny_per_kw_month"][1].tolist() == [0.0 if e else 30.0 for e in exempt]
    assert fields["demand_cny_per_kw_month"][2].tolist() == [25.0] * len(exempt)    # its own price
    assert fields["demand_cny_per_kw_month"][0].tolist() == [0.0] * len(exempt)     # not on the two-part tariff
    assert fields["demand_so_far_kw"].tolist() == [0.0, 80.0, 0.0]


def test_a_site_that_is_no_charging_facility_pays_in_2026():
    slots = pd.date_range("2026-11-27 12:00", periods=4, freq="15min", tz="Asia/Shanghai")
    fields = demand_fields(_tariff(charging_facility=False), slots, np.array(["TS1", "T2"], dtype=object))
    assert fields["demand_cny_per_kw_month"].tolist() == [[30.0], [25.0]]
    assert not fields["demand_exempt"].any()


def test_lp_guided_and_decomposed_routes_price_the_new_peak():
    from problem_factory import random_problem
    from vpp_sched.problem.blocks import subproblem
    from vpp_sched.solve.decompose import plan_objective, solve_decomposed
    from vpp_sched.solve.lp_rounding import solve_lp_guided

    options = SolverOptions(mip_rel_gap=1e-4)
    p = random_problem(60, 24, 3, seed=1, n_stations=1)
    free = solve_lp_guided(p, options)
    so_far = 0.8 * free.net_load_kw.max(axis=1)        # below the uncharged plan's peaks: the charge binds
    p = with_demand_charge(p, [[20.0], [0.0], [20.0]], so_far)
    mono = solve_lp_guided(p, options)
    assert plan_objective(p, mono) == pytest.approx(mono.objective_cny, rel=1e-7, abs=1e-6)
    new = new_peak_kw(p, mono.net_load_kw)
    assert new[[0, 2]].sum() < new_peak_kw(p, free.net_load_kw)[[0, 2]].sum() - 1.0   # the plan avoids new peaks
    sub = subproblem(p, np.array([2, 0]))
    assert sub.demand_cny_per_kw_month.tolist() == [[20.0], [20.0]]
    assert sub.demand_so_far_kw.tolist() == pytest.approx([so_far[2], so_far[0]])
    decomposed = solve_decomposed(p, options)
    assert decomposed.solver["n_blocks"] == 3
    assert decomposed.objective_cny == pytest.approx(plan_objective(p, decomposed), rel=1e-9)
    assert decomposed.objective_cny == pytest.approx(mono.objective_cny, rel=1e-3)


def test_sites_outside_a_cut_down_scenario_are_left_out():
    slots = pd.date_range("2026-11-27 12:00", periods=4, freq="15min", tz="Asia/Shanghai")
    fields = demand_fields(_tariff(charging_facility=False), slots, np.array(["T2"], dtype=object))
    assert fields["demand_cny_per_kw_month"].tolist() == [[25.0]]
