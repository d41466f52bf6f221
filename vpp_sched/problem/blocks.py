"""Blocks of a problem: the problem restricted to some transformers, and the grouping of transformers.

The problem-level half of the decomposition by transformer blocks (:mod:`vpp_sched.solve.decompose`
solves the blocks and coordinates them): :func:`subproblem` cuts a :class:`~vpp_sched.problem.arrays.Problem`
down to a set of transformers (optionally capping their net load), :class:`BlockSpec` describes one
not built yet, :func:`find_blocks` groups the transformers that feeders and DR events couple.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from vpp_sched.errors import ArgumentError
from vpp_sched.problem.arrays import Problem

#: Largest block (in EVs) that a feeder or event group is merged into; bigger groups are coordinated.
MAX_BLOCK_EVS = 2000


def subproblem(problem: Problem, transformers: np.ndarray, *, cap_kw: np.ndarray | None = None,
               cap_penalty_cny_per_kwh: float | np.ndarray | None = None,
               cap_sign: float | np.ndarray = 1.0) -> Problem:
    """The Problem restricted to the transformer indices ``transformers`` (kept in that order).

    It holds their EVs, stations and batteries (in the full problem's order), the feeders whose
    transformers all lie in the set, and the events whose scope lies wholly in the set. A
    feeder or event reaching outside the set is dropped: it is a coupling the caller
    coordinates, e.g. through ``cap_kw``.

    ``cap_kw`` [n, T] (or [L, n, T] layers) caps each transformer's net load per slot
    (``inf``/``nan`` = no cap). A per-slot cap cannot be a transformer limit (``limit_kw`` is one
    number per transformer), so each capped transformer and layer becomes one more DR-like
    event, and the model is unchanged: scope the transformer, ``baseline = cap``, target 0, no
    compensation, and its (unbounded) shortfall priced at ``cap_penalty_cny_per_kwh`` (scalar or
    [L]; default the overload penalty). The cap is soft: a transformer that cannot keep to it
    reports shortfall on that event. ``cap_sign`` -1 (scalar or [L]) makes a layer a floor
    ``net >= cap_kw`` instead (a valley-filling event).
    """
    p = problem
    idx, local, inside = _local_index(p, transformers)
    evs, sts, st_local, bats = _members_inside(p, inside)
    tf, feeders, f_local = _feeders_inside(p, inside)
    ev = _events_inside(p, inside, idx)
    if cap_kw is not None:
        _append_caps(p, idx, ev, cap_kw, cap_penalty_cny_per_kwh, cap_sign)
    K = len(ev["ids"])
    extra = {"event_sign": ev["sign"]} if "event_sign" in _FIELDS else {}

    def take(arr, sel):
        return np.asarray(arr)[sel]

    return replace(
        p,
        transformer_ids=take(p.transformer_ids, idx), limit_kw=take(p.limit_kw, idx),
        rating_kw=take(p.rating_kw, idx), base_load_kw=np.asarray(p.base_load_kw, dtype=float)[idx],
        transformer_feeder=f_local[tf[idx]],
        feeder_ids=take(p.feeder_ids, feeders), feeder_capacity_kw=take(p.feeder_capacity_kw, feeders),
        ev_ids=take(p.ev_ids, evs), ev_transformer=local[p.ev_transformer[evs]],
        ev_energy_kwh=take(p.ev_energy_kwh, evs), ev_max_power_kw=take(p.ev_max_power_kw, evs),
        ev_min_power_kw=take(p.ev_min_power_kw, evs), ev_available=np.asarray(p.ev_available, dtype=bool)[evs],
        **({name: take(getattr(p, name), evs) for name in _V2G_FIELDS} if p.has_v2g else {}),
        station_ids=take(p.station_ids, sts),
        station_transformer=local[np.asarray(p.station_transformer, dtype=np.int64)[sts]],
        pv_kw=None if p.pv_kw is None else np.asarray(p.pv_kw, dtype=float)[sts],
        battery_station=st_local[np.asarray(p.battery_station, dtype=np.int64)[bats]],
        **{name: take(getattr(p, name), bats) for name in _BATTERY_FIELDS},
        event_ids=np.array(ev["ids"], dtype=object),
        event_slots=ev["slots"] if K else None, event_scope=ev["scope"] if K else None,
        event_baseline_kw=ev["baseline"] if K else None, event_reduction_kw=ev["red"],
        event_price_cny_per_kwh=ev["price"], event_penalty_cny_per_kwh=ev["penalty"], **extra,
        sites=None if p.sites is None else p.sites.restrict(local),
        **_demand_inside(p, idx),
        grid_cuts=p.grid_cuts.restricted(evs, p.n_evs) if p.grid_cuts is not None else None,
        phases=p.phases.restricted(idx, evs) if p.phases is not None else None,
    )


def _demand_inside(p: Problem, idx: np.ndarray) -> dict:
    """The demand-charge rows of the block's transformers (a transformer's charge couples nothing)."""
    if np.asarray(p.demand_cny_per_kw_month).shape != (p.n_transformers, len(p.demand_months)):
        return {}
    return dict(demand_cny_per_kw_month=np.asarray(p.demand_cny_per_kw_month, dtype=float)[idx],
                demand_exempt=np.asarray(p.demand_exempt, dtype=bool)[idx],
                demand_so_far_kw=np.asarray(p.demand_so_far_kw, dtype=float)[idx])


def _local_index(p: Problem, transformers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The checked indices, each full transformer's local index (-1 outside) and the inside mask."""
    idx = np.asarray(transformers, dtype=np.int64).ravel()
    if len(np.unique(idx)) != len(idx) or (len(idx) and (idx.min() < 0 or idx.max() >= p.n_transformers)):
        raise ArgumentError("transformers must be distinct indices of the problem's transformers")
    local = np.full(p.n_transformers, -1, dtype=np.int64)
    local[idx] = np.arange(len(idx))
    return idx, local, local >= 0


def _members_inside(p: Problem, inside: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The EVs and stations on inside transformers, the stations' local index and their batteries."""
    evs = np.flatnonzero(inside[p.ev_transformer])
    sts = np.flatnonzero(inside[np.asarray(p.station_transformer, dtype=np.int64)]) if p.n_stations else np.zeros(0, int)
    st_local = np.full(p.n_stations, -1, dtype=np.int64)
    st_local[sts] = np.arange(len(sts))
    bats = (np.flatnonzero(st_local[np.asarray(p.battery_station, dtype=np.int64)] >= 0)
            if p.n_batteries else np.zeros(0, int))
    return evs, sts, st_local, bats


def _feeders_inside(p: Problem, inside: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each transformer's feeder, the feeders wholly inside and their local index (feeder -1 maps to -1)."""
    tf = np.asarray(p.transformer_feeder, dtype=np.int64)
    # feeders with members, all of them inside (counted per feeder, no loop over feeders)
    on_feeder = tf >= 0
    members = np.bincount(tf[on_feeder], minlength=p.n_feeders)
    members_in = np.bincount(tf[on_feeder & inside], minlength=p.n_feeders)
    feeders = np.flatnonzero((members > 0) & (members_in == members))
    f_local = np.full(p.n_feeders + 1, -1, dtype=np.int64)   # last entry maps feeder -1 to -1
    f_local[feeders] = np.arange(len(feeders))
    return tf, feeders, f_local


def _events_inside(p: Problem, inside: np.ndarray, idx: np.ndarray) -> dict:
    """The event arrays of the events whose scope lies wholly inside, restricted to ``idx``."""
    T, n = p.n_slots, len(idx)
    scope = np.asarray(p.event_scope, dtype=bool).reshape(p.n_events, p.n_transformers) if p.n_events else None
    events = (np.flatnonzero(scope.any(axis=1) & ~scope[:, ~inside].any(axis=1)) if p.n_events
              else np.zeros(0, np.int64))
    return {
        "slots": np.asarray(p.event_slots, dtype=bool)[events] if len(events) else np.zeros((0, T), bool),
        "scope": scope[events][:, idx] if len(events) else np.zeros((0, n), bool),
        "baseline": np.asarray(p.event_baseline_kw, dtype=float)[events] if len(events) else np.zeros((0, T)),
        "red": np.asarray(p.event_reduction_kw, dtype=float)[events],
        "sign": event_signs(p)[events],
        "price": np.asarray(p.event_price_cny_per_kwh, dtype=float)[events],
        "penalty": np.asarray(p.event_penalty_cny_per_kwh, dtype=float)[events],
        "ids": list(np.asarray(p.event_ids, dtype=object)[events]),
    }


def _append_caps(p: Problem, idx: np.ndarray, ev: dict, cap_kw: np.ndarray,
                 cap_penalty_cny_per_kwh: float | np.ndarray | None, cap_sign: float | np.ndarray) -> None:
    """Append to ``ev`` (in place) one DR-like event per capped transformer and layer (see :func:`subproblem`)."""
    T, n = p.n_slots, len(idx)
    caps = np.asarray(cap_kw, dtype=float)
    caps = caps.reshape((1, n, T)) if caps.ndim == 2 else caps.reshape((-1, n, T))
    pen = np.broadcast_to(np.asarray(p.overload_penalty_cny_per_kwh if cap_penalty_cny_per_kwh is None
                                     else cap_penalty_cny_per_kwh, dtype=float), (len(caps),))
    c_sign = np.broadcast_to(np.asarray(cap_sign, dtype=float), (len(caps),))
    if np.any(c_sign < 0) and "event_sign" not in _FIELDS:
        raise ArgumentError("floors (cap_sign -1) need a Problem with event_sign")
    finite = np.isfinite(caps)
    ls, ii = np.nonzero(finite.any(axis=2))            # (layer, transformer) pairs with a cap
    if not len(ls):
        return
    ev["slots"] = np.vstack([ev["slots"], finite[ls, ii]])
    cap_scope = np.zeros((len(ls), n), dtype=bool)
    cap_scope[np.arange(len(ls)), ii] = True
    ev["scope"] = np.vstack([ev["scope"], cap_scope])
    ev["baseline"] = np.vstack([ev["baseline"], np.where(finite[ls, ii], caps[ls, ii], 0.0)])
    ev["red"] = np.concatenate([ev["red"], np.zeros(len(ls))])
    ev["sign"] = np.concatenate([ev["sign"], c_sign[ls]])
    ev["price"] = np.concatenate([ev["price"], np.zeros(len(ls))])
    ev["penalty"] = np.concatenate([ev["penalty"], pen[ls]])
    ev["ids"] += [f"cap{l}:{p.transformer_ids[idx[i]]}" for l, i in zip(ls, ii)]


_FIELDS = {f.name for f in fields(Problem)}


@dataclass
class BlockSpec:
    """A block's subproblem not built yet: in-process executors build it inside the task, where it
    overlaps the HiGHS runs of the other workers (built up front it would hold up every worker).
    ``relax``: the LP relaxation's problem (no minimum power, no start-up tie-break)."""

    problem: Problem
    transformers: np.ndarray
    cap_kw: np.ndarray | None = None
    cap_penalty_cny_per_kwh: float | np.ndarray | None = None
    cap_sign: float | np.ndarray = 1.0
    relax: bool = False

    @property
    def n_transformers(self) -> int:
        return len(self.transformers)

    @property
    def n_slots(self) -> int:
        return self.problem.n_slots

    def build(self) -> Problem:
        sub = (subproblem(self.problem, self.transformers) if self.cap_kw is None else
               subproblem(self.problem, self.transformers, cap_kw=self.cap_kw,
                          cap_penalty_cny_per_kwh=self.cap_penalty_cny_per_kwh, cap_sign=self.cap_sign))
        if self.relax:
            sub = sub.relaxation()
        return sub


def built(problem: Problem | BlockSpec) -> Problem:
    """The problem itself, or the subproblem a :class:`BlockSpec` describes."""
    return problem.build() if isinstance(problem, BlockSpec) else problem


def event_signs(p: Problem) -> np.ndarray:
    """[K] +1 peak shaving (``net <= cap``), -1 valley filling (``net >= ...``); +1 where not modelled."""
    return np.asarray(p.event_signs(), dtype=float) if hasattr(p, "event_signs") else np.ones(p.n_events)


_V2G_FIELDS = ("ev_v2g", "ev_max_discharge_kw", "ev_battery_kwh", "ev_soc_arrival_kwh")
_BATTERY_FIELDS = ("battery_capacity_kwh", "battery_max_charge_kw", "battery_max_discharge_kw",
                   "battery_charge_efficiency", "battery_discharge_efficiency", "battery_soc_min_kwh",
                   "battery_soc_max_kwh", "battery_soc_initial_kwh", "battery_soc_final_min_kwh")


def find_blocks(problem: Problem, max_block_evs: int = MAX_BLOCK_EVS) -> list[np.ndarray]:
    """Transformer blocks: each feeder's and event scope's transformers are merged into one block
    (smallest groups first) while the block keeps at most ``max_block_evs`` EVs; groups that would
    make a bigger block stay split and are coordinated. Blocks are ordered by their first transformer.
    """
    p = problem
    N = p.n_transformers
    parent = np.arange(N)
    evs = np.bincount(p.ev_transformer, minlength=N).astype(np.int64)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    tf = np.asarray(p.transformer_feeder, dtype=np.int64)
    groups = [np.flatnonzero(tf == f) for f in range(p.n_feeders)]
    if p.n_events:
        groups += [np.flatnonzero(row) for row in np.asarray(p.event_scope, dtype=bool)]
    size = [int(evs[g].sum()) for g in groups]
    for g in sorted(range(len(groups)), key=lambda i: (size[i], i)):
        roots = sorted({root(int(n)) for n in groups[g]})
        if len(roots) > 1 and sum(evs[r] for r in roots) <= max_block_evs:
            for r in roots[1:]:
                parent[r] = roots[0]
                evs[roots[0]] += evs[r]
    labels = np.array([root(n) for n in range(N)])
    _, first = np.unique(labels, return_index=True)
    return [np.flatnonzero(labels == labels[i]) for i in np.sort(first)]


def with_evs(p: Problem, keep: np.ndarray) -> Problem:
    """``p`` with only the EVs ``keep`` (bool [E] or indices), e.g. without those that have left."""
    sel = np.flatnonzero(keep) if np.asarray(keep).dtype == bool else np.asarray(keep, dtype=np.int64)
    return replace(p, ev_ids=np.asarray(p.ev_ids)[sel], ev_transformer=np.asarray(p.ev_transformer)[sel],
                   ev_energy_kwh=np.asarray(p.ev_energy_kwh)[sel], ev_max_power_kw=np.asarray(p.ev_max_power_kw)[sel],
                   ev_min_power_kw=np.asarray(p.ev_min_power_kw)[sel], ev_available=np.asarray(p.ev_available)[sel],
                   **({name: np.asarray(getattr(p, name))[sel] for name in _V2G_FIELDS} if p.has_v2g else {}),
                   grid_cuts=p.grid_cuts.restricted(sel, p.n_evs) if p.grid_cuts is not None else None,
                   phases=None if p.phases is None else replace(p.phases, ev_share=np.asarray(p.phases.ev_share)[sel]))
