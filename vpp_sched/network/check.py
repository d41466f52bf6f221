"""Where the power of a plan sits in each LV grid, and the grid's AC power flow over the slots
(balanced, :func:`flow`, and three-phase with the EVs on their phases, :func:`flow_3ph`).

Per transformer with a grid: base load on the grid's load buses (:func:`~vpp_sched.scenario.grid.bus_base_load_kw`),
each EV's net power (charging - discharging, unity power factor) at its ``bus_id``, and what the
transformer's station adds (battery charging - discharging - PV fed in) at the transformer's LV busbar.
Models are built once per (grid, transformer rating) and kept for the process (:func:`grid_case`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from vpp_sched.network.lv_net import build_net, rate_transformer, set_mv_voltage
from vpp_sched.network.phases import PHASE_SHARE, resolve_phases
from vpp_sched.network.powerflow import FlowResult, GridModel, grid_model, run_flow
from vpp_sched.network.powerflow_3ph import Flow3Result, Grid3Model, grid3_model, run_flow_3ph
from vpp_sched.scenario.grid import LvGrid, bus_base_load_kw, place_evs


@dataclass(frozen=True, eq=False)
class GridCase:
    """One transformer's grid in one scenario: the model and where every load sits (pandapower bus indices)."""

    transformer_id: str
    row: int                 # the transformer's index in the problem
    model: GridModel
    base_bus: np.ndarray     # [B] pandapower bus of each load bus
    base_p_kw: np.ndarray    # [B, T]
    base_q_kvar: np.ndarray  # [B, T]
    ev_rows: np.ndarray      # [E_n] the problem's EV rows behind this transformer
    ev_bus: np.ndarray       # [E_n] pandapower bus of each
    lv_bus: int              # the transformer's LV busbar
    ev_phase: tuple = ()     # [E_n] phase of each EV (network/phases.py)


@lru_cache(maxsize=8)
def _cached_net(folder: str):
    return build_net(_GRIDS[folder])


@lru_cache(maxsize=32)
def _cached_model(folder: str, name: str, rated_kva: float, mv_vm_pu: float) -> GridModel:
    """The grid's net (built once per folder: pandapower's net creation is slow) rated ``rated_kva``,
    fed at ``mv_vm_pu`` (-1: the grid's own setpoint)."""
    net, bus = _cached_net(folder)
    net = copy.deepcopy(net)
    rate_transformer(net, _GRIDS[folder], rated_kva)
    if mv_vm_pu > 0:
        set_mv_voltage(net, mv_vm_pu)
    return grid_model(net, bus, name.rstrip("/"))


_GRIDS: dict[str, LvGrid] = {}   # folder -> the grid last read from it


def model_for(grid: LvGrid, rated_kva: float, mv_vm_pu: float = float("nan")) -> GridModel:
    """The grid's model rated ``rated_kva`` fed at ``mv_vm_pu`` [pu], built once per process for the same
    folder, rating and voltage."""
    _GRIDS[str(grid.folder)] = grid
    mv = float(mv_vm_pu) if np.isfinite(mv_vm_pu) else -1.0    # NaN != NaN would defeat the cache
    return _cached_model(str(grid.folder), grid.name, float(rated_kva), mv)


def grid_cases(scenario, problem) -> list[GridCase]:
    """A :class:`GridCase` for every transformer of ``problem`` whose scenario row names a grid."""
    if not scenario.grids:          # no grid named: nothing to look up (EV maps of 100,000 rows: ~0.1 s)
        return []
    cases = []
    trafos = scenario.transformers.set_index("transformer_id")
    bus_of_ev = dict(zip(scenario.evs["ev_id"], scenario.evs["bus_id"]))
    phase_of_ev = dict(zip(scenario.evs["ev_id"], scenario.evs["phase"]))
    for n, tid in enumerate(problem.transformer_ids):
        grid = scenario.grids.get(tid)
        if grid is None:
            continue
        mv = trafos.mv_vm_pu[tid] if "mv_vm_pu" in trafos.columns else float("nan")
        model = model_for(grid, float(trafos.rated_kva[tid]), float(mv))
        buses, p_kw, q_kvar = bus_base_load_kw(grid, problem.slots, problem.base_load_kw[n])
        rows = np.flatnonzero(problem.ev_transformer == n)
        # EVs the scenario does not list (sessions that came unannounced: a replay, the service's
        # re-plans) get buses by the same seeded rule, among themselves
        new = sorted(str(e) for e in problem.ev_ids[rows] if not bus_of_ev.get(e))
        bus_of_ev.update(zip(new, place_evs(grid, str(tid), new, [""] * len(new))))
        lv = grid.tables["Transformer"]["nodeLV"].iat[0]
        cases.append(GridCase(
            transformer_id=str(tid), row=n, model=model,
            base_bus=np.array([model.bus_of_node[b] for b in buses], dtype=np.int64),
            base_p_kw=p_kw, base_q_kvar=q_kvar, ev_rows=rows,
            ev_bus=np.array([model.bus_of_node[bus_of_ev[e]] for e in problem.ev_ids[rows]], dtype=np.int64),
            lv_bus=int(model.bus_of_node[lv]),
            ev_phase=tuple(resolve_phases(list(problem.ev_ids[rows]), [phase_of_ev.get(e, "") for e in problem.ev_ids[rows]],
                                          problem.ev_max_power_kw[rows]))))
    return cases


def bus_power_kw(case: GridCase, ev_kw: np.ndarray, station_kw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[pandapower bus, T] active and reactive load: base + EVs ``ev_kw`` [E_all, T] + station [T] [kW, kvar]."""
    n_bus, T = len(case.model.net.bus), case.base_p_kw.shape[1]
    p, q = np.zeros((n_bus, T)), np.zeros((n_bus, T))
    np.add.at(p, case.base_bus, case.base_p_kw)
    np.add.at(q, case.base_bus, case.base_q_kvar)
    np.add.at(p, case.ev_bus, ev_kw[case.ev_rows])
    p[case.lv_bus] += station_kw
    return p, q


def flow(case: GridCase, ev_kw: np.ndarray, station_kw: np.ndarray, slots: pd.DatetimeIndex) -> FlowResult:
    """The AC power flow of one grid over the slots for EV power ``ev_kw`` [E_all, T] [kW]."""
    p, q = bus_power_kw(case, ev_kw, station_kw)
    return run_flow(case.model, p, q, slot_labels=[f"{s.isoformat()}" for s in slots])


@lru_cache(maxsize=32)
def model3_for(model: GridModel) -> Grid3Model:
    """The three-phase (sequence) model of the same net as ``model``, built once per process (``model`` is
    itself cached per grid, rating and MV voltage, so its identity is the key)."""
    return grid3_model(model.net, model.name)


def bus_phase_power_kw(case: GridCase, ev_kw: np.ndarray, station_kw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[3, pandapower bus, T] load of each phase: base load and station a third on each phase, each EV on
    its phase (``abc`` a third each, :data:`~vpp_sched.network.phases.PHASE_SHARE`) [kW, kvar]."""
    n_bus, T = len(case.model.net.bus), case.base_p_kw.shape[1]
    p, q = bus_power_kw(case, np.zeros_like(ev_kw), station_kw)
    p3, q3 = np.repeat(p[None] / 3.0, 3, axis=0), np.repeat(q[None] / 3.0, 3, axis=0)
    share = np.array([PHASE_SHARE[ph] for ph in case.ev_phase], dtype=float).reshape(len(case.ev_phase), 3)
    for k in range(3):
        np.add.at(p3[k], case.ev_bus, share[:, k, None] * ev_kw[case.ev_rows])
    return p3, q3


def flow_3ph(case: GridCase, ev_kw: np.ndarray, station_kw: np.ndarray, slots: pd.DatetimeIndex) -> Flow3Result:
    """The three-phase power flow of one grid over the slots, EVs on their phases (:func:`bus_phase_power_kw`)."""
    p3, q3 = bus_phase_power_kw(case, ev_kw, station_kw)
    return run_flow_3ph(model3_for(case.model), p3, q3, slot_labels=[f"{s.isoformat()}" for s in slots])
