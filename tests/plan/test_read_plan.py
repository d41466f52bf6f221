"""A plan written as partitioned Parquet (``plan --partition-rows``) reads as its CSV plan does:
``gridcheck``, ``export-ocpp`` and the plan schema's validation give the same results on both, and a
folder with neither layout is one line naming the file and the folder looked for."""

from __future__ import annotations

import hashlib

import jsonschema
import pandas as pd
import pytest
from typer.testing import CliRunner

from grid_factory import two_bus_grid
from scenario_factory import TRANSFORMERS, base_load_frame, write_scenario
from vpp_sched.cli import app
from vpp_sched.errors import InputError
from vpp_sched.plan.read_plan import plan_document, read_plan_table
from vpp_sched.plan.schema import plan_json_schema

runner = CliRunner()
#: Smaller than every table of the gridded example but batteries: those go partitioned, without CSV.
PARTITION_ROWS = 50
PARTITIONED = ("ev_schedule", "transformer_load", "grid_buses", "grid_lines", "grid_phases")


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    """(scenario, CSV plan, partitioned plan, partitioned plan with its CSVs too) of one scenario: one
    ``plan --partition-rows 50 --csv-max-rows`` run writes both layouts of the large tables (its CSVs
    are write_plan's, byte for byte: tests/plan/test_partitioned_output.py); the other two folders are
    copies of it with one layout removed."""
    import shutil

    root = tmp_path_factory.mktemp("read_plan")
    two_bus_grid(root / "s" / "grids" / "two", length_km=0.6)
    scenario = write_scenario(root / "s", transformers=TRANSFORMERS.assign(grid=["grids/two/", ""]),
                              base_load=base_load_frame(TRANSFORMERS, peak_share=0.25))
    both = root / "both"
    res = runner.invoke(app, ["plan", str(scenario), "--out", str(both), "--no-report",
                              "--partition-rows", str(PARTITION_ROWS), "--csv-max-rows", "100000"])
    assert res.exit_code == 0, res.output
    csv, parts = shutil.copytree(both, root / "csv"), shutil.copytree(both, root / "parts")
    for stem in PARTITIONED:
        shutil.rmtree(csv / stem)
        (parts / f"{stem}.csv").unlink()
    return scenario, csv, parts, both


def test_the_plan_partitions_its_large_tables(plans):
    _, _, _, both = plans
    for stem in PARTITIONED:
        assert (both / stem).is_dir() and (both / f"{stem}.csv").is_file()
        assert not (both / f"{stem}.parquet").exists()
    assert (both / "evs.csv").is_file() and not (both / "evs").exists()    # 5 rows: below --partition-rows


@pytest.mark.parametrize("stem", PARTITIONED)
def test_parquet_cells_read_as_the_csv_holds_them(plans, stem):
    """The text of every cell from Parquet is the CSV's text (same rows; the order may differ)."""
    _, csv, parts, _ = plans
    mine = read_plan_table(parts, stem, text=True)
    theirs = pd.read_csv(csv / f"{stem}.csv", dtype=str, keep_default_na=False)
    assert list(mine.columns) == list(theirs.columns)
    key = [c for c in ("transformer_id", "ev_id", "bus_id", "line_id", "slot_start") if c in theirs.columns]
    pd.testing.assert_frame_equal(mine.sort_values(key, ignore_index=True), theirs.sort_values(key, ignore_index=True))
    typed = read_plan_table(parts, stem)
    assert typed["slot_start"].iat[0] == theirs["slot_start"].iat[0] == mine["slot_start"].iat[0]
    assert "transformer_group" not in typed.columns


def _gridcheck(plan, scenario, out):
    res = runner.invoke(app, ["gridcheck", str(plan), "--scenario", str(scenario), "--out", str(out)])
    assert res.exit_code == 0, res.output
    return res.output


def test_gridcheck_gives_the_same_results_on_both(plans, tmp_path):
    scenario, csv, parts, _ = plans
    a, b = _gridcheck(csv, scenario, tmp_path / "a"), _gridcheck(parts, scenario, tmp_path / "b")
    # the same report, but for the differences from the plan's own tables (CSV: six digits)
    same = [line for line in a.splitlines() if "largest difference" not in line]
    assert same == [line for line in b.splitlines() if "largest difference" not in line]
    assert "0 breach(es)" in a and "T1 B1 at" in a
    for text in (a, b):
        diffs = [float(x.split(" pu")[0]) for x in text.split("largest difference ")[1:]]
        assert len(diffs) == 2 and max(diffs) < 1e-6
    for name in ("grid_buses.csv", "grid_lines.csv"):
        x, y = pd.read_csv(tmp_path / "a" / name), pd.read_csv(tmp_path / "b" / name)
        assert len(x) == len(y) > 0
        pd.testing.assert_frame_equal(x, y, check_exact=False, atol=2e-6)


def _digests(folder) -> dict[str, str]:
    return {str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(folder.rglob("*")) if f.is_file()}


@pytest.mark.parametrize("options", [["--version", "1.6"], ["--version", "2.0.1", "--unit", "A"]])
def test_export_ocpp_writes_the_same_files_from_both(plans, tmp_path, options):
    _, csv, parts, _ = plans
    for plan, out in ((csv, tmp_path / "a"), (parts, tmp_path / "b")):
        res = runner.invoke(app, ["export-ocpp", str(plan), "--out", str(out), *options])
        assert res.exit_code == 0, res.output
    a, b = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert len([f for f in a if f.endswith(".json") and not f.startswith(".")]) == 5   # one request per EV
    assert a == b


def test_the_schema_validates_both_alike(plans, tmp_path):
    _, csv, parts, _ = plans
    schema = plan_json_schema()
    a, b = plan_document(csv), plan_document(parts)
    assert set(a) == set(b) and {f"{s}.csv" for s in PARTITIONED} <= set(b)
    for doc in (a, b):
        jsonschema.validate(doc, schema)
    for stem in PARTITIONED:
        name = f"{stem}.csv"
        assert len(a[name]) == len(b[name])
        x, y = pd.DataFrame(a[name]), pd.DataFrame(b[name])
        key = [c for c in x.columns if x[c].dtype == object]
        pd.testing.assert_frame_equal(x.sort_values(key, ignore_index=True), y.sort_values(key, ignore_index=True),
                                      check_exact=False, atol=1e-6)
    # a partitioned table that lost a required column fails as its CSV would
    b["ev_schedule.csv"] = [{k: v for k, v in row.items() if k != "power_kw"} for row in b["ev_schedule.csv"]]
    with pytest.raises(jsonschema.ValidationError, match="power_kw"):
        jsonschema.validate(b, schema)


def test_the_csv_is_read_when_both_are_there(plans, tmp_path):
    import shutil

    _, _, _, both = plans
    edited = shutil.copytree(both, tmp_path / "edited")
    schedule = pd.read_csv(edited / "ev_schedule.csv", dtype=str, keep_default_na=False)
    schedule.assign(power_kw="0.500000").to_csv(edited / "ev_schedule.csv", index=False)
    assert (read_plan_table(edited, "ev_schedule").power_kw == 0.5).all()
    assert not (read_plan_table(both, "ev_schedule").power_kw == 0.5).all()


def test_a_folder_with_neither_layout_is_one_line_each(plans, tmp_path):
    scenario, _, _, _ = plans
    (tmp_path / "empty").mkdir()
    res = runner.invoke(app, ["gridcheck", str(tmp_path / "empty"), "--scenario", str(scenario)])
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert res.exit_code == 1 and len(lines) == 2
    assert "ev_schedule.csv: file not found" in lines[1] and "partitioned Parquet folder ev_schedule/" in lines[1]
    with pytest.raises(InputError, match=r"transformer_load\.csv: file not found .* folder transformer_load/"):
        read_plan_table(tmp_path / "empty", "transformer_load")


def test_gridcheck_names_a_cell_that_is_not_a_number(plans, tmp_path):
    import shutil

    scenario, csv, _, _ = plans
    edited = shutil.copytree(csv, tmp_path / "edited")
    schedule = pd.read_csv(edited / "ev_schedule.csv", dtype=str, keep_default_na=False)
    schedule.loc[2, "power_kw"] = "7 kW"
    schedule.to_csv(edited / "ev_schedule.csv", index=False)
    res = runner.invoke(app, ["gridcheck", str(edited), "--scenario", str(scenario)])
    assert res.exit_code == 1
    assert "ev_schedule.csv row 3: power_kw '7 kW' is not a number" in res.output, res.output


def test_a_partitioned_table_without_a_column_names_it(plans, tmp_path):
    import shutil

    _, _, parts, _ = plans
    broken = tmp_path / "broken"
    shutil.copytree(parts, broken)
    for f in (broken / "ev_schedule").rglob("*.parquet"):
        pd.read_parquet(f).drop(columns="power_kw").to_parquet(f, index=False)
    with pytest.raises(InputError, match=r"^ev_schedule/ \(partitioned Parquet\): missing column power_kw$"):
        read_plan_table(broken, "ev_schedule", ["ev_id", "slot_start", "power_kw"])
    res = runner.invoke(app, ["export-ocpp", str(broken), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "ev_schedule/ (partitioned Parquet): missing column power_kw" in res.output
    assert not (tmp_path / "o").exists()
    (broken / "ev_schedule" / "transformer_group=0" / "part-0.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match=r"ev_schedule/ \(partitioned Parquet\): not a readable Parquet table"):
        read_plan_table(broken, "ev_schedule")
