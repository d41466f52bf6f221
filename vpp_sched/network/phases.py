"""Which phase each EV charges on, and the transformer's per-phase load and current unbalance.

Rule for an empty ``phase`` (stated once, here): a charger of at most ``SINGLE_PHASE_MAX_KW``
(7.4 kW, 32 A at 230 V) is single-phase and goes round-robin a, b, c over the transformer's
single-phase EVs in ``ev_id`` order; a larger charger is three-phase (``abc``). The base load and
the station are balanced. Unbalance (三相负荷不平衡度, as State Grid rates distribution
transformers) is ``(max - min) / max`` of the three phase powers (at one voltage, the currents).
This is an accounting of the phases, not a three-phase power flow.
"""

from __future__ import annotations

import numpy as np

SINGLE_PHASE_MAX_KW = 7.4
PHASE_SHARE = {"a": (1.0, 0.0, 0.0), "b": (0.0, 1.0, 0.0), "c": (0.0, 0.0, 1.0), "abc": (1 / 3, 1 / 3, 1 / 3)}


def resolve_phases(ev_ids, phases, max_power_kw) -> list[str]:
    """Phase of each EV of one transformer: its own, else the rule of the module docstring."""
    out = list(phases)
    k = 0
    for i in sorted(range(len(out)), key=lambda i: ev_ids[i]):
        if out[i]:
            continue
        if max_power_kw[i] > SINGLE_PHASE_MAX_KW:
            out[i] = "abc"
        else:
            out[i] = "abc"[k % 3]
            k += 1
    return out


def phase_power_kw(ev_kw: np.ndarray, phases: list[str], balanced_kw: np.ndarray) -> np.ndarray:
    """[3, T] power per phase: EVs ``ev_kw`` [E_n, T] on their ``phases`` + ``balanced_kw`` [T] / 3 [kW]."""
    share = np.array([PHASE_SHARE[p] for p in phases]).reshape(len(phases), 3)
    return share.T @ ev_kw + np.asarray(balanced_kw, float)[None, :] / 3.0


def unbalance_pct(per_phase_kw: np.ndarray) -> np.ndarray:
    """[T] ``(max - min) / max`` of the three phases [%] (0 where nothing is drawn)."""
    high, low = per_phase_kw.max(axis=0), per_phase_kw.min(axis=0)
    return np.divide(high - low, high, out=np.zeros_like(high), where=high > 1e-9) * 100.0
