"""Bad input: one line per problem naming file, row (and id) and field; exit 1; no plan folder."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from scenario_factory import EVS, MINIMAL_YAML, TRANSFORMERS, base_load_frame, write_scenario
from vpp_sched.cli import app
from vpp_sched.errors import InputError
from vpp_sched.scenario.load import load_scenario

runner = CliRunner()


def _evs(changes: dict | None = None) -> pd.DataFrame:
    df = EVS.copy().astype({"energy_kwh": object, "max_power_kw": object, "min_power_kw": object})
    for (row, col), value in (changes or {}).items():
        df.loc[row, col] = value
    return df


def _problems(folder) -> list[str]:
    with pytest.raises(InputError) as info:
        load_scenario(folder)
    return info.value.problems


def _plan_fails(folder, tmp_path, *expected: str) -> str:
    out = tmp_path / "plan_out"
    result = runner.invoke(app, ["plan", str(folder), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert not out.exists(), "no plan folder may be left behind"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".plan_out")], "no temporary folder left"
    for text in expected:
        assert text in result.stderr, result.stderr
    return result.stderr


@pytest.mark.parametrize("changes, expected", [
    ({(1, "energy_kwh"): -5}, "evs.csv row 2 (ev_id=E2): energy_kwh -5 is outside 0..2000 kWh"),
    ({(2, "max_power_kw"): -1}, "evs.csv row 3 (ev_id=E3): max_power_kw -1 is outside 0..4000 kW"),
    ({(0, "energy_kwh"): "lots"}, "evs.csv row 1 (ev_id=E1): energy_kwh 'lots' is not a number"),
    ({(0, "energy_kwh"): "NaN"}, "evs.csv row 1 (ev_id=E1): energy_kwh 'NaN' is not a number"),
    ({(3, "max_power_kw"): ""}, "evs.csv row 4 (ev_id=E4): max_power_kw is empty"),
    ({(0, "min_power_kw"): 9.0}, "evs.csv row 1 (ev_id=E1): min_power_kw 9 exceeds max_power_kw 7"),
    ({(1, "departure"): "2026-11-27T18:00:00+08:00"}, "evs.csv row 2 (ev_id=E2): departure 2026-11-27T18:00:00+08:00 is not after arrival 2026-11-27T18:40:00+08:00"),
    ({(2, "arrival"): "tonight"}, "evs.csv row 3 (ev_id=E3): arrival 'tonight' is not an ISO 8601 time"),
    ({(4, "transformer_id"): "T9"}, "evs.csv row 5 (ev_id=E5): transformer_id T9 is not a known transformer_id in transformers.csv"),
    ({(4, "ev_id"): "E1"}, "evs.csv row 5 (ev_id=E1): ev_id E1 is a duplicate (first at row 1)"),
])
def test_bad_ev_rows(tmp_path, changes, expected):
    folder = write_scenario(tmp_path / "sc", evs=_evs(changes))
    assert any(line.startswith(expected) for line in _problems(folder))
    _plan_fails(folder, tmp_path, expected)


def test_every_problem_listed_once_per_line(tmp_path):
    folder = write_scenario(tmp_path / "sc", evs=_evs({(0, "energy_kwh"): -1, (3, "max_power_kw"): "x"}))
    problems = _problems(folder)
    assert len(problems) == 2
    assert problems[0].startswith("evs.csv row 1 (ev_id=E1): energy_kwh")
    assert problems[1].startswith("evs.csv row 4 (ev_id=E4): max_power_kw")


def test_missing_file(tmp_path):
    folder = write_scenario(tmp_path / "sc")
    (folder / "evs.csv").unlink()
    _plan_fails(folder, tmp_path, "evs.csv: file not found")


def test_missing_column(tmp_path):
    folder = write_scenario(tmp_path / "sc", evs=EVS.drop(columns=["energy_kwh"]))
    _plan_fails(folder, tmp_path, "evs.csv: missing column energy_kwh")


def test_duplicate_and_bad_transformer(tmp_path):
    trafos = pd.concat([TRANSFORMERS, TRANSFORMERS.iloc[[0]]], ignore_index=True)
    trafos.loc[1, "power_factor"] = 1.5
    folder = write_scenario(tmp_path / "sc", transformers=trafos, base_load=base_load_frame(TRANSFORMERS))
    err = _plan_fails(folder, tmp_path, "transformers.csv row 3 (transformer_id=T1): transformer_id T1 is a duplicate",
                      "transformers.csv row 2 (transformer_id=T2): power_factor 1.5 is outside 0..1 (0 excluded)")
    assert err.count("\n  ") == 2


def test_base_load_missing_slot(tmp_path):
    base = base_load_frame(TRANSFORMERS).drop(index=[5])
    folder = write_scenario(tmp_path / "sc", base_load=base)
    _plan_fails(folder, tmp_path, "base_load.csv: slot_start missing for transformer_id=T1: 1 slot(s)",
                "2026-11-27T13:15:00+08:00")


def test_base_load_nan_names_row(tmp_path):
    base = base_load_frame(TRANSFORMERS).astype({"load_kw": object})
    base.loc[7, "load_kw"] = "nan"
    folder = write_scenario(tmp_path / "sc", base_load=base)
    problems = _problems(folder)
    assert problems == ["base_load.csv row 8 (transformer_id=T1): load_kw 'nan' is not a number"]


@pytest.mark.parametrize("periods, expected", [
    ([{"start": "00:00", "end": "08:00", "price_cny_per_kwh": 0.3},
      {"start": "09:00", "end": "24:00", "price_cny_per_kwh": 0.6}], "tariff periods leave a gap at 08:00-09:00"),
    ([{"start": "00:00", "end": "10:00", "price_cny_per_kwh": 0.3},
      {"start": "08:00", "end": "24:00", "price_cny_per_kwh": 0.6}], "tariff periods overlap at 08:00-10:00"),
])
def test_tariff_gap_or_overlap(tmp_path, periods, expected):
    folder = write_scenario(tmp_path / "sc", yaml_overrides={"tariff": {"periods": periods}})
    err = _plan_fails(folder, tmp_path, expected)
    assert "scenario.yaml: tariff" in err


def test_tariff_wrapping_midnight_is_fine(tmp_path):
    periods = [{"start": "22:00", "end": "06:00", "price_cny_per_kwh": 0.3},
               {"start": "06:00", "end": "22:00", "price_cny_per_kwh": 0.8}]
    sc = load_scenario(write_scenario(tmp_path / "sc", yaml_overrides={"tariff": {"periods": periods}}))
    night = sc.price_cny_per_kwh[sc.slots.hour == 23]
    assert (night == 0.3).all()


def test_malformed_yaml(tmp_path):
    folder = write_scenario(tmp_path / "sc")
    (folder / "scenario.yaml").write_text("name: x\nsite: {latitude: 35\n  horizon: [\n")
    _plan_fails(folder, tmp_path, "scenario.yaml: malformed YAML at line")


def test_unknown_yaml_key(tmp_path):
    horizon = dict(MINIMAL_YAML["horizon"], slot_minute=15)
    folder = write_scenario(tmp_path / "sc", yaml_overrides={"horizon": horizon, "solvr": {}})
    _plan_fails(folder, tmp_path, "scenario.yaml: horizon.slot_minute: unknown key",
                "scenario.yaml: solvr: unknown key")


@pytest.mark.parametrize("slots", [0, -4])
def test_slots_not_positive(tmp_path, slots):
    horizon = dict(MINIMAL_YAML["horizon"], slots=slots)
    folder = write_scenario(tmp_path / "sc", yaml_overrides={"horizon": horizon},
                            base_load=base_load_frame(TRANSFORMERS))
    _plan_fails(folder, tmp_path, "scenario.yaml: horizon.slots: Input should be greater than 0")


def test_missing_scenario_and_existing_plan_kept(tmp_path):
    out = tmp_path / "plan_out"
    out.mkdir()
    (out / "kpis.json").write_text("{}")
    result = runner.invoke(app, ["plan", str(tmp_path / "nowhere"), "--out", str(out)])
    assert result.exit_code == 1
    assert "scenario not found" in result.stderr
    assert (out / "kpis.json").read_text() == "{}", "a failed run must not touch an earlier plan"


def test_validate_command(tmp_path):
    good = write_scenario(tmp_path / "good")
    ok = runner.invoke(app, ["validate", str(good)])
    assert ok.exit_code == 0 and "valid" in ok.output
    bad = write_scenario(tmp_path / "bad", evs=_evs({(0, "energy_kwh"): -2}))
    res = runner.invoke(app, ["validate", str(bad)])
    assert res.exit_code == 1 and "evs.csv row 1 (ev_id=E1): energy_kwh" in res.stderr


def test_schema_command():
    res = runner.invoke(app, ["schema"])
    assert res.exit_code == 0
    schema = yaml.safe_load(res.output)
    assert schema["additionalProperties"] is False
    assert {"site", "horizon", "tariff", "evs", "stations", "dr_events", "solver"} <= set(schema["properties"])


def test_a_bad_max_power_is_one_problem_not_two(tmp_path):
    # max_power_kw -3 with min_power_kw 1.4: the negative power is the problem; "min exceeds max"
    # would be a follow-on of it.
    folder = write_scenario(tmp_path / "sc", evs=_evs({(0, "max_power_kw"): -3, (0, "min_power_kw"): 1.4}))
    problems = _problems(folder)
    assert problems == ["evs.csv row 1 (ev_id=E1): max_power_kw -3 is outside 0..4000 kW"]
    _plan_fails(folder, tmp_path, problems[0])
