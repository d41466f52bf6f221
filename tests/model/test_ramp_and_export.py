"""EV ramps (``ev_rise``, ``ramp_cny_per_kw``) and no storage discharge into export
(``battery_export``, ``ev_export``): hand-checkable cases in both builds, the whole pipeline
for every method, and the validity check that flags a plan discharging into export."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from problem_factory import check_solution, random_problem, tiny_problem
from test_planner import _ev, _yaml, power, run
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.solve.highs import solve_lean
from vpp_sched.plan.results import make_plan, max_ramp_kw
from vpp_sched.solve.dispatch import METHODS, solve_pyomo
from vpp_sched.plan.validity import check_plan

EXACT = SolverOptions(mip_rel_gap=0.0, time_limit_s=20)
BUILDS = {"lean": lambda p: solve_lean(p, EXACT), "pyomo": lambda p: solve_pyomo(p, EXACT)}


def _full_battery_under_pv(**battery) -> object:
    """1 transformer, 2 kW base load; PV 6 kW in slots 0-5 (4 kW exported), none in 6-7;
    price 0.3 then 0.9 from slot 4; a full 10 kWh battery that may end at 5 kWh; no EVs."""
    spec = {"capacity": 10.0, "soc_initial": 10.0, "soc_final": 5.0, **battery}
    return tiny_problem(base_load_kw=2.0, evs=[], tie_breaks=False,
                        stations=[{"pv": [6, 6, 6, 6, 6, 6, 0, 0], "battery": spec}])


@pytest.mark.parametrize("build", BUILDS)
def test_full_battery_does_not_discharge_into_export(build):
    p = _full_battery_under_pv()
    s = BUILDS[build](p)
    check_solution(p, s, tight=True)
    # Exporting in 0-5 and full: discharging there earns nothing (and could only be recharged from
    # the surplus). In 6-7 it covers the 2 kW base load exactly: more would export, less would import.
    np.testing.assert_allclose(s.battery_discharge_kw[0], [0, 0, 0, 0, 0, 0, 2, 2], atol=1e-6)
    np.testing.assert_allclose(s.battery_charge_kw[0], 0.0, atol=1e-6)
    np.testing.assert_allclose(s.net_load_kw[0], [-4] * 6 + [0, 0], atol=1e-6)
    assert s.objective_cny == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("build", BUILDS)
def test_v2g_ev_discharges_only_what_the_transformer_imports(build):
    # V2G EV plugged in all day; the evening (0.9) pays for discharge recharged at 0.3 (r = 1/0.9025).
    # PV exports in slots 4-5, so it discharges only in 6-7, and only the 2 kW base load.
    p = tiny_problem(base_load_kw=2.0, tie_breaks=False,
                     evs=[{"energy": 0.0, "pmax": 5.0, "v2g": True, "battery": 60.0, "soc0": 30.0}],
                     stations=[{"pv": [0, 0, 0, 0, 6, 6, 0, 0]}])
    s = BUILDS[build](p)
    check_solution(p, s, tight=True)
    np.testing.assert_allclose(s.ev_discharge_kw[0, 4:], [0, 0, 2, 2], atol=1e-6)
    assert (s.net_load_kw[0, 6:] >= -1e-6).all()


def test_discharge_into_export_is_a_validity_violation():
    p = _full_battery_under_pv()
    s = solve_lean(p, EXACT)
    assert check_plan(p, make_plan(p, s)) == []
    s.battery_discharge_kw[0, 1] = 1.0          # 1 kW more export in slot 1, still within limits
    s.net_load_kw[0, 1] -= 1.0
    messages = check_plan(p, make_plan(p, s))
    assert any("discharge while the transformer exports" in m for m in messages), messages


def test_curtailing_pv_to_make_room_for_discharge_is_a_violation_too():
    # Discharging 1 kW while 1 kW of PV is curtailed is export by another name.
    p = _full_battery_under_pv()
    s = solve_lean(p, EXACT)
    s.battery_discharge_kw[0, 1], s.pv_curtail_kw[0, 1] = 5.0, 1.0
    s.net_load_kw[0, 1] += -5.0 + 1.0
    messages = check_plan(p, make_plan(p, s))
    assert any("discharge while the transformer exports" in m for m in messages), messages


@pytest.mark.parametrize("method", METHODS)
def test_valley_charging_ramps_up_instead_of_jumping(tmp_path, method):
    # 10 kWh by midnight at <= 5 kW, cheap from 20:00 (slot 4). Without a ramp price any split of
    # the 4 cheap hours is optimal; with it the largest rise r is minimal: r + 2r + 3r + 4r = 10.
    r = run(tmp_path, method, [_ev(arrival="17:00", energy=10.0, pmax=5.0)],
            penalties={**_yaml()["penalties"], "ramp_cny_per_kw": 0.05})
    k = r.plan.kpis
    assert power(r) == pytest.approx([0, 0, 0, 0, 1, 2, 3, 4], abs=1e-6)
    assert k["grid_energy_cost_cny"] == pytest.approx(51.0, abs=1e-6)   # 48 base + 10 kWh at 0.3
    assert k["objective_cny"] == pytest.approx(51.0 + 0.05 * 1.0, abs=1e-6)
    assert k["max_ramp_kw"] == pytest.approx(1.0, abs=1e-6)
    assert k["uncontrolled"]["max_ramp_kw"] == pytest.approx(5.0)      # 0 -> 5 kW at 17:00


def test_ramp_off_leaves_the_families_out_and_the_optimum_unpriced():
    p = tiny_problem(evs=[{"arrival": 1}], tie_breaks=False)
    assert not p.has_ramp
    priced = replace(p, ramp_penalty_cny_per_kw=0.05)
    a, b = solve_lean(p, EXACT), solve_lean(priced, EXACT)
    rise = priced.max_rise_kw(b.ev_power_kw)   # one EV on one transformer
    assert b.objective_cny == pytest.approx(a.objective_cny + 0.05 * rise[0], abs=1e-9)
    assert rise[0] < p.ev_max_power_kw[0] - 1e-6   # the ramp is spread, not one 5 kW step


def test_max_ramp_kw_counts_rises_of_the_sum_only():
    ev = np.array([[0.0, 5.0, 5.0, 0.0], [0.0, 0.0, 3.0, 3.0]])
    assert max_ramp_kw(ev) == pytest.approx(5.0)         # sums 0, 5, 8, 3
    assert max_ramp_kw(np.array([[5.0, 3.0, 0.0, 0.0]])) == 0.0   # it never rises
    assert max_ramp_kw(np.zeros((0, 4))) == 0.0


# --- the decomposed route carries the ramp term in its blocks -------------------------------------
DECOMPOSE = SolverOptions(time_limit_s=60, mip_rel_gap=1e-3)


def test_decomposed_blocks_price_the_ramp_as_the_whole_day():
    from test_decompose import binding_feeders
    from vpp_sched.solve.decompose import plan_objective, solve_decomposed
    from vpp_sched.solve.lp_rounding import solve_lp_guided

    p = replace(random_problem(120, 48, 6, seed=0, n_stations=1), ramp_penalty_cny_per_kw=0.05)
    mono = solve_lp_guided(p, DECOMPOSE)
    check_solution(p, mono)
    assert plan_objective(p, mono) == pytest.approx(mono.objective_cny, rel=1e-7, abs=1e-6)
    unpriced = solve_lp_guided(replace(p, ramp_penalty_cny_per_kw=0.0), DECOMPOSE)
    ramp = lambda s: max_ramp_kw(s.ev_power_kw - (s.ev_discharge_kw if s.ev_discharge_kw is not None else 0))  # noqa: E731
    assert ramp(mono) < 0.5 * ramp(unpriced)
    decomposed = solve_decomposed(p, DECOMPOSE)        # one block per transformer, uncoupled
    check_solution(p, decomposed)
    assert decomposed.solver["n_blocks"] == 6
    assert decomposed.objective_cny == pytest.approx(plan_objective(p, decomposed), rel=1e-9)
    assert decomposed.objective_cny <= mono.objective_cny * (1 + 1e-3)
    assert decomposed.bound_cny <= mono.objective_cny + 1e-6

    coupled = replace(binding_feeders(0), ramp_penalty_cny_per_kw=0.05)   # coordinated feeders
    mono, sol = solve_lp_guided(coupled, DECOMPOSE), solve_decomposed(coupled, DECOMPOSE, max_block_evs=0)
    check_solution(coupled, sol)
    assert sol.solver["rounds"] >= 1
    assert sol.bound_cny <= mono.objective_cny + 1e-6 * abs(mono.objective_cny)
    assert sol.objective_cny <= mono.objective_cny * (1 + 5e-3)


def test_coordination_rounds_leave_the_ramp_out_and_price_it_for_the_bound():
    # The price rounds solve the blocks without the ramp (it couples no blocks); one last round
    # with it gives the bound: above the rounds' own (no-ramp) bound, and still below the day's LP.
    from test_decompose import binding_feeders
    from vpp_sched.problem.blocks import find_blocks
    from vpp_sched.solve.coordination import coordinate, coupling_rows, ramp_bound
    from vpp_sched.solve.parallel import SerialExecutor, batches

    p = replace(binding_feeders(0), ramp_penalty_cny_per_kw=0.05)
    blocks = find_blocks(p, 0)                            # one block per transformer: feeders coordinated
    block_of = np.empty(p.n_transformers, dtype=np.int64)
    for j, idx in enumerate(blocks):
        block_of[idx] = j
    coupling = coupling_rows(p, block_of)
    coupled = np.arange(len(blocks))

    chunks = lambda items: batches(items, np.ones(len(blocks)), 2)  # noqa: E731

    def run(q):
        return coordinate(q, blocks, coupling, coupled, SerialExecutor(), 1e-6, float("inf"), 8, chunks)

    priced, unpriced = run(p), run(replace(p, ramp_penalty_cny_per_kw=0.0))
    assert priced.history == unpriced.history          # the same rounds: the ramp is not in them
    assert priced.bound == unpriced.bound and unpriced.ramp_lam is None and priced.ramp_lam is not None
    ramp_bound(p, blocks, coupling, coupled, SerialExecutor(), chunks, priced)
    assert priced.bound > unpriced.bound + 1e-6         # the last round prices it
    assert priced.ramp_lam is None
    day_lp = solve_lean(p.relaxation(), EXACT_LP, relax_integrality=True)
    assert priced.bound <= day_lp.objective_cny + 1e-6 * abs(day_lp.objective_cny)



def test_ramp_bound_stops_once_enough_and_every_partial_bound_lies_between():
    # The ramp is priced block group by block group, largest estimated ramp first, until the bound
    # is enough: a partial bound is above the rounds' no-ramp bound and below the full ramp bound.
    from test_decompose import binding_feeders
    from vpp_sched.problem.blocks import find_blocks
    from vpp_sched.solve import coordination
    from vpp_sched.solve.coordination import coordinate, coupling_rows, ramp_bound
    from vpp_sched.solve.parallel import SerialExecutor, batches

    p = replace(binding_feeders(0), ramp_penalty_cny_per_kw=0.05)
    blocks = find_blocks(p, 0)
    block_of = np.empty(p.n_transformers, dtype=np.int64)
    for j, idx in enumerate(blocks):
        block_of[idx] = j
    coupling = coupling_rows(p, block_of)
    coupled = np.arange(len(blocks))
    assert len(coupled) > coordination.RAMP_BOUND_FIRST_GROUP      # else there is nothing to stop early
    chunks = lambda items: batches(items, np.ones(len(blocks)), 2)  # noqa: E731

    def priced(enough):
        out = coordinate(p, blocks, coupling, coupled, SerialExecutor(), 1e-6, float("inf"), 8, chunks)
        rounds_bound, counted = out.bound, []
        real = coordination.solve_block_lps
        coordination.solve_block_lps = lambda tasks: counted.extend(tasks) or real(tasks)
        try:
            ramp_bound(p, blocks, coupling, coupled, SerialExecutor(), chunks, out, enough)
        finally:
            coordination.solve_block_lps = real
        return rounds_bound, out.bound, len(counted)

    rounds_bound, full, n_full = priced(np.inf)
    assert n_full == len(coupled)
    _, first, n_first = priced(-np.inf)                  # any bound is enough: the first group only
    assert n_first == coordination.RAMP_BOUND_FIRST_GROUP
    assert rounds_bound + 1e-6 < first <= full + 1e-9   # the largest ramps first: the first group raises it
    _, halfway, n_half = priced(first + 0.5 * (full - first))
    assert n_first < n_half <= n_full and halfway >= first + 0.5 * (full - first) - 1e-9


EXACT_LP = SolverOptions(mip_rel_gap=0.0, time_limit_s=60)


def test_kpis_report_the_ramp_and_the_schema_requires_it(tmp_path):
    import json

    import jsonschema

    from scenario_factory import write_scenario
    from vpp_sched.plan.output import write_plan
    from vpp_sched.plan.schema import kpis_schema
    from vpp_sched.plan.planner import plan_day

    run_ = plan_day(write_scenario(tmp_path / "sc"))
    kpis = json.loads((write_plan(run_.plan, tmp_path / "plan", parquet=False) / "kpis.json").read_text())
    schema = kpis_schema()
    jsonschema.validate(kpis, schema)
    ev = run_.plan.transformer_load.groupby("slot_start").ev_kw.sum().to_numpy()
    assert kpis["max_ramp_kw"] == pytest.approx(max(np.diff(ev).max(), 0.0), abs=1e-6)
    for where in (kpis, kpis["uncontrolled"]):
        broken = json.loads(json.dumps(kpis))
        (broken if where is kpis else broken["uncontrolled"]).pop("max_ramp_kw")
        with pytest.raises(jsonschema.ValidationError, match="max_ramp_kw"):
            jsonschema.validate(broken, schema)
