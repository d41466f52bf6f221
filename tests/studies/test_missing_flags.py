"""Flags missing after a reindex or for a failed row (an EV only in the actuals, a transformer without
a hosting result) read as False, with explicit dtypes: no pandas downcasting FutureWarning."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd

from scenario_factory import EVS, write_scenario
from vpp_sched.scenario.load import load_scenario
from vpp_sched.studies.actuals import forecast_as_actuals, make_fleet
from vpp_sched.studies.figures import capacity_figure


def test_an_ev_only_in_the_actuals_is_no_v2g_ev(tmp_path):
    evs = EVS.assign(v2g=[True, False, False, False, False], max_discharge_kw=[7.0, 0, 0, 0, 0],
                     battery_kwh=[60.0, 40, 40, 40, 40], soc_arrival=[0.5, 0.5, 0.5, 0.5, 0.5])
    scenario = load_scenario(write_scenario(tmp_path / "sc", evs=evs))
    actuals = forecast_as_actuals(scenario)
    extra = actuals.evs.iloc[[1]].assign(ev_id="X1")          # a session the forecast did not have
    actuals = replace(actuals, evs=pd.concat([actuals.evs, extra], ignore_index=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        fleet = make_fleet(scenario, actuals, np.array(["T1", "T2"], dtype=object))
    assert list(fleet.ev_ids) == ["E1", "E2", "E3", "E4", "E5", "X1"]
    assert fleet.v2g.dtype == bool and fleet.v2g.tolist() == [True, False, False, False, False, False]
    assert fleet.battery_kwh[-1] == 0.0 and fleet.soc_arrival_kwh[0] == 30.0


def test_a_transformer_without_a_result_is_not_drawn_as_capped():
    rows = [{"label": "T1", "orderly_multiple": 1.5, "orderly_capped": False},
            {"label": "T2", "orderly_multiple": 4.0, "orderly_capped": True},
            {"label": "T3 (failed)"}]                                   # no result: capped is NaN
    table = pd.DataFrame(rows)
    assert table.orderly_capped.dtype == object
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        fig = capacity_figure(table, ["orderly"], cap=4.0)
    markers = [(line.get_marker(), len(line.get_xdata())) for line in fig.axes[0].lines]
    assert (">", 1) in markers          # T2 only at the cap
    assert ("o", 2) in markers          # T1 and T3 (NaN: drawn nowhere) as dots


def _hosting_result(rows: list[dict]):
    from vpp_sched.studies.hosting import HostingResult, hosting_columns

    table = pd.DataFrame(rows).reindex(columns=hosting_columns(["uncontrolled"]))
    return HostingResult("example", ["uncontrolled"], table, tolerance=0.01, seed=0, wall_seconds=0.0)


def test_a_missing_capped_flag_is_not_reported_as_capped():
    from vpp_sched.studies.report import render_hosting_report
    from vpp_sched.studies.summary import hosting_summary

    ok = {"rated_kva": 100.0, "limit_kw": 95.0, "status": "ok", "uncontrolled_evs": 3}
    result = _hosting_result([
        {"transformer_id": "T1", "evs_today": 2, "uncontrolled_multiple": 1.5, "uncontrolled_capped": False, **ok},
        {"transformer_id": "T2", "evs_today": 2, "uncontrolled_multiple": 64.0, "uncontrolled_capped": True, **ok},
        {"transformer_id": "T3", "evs_today": 2, "uncontrolled_multiple": 2.25, **ok}])   # flag NaN (object column)
    assert pd.isna(result.table.uncontrolled_capped.iat[2])
    html = render_hosting_report(result)
    assert "≥ 64.00" in html and "2.25" in html and "≥ 2.25" not in html
    summary = hosting_summary(result)
    assert ">= 64.00x" in summary and "2.25x" in summary and ">= 2.25x" not in summary


def test_a_transformer_without_evs_has_no_capped_flag(tmp_path):
    from vpp_sched.studies.hosting import run_hosting

    transformers = pd.DataFrame({"transformer_id": ["T1", "T2", "T3"], "rated_kva": [100.0, 160.0, 50.0],
                                 "power_factor": [0.95] * 3, "max_loading_pu": [1.0] * 3})
    scenario = load_scenario(write_scenario(tmp_path / "sc", transformers=transformers))
    result = run_hosting(scenario, ["T3"], ["uncontrolled", "orderly"], grid=False)
    t = result.table
    assert t.status.tolist() == ["no EVs"]
    for col in ("uncontrolled_capped", "orderly_capped", "orderly_upper_capped"):
        assert t[col].dtype == "boolean" and t[col].isna().all(), col   # NA, never a NaN bool(nan) reads as True
