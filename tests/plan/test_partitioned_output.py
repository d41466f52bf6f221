"""Large plans: a table above ``partition_rows`` is written as a hive-partitioned Parquet folder
(one partition per group of transformers), its CSV skipped unless asked for; below it, the files
are write_plan's, byte for byte."""

from __future__ import annotations

import hashlib
import json

import jsonschema
import pandas as pd
import pytest

from scenario_factory import write_scenario
from vpp_sched.plan import output
from vpp_sched.plan.output import PARTITION_COLUMN, write_plan, write_plan_large
from vpp_sched.plan.planner import plan_day
from vpp_sched.plan.schema import kpis_schema


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    return plan_day(write_scenario(tmp_path_factory.mktemp("sc") / "sc")).plan


def _digests(folder) -> dict[str, str]:
    return {str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(folder.rglob("*")) if f.is_file()}


def test_small_tables_give_write_plans_files(plan, tmp_path):
    write_plan(plan, tmp_path / "a")
    write_plan_large(plan, tmp_path / "b", partition_rows=len(plan.ev_schedule))
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")


def test_schedule_partitioned_by_transformer_group(plan, tmp_path, monkeypatch):
    monkeypatch.setattr(output, "TRANSFORMERS_PER_PARTITION", 1)     # one partition per transformer
    folder = write_plan_large(plan, tmp_path / "p", partition_rows=len(plan.transformer_load))
    assert not (folder / "ev_schedule.csv").exists() and not (folder / "ev_schedule.parquet").exists()
    assert (folder / "transformer_load.csv").exists() and (folder / "transformer_load.parquet").exists()
    back = pd.read_parquet(folder / "ev_schedule")
    n_tr = plan.transformer_load.transformer_id.nunique()
    assert len(list((folder / "ev_schedule").glob(f"{PARTITION_COLUMN}=*/*.parquet"))) == n_tr > 1
    # every row once, with its values, in the partition of its EV's transformer
    key = ["ev_id", "slot_start"]
    merged = plan.ev_schedule.merge(back, on=key, how="outer", suffixes=("", "_p"), indicator=True)
    assert (merged._merge == "both").all() and len(merged) == len(plan.ev_schedule)
    assert (merged.power_kw == merged.power_kw_p).all()
    assert (merged.plugged_in_whole_slot == merged.plugged_in_whole_slot_p).all()
    position = {t: i for i, t in enumerate(pd.unique(plan.transformer_load.transformer_id))}
    ev_position = plan.evs.set_index("ev_id").transformer_id.map(position)
    assert (merged[PARTITION_COLUMN].astype(int).to_numpy() == ev_position[merged.ev_id].to_numpy()).all()
    kpis = json.loads((folder / "kpis.json").read_text())
    assert kpis["partitioned"]["ev_schedule"] == {
        "rows": len(plan.ev_schedule), "partitions": n_tr, "partition_column": PARTITION_COLUMN,
        "transformers_per_partition": 1, "csv": False}
    assert "transformer_load" not in kpis["partitioned"]
    jsonschema.validate(kpis, kpis_schema())
    kpis["partitioned"]["ev_schedule"]["partitions"] = "many"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(kpis, kpis_schema())
    # the same files on a second write
    again = write_plan_large(plan, tmp_path / "q", partition_rows=len(plan.transformer_load))
    assert _digests(folder) == _digests(again)


def test_csv_of_a_partitioned_table_on_request(plan, tmp_path):
    folder = write_plan_large(plan, tmp_path / "p", partition_rows=len(plan.transformer_load),
                              csv_max_rows=len(plan.ev_schedule))
    assert (folder / "ev_schedule.csv").exists() and (folder / "ev_schedule").is_dir()
    assert json.loads((folder / "kpis.json").read_text())["partitioned"]["ev_schedule"]["csv"] is True
    write_plan(plan, tmp_path / "a")
    assert (folder / "ev_schedule.csv").read_bytes() == (tmp_path / "a" / "ev_schedule.csv").read_bytes()


def test_site_tables_without_a_transformer_are_written_whole(tmp_path):
    from sites_factory import site_scenario

    plan = plan_day(site_scenario(tmp_path / "sites")).plan
    folder = write_plan_large(plan, tmp_path / "p", partition_rows=50)
    kpis = json.loads((folder / "kpis.json").read_text())
    assert "ev_schedule" in kpis["partitioned"] and "batteries" not in kpis["partitioned"]
    for stem in ("batteries", "swap_stations", "fast_charging"):
        whole = pd.read_csv(folder / f"{stem}.csv")
        assert len(whole) > 50 and len(pd.read_parquet(folder / f"{stem}.parquet")) == len(whole)
