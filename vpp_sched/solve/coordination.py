"""Price coordination of the rows that couple transformer blocks (Dantzig-Wolfe column generation).

The coordinated rows are the ``feeder_limit[f, t]`` and ``dr_event_cap[k, t]`` rows whose
transformers lie in more than one block (:func:`coupling_rows`). With prices ``λ_r >= 0`` on
them the day separates by block: block ``j`` solves its LP relaxation with ``λ_r`` (times the
row's sign) added to the cost of each net load in row ``r`` (:func:`solve_block_lps`, one
task per batch of blocks, run by any executor). For any ``0 <= λ_r <= π_r``

    L(λ) = Σ_j LP_j(λ) − Σ_r λ_r rhs_r

is a lower bound of the day's optimum (``π_r``: the price of the row's unbounded slack, feeder
overload or event shortfall, per kW and slot; a price above it gives ``−∞``). The next prices
are the duals of a small master LP (:class:`Master`) that mixes each block's proposals so far
(convexity rows) under the coordinated rows and their slacks; its value is the cost of such a
mix, so ``(master − best L) / master`` measures how far coordination is from the LP optimum.
Prices are smoothed towards the best ones found (Wentges) while the master still improves.

The EV ramp price (``ev_rise``, per transformer) couples no blocks, so the rounds leave it out:
with it a block LP takes 4x the simplex work and a warm start saves nothing (measured on the 10k-EV
day's blocks), without it a warm start is 2-3x faster than from scratch. ``L(λ)`` of the rounds is
then a bound of the day without the ramp price, below the day's; one last round with the ramp, at
the best prices, gives the day's own bound (:func:`ramp_bound`, when the plan needs it).

Sub-LPs are warm-started from their previous basis with dual simplex (only the costs changed: the
basis stays primal feasible, but on these LPs dual simplex from it took a third of primal's time). Bases travel with the
tasks (no state in the workers), so results do not depend on where a task runs: as HiGHS's own
basis object when the tasks run in this process (serial, threads; converting a basis of 10^5
columns to Python and back costs as much as a tenth of its LP), as int8 arrays otherwise (Dask).
Worker processes that can be pinned (Dask) keep each block's LP and basis between the rounds
instead, starting from the same basis object as in-process (:mod:`vpp_sched.solve.worker_cache`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import highspy
import numpy as np
import scipy.sparse as sp

from vpp_sched.errors import InternalError
from vpp_sched.problem.blocks import BlockSpec, built, event_signs
from vpp_sched.model.lean import LeanModel, build_lean
from vpp_sched.problem.arrays import Problem
from vpp_sched.solve.highs import lp_dual_edge_weights, lp_presolve, quiet_highs_banner
from vpp_sched.solve.solution import relative_gap
from vpp_sched.solve.timing import run_highs
from vpp_sched.solve.warm_start import basis_statuses, statuses
from vpp_sched.solve.worker_cache import BlockLPCache, map_block_lps

INF = highspy.kHighsInf


@dataclass
class Coupling:
    """The coordinated rows ``r``: ``Σ_n member[r, n] · net_load[n, slot_r] − slack_r <= rhs_r``,
    ``member`` +1 (feeders, peak shaving) or -1 (valley filling) for the row's transformers."""

    groups: list[tuple[str, int]]    # ("feeder", f) or ("event", k) for each coordinated group
    row_group: np.ndarray            # [R] index into groups
    row_slot: np.ndarray             # [R] slot t of the row
    rhs: np.ndarray                  # [R] kW
    slack_price: np.ndarray          # [R] CNY per kW of slack in that slot (π dt); the slack is unbounded
    member: sp.csr_matrix            # [R, N] the row's sign where the transformer is in it, else 0
    group_layer: np.ndarray          # [G] cap layer of the group (feeders share layer 0)
    layer_penalty: np.ndarray        # [L] CNY/kWh of exceeding a share of that layer
    layer_sign: np.ndarray           # [L] +1 the shares are caps, -1 floors
    _blocks: dict = field(default_factory=dict, repr=False)   # row_load's rows and weights per block

    @property
    def n_rows(self) -> int:
        return len(self.rhs)

    def adder(self, lam: np.ndarray, n_slots: int) -> np.ndarray:
        """[N, T] price added to each transformer's net load by the row prices ``lam`` [CNY/kW]."""
        R = self.n_rows
        slot = sp.csr_matrix((np.ones(R), (np.arange(R), self.row_slot)), shape=(R, n_slots))
        return np.asarray((self.member.T @ sp.diags(lam) @ slot).todense())

    def row_load(self, net_load_kw: np.ndarray, transformers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nonzero rows and their load from the net loads [n, T] of ``transformers``."""
        key = np.asarray(transformers, dtype=np.int64).tobytes()
        if key not in self._blocks:     # slicing the sparse rows once per block, not once per round
            sub = self.member[:, transformers]
            rows = np.flatnonzero(sub.getnnz(axis=1))
            self._blocks[key] = (rows, sub[rows].toarray())
        rows, weights = self._blocks[key]
        if not len(rows):
            return rows, np.zeros(0)
        return rows, np.einsum("rn,nr->r", weights, net_load_kw[:, self.row_slot[rows]])

    def bound_terms(self, lam: np.ndarray) -> float:
        """``− Σ λ rhs`` of the Lagrangian (``−∞`` if a price exceeds its slack's price)."""
        if np.any(lam > self.slack_price * (1 + 1e-9)):
            return -np.inf
        return float(-lam @ self.rhs)


def coupling_rows(p: Problem, block_of: np.ndarray) -> Coupling:
    """The feeder and event rows whose transformers are in more than one block (``block_of`` [N])."""
    T, dt = p.n_slots, p.dt_h
    tf = np.asarray(p.transformer_feeder, dtype=np.int64)
    groups, members, signs, slots, rhs, price = [], [], [], [], [], []
    for f in range(p.n_feeders):
        m = np.flatnonzero(tf == f)
        if len(np.unique(block_of[m])) > 1:
            groups.append(("feeder", f))
            members.append(m)
            signs.append(1.0)
            slots.append(np.arange(T))
            rhs.append(np.full(T, float(p.feeder_capacity_kw[f])))
            price.append(np.full(T, p.overload_penalty_cny_per_kwh * dt))
    event_pi = np.asarray(p.event_penalty_cny_per_kwh, float) + np.asarray(p.event_price_cny_per_kwh, float)
    event_sign = event_signs(p)
    for k in range(p.n_events):
        m = np.flatnonzero(np.asarray(p.event_scope, dtype=bool)[k])
        t = np.flatnonzero(np.asarray(p.event_slots, dtype=bool)[k])
        if len(np.unique(block_of[m])) > 1 and len(t):
            groups.append(("event", k))
            members.append(m)
            signs.append(float(event_sign[k]))
            slots.append(t)
            rhs.append(p.event_cap_kw[k, t].astype(float))
            price.append(np.full(len(t), event_pi[k] * dt))
    n_rows = [len(s) for s in slots]
    row_group = np.repeat(np.arange(len(groups)), n_rows).astype(np.int64)
    r_idx = np.concatenate([np.repeat(np.arange(sum(n_rows[:g]), sum(n_rows[:g + 1])), len(m))
                            for g, m in enumerate(members)] or [np.zeros(0, np.int64)])
    n_idx = np.concatenate([np.tile(m, n) for m, n in zip(members, n_rows)] or [np.zeros(0, np.int64)])
    R = int(sum(n_rows))
    vals = np.concatenate([np.full(len(m) * n, s) for m, n, s in zip(members, n_rows, signs)] or [np.zeros(0)])
    member = sp.csr_matrix((vals, (r_idx, n_idx)), shape=(R, p.n_transformers))
    has_feeder = any(kind == "feeder" for kind, _ in groups)
    layer, penalties = [], [p.overload_penalty_cny_per_kwh] if has_feeder else []
    layer_sign = [1.0] if has_feeder else []
    for (kind, k), sign in zip(groups, signs):
        if kind == "feeder":
            layer.append(0)
        else:
            layer.append(len(penalties))
            penalties.append(float(event_pi[k]))
            layer_sign.append(sign)
    cat = lambda a: np.concatenate(a) if a else np.zeros(0)  # noqa: E731
    return Coupling(groups=groups, row_group=row_group, row_slot=cat(slots).astype(np.int64), rhs=cat(rhs),
                    slack_price=cat(price), member=member,
                    group_layer=np.array(layer, dtype=np.int64), layer_penalty=np.array(penalties, dtype=float),
                    layer_sign=np.array(layer_sign, dtype=float))


# ------------------------------------------------------------------------------------------
# block LPs (the tasks)
# ------------------------------------------------------------------------------------------
@dataclass
class BlockLP:
    """One block's priced LP: the relaxed subproblem, the price adder [n, T], the previous basis."""

    block: int
    problem: Problem | BlockSpec
    adder: np.ndarray | None = None
    basis: highspy.HighsBasis | tuple[np.ndarray, np.ndarray] | None = None
    portable: bool = True            # return the basis as int8 arrays (the task may be pickled)
    model: LeanModel | None = None   # the block's LP as built in an earlier round (in-process only)


@dataclass
class BlockLPResult:
    block: int
    objective: float                 # LP value including the price adder [CNY]
    net_load_kw: np.ndarray          # [n, T]
    basis: highspy.HighsBasis | tuple[np.ndarray, np.ndarray]
    seconds: float
    cold: bool = True                # solved without (or despite) a starting basis
    model: LeanModel | None = None   # the LP built, for the next round (in-process only)


def solve_block_lps(tasks: list[BlockLP]) -> list[BlockLPResult]:
    """Solve a batch of priced block LPs (one HiGHS thread each, deterministic): an executor task."""
    quiet_highs_banner()
    out = []
    for task in tasks:
        t0 = time.perf_counter()
        # Only the costs change from round to round: in-process, the LP is built once.
        model = task.model or build_lean(built(task.problem), relax_integrality=True)
        cost = model.col_cost
        fam = model.col_families["net_load_kw"]
        if task.adder is not None:
            cost = cost.copy()
            cost[fam] += task.adder.ravel()
        h = _solve_lp(model, cost, task.basis)
        cold = task.basis is None
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal and not cold:
            h, cold = _solve_lp(model, cost, None), True    # the warm start failed (rare): from scratch
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            raise InternalError(f"block {task.block}: LP relaxation not solved ({h.modelStatusToString(h.getModelStatus())})")
        x = np.asarray(h.getSolution().col_value, dtype=np.float64)
        b = h.getBasis()
        if task.portable:
            b = (statuses(b.col_status), statuses(b.row_status))
        out.append(BlockLPResult(
            block=task.block, objective=float(h.getInfo().objective_function_value),
            net_load_kw=x[fam].reshape(task.problem.n_transformers, task.problem.n_slots),
            basis=b, seconds=time.perf_counter() - t0, cold=cold, model=None if task.portable else model))
    return out


def _solve_lp(model, cost: np.ndarray, basis: highspy.HighsBasis | tuple[np.ndarray, np.ndarray] | None) -> highspy.Highs:
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("presolve", lp_presolve(model.n_cols))
    h.setOptionValue("simplex_dual_edge_weight_strategy", lp_dual_edge_weights(model.n_cols))
    h.passModel(model.n_cols, model.n_rows, model.nnz, int(highspy.MatrixFormat.kColwise),
                int(highspy.ObjSense.kMinimize), 0.0, cost, model.col_lower, model.col_upper,
                model.row_lower, model.row_upper, model.a_start, model.a_index, model.a_value,
                model.integrality)
    if basis is not None:
        start = basis
        if not isinstance(basis, highspy.HighsBasis):
            start = highspy.HighsBasis()
            start.col_status = basis_statuses(basis[0])
            start.row_status = basis_statuses(basis[1])
            start.valid = True
        h.setBasis(start)
    highspy.Highs.resetThreadScheduler(True)
    run_highs(h)
    return h


# ------------------------------------------------------------------------------------------
# master LP
# ------------------------------------------------------------------------------------------
class Master:
    """Restricted master LP: convex combinations of block proposals under the coordinated rows.

    Rows: the ``R`` coordinated rows, then one convexity row per coordinated block. Columns: the
    row slacks (price ``π``), then the proposals, each costing its block's objective without prices.
    """

    def __init__(self, coupling: Coupling, n_blocks: int):
        R, J = coupling.n_rows, n_blocks
        self.R, self.J = R, J
        self.slack_price = coupling.slack_price
        self.proposals: list[tuple[int, int]] = []      # (block, proposal number) per proposal column
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", 1)
        lo = np.concatenate([np.full(R, -INF), np.ones(J)])
        up = np.concatenate([coupling.rhs, np.ones(J)])
        h.addRows(R + J, lo, up, 0, np.zeros(1, np.int32), np.zeros(0, np.int32), np.zeros(0))
        h.addCols(R, coupling.slack_price, np.zeros(R), np.full(R, INF), R, np.arange(R, dtype=np.int32),
                  np.arange(R, dtype=np.int32), np.full(R, -1.0))
        self.h = h

    def add(self, block: int, number: int, cost: float, rows: np.ndarray, load: np.ndarray) -> None:
        idx = np.concatenate([rows, [self.R + block]]).astype(np.int32)
        val = np.concatenate([load, [1.0]])
        self.h.addCols(1, np.array([cost]), np.zeros(1), np.array([INF]), len(idx),
                       np.zeros(1, np.int32), idx, val)
        self.proposals.append((block, number))

    def solve(self) -> tuple[float, np.ndarray, np.ndarray]:
        """Master value, row prices ``λ >= 0`` [R] and proposal weights [n_proposals]."""
        highspy.Highs.resetThreadScheduler(True)
        run_highs(self.h)
        if self.h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            raise InternalError("coordination master LP not solved")
        sol = self.h.getSolution()
        lam = np.clip(-np.asarray(sol.row_dual[:self.R], dtype=float), 0.0, self.slack_price)
        weights = np.asarray(sol.col_value, dtype=float)[self.R:]
        return float(self.h.getInfo().objective_function_value), lam, weights


# ------------------------------------------------------------------------------------------
# the coordination loop
# ------------------------------------------------------------------------------------------
@dataclass
class Coordination:
    bound: float                     # best Lagrangian bound of the coupled blocks [CNY]
    master_value: float              # last master LP value [CNY]
    shares: np.ndarray               # [L, N, T] caps (floors) of the net loads, nan where none [kW]
    rounds: int = 0
    history: list = field(default_factory=list)   # (L(λ), master) per round
    lp_seconds: float = 0.0          # summed block LP times
    warm_start_failures: int = 0
    stopped_by_deadline: bool = False
    ramp_lam: np.ndarray | None = None   # the day prices its ramp: the prices for ramp_bound, until it ran
    ramp_lp: dict = field(default_factory=dict)      # block -> its no-ramp LP value at ramp_lam [CNY]
    ramp_order: list = field(default_factory=list)   # blocks, largest estimated ramp cost first


#: The blocks' planning after coordination takes about this many times the first (cold) round of
#: block LPs: measured 3-5x (10,000 EVs: 1.0 s -> 3-4 s; 100,000 EVs: 8.9 s -> 44-47 s).
ROUNDING_PER_FIRST_ROUND = 5.0
#: Weight of the best prices so far in the next round's prices (the master's get the rest). Measured
#: on the 10k-EV DR + min-power days at gap 0.5 %: rounds 3 -> 2, and 21 -> 12 with an event that
#: binds (--dr-share 0.25; 0.5: 14 rounds, 0.7: 13, 0.9: 18), where the earlier rule (0.5 while the
#: master still fell, else the master's prices) took 21.
PRICE_SMOOTHING = 0.8


def coordinate(p: Problem, blocks: list[np.ndarray], coupling: Coupling, coupled: np.ndarray, executor,
               tol: float, deadline: float, max_rounds: int, chunks, start_price: float | None = None,
               end: float | None = None) -> Coordination:
    """Column generation over the ``coupled`` blocks until the master is within ``tol`` of the best
    bound, ``max_rounds`` or ``deadline`` (``time.perf_counter()``); a round that would end after
    the deadline is not started. ``end`` (the solve's time limit as a ``perf_counter`` time) moves
    the deadline forward to leave the blocks' planning its time, estimated from the first round
    (``ROUNDING_PER_FIRST_ROUND``). ``chunks(list of blocks)`` groups blocks into tasks. ``start_price`` (CNY per kW and slot) prices the rows in the first round: a
    tie-break so that blocks indifferent between slots (a flat valley tariff) already keep out of
    the coordinated ones, which saves rounds (10 -> 7 on the 10k-EV rebound event); the first
    round's bound is still valid, if slightly lower (0.04 of 410,443 CNY there)."""
    if not len(coupled):
        return Coordination(0.0, 0.0, np.full((0, p.n_transformers, p.n_slots), np.nan))
    day, p = p, (replace(p, ramp_penalty_cny_per_kw=0.0) if p.has_ramp else p)   # rounds without the ramp
    cols = _Columns.start(p, blocks, coupling, coupled, executor)
    out = Coordination(-np.inf, np.nan, None)
    lam = best_lam = np.zeros(coupling.n_rows)
    best_round = 0
    if start_price is not None:
        lam = np.minimum(np.full(coupling.n_rows, start_price), coupling.slack_price)
    try:
        for out.rounds in range(1, max_rounds + 1):
            round_start = time.perf_counter()
            value = _lp_round(p, blocks, coupling, coupled, executor, chunks, cols, lam, out)
            if value > out.bound:
                out.bound, best_lam, best_round = value, lam, out.rounds
            out.master_value, master_lam, weights = cols.master.solve()
            out.history.append((round(value, 3), round(out.master_value, 3)))
            if relative_gap(out.master_value, out.bound) <= tol:
                break
            now = time.perf_counter()
            if out.rounds == 1 and end is not None:
                deadline = min(deadline, end - ROUNDING_PER_FIRST_ROUND * (now - round_start))
            if now + (now - round_start) > deadline:
                out.stopped_by_deadline = True
                break
            # Wentges smoothing: the master's prices jump between rounds; staying near the best prices
            # so far converges in fewer rounds (PRICE_SMOOTHING).
            lam = PRICE_SMOOTHING * best_lam + (1 - PRICE_SMOOTHING) * master_lam
    finally:   # the workers' kept LPs are this coordination's only: dropped also when a round fails
        if cols.cache is not None:
            cols.cache.release()
    out.shares = _shares(p, coupling, blocks, coupled, cols.master.proposals, weights, cols.proposals)
    if day.has_ramp:
        out.ramp_lam = best_lam      # the bound is the day's without its ramp price until ramp_bound
        out.ramp_lp = {j: cols.values[j][best_round - 1] for j in coupled}
        out.ramp_order = _ramp_order(day, blocks, coupled, {j: cols.proposals[j][best_round - 1] for j in coupled})
    return out


def _ramp_order(day: Problem, blocks: list[np.ndarray], coupled: np.ndarray, net_load_kw: dict) -> list[int]:
    """The coupled blocks by the ramp cost of their no-ramp LP plan at the best prices, largest first
    (ties by block): that plan is feasible with the ramp, so its ramp cost bounds what the ramp can
    add to the block's LP value (``ev_kw`` read as net load - (base - PV), as ``ev_rise`` does,
    storage left out: an estimate, used only for the order)."""
    fixed_kw = np.asarray(day.base_load_kw, dtype=float).reshape(day.n_transformers, day.n_slots) - day.pv_at_transformer_kw()
    cost = {j: float(day.max_rise_kw(net_load_kw[j] - fixed_kw[blocks[j]]).sum()) for j in coupled}
    return sorted((int(j) for j in coupled), key=lambda j: (-cost[j], j))


#: :func:`ramp_bound` prices the ramp in groups of blocks, this many in the first (then as many as
#: the bound still needs at the rate so far, :func:`_next_ramp_group`).
RAMP_BOUND_FIRST_GROUP = 4


def ramp_bound(day: Problem, blocks: list[np.ndarray], coupling: Coupling, coupled: np.ndarray, executor,
               chunks, out: Coordination, enough: float = np.inf) -> None:
    """Raise ``out.bound`` towards ``L(λ)`` of the day with its ramp price at the best prices of the
    rounds: the blocks' LPs with the ramp rows, from scratch (a no-ramp basis is no start for them).

    The blocks go in groups (``RAMP_BOUND_FIRST_GROUP`` blocks, then as many as the rate so far says
    the bound still needs, at most twice the last group, :func:`_next_ramp_group`), largest
    estimated ramp cost first (``out.ramp_order``), until the bound reaches ``enough``: a block not yet
    priced counts with its no-ramp LP value at the same prices (``out.ramp_lp``), never more than its
    ramp-priced one, so every partial sum is a valid bound. The groups do not depend on the executor,
    so neither does the bound. The decomposed solve calls it only when the plan is not within its gap of
    the rounds' bound (on the 10k-EV day pricing every block was a third of the solve's CPU time)."""
    lam = out.ramp_lam
    out.ramp_lam = None
    adder = coupling.adder(lam, day.n_slots)
    portable = not getattr(executor, "in_process", False)
    value = dict(out.ramp_lp)
    order, size, done = list(out.ramp_order), RAMP_BOUND_FIRST_GROUP, 0
    start = out.bound
    while order:
        group, order = order[:size], order[size:]
        tasks = {j: BlockLP(j, BlockSpec(day, blocks[j], relax=True).build() if portable else
                            BlockSpec(day, blocks[j], relax=True), adder[blocks[j]], None, portable)
                 for j in group}
        results = [r for chunk in executor.map(solve_block_lps, [[tasks[j] for j in c] for c in chunks(group)])
                   for r in chunk]
        out.lp_seconds += sum(r.seconds for r in results)
        value.update({r.block: max(r.objective, value[r.block]) for r in results})
        out.bound = max(out.bound, coupling.bound_terms(lam) + sum(value[j] for j in sorted(value)))
        if out.bound >= enough:
            break
        done += len(group)
        size = _next_ramp_group(size, done, out.bound - start, enough - out.bound)


def _next_ramp_group(size: int, done: int, gained: float, missing: float) -> int:
    """Blocks in the next group of :func:`ramp_bound`: what the blocks so far raised the bound per
    block, 1.5x over, for what is still missing (they came largest first, so later ones raise it
    less), at most twice the last group; twice the last group when they raised nothing."""
    if gained <= 0:
        return 2 * size
    return int(min(2 * size, max(1, np.ceil(1.5 * missing * done / gained))))


@dataclass
class _Columns:
    """What the coordination keeps between rounds: the blocks' relaxed subproblems, their last
    bases and models (warm starts), their proposals so far and the master over them."""
    subs: dict
    portable: bool
    position: dict[int, int]                 # block -> its number among the coupled ones
    master: Master
    bases: dict[int, tuple] = field(default_factory=dict)
    models: dict[int, LeanModel] = field(default_factory=dict)
    proposals: dict[int, list[np.ndarray]] = field(default_factory=dict)
    values: dict[int, list[float]] = field(default_factory=dict)   # each proposal's priced LP value [CNY]
    cache: BlockLPCache | None = None        # worker processes keep the LPs and bases (solve/worker_cache.py)

    @classmethod
    def start(cls, p: Problem, blocks: list[np.ndarray], coupling: Coupling, coupled: np.ndarray,
              executor) -> _Columns:
        portable = not getattr(executor, "in_process", False)
        subs = {j: BlockSpec(p, blocks[j], relax=True) for j in coupled}
        if portable:   # tasks travel: send the subproblems, not the day
            subs = {j: spec.build() for j, spec in subs.items()}
        return cls(subs, portable, {j: n for n, j in enumerate(coupled)}, Master(coupling, len(coupled)),
                   proposals={j: [] for j in coupled}, values={j: [] for j in coupled},
                   cache=BlockLPCache.for_executor(executor, solve_block_lps))


def _lp_round(p: Problem, blocks: list[np.ndarray], coupling: Coupling, coupled: np.ndarray, executor, chunks,
              cols: _Columns, lam: np.ndarray, out: Coordination) -> float:
    """One round of block LPs at the prices ``lam``: their proposals added to the master, the
    counts in ``out`` updated; the Lagrangian value L(λ)."""
    adder = coupling.adder(lam, p.n_slots)
    tasks = {j: BlockLP(j, cols.subs[j], adder[blocks[j]], cols.bases.get(j), cols.portable, cols.models.get(j))
             for j in coupled}
    results = map_block_lps(executor, solve_block_lps, [[tasks[j] for j in c] for c in chunks(list(coupled))], cols.cache)
    value = coupling.bound_terms(lam)
    for r in results:
        j = r.block
        out.warm_start_failures += int(r.cold and j in cols.bases)
        out.lp_seconds += r.seconds
        cols.bases[j] = r.basis
        if r.model is not None:
            cols.models[j] = r.model
        rows, load = coupling.row_load(r.net_load_kw, blocks[j])
        own = r.objective - float(np.sum(adder[blocks[j]] * r.net_load_kw))
        cols.master.add(cols.position[j], len(cols.proposals[j]), own, rows, load)
        cols.proposals[j].append(r.net_load_kw)
        cols.values[j].append(r.objective)
        value += r.objective
    return value


def _shares(p: Problem, coupling: Coupling, blocks, coupled, columns, weights, proposals) -> np.ndarray:
    """[L, N, T] share of each transformer in each coordinated row (``nan`` where none): the master's
    mix of its block's proposals, shifted by the row's unused room (or, where the mix needs slack,
    its excess) split by transformer limit, so the shares of a row sum to its right-hand side
    exactly. A share is a cap of the net load (``layer_sign`` +1) or a floor (-1, valley filling);
    a block exceeding it pays the row's penalty, which is at least what the real row then costs."""
    T = p.n_slots
    mix = np.zeros((p.n_transformers, T))
    for (slot, number), w in zip(columns, weights):
        if w > 1e-12:
            j = coupled[slot]
            mix[blocks[j]] += w * proposals[j][number]
    shares = np.full((len(coupling.layer_penalty), p.n_transformers, T), np.nan)
    member = coupling.member.tocsr()
    limit = np.asarray(p.limit_kw, dtype=float)
    for r in range(coupling.n_rows):
        span = slice(member.indptr[r], member.indptr[r + 1])
        n, sign = member.indices[span], member.data[span]
        t = coupling.row_slot[r]
        planned = sign * mix[n, t]                        # in the row's terms: sum <= rhs
        room = coupling.rhs[r] - planned.sum()
        layer = coupling.group_layer[coupling.row_group[r]]
        shares[layer, n, t] = sign * (planned + room * limit[n] / limit[n].sum())
    return shares
