"""SimBench CSV import on the trimmed semiurb4 grid (1-7 January 2016; see tests/data/simbench)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from vpp_sched.cli import app
from vpp_sched.cli.import_simbench import import_simbench as import_command
from vpp_sched.errors import InputError
from vpp_sched.scenario.load import load_scenario
from vpp_sched.interop.simbench import assign_loads, import_simbench, simbench_date

GRID = Path(__file__).parents[1] / "data" / "simbench"
DAY = dt.date(2026, 1, 5)  # a Monday; 2016-01-04 is the Monday nearest day 5 of 2016


def _hand_load_kw(stamp: str) -> float:
    """Sum of pLoad x <profile>_pload at a SimBench time, computed from the raw files [kW]."""
    loads = pd.read_csv(GRID / "Load.csv", sep=";")
    profiles = pd.read_csv(GRID / "LoadProfile.csv", sep=";").set_index("time")
    row = profiles.loc[stamp]
    return float(sum(p * 1000 * row[f"{name}_pload"] for p, name in zip(loads.pLoad, loads.profile)))


def test_import_semiurb4_midnight_to_midnight(tmp_path):
    result = import_simbench(GRID, tmp_path / "sc", DAY, start_hour=0)
    assert result.profile_days == [dt.date(2016, 1, 4)]
    assert result.loads_per_transformer == {"MV1.101-LV4.101-Trafo 1": 41} and not result.unassigned_loads
    trafos = pd.read_csv(tmp_path / "sc" / "transformers.csv")
    assert trafos.to_dict("records") == [{"transformer_id": "MV1.101-LV4.101-Trafo 1", "rated_kva": 400.0,
                                          "power_factor": 0.95, "max_loading_pu": 1.0}]
    base = pd.read_csv(tmp_path / "sc" / "base_load.csv").set_index("slot_start").load_kw
    assert len(base) == 96 and base.index[0] == "2026-01-05T00:00:00+08:00"
    for ours, simbench in (("2026-01-05T19:00:00+08:00", "04.01.2016 19:00"),
                           ("2026-01-05T07:15:00+08:00", "04.01.2016 07:15")):
        assert base[ours] == pytest.approx(_hand_load_kw(simbench), abs=1e-5)
    assert 0 < base.max() <= 115.6, "below semiurb4's annual base peak of 115.5 kW"
    sc = load_scenario(tmp_path / "sc")
    assert len(sc.evs) == 0 and len(sc.slots) == 96 and sc.tz == "Asia/Shanghai"
    assert "SimBench" in sc.config.description and (tmp_path / "sc" / "README.md").exists()


def test_default_is_noon_to_noon_over_two_profile_days(tmp_path):
    """The default horizon is the rest of the tool's: --day D 12:00 local to D+1 12:00."""
    result = import_simbench(GRID, tmp_path / "sc", DAY, "Europe/Berlin", name="noon")
    assert result.profile_days == [dt.date(2016, 1, 4), dt.date(2016, 1, 5)]
    base = pd.read_csv(tmp_path / "sc" / "base_load.csv").set_index("slot_start").load_kw
    assert len(base) == 96 and base.index[0] == "2026-01-05T12:00:00+01:00"
    assert base.index[-1] == "2026-01-06T11:45:00+01:00"
    assert base["2026-01-06T00:30:00+01:00"] == pytest.approx(_hand_load_kw("05.01.2016 00:30"), abs=1e-5)
    assert load_scenario(tmp_path / "sc").config.name == "noon"


@pytest.mark.parametrize("year", [2016, 2025, 2026, 2028])
def test_simbench_date_keeps_weekday_and_season(year):
    day = dt.date(year, 1, 1)
    while day.year == year:
        got = simbench_date(day)
        assert got.year == 2016 and got.weekday() == day.weekday()
        doy = min(day.timetuple().tm_yday, 366)
        gap = abs(got.timetuple().tm_yday - doy)
        assert gap <= 3 or (gap <= 6 and (doy <= 3 or doy >= 363)), day
        day += dt.timedelta(days=1)
    assert simbench_date(dt.date(2016, 5, 5)) == dt.date(2016, 5, 5)


def _grid_copy(tmp_path):
    return Path(shutil.copytree(GRID, tmp_path / "grid"))


def test_missing_profile_file(tmp_path):
    grid = _grid_copy(tmp_path)
    (grid / "LoadProfile.csv").unlink()
    with pytest.raises(InputError) as exc:
        import_simbench(grid, tmp_path / "sc", DAY)
    assert exc.value.problems == [f"LoadProfile.csv: file not found at {grid / 'LoadProfile.csv'}"]
    assert not (tmp_path / "sc").exists()


def test_missing_columns_and_bad_rows(tmp_path):
    grid = _grid_copy(tmp_path)
    loads = pd.read_csv(grid / "Load.csv", sep=";", dtype=str)
    loads.drop(columns="pLoad").to_csv(grid / "Load.csv", sep=";", index=False)
    with pytest.raises(InputError, match=r"Load.csv: missing column pLoad"):
        import_simbench(grid, tmp_path / "sc", DAY)
    loads.loc[2, "pLoad"] = "abc"
    loads.loc[4, "profile"] = "H9-Z"
    loads.to_csv(grid / "Load.csv", sep=";", index=False)
    with pytest.raises(InputError) as exc:
        import_simbench(grid, tmp_path / "sc", DAY)
    assert exc.value.problems == [f"Load.csv row 3 (id={loads.id[2]}): pLoad 'abc' is not a number"]
    loads.loc[2, "pLoad"] = "0.004"
    loads.to_csv(grid / "Load.csv", sep=";", index=False)
    with pytest.raises(InputError, match=r"LoadProfile.csv: missing column H9-Z_pload"):
        import_simbench(grid, tmp_path / "sc", DAY)
    with pytest.raises(InputError, match=r"LoadProfile.csv: no row for 96 slot\(s\).*first 29.02.2016 12:00"):
        import_simbench(GRID, tmp_path / "sc", dt.date(2026, 3, 2))


def test_unknown_transformer_type(tmp_path):
    grid = _grid_copy(tmp_path)
    text = (grid / "Transformer.csv").read_text().replace(";0.4 MVA 20/0.4 kV Dyn5 ASEA;", ";0.5 MVA;")
    (grid / "Transformer.csv").write_text(text)
    with pytest.raises(InputError) as exc:
        import_simbench(grid, tmp_path / "sc", DAY)
    assert exc.value.problems == ["Transformer.csv row 1 (id=MV1.101-LV4.101-Trafo 1): type 0.5 MVA is not a "
                                  "known id in TransformerType.csv"]


def test_loads_go_to_the_nearest_transformer():
    trafos = pd.DataFrame({"transformer_id": ["TA", "TB"], "node_lv": ["a0", "b0"]})
    loads = pd.DataFrame({"node": ["a2", "b1", "mv", "a1"]})
    edges = [("a0", "a1"), ("a1", "a2"), ("b0", "b1"), ("a2", "b1")]  # a2-b1: a meshed tie
    assert assign_loads(trafos, loads, edges).tolist() == ["TA", "TB", "", "TA"]


def test_cli_then_validate(tmp_path):
    cli = typer.Typer()
    cli.command()(import_command)
    runner = CliRunner()
    args = [str(GRID), str(tmp_path / "sc"), "--day", "2026-01-05", "--power-factor", "0.9"]
    res = runner.invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert runner.invoke(app, ["validate", str(tmp_path / "sc")]).exit_code == 0
    assert runner.invoke(cli, args).exit_code == 2, "an existing scenario is not replaced silently"
    assert runner.invoke(cli, [*args, "--force"]).exit_code == 0
    assert runner.invoke(cli, [*args, "--force", "--timezone", "Mars/Base"]).exit_code == 2
    assert runner.invoke(cli, [str(tmp_path), str(tmp_path / "x"), "--day", "2026-01-05"]).exit_code == 1
