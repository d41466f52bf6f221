"""The lean highspy build: hand-checkable optima per constraint family, structure and status handling.

Every expected value below is worked out by hand in the comment next to it. Default tiny problem
(see ``problem_factory.tiny_problem``): 8 slots of 1 h, price 0.3 CNY/kWh in slots 0-3 and 0.9 in
slots 4-7, one transformer with a 100 kW limit.
"""

from __future__ import annotations

from dataclasses import replace

import highspy
import numpy as np
import pytest

from problem_factory import check_solution, energy_cost, random_problem, tiny_problem
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.model.lean import BINARY_FAMILIES, COL_FAMILY_DIMS, ROW_FAMILY_DIMS, build_lean
from vpp_sched.solve.highs import solve_lean
from vpp_sched.solve.solution import SolveStatus

EXACT = SolverOptions(mip_rel_gap=0.0, time_limit_s=20)


def solve(problem, **kw):
    solution = solve_lean(problem, EXACT, **kw)
    assert solution.status is SolveStatus.OPTIMAL, solution.solver.get("model_status")
    check_solution(problem, solution, tight=True)
    return solution


# --- EV energy, tariff and tie-breaks ---------------------------------------------------------
def test_one_ev_charges_in_cheap_slots():
    p = tiny_problem(base_load_kw=10.0, evs=[{}])
    s = solve(p)
    # base 10 kW * (4 h * 0.3 + 4 h * 0.9) = 48; EV 10 kWh * 0.3 = 3
    assert energy_cost(p, s) == pytest.approx(51.0, abs=1e-9)
    # early tie-break picks slots 0 and 1: 1e-4 * 1 h * 5 kW * (0/7 + 1/7)
    np.testing.assert_allclose(s.ev_power_kw[0], [5, 5, 0, 0, 0, 0, 0, 0], atol=1e-9)
    assert s.objective_cny == pytest.approx(51.0 + 1e-4 * 5 / 7, abs=1e-9)
    assert s.ev_unmet_kwh[0] == 0.0


def test_objective_without_tie_breaks_is_the_energy_cost():
    p = tiny_problem(base_load_kw=10.0, evs=[{}, {"energy": 4.0}], tie_breaks=False)
    s = solve(p)
    assert s.objective_cny == pytest.approx(48.0 + 14.0 * 0.3, abs=1e-9)
    assert s.objective_cny == pytest.approx(energy_cost(p, s), abs=1e-9)


def test_ev_never_charges_outside_its_availability():
    # plugged in for slots 1, 6, 7 only: 5 kWh in the cheap slot 1, 5 kWh at 0.9 -> 1.5 + 4.5
    available = np.zeros(8, dtype=bool)
    available[[1, 6, 7]] = True
    p = tiny_problem(evs=[{"available": available}, {"arrival": 5, "departure": 8}])
    m = build_lean(p)
    assert m.col_families["ev_power_kw"].stop - m.col_families["ev_power_kw"].start == 3 + 3
    s = solve(p)
    assert np.all(s.ev_power_kw[0, ~available] == 0.0)
    assert np.all(s.ev_power_kw[1, :5] == 0.0)
    assert s.ev_power_kw[0, 1] == pytest.approx(5.0)
    # EV 1 (slots 5-7) pays 10 kWh * 0.9 = 9
    assert energy_cost(p, s) == pytest.approx(1.5 + 4.5 + 9.0, abs=1e-9)


# --- transformer ----------------------------------------------------------------------------
def test_transformer_limit_pushes_charging_into_dearer_slots():
    # limit 8, base 3: 5 kW headroom; two EVs want 30 kWh; cheap slots carry 4 * 5 = 20 kWh
    p = tiny_problem(limit_kw=8.0, base_load_kw=3.0, evs=[{"energy": 15.0}, {"energy": 15.0}])
    s = solve(p)
    assert np.all(s.net_load_kw <= 8.0 + 1e-7)
    assert s.overload_kw.max() == 0.0 and s.ev_unmet_kwh.max() == 0.0
    # EVs 20 * 0.3 + 10 * 0.9 = 15; base 3 * 4.8 = 14.4
    assert energy_cost(p, s) == pytest.approx(15.0 + 14.4, abs=1e-9)
    np.testing.assert_allclose(s.ev_power_kw.sum(axis=0)[:4], 5.0, atol=1e-7)


def test_unmet_energy_when_the_stay_is_too_short():
    # 30-min slots; plugged in for slots 2-3 (1 h): 5 kW * 2 * 0.5 h = 5 kWh of 20
    p = tiny_problem(dt_h=0.5, evs=[{"energy": 20.0, "arrival": 2, "departure": 4}], tie_breaks=False)
    s = solve(p)
    assert s.ev_unmet_kwh[0] == pytest.approx(20.0 - 5.0 * 2 * 0.5)
    np.testing.assert_allclose(s.ev_power_kw[0, 2:4], 5.0)
    # 5 kWh at 0.3 + 15 kWh at the unmet penalty
    assert s.objective_cny == pytest.approx(1.5 + 15 * p.unmet_penalty_cny_per_kwh, abs=1e-9)


def test_overload_only_where_the_base_load_alone_exceeds_the_limit():
    base = np.array([8, 8, 8, 8, 8, 8, 12, 8], dtype=float)
    p = tiny_problem(limit_kw=10.0, base_load_kw=base, evs=[{}], tie_breaks=False)
    s = solve(p)
    np.testing.assert_allclose(s.overload_kw[0], [0, 0, 0, 0, 0, 0, 2, 0], atol=1e-9)
    assert s.ev_power_kw[0, 6] == 0.0 and s.ev_unmet_kwh[0] == pytest.approx(0.0)
    # base 8*4*0.3 + (8*3 + 12)*0.9 = 42; EV 8 kWh * 0.3 + 2 kWh * 0.9 = 4.2; overload penalty * 2 kWh
    assert s.objective_cny == pytest.approx(42.0 + 4.2 + 2.0 * p.overload_penalty_cny_per_kwh, abs=1e-9)


def test_drivers_fall_short_before_the_transformer_overloads():
    p = tiny_problem(limit_kw=10.0, base_load_kw=10.0, evs=[{"energy": 5.0}], tie_breaks=False)
    s = solve(p)
    assert s.overload_kw.max() == 0.0
    assert s.ev_unmet_kwh[0] == pytest.approx(5.0)
    assert s.objective_cny == pytest.approx(10.0 * 4.8 + 5.0 * p.unmet_penalty_cny_per_kwh, abs=1e-9)


# --- minimum power (binary on/off) -------------------------------------------------------------
def test_min_power_makes_power_semicontinuous():
    # 6 kWh with p in {0} U [4, 5] kW in 1-h slots: two slots give >= 8 kWh > 6, so one slot at
    # 5 kW and 1 kWh unmet (the LP relaxation would take 3 + 3 kW at 0.3)
    p = tiny_problem(evs=[{"energy": 6.0, "pmin": 4.0, "pmax": 5.0}], tie_breaks=False)
    s = solve(p)
    on = s.ev_power_kw[0] > 0
    assert on.sum() == 1 and s.ev_power_kw[0, on][0] == pytest.approx(5.0)
    assert s.ev_unmet_kwh[0] == pytest.approx(1.0)
    assert s.objective_cny == pytest.approx(5.0 * 0.3 + 1.0 * p.unmet_penalty_cny_per_kwh, abs=1e-5)   # bound tolerance on p
    assert s.solver["n_integer"] == 8

    r = solve_lean(p, EXACT, relax_integrality=True)
    assert r.status is SolveStatus.OPTIMAL and r.solver["n_integer"] == 0
    assert r.objective_cny == pytest.approx(6.0 * 0.3, abs=1e-9)
    assert r.bound_cny == r.objective_cny <= s.objective_cny


def test_min_power_with_enough_energy_has_no_unmet():
    p = tiny_problem(evs=[{"energy": 9.0, "pmin": 4.0, "pmax": 5.0}, {"energy": 13.0, "pmin": 1.4, "pmax": 7.0}])
    s = solve(p)
    assert s.ev_unmet_kwh.max() == pytest.approx(0.0)
    assert energy_cost(p, s) == pytest.approx(22.0 * 0.3, abs=1e-9)


def test_switch_on_tie_break_counts_starts():
    # flat price: 10 kWh in any slots; a single run of charging slots (one start) wins by 1e-3
    p = tiny_problem(price=np.full(8, 0.5), evs=[{"pmin": 1.0}], early_charging_cny_per_kwh=0.0)
    s = solve(p)
    on = np.flatnonzero(s.ev_power_kw[0] > 0)
    assert np.all(np.diff(on) == 1)
    assert s.objective_cny == pytest.approx(5.0 + 1e-3, abs=1e-9)
    # plugged in 0-1 and 4-5: 20 kWh needs all four slots; slot 4 starts anew (slot 3 not in the stay)
    available = np.array([1, 1, 0, 0, 1, 1, 0, 0], dtype=bool)
    p = tiny_problem(price=np.full(8, 0.5), evs=[{"pmin": 1.0, "energy": 20.0, "available": available}],
                     early_charging_cny_per_kwh=0.0)
    s = solve(p)
    assert s.objective_cny == pytest.approx(10.0 + 2e-3, abs=1e-9)


# --- batteries -------------------------------------------------------------------------------
BATTERY = {"capacity": 10.0, "max_charge": 5.0, "max_discharge": 5.0, "eta_c": 0.9, "eta_d": 0.9,
           "soc_min": 0.0, "soc_max": 10.0, "soc_initial": 0.0, "soc_final": 0.0}


def test_battery_arbitrage_with_efficiencies():
    # prices 0.2, 1.0, 0.5; base 10 kW. Charge 5 kW in slot 0 (cost 1.0, stores 4.5 kWh),
    # discharge 4.5 * 0.9 = 4.05 kW in slot 1 (saves 4.05): 17 + 1.0 - 4.05
    p = tiny_problem(n_slots=3, price=[0.2, 1.0, 0.5], base_load_kw=10.0, evs=[],
                     stations=[{"battery": BATTERY}])
    s = solve(p)
    assert s.objective_cny == pytest.approx(13.95, abs=1e-9)
    np.testing.assert_allclose(s.battery_charge_kw[0], [5, 0, 0], atol=1e-9)
    np.testing.assert_allclose(s.battery_discharge_kw[0], [0, 4.05, 0], atol=1e-9)
    np.testing.assert_allclose(s.battery_soc_kwh[0], [4.5, 0, 0], atol=1e-9)   # end of each slot
    assert np.all(np.minimum(s.battery_charge_kw, s.battery_discharge_kw) == 0.0)


def test_battery_final_soc_forces_charging():
    # lossless, 5 kWh at the start, >= 8 kWh at the end. Best: charge 5 in slot 0 (1.0, SOC 10),
    # discharge 5 in slot 1 (-5.0, SOC 5), charge 3 in slot 2 (1.5, SOC 8): 17 + 1.0 - 5.0 + 1.5
    battery = dict(BATTERY, eta_c=1.0, eta_d=1.0, soc_initial=5.0, soc_final=8.0)
    p = tiny_problem(n_slots=3, price=[0.2, 1.0, 0.5], base_load_kw=10.0, evs=[],
                     stations=[{"battery": battery}])
    s = solve(p)
    assert s.battery_soc_kwh[0, -1] == pytest.approx(8.0)
    np.testing.assert_allclose(s.battery_soc_kwh[0], [10, 5, 8], atol=1e-9)
    assert s.objective_cny == pytest.approx(14.5, abs=1e-9)


def test_battery_mode_binary_is_relaxable():
    p = tiny_problem(n_slots=3, price=[0.2, 1.0, 0.5], base_load_kw=10.0, evs=[],
                     stations=[{"battery": BATTERY}])
    m = build_lean(p)
    assert m.integrality[m.col_families["battery_mode"]].tolist() == [1, 1, 1]
    assert not build_lean(p, relax_integrality=True).integrality.any()


# --- PV ---------------------------------------------------------------------------------------
def test_pv_curtailment_and_reverse_limit():
    # 30 kW PV in slots 2-5, base 5, limit 10: net 5 - 30 = -25 < -10, so >= 15 kW is curtailed;
    # the EV charges for free on PV (slots 2, 3 by the early tie-break)
    pv = np.array([0, 0, 30, 30, 30, 30, 0, 0], dtype=float)
    p = tiny_problem(limit_kw=10.0, base_load_kw=5.0, evs=[{}], stations=[{"pv": pv}])
    s = solve(p)
    assert np.all(s.net_load_kw >= -10.0 - 1e-7) and s.overload_kw.max() == 0.0
    np.testing.assert_allclose(s.ev_power_kw[0], [0, 0, 5, 5, 0, 0, 0, 0], atol=1e-9)
    assert np.all(s.pv_curtail_kw[0, 4:6] >= 15.0 - 1e-7)
    # only base load in slots 0, 1, 6, 7 is bought: 5 * (0.3 + 0.3 + 0.9 + 0.9)
    assert energy_cost(p, s) == pytest.approx(12.0, abs=1e-9)
    assert s.objective_cny == pytest.approx(12.0 + 1e-4 * 5 * (2 + 3) / 7, abs=1e-9)


def test_reverse_limit_rows_only_for_transformers_with_a_station():
    pv = np.array([0, 0, 30, 30, 30, 30, 0, 0], dtype=float)
    p = tiny_problem(n_transformers=2, limit_kw=[10.0, 10.0], base_load_kw=5.0,
                     evs=[{"transformer": 0}, {"transformer": 1}], stations=[{"transformer": 1, "pv": pv}])
    m = build_lean(p)
    rows = m.row_families["transformer_reverse_limit"]
    assert rows.stop - rows.start == 8
    assert set(m.row_index["transformer_reverse_limit"][0].tolist()) == {1}
    s = solve(p)
    assert np.all(s.net_load_kw[1] >= -10.0 - 1e-7)
    assert np.all(s.pv_curtail_kw[0, 2:6] >= 15.0 - 5.0 - 1e-7)


# --- feeders ----------------------------------------------------------------------------------
def test_feeder_limit_shares_headroom_between_transformers():
    # T0, T1 on a 12 kW feeder (base 2 + 2: 8 kW headroom), T2 on no feeder; 20 kWh EVs on each.
    # T0+T1: 32 kWh cheap (9.6) + 8 kWh at 0.9 (7.2); T2: 20 kWh cheap (6.0); base 3 * 2 * 4.8
    p = tiny_problem(n_transformers=3, limit_kw=10.0, base_load_kw=2.0,
                     evs=[{"energy": 20.0, "transformer": n} for n in range(3)],
                     feeders=[{"capacity": 12.0, "transformers": [0, 1]}])
    s = solve(p)
    assert np.all(s.net_load_kw[:2].sum(axis=0) <= 12.0 + 1e-7)
    assert s.feeder_overload_kw.max() == 0.0 and s.ev_unmet_kwh.max() == pytest.approx(0.0)
    assert energy_cost(p, s) == pytest.approx(9.6 + 7.2 + 6.0 + 28.8, abs=1e-9)


def test_feeder_overload_when_base_loads_exceed_capacity():
    base = np.full((2, 8), 5.0)
    base[:, 5] = 7.0
    p = tiny_problem(n_transformers=2, limit_kw=10.0, base_load_kw=base, evs=[],
                     feeders=[{"capacity": 12.0, "transformers": [0, 1]}])
    s = solve(p)
    np.testing.assert_allclose(s.feeder_overload_kw[0], [0, 0, 0, 0, 0, 2, 0, 0], atol=1e-9)
    assert s.overload_kw.max() == 0.0
    assert s.objective_cny == pytest.approx(energy_cost(p, s) + p.overload_penalty_cny_per_kwh * 2.0, abs=1e-9)


# --- DR events --------------------------------------------------------------------------------
def test_dr_event_moves_charging_out_of_the_event():
    # event in slots 0-1 on T0 only: cap = baseline 10 - reduction 5 = 5 = T0's base load
    p = tiny_problem(n_transformers=2, base_load_kw=5.0, evs=[{"transformer": 0}, {"transformer": 1}],
                     events=[{"slots": (0, 2), "scope": [0], "baseline": 10.0, "reduction": 5.0,
                              "price": 0.5, "penalty": 5.0}])
    m = build_lean(p)
    assert m.row_families["dr_event_cap"].stop - m.row_families["dr_event_cap"].start == 2
    assert m.objective_constant == pytest.approx(-0.5 * 1.0 * 5.0 * 2)
    s = solve(p)
    np.testing.assert_allclose(s.ev_power_kw[0], [0, 0, 5, 5, 0, 0, 0, 0], atol=1e-9)
    np.testing.assert_allclose(s.ev_power_kw[1], [5, 5, 0, 0, 0, 0, 0, 0], atol=1e-9)   # out of scope
    assert s.dr_shortfall_kw.max() == 0.0
    assert energy_cost(p, s) == pytest.approx(2 * 5.0 * 4.8 + 2 * 3.0, abs=1e-9)


def test_dr_shortfall_when_the_cap_is_below_the_base_load():
    # base 8 in the event slots, cap 5: shortfall 3 kW in each, priced (5 + 0.5) * 1 h
    base = np.array([8, 8, 5, 5, 5, 5, 5, 5], dtype=float)
    p = tiny_problem(base_load_kw=base, evs=[{}], tie_breaks=False,
                     events=[{"slots": (0, 2), "baseline": 10.0, "reduction": 5.0, "price": 0.5, "penalty": 5.0}])
    s = solve(p)
    np.testing.assert_allclose(s.dr_shortfall_kw[0], [3, 3, 0, 0, 0, 0, 0, 0], atol=1e-9)
    assert np.all(s.ev_power_kw[0, :2] == 0.0)
    # base (8+8+5+5)*0.3 + 5*4*0.9 = 25.8; EV 10 kWh * 0.3 = 3; shortfall 5.5 * 6 kWh
    assert s.objective_cny == pytest.approx(25.8 + 3.0 + 33.0, abs=1e-9)


def test_base_load_above_the_baseline_is_a_shortfall_not_infeasible():
    # cap 5 but base 12: the shortfall is 7, more than the 5 kW asked (the load is above the baseline)
    base = np.array([12, 12, 5, 5, 5, 5, 5, 5], dtype=float)
    p = tiny_problem(base_load_kw=base, limit_kw=20.0, evs=[{}],
                     events=[{"slots": (0, 2), "baseline": 10.0, "reduction": 5.0}])
    s = solve_lean(p, EXACT)
    check_solution(p, s)
    assert s.status is SolveStatus.OPTIMAL
    assert s.dr_shortfall_kw[0, :2] == pytest.approx([7.0, 7.0])


# --- structure and bookkeeping ----------------------------------------------------------------
def test_families_cover_the_model_and_trace_indices():
    p = random_problem(40, 24, 4, seed=3, n_feeders=2, n_stations=2, n_events=1)
    m = build_lean(p)
    for families, size, names in ((m.col_families, m.n_cols, COL_FAMILY_DIMS),
                                  (m.row_families, m.n_rows, ROW_FAMILY_DIMS)):
        assert list(families) == list(names)
        stops = [0] + [sl.stop for sl in families.values()]
        assert [sl.start for sl in families.values()] == stops[:-1] and stops[-1] == size
    avail, binary = p.ev_available, p.ev_binary
    sizes = {k: v.stop - v.start for k, v in m.col_families.items()}
    assert sizes["ev_power_kw"] == avail.sum()
    assert sizes["ev_on"] == sizes["ev_start"] == avail[binary].sum()
    assert sizes["dr_shortfall_kw"] == p.event_slots.sum()
    rsizes = {k: v.stop - v.start for k, v in m.row_families.items()}
    assert rsizes["transformer_reverse_limit"] == 24 * len(np.unique(p.station_transformer))
    assert m.integrality.sum() == sizes["ev_on"] + sizes["battery_mode"]
    assert all(m.integrality[m.col_families[f]].all() for f in BINARY_FAMILIES)

    # every EV power column: energy + balance rows (+ min and max power rows if binary)
    e, t = m.col_index["ev_power_kw"]
    cols = np.arange(m.col_families["ev_power_kw"].start, m.col_families["ev_power_kw"].stop)
    nnz = np.diff(m.a_start)[cols]
    np.testing.assert_array_equal(nnz, 2 + 2 * binary[e])
    j = int(cols[17])
    assert m.col_name(j) == f"ev_power_kw[{e[17]},{t[17]}]" and avail[e[17], t[17]]
    rows = m.a_index[m.a_start[j]:m.a_start[j + 1]]
    names = {m.row_name(int(r)) for r in rows}
    assert f"ev_energy[{e[17]}]" in names
    assert f"transformer_balance[{p.ev_transformer[e[17]]},{t[17]}]" in names
    assert m.row_name(m.row_families["dr_event_cap"].stop - 1).startswith("dr_event_cap[0,")
    assert rsizes["battery_export"] == p.n_batteries * 24 and rsizes["ev_export"] == 0   # no V2G EV
    assert sizes["ev_max_rise_kw"] == rsizes["ev_rise"] == 0  # ramp unpriced
    ramp = build_lean(replace(p, ramp_penalty_cny_per_kw=0.1))
    assert ramp.row_families["ev_rise"].stop - ramp.row_families["ev_rise"].start == 4 * 23
    assert ramp.values(ramp.col_cost, "ev_max_rise_kw") == pytest.approx([0.1] * 4)
    # the rise rows read the EV power off the balance: no EV column is in them, and a transformer's
    # net load enters the row of its slot (-1) and of the next slot (+1)
    A = ramp.matrix().tocsc()
    ev_cols = A[:, ramp.col_families["ev_power_kw"]]
    rise_rows = ramp.row_families["ev_rise"]
    assert ev_cols[rise_rows.start:rise_rows.stop].nnz == 0
    n, t = 1, 5
    col = A[:, ramp.col_families["net_load_kw"].start + n * 24 + t]
    rise = {ramp.row_name(int(r)): v for r, v in zip(col.indices, col.data) if ramp.row_family(int(r)) == "ev_rise"}
    assert rise == {f"ev_rise[{n},{t}]": -1.0, f"ev_rise[{n},{t + 1}]": 1.0}

    s = solve_lean(p, EXACT)
    assert s.status is SolveStatus.OPTIMAL
    check_solution(p, s, tight=True)


def test_solver_metadata_and_lp_bound():
    p = tiny_problem()
    s = solve(p)
    assert s.solver["name"] == "highs" and s.solver["build"] == "lean"
    assert s.solver["version"] == highspy.Highs().version()
    assert s.solver["options"] == {"time_limit": 20.0, "mip_rel_gap": 0.0, "threads": 1, "random_seed": 0,
                                   "presolve": "off", "output_flag": False,   # a small LP: see LP_PRESOLVE_MIN_COLS
                                   "simplex_dual_edge_weight_strategy": 1}    # and LP_DEVEX
    assert s.solver["n_integer"] == 0                      # no binaries: an LP
    assert s.bound_cny == s.objective_cny and s.mip_gap == 0.0
    assert s.build_seconds > 0 and s.solve_seconds > 0


def test_mip_reports_dual_bound_and_gap():
    p = tiny_problem(evs=[{"pmin": 2.0}, {"pmin": 3.0, "energy": 7.0}])
    s = solve(p)
    assert s.bound_cny <= s.objective_cny + 1e-9
    assert s.mip_gap == pytest.approx(abs(s.objective_cny - s.bound_cny) / abs(s.objective_cny))


def test_changing_threads_between_solves():
    p = tiny_problem(evs=[{"pmin": 2.0}])
    for threads in (2, 1, 3):
        s = solve_lean(p, SolverOptions(threads=threads, mip_rel_gap=0.0))
        assert s.status is SolveStatus.OPTIMAL and s.solver["options"]["threads"] == threads


def test_tiny_time_limit_stops_without_crashing():
    p = random_problem(1500, 96, 15, seed=1, min_power_share=0.5, n_stations=3)
    s = solve_lean(p, SolverOptions(time_limit_s=0.05))
    assert s.status in (SolveStatus.TIME_LIMIT, SolveStatus.NO_SOLUTION)
    assert s.solve_seconds < 10
    if s.status is SolveStatus.TIME_LIMIT:
        check_solution(p, s)
        assert s.mip_gap >= 0
    else:
        assert s.ev_power_kw is None


def test_bound_changes_reach_highs_and_skip_unchanged_columns():
    from vpp_sched.solve.highs import LeanSolver

    p = tiny_problem(base_load_kw=10.0, evs=[{}, {"min_power_kw": 2.0}])
    model = build_lean(p, relax_integrality=True)
    solver = LeanSolver(model, p, EXACT)
    cols = np.arange(model.col_families["ev_power_kw"].start, model.col_families["ev_power_kw"].stop)
    passed = []
    solver.h = _Spy(solver.h, passed)

    def held():
        lp = solver.h.getLp()
        return np.asarray(lp.col_lower_)[cols], np.asarray(lp.col_upper_)[cols]

    upper = model.col_upper[cols].copy()
    solver.set_col_bounds(cols, np.zeros(len(cols)), upper)          # nothing changes
    assert passed == []
    upper[[1, 4]] = 0.0
    solver.set_col_bounds(cols, np.zeros(len(cols)), upper)
    assert passed == [[cols[1], cols[4]]]
    np.testing.assert_array_equal(held()[1], upper)
    lower = np.zeros(len(cols))
    lower[2] = 1.5
    solver.set_col_bounds(cols, lower, upper)                         # only column 2 differs now
    assert passed[-1] == [cols[2]]
    np.testing.assert_array_equal(held()[0], lower)
    np.testing.assert_array_equal(held()[1], upper)
    sol = solver.run()
    assert sol.status is SolveStatus.OPTIMAL
    check_solution(p, sol)


class _Spy:
    """A Highs instance that records the columns passed to changeColsBounds."""

    def __init__(self, h, passed):
        self._h, self._passed = h, passed

    def changeColsBounds(self, n, cols, lower, upper):
        self._passed.append([int(c) for c in cols])
        return self._h.changeColsBounds(n, cols, lower, upper)

    def __getattr__(self, name):
        return getattr(self._h, name)


def test_presolve_off_for_small_lps_only():
    from vpp_sched.solve.highs import LP_PRESOLVE_MIN_COLS, lp_presolve

    assert lp_presolve(10) == "off" and lp_presolve(LP_PRESOLVE_MIN_COLS - 1) == "off"
    assert lp_presolve(LP_PRESOLVE_MIN_COLS) == "choose"
    mip = solve(tiny_problem(evs=[{"pmin": 2.0}]))
    assert mip.solver["n_integer"] > 0 and mip.solver["options"]["presolve"] == "choose"   # MILPs keep it


def test_small_and_large_assembly_give_the_same_matrix(monkeypatch):
    import vpp_sched.model.lean_layout as lean_layout

    # with the families that hold a column in several rows of one chunk (ev_rise, ev_export)
    p = replace(random_problem(30, 12, 3, seed=5, n_feeders=1, n_stations=1, n_events=1, v2g_share=0.3),
                ramp_penalty_cny_per_kw=0.05)
    assert p.has_ramp and p.has_v2g
    for relax in (True, False):
        small = build_lean(p, relax_integrality=relax)
        monkeypatch.setattr(lean_layout, "SMALL_NNZ", -1)          # the chunk-wise counting sort
        large = build_lean(p, relax_integrality=relax)
        monkeypatch.undo()
        for name in ("a_start", "a_index", "a_value"):
            a, b = getattr(small, name), getattr(large, name)
            assert a.dtype == b.dtype and np.array_equal(a, b), name
