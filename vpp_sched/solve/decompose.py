"""Decomposition of large days by transformer blocks: sub-problems, merging, and the decomposed solve.

Transformers interact only through feeder limits (``feeder_limit``) and DR event caps
(``dr_event_cap``). :func:`find_blocks` groups transformers into blocks: each coupling group
(a feeder's transformers, an event's scope) is merged into one block while the block stays
small (``max_block_evs``); the groups that still span several blocks (a portfolio event, a
long feeder) are *coordinated* by :mod:`vpp_sched.solve.coordination`:

1. **Prices.** Dantzig-Wolfe column generation on the coordinated rows: each round solves
   every block's LP relaxation with the row prices ``λ >= 0`` added to its net-load costs
   (in parallel, warm-started from the block's previous basis); a small master LP over
   convex combinations of the blocks' proposals gives the next prices. Every round gives a
   valid Lagrangian lower bound ``L(λ)`` of the whole day.
2. **Shares.** The master's last plan gives each transformer a share of every coordinated
   row it is on: its planned net load, shifted by the row's unused room (or the slack the
   plan needs) split by transformer limit, so a row's shares sum to its right-hand side.
3. **Blocks.** Each block is planned by :func:`~vpp_sched.solve.lp_rounding.solve_lp_guided` with its
   shares as soft caps (:func:`subproblem` ``cap_kw``); if the merged plan is not within
   ``mip_rel_gap``, the blocks whose own gap is widest get the time left for another try.
   A block exceeding a share pays the row's penalty; the merged plan reports the real feeder
   overload and event shortfall recomputed from the merged net loads
   (:func:`merge_solutions`), so nothing is hidden.

The bound reported is the best Lagrangian bound (plus, for blocks touching no coordinated
row, their own MILP bounds); ``mip_gap`` is measured against it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields, replace

import numpy as np

from vpp_sched.scenario.config import SolverOptions
from vpp_sched.problem.arrays import Problem
from vpp_sched.solve.solution import Solution, SolveStatus, relative_gap

#: Largest block (in EVs) that a feeder or event group is merged into; bigger groups are coordinated.
MAX_BLOCK_EVS = 2000
_BIN_TOL = 1e-6


# ------------------------------------------------------------------------------------------
# sub-problems and merging
# ------------------------------------------------------------------------------------------
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
    idx = np.asarray(transformers, dtype=np.int64).ravel()
    if len(np.unique(idx)) != len(idx) or (len(idx) and (idx.min() < 0 or idx.max() >= p.n_transformers)):
        raise ValueError("transformers must be distinct indices of the problem's transformers")
    T, n = p.n_slots, len(idx)
    local = np.full(p.n_transformers, -1, dtype=np.int64)
    local[idx] = np.arange(n)
    inside = local >= 0

    evs = np.flatnonzero(inside[p.ev_transformer])
    sts = np.flatnonzero(inside[np.asarray(p.station_transformer, dtype=np.int64)]) if p.n_stations else np.zeros(0, int)
    st_local = np.full(p.n_stations, -1, dtype=np.int64)
    st_local[sts] = np.arange(len(sts))
    bats = (np.flatnonzero(st_local[np.asarray(p.battery_station, dtype=np.int64)] >= 0)
            if p.n_batteries else np.zeros(0, int))

    tf = np.asarray(p.transformer_feeder, dtype=np.int64)
    # feeders with members, all of them inside (counted per feeder, no loop over feeders)
    on_feeder = tf >= 0
    members = np.bincount(tf[on_feeder], minlength=p.n_feeders)
    members_in = np.bincount(tf[on_feeder & inside], minlength=p.n_feeders)
    feeders = np.flatnonzero((members > 0) & (members_in == members))
    f_local = np.full(p.n_feeders + 1, -1, dtype=np.int64)   # last entry maps feeder -1 to -1
    f_local[feeders] = np.arange(len(feeders))
    scope = np.asarray(p.event_scope, dtype=bool).reshape(p.n_events, p.n_transformers) if p.n_events else None
    events = (np.flatnonzero(scope.any(axis=1) & ~scope[:, ~inside].any(axis=1)) if p.n_events
              else np.zeros(0, np.int64))

    ev_slots = np.asarray(p.event_slots, dtype=bool)[events] if len(events) else np.zeros((0, T), bool)
    ev_scope = scope[events][:, idx] if len(events) else np.zeros((0, n), bool)
    baseline = np.asarray(p.event_baseline_kw, dtype=float)[events] if len(events) else np.zeros((0, T))
    red = np.asarray(p.event_reduction_kw, dtype=float)[events]
    sign = event_signs(p)[events]
    price = np.asarray(p.event_price_cny_per_kwh, dtype=float)[events]
    penalty = np.asarray(p.event_penalty_cny_per_kwh, dtype=float)[events]
    ids = list(np.asarray(p.event_ids, dtype=object)[events])

    if cap_kw is not None:
        caps = np.asarray(cap_kw, dtype=float)
        caps = caps.reshape((1, n, T)) if caps.ndim == 2 else caps.reshape((-1, n, T))
        pen = np.broadcast_to(np.asarray(p.overload_penalty_cny_per_kwh if cap_penalty_cny_per_kwh is None
                                         else cap_penalty_cny_per_kwh, dtype=float), (len(caps),))
        c_sign = np.broadcast_to(np.asarray(cap_sign, dtype=float), (len(caps),))
        if np.any(c_sign < 0) and "event_sign" not in _FIELDS:
            raise ValueError("floors (cap_sign -1) need a Problem with event_sign")
        finite = np.isfinite(caps)
        ls, ii = np.nonzero(finite.any(axis=2))            # (layer, transformer) pairs with a cap
        if len(ls):
            ev_slots = np.vstack([ev_slots, finite[ls, ii]])
            cap_scope = np.zeros((len(ls), n), dtype=bool)
            cap_scope[np.arange(len(ls)), ii] = True
            ev_scope = np.vstack([ev_scope, cap_scope])
            baseline = np.vstack([baseline, np.where(finite[ls, ii], caps[ls, ii], 0.0)])
            red = np.concatenate([red, np.zeros(len(ls))])
            sign = np.concatenate([sign, c_sign[ls]])
            price = np.concatenate([price, np.zeros(len(ls))])
            penalty = np.concatenate([penalty, pen[ls]])
            ids += [f"cap{l}:{p.transformer_ids[idx[i]]}" for l, i in zip(ls, ii)]
    K = len(ids)
    extra = {"event_sign": sign} if "event_sign" in _FIELDS else {}

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
        event_ids=np.array(ids, dtype=object),
        event_slots=ev_slots if K else None, event_scope=ev_scope if K else None,
        event_baseline_kw=baseline if K else None, event_reduction_kw=red,
        event_price_cny_per_kwh=price, event_penalty_cny_per_kwh=penalty, **extra,
    )


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


def merge_solutions(problem: Problem, parts: list[tuple[np.ndarray, Solution]]) -> Solution:
    """Full-size Solution from sub-solutions ``(transformer indices, Solution of their subproblem)``.

    Per-EV, station, battery and transformer arrays are copied back; feeder overload and event
    shortfall are recomputed from the merged net loads for *every* feeder and event (the real
    coupled constraints, not the caps of the parts), and ``objective_cny`` is the full model's
    objective of the merged plan (:func:`plan_objective`). Status: the worst of the parts';
    bound and gap are left to the caller.
    """
    p = problem
    T = p.n_slots
    out = Solution(status=SolveStatus.OPTIMAL,
                   ev_power_kw=np.zeros((p.n_evs, T)), ev_unmet_kwh=np.zeros(p.n_evs),
                   pv_curtail_kw=np.zeros((p.n_stations, T)), battery_charge_kw=np.zeros((p.n_batteries, T)),
                   battery_discharge_kw=np.zeros((p.n_batteries, T)), battery_soc_kwh=np.zeros((p.n_batteries, T)),
                   net_load_kw=np.zeros((p.n_transformers, T)), overload_kw=np.zeros((p.n_transformers, T)))
    if p.has_v2g:
        out.ev_discharge_kw, out.ev_soc_kwh = np.zeros((p.n_evs, T)), np.zeros((p.n_evs, T))
    covered = np.zeros(p.n_transformers, dtype=int)
    st_n = np.asarray(p.station_transformer, dtype=np.int64)
    bat_n = st_n[np.asarray(p.battery_station, dtype=np.int64)] if p.n_batteries else np.zeros(0, np.int64)
    # each part's EVs in the full problem's order, grouped once (not one scan of all EVs per part)
    part_of = np.full(p.n_transformers, len(parts), dtype=np.int64)
    for k, (idx, _) in enumerate(parts):
        part_of[np.asarray(idx, dtype=np.int64).ravel()] = k
    ev_part = part_of[p.ev_transformer]
    ev_groups = np.split(np.argsort(ev_part, kind="stable"), np.cumsum(np.bincount(ev_part, minlength=len(parts) + 1)))
    for k, (idx, sol) in enumerate(parts):
        idx = np.asarray(idx, dtype=np.int64).ravel()
        if not sol.status.has_plan:
            out.status = sol.status
            return out
        if _RANK.get(sol.status, 0) > _RANK.get(out.status, 0):
            out.status = sol.status
        covered[idx] += 1
        inside = np.zeros(p.n_transformers, dtype=bool)
        inside[idx] = True
        evs = ev_groups[k]
        out.ev_power_kw[evs] = sol.ev_power_kw
        out.ev_unmet_kwh[evs] = sol.ev_unmet_kwh
        if sol.ev_discharge_kw is not None:
            out.ev_discharge_kw[evs] = sol.ev_discharge_kw
            out.ev_soc_kwh[evs] = sol.ev_soc_kwh
        sts = np.flatnonzero(inside[st_n])
        out.pv_curtail_kw[sts] = sol.pv_curtail_kw
        bats = np.flatnonzero(inside[bat_n])
        out.battery_charge_kw[bats] = sol.battery_charge_kw
        out.battery_discharge_kw[bats] = sol.battery_discharge_kw
        out.battery_soc_kwh[bats] = sol.battery_soc_kwh
        out.net_load_kw[idx] = sol.net_load_kw
        out.overload_kw[idx] = sol.overload_kw
    if np.any(covered != 1):
        raise ValueError("the parts must cover every transformer exactly once")
    out.feeder_overload_kw, out.dr_shortfall_kw = coupled_slack_kw(p, out.net_load_kw)
    out.objective_cny = plan_objective(p, out)
    return out


_RANK = {SolveStatus.OPTIMAL: 0, SolveStatus.FEASIBLE: 1, SolveStatus.TIME_LIMIT: 2}


def coupled_slack_kw(p: Problem, net_load_kw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Feeder overload [F, T] and event shortfall [K, T] that net loads [N, T] need [kW]."""
    load = np.zeros((p.n_feeders, p.n_slots))
    tf = np.asarray(p.transformer_feeder, dtype=np.int64)
    np.add.at(load, tf[tf >= 0], net_load_kw[tf >= 0])
    fover = np.clip(load - np.asarray(p.feeder_capacity_kw, dtype=float)[:, None], 0.0, None)
    short = np.zeros((p.n_events, p.n_slots))
    if p.n_events:
        scope_load = np.asarray(p.event_scope, dtype=float) @ net_load_kw
        short = (np.clip(event_signs(p)[:, None] * scope_load - p.event_cap_kw, 0.0, None)
                 * np.asarray(p.event_slots, dtype=bool))
    return _clean(fover), _clean(short)


def _clean(a: np.ndarray) -> np.ndarray:
    a[np.abs(a) < 1e-9] = 0.0
    return a


def plan_objective(p: Problem, s: Solution) -> float:
    """The model objective (``models/day_ahead.md``, without the constant compensation) of a plan [CNY]."""
    dt = p.dt_h
    cost = float(np.sum(np.clip(s.net_load_kw, 0.0, None) * p.price_cny_per_kwh[None, :])) * dt
    cost += p.unmet_penalty_cny_per_kwh * float(s.ev_unmet_kwh.sum())
    cost += p.overload_penalty_cny_per_kwh * dt * float(s.overload_kw.sum() + s.feeder_overload_kw.sum())
    if p.n_events:
        pi = np.asarray(p.event_penalty_cny_per_kwh, float) + np.asarray(p.event_price_cny_per_kwh, float)
        cost += dt * float(pi @ s.dr_shortfall_kw.sum(axis=1))
    cost += p.early_charging_cny_per_kwh * dt * float(s.ev_power_kw.sum(axis=0) @ p.slot_weight())
    if s.ev_discharge_kw is not None:
        cost += p.v2g_degradation_cny_per_kwh * dt * float(s.ev_discharge_kw.sum())
    if p.has_ramp:
        ev_net = s.ev_power_kw if s.ev_discharge_kw is None else s.ev_power_kw - s.ev_discharge_kw
        ev_at = np.zeros((p.n_transformers, p.n_slots))
        np.add.at(ev_at, p.ev_transformer, ev_net)
        cost += p.ramp_penalty_cny_per_kw * float(p.max_rise_kw(ev_at).sum())
    binary = p.ev_binary
    if binary.any() and p.switch_on_cny:
        on = s.ev_power_kw[binary] > _BIN_TOL
        avail = np.asarray(p.ev_available, dtype=bool)[binary]
        before = np.zeros_like(on)
        before[:, 1:] = on[:, :-1] & avail[:, :-1]
        cost += p.switch_on_cny * float(np.count_nonzero(on & ~before))
    return cost


# ------------------------------------------------------------------------------------------
# blocks
# ------------------------------------------------------------------------------------------
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


# ------------------------------------------------------------------------------------------
# the decomposed solve
# ------------------------------------------------------------------------------------------
def solve_blocks(tasks: list[tuple[int, Problem, SolverOptions]]) -> list[tuple[int, Solution]]:
    """Plan a chunk of blocks with LP-guided rounding (one executor task)."""
    from vpp_sched.solve.lp_rounding import solve_lp_guided
    from vpp_sched.solve.dispatch import quiet_highs_banner

    quiet_highs_banner()
    out = []
    for block, sub, options in tasks:
        sol = solve_lp_guided(built(sub), options)
        sol.col_values = None          # not needed, and large to send back
        out.append((block, sol))
    return out


def solve_decomposed(problem: Problem, options: SolverOptions, *, executor=None,
                     max_block_evs: int = MAX_BLOCK_EVS, max_rounds: int = 30,
                     coordination_share: float = 0.5) -> Solution:
    """Plan the day block by block (module docstring); ``executor`` from
    :func:`vpp_sched.solve.parallel.get_executor` (default: in-process, serial).

    Coordination stops when the master is within ``mip_rel_gap / 4`` of the Lagrangian bound,
    after ``max_rounds`` rounds, or before a round that would end after ``coordination_share`` of
    ``time_limit_s`` or eat into the time the blocks' planning needs (estimated from the first
    round, :data:`~vpp_sched.solve.coordination.ROUNDING_PER_FIRST_ROUND`). The blocks
    are then planned with an equal share of the time left each (at least 5 s); if the merged
    plan is not within ``mip_rel_gap`` of the bound, the blocks whose own gap is wider are
    planned again with all the time left (their better plans kept). Results do not depend on the
    executor as long as no block's solve is cut by its time limit.
    """
    from vpp_sched.solve.coordination import coordinate, coupling_rows
    from vpp_sched.model.lean import LP_PRESOLVE_MIN_COLS, highs_options
    from vpp_sched.solve.parallel import SerialExecutor, batches

    start = time.perf_counter()
    executor = executor or SerialExecutor()
    p = problem
    blocks = find_blocks(p, max_block_evs)
    block_of = np.empty(p.n_transformers, dtype=np.int64)
    for j, idx in enumerate(blocks):
        block_of[idx] = j
    weight = np.bincount(block_of[p.ev_transformer], minlength=len(blocks)).astype(float)
    n_tasks = 3 * executor.workers
    coupling = coupling_rows(p, block_of)
    touched = np.zeros(len(blocks), dtype=bool)
    touched[block_of[coupling.member.indices]] = True
    coupled = np.flatnonzero(touched)
    seconds = {"partition_s": time.perf_counter() - start}

    # 1. prices and shares
    mark = time.perf_counter()
    coord = coordinate(p, blocks, coupling, coupled, executor, options.mip_rel_gap / 4,
                       start + coordination_share * options.time_limit_s, max_rounds,
                       lambda items: batches(items, weight, n_tasks),
                       start_price=1e-4 * float(np.max(p.price_cny_per_kwh, initial=0.0)) * p.dt_h,
                       end=start + options.time_limit_s)
    seconds["coordination_s"] = time.perf_counter() - mark

    # 2. blocks under their shares: LP rounding, then branch and bound where the gap asks for it
    subs = [BlockSpec(p, idx, cap_kw=coord.shares[:, idx], cap_penalty_cny_per_kwh=coupling.layer_penalty,
                      cap_sign=coupling.layer_sign) if touched[j] else BlockSpec(p, idx)
            for j, idx in enumerate(blocks)]
    if not getattr(executor, "in_process", False):    # tasks travel: send the subproblems, not the day
        subs = [spec.build() for spec in subs]

    def run(which: list[int], opts: SolverOptions) -> dict[int, Solution]:
        work = [[(j, subs[j], opts) for j in c] for c in batches(which, weight, n_tasks)]
        return dict(r for chunk in executor.map(solve_blocks, work) for r in chunk)

    def left() -> float:
        return options.time_limit_s - (time.perf_counter() - start)

    mark = time.perf_counter()
    everything = list(range(len(blocks)))
    per_block = max(left() * min(1.0, executor.workers / len(blocks)), 5.0)
    solved = run(everything, options.model_copy(update={"time_limit_s": per_block}))
    missing = [j for j in everything if not solved[j].status.has_plan]
    if missing and left() > 0:     # a block that needed more than its share of the time: all that is left
        solved.update(run(missing, options.model_copy(update={"time_limit_s": max(left(), 1.0)})))
    out = _assemble(p, blocks, solved, touched, coord.bound)
    seconds["rounding_s"] = time.perf_counter() - mark
    redo = sorted((j for j in everything if solved[j].mip_gap > options.mip_rel_gap),
                  key=lambda j: (-(solved[j].objective_cny - solved[j].bound_cny), j))
    improved = 0
    if out.status.has_plan and out.mip_gap > options.mip_rel_gap and redo and left() > 2.0:
        mark = time.perf_counter()
        per_block = max(0.9 * left() * min(1.0, executor.workers / len(redo)), 1.0)
        for j, sol in run(redo, options.model_copy(update={"time_limit_s": per_block})).items():
            if sol.status.has_plan and sol.objective_cny < solved[j].objective_cny - 1e-9:
                solved[j], improved = sol, improved + 1
        out = _assemble(p, blocks, solved, touched, coord.bound)
        seconds["branch_and_bound_s"] = time.perf_counter() - mark
    if not out.status.has_plan:
        return out
    total = time.perf_counter() - start
    timed_out = total >= 0.98 * options.time_limit_s or coord.stopped_by_deadline
    out.status = (SolveStatus.OPTIMAL if out.mip_gap <= options.mip_rel_gap + 1e-12 else
                  SolveStatus.TIME_LIMIT if timed_out else SolveStatus.FEASIBLE)
    out.build_seconds = seconds["partition_s"]
    out.solve_seconds = total - out.build_seconds
    names = {"feeder": p.feeder_ids, "event": p.event_ids}
    out.solver = {
        "name": "highs", "version": next(iter(solved.values())).solver.get("version"), "strategy": "decomposed",
        "options": highs_options(options), "lp_presolve_off_below_cols": LP_PRESOLVE_MIN_COLS, "executor": getattr(executor, "name", type(executor).__name__),
        "workers": executor.workers, "n_blocks": len(blocks), "n_coupled_blocks": int(len(coupled)),
        "max_block_evs": max_block_evs, "coordinated": [f"{kind}:{names[kind][i]}" for kind, i in coupling.groups],
        "n_coordinated_rows": coupling.n_rows, "rounds": coord.rounds,
        "lagrangian_bound_cny": float(coord.bound) if len(coupled) else None,
        "master_cny": float(coord.master_value) if len(coupled) else None, "round_history": coord.history,
        "block_lp_seconds": coord.lp_seconds, "warm_start_failures": coord.warm_start_failures,
        "blocks_branch_and_bound": len(redo) if "branch_and_bound_s" in seconds else 0,
        "blocks_improved": improved, "seconds": dict(seconds, total_s=total),
    }
    return out


def _assemble(p: Problem, blocks: list[np.ndarray], solved: dict[int, Solution], touched: np.ndarray,
              coupled_bound: float) -> Solution:
    """Merged plan with its bound: the Lagrangian bound of the coupled blocks plus the others' own bounds."""
    out = merge_solutions(p, [(idx, solved[j]) for j, idx in enumerate(blocks)])
    if out.status.has_plan:
        free = sum(solved[j].bound_cny if np.isfinite(solved[j].bound_cny) else -np.inf
                   for j in range(len(blocks)) if not touched[j])
        out.bound_cny = float(free + (coupled_bound if touched.any() else 0.0))
        out.mip_gap = relative_gap(out.objective_cny, out.bound_cny)
    return out
