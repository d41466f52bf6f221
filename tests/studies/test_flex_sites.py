"""Flexibility of the swap and fast-charging stations (``vpp-sched flex``): hand-checked stations, and the CLI."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from problem_factory import tiny_problem
from sites_factory import site_scenario, sites
from vpp_sched.cli import app
from vpp_sched.problem.queueing import min_cap_kw
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.solve.dispatch import solve
from vpp_sched.studies.flex import flexibility_envelope

PRICE = [0.3, 0.3, 0.9, 0.9]   # 4 slots of 1 h


def _envelope(p, duration_slots=1, scopes=None, station="W0"):
    sol = solve(p, SolverOptions(mip_rel_gap=1e-9), method="lean")
    assert sol.status.value == "optimal"
    env = flexibility_envelope(p, sol, SolverOptions(), duration_slots, scopes or {}, sites=[station])
    assert env.attrs["time_limited"] == 0
    return env


def _swap_problem():
    # 2 packs of 10 kWh, one full; 2 bays of 10 kW; one swap in slot 2; one full pack kept at the end
    spec = dict(packs=2, pack_charge_kwh=10.0, charge_max_kw=20.0, bay_max_kw=10.0, bays=2, initial=1.0,
                final=1.0, demand=[0, 0, 1, 0])
    return tiny_problem(n_slots=4, evs=[], price=PRICE, sites=sites(n_slots=4, swap=[spec]))


def test_swap_station_shifts_its_pack_charging_within_packs_bays_and_swaps():
    env = _envelope(_swap_problem())
    assert list(env.kind.unique()) == ["swap_station"] and list(env.scope.unique()) == ["W0"]
    # by hand, one slot at a time: slots 0-2 have one pack not full (one bay, 10 kW); in slot 3 both are
    # empty if nothing charged before and the initial pack served the swap (two bays, 20 kW); every
    # slot's charging can move elsewhere (min 0)
    assert env.max_kw.tolist() == pytest.approx([10.0, 10.0, 10.0, 20.0], abs=1e-4)
    assert env.min_kw.tolist() == pytest.approx([0.0, 0.0, 0.0, 0.0], abs=1e-4)
    assert env.planned_kw.sum() == pytest.approx(10.0, abs=1e-4)   # one pack recharged for the end
    assert (env.up_kw + env.down_kw).tolist() == pytest.approx([10.0, 10.0, 10.0, 20.0], abs=1e-4)


def test_swap_station_over_the_day_keeps_the_swaps_it_serves():
    day = _envelope(_swap_problem(), duration_slots=4).iloc[0]
    # the final pack needs 10 kWh (2.5 kW over 4 h) whatever: leaving the swap unserved would save it
    assert day.min_kw == pytest.approx(2.5, abs=1e-4) and day.down_kw == pytest.approx(0.0, abs=1e-4)
    # at most the empty pack (10 kWh) and the one the swap brings back (10 kWh): 5 kW over 4 h
    assert day.max_kw == pytest.approx(5.0, abs=1e-4)


def _fast_problem():
    # one dispenser of 50 kW, 2 arrivals an hour of 10 kWh, target 15 min: M/M/1 Wq = lam / (mu (mu - lam))
    # <= 0.25 h gives mu >= 4 /h, a cap of 40 kW; a 20 kWh battery (10 kW, lossless) half full, kept so
    st = sites(n_slots=4, fast=[dict(dispensers=1, max_kw=50.0, lam=2.0, energy=10.0, target_min=15.0)])
    p = tiny_problem(n_slots=4, evs=[], price=PRICE, sites=st, stations=[{"battery": {
        "capacity": 20.0, "max_charge": 10.0, "max_discharge": 10.0, "eta_c": 1.0, "eta_d": 1.0,
        "soc_initial": 10.0, "soc_final": 10.0}}])
    return replace(p, station_ids=np.array(["G0"], dtype=object))


def test_fast_station_offers_its_battery_and_never_a_raised_cap():
    assert min_cap_kw(2.0, 10.0, 1, 50.0, 0.25) == pytest.approx(40.0, abs=1e-4)
    env = _envelope(_fast_problem(), station="G0",
                    scopes={"all": np.ones(1, dtype=bool)})
    site = env[env.kind == "fast_charging_station"]
    assert list(site.scope.unique()) == ["G0"] and set(env.kind) == {"transformers", "fast_charging_station"}
    # the cap stays at its 40 kW minimum (a higher one draws nothing more); the battery moves +-10 kW
    assert site.max_kw.tolist() == pytest.approx([50.0] * 4, abs=1e-4)
    assert site.min_kw.tolist() == pytest.approx([30.0] * 4, abs=1e-4)
    assert (site.up_kw + site.down_kw).tolist() == pytest.approx([20.0] * 4, abs=1e-4)
    # the transformer has nothing else: its envelope is the station's
    whole = env[env.kind == "transformers"]
    assert whole.max_kw.tolist() == pytest.approx(site.max_kw.tolist(), abs=1e-4)
    assert whole.min_kw.tolist() == pytest.approx(site.min_kw.tolist(), abs=1e-4)


def test_fast_station_over_the_day_only_its_battery_energy():
    day = _envelope(_fast_problem(), duration_slots=4, station="G0").iloc[0]
    # the battery may end fuller (10 kWh more: +2.5 kW over 4 h), never emptier than it started
    assert day.max_kw == pytest.approx(42.5, abs=1e-4) and day.min_kw == pytest.approx(40.0, abs=1e-4)


def test_flex_cli_rows_say_whose_flexibility(tmp_path):
    folder = site_scenario(tmp_path / "sc")
    res = CliRunner().invoke(app, ["flex", str(folder), "--out", str(tmp_path / "flex"), "--step-min", "240"])
    assert res.exit_code == 0, res.output + res.stderr
    table = pd.read_csv(tmp_path / "flex" / "flex.csv")
    kinds = table.groupby("scope").kind.first().to_dict()
    assert kinds == {"all": "transformers", "mine-1": "swap_station", "sa-1": "fast_charging_station"}
    assert (table.groupby("scope").size() == 6).all()
    assert (table.max_kw >= table.planned_kw - 1e-3).all() and (table.min_kw <= table.planned_kw + 1e-3).all()
    # the fast station never goes below its drivers' minimum cap less what its battery gives
    fast = table[table.scope == "sa-1"]
    assert (fast.min_kw >= -200.0 - 1e-3).all()
    one = CliRunner().invoke(app, ["flex", str(folder), "--out", str(tmp_path / "f1"), "--step-min", "720",
                                   "--scope", "mine-1", "--scope", "T1"])
    assert one.exit_code == 0, one.output + one.stderr
    assert set(pd.read_csv(tmp_path / "f1" / "flex.csv").scope) == {"mine-1", "T1"}
    bad = CliRunner().invoke(app, ["flex", str(folder), "--out", str(tmp_path / "f2"), "--scope", "nope"])
    assert bad.exit_code == 1 and "--scope nope" in bad.stderr and not (tmp_path / "f2").exists()
