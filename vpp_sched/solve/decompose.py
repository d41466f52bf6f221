"""Decomposition of large days by transformer blocks: merging, and the decomposed solve.

The blocks themselves (:func:`~vpp_sched.problem.blocks.subproblem`,
:func:`~vpp_sched.problem.blocks.find_blocks`) are problem-level, in :mod:`vpp_sched.problem.blocks`.

Transformers interact only through feeder limits (``feeder_limit``) and DR event caps
(``dr_event_cap``). :func:`~vpp_sched.problem.blocks.find_blocks` groups transformers into blocks: each coupling group
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
   shares as soft caps (:func:`~vpp_sched.problem.blocks.subproblem` ``cap_kw``); if the merged plan is not within
   ``mip_rel_gap``, the blocks whose own gap is widest get the time left for another try.
   A block exceeding a share pays the row's penalty; the merged plan reports the real feeder
   overload and event shortfall recomputed from the merged net loads
   (:func:`merge_solutions`), so nothing is hidden.
4. **Events kept.** Where the merged plan falls short of a coordinated event, the blocks over their
   shares there, and the block with the most load in the row besides, are planned again with those
   shares lowered (:func:`_meet_events`): a charger rounded on at ``pmin`` can push a block over a
   share its relaxation kept.

The bound reported is the best Lagrangian bound (plus, for blocks touching no coordinated
row, their own MILP bounds); ``mip_gap`` is measured against it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from vpp_sched.errors import ArgumentError
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.problem.phases import phase_objective_cny
from vpp_sched.problem.demand import demand_charge_cny
from vpp_sched.problem.arrays import Problem
from vpp_sched.problem.blocks import MAX_BLOCK_EVS, BlockSpec, built, event_signs, find_blocks
from vpp_sched.solve.coordination import Coordination, Coupling, coordinate, coupling_rows, ramp_bound
from vpp_sched.solve.budget import Deadline
from vpp_sched.solve.highs import LP_PRESOLVE_MIN_COLS, highs_options, quiet_highs_banner
from vpp_sched.solve.lp_rounding import solve_lp_guided
from vpp_sched.solve.parallel import SerialExecutor, batches
from vpp_sched.solve import sites as solve_sites
from vpp_sched.solve.solution import Solution, SolveStatus, relative_gap

_BIN_TOL = 1e-6
#: Coordination stops once the master is within this share of ``mip_rel_gap`` of the best bound,
#: ``(master − best L(λ)) / master <= COORDINATION_GAP_SHARE · mip_rel_gap``; the rest of the gap is
#: the blocks' room: their on/off rounding under the shares adds to the master's value (100,000-EV
#: DR + min-power day: +0.11 % of the day's cost; the 10k-EV binding event: +0.19 %). The rounds
#: are work, so the stop is too (not the clock). Was 1/4: on the 100k day the master was within
#: 0.19 % after 2 rounds and 2 more (~7 s of 40) took it to 0.12 % for a plan at 0.23 % of 0.5 %.
COORDINATION_GAP_SHARE = 0.5


# ------------------------------------------------------------------------------------------
# merging
# ------------------------------------------------------------------------------------------
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
        solve_sites.merge(p, out, inside, sol)
        out.overload_kw[idx] = sol.overload_kw
    if np.any(covered != 1):
        raise ArgumentError("the parts must cover every transformer exactly once")
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
    cost += demand_charge_cny(p, s.net_load_kw)     # price x new monthly peak (0 without a demand charge)
    binary = p.ev_binary
    if binary.any() and p.switch_on_cny:
        on = s.ev_power_kw[binary] > _BIN_TOL
        avail = np.asarray(p.ev_available, dtype=bool)[binary]
        before = np.zeros_like(on)
        before[:, 1:] = on[:, :-1] & avail[:, :-1]
        cost += p.switch_on_cny * float(np.count_nonzero(on & ~before))
    if p.phases is not None:   # per-phase overload and unbalance slack the plan needs (models/lv_grid.md)
        ev_net = s.ev_power_kw if s.ev_discharge_kw is None else s.ev_power_kw - s.ev_discharge_kw
        cost += phase_objective_cny(p, ev_net, s.net_load_kw)
    return cost + solve_sites.objective_cny(p, s)


# ------------------------------------------------------------------------------------------
# the decomposed solve
# ------------------------------------------------------------------------------------------
def solve_blocks(tasks: list[tuple[int, Problem, SolverOptions, float]]) -> list[tuple[int, Solution, float]]:
    """Plan a chunk of blocks with LP-guided rounding (one executor task), each within its
    ``seconds`` from when it starts (a duration: tasks may travel to other processes): the block,
    its plan and the CPU seconds of this thread it took (the per-block cost a cluster would spread)."""
    quiet_highs_banner()
    out = []
    for block, sub, options, seconds in tasks:
        cpu = time.thread_time()
        sol = solve_lp_guided(built(sub), options, deadline=Deadline(options.time_limit_s).sub(seconds))
        sol.col_values = None          # not needed, and large to send back
        out.append((block, sol, time.thread_time() - cpu))
    return out


def cost_summary(cpu_s: list[float]) -> dict:
    """Count, total, mean, median, 95th percentile and largest of per-block CPU seconds [s]."""
    a = np.asarray(cpu_s, dtype=float)
    if not a.size:
        return {"n": 0}
    return {"n": int(a.size), "total_s": float(a.sum()), "mean_s": float(a.mean()),
            "p50_s": float(np.percentile(a, 50)), "p95_s": float(np.percentile(a, 95)), "max_s": float(a.max())}


def solve_decomposed(problem: Problem, options: SolverOptions, *, executor=None,
                     max_block_evs: int = MAX_BLOCK_EVS, max_rounds: int = 30,
                     coordination_share: float = 0.5, deadline: Deadline | None = None) -> Solution:
    """Plan the day block by block (module docstring); ``executor`` from
    :func:`vpp_sched.solve.parallel.get_executor` (default: in-process, serial).

    Coordination stops when the master is within ``COORDINATION_GAP_SHARE · mip_rel_gap`` of the
    Lagrangian bound, after ``max_rounds`` rounds, or before a round that would end after
    ``coordination_share`` of the time left (of ``deadline``; default ``time_limit_s`` from now) or eat into the time the
    blocks' planning needs (estimated from the first round,
    :data:`~vpp_sched.solve.coordination.ROUNDING_PER_FIRST_ROUND`). The blocks are then planned
    with an equal share of the time left each (at least 5 s, never past the deadline); if the merged
    plan is not within ``mip_rel_gap`` of the bound, the blocks whose own gap is wider are
    planned again with all the time left (their better plans kept). Results do not depend on the
    executor as long as the clock cuts nothing; any cut (coordination stopped early, a block stopped
    in its share, branch and bound skipped) makes the status ``time_limit`` (solve/budget.py).
    """
    start = time.perf_counter()
    budget = Deadline.of(options.time_limit_s, deadline)
    executor = executor or SerialExecutor()
    p = problem
    part = _partition(p, max_block_evs, executor)
    seconds = {"partition_s": time.perf_counter() - start}

    # 1. prices and shares
    mark = time.perf_counter()
    coord = coordinate(p, part.blocks, part.coupling, part.coupled, executor,
                       COORDINATION_GAP_SHARE * options.mip_rel_gap,
                       budget.sub(fraction=coordination_share).end, max_rounds,
                       lambda items: batches(items, part.weight, part.n_tasks),
                       start_price=1e-4 * float(np.max(p.price_cny_per_kwh, initial=0.0)) * p.dt_h,
                       end=budget.end)
    seconds["coordination_s"] = time.perf_counter() - mark

    # 2. blocks under their shares: LP rounding, then branch and bound where the gap asks for it
    run = _block_runner(p, part, coord, options, executor)
    mark = time.perf_counter()
    solved, out = _round_blocks(p, part, coord, run, budget, executor)
    if coord.ramp_lam is not None and out.status.has_plan and out.mip_gap > options.mip_rel_gap:
        # The rounds' bound left the ramp out; pricing it stops once the plan is within its gap, as
        # the plan reports it (with the DR compensation, a constant the solve leaves out).
        reported = abs(out.objective_cny - p.dr_compensation_cny())
        enough = coord.bound + out.objective_cny - options.mip_rel_gap * (1 - 1e-6) * reported - out.bound_cny
        ramp_bound(p, part.blocks, part.coupling, part.coupled, executor,
                   lambda items: batches(items, part.weight, part.n_tasks), coord, enough)
        out = _assemble(p, part.blocks, solved, part.touched, coord.bound)
    seconds["rounding_s"] = time.perf_counter() - mark
    out, redo, improved, out_of_time = _branch_and_bound(p, part, coord, run, budget, executor, options,
                                                         solved, out, seconds)
    if not out.status.has_plan:
        return out
    mark = time.perf_counter()
    out, n_event_retry = _meet_events(p, part, coord, options, executor, budget, solved, out)
    if n_event_retry:
        seconds["event_retry_s"] = time.perf_counter() - mark
    total = time.perf_counter() - start
    # The clock had a hand in the plan (coordination or a block stopped, branch and bound skipped):
    # it may differ on another run, and says so whatever its gap (solve/budget.py).
    timed_out = budget.was_cut or coord.stopped_by_deadline or out_of_time
    out.status = (SolveStatus.TIME_LIMIT if timed_out else
                  SolveStatus.OPTIMAL if out.mip_gap <= options.mip_rel_gap + 1e-12 else SolveStatus.FEASIBLE)
    out.build_seconds = seconds["partition_s"]
    out.solve_seconds = total - out.build_seconds
    out.solver = _solver_info(p, part, coord, options, executor, solved, max_block_evs,
                              n_redone=len(redo) if "branch_and_bound_s" in seconds else 0,
                              improved=improved, seconds=dict(seconds, total_s=total))
    out.solver["blocks_event_retry"] = n_event_retry
    out.solver["block_cpu_s"] = {"rounding": cost_summary(run.cpu_s[0]),
                                 "later": cost_summary([c for later in run.cpu_s[1:] for c in later])}
    return out


@dataclass
class _Partition:
    """The blocks of a decomposed solve and what couples them."""
    blocks: list[np.ndarray]
    weight: np.ndarray        # EVs per block, to balance the executor's tasks
    coupling: Coupling
    touched: np.ndarray       # [blocks] bool: the block has a coordinated row
    coupled: np.ndarray       # indices of the touched blocks
    n_tasks: int


def _partition(p: Problem, max_block_evs: int, executor) -> _Partition:
    blocks = find_blocks(p, max_block_evs)
    block_of = np.empty(p.n_transformers, dtype=np.int64)
    for j, idx in enumerate(blocks):
        block_of[idx] = j
    weight = np.bincount(block_of[p.ev_transformer], minlength=len(blocks)).astype(float)
    coupling = coupling_rows(p, block_of)
    touched = np.zeros(len(blocks), dtype=bool)
    touched[block_of[coupling.member.indices]] = True
    return _Partition(blocks, weight, coupling, touched, np.flatnonzero(touched), 3 * executor.workers)


def _block_runner(p: Problem, part: _Partition, coord: Coordination, options: SolverOptions, executor,
                  only: list[int] | None = None):
    """A function planning the given blocks under their shares, each within the given seconds; with
    ``only``, it can plan just those blocks (the event retry's: the others' subproblems are not built)."""
    chosen = range(len(part.blocks)) if only is None else only
    subs = {j: BlockSpec(p, part.blocks[j], cap_kw=coord.shares[:, part.blocks[j]],
                         cap_penalty_cny_per_kwh=part.coupling.layer_penalty, cap_sign=part.coupling.layer_sign)
            if part.touched[j] else BlockSpec(p, part.blocks[j]) for j in chosen}
    if not getattr(executor, "in_process", False):    # tasks travel: send the subproblems, not the day
        subs = {j: spec.build() for j, spec in subs.items()}

    def run(which: list[int], seconds: float) -> dict[int, Solution]:
        work = [[(j, subs[j], options, seconds) for j in c] for c in batches(which, part.weight, part.n_tasks)]
        done = [r for chunk in executor.map(solve_blocks, work) for r in chunk]
        run.cpu_s.append([cpu for _, _, cpu in done])
        return {j: sol for j, sol, _ in done}
    run.cpu_s = []       # per call (rounding, a retry, branch and bound): each block's CPU seconds
    return run


#: Rounds of :func:`_meet_events` at most (each plans only the blocks still over their shares).
EVENT_RETRY_ROUNDS = 3


def _meet_events(p: Problem, part: _Partition, coord: Coordination, options: SolverOptions, executor,
                 budget: Deadline, solved: dict[int, Solution], out: Solution) -> tuple[Solution, int]:
    """Where the merged plan falls short of a coordinated event, the blocks over their shares there
    planned again with those shares lowered by what they exceeded them by plus one charger's ``pmin``
    (the largest), and a helper block with its shares lowered by the shortfall
    (:func:`_over_short_events`): the rounding's on/off steps (a charger on at ``pmin``) push a block
    over a share its relaxation kept, and paying the row's price is then cheaper than serving an EV
    less (10k-EV day, event at twice the generator's target: 3.4 kW over a 25,000 kW cap in one slot,
    from 3 blocks; planned again with a helper, 0).
    A round is kept when the shortfall falls and the plan stays within its gap (or no wider than
    before); at most ``EVENT_RETRY_ROUNDS``. Also the number of block plans made."""
    binary = p.ev_binary
    margin_kw = float(p.ev_min_power_kw[binary].max()) if binary.any() else 0.0
    cut = np.zeros_like(coord.shares)
    planned = 0
    for _ in range(EVENT_RETRY_ROUNDS):
        over, excess, help_ = _over_short_events(p, part, coord.shares - cut, out)
        if not over or _left(budget) <= 0:
            break
        cut = cut + excess + np.sign(excess) * margin_kw + help_
        retry = _block_runner(p, part, replace(coord, shares=coord.shares - cut), options, executor, only=over)
        per_block = max(0.9 * _left(budget) * min(1.0, executor.workers / len(over)), 1.0)
        again = {j: sol for j, sol in retry(over, per_block).items() if sol.status.has_plan}
        planned += len(over)
        if any(sol.status is SolveStatus.TIME_LIMIT for sol in again.values()):
            budget.cut("block event retry")
        trial = _assemble(p, part.blocks, {**solved, **again}, part.touched, coord.bound)
        if not (trial.status.has_plan and trial.dr_shortfall_kw.sum() < out.dr_shortfall_kw.sum() - 1e-9
                and trial.mip_gap <= max(options.mip_rel_gap, out.mip_gap) + 1e-12):
            break      # no better: lower caps on the same blocks rarely help (the rest is forced there)
        solved.update(again)
        out = trial
    return out, planned


def _over_short_events(p: Problem, part: _Partition, shares: np.ndarray,
                       out: Solution) -> tuple[list[int], np.ndarray, np.ndarray]:
    """For the coordinated event rows the merged plan is short on: the blocks to plan again, how much
    each transformer exceeds its share (``shares`` [L, N, T]) there, and how much a helper block's
    transformers give up (both [L, N, T] in the shares' sign: a cap lowered by a positive amount, a
    floor raised by a negative one; 0 elsewhere). The helper is the block, of those not over their
    shares in the row, with the largest load in it: a block over its share may not be able to go
    lower (an EV whose stay lies in the event needs its slots), so the row's shortfall plus one
    charger's ``pmin`` is taken from the helper's shares, split by transformer limit."""
    c = part.coupling
    excess, help_ = np.zeros_like(shares), np.zeros_like(shares)
    if not c.n_rows or not p.n_events or not np.any(out.dr_shortfall_kw > 0):
        return [], excess, help_
    block_of = np.empty(p.n_transformers, dtype=np.int64)
    for j, idx in enumerate(part.blocks):
        block_of[idx] = j
    member = c.member.tocsr()
    limit = np.asarray(p.limit_kw, dtype=float)
    margin_kw = float(p.ev_min_power_kw[p.ev_binary].max()) if p.ev_binary.any() else 0.0
    over: set[int] = set()
    for r in range(c.n_rows):
        kind, k = c.groups[c.row_group[r]]
        t = c.row_slot[r]
        if kind != "event" or out.dr_shortfall_kw[k, t] <= 0:
            continue
        span = slice(member.indptr[r], member.indptr[r + 1])
        n, sign = member.indices[span], member.data[span]
        layer = c.group_layer[c.row_group[r]]
        above = np.clip(sign * (out.net_load_kw[n, t] - shares[layer, n, t]), 0.0, None)
        hit = above > 1e-6
        excess[layer, n[hit], t] = sign[hit] * above[hit]
        here = np.unique(block_of[n[hit]])
        over.update(int(j) for j in here)
        free = ~np.isin(block_of[n], here)
        if free.any():
            load = np.bincount(block_of[n[free]], weights=sign[free] * out.net_load_kw[n[free], t],
                               minlength=len(part.blocks))
            candidates = np.unique(block_of[n[free]])
            helper = int(candidates[np.argmax(load[candidates])])      # ties: the first block
            mine = free & (block_of[n] == helper)
            give = (out.dr_shortfall_kw[k, t] + margin_kw) * limit[n[mine]] / limit[n[mine]].sum()
            help_[layer, n[mine], t] += sign[mine] * give
            over.add(helper)
    return sorted(over), excess, help_


def _left(budget: Deadline) -> float:
    return budget.end - time.perf_counter()


def _round_blocks(p: Problem, part: _Partition, coord: Coordination, run, budget: Deadline,
                  executor) -> tuple[dict[int, Solution], Solution]:
    """Every block planned by LP rounding, and the merged plan."""
    everything = list(range(len(part.blocks)))
    # An equal share of what is left per worker, at least 5 s but never past the deadline.
    per_block = min(max(_left(budget) * min(1.0, executor.workers / len(part.blocks)), 5.0),
                    max(_left(budget), 0.0))
    solved = run(everything, per_block)
    if any(sol.status is SolveStatus.TIME_LIMIT for sol in solved.values()):
        budget.cut("block stopped in its share")
    missing = [j for j in everything if not solved[j].status.has_plan]
    if missing and _left(budget) > 0:     # a block that needed more than its share of the time: all that is left
        if any(solved[j].status is SolveStatus.NO_SOLUTION for j in missing):
            budget.cut("block without a plan in its share")
        solved.update(run(missing, _left(budget)))
    return solved, _assemble(p, part.blocks, solved, part.touched, coord.bound)


def _branch_and_bound(p: Problem, part: _Partition, coord: Coordination, run, budget: Deadline, executor,
                      options: SolverOptions, solved: dict[int, Solution], out: Solution,
                      seconds: dict) -> tuple[Solution, list[int], int, bool]:
    """If the merged plan's gap is too wide, the blocks with a wider gap planned again with all the time
    left (better plans kept in ``solved``): the merged plan, the blocks due, how many improved, and
    whether the budget was too short for it."""
    redo = sorted((j for j in range(len(part.blocks)) if solved[j].mip_gap > options.mip_rel_gap),
                  key=lambda j: (-(solved[j].objective_cny - solved[j].bound_cny), j))
    improved = 0
    redo_due = out.status.has_plan and out.mip_gap > options.mip_rel_gap and bool(redo)
    out_of_time = redo_due and _left(budget) <= 2.0    # branch and bound was due, the budget too short for it
    if redo_due and not out_of_time:
        mark = time.perf_counter()
        per_block = max(0.9 * _left(budget) * min(1.0, executor.workers / len(redo)), 1.0)
        for j, sol in run(redo, per_block).items():
            if sol.status is SolveStatus.TIME_LIMIT:
                budget.cut("block branch and bound")
            if sol.status.has_plan and sol.objective_cny < solved[j].objective_cny - 1e-9:
                solved[j], improved = sol, improved + 1
        out = _assemble(p, part.blocks, solved, part.touched, coord.bound)
        seconds["branch_and_bound_s"] = time.perf_counter() - mark
    return out, redo, improved, out_of_time


def _solver_info(p: Problem, part: _Partition, coord: Coordination, options: SolverOptions, executor,
                 solved: dict[int, Solution], max_block_evs: int, *, n_redone: int, improved: int,
                 seconds: dict) -> dict:
    """The ``solver`` record of a decomposed solve."""
    names = {"feeder": p.feeder_ids, "event": p.event_ids}
    coupled = len(part.coupled)
    return {
        "name": "highs", "version": next(iter(solved.values())).solver.get("version"), "strategy": "decomposed",
        "options": highs_options(options), "lp_presolve_off_below_cols": LP_PRESOLVE_MIN_COLS, "executor": getattr(executor, "name", type(executor).__name__),
        "workers": executor.workers, "n_blocks": len(part.blocks), "n_coupled_blocks": int(coupled),
        "max_block_evs": max_block_evs, "coordinated": [f"{kind}:{names[kind][i]}" for kind, i in part.coupling.groups],
        "n_coordinated_rows": part.coupling.n_rows, "rounds": coord.rounds,
        "lagrangian_bound_cny": float(coord.bound) if coupled else None,
        "master_cny": float(coord.master_value) if coupled else None, "round_history": coord.history,
        "block_lp_seconds": coord.lp_seconds, "warm_start_failures": coord.warm_start_failures,
        "blocks_branch_and_bound": n_redone,
        "blocks_improved": improved, "seconds": seconds,
    }


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
