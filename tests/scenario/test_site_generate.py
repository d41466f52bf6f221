"""``generate --swap-stations N --fast-stations N``: seeded sites at the public figures' sizes, the rest of
the scenario unchanged."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from vpp_sched.cli import app
from vpp_sched.scenario.load import load_scenario
from vpp_sched.scenario.synthetic import generate_scenario
from vpp_sched.scenario.synthetic_sites import day_kinds, fast_demand


def test_generate_adds_sites_and_keeps_the_rest(tmp_path):
    plain = generate_scenario(tmp_path / "plain", transformers=3, evs=20, seed=5)
    result = CliRunner().invoke(app, ["generate", str(tmp_path / "sites"), "--transformers", "3", "--evs", "20",
                                      "--seed", "5", "--swap-stations", "3", "--fast-stations", "2"])
    assert result.exit_code == 0, result.output
    sites = tmp_path / "sites"
    assert (plain / "evs.csv").read_bytes() == (sites / "evs.csv").read_bytes()
    assert (sites / "base_load.csv").read_text().startswith((plain / "base_load.csv").read_text())
    sc = load_scenario(sites)
    assert [s.vehicle for s in sc.config.swap_stations] == ["heavy_truck", "passenger_car", "heavy_truck"]
    assert [s.transformer_id for s in sc.config.fast_charging_stations] == ["TF01", "TF02"]
    truck = sc.site_demand["swap-01"].swaps.sum()
    assert 120 <= truck <= 180                                   # about 150 swaps a day
    again = generate_scenario(tmp_path / "again", transformers=3, evs=20, seed=5, swap_stations=3, fast_stations=2)
    for name in ("swap_demand.csv", "fast_demand.csv", "scenario.yaml", "transformers.csv"):
        assert (again / name).read_bytes() == (sites / name).read_bytes(), name


def test_a_holiday_brings_more_drivers_than_a_working_day():
    import datetime as dt

    assert list(day_kinds([dt.date(2026, 10, 1), dt.date(2026, 11, 27), dt.date(2026, 11, 28),
                           dt.date(2026, 10, 10)])) == ["holiday", "working", "weekend", "working"]   # 10-10: 调休
    rng = np.random.default_rng(1)
    holiday = fast_demand(rng, "x", "expressway", "2026-10-01T00:00:00+08:00", 96, 15).arrivals_per_hour.sum()
    working = fast_demand(rng, "x", "expressway", "2026-11-27T00:00:00+08:00", 96, 15).arrivals_per_hour.sum()
    assert 1.6 < holiday / working < 2.5
