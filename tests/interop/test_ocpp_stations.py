"""OCPP station-wide caps of the fast-charging stations (ChargePointMaxProfile / ChargingStationMaxProfile)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from sites_factory import site_scenario
from vpp_sched.interop.ocpp import export_ocpp
from vpp_sched.interop.ocpp_station import station_periods
from vpp_sched.plan.output import write_plan
from vpp_sched.plan.planner import plan_day


def test_station_periods_change_only_with_the_cap():
    assert station_periods(pd.Series([5.0, 5.0, 7.5, 0.0]).to_numpy(), 900) == [(0, 5.0), (1800, 7.5), (2700, 0.0)]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_fast_station_cap_exported(tmp_path, version):
    plan = write_plan(plan_day(site_scenario(tmp_path / "sc")).plan, tmp_path / "plan", parquet=False)
    out = export_ocpp(plan, version, out=tmp_path / "ocpp")
    index = pd.read_csv(out / "stations" / "index.csv")
    assert list(index.station_id) == ["sa-1"]
    payload = json.loads((out / "stations" / index.file.iat[0]).read_text())
    if version == "1.6":
        assert payload["connectorId"] == 0
        profile = payload["csChargingProfiles"]
        assert profile["chargingProfilePurpose"] == "ChargePointMaxProfile"
        schedule = profile["chargingSchedule"]
    else:
        assert payload["evseId"] == 0
        profile = payload["chargingProfile"]
        assert profile["chargingProfilePurpose"] == "ChargingStationMaxProfile"
        schedule = profile["chargingSchedule"][0]
    cap = pd.read_csv(plan / "fast_charging.csv").power_cap_kw.to_numpy()
    periods = schedule["chargingSchedulePeriod"]
    # the limit in force in each slot is the plan's cap, rounded down to 0.1 W
    starts = [p["startPeriod"] for p in periods]
    for t, c in enumerate(cap):
        k = max(i for i, s in enumerate(starts) if s <= t * 900)
        assert c * 1000 - 0.1 <= periods[k]["limit"] <= c * 1000 + 1e-9
