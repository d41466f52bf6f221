"""The batched three-phase power flow: a single-phase load on a two-bus line checked by hand, balanced
load equal to the balanced flow, a shipped SimBench grid against pandapower's ``runpp_3ph``, and a
load one phase cannot carry."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from grid_factory import R_OHM_KM, X_OHM_KM, two_bus_grid
from vpp_sched.errors import InputError
from vpp_sched.network.lv_net import build_net
from vpp_sched.network.powerflow import grid_model, run_flow
from vpp_sched.network.powerflow_3ph import LINE_Z0_PER_Z1, grid3_model, run_flow_3ph
from vpp_sched.scenario.grid import SHIPPED_GRIDS, read_grid
from vpp_sched.scenario.tables import Problems

A = np.exp(2j * np.pi / 3)


def _net(folder):
    problems = Problems()
    grid = read_grid(folder.parent, folder.name, "test", problems)
    assert not problems.lines, problems.lines
    return grid, *build_net(grid)


def test_single_phase_load_on_a_two_bus_line_by_hand(tmp_path):
    """20 kW on phase a at B1, 300 m from the busbar: the current returns in the neutral, so phase a
    drops ``(Z0 + Z1 + Z2)/3 · I = 2 · Z · I`` along the line (``Z0 = 4 Z``), and phases b and c are
    pulled by the neutral's shift ``(Z0 - Z)/3 · I = Z · I``: with a resistive cable both rise."""
    folder = two_bus_grid(tmp_path / "grids" / "two", length_km=0.3)
    _, net, bus = _net(folder)
    model = grid3_model(net, "two")
    p = np.zeros((3, len(net.bus), 1))
    p[0, bus["B1"], 0] = 20.0
    r = run_flow_3ph(model, p, np.zeros_like(p))
    v0, v1 = r.v_abc[:, bus["B0"], 0], r.v_abc[:, bus["B1"], 0]
    z_pu = (R_OHM_KM + 1j * X_OHM_KM) * 0.3 / (0.4 ** 2 / model.base_mva) * 3   # per-phase pu of runpp_3ph
    i_pu = np.conj(-20e-3 / model.base_mva / v1[0])                              # injected at B1, phase a
    assert LINE_Z0_PER_Z1 == 4.0
    assert v0[0] - v1[0] == pytest.approx(-2 * z_pu * i_pu, abs=1e-9)
    assert v0[1] - v1[1] == pytest.approx(-z_pu * i_pu, abs=1e-9)
    assert v0[2] - v1[2] == pytest.approx(-z_pu * i_pu, abs=1e-9)
    # in volts: 20 kW at ~220 V is ~91 A; 2 x 91 A x 0.062 ohm ~ 11 V ~ 4.9 % of 231 V
    drop = abs(v0[0]) - abs(v1[0])
    assert 0.045 < drop < 0.052
    assert abs(v1[1]) > abs(v0[1]) and abs(v1[2]) > abs(v0[2])
    assert r.unbalance_pct[bus["B1"], 0] > r.unbalance_pct[bus["B0"], 0] > 0
    i = r.trafo_i_pu[:, 0]                          # Dyn: LV current on phase a only (magnetising aside)
    assert i[0] > 100 * max(i[1], i[2])
    assert r.trafo_unbalance_pct[0] == pytest.approx(100.0, abs=1.0)


def test_balanced_load_gives_the_balanced_flow(tmp_path):
    folder = two_bus_grid(tmp_path / "grids" / "two", length_km=0.3)
    _, net, bus = _net(folder)
    p = np.zeros((3, len(net.bus), 2))
    p[:, bus["B1"], 0], p[:, bus["B1"], 1] = 20.0, 35.0
    q = 0.3 * p
    r3 = run_flow_3ph(grid3_model(net, "two"), p, q)
    r1 = run_flow(grid_model(net, bus, "two"), p.sum(axis=0), q.sum(axis=0))
    for k in range(3):
        assert np.abs(r3.vm_abc_pu[k] - r1.vm_pu).max() < 1e-8
    assert np.nanmax(r3.unbalance_pct) < 1e-6


def test_batched_flow_equals_runpp_3ph_on_a_shipped_grid():
    import pandapower as pp

    grid, net, bus = _net(SHIPPED_GRIDS / "1-LV-semiurb4--0-sw")
    model = grid3_model(net, "semiurb4")
    idx = [bus[b] for b in dict.fromkeys(grid.tables["Load"]["node"])]
    rng = np.random.default_rng(7)
    p = np.zeros((3, len(net.bus), 3))
    p[:, idx] = rng.uniform(0, 4, size=(3, len(idx), 3))
    p[0, idx, 2] += 6.0                               # the last slot piles onto phase a
    q = 0.25 * p
    r = run_flow_3ph(model, p, q)
    for t in (0, 2):
        ref = copy.deepcopy(model.net)
        for b in idx:
            pp.create_asymmetric_load(ref, b, p_a_mw=p[0, b, t] / 1e3, p_b_mw=p[1, b, t] / 1e3,
                                      p_c_mw=p[2, b, t] / 1e3, q_a_mvar=q[0, b, t] / 1e3,
                                      q_b_mvar=q[1, b, t] / 1e3, q_c_mvar=q[2, b, t] / 1e3)
        pp.runpp_3ph(ref, numba=False)
        res = ref.res_bus_3ph
        for k, ph in enumerate("abc"):
            assert np.abs(r.vm_abc_pu[k, :, t] - res[f"vm_{ph}_pu"].to_numpy()).max() < 1e-6
        assert np.abs(r.unbalance_pct[:, t] - res.unbalance_percent.to_numpy()).max() < 1e-4
        i_ref = ref.res_trafo_3ph[["i_a_lv_ka", "i_b_lv_ka", "i_c_lv_ka"]].to_numpy()[0]
        assert r.trafo_unbalance_pct[t] == pytest.approx((i_ref.max() - i_ref.min()) / i_ref.max() * 100, abs=1e-4)
    assert r.vm_abc_pu[0, :, 2].min() < r.vm_abc_pu[1, :, 2].min()      # phase a is the weak one


def test_a_phase_that_cannot_carry_its_load_is_one_line_naming_slot_and_bus(tmp_path):
    folder = two_bus_grid(tmp_path / "grids" / "two", length_km=2.0)
    _, net, bus = _net(folder)
    p = np.zeros((3, len(net.bus), 2))
    p[:, bus["B1"], 0] = 5.0
    p[1, bus["B1"], 1] = 3000.0
    with pytest.raises(InputError) as err:
        run_flow_3ph(grid3_model(net, "two"), p, np.zeros_like(p), slot_labels=["12:00", "12:15"])
    assert len(err.value.problems) == 1
    msg = err.value.problems[0]
    assert "slot 12:15" in msg and "bus B1" in msg and "two" in msg


def test_phase_sensitivities_match_a_finite_difference():
    from vpp_sched.network.sensitivity_3ph import phase_vm_sensitivity

    grid, net, bus = _net(SHIPPED_GRIDS / "1-LV-rural1--0-sw")
    model = grid3_model(net, "rural1")
    far, near = bus["LV1.101 Bus 5"], bus["LV1.101 Bus 10"]
    p = np.zeros((3, len(net.bus), 3))
    p[0, [far, near]] = 8.0
    p[1, [far, near]] = 3.0
    p[0, far, 1] += 1.0                               # one more kW on phase a at the far bus
    p[:, far, 2] += 1.0 / 3                           # one more kW three-phase
    r = run_flow_3ph(model, p, np.zeros_like(p))
    share = np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    sens = phase_vm_sensitivity(model, r.v012[:, :, 0], np.array([far]), np.array([far, far]), share)[:, 0]
    assert sens[0, 0] < 0 and sens[0, 0] < 1.5 * sens[1, 0]        # phase a falls most for a load on a
    # the loaded phase to 3 %; the others, pulled by the neutral's shift, to 10 % (the change of the
    # other phases' currents with their voltage is the term the linearisation leaves out)
    for k, rel in ((0, 0.03), (1, 0.1), (2, 0.1)):
        assert r.vm_abc_pu[k, far, 1] - r.vm_abc_pu[k, far, 0] == pytest.approx(sens[k, 0], rel=rel, abs=2e-6)
        assert r.vm_abc_pu[k, far, 2] - r.vm_abc_pu[k, far, 0] == pytest.approx(sens[k, 1], rel=rel, abs=2e-6)
