"""``vpp-sched phases``: phase assignments for the home chargers that lower the worst unbalance.

For each transformer with a grid, the single-phase EVs whose ``phase`` is empty are placed one by
one (largest energy first, ties by ``ev_id``) on the phase where the worst slot's power of the
three phases rises least, with every EV at its uncontrolled profile (charging from arrival at full
power: the evening peak the phases must share). EVs with a given phase, and three-phase chargers,
stay where they are. The unbalance is that of :mod:`vpp_sched.network.phases`; the voltage drop is
not judged (the power flow is balanced).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vpp_sched.network.check import grid_cases
from vpp_sched.network.phases import SINGLE_PHASE_MAX_KW, phase_power_kw, unbalance_pct
from vpp_sched.problem.build import build_problem, uncontrolled_reference


def _greedy(ev_kw: np.ndarray, fixed: list[str], free: np.ndarray, energy: np.ndarray, ids, base_kw) -> list[str]:
    phases = list(fixed)
    per = phase_power_kw(ev_kw[~free], [p for p, f in zip(fixed, free) if not f], base_kw)
    for i in sorted(np.flatnonzero(free), key=lambda i: (-energy[i], ids[i])):
        costs = []
        for k in range(3):
            trial = per.copy()
            trial[k] += ev_kw[i]
            costs.append((trial.max(axis=0).max(), unbalance_pct(trial).max(), k))
        k = min(costs)[2]
        per[k] += ev_kw[i]
        phases[i] = "abc"[k]
    return phases


def suggest_phases(scenario) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(assignments, summary)``: ``ev_id, transformer_id, phase_rule, phase_suggested`` for the EVs the
    study may move, and per transformer the worst unbalance under the rule and under the suggestion [%]."""
    problem = build_problem(scenario)
    ev_kw = uncontrolled_reference(problem)[0]
    given = dict(zip(scenario.evs["ev_id"], scenario.evs["phase"]))
    rows, summary = [], []
    for c in grid_cases(scenario, problem):
        ids = list(problem.ev_ids[c.ev_rows])
        mine, base = ev_kw[c.ev_rows], problem.base_load_kw[c.row]
        free = np.array([given[e] == "" and problem.ev_max_power_kw[r] <= SINGLE_PHASE_MAX_KW
                         for e, r in zip(ids, c.ev_rows)], dtype=bool)
        rule = list(c.ev_phase)
        better = _greedy(mine, rule, free, problem.ev_energy_kwh[c.ev_rows], ids, base)
        before = unbalance_pct(phase_power_kw(mine, rule, base)).max()
        after = unbalance_pct(phase_power_kw(mine, better, base)).max()
        if after > before:          # the greedy is no proof: never suggest worse than the rule
            better, after = rule, before
        summary.append({"transformer_id": c.transformer_id, "evs_moved": int(sum(a != b for a, b in zip(rule, better))),
                        "worst_unbalance_rule_pct": before, "worst_unbalance_suggested_pct": after})
        rows += [{"ev_id": e, "transformer_id": c.transformer_id, "phase_rule": a, "phase_suggested": b}
                 for e, a, b, f in zip(ids, rule, better, free) if f]
    return pd.DataFrame(rows), pd.DataFrame(summary)
