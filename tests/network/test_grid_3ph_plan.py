"""Plans with the three-phase flow: three home chargers on phase a of a two-bus line break the phase
band when uncontrolled; the plan is iterated into it, its written phase voltages agree with an
independent ``runpp_3ph``, and ``gridcheck`` reproduces them. The validity check names the phase."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
from typer.testing import CliRunner

from grid_factory import two_bus_grid
from scenario_factory import EVS, TRANSFORMERS, base_load_frame, write_scenario
from vpp_sched.cli import app
from vpp_sched.network.lv_net import build_net
from vpp_sched.network.powerflow_3ph import add_zero_sequence
from vpp_sched.plan.output import write_plan
from vpp_sched.plan.planner import plan_day
from vpp_sched.plan.validity import check_phase_voltages
from vpp_sched.scenario.load import load_scenario

PHASE_MIN_PU = 0.95


def _scenario(tmp_path):
    two_bus_grid(tmp_path / "s" / "grids" / "two", length_km=0.6)
    return write_scenario(tmp_path / "s", transformers=TRANSFORMERS.assign(grid=["grids/two/", ""]),
                          evs=EVS.assign(phase=["a", "a", "a", "", ""]),
                          base_load=base_load_frame(TRANSFORMERS, peak_share=0.25),
                          yaml_overrides={"grid": {"voltage_min_pu": 0.9, "phase_voltage_min_pu": PHASE_MIN_PU}})


def test_plan_keeps_the_phase_band_and_runpp_3ph_agrees(tmp_path):
    import pandapower as pp

    folder = _scenario(tmp_path)
    run = plan_day(folder)
    g = run.plan.kpis["grid"]
    assert g["uncontrolled"]["phase_undervoltage_bus_slots"] > 0     # phase a sags under uncontrolled charging
    assert g["uncontrolled"]["lowest_phase_vm_pu"] < PHASE_MIN_PU < g["uncontrolled"]["lowest_vm_pu"]
    assert g["iterations"] >= 1 and g["model_rows"] > 0
    assert g["plan"]["phase_undervoltage_bus_slots"] == 0 and g["plan"]["lowest_phase_vm_pu"] >= PHASE_MIN_PU
    assert g["plan"]["worst_voltage_unbalance_pct"] > 0 and g["plan"]["worst_transformer_current_unbalance_pct"] > 0
    assert g["limits"]["voltage_unbalance_max_pct"] == 2.0
    assert run.plan.kpis["valid"], run.plan.warnings
    out = write_plan(run.plan, tmp_path / "plan")
    buses = pd.read_csv(out / "grid_buses.csv")
    b1 = buses[(buses.transformer_id == "T1") & (buses.bus_id == "B1")].reset_index(drop=True)
    worst = int(b1.vm_a_pu.idxmin())
    assert b1.vm_a_pu[worst] < min(b1.vm_b_pu[worst], b1.vm_c_pu[worst])     # the loaded phase is the weak one
    # independent check: runpp_3ph with the written plan's load at B1 (EVs on a, base load a third a phase)
    load = pd.read_csv(out / "transformer_load.csv").query("transformer_id == 'T1'").reset_index(drop=True)
    net = add_zero_sequence(build_net(load_scenario(folder).grids["T1"], 100.0)[0])
    bus = dict(zip(net.bus.name, net.bus.index))
    for k in (worst, 0):
        n = copy.deepcopy(net)
        third = float(load.base_load_kw[k]) / 3 / 1e3
        pp.create_asymmetric_load(n, bus["B1"], p_a_mw=third + float(load.ev_kw[k]) / 1e3, p_b_mw=third, p_c_mw=third)
        pp.runpp_3ph(n, numba=False)
        for ph in "abc":
            assert n.res_bus_3ph[f"vm_{ph}_pu"][bus["B1"]] == pytest.approx(b1[f"vm_{ph}_pu"][k], abs=2e-6)
    res = CliRunner().invoke(app, ["gridcheck", str(out), "--scenario", str(folder)])
    assert res.exit_code == 0, res.output
    assert "weakest phases:" in res.output and "T1 B1 phase a" in res.output
    diff = float(res.output.split("against the plan's phase voltages: largest difference ")[1].split(" pu")[0])
    assert diff < 1e-6                                    # the CSV's six digits
    # bad input: 60 kW on E1 (phase a) in one slot; the balanced flow carries it, phase a does not
    schedule = pd.read_csv(out / "ev_schedule.csv")
    row = schedule.index[(schedule.ev_id == "E1")][10]
    schedule.loc[row, "power_kw"] = 60.0
    schedule.to_csv(out / "ev_schedule.csv", index=False)
    bad = CliRunner().invoke(app, ["gridcheck", str(out), "--scenario", str(folder)])
    assert bad.exit_code == 1 and "Traceback" not in bad.output
    lines = [x for x in bad.output.splitlines() if x.strip()]
    assert len(lines) == 2 and "three-phase power flow does not converge" in lines[1]
    assert f"slot {schedule.slot_start[row]}" in lines[1] and "at bus B1" in lines[1]


def test_validity_names_the_bus_phase_and_slot_below_the_phase_band():
    b = pd.DataFrame({"transformer_id": ["T1"] * 3, "bus_id": ["B1", "B1", "B2"],
                      "slot_start": ["12:00", "12:15", "12:00"], "vm_pu": [0.97, 0.96, 0.98],
                      "vm_a_pu": [0.97, 0.96, 0.99], "vm_b_pu": [0.93, 0.89, 0.98], "vm_c_pu": [0.99, 1.0, 0.97]})
    limits = {"phase_voltage_min_pu": 0.90, "phase_voltage_max_pu": 0.995}
    out = check_phase_voltages(b, limits)
    assert out == ["grid of T1: bus B1 phase b at 12:15 has 0.8900 pu, below the phase band 0.9..0.995 pu (1 bus-slots)",
                   "grid of T1: bus B1 phase c at 12:15 has 1.0000 pu, above the phase band 0.9..0.995 pu (1 bus-slots)"]
    assert check_phase_voltages(b.assign(vm_a_pu=float("nan"), vm_b_pu=float("nan"), vm_c_pu=float("nan")), limits) == []
