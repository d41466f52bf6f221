"""The ``grid_voltage`` and ``grid_line`` rows of the model, linearised at a plan's AC power flow.

For a bus ``i`` and slot ``t`` whose voltage is below ``voltage_min_pu + watch_pu`` (or a line whose
loading is above ``line_loading_max_pct - watch_pct``) in the flow of EV power ``p0``:

    vm_i(p) ~ vm_i(p0) + sum_e S_i,bus(e) · (p_e - p0_e) >= voltage_min_pu + margin_pu
    <=>  sum_e (-S_i,bus(e)) · p_e <= vm_i(p0) - voltage_min_pu - margin_pu + sum_e (-S_i,bus(e)) · p0_e

and likewise ``loading_l(p) <= line_loading_max_pct - margin_pct``. Each row is divided by its
largest coefficient, so the coefficients are at most 1 and the right-hand side and the slack are
in kW at the most sensitive EV (``models/lv_grid.md``). Only EVs behind the grid's transformer
have coefficients; base load and the station's power are held at the flow's values. The phases of a
bus whose phase-to-neutral voltage in the three-phase flow is near ``phase_voltage_min_pu`` get the
same ``voltage`` row with that band and the phase sensitivities (:func:`phase_cuts`).
"""

from __future__ import annotations

import numpy as np

from vpp_sched.network.check import model3_for
from vpp_sched.network.phases import PHASE_SHARE
from vpp_sched.network.sensitivity import loading_sensitivity, vm_sensitivity
from vpp_sched.network.sensitivity_3ph import phase_vm_sensitivity
from vpp_sched.problem.arrays import GridCuts

WATCH_PU, MARGIN_PU = 0.003, 0.001      # rows for buses within 0.3 % of the band; aim 0.1 % inside it
WATCH_PCT, MARGIN_PCT = 2.0, 0.5        # lines within 2 % of their rating; aim 0.5 % below it


def _rows(sens: np.ndarray, slack_kw: np.ndarray, p0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised rows ``a · p <= b`` from ``a = sens`` [R, J], room ``slack_kw`` [R] and the point ``p0`` [J]."""
    scale = np.abs(sens).max(axis=1)
    keep = scale > 1e-12
    a = sens[keep] / scale[keep, None]
    b = slack_kw[keep] / scale[keep] + a @ p0
    return np.flatnonzero(keep), a, b


def grid_cuts(case, v: np.ndarray, loading_pct: np.ndarray, ev_kw: np.ndarray, limits, phases=None) -> list[tuple]:
    """Rows ``(kind, slot, rhs_kw, evs, coefs, label)`` for one grid (``case``, its flow ``v`` [bus, T] and
    ``loading_pct`` [line, T]) at EV power ``ev_kw`` [E_all, T]; with ``phases`` (its three-phase flow,
    ``Flow3Result``) also the phase-voltage rows (:func:`phase_cuts`)."""
    out = [] if phases is None else phase_cuts(case, phases, ev_kw, limits)
    model = case.model
    vm = np.abs(v)
    lv = np.flatnonzero(model.at >= 0)
    names = model.net.bus.name.to_numpy()
    _, first = np.unique(model.ppci_of_bus[lv], return_index=True)     # one bus per fused node
    lv = lv[first]
    for t in range(v.shape[1]):
        evs, j_bus = case.ev_rows, case.ev_bus       # all its EVs: the model keeps those plugged in
        if not len(evs):
            continue
        low = lv[vm[lv, t] < limits.voltage_min_pu + WATCH_PU]
        if len(low):
            sens = -vm_sensitivity(model, v[:, t], low, j_bus)
            room = vm[low, t] - limits.voltage_min_pu - MARGIN_PU
            keep, a, b = _rows(sens, room, ev_kw[evs, t])
            out += [("voltage", t, b[k], evs, a[k], f"{case.transformer_id} {names[low[i]]}")
                    for k, i in enumerate(keep)]
        hot = np.flatnonzero(loading_pct[:, t] > limits.line_loading_max_pct - WATCH_PCT)
        if len(hot):
            sens = loading_sensitivity(model, v[:, t], hot, j_bus)
            room = limits.line_loading_max_pct - MARGIN_PCT - loading_pct[hot, t]
            keep, a, b = _rows(sens, room, ev_kw[evs, t])
            lnames = model.net.line.name.to_numpy()
            out += [("line", t, b[k], evs, a[k], f"{case.transformer_id} {lnames[hot[i]]}")
                    for k, i in enumerate(keep)]
    return out


def phase_cuts(case, phases, ev_kw: np.ndarray, limits) -> list[tuple]:
    """``voltage`` rows for the phases of a bus whose phase-to-neutral voltage in the three-phase flow
    ``phases`` is below ``phase_voltage_min_pu + WATCH_PU``: the row of the module docstring with the
    phase band and the sensitivities of :mod:`.sensitivity_3ph` (each EV on its phases)."""
    if not len(case.ev_rows):
        return []
    m3, out = model3_for(case.model), []
    vm = phases.vm_abc_pu
    lv = np.flatnonzero(m3.ppci_of_bus >= 0)
    lv = lv[np.unique(m3.ppci_of_bus[lv], return_index=True)[1]]        # one bus per fused node
    names = case.model.net.bus.name.to_numpy()
    share = np.array([PHASE_SHARE[ph] for ph in case.ev_phase], dtype=float).reshape(len(case.ev_phase), 3)
    for t in range(vm.shape[2]):
        low_k, low_i = np.nonzero(vm[:, lv, t] < limits.phase_voltage_min_pu + WATCH_PU)
        if not len(low_i):
            continue
        buses = np.unique(lv[low_i])
        sens = phase_vm_sensitivity(m3, phases.v012[:, :, t], buses, case.ev_bus, share)     # [3, I, J]
        at = np.searchsorted(buses, lv[low_i])
        rows = -sens[low_k, at]                                           # [R, J]
        room = vm[low_k, lv[low_i], t] - limits.phase_voltage_min_pu - MARGIN_PU
        keep, a, b = _rows(rows, room, ev_kw[case.ev_rows, t])
        out += [("voltage", t, b[r], case.ev_rows, a[r], f"{case.transformer_id} {names[lv[low_i[i]]]} phase "
                 f"{'abc'[low_k[i]]}") for r, i in enumerate(keep)]
    return out


def merge_cuts(old: GridCuts | None, rows: list[tuple]) -> GridCuts | None:
    """``old`` with ``rows`` appended (rows from earlier linearisations are kept: cutting planes)."""
    if not rows:
        return old
    kinds = np.array([r[0] for r in rows], dtype=object)
    base = 0 if old is None else len(old.kind)
    row = np.concatenate([np.full(len(r[3]), base + k) for k, r in enumerate(rows)])
    new = GridCuts(kind=kinds, slot=np.array([r[1] for r in rows], dtype=np.int64),
                   rhs_kw=np.array([r[2] for r in rows], dtype=float), row=row.astype(np.int64),
                   ev=np.concatenate([r[3] for r in rows]).astype(np.int64),
                   coef=np.concatenate([r[4] for r in rows]).astype(float),
                   label=np.array([r[5] for r in rows], dtype=object))
    if old is None:
        return new
    return GridCuts(*(np.concatenate([getattr(old, f), getattr(new, f)]) for f in
                      ("kind", "slot", "rhs_kw", "row", "ev", "coef", "label")))
