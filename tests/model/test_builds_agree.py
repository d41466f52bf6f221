"""The lean highspy build is the Pyomo model: same rows, columns, coefficients, bounds, costs, optimum.

Pyomo's standard-form compiler gives the Pyomo model's matrix; rows and columns are matched
by name (``ev_power_kw[3,17]``, ``transformer_limit[0,5]``), so a family built differently
in the two places fails here with its name.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

from problem_factory import random_problem, tiny_problem
from sites_factory import sites
from problem_factory import random_problem, tiny_problem, with_demand_charge
from vpp_sched.problem.arrays import GridCuts
from vpp_sched.problem.phases import PHASE_SHARE, PhaseLimits
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.model.lean import build_lean
from vpp_sched.solve.highs import solve_lean_model
from vpp_sched.model import create_model
from vpp_sched.solve.dispatch import solve_pyomo

CASES_BASE = {
    "all_families": lambda: random_problem(n_evs=12, n_slots=12, n_transformers=3, seed=4, n_feeders=1,
                                           n_stations=2, n_events=1, min_power_share=0.5),
    "evs_only": lambda: random_problem(n_evs=15, n_slots=16, n_transformers=2, seed=1),
    "v2g": lambda: random_problem(n_evs=12, n_slots=12, n_transformers=2, seed=5, n_stations=1, n_events=1,
                                  min_power_share=0.3, v2g_share=0.5),
    "tiny_battery_pv": lambda: tiny_problem(stations=[{"pv": [0, 0, 3, 6, 6, 3, 0, 0], "battery": {}}],
                                            evs=[{"energy": 8.0, "pmin": 2.0}]),
    # ev_rise (with V2G discharge in it), and battery_export / ev_export with non-zero big-M (PV above base load)
    "ramp_v2g_export": lambda: tiny_problem(
        n_transformers=2, base_load_kw=1.0, ramp_penalty_cny_per_kw=0.05,
        stations=[{"pv": [0, 0, 3, 6, 6, 3, 0, 0], "battery": {"soc_initial": 5.0}},
                  {"pv": [0, 1, 2, 2, 2, 1, 0, 0]}],
        evs=[{"energy": 8.0, "pmin": 2.0}, {"energy": 4.0, "v2g": True, "soc0": 20.0},
             {"energy": 2.0, "v2g": True, "arrival": 2}, {"energy": 6.0, "transformer": 1, "v2g": True}]),
    # dr_event_cap of valley filling with curtailable PV in the scope (the response leaves curtailment
    # out), beside a peak-shaving event on one transformer (metered net load)
    "valley_filling_pv": lambda: tiny_problem(
        n_transformers=3, base_load_kw=2.0, event_sign=np.array([-1.0, 1.0, -1.0]),
        stations=[{"pv": [0, 0, 3, 6, 6, 3, 0, 0], "battery": {"soc_initial": 5.0}},
                  {"pv": [0, 1, 2, 2, 2, 1, 0, 0], "transformer": 1}, {"pv": 2.0, "transformer": 1}],
        events=[{"slots": (2, 5), "reduction": 3.0, "baseline": -4.0, "price": 0.5},
                {"slots": (5, 7), "scope": [0], "reduction": 1.0, "baseline": 6.0},
                {"slots": (1, 4), "scope": [1, 2], "reduction": 2.0, "baseline": 0.0}],
        evs=[{"energy": 8.0, "pmin": 2.0}, {"energy": 4.0, "v2g": True, "transformer": 1},
             {"energy": 3.0, "transformer": 2}]),
    # transformer_reverse_limit on a transformer without a station whose base load feeds back
    # beyond its limit (T1: -150 kW against 100 kW in slots 2-4), beside one with a station
    "reverse_base_load": lambda: tiny_problem(
        n_transformers=3, base_load_kw=[[5.0] * 8, [10.0, 0.0, -150.0, -150.0, -150.0, 0.0, 10.0, 10.0], [3.0] * 8],
        stations=[{"pv": [0, 0, 3, 6, 6, 3, 0, 0]}],
        evs=[{"energy": 8.0}, {"energy": 4.0, "transformer": 1, "v2g": True}, {"energy": 3.0, "transformer": 2}]),
}
# swap and fast-charging stations (models/swap_stations.md, fast_charging.md) on two transformers, one
# with a battery station, inside a feeder and a peak-shaving event
CASES_BASE["swap_fast_sites"] = lambda: tiny_problem(
    n_transformers=2, base_load_kw=20.0, limit_kw=[60.0, 80.0],
    stations=[{"battery": {"soc_initial": 5.0}, "transformer": 1}],
    feeders=[{"capacity": 120.0, "transformers": [0, 1]}],
    events=[{"slots": (5, 7), "reduction": 5.0, "baseline": 70.0}],
    evs=[{"energy": 8.0}, {"energy": 6.0, "transformer": 1}],
    sites=sites(swap=[{"demand": [0, 1, 0.5, 1, 1, 0, 2, 0], "eta": 0.9, "initial": 1.5, "final": 1.0},
                      {"transformer": 1, "packs": 3, "demand": [1, 1, 1, 1, 1, 1, 1, 1], "charge_max_kw": 15.0}],
                fast=[{"transformer": 1, "lam": [0, 2, 4, 3, 2, 1, 0.5, 0], "energy": 15.0, "max_kw": 40.0}]))
# a re-plan's window: swap stations starting with energy in their packs not full (swap_energy at t = 0)
CASES_BASE["swap_replan_window"] = lambda: replace(CASES_BASE["swap_fast_sites"](), sites=replace(
    CASES_BASE["swap_fast_sites"]().sites, swap_initial_partial_kwh=np.array([4.0, 2.5])))
CASES = dict(CASES_BASE, ramp_all_families=lambda: replace(CASES_BASE["all_families"](), ramp_penalty_cny_per_kw=0.02))
# new_peak_kw / demand_peak: charged transformers over a horizon entering December (the month so far
# only in November), one transformer off the two-part tariff, one exempt month
CASES["demand_charge"] = lambda: with_demand_charge(
    replace(CASES_BASE["all_families"](), ramp_penalty_cny_per_kw=0.02), [[12.0, 8.0], [0.0, 0.0], [20.0, 20.0]],
    [3.0, 0.0, 50.0], start="2026-11-30 18:00", exempt=[[False, False], [False, False], [True, False]])
# ev_rise with swap and fast-charging sites: their load leaves the EV power read off the balance
CASES["ramp_sites"] = lambda: replace(CASES_BASE["swap_fast_sites"](), ramp_penalty_cny_per_kw=0.05)
CASES["demand_charge_battery"] = lambda: with_demand_charge(CASES_BASE["tiny_battery_pv"](), 30.0, 2.0)


def _with_grid_rows(problem):
    """grid_voltage (two rows) and grid_line (one) on EVs 0-5, V2G discharge included, tight enough to bind."""
    cuts = GridCuts(kind=np.array(["voltage", "line", "voltage"], dtype=object), slot=np.array([3, 5, 7]),
                    rhs_kw=np.array([1.0, 1.5, 0.5]), row=np.repeat([0, 1, 2], 6), ev=np.tile(np.arange(6), 3),
                    coef=np.tile([1.0, 0.8, 0.5, 0.3, 0.9, 0.2], 3),
                    label=np.array(["T0 bus 9", "T0 line 2", "T0 bus 4"], dtype=object))
    return replace(problem, grid_cuts=cuts)


CASES["grid_rows_v2g"] = lambda: _with_grid_rows(CASES_BASE["v2g"]())


def _with_phase_rows(problem, transformers=(1,)):
    """phase_ev / phase_limit / phase_unbalance (models/lv_grid.md) on some transformers: EVs on a, b, c and abc
    (V2G discharge included), a limit tight enough that phase_overload_kw and unbalance_slack_kw are in play."""
    share = np.array([PHASE_SHARE["abca"[e % 4] if e % 4 < 3 else "abc"] for e in range(problem.n_evs)])
    return replace(problem, phases=PhaseLimits(transformer=np.array(transformers), ev_share=share,
                                               unbalance_max_pct=15.0),
                   limit_kw=np.minimum(problem.limit_kw, 12.0), rating_kw=np.minimum(problem.rating_kw, 12.0))


CASES["phase_rows_v2g"] = lambda: _with_phase_rows(CASES_BASE["v2g"]())
CASES["phase_rows_all_families"] = lambda: _with_phase_rows(CASES_BASE["all_families"](), (0, 2))


def _pyomo_rows(problem):
    m = create_model(problem)
    repn = LinearStandardFormCompiler().write(m, mixed_form=True)
    A = repn.A.tocsr()
    cols = [v.name for v in repn.columns]
    rows = {}
    for i, entry in enumerate(repn.rows):
        con = entry.constraint
        coefs = {cols[j]: A.data[k] for k, j in zip(range(A.indptr[i], A.indptr[i + 1]), A.indices[A.indptr[i]:A.indptr[i + 1]])}
        rhs = float(repn.rhs[i])  # the body's constant moved to the bound
        # mixed form: bound_type -1 is a lower bound (>=), 0 an equality, +1 an upper bound (<=)
        lo = rhs if entry.bound_type <= 0 else -np.inf
        up = rhs if entry.bound_type >= 0 else np.inf
        rows[con.name] = (coefs, lo, up)
    cost = dict(zip(cols, np.asarray(repn.c.todense()).ravel()))
    bounds = {v.name: (v.lb if v.lb is not None else -np.inf, v.ub if v.ub is not None else np.inf,
                       v.is_binary()) for v in repn.columns}
    return rows, cost, bounds, repn


def _lean_rows(problem):
    lm = build_lean(problem)
    A = lm.matrix().tocsr()
    rows = {}
    for i in range(lm.n_rows):
        sl = slice(A.indptr[i], A.indptr[i + 1])
        rows[lm.row_name(i)] = ({lm.col_name(j): v for j, v in zip(A.indices[sl], A.data[sl])},
                                lm.row_lower[i], lm.row_upper[i])
    cost = {lm.col_name(j): lm.col_cost[j] for j in range(lm.n_cols)}
    bounds = {lm.col_name(j): (lm.col_lower[j], lm.col_upper[j], bool(lm.integrality[j]))
              for j in range(lm.n_cols)}
    return rows, cost, bounds


@pytest.mark.parametrize("case", CASES)
def test_same_matrix(case):
    problem = CASES[case]()
    p_rows, p_cost, p_bounds, repn = _pyomo_rows(problem)
    l_rows, l_cost, l_bounds = _lean_rows(problem)
    assert sorted(p_rows) == sorted(l_rows), "same named rows"
    assert sorted(p_bounds) == sorted(l_bounds), "same named columns"
    for name, (coefs, lo, up) in p_rows.items():
        l_coefs, l_lo, l_up = l_rows[name]
        assert sorted(coefs) == sorted(l_coefs), name
        for col, v in coefs.items():
            assert l_coefs[col] == pytest.approx(v, rel=1e-12, abs=1e-12), f"{name} / {col}"
        assert (l_lo, l_up) == pytest.approx((lo, up), rel=1e-12, abs=1e-9), name
    offset = float(repn.objective_constant if hasattr(repn, "objective_constant") else 0.0)
    assert offset == pytest.approx(0.0)
    for col, v in p_cost.items():
        assert l_cost[col] == pytest.approx(v, rel=1e-12, abs=1e-15), col
    for col, (lo, up, binary) in p_bounds.items():
        l_lo, l_up, l_int = l_bounds[col]
        assert (l_lo, l_up) == pytest.approx((lo, up)), col
        assert l_int == binary, col


@pytest.mark.parametrize("case", CASES)
def test_same_optimum(case):
    problem = CASES[case]()
    options = SolverOptions(mip_rel_gap=1e-7)
    lean = solve_lean_model(build_lean(problem), problem, options)
    ref = solve_pyomo(problem, options)
    assert lean.status.value == ref.status.value == "optimal"
    assert lean.objective_cny == pytest.approx(ref.objective_cny, rel=1e-6, abs=1e-6)
