"""Per-phase transformer limits and the current-unbalance limit (models/lv_grid.md, "Phases").

Hand-checkable: three single-phase EVs all on phase a of one transformer, base load balanced. The
numbers in the comments are computed by hand from the rows

    P_a = base / 3 + x,  P_b = P_c = base / 3        (x: the EVs' power, all on a)
    phase_limit:      P_a <= limit / 3
    phase_unbalance:  P_b >= (1 - u) P_a - unbalance_slack_kw   =>  slack = max(0, (1 - u) x - u base / 3)
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from grid_factory import two_bus_grid
from problem_factory import tiny_problem
from scenario_factory import EVS, TRANSFORMERS, base_load_frame, write_scenario
from vpp_sched.errors import InputError
from vpp_sched.model.lean import build_lean
from vpp_sched.plan.planner import plan_day
from vpp_sched.problem.phases import PHASE_SHARE, PhaseLimits, phase_power_kw, phase_slacks_kw
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.scenario.load import load_scenario
from vpp_sched.solve.dispatch import solve, solve_pyomo
from vpp_sched.solve.highs import solve_lean_model

OPTIONS = SolverOptions(mip_rel_gap=1e-9)


def _all_on_a(limit_kw: float, base_load_kw, energies, unbalance_max_pct: float):
    """1 transformer, 8 one-hour slots (0.3 CNY/kWh in 0-3, 0.9 in 4-7), 3 EVs of 5 kW all on phase a; unbalance
    slack at 10 CNY/kWh."""
    p = tiny_problem(limit_kw=limit_kw, base_load_kw=base_load_kw, tie_breaks=False, unbalance_penalty_cny_per_kwh=10.0,
                     evs=[{"energy": e, "pmax": 5.0} for e in energies])
    return replace(p, phases=PhaseLimits(transformer=np.array([0]), ev_share=np.array([PHASE_SHARE["a"]] * 3),
                                         unbalance_max_pct=unbalance_max_pct))


def _both(p):
    lean = solve_lean_model(build_lean(p), p, OPTIONS)
    ref = solve_pyomo(p, OPTIONS)
    assert lean.status.value == ref.status.value == "optimal"
    assert lean.objective_cny == pytest.approx(ref.objective_cny, rel=1e-7, abs=1e-7)
    return lean


def test_the_per_phase_limit_binds_at_a_third_of_the_limit():
    # limit 30 kW: phase a carries 2 (base 6 / 3) + x <= 10, so x <= 8 although the transformer row
    # alone allows 15 (the chargers' sum); 32 kWh in the four cheap hours need exactly 8 kW in each
    p = _all_on_a(30.0, 6.0, (12.0, 10.0, 10.0), unbalance_max_pct=100.0)
    sol = _both(p)
    x = sol.ev_power_kw.sum(axis=0)
    np.testing.assert_allclose(x, [8, 8, 8, 8, 0, 0, 0, 0], atol=1e-6)
    per = phase_power_kw(p, sol.ev_power_kw, sol.net_load_kw)[0]
    np.testing.assert_allclose(per[0, :4], 10.0, atol=1e-6)              # P_a = limit / 3
    assert sol.ev_unmet_kwh.sum() == pytest.approx(0.0, abs=1e-6)
    assert sol.objective_cny == pytest.approx(32 * 0.3 + 6 * 4 * 0.3 + 6 * 4 * 0.9, abs=1e-6)
    free = replace(p, phases=None)                                        # without the phase rows
    assert solve_lean_model(build_lean(free), free, OPTIONS).ev_power_kw.sum(axis=0).max() == pytest.approx(15.0)


def test_the_unbalance_limit_defers_charging_to_where_the_base_load_balances_it():
    # u = 15 %, limit 60 kW (20 per phase); base 6 kW in the cheap hours, 30 in the dear ones.
    # Free of slack: x <= u base / 3 / (1 - u): 0.3529 kW cheap, 1.7647 kW dear; beyond, a kWh costs
    # 0.85 x 10 CNY of slack on top of its price: 8.8 cheap < 9.4 dear. So the dear hours get exactly
    # their free 1.7647 kW (0.9 < 8.8) and the rest, 30 - 4 x 1.7647 = 22.94 kWh, goes to the cheap hours.
    base = [6.0] * 4 + [30.0] * 4
    p = _all_on_a(60.0, base, (10.0, 10.0, 10.0), unbalance_max_pct=15.0)
    sol = _both(p)
    x = sol.ev_power_kw.sum(axis=0)
    dear_free = 0.15 * 10.0 / 0.85
    np.testing.assert_allclose(x[4:], dear_free, atol=1e-6)
    assert x[:4].sum() == pytest.approx(30.0 - 4 * dear_free, abs=1e-6)
    per = phase_power_kw(p, sol.ev_power_kw, sol.net_load_kw)
    over, short = phase_slacks_kw(p, per)
    high, low = per[0].max(axis=0), per[0].min(axis=0)
    np.testing.assert_allclose(((high - low) / high)[4:], 0.15, atol=1e-9)   # at the limit in the dear hours
    assert short.sum() == pytest.approx(0.85 * x[:4].sum() - 4 * 0.15 * 2.0, abs=1e-6)
    assert over.sum() == pytest.approx(0.0, abs=1e-9)
    energy_cny = 0.3 * (24 + x[:4].sum()) + 0.9 * (120 + x[4:].sum())
    assert sol.objective_cny == pytest.approx(energy_cny + 10.0 * short.sum(), abs=1e-6)
    # the limit off: everything in the cheap hours
    off = replace(p, phases=replace(p.phases, unbalance_max_pct=100.0))
    assert solve_lean_model(build_lean(off), off, OPTIONS).ev_power_kw[:, 4:].sum() == pytest.approx(0.0, abs=1e-6)


def test_the_decomposed_route_keeps_each_blocks_phase_rows():
    # two transformers in two blocks: T0 the deferral case above (phase rows), T1 the same without them;
    # the decomposed solve must give T0 exactly the hand-computed plan and leave T1 free
    p = _all_on_a(60.0, [6.0] * 4 + [30.0] * 4, (10.0, 10.0, 10.0), unbalance_max_pct=15.0)
    two = tiny_problem(n_transformers=2, limit_kw=60.0, base_load_kw=[6.0] * 4 + [30.0] * 4, tie_breaks=False,
                       unbalance_penalty_cny_per_kwh=10.0,
                       evs=[{"energy": 10.0, "pmax": 5.0, "transformer": n} for n in (0, 0, 0, 1, 1, 1)])
    two = replace(two, phases=replace(p.phases, ev_share=np.array([PHASE_SHARE["a"]] * 6)))
    sol = solve(two, OPTIONS, method="decomposed")
    x = sol.ev_power_kw[:3].sum(axis=0)
    np.testing.assert_allclose(x[4:], 0.15 * 10.0 / 0.85, atol=1e-6)
    assert sol.ev_power_kw[3:, 4:].sum() == pytest.approx(0.0, abs=1e-6)    # no phase rows on T1
    lean = solve(two, OPTIONS, method="lean")
    assert sol.objective_cny == pytest.approx(lean.objective_cny, rel=1e-7)  # plan_objective prices the slack


def _scenario(tmp_path, rated_kva=40.0, yaml=None):
    """T1 (small, the two-bus grid) with E1-E3 all on phase a; T2 without a grid (no phase rows)."""
    two_bus_grid(tmp_path / "s" / "grids" / "two")
    trafos = TRANSFORMERS.assign(grid=["grids/two/", ""], rated_kva=[rated_kva, 160.0])
    return write_scenario(tmp_path / "s", transformers=trafos, evs=EVS.assign(phase=["a", "a", "a", "", ""]),
                          base_load=base_load_frame(trafos, peak_share=0.5), yaml_overrides=yaml)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lean", "decomposed"])
def test_plans_keep_the_phase_rows_and_report_them(tmp_path, method):
    run = plan_day(_scenario(tmp_path), method=method)
    plan, p = run.plan, run.problem
    assert run.plan.kpis["valid"], plan.warnings                      # phase_validity included
    assert list(p.phases.transformer) == [0]                          # T1 only: T2 has no grid
    ph = plan.grid_phases
    assert set(ph.transformer_id) == {"T1"} and len(ph) == p.n_slots
    limit = p.limit_kw[0] / 3
    top = ph[["p_a_kw", "p_b_kw", "p_c_kw"]].max(axis=1)
    assert (top <= limit + ph.phase_overload_kw + 1e-6).all()
    assert ph.phase_overload_kw.sum() == pytest.approx(0.0, abs=1e-6)   # the night is long enough
    assert ph.phase_limit_bound.any()                                  # ... but phase a is full in some slot
    np.testing.assert_allclose(ph.loading_a_pu, ph.p_a_kw / (p.rating_kw[0] / 3))
    g = plan.kpis["grid"]
    assert g["plan"]["unbalance_slack_kwh"] < g["uncontrolled"]["unbalance_slack_kwh"]
    assert g["plan"]["unbalance_slots_above_limit"] > 0                 # all on one phase: not always avoidable
    assert g["plan"]["unbalance_slots_above_limit"] == int((ph.unbalance_slack_kw > 1e-3).sum())
    assert plan.evs.unmet_kwh.sum() == pytest.approx(0.0, abs=1e-6)  # balancing never strands an EV
    said = [w for w in plan.warnings if w.startswith("phase unbalance above its limit")]
    assert said == [f"phase unbalance above its limit in {g['plan']['unbalance_slots_above_limit']} "
                    f"transformer-slot(s) (uncontrolled charging: {g['uncontrolled']['unbalance_slots_above_limit']}), "
                    f"priced slack {g['plan']['unbalance_slack_kwh']:.1f} kWh (see unbalance_slack_kw in grid_phases.csv)"]



@pytest.mark.slow
def test_the_decomposed_plan_costs_what_the_lean_plan_costs(tmp_path):
    lean = plan_day(_scenario(tmp_path / "l"), method="lean").plan
    dec = plan_day(_scenario(tmp_path / "d"), method="decomposed").plan
    assert dec.kpis["objective_cny"] == pytest.approx(lean.kpis["objective_cny"], rel=2e-3)
    assert dec.kpis["grid"]["plan"]["unbalance_slack_kwh"] == pytest.approx(
        lean.kpis["grid"]["plan"]["unbalance_slack_kwh"], rel=0.05, abs=0.05)


@pytest.mark.slow
def test_validity_catches_an_unreported_phase_overload(tmp_path):
    from vpp_sched.plan.phase_validity import check_phases

    run = plan_day(_scenario(tmp_path))
    plan = run.plan
    ev = run.solution.ev_power_kw
    tampered = plan.grid_phases.copy()
    tampered["phase_overload_kw"] = 0.0
    tampered["unbalance_slack_kw"] = 0.0
    plan.grid_phases = tampered
    messages = check_phases(replace(run.problem, limit_kw=run.problem.limit_kw * 0.5), plan, ev)
    assert any("without reported phase_overload_kw" in m for m in messages)
    assert any("without reported unbalance_slack_kw" in m for m in messages)
    plan.grid_phases = tampered.assign(p_a_kw=tampered.p_a_kw + 1.0)
    assert any("phase powers differ" in m for m in check_phases(run.problem, plan, ev))


@pytest.mark.parametrize("value", [0, -5, 100.5])
def test_an_unbalance_limit_outside_0_100_is_one_line_naming_the_field(tmp_path, value):
    with pytest.raises(InputError) as err:
        load_scenario(_scenario(tmp_path, yaml={"grid": {"unbalance_max_pct": value}}))
    lines = [x for x in err.value.problems if "unbalance_max_pct" in x]
    assert len(lines) == 1 and "grid" in lines[0], err.value.problems


@pytest.mark.slow
def test_a_replay_fleet_gets_its_own_phases(tmp_path):
    # the replay's fleet replaces the scenario's EVs (walk-ins included): the phase rows follow it
    from vpp_sched.studies.replay import replay_day

    from vpp_sched.studies.actuals import forecast_as_actuals

    sc = load_scenario(_scenario(tmp_path))
    actuals = forecast_as_actuals(sc)
    walk_in = actuals.evs.iloc[[0]].assign(ev_id="W1")           # a walk-in on T1, not in the scenario
    actuals = replace(actuals, evs=pd.concat([walk_in, actuals.evs], ignore_index=True))
    r = replay_day(sc, actuals, replan_every=24)
    assert r.day_ahead.phases.ev_share.shape == (r.day_ahead.n_evs, 3)
    on_t1 = r.day_ahead.ev_transformer == 0
    given = dict(zip(sc.evs.ev_id, sc.evs.phase))
    for e in np.flatnonzero(on_t1):                 # the scenario's EVs keep their phase a
        if given.get(r.day_ahead.ev_ids[e]) == "a":
            assert list(r.day_ahead.phases.ev_share[e]) == [1.0, 0.0, 0.0]
    assert r.runs and all(np.isfinite(run.net_load_kw).all() for run in r.runs.values())
