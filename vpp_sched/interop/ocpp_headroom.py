"""Which set-points under the charger minimum the OCPP export may raise: only where the transformer keeps
its limit.

Raising a limit below the charger minimum (6 A, or the EV's ``min_power_kw``; :mod:`vpp_sched.interop.ocpp`)
lets the charger draw more than the plan gave it. In a slot where the EV's transformer is near its
limit that can take the transformer over it: with ``--unit A --phases 3`` at 230 V an EV planned at
1.4 kW (its ``min_power_kw``) would be raised to 6 A = 4.14 kW, 2.74 kW more than its transformer was
planned for. So a
raise is kept only while the transformer's headroom in the slot (``limit_kw - net_load_kw`` of
``transformer_load.csv``, shared by its EVs in ``evs.csv`` order) takes the extra power
``to_kw(min_limit) - power_kw``; a set-point whose raise does not fit goes down to 0 instead (the
charger cannot draw less than its minimum), and ``index.csv`` reports it (``lowered_slots``,
``lowered_kwh``). The extra power counted is the raised limit's full power, though an EV whose
``max_power_kw`` is lower draws no more than that (the plan files do not carry it): never less than
what the transformer sees.

An EV's own charger limit cannot be exceeded by the rounding: a charger signals a maximum current
and the EV draws at most its own ``max_power_kw`` below it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from vpp_sched.errors import InputError
from vpp_sched.interop.ocpp_profile import ProfileOptions, Session
from vpp_sched.plan.read_plan import numbers, plan_table_source, read_plan_table

TOL_KW = 1e-6   # a raise exactly filling the headroom fits [kW]


def with_headroom(folder: Path | str, sessions: list[Session], opts: ProfileOptions) -> list[Session]:
    """``sessions`` with ``may_raise`` set: the slots whose limit below the charger minimum fits in its
    transformer's headroom (module docstring); unchanged when no set-point is under the minimum."""
    below = [opts.below_minimum(opts.limits(s.power_kw), s.min_power_kw) for s in sessions]
    if not any(b.any() for b in below):
        return sessions
    room, where = _headroom(Path(folder), sessions)
    out = []
    for s, b, (n, t) in zip(sessions, below, where):
        may = np.zeros(len(s.power_kw), dtype=bool)
        extra = opts.to_kw(opts.min_limit(s.min_power_kw)) - s.power_kw
        for k in np.flatnonzero(b):            # slots in time order, EVs in evs.csv order
            if t[k] >= 0 and extra[k] <= room[n, t[k]] + TOL_KW:
                room[n, t[k]] -= max(extra[k], 0.0)
                may[k] = True
        out.append(replace(s, may_raise=may))
    return out


def _headroom(folder: Path, sessions: list[Session]) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    """[transformers, slots] ``limit_kw - net_load_kw`` of ``transformer_load.csv``, and per session its
    transformer's position and each of its slots' position there (-1: a slot the table lacks)."""
    load = read_plan_table(folder, "transformer_load", ["transformer_id", "slot_start", "net_load_kw", "limit_kw"])
    label = plan_table_source(folder, "transformer_load").label
    evs = read_plan_table(folder, "evs", ["ev_id", "transformer_id"])
    tids, tcode = np.unique(load.transformer_id.astype(str).to_numpy(), return_inverse=True)
    secs = pd.to_datetime(load.slot_start, utc=True, format="ISO8601").astype("int64").to_numpy() // 10**9
    slots, scode = np.unique(secs, return_inverse=True)
    room = np.full((len(tids), len(slots)), -np.inf)     # no row: no room
    room[tcode, scode] = numbers(load, "limit_kw", label) - numbers(load, "net_load_kw", label)
    ev_tid = evs.transformer_id.astype(str).to_numpy()
    where = []
    for s in sessions:
        n = int(np.searchsorted(tids, ev_tid[s.row]))
        if n >= len(tids) or tids[n] != ev_tid[s.row]:
            raise InputError([f"evs.csv row {s.row + 1} (ev_id={s.ev_id}): transformer_id {ev_tid[s.row]} has no "
                              f"rows in {label}"])
        t = np.searchsorted(slots, s.slot_start_s)
        t = np.where((t < len(slots)) & (slots[np.minimum(t, len(slots) - 1)] == s.slot_start_s), t, -1)
        where.append((n, t))
    return room, where
