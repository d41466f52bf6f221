"""The charging platform's slot controller: the plan's set-points fitted to the metered slot.

Between re-plans a plan's set-points were made on the forecast base load and PV and on the EVs as
they were known then. A charging platform that meters its transformers (dynamic load management)
corrects them in every slot, before the chargers draw (``models/uncertainty.md``, "The slot
controller"):

1. **catch-up** (:func:`must_charge_kw`): an EV plugged in whose remaining request (stated at
   plug-in, as the re-plans know it) no longer fits in the whole slots it has left after this one
   at its charger's full power is raised to the power that keeps it fitting;
2. **headroom cap** (:func:`controlled_kw`, :func:`fit_to_headroom`): per transformer, the EVs',
   swap racks' and fast-charging stations' power is cut to ``limit_kw − (metered load of
   everything else)``: first what must be kept (the EVs' catch-up power, a fast station's
   wait-keeping cap ``fast_min_cap_kw``), then the rest of the set-points, each part scaled by one
   factor per transformer. Swap packs not charged are taken off the station's stock
   (:func:`swap_state_after_cut`).

Nothing else changes: batteries and PV curtailment follow the plan. The metered
load is the slot's (base load and PV constant within a 15-min slot, as everywhere in the model).
"""

from __future__ import annotations

import numpy as np


#: The catch-up keeps each EV this many slots ahead of the last moment: the slots it counts on
#: after this one are its whole slots left less one less this (a later slot may have no headroom).
#: 0, just in time: one slot ahead was no better on the bundled scenario (days 0-9: unmet energy
#: 278.85 against 278.84 kWh a day under ``replan``, energy cost +0.1 %).
CATCH_UP_AHEAD_SLOTS = 0


def must_charge_kw(need_kwh: np.ndarray, slots_left: np.ndarray, max_kw: np.ndarray, dt_h: float,
                   ahead_slots: int | None = None) -> np.ndarray:
    """[U] the least power in this slot that still lets each EV get ``need_kwh`` at ``max_kw`` in its
    ``slots_left`` whole slots (this one included) less ``ahead_slots``; at most ``max_kw`` [kW].

    ``need - (slots_left - 1 - ahead_slots) * max_kw * dt`` is what the later slots cannot give.
    """
    ahead = CATCH_UP_AHEAD_SLOTS if ahead_slots is None else ahead_slots
    later_kwh = np.maximum(slots_left - 1 - ahead, 0) * max_kw * dt_h
    return np.clip((need_kwh - later_kwh) / dt_h, 0.0, max_kw)


def fit_to_headroom(must_kw: np.ndarray, rest_kw: np.ndarray, group: np.ndarray, headroom_kw: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Powers of the controllable loads cut to the headroom of their transformer.

    Parameters
    ----------
    must_kw, rest_kw : [L] power each load needs first (catch-up) and the rest of its set-point [kW]
    group : [L] index of each load's transformer
    headroom_kw : [N] limit less the metered load of everything else; below 0 counts as 0 [kW]

    Returns
    -------
    must, rest : [L] the powers kept: per transformer ``sum(must) + sum(rest) <= max(headroom, 0)``,
        the must-powers scaled first, then the rest, each by one factor per transformer [kW]
    """
    room = np.maximum(headroom_kw, 0.0)
    n = len(room)
    need_must = np.bincount(group, must_kw, n)
    f_must = np.where(need_must > room, room / np.where(need_must > 0, need_must, 1.0), 1.0)
    left = room - need_must * f_must
    need_rest = np.bincount(group, rest_kw, n)
    f_rest = np.where(need_rest > left, left / np.where(need_rest > 0, need_rest, 1.0), 1.0)
    return must_kw * f_must[group], rest_kw * f_rest[group]


def swap_state_after_cut(full_packs: np.ndarray, partial_kwh: np.ndarray, cut_kw: np.ndarray,
                         efficiency: np.ndarray, pack_charge_kwh: np.ndarray, dt_h: float
                         ) -> tuple[np.ndarray, np.ndarray]:
    """[W] full packs and partial energy of swap stations whose racks drew ``cut_kw`` less than planned
    in one slot: the energy not stored (``efficiency * dt * cut``) comes off the packs not full,
    and where they hold too little, whole full packs become partial ones [-, kWh]."""
    full_packs, partial_kwh = np.asarray(full_packs, float), np.asarray(partial_kwh, float)
    lost = efficiency * dt_h * np.maximum(cut_kw, 0.0)
    short = np.maximum(lost - partial_kwh, 0.0)
    packs = np.minimum(np.maximum(np.ceil(short / pack_charge_kwh - 1e-9), 0.0), full_packs)
    partial = np.maximum(partial_kwh + packs * pack_charge_kwh - lost, 0.0)
    cut = lost > 0                      # a slot without a cut keeps the plan's state as it is
    return np.where(cut, full_packs - packs, full_packs), np.where(cut, partial, partial_kwh)


def controlled_kw(limit_kw: np.ndarray, other_kw: np.ndarray,
                  loads: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """The powers of one slot's controllable loads after the headroom cap [kW].

    ``loads``: per kind (EVs, swap racks, fast-charging caps) ``(must_kw, want_kw, transformer)``, each
    [L]: the power it needs first (EV catch-up, a fast station's wait-keeping cap), the power it asks
    for (at least ``must_kw``) and its transformer index. ``other_kw`` [N]: the metered load of
    everything else. Returns the kept powers per kind, in the order given.
    """
    must = np.concatenate([m for m, _, _ in loads])
    want = np.concatenate([np.maximum(w, m) for m, w, _ in loads])
    group = np.concatenate([g for _, _, g in loads]).astype(int)
    kept_must, kept_rest = fit_to_headroom(must, want - must, group, limit_kw - other_kw)
    out, at = kept_must + kept_rest, np.cumsum([0] + [len(m) for m, _, _ in loads])
    return [out[at[i]:at[i + 1]] for i in range(len(loads))]
