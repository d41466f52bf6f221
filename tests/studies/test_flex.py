"""Flexibility envelope: hand-checkable windows, and the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from test_planner import _ev, run
from vpp_sched.cli import app
from vpp_sched.studies.flex import flexibility_envelope


def test_envelope_of_one_flexible_and_one_fixed_ev(tmp_path):
    # 16:00-24:00 in 1-h slots, base 10 kW. E1 (10 kWh, 5 kW) may charge any time;
    # E2 (10 kWh, 5 kW) is plugged in 16:00-18:00 only, so it must charge 5 kW in both hours.
    r = run(tmp_path, "lean", [_ev(energy=10.0, pmax=5.0), _ev("E2", arrival="16:00", departure="18:00")])
    p = r.problem
    env = flexibility_envelope(p, r.solution, r.scenario.config.solver, 1,
                               {"all": np.ones(p.n_transformers, dtype=bool)})
    first = env.iloc[0]
    assert first.min_kw == pytest.approx(15.0)   # base + E2, E1 moved away
    assert first.max_kw == pytest.approx(20.0)   # base + E2 + E1 at full power
    late = env.set_index(env.slot_start.dt.hour).loc[22]
    assert late.min_kw == pytest.approx(10.0) and late.max_kw == pytest.approx(15.0)
    assert (env.up_kw >= -1e-9).all() and (env.down_kw >= -1e-9).all()
    two_hours = flexibility_envelope(p, r.solution, r.scenario.config.solver, 2,
                                     {"all": np.ones(p.n_transformers, dtype=bool)})
    assert two_hours.iloc[0].max_kw == pytest.approx(20.0)   # E1 can charge at 5 kW for both hours
    assert len(two_hours) == p.n_slots - 1


def test_flex_cli(tmp_path):
    from scenario_factory import write_scenario

    folder = write_scenario(tmp_path / "sc")
    res = CliRunner().invoke(app, ["flex", str(folder), "--out", str(tmp_path / "flex"), "--step-min", "240",
                                   "--scope", "all", "--scope", "T1"])
    assert res.exit_code == 0, res.output + res.stderr
    table = pd.read_csv(tmp_path / "flex" / "flex.csv")
    assert set(table.scope) == {"all", "T1"} and len(table) == 2 * 6
    assert (table.max_kw >= table.planned_kw - 1e-3).all() and (table.min_kw <= table.planned_kw + 1e-3).all()
    bad = CliRunner().invoke(app, ["flex", str(folder), "--out", str(tmp_path / "f2"), "--scope", "T9"])
    assert bad.exit_code == 1 and "T9" in bad.stderr and not (tmp_path / "f2").exists()


def _small_envelope(tmp_path, options=None):
    r = run(tmp_path, "lean", [_ev(energy=10.0, pmax=5.0), _ev("E2", arrival="16:00", departure="18:00")])
    p = r.problem
    return flexibility_envelope(p, r.solution, options or r.scenario.config.solver, 1,
                                {"all": np.ones(p.n_transformers, dtype=bool)})


def test_envelope_does_not_depend_on_how_fast_highs_runs(tmp_path, monkeypatch):
    # Each window LP has the whole limit of its own: 16 runs slowed by 0.1 s each (1.6 s in all)
    # against a 1 s limit give the same table as fast runs (one clock for all runs would empty the
    # later cells).
    import vpp_sched.solve.highs as highs

    fast = _small_envelope(tmp_path / "fast")
    r = run(tmp_path / "slow", "lean", [_ev(energy=10.0, pmax=5.0), _ev("E2", arrival="16:00", departure="18:00")])
    options = r.scenario.config.solver.model_copy(update={"time_limit_s": 1.0})
    real = highs.run_highs
    budgets = []

    def slow(h):
        import time
        budgets.append(h.getOptionValue("time_limit")[1] - h.getRunTime())   # what HiGHS gives this run
        time.sleep(0.1)
        return real(h)

    monkeypatch.setattr(highs, "run_highs", slow)
    slowed = flexibility_envelope(r.problem, r.solution, options, 1,
                                  {"all": np.ones(r.problem.n_transformers, dtype=bool)})
    assert len(fast) == 8 and fast.attrs["time_limited"] == 0 and slowed.attrs["time_limited"] == 0
    pd.testing.assert_frame_equal(fast, slowed)
    assert len(budgets) == 16 and min(budgets) >= 1.0 - 1e-3   # every run had (about) the whole limit


def test_a_window_stopped_by_the_clock_is_reported(tmp_path, monkeypatch):
    from vpp_sched.solve.budget import Deadline

    r = run(tmp_path, "lean", [_ev(energy=10.0, pmax=5.0), _ev("E2", arrival="16:00", departure="18:00")])
    monkeypatch.setattr(Deadline, "highs_time_limit", lambda self, run_time_s=0.0: 0.0)   # every run out of time
    env = flexibility_envelope(r.problem, r.solution, r.scenario.config.solver, 1,
                               {"all": np.ones(r.problem.n_transformers, dtype=bool)})
    assert env.attrs["time_limited"] == 2 * len(env) and env.max_kw.isna().all() and env.min_kw.isna().all()


def test_flex_cli_warns_of_a_clock_stop(tmp_path, monkeypatch):
    from scenario_factory import write_scenario
    import vpp_sched.studies.flex as flex_mod

    folder = write_scenario(tmp_path / "sc")
    real = flex_mod.flexibility_envelope

    def stopped(*args, **kwargs):
        table = real(*args, **kwargs)
        table.attrs["time_limited"] = 3
        return table

    monkeypatch.setattr("vpp_sched.cli.flex.flexibility_envelope", stopped)
    res = CliRunner().invoke(app, ["flex", str(folder), "--out", str(tmp_path / "flex"), "--step-min", "240"])
    assert res.exit_code == 0, res.output + res.stderr
    assert "warning: 3 of 12 window LPs stopped at the time limit" in res.stderr
