"""The three phases of the transformers with an LV grid: each EV's phase, and the per-phase rows' data.

Which transformers (stated once, here): those whose scenario row names a ``grid``
(``transformers.csv``). Their EVs' ``phase`` (``evs.csv``: a, b, c, abc) is taken as given; an
empty one follows the rule of :func:`resolve_phases`. A ``phase`` on a transformer without a grid
is not modelled (the transformer stays one kVA number).

Per phase ``p`` and slot ``t`` of such a transformer (``models/lv_grid.md``, "Phases"):

    P_p[n,t] = sum_e share_e,p · (ev_power_kw - ev_discharge_kw)[e,t] + (net_load_kw - ev_kw)[n,t] / 3

(base load, station and sites balanced), ``P_p <= limit_kw / 3 + phase_overload_kw`` and, for
each ordered pair of phases, ``P_q >= (1 - u) · P_p - unbalance_slack_kw`` with
``u = unbalance_max_pct / 100`` in the slots where the transformer can be loaded above
``UNBALANCE_MIN_LOADING_PU`` of its rating (:func:`unbalance_slots`). The rows exist only in the
:func:`phase_row_slots`; :func:`phase_slacks_kw` gives the slacks a plan needs (reported, priced, checked).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

#: A charger up to this power with no ``phase`` is single-phase (32 A at 230 V) [kW].
SINGLE_PHASE_MAX_KW = 7.4
#: Each phase's share of an EV's power on ``a``, ``b``, ``c`` or all three.
PHASE_SHARE = {"a": (1.0, 0.0, 0.0), "b": (0.0, 1.0, 0.0), "c": (0.0, 0.0, 1.0), "abc": (1 / 3, 1 / 3, 1 / 3)}
#: The unbalance limit holds only where the transformer can be loaded above this share of its rating:
#: the State Grid guideline is written for loaded transformers, not for a light night load [pu].
UNBALANCE_MIN_LOADING_PU = 0.3
#: The six ordered pairs (p, q) of ``phase_unbalance[n,k,t]``, ``k`` the position here.
PHASE_PAIRS = ((0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1))


def resolve_phases(ev_ids, phases, max_power_kw) -> list[str]:
    """Phase of each EV of one transformer: its own, else a charger of at most ``SINGLE_PHASE_MAX_KW``
    goes round-robin a, b, c over the transformer's single-phase EVs in ``ev_id`` order and a larger
    one is three-phase (``abc``)."""
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


@dataclass(frozen=True)
class PhaseLimits:
    """Data of the ``phase_ev``, ``phase_limit`` and ``phase_unbalance`` rows.

    Attributes (shapes in brackets)
    ----------
    transformer : [P] problem index of each transformer with phase rows, ascending
    ev_share : [E] x 3 each EV's share of its power on phases a, b, c (read for EVs of those only) [-]
    unbalance_max_pct : the largest current unbalance ``(max - min) / max`` [%]; 100 = no unbalance rows
    """

    transformer: np.ndarray
    ev_share: np.ndarray
    unbalance_max_pct: float = 15.0

    @property
    def u(self) -> float:
        return self.unbalance_max_pct / 100.0

    def restricted(self, idx: np.ndarray, evs: np.ndarray) -> PhaseLimits | None:
        """The block of the transformers ``idx`` (kept in that order) and its EVs ``evs``."""
        local = np.full(max(int(np.max(idx, initial=-1)), int(np.max(self.transformer, initial=-1))) + 1, -1)
        local[np.asarray(idx, dtype=np.int64)] = np.arange(len(idx))
        mine = local[self.transformer]
        mine = np.sort(mine[mine >= 0])
        if not len(mine):
            return None
        return replace(self, transformer=mine, ev_share=np.asarray(self.ev_share)[np.asarray(evs, dtype=np.int64)])


def phase_limits(ev_ids, ev_transformer, ev_phase, ev_max_power_kw, gridded: np.ndarray,
                 unbalance_max_pct: float) -> PhaseLimits | None:
    """The phase data of the transformers flagged ``gridded`` [N] (module docstring); None if none is."""
    rows = np.flatnonzero(gridded)
    if not len(rows):
        return None
    ev_ids, ev_phase = np.asarray(ev_ids, dtype=object), np.asarray(ev_phase, dtype=object)
    share = np.zeros((len(ev_ids), 3))
    for n in rows:
        mine = np.flatnonzero(ev_transformer == n)
        phases = resolve_phases(list(ev_ids[mine]), ["" if x is None or x != x else str(x) for x in ev_phase[mine]],
                                np.asarray(ev_max_power_kw)[mine])
        if len(mine):   # a transformer without EVs (a hosting study's empty population) has no shares
            share[mine] = [PHASE_SHARE[x] for x in phases]
    return PhaseLimits(transformer=rows.astype(np.int64), ev_share=share, unbalance_max_pct=float(unbalance_max_pct))


def unbalance_slots(p) -> np.ndarray:
    """[P, T] bool: slots where the transformer can be loaded above ``UNBALANCE_MIN_LOADING_PU``: base
    load plus every plugged-in EV at its charger's maximum reaches that share of ``rating_kw`` (a
    fixed set, so the rows stay linear; a slot in it may end up lighter in the plan)."""
    ph = p.phases
    avail = np.asarray(p.ev_available, dtype=bool).reshape(p.n_evs, p.n_slots)
    most = np.zeros((p.n_transformers, p.n_slots))
    np.add.at(most, p.ev_transformer, avail * np.asarray(p.ev_max_power_kw, float)[:, None])
    most += np.asarray(p.base_load_kw, float).reshape(p.n_transformers, p.n_slots)
    ok = most[ph.transformer] >= UNBALANCE_MIN_LOADING_PU * np.asarray(p.rating_kw, float)[ph.transformer, None]
    return ok if ph.unbalance_max_pct < 100.0 else np.zeros_like(ok)


def phase_power_kw(p, ev_net_kw: np.ndarray, net_load_kw: np.ndarray) -> np.ndarray:
    """[P, 3, T] power on each phase of the phase-modelled transformers for EV net power ``ev_net_kw``
    [E, T] and transformer net load ``net_load_kw`` [N, T] (the rest balanced) [kW]."""
    ph = p.phases
    local = np.full(p.n_transformers, -1)
    local[ph.transformer] = np.arange(len(ph.transformer))
    on = np.flatnonzero(local[p.ev_transformer] >= 0)
    ev_phase = np.zeros((len(ph.transformer), 3, p.n_slots))
    np.add.at(ev_phase, local[p.ev_transformer[on]],
              np.asarray(ph.ev_share)[on][:, :, None] * np.asarray(ev_net_kw, float)[on][:, None, :])
    balanced = np.asarray(net_load_kw, float)[ph.transformer] - ev_phase.sum(axis=1)
    return ev_phase + balanced[:, None, :] / 3.0


def phase_slacks_kw(p, per_phase_kw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(phase_overload_kw [P, 3, T], unbalance_slack_kw [P, T])`` the per-phase power needs: the
    smallest slacks of ``phase_limit`` and ``phase_unbalance`` (the model's optimum holds these) [kW]."""
    ph = p.phases
    over = np.clip(per_phase_kw - np.asarray(p.limit_kw, float)[ph.transformer, None, None] / 3.0, 0.0, None)
    high, low = per_phase_kw.max(axis=1), per_phase_kw.min(axis=1)
    short = np.clip((1.0 - ph.u) * high - low, 0.0, None) * unbalance_slots(p)
    return over, short


def phase_objective_cny(p, ev_net_kw: np.ndarray, net_load_kw: np.ndarray) -> float:
    """The phase rows' share of the objective: overload and unbalance slack priced per kWh [CNY]."""
    if p.phases is None:
        return 0.0
    over, short = phase_slacks_kw(p, phase_power_kw(p, ev_net_kw, net_load_kw))
    return p.dt_h * (p.overload_penalty_cny_per_kwh * float(over.sum())
                     + p.unbalance_penalty_cny_per_kwh * float(short.sum()))


def scenario_phases(scenario, problem) -> PhaseLimits | None:
    """:func:`phase_limits` of the scenario's transformers that name a grid (``scenario.grids``)."""
    gridded = np.array([tid in scenario.grids for tid in problem.transformer_ids], dtype=bool)
    phase = scenario.evs["phase"] if "phase" in scenario.evs.columns else [""] * problem.n_evs
    return phase_limits(problem.ev_ids, problem.ev_transformer, np.asarray(phase, dtype=object),
                        problem.ev_max_power_kw, gridded, scenario.config.grid.unbalance_max_pct)


def phase_row_slots(p) -> np.ndarray:
    """[P, T] bool: the (transformer, slot) pairs with phase rows: the ``unbalance_slots``, and where some
    phase can reach a third of ``limit_kw`` (base load / 3 plus that phase's plugged-in EVs at full power),
    every slot of a transformer with a station or site (their power is a decision). Elsewhere
    ``phase_limit`` cannot bind, so it is left out (a smaller model, the same optimum)."""
    ph, N, T = p.phases, p.n_transformers, p.n_slots
    avail = np.asarray(p.ev_available, dtype=bool).reshape(p.n_evs, T) * np.asarray(p.ev_max_power_kw, float)[:, None]
    most = np.zeros((N, 3, T))
    np.add.at(most, p.ev_transformer, np.asarray(ph.ev_share, float)[:, :, None] * avail[:, None, :])
    most += np.asarray(p.base_load_kw, float).reshape(N, 1, T) / 3.0
    can = most.max(axis=1) >= np.asarray(p.limit_kw, float)[:, None] / 3.0 - 1e-6
    decided = np.zeros(N, dtype=bool)
    decided[np.asarray(p.station_transformer, dtype=np.int64)] = True
    if p.sites is not None:
        decided[np.asarray(p.sites.swap_transformer, dtype=np.int64)] = True
        decided[np.asarray(p.sites.fast_transformer, dtype=np.int64)] = True
    return (can | decided[:, None])[ph.transformer] | unbalance_slots(p)


def phase_ev_bounds_kw(p) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` [P, 3, T] of ``phase_ev_kw``: every plugged-in EV of the phase at full
    discharge (V2G) or at full charge. Implied by the EVs' bounds; stating them lets HiGHS's LP
    start from a bounded column (measured: the demo's relaxation 2.4x faster than with free columns) [kW]."""
    ph, N, T = p.phases, p.n_transformers, p.n_slots
    share = np.asarray(ph.ev_share, float)[:, :, None]
    avail = np.asarray(p.ev_available, dtype=bool).reshape(p.n_evs, T)
    up, low = np.zeros((N, 3, T)), np.zeros((N, 3, T))
    np.add.at(up, p.ev_transformer, share * (avail * np.asarray(p.ev_max_power_kw, float)[:, None])[:, None, :])
    if p.has_v2g:
        dis = avail * (np.asarray(p.ev_max_discharge_kw, float) * p.ev_is_v2g)[:, None]
        np.add.at(low, p.ev_transformer, -share * dis[:, None, :])
    return low[ph.transformer], up[ph.transformer]


def phases_for_evs(p, phase_of: dict) -> PhaseLimits | None:
    """``p.phases`` for the EVs ``p`` holds now (e.g. a replay's fleet replacing the scenario's EVs): the
    same transformers and limit, each EV's phase from ``phase_of`` (``ev_id`` -> phase; missing: the rule)."""
    if p.phases is None:
        return None
    gridded = np.zeros(p.n_transformers, dtype=bool)
    gridded[p.phases.transformer] = True
    return phase_limits(p.ev_ids, p.ev_transformer, np.array([phase_of.get(e, "") for e in p.ev_ids], dtype=object),
                        p.ev_max_power_kw, gridded, p.phases.unbalance_max_pct)
