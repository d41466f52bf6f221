"""``vpp-sched phases``: phase assignments for the home chargers that lower the worst unbalance and
phase voltage drop.

For each transformer with a grid, the single-phase EVs whose ``phase`` is empty are placed one by
one (largest energy first, ties by ``ev_id``) by two greedy rules, with every EV at its uncontrolled
profile (charging from arrival at full power: the evening peak the phases must share):

- *power*: on the phase where the worst slot's power of the three phases rises least;
- *drop*: on the phase where the worst slot's load moment rises least, each EV's power weighted by its
  bus's single-phase loop impedance ``Re(Z0 + Z1 + Z2)/3`` (a far charger counts more).

EVs with a given phase, and three-phase chargers, stay where they are. The rule of
:mod:`vpp_sched.network.phases` and both greedy results are then judged by the three-phase power
flow (:mod:`vpp_sched.network.powerflow_3ph`; base load balanced, no station): the suggestion is the
one with the highest lowest phase voltage among those whose worst unbalance (of
:mod:`vpp_sched.network.phases`) is no higher than the rule's, ties (within ``VOLTAGE_TIE_PU``) by
the lower unbalance; the rule itself is a candidate, so the suggestion is never worse on either.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from vpp_sched.network.check import flow_3ph, grid_cases, model3_for
from vpp_sched.network.phases import SINGLE_PHASE_MAX_KW, phase_power_kw, unbalance_pct
from vpp_sched.network.powerflow import one_blas_thread
from vpp_sched.problem.build import build_problem, uncontrolled_reference

VOLTAGE_TIE_PU = 1e-4


def _greedy(ev_kw: np.ndarray, fixed: list[str], free: np.ndarray, energy: np.ndarray, ids, base_kw) -> list[str]:
    """Each free EV on the phase where the worst slot's phase power (``ev_kw`` [E_n, T], possibly weighted)
    rises least, ties by the worst unbalance."""
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


def _loop_weight(case) -> np.ndarray:
    """[E_n] each EV's single-phase loop resistance ``Re(Z0 + Z1 + Z2)/3`` at its bus, over the largest [-]."""
    m3 = model3_for(case.model)
    j = m3.ppci_of_bus[case.ev_bus]
    row = np.full(m3.z0.shape[0], -1)
    row[m3.others] = np.arange(len(m3.others))
    z1 = np.where(row[j] >= 0, m3.z1[np.maximum(row[j], 0), np.maximum(row[j], 0)], 0.0)
    r = np.real(m3.z0[j, j] + z1 + m3.z2[j, j]) / 3.0
    return r / r.max() if len(r) and r.max() > 0 else np.ones(len(j))


def _judge(case, phases: list[str], ev_kw: np.ndarray, base_kw: np.ndarray, slots) -> tuple[float, float, float]:
    """``(worst power unbalance [%], lowest phase voltage [pu], worst voltage unbalance [%])`` of one
    assignment at the uncontrolled profiles ``ev_kw`` [E_all, T]."""
    mine = ev_kw[case.ev_rows]
    r = flow_3ph(replace(case, ev_phase=tuple(phases)), ev_kw, np.zeros(len(slots)), slots)
    return (float(unbalance_pct(phase_power_kw(mine, phases, base_kw)).max()), float(np.nanmin(r.vm_abc_pu)),
            float(np.nanmax(r.unbalance_pct)))


def _choose(judged: list[tuple]) -> int:
    """Index of the suggestion among ``(unbalance, lowest vm, ...)`` candidates, the rule first (docstring)."""
    ok = [i for i, j in enumerate(judged) if j[0] <= judged[0][0] + 1e-9 and j[1] >= judged[0][1] - 1e-12]
    best = max(judged[i][1] for i in ok)
    return min((i for i in ok if judged[i][1] >= best - VOLTAGE_TIE_PU), key=lambda i: (judged[i][0], i))


def suggest_phases(scenario) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(assignments, summary)``: ``ev_id, transformer_id, phase_rule, phase_suggested`` for the EVs the
    study may move, and per transformer the worst unbalance [%], lowest phase voltage [pu] and worst
    voltage unbalance [%] under the rule and under the suggestion, and which greedy rule won."""
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
        energy = problem.ev_energy_kwh[c.ev_rows]
        with one_blas_thread():
            weight = _loop_weight(c)
            candidates = [rule, _greedy(mine, rule, free, energy, ids, base),
                          _greedy(mine * weight[:, None], rule, free, energy, ids, base * float(weight.mean()))]
            judged = [_judge(c, ph, ev_kw, base, problem.slots) for ph in candidates]
        k = _choose(judged)
        better = candidates[k]
        summary.append({"transformer_id": c.transformer_id, "evs_moved": int(sum(a != b for a, b in zip(rule, better))),
                        "worst_unbalance_rule_pct": judged[0][0], "worst_unbalance_suggested_pct": judged[k][0],
                        "lowest_phase_vm_rule_pu": judged[0][1], "lowest_phase_vm_suggested_pu": judged[k][1],
                        "worst_voltage_unbalance_rule_pct": judged[0][2],
                        "worst_voltage_unbalance_suggested_pct": judged[k][2],
                        "chosen": ("rule", "power", "drop")[k]})
        rows += [{"ev_id": e, "transformer_id": c.transformer_id, "phase_rule": a, "phase_suggested": b}
                 for e, a, b, f in zip(ids, rule, better, free) if f]
    return pd.DataFrame(rows), pd.DataFrame(summary)
