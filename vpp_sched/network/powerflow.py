"""The AC power flow of all slots of one LV grid at once, on pandapower's admittance model.

pandapower builds the grid's admittance matrices once (``runpp`` of the unloaded net); every slot is
then solved with the same matrices by the Z-bus fixed point for PQ loads behind one slack,

    V_L = w + Z · conj(S_L / V_L),   Z = Y_LL^-1,   w = -Z · Y_Ls · V_s,

vectorised over the slots (a [buses x slots] array), until the largest voltage change is below
``TOL_PU`` (at most ``MAX_ITERATIONS`` rounds). It solves the same equations as ``pandapower.runpp``
(``tests/network/test_powerflow.py`` compares the two), without its per-call set-up, so the 96 slots of
a grid take milliseconds instead of about 15 ms each. Line current from the branch admittances,
``I_f = Y_f · V``; loading = max(|I_from|, |I_to|) / iMax. Positive bus power is load (drawn).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vpp_sched.errors import InputError

TOL_PU = 1e-9
MAX_ITERATIONS = 200


def one_blas_thread():
    """A context with BLAS on one thread: the grids' matrices are small (tens to hundreds of buses), and a
    multi-threaded BLAS spends 10-50x the arithmetic starting and syncing threads on a busy machine."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


@dataclass(frozen=True, eq=False)
class GridModel:
    """Admittance model of one grid: the pandapower net, and the solver's matrices and index maps.

    ``at`` maps each pandapower bus to its row of the non-slack buses (-1 at the slack side);
    ``z`` = Y_LL^-1 and ``w`` the no-load voltages [pu]; ``yf, yt`` branch admittances of the lines.
    """

    name: str
    net: object
    bus_of_node: dict
    at: np.ndarray
    z: np.ndarray
    w: np.ndarray
    v_slack: complex
    slack: int
    ppci_of_bus: np.ndarray
    yf: object
    yt: object
    i_base_ka: np.ndarray
    line_max_i_ka: np.ndarray
    base_mva: float


def grid_model(net, bus_of_node: dict, name: str) -> GridModel:
    """Run pandapower once on the unloaded ``net`` and keep its admittance model."""
    import pandapower as pp

    pp.runpp(net, numba=False)
    internal = net._ppc["internal"]
    ybus = internal["Ybus"].toarray()
    ppc_bus = np.asarray(net._pd2ppc_lookups["bus"])[net.bus.index.to_numpy()]
    in_service = np.flatnonzero(net._ppc["bus"][:, 1] != 4)              # BUS_TYPE NONE = 4: isolated
    ppci_of_ppc = np.full(len(net._ppc["bus"]), -1)
    ppci_of_ppc[in_service] = np.arange(len(in_service))
    ppci_of_bus = ppci_of_ppc[ppc_bus]
    slack = int(internal["ref"][0])
    others = np.setdiff1d(np.arange(len(ybus)), [slack])
    z = np.linalg.inv(ybus[np.ix_(others, others)])
    v_s = complex(internal["V"][slack])
    w = -z @ ybus[others, slack] * v_s
    row = np.full(len(ybus), -1)
    row[others] = np.arange(len(others))
    n_lines = len(net.line)
    lo, hi = net._pd2ppc_lookups["branch"]["line"]
    yf, yt = internal["Yf"][lo:hi], internal["Yt"][lo:hi]
    from_kv = net.bus.vn_kv.loc[net.line.from_bus].to_numpy()
    return GridModel(name=name, net=net, bus_of_node=bus_of_node, at=row[ppci_of_bus], z=z, w=w, v_slack=v_s,
                     slack=slack, ppci_of_bus=ppci_of_bus, yf=yf, yt=yt,
                     i_base_ka=internal["baseMVA"] / (np.sqrt(3) * from_kv) if n_lines else np.zeros(0),
                     line_max_i_ka=(net.line.max_i_ka * net.line.df * net.line.parallel).to_numpy(),
                     base_mva=float(internal["baseMVA"]))


@dataclass(frozen=True, eq=False)
class FlowResult:
    """One grid's power flow over the slots: complex voltages [pandapower bus, T] and line loading [line, T]."""

    v: np.ndarray
    loading_pct: np.ndarray
    iterations: int

    @property
    def vm_pu(self) -> np.ndarray:
        return np.abs(self.v)


def run_flow(model: GridModel, p_kw: np.ndarray, q_kvar: np.ndarray, slot_labels=None) -> FlowResult:
    """AC power flow of each slot: ``p_kw``, ``q_kvar`` [pandapower bus, T] the load at each bus.

    Raises
    ------
    InputError
        A slot does not converge (named, with the grid): the load is beyond what the grid can carry.
    """
    n_bus, T = p_kw.shape
    s_pu = -(p_kw + 1j * q_kvar) / (1e3 * model.base_mva)          # injection at each pandapower bus
    n_rows = len(model.w)
    s_rows = np.zeros((n_rows, T), dtype=complex)
    ok = model.at >= 0
    np.add.at(s_rows, model.at[ok], s_pu[ok])
    v = np.repeat(model.w[:, None], T, axis=1)
    it = 0
    for it in range(1, MAX_ITERATIONS + 1):
        v_new = model.w[:, None] + model.z @ np.conj(s_rows / v)
        step = np.abs(v_new - v).max(axis=0)
        v = v_new
        if step.max() < TOL_PU or not np.isfinite(step).all():
            break
    bad = ~np.isfinite(np.abs(v)).all(axis=0) | (step >= TOL_PU)
    if bad.any():
        t = int(np.flatnonzero(bad)[0])
        when = slot_labels[t] if slot_labels is not None else f"slot {t}"
        raise InputError([f"grid {model.name}: the AC power flow does not converge in slot {when} "
                          f"({MAX_ITERATIONS} iterations): the load there is more than the grid can carry"])
    v_all = np.empty((len(model.at), T), dtype=complex)
    full = np.empty((n_rows + 1, T), dtype=complex)
    full[:n_rows] = v
    full[n_rows] = model.v_slack
    v_all = full[np.where(model.at >= 0, model.at, n_rows)]
    return FlowResult(v=v_all, loading_pct=line_loading_pct(model, v_all), iterations=it)


def ppci_voltages(model: GridModel, v_bus: np.ndarray) -> np.ndarray:
    n = model.yf.shape[1]
    out = np.zeros((n, v_bus.shape[1]), dtype=complex)
    out[model.ppci_of_bus] = v_bus
    return out


def line_loading_pct(model: GridModel, v_bus: np.ndarray) -> np.ndarray:
    """[line, T] loading of each line: the larger end current over its rating [%]."""
    if model.yf.shape[0] == 0:
        return np.zeros((0, v_bus.shape[1]))
    v = ppci_voltages(model, v_bus)
    i_pu = np.maximum(np.abs(model.yf @ v), np.abs(model.yt @ v))
    return i_pu * model.i_base_ka[:, None] / model.line_max_i_ka[:, None] * 100.0
