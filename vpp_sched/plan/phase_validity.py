"""Validity of a plan's phases (``models/lv_grid.md``, "Phases"), from its tables alone.

For each transformer with phase rows, the phase powers are recomputed from ``ev_schedule`` and
``transformer_load`` and must match ``grid_phases``; a phase above a third of ``limit_kw`` must be
reported in ``phase_overload_kw``, and a slot beyond the unbalance limit (where the rule holds) in
``unbalance_slack_kw``. Like a transformer's ``overload_kw``, a reported slack is allowed: the check
cannot tell whether the plan could have avoided it (the model prices it to avoid it where it can).
"""

from __future__ import annotations

import numpy as np

from vpp_sched.problem.phases import phase_power_kw, unbalance_slots

TOL_KW = 1e-3


def check_phases(p, plan, ev_net_kw: np.ndarray) -> list[str]:
    """One message per transformer and kind of breach; ``ev_net_kw`` [E, T] the schedule's EV net power [kW]."""
    ph, table = p.phases, plan.grid_phases
    if ph is None or not len(table):       # no grid check ran (as check_grid: nothing to judge)
        return []
    T, names = p.n_slots, np.asarray(p.transformer_ids, dtype=object)[ph.transformer]
    if "unbalance_slack_kw" not in table.columns or len(table) != len(names) * T \
            or list(table.transformer_id.iloc[::T]) != list(names):
        return ["grid_phases.csv does not hold every slot of the transformers with phase rows"]
    net = plan.transformer_load.net_load_kw.to_numpy(float).reshape(p.n_transformers, T)
    per = phase_power_kw(p, ev_net_kw, net)                                   # [P, 3, T]
    grid = lambda col: table[col].to_numpy(float).reshape(len(names), T)      # noqa: E731
    written = np.stack([grid(f"p_{x}_kw") for x in "abc"], axis=1)
    out = []
    limit = np.asarray(p.limit_kw, float)[ph.transformer, None] / 3.0
    high, low = per.max(axis=1), per.min(axis=1)
    checks = (("phase powers differ from the EV schedule and net load", np.abs(written - per).max(axis=1) > TOL_KW),
              ("a phase above a third of limit_kw without reported phase_overload_kw",
               (per - limit[:, None, :]).clip(0).sum(axis=1) > grid("phase_overload_kw") + TOL_KW),
              (f"unbalance above {ph.unbalance_max_pct:g} % without reported unbalance_slack_kw",
               unbalance_slots(p) & ((1 - ph.u) * high - low > grid("unbalance_slack_kw") + TOL_KW)))
    for what, bad in checks:
        for i in np.flatnonzero(bad.any(axis=1)):
            t = int(np.flatnonzero(bad[i])[0])
            out.append(f"grid_phases.csv of {names[i]}: {what} at {p.slots[t].isoformat()} "
                       f"({int(bad[i].sum())} slots)")
    return out
