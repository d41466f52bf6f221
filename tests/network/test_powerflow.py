"""The all-slot AC power flow: a two-bus line checked by hand, a shipped SimBench grid against
pandapower's own ``runpp``, the sensitivities against a finite difference, and a load too big to carry."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from grid_factory import IMAX_A, receiving_voltage_pu, two_bus_grid
from vpp_sched.errors import InputError
from vpp_sched.network.lv_net import build_net
from vpp_sched.network.powerflow import grid_model, run_flow
from vpp_sched.network.sensitivity import loading_sensitivity, vm_sensitivity
from vpp_sched.scenario.grid import SHIPPED_GRIDS, read_grid
from vpp_sched.scenario.tables import Problems


def _model(folder, rated_kva=None):
    problems = Problems()
    grid = read_grid(folder.parent, folder.name, "test", problems)
    assert not problems.lines, problems.lines
    net, bus = build_net(grid, rated_kva)
    return grid_model(net, bus, folder.name), bus


def _loads(model, bus, node, p_kw, q_kvar):
    n = len(model.net.bus)
    p, q = np.zeros((n, len(p_kw))), np.zeros((n, len(p_kw)))
    p[bus[node]], q[bus[node]] = p_kw, q_kvar
    return p, q


def test_two_bus_line_voltage_drop_by_hand(tmp_path):
    folder = two_bus_grid(tmp_path / "grids" / "two", length_km=0.3)
    model, bus = _model(folder)
    p_kw, q_kvar = np.array([0.0, 50.0, 120.0]), np.array([0.0, 10.0, 30.0])
    r = run_flow(model, *_loads(model, bus, "B1", p_kw, q_kvar))
    for k in range(3):
        expected = receiving_voltage_pu(p_kw[k], q_kvar[k], 0.3)
        assert r.vm_pu[bus["B1"], k] == pytest.approx(expected, abs=1e-7)
    assert r.vm_pu[bus["B1"], 2] < 0.94            # 120 kW 300 m away: a drop the band notices
    # current by hand: |I| = |S| / (sqrt(3) |V|), over the 270 A rating
    s_mva = np.hypot(120.0, 30.0) / 1e3
    i_ka = s_mva / (np.sqrt(3) * 0.4 * r.vm_pu[bus["B1"], 2])
    assert r.loading_pct[0, 2] == pytest.approx(i_ka * 1e3 / IMAX_A * 100, rel=1e-6)


def test_rating_of_the_transformer_changes_its_impedance(tmp_path):
    folder = two_bus_grid(tmp_path / "grids" / "two", length_km=0.1)
    model, bus = _model(folder, rated_kva=500.0)
    r = run_flow(model, *_loads(model, bus, "B1", np.array([150.0]), np.array([0.0])))
    assert r.vm_pu[bus["B1"], 0] == pytest.approx(receiving_voltage_pu(150.0, 0.0, 0.1, rated_kva=500.0), abs=1e-7)


def test_shipped_grid_matches_pandapower_runpp():
    import pandapower as pp

    folder = SHIPPED_GRIDS / "1-LV-rural2--0-sw"
    model, bus = _model(folder)
    rng = np.random.default_rng(3)
    buses = list(dict.fromkeys(pd.read_csv(folder / "Load.csv", sep=";")["node"]))
    p = np.zeros((len(model.net.bus), 2))
    idx = [bus[b] for b in buses]
    p[idx] = rng.uniform(0, 6, size=(len(idx), 2))
    r = run_flow(model, p, 0.2 * p)
    net = copy.deepcopy(model.net)
    for b, pk in zip(idx, p[idx, 1]):
        pp.create_load(net, b, p_mw=pk / 1e3, q_mvar=0.2 * pk / 1e3)
    pp.runpp(net, numba=False)
    assert np.abs(r.vm_pu[:, 1] - net.res_bus.vm_pu.to_numpy()).max() < 1e-8
    assert np.abs(r.loading_pct[:, 1] - net.res_line.loading_percent.to_numpy()).max() < 1e-5


def test_sensitivities_match_a_finite_difference():
    folder = SHIPPED_GRIDS / "1-LV-rural1--0-sw"
    model, bus = _model(folder)
    far, near = bus["LV1.101 Bus 5"], bus["LV1.101 Bus 10"]
    p, q = np.zeros((len(model.net.bus), 2)), np.zeros((len(model.net.bus), 2))
    p[[far, near], 0] = 20.0
    p[[far, near], 1] = 20.0
    p[far, 1] += 1.0                                  # one more kW at the far bus
    r = run_flow(model, p, q)
    sens = vm_sensitivity(model, r.v[:, 0], np.array([far]), np.array([far]))[0, 0]
    assert sens < 0
    assert r.vm_pu[far, 1] - r.vm_pu[far, 0] == pytest.approx(sens, rel=0.02)
    hot = int(np.argmax(r.loading_pct[:, 0]))
    ls = loading_sensitivity(model, r.v[:, 0], np.array([hot]), np.array([far]))[0, 0]
    assert r.loading_pct[hot, 1] - r.loading_pct[hot, 0] == pytest.approx(ls, rel=0.05)


def test_a_load_the_grid_cannot_carry_is_one_line_naming_the_slot(tmp_path):
    folder = two_bus_grid(tmp_path / "grids" / "two", length_km=2.0)
    model, bus = _model(folder)
    with pytest.raises(InputError) as err:
        run_flow(model, *_loads(model, bus, "B1", np.array([10.0, 5000.0]), np.array([0.0, 0.0])),
                 slot_labels=["12:00", "12:15"])
    assert len(err.value.problems) == 1
    assert "slot 12:15" in err.value.problems[0] and "two" in err.value.problems[0]
