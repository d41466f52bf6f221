"""Linear sensitivities of the phase-to-neutral voltages to the power an EV draws on its phases.

From the fixed point of :mod:`.powerflow_3ph`: one more kW drawn on phase ``k`` at bus ``j``
(``dS_jk = -dP / S_base``, the current injection ``dI_jk = conj(dS_jk / V_jk)``; the change of
``V_jk`` inside the conjugate is left out, second order for LV loads) moves the sequence voltages by

    dI_012 = T^-1 · e_k · dI_jk,   dV0 = Z0[:, j] dI0,  dV1 = Z1[:, j] dI1,  dV2 = Z2[:, j] dI2,
    dV_abc = T · dV_012,   d|V_iφ| = Re(conj(V_iφ) · dV_iφ) / |V_iφ|.

An EV on phases ``share`` (:data:`~vpp_sched.network.phases.PHASE_SHARE`: one phase, or a third on
each) moves them by ``Σ_k share_k · d|V_iφ| / dP_jk``.
"""

from __future__ import annotations

import numpy as np

from vpp_sched.network.powerflow_3ph import TO_PHASE, TO_SEQUENCE, Grid3Model


def _dv012(model: Grid3Model, v012_t: np.ndarray, j: np.ndarray, k: int) -> np.ndarray:
    """[3 seq, solver bus, J] sequence-voltage change per kW drawn on phase ``k`` at solver buses ``j``."""
    v_jk = (TO_PHASE[k] @ v012_t[:, j])
    di = -1.0 / (1e3 * model.base_mva * np.conj(v_jk))               # [J] phase-k injection per kW
    di012 = TO_SEQUENCE[:, k, None] * di[None, :]                       # [3, J]
    n = model.z0.shape[0]
    out = np.zeros((3, n, len(j)), dtype=complex)
    out[0] = model.z0[:, j] * di012[0]
    out[2] = model.z2[:, j] * di012[2]
    row = np.full(n, -1)
    row[model.others] = np.arange(len(model.others))
    ok = row[j] >= 0                                                    # a load at the slack moves nothing
    out[1][np.ix_(model.others, np.flatnonzero(ok))] = model.z1[:, row[j[ok]]] * di012[1, ok]
    return out


def phase_vm_sensitivity(model: Grid3Model, v012_t: np.ndarray, i_bus: np.ndarray, j_bus: np.ndarray,
                         share: np.ndarray) -> np.ndarray:
    """[3 phases, I, J] change of |V| of each phase at pandapower buses ``i_bus`` per kW drawn by a load
    at pandapower bus ``j_bus[e]`` on phases ``share[e]`` [J, 3] [pu/kW] (negative: a load pulls down).

    ``v012_t`` [3, solver bus]: one slot's sequence voltages (``Flow3Result.v012[:, :, t]``)."""
    i, j = model.ppci_of_bus[i_bus], model.ppci_of_bus[j_bus]
    v_i = TO_PHASE @ v012_t[:, i]                                       # [3, I]
    out = np.zeros((3, len(i), len(j)))
    for k in range(3):
        if not share[:, k].any():
            continue
        dv_abc = np.einsum("ps,sij->pij", TO_PHASE, _dv012(model, v012_t, j, k)[:, i])
        sens = np.real(np.conj(v_i)[:, :, None] * dv_abc) / np.abs(v_i)[:, :, None]
        out += sens * share[None, None, :, k]
    return out
