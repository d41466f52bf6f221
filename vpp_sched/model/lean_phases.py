"""The lean build's phase family (``models/lv_grid.md``, "Phases"), as :func:`vpp_sched.model.day_ahead_phases`.

Columns and rows only for the (transformer, slot) pairs of ``phase_row_slots`` (transformers with a
grid), with numpy over them; loops only over the three phases and six ordered pairs.
"""

from __future__ import annotations

import numpy as np

from vpp_sched.model.lean_layout import INF, LeanBuilder
from vpp_sched.problem.arrays import Problem
from vpp_sched.problem.phases import PHASE_PAIRS, phase_ev_bounds_kw, phase_row_slots, unbalance_slots


def define_phase_limits(b: LeanBuilder, s, p: Problem) -> None:
    """``phase_ev[n,p,t]``: phase_ev_kw - sum_e share_e,p·(ev_power_kw - ev_discharge_kw) = 0;
    ``phase_limit[n,p,t]``: P_p - phase_overload_kw <= limit_kw / 3;
    ``phase_unbalance[n,k,t]`` (k the pair (p, q), in ``unbalance_slots``): P_q - (1 - u)·P_p + unbalance_slack_kw >= 0,
    with P_p = phase_ev_kw[n,p,t] + (net_load_kw[n,t] - sum_r phase_ev_kw[n,r,t]) / 3."""
    ph, T = p.phases, s.T
    trafo = np.zeros(0, np.int64) if ph is None else np.asarray(ph.transformer, np.int64)
    rows_at = phase_row_slots(p) if len(trafo) else np.zeros((0, T), bool)
    rl, rt = np.nonzero(rows_at)                              # (local transformer, slot) with phase rows
    J = len(rl)
    npt = (np.repeat(trafo[rl], 3), np.tile(np.arange(3), J), np.repeat(rt, 3))   # position j·3 + phase
    low, up = phase_ev_bounds_kw(p) if len(trafo) else (np.zeros((0, 3, T)),) * 2
    b.add_cols("phase_ev_kw", npt, lower=low[rl, :, rt].reshape(-1), upper=up[rl, :, rt].reshape(-1))
    b.add_cols("phase_overload_kw", npt)
    ul, ut = np.nonzero(unbalance_slots(p)) if len(trafo) else (np.zeros(0, np.int64),) * 2
    b.add_cols("unbalance_slack_kw", (trafo[ul], ut))
    b.add_rows("phase_ev", npt, 0.0, 0.0)
    b.add_rows("phase_limit", npt, -INF, np.repeat(np.asarray(p.limit_kw, float)[trafo[rl]] / 3.0, 3))
    b.add_rows("phase_unbalance", (np.tile(trafo[ul], 6), np.repeat(np.arange(6), len(ul)), np.tile(ut, 6)), 0.0, INF)
    b.set_cost("phase_overload_kw", p.overload_penalty_cny_per_kwh * s.dt)
    b.set_cost("unbalance_slack_kw", p.unbalance_penalty_cny_per_kwh * s.dt)
    if not J:
        return
    j_of = np.full(rows_at.shape, -1, dtype=np.int64)
    j_of[rl, rt] = np.arange(J)
    _phase_ev_entries(b, s, p, trafo, j_of)
    jj = np.arange(J)
    for q in range(3):
        b.coef("phase_limit", jj * 3 + q, "phase_overload_kw", jj * 3 + q, -1.0)
        b.coef("phase_limit", jj * 3 + q, "net_load_kw", trafo[rl] * T + rt, 1.0 / 3.0)
        for r in range(3):
            b.coef("phase_limit", jj * 3 + q, "phase_ev_kw", jj * 3 + r, (q == r) - 1.0 / 3.0)
    u, n_u = ph.u, len(ul)
    ju, j_u = np.arange(n_u), j_of[ul, ut]
    for k, (pp, q) in enumerate(PHASE_PAIRS):
        rows = k * n_u + ju
        b.coef("phase_unbalance", rows, "unbalance_slack_kw", ju, 1.0)
        b.coef("phase_unbalance", rows, "net_load_kw", trafo[ul] * T + ut, u / 3.0)
        for r in range(3):
            b.coef("phase_unbalance", rows, "phase_ev_kw", j_u * 3 + r, (r == q) - (1.0 - u) * (r == pp) - u / 3.0)


def _phase_ev_entries(b: LeanBuilder, s, p: Problem, trafo: np.ndarray, j_of: np.ndarray) -> None:
    """``phase_ev`` rows: 1 on phase_ev_kw, -share on the EVs' charging, +share on their discharging."""
    n3 = 3 * int((j_of >= 0).sum())
    b.coef("phase_ev", np.arange(n3), "phase_ev_kw", np.arange(n3), 1.0)
    local = np.full(s.N, -1, dtype=np.int64)
    local[trafo] = np.arange(len(trafo))
    share = np.asarray(p.phases.ev_share, float)
    for family, e, t, sign in (("ev_power_kw", s.pe, s.pt, -1.0), ("ev_discharge_kw", s.ve, s.vt, 1.0)):
        if not len(e):
            continue
        l_ = local[s.ev_n[e]]
        j = np.where(l_ >= 0, j_of[np.maximum(l_, 0), t], -1)
        for q in range(3):
            on = np.flatnonzero((j >= 0) & (share[e, q] > 0))
            b.coef("phase_ev", j[on] * 3 + q, family, on, sign * share[e[on], q])
