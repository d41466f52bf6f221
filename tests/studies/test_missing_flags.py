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
