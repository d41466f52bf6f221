"""``vpp-sched hosting``: the bisection brackets the threshold; orderly hosts more; the kVA dual."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from test_whatif import cli_app, write_study_scenario
from vpp_sched.studies import hosting
from vpp_sched.errors import InputError
from vpp_sched.model.lean import build_lean
from vpp_sched.solve.highs import LeanSolver
from vpp_sched.plan.planner import plan_day
from vpp_sched.problem.build import build_problem
from vpp_sched.scenario.load import load_scenario
from vpp_sched.solve.least_laxity import deliverable_kwh
from vpp_sched.studies.resample import ev_count, scale_evs
from vpp_sched.studies.hosting_judge import Evaluation, OVERLOAD_TOL_KWH, UNMET_TOL_KWH, evaluate, judge_outcome, least_laxity_schedule, population
from vpp_sched.studies.hosting_search import MAX_MULTIPLE, TOLERANCE, find_threshold, orderly_bound

runner = CliRunner()
TOL = TOLERANCE


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    # Chargers that modulate down to 0 make the plan an LP: exact, so the threshold is sharp.
    return load_scenario(write_study_scenario(tmp_path_factory.mktemp("hosting") / "sc", per_transformer=8))


@pytest.fixture(scope="module")
def options(scenario):
    return scenario.config.solver.model_copy(update={"time_limit_s": 20})


@pytest.fixture(scope="module")
def found(scenario, options):
    sc1 = hosting.restrict_to_transformer(scenario, "T1")
    return hosting.hosting_thresholds(sc1, "T1", options=options)


def replan(scenario, multiple: float, options) -> tuple[float, float, int]:
    """Overload [kWh] and unmet energy the grid is to blame for [kWh] of T1 at ``multiple`` of its EVs."""
    run = plan_day(scale_evs(scenario, multiple, ["T1"]), options=options)
    load = run.plan.transformer_load
    t1 = load[load.transformer_id == "T1"]
    over = float(np.maximum(t1.net_load_kw - t1.limit_kw, 0).sum() * run.problem.dt_h)
    p = run.problem
    mine = p.transformer_ids[p.ev_transformer] == "T1"
    short = np.maximum(deliverable_kwh(p) - run.plan.evs.delivered_kwh.to_numpy(), 0)[mine]
    return over, float(short.sum()), int(mine.sum())


def _judged_up_to(k: int, mode: str):
    """A stand-in for a population's judgement: ``c`` EVs host exactly when ``c <= k``."""
    return lambda c: Evaluation(c, c <= k, 0.0, 0.0 if c <= k else 1.0, decided_by=mode)


@pytest.mark.parametrize("n, hosted, stops_short", [(8, 201, True), (3, 164, True), (8, 163, False), (8, 40, False)])
def test_a_feasible_count_never_exceeds_its_upper_bound(monkeypatch, scenario, n, hosted, stops_short):
    """The old contradiction: the LP's bisection stops within 1 % below the threshold (e.g. 200 of 201
    hosted, 202 not), then orderly, starting one EV below the LP's failure, hosts 201: hosting.csv
    reported the LP's 200 as "the proven upper bound" beside a feasible 201 (T13 of the demo: 163 vs 164)."""
    lp = find_threshold(_judged_up_to(hosted, "lp"), n, "orderly_lp")
    orderly = find_threshold(_judged_up_to(hosted, "orderly"), n, "orderly", known_fail=lp.above)
    unc = find_threshold(_judged_up_to(hosted // 2, "uncontrolled"), n, "uncontrolled")
    assert orderly.n_evs == hosted and lp.fail_evs == hosted + 1
    # 201 of 8 and 164 of 3 EVs reproduce the LP search stopping short of the threshold
    assert (lp.n_evs < orderly.n_evs) is stops_short and lp.n_evs <= orderly.n_evs
    bound = orderly_bound(lp, orderly, n)
    assert bound["orderly_upper_evs"] == hosted and not bound["orderly_upper_capped"]
    assert ev_count(bound["orderly_upper_multiple"], n) == hosted
    assert ev_count(bound["orderly_upper_multiple"] + 1e-4, n) > hosted, "the largest multiple giving that count"
    # and so in hosting.csv's row
    found = {"uncontrolled": unc, "orderly_lp": lp, "orderly": orderly}
    monkeypatch.setattr(hosting, "hosting_thresholds", lambda *a, **k: found)
    sc1 = hosting.restrict_to_transformer(scenario, "T1")
    sc1 = population(sc1, "T1", n)
    row = hosting.host_transformer(hosting.HostingTask("T1", sc1, ("uncontrolled", "orderly")))
    assert row["status"] == "ok", row["error"]
    assert row["uncontrolled_evs"] <= row["orderly_evs"] <= row["orderly_upper_evs"] == hosted
    assert row["orderly_multiple"] <= row["orderly_upper_multiple"]
    assert set(row) - {"_tried"} <= set(hosting.hosting_columns(("uncontrolled", "orderly")))


def test_upper_bound_when_the_lp_still_hosts_at_the_cap():
    lp = find_threshold(_judged_up_to(10**6, "lp"), 8, "orderly_lp")
    orderly = find_threshold(_judged_up_to(300, "orderly"), 8, "orderly", known_fail=lp.above)
    assert lp.capped and orderly.n_evs == 300
    assert orderly_bound(lp, orderly, 8) == {"orderly_upper_multiple": None, "orderly_upper_evs": None,
                                                     "orderly_upper_capped": True}


def test_restrict_keeps_one_transformer(scenario):
    sc2 = hosting.restrict_to_transformer(scenario, "T2")
    assert list(sc2.transformers.transformer_id) == ["T2"]
    assert set(sc2.evs.transformer_id) == {"T2"} and len(sc2.evs) == 8
    assert [s.station_id for s in sc2.config.stations] == ["S1"]
    assert list(sc2.base_load_kw.columns) == ["T2"]
    assert hosting.restrict_to_transformer(scenario, "T1").config.stations == []
    with pytest.raises(InputError):
        hosting.restrict_to_transformer(scenario, "T7")


def test_orderly_threshold_is_sharp(scenario, options, found):
    th = found["orderly"]
    assert not th.capped and 0 < th.multiple < MAX_MULTIPLE
    n = 8
    assert ev_count(th.multiple, n) == th.n_evs
    assert th.fail_evs > th.n_evs
    assert th.fail_multiple <= th.multiple * (1 + TOL) or th.fail_evs == th.n_evs + 1
    over, short, count = replan(scenario, th.multiple * (1 - TOL), options)
    assert over <= OVERLOAD_TOL_KWH and short <= UNMET_TOL_KWH, (count, over, short)
    over, short, count = replan(scenario, th.multiple * (1 + 2 * TOL), options)
    assert count > th.n_evs
    assert over > OVERLOAD_TOL_KWH or short > UNMET_TOL_KWH, (count, over, short)
    assert "limit" in th.binding and "short" in th.fails_with


def test_uncontrolled_threshold_is_sharp(scenario, found):
    th = found["uncontrolled"]
    sc1 = hosting.restrict_to_transformer(scenario, "T1")
    below = evaluate(sc1, "T1", ev_count(th.multiple * (1 - TOL), 8), "uncontrolled")
    above = evaluate(sc1, "T1", ev_count(th.multiple * (1 + 2 * TOL), 8), "uncontrolled")
    assert below.hosts and not above.hosts and above.overload_kwh > 0
    assert "overload" in th.fails_with


def test_orderly_hosts_at_least_as_many_as_uncontrolled(found):
    assert found["orderly"].n_evs >= found["uncontrolled"].n_evs
    assert found["orderly"].multiple >= found["uncontrolled"].multiple
    # without charger minimum powers the plan is the LP: the two searches agree
    assert found["orderly"].n_evs == found["orderly_lp"].n_evs


@pytest.mark.slow
def test_orderly_with_charger_minimum_power_is_proven_by_a_schedule(tmp_path):
    sc = load_scenario(write_study_scenario(tmp_path / "sc", per_transformer=8, min_power_kw=4.2))
    sc1 = hosting.restrict_to_transformer(sc, "T1")
    found = hosting.hosting_thresholds(sc1, "T1", options=sc.config.solver.model_copy(update={"time_limit_s": 5}))
    th, lp = found["orderly"], found["orderly_lp"]
    bound = orderly_bound(lp, th, 8)
    assert found["uncontrolled"].n_evs <= th.n_evs <= bound["orderly_upper_evs"] == lp.fail_evs - 1
    assert th.planner, "the planner's own result at the threshold is reported"
    assert th.at.hosts and th.at.decided_by in ("schedule", "milp", "plan")
    # the threshold population has a valid plan: each charger at min power or more, or off; in its stay;
    # every EV gets what its stay allows; the net load stays under the limit
    p = build_problem(population(sc1, "T1", th.n_evs))
    outcome = least_laxity_schedule(p)
    if th.at.decided_by == "schedule":
        assert judge_outcome(outcome, "schedule").hosts
        assert (outcome.net_load_kw <= p.limit_kw[:, None] + 1e-6).all()
        assert np.allclose(outcome.delivered_kwh, deliverable_kwh(p))
    if th.at.decided_by == "milp":   # the feasibility MILP's plan: chargers, stays and limit hold
        o = th.at.outcome
        assert (o.net_load_kw <= p.limit_kw[:, None] + 1e-6).all()
        assert np.allclose(o.delivered_kwh, deliverable_kwh(p), atol=1e-4)
    above = evaluate(sc1, "T1", th.fail_evs, "orderly", options=sc.config.solver.model_copy(
        update={"time_limit_s": 5}))
    assert not above.hosts
    # one EV more is proven not to fit by the MILP's bound: the threshold is exact, not just a plan found
    assert above.decided_by == "milp"


@pytest.mark.slow
def test_feasibility_milp_proves_both_ends_of_the_threshold(tmp_path):
    # with a 4.2 kW minimum power: the last population hosted has a plan, the next is proven to have none
    sc = load_scenario(write_study_scenario(tmp_path / "sc", per_transformer=8, min_power_kw=4.2))
    sc1 = hosting.restrict_to_transformer(sc, "T1")
    options = sc.config.solver.model_copy(update={"time_limit_s": 5})
    found = hosting.hosting_thresholds(sc1, "T1", options=options)
    th = found["orderly"]
    for c, hosts in ((th.n_evs, True), (th.fail_evs, False)):
        ev = evaluate(sc1, "T1", c, "milp", options=options)
        assert ev.decided_by == "milp" and ev.hosts is hosts


def test_kva_value_is_the_lp_derivative(scenario, options, found):
    """The dual-based value equals the LP objective's change for a little more kVA."""
    sc1 = hosting.restrict_to_transformer(scenario, "T1")
    c = found["orderly"].n_evs
    value = found["orderly"].kva_value
    assert value > 0, "at the threshold more capacity lets charging move to cheaper hours"

    def lp_objective(extra_kva: float) -> float:
        t = sc1.transformers.copy()
        t["rated_kva"] += extra_kva
        t["rating_kw"] = t.rated_kva * t.power_factor
        t["limit_kw"] = t.rating_kw * t.max_loading_pu
        import dataclasses

        sc = population(dataclasses.replace(sc1, transformers=t), "T1", c)
        p = build_problem(sc)
        p = dataclasses.replace(p, ev_min_power_kw=np.zeros(p.n_evs), switch_on_cny=0.0)
        sol = LeanSolver(build_lean(p, relax_integrality=True), p, options).run()
        return sol.objective_cny

    delta = 0.01
    days = 24 * 1.0 / 24
    finite = (lp_objective(0.0) - lp_objective(delta)) / delta / days
    assert value == pytest.approx(finite, rel=1e-3, abs=1e-4)


def test_base_load_overload_hosts_nothing(scenario):
    import dataclasses

    t = scenario.transformers.copy()
    t.loc[t.transformer_id == "T1", "max_loading_pu"] = 0.3
    t["limit_kw"] = t.rated_kva * t.power_factor * t.max_loading_pu
    sc1 = hosting.restrict_to_transformer(dataclasses.replace(scenario, transformers=t), "T1")
    th = hosting.hosting_thresholds(sc1, "T1", ["uncontrolled"])["uncontrolled"]
    assert th.multiple == 0 and th.n_evs == 0 and "base load alone" in th.binding


@pytest.mark.slow
def test_cli_hosting(tmp_path):
    folder = write_study_scenario(tmp_path / "sc", per_transformer=5)
    out = tmp_path / "host"
    app = cli_app()
    result = runner.invoke(app, ["hosting", str(folder), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output + result.stderr
    table = pd.read_csv(out / "hosting.csv")
    assert list(table.transformer_id) == ["T1"], "the station's transformer only when named"
    assert (table.status == "ok").all()
    for col in ("uncontrolled_multiple", "uncontrolled_evs", "orderly_multiple", "orderly_evs", "orderly_binding",
                "orderly_fails_with", "orderly_upper_evs", "orderly_upper_multiple", "planner_at_threshold",
                "kva_value_cny_per_kva_day", "tolerance"):
        assert col in table.columns
    assert not [c for c in table.columns if c.startswith("orderly_lp")], "no LP column that reads as a bound"
    # a population with a plan never exceeds the proven upper bound
    assert (table.uncontrolled_evs <= table.orderly_evs).all() and (table.orderly_evs <= table.orderly_upper_evs).all()
    assert table.tolerance.iat[0] == TOL
    assert "Bisection tolerance 1%" in (out / "summary.md").read_text()
    named = runner.invoke(app, ["hosting", str(folder), "--out", str(out), "-t", "T2", "-t", "T1",
                                "--policy", "uncontrolled", "--workers", "1"])
    assert named.exit_code == 0, named.output + named.stderr
    assert list(pd.read_csv(out / "hosting.csv").transformer_id) == ["T2", "T1"]
    bad = runner.invoke(app, ["hosting", str(folder), "--out", str(out), "-t", "T9"])
    assert bad.exit_code == 1 and "T9" in bad.stderr
