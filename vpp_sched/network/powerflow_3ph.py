"""The three-phase (unbalanced) power flow of all slots of one LV grid, on pandapower's sequence model.

Zero-sequence data the SimBench grids lack (``models/lv_grid.md`` "Three-phase power flow"), set on a
copy of the net by :func:`add_zero_sequence`:

- lines: ``r0 = LINE_Z0_PER_Z1 · r``, ``x0 = LINE_Z0_PER_Z1 · x`` (4: a four-core cable whose neutral
  is like a phase conductor, ``Z0 = Z1 + 3 Z_N = 4 Z1``), ``c0 = c``;
- transformer: vector group Dyn11 (``vector_group = "Dyn"``, ``shift_degree = 330``), the usual
  connection of 10/0.4 kV distribution transformers, ``vk0 = vk``, ``vkr0 = vkr``,
  ``mag0_percent = MAG0_PERCENT``, ``mag0_rx = 0``, ``si0_hv_partial = SI0_HV_PARTIAL``;
- external grid: ``s_sc_max_mva = EXT_S_SC_MVA``, ``rx_max``, ``x0x_max``, ``r0x0_max`` as below.

pandapower's ``runpp_3ph`` is run once on the unloaded net (it checks the data and sets up its
options); its sequence admittance matrices ``Y0, Y1, Y2`` (the external grid's short-circuit
impedance in the zero and negative sequences, as ``runpp_3ph`` has it) are then kept, and every slot
is solved at once by the fixed point of ``runpp_3ph``'s equations for wye (phase-to-neutral) PQ loads:

    I_abc = conj(S_abc / V_abc),  I_012 = T · I_abc,
    V1_L = w1 + Z1 · I1_L (slack V1 fixed),  V0 = Y0^-1 · I0,  V2 = Y2^-1 · I2,

until ``max |ΔV| < TOL_PU`` (``tests/network/test_powerflow_3ph.py`` compares with ``runpp_3ph``).
``runpp_3ph`` takes about 0.1-0.4 s a slot; the batched flow does a 96-slot day in milliseconds.
Voltage unbalance is ``|V2| / |V1| · 100`` (GB/T 15543); the transformer's current unbalance is
``(max - min) / max`` of its LV phase currents (as :mod:`.phases` rates powers).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from vpp_sched.errors import InputError

LINE_Z0_PER_Z1 = 4.0           # r0/r1 = x0/x1 of the LV cables (module docstring)
DYN11_SHIFT_DEGREE = 330.0     # Dyn11: the LV side lags 330 degrees (turns angles only, no magnitude)
MAG0_PERCENT, MAG0_RX, SI0_HV_PARTIAL = 100.0, 0.0, 0.9
EXT_S_SC_MVA, EXT_RX, EXT_X0X, EXT_R0X0 = 300.0, 0.1, 1.0, 0.1   # 10 kV bus: ~17 kA short-circuit
TOL_PU = 1e-9
MAX_ITERATIONS = 200

_A = np.exp(2j * np.pi / 3)
TO_PHASE = np.array([[1, 1, 1], [1, _A ** 2, _A], [1, _A, _A ** 2]])   # V_abc = TO_PHASE · V_012
TO_SEQUENCE = np.linalg.inv(TO_PHASE)


def add_zero_sequence(net):
    """A copy of ``net`` with the zero-sequence data of the module docstring (what ``runpp_3ph`` needs)."""
    net = copy.deepcopy(net)
    net.line["r0_ohm_per_km"] = LINE_Z0_PER_Z1 * net.line.r_ohm_per_km
    net.line["x0_ohm_per_km"] = LINE_Z0_PER_Z1 * net.line.x_ohm_per_km
    net.line["c0_nf_per_km"] = net.line.c_nf_per_km
    net.trafo["vector_group"] = "Dyn"
    net.trafo["shift_degree"] = DYN11_SHIFT_DEGREE
    net.trafo["vk0_percent"] = net.trafo.vk_percent
    net.trafo["vkr0_percent"] = net.trafo.vkr_percent
    net.trafo["mag0_percent"] = MAG0_PERCENT
    net.trafo["mag0_rx"] = MAG0_RX
    net.trafo["si0_hv_partial"] = SI0_HV_PARTIAL
    net.ext_grid["s_sc_max_mva"] = EXT_S_SC_MVA
    net.ext_grid["rx_max"] = EXT_RX
    net.ext_grid["x0x_max"] = EXT_X0X
    net.ext_grid["r0x0_max"] = EXT_R0X0
    return net


@dataclass(frozen=True, eq=False)
class Grid3Model:
    """Sequence model of one grid: ``z0, z2`` = Y0^-1, Y2^-1 (all buses), ``z1`` = Y1_LL^-1 and ``w1`` the
    no-load positive-sequence voltages of the non-slack buses; ``ppci_of_bus`` maps each pandapower bus
    to its solver bus; ``trafo_yt`` the transformer's LV-end rows of ``Y_t`` per sequence."""

    name: str
    net: object
    ppci_of_bus: np.ndarray
    slack: int
    others: np.ndarray
    v_slack: complex
    z0: np.ndarray
    z1: np.ndarray
    z2: np.ndarray
    w1: np.ndarray
    trafo_yt: tuple
    base_mva: float


def _sequence_ppcis(net):
    """pandapower's zero, positive and negative sequence ``ppci`` of ``net``, built as ``runpp_3ph`` does."""
    from pandapower.build_bus import _add_ext_grid_sc_impedance
    from pandapower.pd2ppc import _pd2ppc

    _, p1 = _pd2ppc(net, 1)
    _, p2 = _pd2ppc(net, 2)
    _add_ext_grid_sc_impedance(net, p2)
    _, p0 = _pd2ppc(net, 0)
    return p0, p1, p2


def grid3_model(net, name: str) -> Grid3Model:
    """Run ``runpp_3ph`` once on the unloaded ``net`` (zero-sequence data added) and keep its sequence model."""
    import pandapower as pp
    from pandapower.pypower.makeYbus import makeYbus

    net = add_zero_sequence(net)
    pp.runpp_3ph(net, numba=False)
    ppcis = _sequence_ppcis(net)
    ys = [makeYbus(p["baseMVA"], p["bus"], p["branch"]) for p in ppcis]
    p1 = ppcis[1]
    ppc_bus = np.asarray(net._pd2ppc_lookups["bus"])[net.bus.index.to_numpy()]
    in_service = np.flatnonzero(net._ppc1["bus"][:, 1] != 4)           # BUS_TYPE NONE = 4: isolated
    ppci_of_ppc = np.full(len(net._ppc1["bus"]), -1)
    ppci_of_ppc[in_service] = np.arange(len(in_service))
    slack = int(np.flatnonzero(p1["bus"][:, 1] == 3)[0])               # BUS_TYPE REF = 3
    y1 = ys[1][0].toarray()
    others = np.setdiff1d(np.arange(len(y1)), [slack])
    z1 = np.linalg.inv(y1[np.ix_(others, others)])
    v_s = complex(p1["bus"][slack, 7] * np.exp(1j * np.deg2rad(p1["bus"][slack, 8])))   # VM, VA of the slack
    lo, hi = net._pd2ppc_lookups["branch"]["trafo"]
    return Grid3Model(name=name, net=net, ppci_of_bus=ppci_of_ppc[ppc_bus], slack=slack, others=others,
                      v_slack=v_s, z0=np.linalg.inv(ys[0][0].toarray()), z1=z1, z2=np.linalg.inv(ys[2][0].toarray()),
                      w1=-z1 @ y1[others, slack] * v_s,
                      trafo_yt=tuple(y[2][lo:hi].toarray()[0] for y in ys), base_mva=float(p1["baseMVA"]))


@dataclass(frozen=True, eq=False)
class Flow3Result:
    """One grid's three-phase flow: ``v012`` [3, solver bus, T] sequence voltages, per pandapower bus the
    phase-to-neutral voltages ``v_abc`` [3, bus, T] [pu] and the voltage unbalance ``unbalance_pct``
    [bus, T] (NaN at an isolated bus); the transformer's LV phase currents ``trafo_i_pu`` [3, T]."""

    v012: np.ndarray
    v_abc: np.ndarray
    unbalance_pct: np.ndarray
    trafo_i_pu: np.ndarray
    iterations: int

    @property
    def vm_abc_pu(self) -> np.ndarray:
        return np.abs(self.v_abc)

    @property
    def trafo_unbalance_pct(self) -> np.ndarray:
        high, low = self.trafo_i_pu.max(axis=0), self.trafo_i_pu.min(axis=0)
        return np.divide(high - low, high, out=np.zeros_like(high), where=high > 1e-12) * 100.0


def _solve(model: Grid3Model, s_pu: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Fixed point of the module docstring for injections ``s_pu`` [3, solver bus, T]; ``(v012, step, it)``."""
    n, T = s_pu.shape[1], s_pu.shape[2]
    v = np.zeros((3, n, T), dtype=complex)
    v[1] = model.v_slack
    v[1, model.others] = model.w1[:, None]
    step, it = np.full(T, np.inf), 0
    for it in range(1, MAX_ITERATIONS + 1):
        with np.errstate(all="ignore"):
            i012 = np.einsum("sp,pnt->snt", TO_SEQUENCE, np.conj(s_pu / np.einsum("ps,snt->pnt", TO_PHASE, v)))
        new = np.empty_like(v)
        new[0] = model.z0 @ i012[0]
        new[2] = model.z2 @ i012[2]
        new[1, model.slack] = model.v_slack
        new[1, model.others] = model.w1[:, None] + model.z1 @ i012[1, model.others]
        step = np.abs(new - v).max(axis=(0, 1))
        v = new
        if step.max() < TOL_PU or not np.isfinite(step).all():
            break
    return v, step, it


def run_flow_3ph(model: Grid3Model, p_abc_kw: np.ndarray, q_abc_kvar: np.ndarray, slot_labels=None) -> Flow3Result:
    """Three-phase power flow of each slot: ``p_abc_kw``, ``q_abc_kvar`` [3, pandapower bus, T] the load of
    each phase (phase to neutral) at each bus [kW, kvar].

    Raises
    ------
    InputError
        A slot does not converge: one line naming the grid, the slot and the bus that moved most.
    """
    T = p_abc_kw.shape[2]
    n = model.z0.shape[0]
    s_pu = np.zeros((3, n, T), dtype=complex)
    ok = model.ppci_of_bus >= 0
    np.add.at(s_pu, (slice(None), model.ppci_of_bus[ok]),
              -(p_abc_kw[:, ok] + 1j * q_abc_kvar[:, ok]) / (1e3 * model.base_mva))
    v, step, it = _solve(model, s_pu)
    bad = ~np.isfinite(v).all(axis=(0, 1)) | (step >= TOL_PU)
    if bad.any():
        t = int(np.flatnonzero(bad)[0])
        when = slot_labels[t] if slot_labels is not None else f"slot {t}"
        raise InputError([f"grid {model.name}: the three-phase power flow does not converge in slot {when} "
                          f"({MAX_ITERATIONS} iterations), at bus {_worst_bus(model, v[:, :, t])}: the load "
                          f"on one phase there is more than the grid can carry"])
    v_abc = np.einsum("ps,snt->pnt", TO_PHASE, v)
    rows = np.where(ok, model.ppci_of_bus, 0)
    v_bus = v_abc[:, rows]
    unb = np.abs(v[2, rows]) / np.maximum(np.abs(v[1, rows]), 1e-12) * 100.0
    v_bus[:, ~ok], unb[~ok] = np.nan, np.nan
    i012 = np.stack([model.trafo_yt[k] @ v[k] for k in range(3)])
    return Flow3Result(v012=v, v_abc=v_bus, unbalance_pct=unb,
                       trafo_i_pu=np.abs(np.einsum("ps,st->pt", TO_PHASE, i012)), iterations=it)


def _worst_bus(model: Grid3Model, v012_t: np.ndarray) -> str:
    """Name of the bus with the lowest (or a non-finite) phase voltage in one slot's sequence voltages."""
    with np.errstate(all="ignore"):
        vm = np.abs(TO_PHASE @ v012_t).min(axis=0)
    vm = np.where(np.isfinite(vm), vm, -np.inf)
    solver_bus = int(np.argmin(vm))
    names = model.net.bus.name.to_numpy()
    hits = np.flatnonzero(model.ppci_of_bus == solver_bus)
    return str(names[hits[0]]) if len(hits) else f"#{solver_bus}"
