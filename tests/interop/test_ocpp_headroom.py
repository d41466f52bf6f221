"""The OCPP export raises a set-point under the charger minimum only where its transformer keeps its
limit (interop/ocpp_headroom.py); elsewhere the limit goes to 0 and index.csv says so."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scenario_factory import write_scenario
from vpp_sched.cli import app
from vpp_sched.interop.ocpp import MIN_CURRENT_A, build_profiles
from vpp_sched.plan.output import write_plan
from vpp_sched.plan.planner import plan_day

OPTIONS = {"unit": "A", "phases": 3}         # 6 A on three phases at 230 V: 4.14 kW, above E3's 3.5 kW plan


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("headroom")
    run = plan_day(write_scenario(base / "sc"))
    return write_plan(run.plan, base / "plan", parquet=False)


def _with_headroom(plan_dir, tmp_path, room_kw: float):
    """A copy of the plan whose transformers are ``room_kw`` above the plan's net load in every slot."""
    copy = shutil.copytree(plan_dir, tmp_path / "plan")
    load = pd.read_csv(copy / "transformer_load.csv", dtype={"slot_start": str})
    load["limit_kw"] = load.net_load_kw + room_kw
    load.to_csv(copy / "transformer_load.csv", index=False, float_format="%.6f")
    return copy


def _extra_kw(folder, payloads, index) -> pd.Series:
    """Per transformer and slot: the profiles' power (limit x 230 V x 3) minus the plan's [kW]."""
    schedule = pd.read_csv(folder / "ev_schedule.csv")
    evs = pd.read_csv(folder / "evs.csv").set_index("ev_id")
    rows = []
    for ev_id, file in zip(index.ev_id, index.file):
        sched = payloads[file]["chargingProfile"]["chargingSchedule"][0]
        starts = [p["startPeriod"] for p in sched["chargingSchedulePeriod"]]
        limits = [p["limit"] for p in sched["chargingSchedulePeriod"]]
        mine = schedule[schedule.ev_id == ev_id]
        t = pd.to_datetime(mine.slot_start, utc=True)
        offset = (t - pd.Timestamp(sched["startSchedule"])).dt.total_seconds().to_numpy()
        limit = np.array(limits)[np.searchsorted(starts, offset, side="right") - 1]
        assert all(x == 0 or x >= MIN_CURRENT_A for x in limit)
        rows.append(pd.DataFrame({"transformer_id": evs.transformer_id[ev_id], "slot_start": mine.slot_start,
                                  "extra_kw": limit * 230 * 3 / 1000 - mine.power_kw.to_numpy()}))
    return pd.concat(rows).groupby(["transformer_id", "slot_start"]).extra_kw.sum()


def test_with_room_every_set_point_under_the_minimum_is_raised(plan_dir):
    _, index = build_profiles(plan_dir, "2.0.1", **OPTIONS)
    assert index.raised_slots.sum() > 0 and index.lowered_slots.sum() == 0


@pytest.mark.parametrize("room_kw", [0.5, 3.0])
def test_no_raise_takes_a_transformer_over_its_limit(plan_dir, tmp_path, room_kw):
    folder = _with_headroom(plan_dir, tmp_path, room_kw)
    _, before = build_profiles(plan_dir, "2.0.1", **OPTIONS)
    payloads, index = build_profiles(folder, "2.0.1", **OPTIONS)
    extra = _extra_kw(folder, payloads, index)
    assert extra.max() <= room_kw + 1e-6, extra[extra > room_kw]
    # each slot under the minimum is raised or lowered, none lost; lowered energy is the plan's there
    assert (index.raised_slots + index.lowered_slots).tolist() == before.raised_slots.tolist()
    if room_kw == 0.5:
        assert index.lowered_slots.sum() > 0      # E3 (3.5 kW at most) needs 0.64 kW or more to reach 4.14 kW
    schedule = pd.read_csv(folder / "ev_schedule.csv")
    for row in index[index.lowered_slots > 0].itertuples():
        assert "set to 0" in row.note and row.lowered_kwh > 0
        assert row.lowered_kwh <= schedule[schedule.ev_id == row.ev_id].power_kw.sum() * 0.25 + 1e-9
    if room_kw == 3.0:
        assert index.raised_slots.sum() > 0       # a raise that fits is kept


def test_cli_says_what_was_set_to_zero(plan_dir, tmp_path):
    folder = _with_headroom(plan_dir, tmp_path, 0.5)
    res = CliRunner().invoke(app, ["export-ocpp", str(folder), "--version", "2.0.1", "--out", str(tmp_path / "o"),
                                   "--unit", "A", "--phases", "3"])
    assert res.exit_code == 0, res.output + res.stderr
    assert "set to 0 instead, where the raise would take the transformer over its limit" in res.stderr
    index = pd.read_csv(tmp_path / "o" / "index.csv")
    assert {"lowered_slots", "lowered_kwh"} <= set(index.columns)
