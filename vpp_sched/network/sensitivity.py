"""Linear sensitivities of bus voltage and line loading to the power drawn at a bus, at a power-flow point.

From the Z-bus form of :mod:`.powerflow`, ``V_L = w + Z · conj(S_L / V_L)``: one more kW drawn at bus
``j`` (``dS_j = -dP / S_base``) moves the voltages by, to first order,

    dV = -Z[:, j] · dP / (S_base · conj(V_j))

(the change of ``V_j`` inside the conjugate is left out: second order for LV loads). Then
``d|V_i| = Re(conj(V_i) · dV_i) / |V_i|`` and, for a line's current ``I = Y_f · V``,
``d|I| = Re(conj(I) · Y_f · dV) / |I|``, as percent of the line's rating.
"""

from __future__ import annotations

import numpy as np

from vpp_sched.network.powerflow import GridModel, ppci_voltages


def dv_dp(model: GridModel, v_bus: np.ndarray, j_bus: np.ndarray) -> np.ndarray:
    """[ppci bus, J] complex voltage change per kW drawn at each pandapower bus ``j_bus`` [pu/kW].

    ``v_bus`` [pandapower bus]: one slot's voltages. A bus on the slack side moves nothing."""
    rows = model.at[j_bus]
    n_ppci = model.yf.shape[1]
    out = np.zeros((n_ppci, len(j_bus)), dtype=complex)
    ok = rows >= 0
    if not ok.any():
        return out
    per_kw = -1.0 / (1e3 * model.base_mva * np.conj(v_bus[j_bus[ok]]))
    d_rows = model.z[:, rows[ok]] * per_kw[None, :]
    others = np.setdiff1d(np.arange(n_ppci), [model.slack])
    out[np.ix_(others, np.flatnonzero(ok))] = d_rows
    return out


def vm_sensitivity(model: GridModel, v_bus: np.ndarray, i_bus: np.ndarray, j_bus: np.ndarray) -> np.ndarray:
    """[I, J] change of |V| at pandapower buses ``i_bus`` per kW drawn at ``j_bus`` [pu/kW] (negative)."""
    dv = dv_dp(model, v_bus, j_bus)[model.ppci_of_bus[i_bus]]
    vi = v_bus[i_bus]
    return np.real(np.conj(vi)[:, None] * dv) / np.abs(vi)[:, None]


def loading_sensitivity(model: GridModel, v_bus: np.ndarray, lines: np.ndarray, j_bus: np.ndarray) -> np.ndarray:
    """[L, J] change of the loading of ``lines`` per kW drawn at ``j_bus`` [%/kW], at the end carrying more."""
    v = ppci_voltages(model, v_bus[:, None])[:, 0]
    dv = dv_dp(model, v_bus, j_bus)
    ends = []
    for y in (model.yf, model.yt):
        i = y[lines] @ v
        sens = np.real(np.conj(i)[:, None] * (y[lines] @ dv)) / np.maximum(np.abs(i), 1e-12)[:, None]
        ends.append((np.abs(i), sens))
    (i_f, s_f), (i_t, s_t) = ends
    out = np.where((i_f >= i_t)[:, None], s_f, s_t)
    scale = model.i_base_ka[lines] / model.line_max_i_ka[lines] * 100.0
    return out * scale[:, None]
