"""`vpp-sched generate`, a tariff given as a price table, weather CSV errors through `validate`."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from scenario_factory import MINIMAL_YAML, write_scenario
from vpp_sched.cli import app
from vpp_sched.plan.planner import plan_day
from vpp_sched.scenario.load import load_scenario
from vpp_sched.plan.validity import check_plan

runner = CliRunner()


def test_generate_then_plan(tmp_path):
    out = tmp_path / "gen"
    res = runner.invoke(app, ["generate", str(out), "--transformers", "3", "--evs", "60", "--stations", "1",
                              "--dr-event", "--min-power-kw", "1.4", "--seed", "7"])
    assert res.exit_code == 0, res.output + res.stderr
    sc = load_scenario(out)
    assert len(sc.evs[~sc.evs.transformer_id.str.startswith("TS")]) == 60
    assert (sc.evs.min_power_kw[sc.evs.max_power_kw <= 11] == 1.4).all()
    assert len(sc.config.dr_events) == 1 and len(sc.config.stations) == 1
    run = plan_day(sc)
    assert check_plan(run.problem, run.plan) == []
    again = tmp_path / "gen2"
    runner.invoke(app, ["generate", str(again), "--transformers", "3", "--evs", "60", "--stations", "1",
                        "--dr-event", "--min-power-kw", "1.4", "--seed", "7"])
    for name in ("evs.csv", "base_load.csv", "transformers.csv", "scenario.yaml"):
        assert (out / name).read_bytes() == (again / name).read_bytes(), name


def test_tariff_price_table(tmp_path):
    h = MINIMAL_YAML["horizon"]
    slots = pd.date_range(pd.Timestamp(h["start"]), periods=h["slots"], freq="15min")
    prices = pd.DataFrame({"slot_start": [s.isoformat() for s in slots],
                           "price_cny_per_kwh": [0.2 + 0.01 * i for i in range(len(slots))]})
    folder = write_scenario(tmp_path / "sc", yaml_overrides={"tariff": {"table": "prices.csv"}},
                            extra_files={"prices.csv": prices})
    sc = load_scenario(folder)
    assert sc.price_cny_per_kwh.iloc[5] == pytest.approx(0.25)
    run = plan_day(sc)
    assert check_plan(run.problem, run.plan) == []
    bad = prices.drop(index=[3])
    folder = write_scenario(tmp_path / "bad", yaml_overrides={"tariff": {"table": "prices.csv"}},
                            extra_files={"prices.csv": bad})
    res = runner.invoke(app, ["validate", str(folder)])
    assert res.exit_code == 1 and "prices.csv: slot_start missing" in res.stderr


def test_weather_csv_error_names_file_row_field(tmp_path):
    h = MINIMAL_YAML["horizon"]
    slots = pd.date_range(pd.Timestamp(h["start"]), periods=h["slots"], freq="15min")
    weather = pd.DataFrame({"slot_start": [s.isoformat() for s in slots], "ghi": 100.0, "dni": 50.0,
                            "dhi": 50.0, "temp_air": 5.0}).astype({"ghi": object})
    weather.loc[9, "ghi"] = "n/a"
    station = [{"station_id": "S1", "transformer_id": "T1", "pv": {"capacity_kwp": 50, "weather": "weather.csv"}}]
    folder = write_scenario(tmp_path / "sc", yaml_overrides={"stations": station},
                            extra_files={"weather.csv": weather})
    res = runner.invoke(app, ["validate", str(folder)])
    assert res.exit_code == 1
    assert "weather.csv row 10" in res.stderr and "ghi" in res.stderr


def test_small_shortfalls_are_not_printed_as_zero():
    from vpp_sched.plan.results import kwh_text

    assert kwh_text(0.0) == "0.0" and kwh_text(12.34) == "12.3"
    assert kwh_text(0.012) == "0.012"          # short by 12 Wh: not "0.0 kWh"
