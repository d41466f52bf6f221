"""Swap and fast-charging stations: hand-checked optima, Erlang-C against textbook values, the
simulation against the model, both builds, and the validity check catching broken tables."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from problem_factory import tiny_problem
from sites_factory import sites
from vpp_sched.plan.queue_sim import simulate_station
from vpp_sched.plan.results import make_plan
from vpp_sched.plan.validity import check_plan
from vpp_sched.problem.queueing import erlang_c, min_cap_kw, mmc_p_wait_over, mmc_wait_h, wait_at_cap
from vpp_sched.problem.sites import uncontrolled_swap
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.solve.dispatch import solve


def _plan(problem, method="lean"):
    sol = solve(problem, SolverOptions(mip_rel_gap=1e-7), method=method)
    assert sol.status.value == "optimal"
    return sol, make_plan(problem, sol)


def _two_pack_problem(**swap):
    # 4 slots of 1 h, no EVs; 2 packs of 10 kWh to charge, 1 full at the start, one bay of 5 kW:
    # a pack takes 2 h, so of the 3 swaps asked in slots 0-2 one cannot be served
    spec = dict(packs=2, pack_charge_kwh=10.0, charge_max_kw=5.0, bay_max_kw=5.0, bays=1, initial=1.0,
                demand=[1, 1, 1, 0])
    spec.update(swap)
    return tiny_problem(n_slots=4, evs=[], price=[0.3, 0.3, 0.9, 0.9], sites=sites(n_slots=4, swap=[spec]))


@pytest.mark.parametrize("method", ["lean", "pyomo"])
def test_two_packs_serve_what_the_charging_allows(method):
    p = _two_pack_problem()
    sol, plan = _plan(p, method)
    table = plan.sites["swap_stations"]
    # by hand: slot 0 uses the full pack; 10 kWh by the end of slot 1 make one more for slot 1 or 2
    assert table.swaps_served.sum() == pytest.approx(2.0)
    assert table.unserved_swaps.sum() == pytest.approx(1.0)
    assert check_plan(p, plan) == []
    k = plan.kpis["swap_stations"][0]
    assert k["service_level"] == pytest.approx(2 / 3) and k["swaps_requested"] == pytest.approx(3.0)
    # objective: 1 unserved swap x 10,000 + 10 kWh at 0.3 in slots 0-1
    assert sol.objective_cny == pytest.approx(10_000 + 10 * 0.3, rel=1e-6)


def test_every_swap_served_when_packs_and_power_allow_and_charging_in_cheap_slots():
    p = _two_pack_problem(charge_max_kw=10.0, bay_max_kw=10.0, bays=2, demand=[0, 1, 1, 0])
    sol, plan = _plan(p)
    table = plan.sites["swap_stations"]
    assert table.unserved_swaps.sum() == pytest.approx(0.0, abs=1e-9)
    assert table.charge_kw.iloc[2:].sum() == pytest.approx(0.0, abs=1e-9)   # none at 0.9 CNY/kWh
    assert check_plan(p, plan) == []


def test_final_full_packs_and_efficiency_set_the_energy():
    p = _two_pack_problem(demand=[0, 0, 0, 0], initial=0.0, final=1.5, eta=0.8, charge_max_kw=10.0,
                          bay_max_kw=10.0, bays=2)
    sol, plan = _plan(p)
    # 1.5 packs x 10 kWh into the cells at 80 %: 18.75 kWh from the grid
    assert plan.sites["swap_stations"].charge_kw.sum() * p.dt_h == pytest.approx(18.75)
    assert plan.sites["swap_stations"].full_packs.iloc[-1] == pytest.approx(1.5)


def test_swap_charging_shares_the_transformer_limit():
    # 8 kW of base load under a 10 kW limit leaves 2 kW: a pack of 10 kWh needs 5 h
    p = replace(_two_pack_problem(charge_max_kw=10.0, bay_max_kw=10.0, bays=2), limit_kw=np.array([10.0]),
                base_load_kw=np.full((1, 4), 8.0))
    sol, plan = _plan(p)
    assert plan.sites["swap_stations"].charge_kw.max() <= 2.0 + 1e-6
    assert plan.kpis["overload_energy_kwh"] == pytest.approx(0.0, abs=1e-6)
    # the initial pack, and (fluid packs, models/swap_stations.md) 2 kW x 2 h = 4 kWh = 0.4 pack for slot 2
    assert plan.sites["swap_stations"].swaps_served.sum() == pytest.approx(1.4)
    assert check_plan(p, plan) == []


def test_validity_catches_a_swap_without_a_full_pack_and_a_cap_above_the_dispensers():
    p = tiny_problem(n_slots=4, evs=[], sites=sites(n_slots=4, swap=[dict(packs=2, initial=1.0, demand=[1, 1, 1, 0])],
                                                    fast=[dict(lam=[2, 2, 0, 0], energy=20.0)]))
    sol, plan = _plan(p)
    assert check_plan(p, plan) == []
    swap = plan.sites["swap_stations"]
    swap.loc[1, "swaps_served"], swap.loc[1, "unserved_swaps"] = 1.0, 0.0
    swap.loc[0, "full_packs"] = 0.0
    fast = plan.sites["fast_charging"]
    fast.loc[0, "power_cap_kw"] = 500.0
    problems = " | ".join(check_plan(p, plan))
    assert "more swaps served than full packs on hand" in problems
    assert "power_cap_kw outside" in problems
    assert "site_kw differs" in problems


def test_erlang_c_textbook_values():
    # M/M/2, lam = mu = 1: C = 1/3, Wq = 1/3 h; M/M/1 rho = 0.5: C = rho, Wq = rho / (mu - lam) = 1 h
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert mmc_wait_h(1.0, 1.0, 2) == pytest.approx(1 / 3)
    assert mmc_wait_h(0.5, 1.0, 1) == pytest.approx(1.0)
    # call-centre table: 10 Erlang offered to 11 agents wait with probability 0.682
    assert erlang_c(11, 10.0) == pytest.approx(0.6821, abs=1e-4)
    direct = lambda c, a: (a**c / math.factorial(c) * c / (c - a)) / (  # noqa: E731
        sum(a**k / math.factorial(k) for k in range(c)) + a**c / math.factorial(c) * c / (c - a))
    assert erlang_c(30, 25.0) == pytest.approx(direct(30, 25.0), rel=1e-12)
    assert mmc_p_wait_over(1.0, 1.0, 2, 0.5) == pytest.approx(1 / 3 * math.exp(-0.5))
    assert math.isinf(mmc_wait_h(2.0, 1.0, 2))


def test_min_cap_keeps_the_wait_at_target():
    lam, energy, c, pmax, target = 6.0, 30.0, 4, 120.0, 10 / 60
    cap = min_cap_kw(lam, energy, c, pmax, target)
    assert lam * energy < cap < c * pmax
    assert wait_at_cap(cap, lam, energy, c, pmax, target)[0] == pytest.approx(target, rel=1e-6)
    assert wait_at_cap(cap * 0.99, lam, energy, c, pmax, target)[0] > target
    assert min_cap_kw(0.0, energy, c, pmax, target) == 0.0
    assert min_cap_kw(20.0, energy, c, pmax, target) == c * pmax     # even full power cannot keep it


def test_simulation_agrees_with_erlang_c_in_a_steady_state():
    # steady arrivals, dispensers at full power (cap = c x pmax): the M/M/c wait and P(wait > target)
    # once the queue has forgotten its empty start (rho = 0.75 relaxes in hours: a fortnight's horizon)
    T, lam, energy, c, pmax, target = 96 * 14, 6.0, 30.0, 4, 60.0, 10 / 60
    mu = pmax / energy
    sim = simulate_station(np.full(T, lam), np.full(T, energy), np.full(T, c * pmax), c, pmax, 0.25, target, days=6)
    assert sim.mean_wait_min == pytest.approx(mmc_wait_h(lam, mu, c) * 60, rel=0.15)
    assert sim.p_wait_over_target == pytest.approx(mmc_p_wait_over(lam, mu, c, target), abs=0.03)
    again = simulate_station(np.full(T, lam), np.full(T, energy), np.full(T, c * pmax), c, pmax, 0.25, target, days=6)
    assert again == sim                                                # seeded


@pytest.mark.parametrize("method", ["lean", "pyomo"])
def test_fast_station_cap_meets_the_wait_and_the_battery_covers_the_transformer(method):
    # limit 100 kW; the station needs ~135 kW in slots 1-2: the battery (station 0, 5 kWh, 50 kW) covers it
    lam = [0, 4, 4, 0, 0, 0, 0, 0]
    p = tiny_problem(evs=[], limit_kw=100.0, stations=[{"battery": {"capacity": 100.0, "max_charge": 50.0,
                                                                     "max_discharge": 50.0, "soc_initial": 80.0}}],
                     sites=sites(fast=[dict(lam=lam, energy=20.0, dispensers=3, max_kw=60.0)]))
    need = p.sites.fast_min_cap_kw[0]
    assert need[1] > 100.0
    sol, plan = _plan(p, method)
    fast = plan.sites["fast_charging"]
    assert fast.power_cap_kw.to_numpy() == pytest.approx(need, abs=1e-6)
    assert (fast.expected_wait_min.fillna(0) <= 10 + 1e-6).all()
    assert plan.kpis["overload_energy_kwh"] == pytest.approx(0.0, abs=1e-6)
    assert check_plan(p, plan) == []
    k = plan.kpis["fast_charging_stations"][0]
    assert k["energy_served_kwh"] == pytest.approx(2 * 4 * 20.0)
    assert k["slots_over_target"] == 0 and k["sim_sessions"] > 0


def test_uncontrolled_swap_charges_at_once():
    st = sites(n_slots=4, swap=[dict(packs=2, pack_charge_kwh=10.0, charge_max_kw=5.0, bay_max_kw=5.0, initial=1.0,
                                     demand=[1, 1, 1, 0])])
    charge, unserved, full = uncontrolled_swap(st, 1.0)
    np.testing.assert_allclose(charge[0], [5.0, 5.0, 5.0, 5.0])
    # 5 kWh a slot make half a pack (fluid packs): slot 0 takes the full one, slots 1 and 2 half each
    np.testing.assert_allclose(unserved[0], [0.0, 0.5, 0.5, 0.0])
    np.testing.assert_allclose(full[0], [0.5, 0.5, 0.5, 1.0])
