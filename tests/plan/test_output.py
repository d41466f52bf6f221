"""write_plan: the Parquet files written in a thread beside the CSVs are those written alone, and a
failed Parquet write leaves no plan folder behind."""

from __future__ import annotations

import pandas as pd
import pytest

from scenario_factory import write_scenario
from vpp_sched.plan import output
from vpp_sched.plan.output import plan_tables, write_plan
from vpp_sched.plan.planner import plan_day


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    return plan_day(write_scenario(tmp_path_factory.mktemp("sc") / "sc")).plan


def test_parquet_beside_the_csv_is_the_file_written_alone(plan, tmp_path):
    folder = write_plan(plan, tmp_path / "p")
    for stem, table in plan_tables(plan).items():
        alone = tmp_path / f"{stem}.parquet"
        table.to_parquet(alone, index=False)
        assert (folder / f"{stem}.parquet").read_bytes() == alone.read_bytes(), stem
        pd.testing.assert_frame_equal(pd.read_parquet(folder / f"{stem}.parquet"), pd.read_parquet(alone))


def test_a_failed_parquet_write_leaves_no_folder(plan, tmp_path, monkeypatch):
    def broken(table, path):
        raise OSError(f"disk full writing {path.name}")

    monkeypatch.setattr(output, "_to_parquet", broken)
    with pytest.raises(OSError, match="disk full"):
        write_plan(plan, tmp_path / "p")
    assert not (tmp_path / "p").exists()
    assert list(tmp_path.iterdir()) == []       # no temporary folder left either
