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

# the phase of each EV is resolved in the problem layer (the model's phase rows need it too)
from vpp_sched.problem.phases import PHASE_SHARE, SINGLE_PHASE_MAX_KW, resolve_phases  # noqa: E402,F401


def phase_power_kw(ev_kw: np.ndarray, phases: list[str], balanced_kw: np.ndarray) -> np.ndarray:
    """[3, T] power per phase: EVs ``ev_kw`` [E_n, T] on their ``phases`` + ``balanced_kw`` [T] / 3 [kW]."""
    share = np.array([PHASE_SHARE[p] for p in phases]).reshape(len(phases), 3)
    return share.T @ ev_kw + np.asarray(balanced_kw, float)[None, :] / 3.0


def unbalance_pct(per_phase_kw: np.ndarray) -> np.ndarray:
    """[T] ``(max - min) / max`` of the three phases [%] (0 where nothing is drawn)."""
    high, low = per_phase_kw.max(axis=0), per_phase_kw.min(axis=0)
    return np.divide(high - low, high, out=np.zeros_like(high), where=high > 1e-9) * 100.0
