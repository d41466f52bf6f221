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
