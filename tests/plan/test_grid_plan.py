"""Plans that respect the LV grid: iterated until the AC power flow is within the band, checked by an
independent pandapower run on the written plan; a breach the EVs cannot fix makes the plan invalid."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from grid_factory import two_bus_grid
from scenario_factory import TRANSFORMERS, base_load_frame, write_scenario
from vpp_sched.network.lv_net import build_net
from vpp_sched.plan.output import write_plan
from vpp_sched.plan.planner import plan_day
from vpp_sched.scenario.load import load_scenario


def _scenario(tmp_path, voltage_min_pu: float):
    two_bus_grid(tmp_path / "s" / "grids" / "two", length_km=0.6)
    return write_scenario(tmp_path / "s", transformers=TRANSFORMERS.assign(grid=["grids/two/", ""]),
                          base_load=base_load_frame(TRANSFORMERS, peak_share=0.25),
                          yaml_overrides={"grid": {"voltage_min_pu": voltage_min_pu}})


def test_plan_is_iterated_into_the_band_and_pandapower_agrees(tmp_path):
    folder = _scenario(tmp_path, 0.977)
    run = plan_day(folder)
    g = run.plan.kpis["grid"]
    assert g["uncontrolled"]["undervoltage_bus_slots"] > 0          # uncontrolled charging breaks the band
    assert g["iterations"] >= 1 and g["model_rows"] > 0             # the first plan did too
    assert g["plan"]["undervoltage_bus_slots"] == 0 and g["plan"]["lowest_vm_pu"] >= 0.977
    assert run.plan.kpis["valid"], run.plan.warnings
    assert run.plan.evs.unmet_kwh.sum() == pytest.approx(0.0, abs=1e-6)
    out = write_plan(run.plan, tmp_path / "plan")
    buses = pd.read_csv(out / "grid_buses.csv")
    phases = pd.read_csv(out / "grid_phases.csv")
    t1_load = pd.read_csv(out / "transformer_load.csv").query("transformer_id == 'T1'")
    np.testing.assert_allclose((phases.p_a_kw + phases.p_b_kw + phases.p_c_kw).to_numpy(),
                               t1_load.net_load_kw.to_numpy(), atol=1e-5)      # the phases add up to the net load
    assert phases.unbalance_pct.between(0, 100).all() and phases.unbalance_pct.max() > 0   # 3 one-phase EVs
    assert g["plan"]["worst_unbalance_pct"] == pytest.approx(phases.unbalance_pct.max(), abs=1e-4)
    load = pd.read_csv(out / "transformer_load.csv")
    assert set(buses.columns) >= {"transformer_id", "bus_id", "slot_start", "vm_pu", "vm_a_pu", "vm_b_pu", "vm_c_pu"}
    assert set(pd.read_csv(out / "grid_lines.csv").columns) == {"transformer_id", "line_id", "slot_start",
                                                                "loading_pct"}
    # independent check: pandapower's runpp with the written plan's load at B1 (the grid's one load bus)
    import pandapower as pp

    net, bus = build_net(load_scenario(folder).grids["T1"], 100.0)
    t1 = load[load.transformer_id == "T1"].reset_index(drop=True)
    b1 = buses[buses.bus_id == "B1"].reset_index(drop=True)
    worst = int(b1.vm_pu.idxmin())
    for k in (worst, 0, 40):
        n = copy.deepcopy(net)
        pp.create_load(n, bus["B1"], p_mw=float(t1.base_load_kw[k] + t1.ev_kw[k]) / 1e3, q_mvar=0.0)
        pp.runpp(n, numba=False)
        assert b1.slot_start[k] == t1.slot_start[k]
        assert n.res_bus.vm_pu[bus["B1"]] == pytest.approx(b1.vm_pu[k], abs=1e-6)   # the CSV keeps 6 digits


@pytest.mark.invalid_plan
def test_a_breach_of_the_base_load_alone_makes_the_plan_invalid(tmp_path):
    run = plan_day(_scenario(tmp_path, 0.98))
    assert not run.plan.kpis["valid"]
    grid_lines = [w for w in run.plan.warnings if "grid of T1" in w]
    assert len(grid_lines) == 1 and "bus B1" in grid_lines[0] and "below the band 0.98..1.07 pu" in grid_lines[0]
    assert run.plan.kpis["grid"]["iterations"] <= 5


@pytest.mark.parametrize("method", ["pyomo", "decomposed"])
def test_other_methods_keep_the_grid_rows(tmp_path, method):
    run = plan_day(_scenario(tmp_path, 0.977), method=method)
    g = run.plan.kpis["grid"]
    assert g["iterations"] >= 1 and g["plan"]["undervoltage_bus_slots"] == 0 and run.plan.kpis["valid"]
