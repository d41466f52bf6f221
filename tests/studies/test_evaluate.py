"""vpp-sched evaluate on a tiny scenario and a few days: the tables, the policies, the same files on any executor."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from tests.scenario_factory import TRANSFORMERS, write_scenario
from vpp_sched.cli.evaluate import evaluate as evaluate_command
from vpp_sched.scenario.load import load_scenario
from vpp_sched.studies.evaluate import (DAY_COLUMNS, OVERLOAD_TOLERANCE, POLICIES, TRANSFORMER_COLUMNS, run_evaluate)

# T1 is small for its three EVs at night, and the base load varies: plans matter and can fail.
SETTINGS = {"uncertainty": {"robust_scenarios": 40, "base_load_error_sd": 0.08, "unannounced_rate": 0.2},
            "dr_events": [{"event_id": "DR1", "start": "2026-11-27T19:00:00+08:00", "end": "2026-11-27T20:00:00+08:00",
                           "target_kw": 5.0, "scope": ["T2"]}]}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    trafos = TRANSFORMERS.assign(rated_kva=[30.0, 160.0])
    return write_scenario(tmp_path_factory.mktemp("sc") / "sc", yaml_overrides=SETTINGS, transformers=trafos)


@pytest.fixture(scope="module")
def result(folder):
    return run_evaluate(load_scenario(folder), days=3, seed=4, replan_every=8)


def test_one_row_per_day_and_policy(result):
    d = result.days
    assert list(d.columns[:len(DAY_COLUMNS)]) == DAY_COLUMNS
    assert list(zip(d.day, d.policy)) == [(day, p) for day in range(3) for p in POLICIES]
    assert (d.replans[d.policy.isin(["uncontrolled", "day-ahead"])] == 0).all()
    assert (d.replans[d.policy == "replan"] > 0).all()
    assert (d[["overload_kwh", "unmet_kwh", "evs_short"]] >= 0).all().all()
    # DR compliance per event of the scenario; the robust plan's margin events are no DR events
    assert [c for c in d.columns if c.startswith("dr_")] == ["dr_DR1_compliance_pct"]
    assert d.dr_DR1_compliance_pct.notna().all()


def test_transformer_table_follows_the_days(result):
    t, per = result.transformers, result.day_transformers
    assert list(t.columns) == TRANSFORMER_COLUMNS
    assert len(t) == len(POLICIES) * 2
    for row in t.itertuples():
        days = per[(per.policy == row.policy) & (per.transformer_id == row.transformer_id)]
        assert row.p_overload_day == pytest.approx(days.overloaded.mean())
        assert row.expected_overload_kwh == pytest.approx(days.overload_kwh.mean())
        assert row.p95_loading_pu <= row.max_loading_pu + 1e-12
    # the day's count of overloaded transformers is the per-transformer flags summed
    counts = per.groupby(["day", "policy"]).overloaded.sum()
    d = result.days.set_index(["day", "policy"])
    assert (d.overloaded_transformers == counts.reindex(d.index)).all()


def test_uncontrolled_overloads_and_the_plans_do_not(result):
    t = result.transformers.set_index(["policy", "transformer_id"])
    assert t.loc[("uncontrolled", "T1"), "p_overload_day"] == 1.0
    assert t.loc[("robust", "T1"), "p_overload_day"] == 0.0
    assert t.loc[("day-ahead", "T1"), "p_overload_day"] < 1.0
    m = result.margins
    assert m is not None and m.margin_kw.shape == (2, 96) and (m.margin_kw >= 0).all() and m.margin_kw.max() > 0


def _cli(*args):
    app = typer.Typer()
    app.command()(evaluate_command)
    return CliRunner().invoke(app, [str(a) for a in args])


def _texts(path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


@pytest.mark.slow
def test_serial_and_threads_give_the_same_files(folder, tmp_path):
    for name, scheduler in (("a", "serial"), ("b", "threads")):
        r = _cli(folder, "--days", 3, "--seed", 4, "--replan-every", 8, "--out", tmp_path / name,
                 "--scheduler", scheduler, "--workers", 2 if scheduler == "threads" else 1)
        assert r.exit_code == 0, r.output + r.stderr
    a, b = _texts(tmp_path / "a"), _texts(tmp_path / "b")
    assert set(a) >= {"days.csv", "transformers.csv", "margins.csv", "summary.md", "report.html"}
    assert a == b
    days = pd.read_csv(tmp_path / "a" / "days.csv")
    assert len(days) == 3 * len(POLICIES)
    assert "exceedance" in (tmp_path / "a" / "report.html").read_text().lower()


def test_same_seed_same_days_other_seed_other_days(folder, tmp_path):
    sc = load_scenario(folder)
    kw = dict(policies=["uncontrolled", "day-ahead"], replan_every=8)
    a, b = run_evaluate(sc, 2, 9, **kw), run_evaluate(sc, 2, 9, **kw)
    pd.testing.assert_frame_equal(a.days, b.days)
    c = run_evaluate(sc, 2, 10, **kw)
    assert not np.allclose(a.days.energy_cost_cny, c.days.energy_cost_cny)
    # day 1 of a 2-day run is day 1 of a 1-day-later start: days are independent of each other
    d = run_evaluate(sc, 1, 9, **kw)
    pd.testing.assert_frame_equal(a.days[a.days.day == 0].reset_index(drop=True), d.days)


def test_overload_counts_only_above_the_tolerance(result):
    assert OVERLOAD_TOLERANCE == 0.01
    per = result.day_transformers
    assert (per.overload_kwh[~per.overloaded] == 0).all()


def test_bad_policy_and_bad_uncertainty_lines(folder, tmp_path):
    r = _cli(folder, "--policies", "uncontrolled,hope", "--out", tmp_path / "x")
    assert r.exit_code == 2 and "hope" in r.stderr and not (tmp_path / "x").exists()
    bad = write_scenario(tmp_path / "bad", yaml_overrides={"uncertainty": {"no_show_probability": 2}})
    r = _cli(bad, "--days", 1, "--out", tmp_path / "y")
    assert r.exit_code == 1 and not (tmp_path / "y").exists()
    assert "uncertainty.no_show_probability" in r.stderr


def test_slot_controlled_policies_hold_the_limits_and_catch_up(result):
    # the slot controller caps EVs to the metered headroom: T1's base load alone never reaches its limit
    t = result.transformers.set_index(["policy", "transformer_id"])
    for policy in ("replan", "robust"):
        assert t.loc[(policy, "T1"), "p_overload_day"] == 0.0
        assert t.loc[(policy, "T2"), "p_overload_day"] == 0.0
    # catch-up: drivers who leave early or were not forecast are served far better than by the plan held
    unmet = result.days.pivot(index="day", columns="policy", values="unmet_kwh")
    assert (unmet.replan <= unmet["day-ahead"] + 1e-9).all() and (unmet.robust <= unmet["day-ahead"] + 1e-9).all()
    assert unmet["day-ahead"].sum() > 10.0                      # the plan held leaves drivers short here,
    for policy in ("replan", "robust"):                          # the controlled ones no more than uncontrolled
        assert (unmet[policy] <= unmet.uncontrolled + 1e-6).all()


class _Recording:
    """An executor that runs in this process and records how many tasks it got."""

    def __init__(self, in_process: bool, workers: int = 2):
        self.in_process, self.workers, self.tasks = in_process, workers, 0

    def map(self, fn, items):
        self.tasks = len(items)
        return [fn(item) for item in items]


def test_threads_get_one_day_per_task_and_processes_runs_of_days(folder):
    from vpp_sched.studies.evaluate import CHUNKS_PER_WORKER

    sc = load_scenario(folder)
    kw = dict(policies=["uncontrolled", "day-ahead"], replan_every=8)
    threads, processes = _Recording(True), _Recording(False)
    a = run_evaluate(sc, 9, 3, executor=threads, **kw)
    b = run_evaluate(sc, 9, 3, executor=processes, **kw)
    assert threads.tasks == 9 and processes.tasks == CHUNKS_PER_WORKER * 2 < 9
    pd.testing.assert_frame_equal(a.days, b.days)
    pd.testing.assert_frame_equal(a.transformers, b.transformers)


def test_the_plans_keep_their_basis_for_the_first_replan(folder):
    from vpp_sched.solve.warm_start import LpStart
    from vpp_sched.studies.evaluate import make_plans

    sc = load_scenario(folder)
    plans = make_plans(sc, sc.config.solver, robust=True, seed=4)
    # the day's first re-plan starts from the plan's relaxation, as a replay's does (studies/replay.py)
    assert isinstance(plans.day_ahead.lp_start, LpStart) and isinstance(plans.robust.lp_start, LpStart)
