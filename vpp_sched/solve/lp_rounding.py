"""LP-guided rounding of the charger on/off decisions: the fast route to a near-optimal MILP plan.

Branch and bound struggles with hundreds of semi-continuous chargers (``p = 0`` or
``pmin <= p <= pmax``): the LP bound is tight, but finding integer plans is slow. So:

1. **Bound.** Solve the relaxation: with ``ev_on`` continuous, ``pmin·on <= p <= pmax·on`` is
   just ``0 <= p <= pmax``, so the relaxation is the model with ``min_power_kw = 0`` and no
   start-up costs (start costs are >= 0, so dropping them keeps the bound valid).
2. **Round.** Slots where the LP charges at >= ``pmin`` stay on; of an EV's slots charged below
   ``pmin`` (fractional), the ``floor(F / (pmin·dt))`` with the most LP power are switched on
   (``F`` is their energy), so the chosen slots can carry the energy at or above ``pmin``.
3. **Fix and solve.** With ``ev_on`` fixed, the model is an LP (plus the few battery-mode
   binaries): HiGHS places the power exactly. The relaxed modes are fixed (``_Rounding._modes``)
   when one lets a battery or V2G EV charge and discharge at once, or discharge into export.
   The fixed solves are bound changes on the relaxation's HiGHS instance, so they start from
   its optimal basis (warm start) instead of from scratch.
4. **Repair.** An EV still short gets more on-slots, cheapest first, where its transformer
   (and feeder, DR cap) has room for ``pmin``; solve again (a few rounds at most).
5. **Free the short.** EVs still short get their chargers' on/off back as binaries, every other
   charger stays fixed: a small MILP, warm-started from the plan.
6. **Serve the short.** If EVs are still short where the LP had none, the transformers they are
   behind are planned once more pricing only unmet energy and overload (this same rounding on
   :func:`feasibility_problem`, steps 1-5: not its fallback MILP, see :func:`feasibility_pattern`); that plan's
   on/off pattern is priced by the fixed LP and kept when its objective (the unmet-energy
   penalty included) is lower. Near capacity the cost-driven rounding fills the cheap hours and
   strands EVs a different pattern would serve.
7. **Fallback.** If the plan is not within ``mip_rel_gap`` of the bound and the model is small
   enough for branch and bound (``FULL_MILP_MAX_BINARIES``), the full MILP runs for the
   remaining time with this plan as its starting incumbent; otherwise the plan is returned with
   status ``feasible`` and its gap.

The reported bound is the LP's (or the MILP's, when better), so the gap is honest.
"""

from __future__ import annotations

import time
from dataclasses import replace

import highspy
import numpy as np

from vpp_sched.scenario.config import SolverOptions
from vpp_sched.model.lean import LeanModel, build_lean
from vpp_sched.problem.arrays import Problem
from vpp_sched.problem.blocks import subproblem
from vpp_sched.solve.budget import Deadline
from vpp_sched.solve.highs import LeanSolver, solve_lean_model
from vpp_sched.solve.solution import Solution, SolveStatus, relative_gap
from vpp_sched.solve.warm_start import LpStart

REPAIR_ROUNDS = 4
TOL = 1e-6
# Above this many charger on/off binaries HiGHS's branch and bound does not even finish its root
# LP in minutes (measured at 10,000 EVs): the rounded plan is returned with its honest gap instead.
FULL_MILP_MAX_BINARIES = 20_000
#: Serving the short (step 6) may take this share of the time left; what it leaves unused goes to
#: the fixed solve of its pattern and the fallback (step 7). A share of what is left, not of the
#: limit: with more time every phase gets at least as much, so a larger limit never ends worse.
FEASIBILITY_SHARE = 0.5
#: Freeing the short (step 5) may take this share of the time left when step 6 may follow.
FREE_SHORT_SHARE = 0.5
#: The fallback MILP is not started with less time than this left [s] (it could not improve the plan).
MIN_MILP_S = 1.0
#: A carried basis at most this many slots old starts the primal simplex, an older one the dual
#: (HiGHS's default). Sampled days of the bundled scenario (evaluate, day 1, re-plans every 4/12/24
#: slots; relaxation CPU primal vs dual): 4.9 vs 4.7 s, 5.7 vs 3.8 s, 3.2 vs 1.6 s. The primal needs
#: fewer iterations, but each costs more; once many slots have changed the dual wins. 12 (3 h), not
#: lower: replay's re-plans (every 4 slots by default, arrivals between) keep the primal they were
#: measured with (models/replay.md), evaluate's (every 24 slots) take the dual.
PRIMAL_MAX_AGE_SLOTS = 12
#: Relative gaps up to this much above ``mip_rel_gap`` count as within it: the rounding's plan and
#: the LP bound differ by float round-off even when the plan is optimal (an evaluate re-plan's
#: feasibility plan: 92.50999999999996 against 92.50999999999999), and at ``mip_rel_gap`` 0 the
#: fallback MILP ran for that (1-2 s CPU a time, to return a plan of the same cost).
GAP_TOL = 1e-9


def solve_lp_guided(problem: Problem, options: SolverOptions, *, serve_short: bool = True,
                    deadline: Deadline | None = None, lp_start: LpStart | None = None,
                    keep_basis: bool = False, gap_fallback: bool = True) -> Solution:
    """Solve the day-ahead MILP by LP-guided rounding (see module docstring) by ``deadline``
    (default: ``options.time_limit_s`` from now).

    ``serve_short=False`` skips step 6 (used by that step itself, which calls this function);
    ``gap_fallback=False`` runs step 7 only when the rounding found no plan, not for its gap.
    ``lp_start``: the relaxation starts from this basis (a previous window's, :mod:`vpp_sched.solve.warm_start`);
    ``keep_basis``: the plan keeps its own relaxation's basis in ``Solution.lp_start`` for the next.
    """
    start = time.perf_counter()
    deadline = Deadline.of(options.time_limit_s, deadline)
    if not problem.ev_binary.any() and not problem.has_v2g:
        return solve_lean_model(build_lean(problem), problem, options, deadline=deadline, one_shot=True)
    relaxed = problem.relaxation()
    model = build_lean(relaxed, relax_integrality=True)
    solver, lp = _relaxation(model, relaxed, options, deadline, lp_start)
    if not lp.status.has_plan:
        return lp
    carried = LpStart.of(model, relaxed, solver.h) if keep_basis else None
    rounding = _Rounding(problem, model, solver)
    pattern = round_on_pattern(problem, lp.ev_power_kw)
    best = rounding.fixed(pattern, deadline)
    best_pattern = pattern
    for _ in range(REPAIR_ROUNDS):
        if not best.status.has_plan or best.ev_unmet_kwh.sum() <= lp.ev_unmet_kwh.sum() + TOL:
            break
        pattern, added = repair_pattern(problem, pattern, best)
        if not added:
            break
        candidate = rounding.fixed(pattern, deadline)
        if candidate.status.has_plan and candidate.objective_cny < best.objective_cny:
            best, best_pattern = candidate, pattern
    bound = lp.objective_cny
    if best.status.has_plan and best.ev_unmet_kwh.sum() > lp.ev_unmet_kwh.sum() + TOL:
        # Half of what is left when serving the short (step 6) may follow: that step is what serves
        # EVs a stuck MILP would not; a MILP that converges passes the rest on.
        part = deadline.sub(fraction=FREE_SHORT_SHARE) if serve_short else deadline
        best = _free_short_evs(problem, options, part, best, best_pattern, model)
    small = int(problem.ev_available[problem.ev_binary].sum()) <= FULL_MILP_MAX_BINARIES
    if serve_short and best.status.has_plan and best.ev_unmet_kwh.sum() > lp.ev_unmet_kwh.sum() + TOL:
        pattern = feasibility_pattern(problem, best_pattern, best, options, deadline)
        if pattern is not None:
            candidate = rounding.fixed(pattern, deadline)
            if candidate.status.has_plan and candidate.objective_cny < best.objective_cny:
                best, best_pattern = candidate, pattern
    out_of_time = False    # the fallback was due but the budget too short for it: stopped by the limit
    if not best.status.has_plan or (gap_fallback and small and not _within_gap(best, bound, options)):
        out_of_time = best.status.has_plan and deadline.remaining_s() < MIN_MILP_S
        if out_of_time:
            deadline.cut("fallback MILP skipped")
        best, bound = _full_milp(problem, options, deadline, best, bound, model, best_pattern)
    best = _finish(best, lp, bound, options, start, deadline, out_of_time)
    best.lp_start = carried
    return best


def _relaxation(model: LeanModel, relaxed: Problem, options: SolverOptions, deadline: Deadline,
                lp_start: LpStart | None) -> tuple[LeanSolver, Solution]:
    """Step 1, from ``lp_start``'s basis when given (from scratch if that start fails: rare)."""
    solver = LeanSolver(model, relaxed, options)
    if lp_start is not None and solver.h.setBasis(lp_start.basis_for(model, relaxed)) == highspy.HighsStatus.kError:
        lp_start, solver = None, LeanSolver(model, relaxed, options)    # not taken: from scratch
    if lp_start is None:
        return solver, solver.run(deadline)
    # From a carried basis the primal simplex needs a sixth of the dual's iterations (measured on
    # the Zezhou replay: 39k vs 245k over 97 re-plans; from scratch 696k); the rounding's fixed
    # solves after it keep the dual simplex, as without a start. From an older basis (more of the
    # day changed since) the dual is faster: see PRIMAL_MAX_AGE_SLOTS.
    if lp_start.age_slots(relaxed) <= PRIMAL_MAX_AGE_SLOTS:
        strategy = solver.h.getOptionValue("simplex_strategy")
        strategy = strategy[1] if isinstance(strategy, tuple) else strategy     # (status, value) in highspy 1.16
        solver.h.setOptionValue("simplex_strategy", 4)
        lp = solver.run(deadline)
        solver.h.setOptionValue("simplex_strategy", strategy)
    else:
        lp = solver.run(deadline)
    if lp.status is not SolveStatus.OPTIMAL and not deadline.expired():
        solver = LeanSolver(model, relaxed, options)
        lp = solver.run(deadline)
    return solver, lp


class _Rounding:
    """Fixed-pattern solves as bound changes on the relaxation's HiGHS instance (warm starts).

    With ``ev_on`` fixed, ``pmin·on <= p <= pmax·on`` is a bound on ``p``: ``[pmin, pmax]`` when on,
    ``0`` when off; start-ups are then known and their tie-break cost is added to the objective.
    """

    def __init__(self, problem: Problem, model: LeanModel, solver: LeanSolver):
        self.problem, self.model, self.solver = problem, model, solver
        fam = model.col_families["ev_power_kw"]
        self.p_cols = np.arange(fam.start, fam.stop)
        self.e, self.t = model.col_index["ev_power_kw"]
        self.p_upper = model.col_upper[fam].copy()
        # Mode binaries (charge or discharge) stay relaxed unless a slot does both; see ``_modes``.
        def cols(family: str) -> np.ndarray:
            return np.arange(model.col_families[family].start, model.col_families[family].stop)

        self.v2g_pos = np.flatnonzero(problem.ev_is_v2g[self.e])   # same order as ev_v2g_mode
        self.p_lower = np.zeros(len(self.p_cols))
        # (mode, charge, discharge columns, positions in p_cols of the charge columns or None,
        #  flat (transformer, slot) index of each mode column)
        T = problem.n_slots
        bat_n = problem.station_transformer[problem.battery_station]
        bat_at = np.repeat(bat_n, T) * T + np.tile(np.arange(T), len(bat_n))
        ve, vt = model.col_index["ev_v2g_mode"]
        self.modes = [mode for mode in (
            (cols("battery_mode"), cols("battery_charge_kw"), cols("battery_discharge_kw"), None, bat_at),
            (cols("ev_v2g_mode"), self.p_cols[self.v2g_pos], cols("ev_discharge_kw"), self.v2g_pos,
             problem.ev_transformer[ve] * T + vt)) if len(mode[0])]

    def fixed(self, pattern: np.ndarray, deadline: Deadline) -> Solution:
        p, e = self.problem, self.e
        on, binary = pattern[e, self.t], p.ev_binary[e]
        lower = np.where(binary & on, p.ev_min_power_kw[e], 0.0)
        upper = np.where(binary & ~on, 0.0, self.p_upper)
        self.solver.set_col_bounds(self.p_cols, lower, upper)
        self.p_lower = lower
        for cols, *_ in self.modes:  # the relaxation's modes are free again for this pattern
            self.solver.set_col_bounds(cols, np.zeros(len(cols)), np.ones(len(cols)))
        sol = self.solver.run(deadline)
        if sol.status.has_plan and self.modes:
            sol = self._modes(sol, deadline)
        if sol.status.has_plan:
            sol.objective_cny += p.switch_on_cny * start_ups(p, pattern).sum()
        return sol

    def _modes(self, sol: Solution, deadline: Deadline) -> Solution:
        """A relaxed battery or V2G EV may charge and discharge in one slot, or discharge while its
        transformer exports (``battery_export``/``ev_export`` hold only for a mode of 0 or 1); if any
        does, fix every slot's mode to the larger of the two flows, to charging where PV exceeds the
        load even without storage discharging (discharge there would have to export), and re-solve."""
        x = sol.col_values
        exporting, exporting_anyway = self._exports(sol)
        if not any(np.any(np.minimum(x[ch], x[dis]) > TOL) or np.any((x[dis] > TOL) & exporting[at])
                   for _, ch, dis, _, at in self.modes):
            return sol
        for mode, ch, dis, pos, at in self.modes:
            fixed = (x[ch] >= x[dis]) | exporting_anyway[at]
            if pos is not None:
                fixed |= self.p_lower[pos] > 0   # a charger the pattern switched on must charge
            self.solver.set_col_bounds(mode, fixed.astype(float), fixed.astype(float))
        return self.solver.run(deadline)

    def _exports(self, sol: Solution) -> tuple[np.ndarray, np.ndarray]:
        """Flat [N*T] bool: the transformer exports with its PV uncurtailed; and would even with
        no battery or V2G EV discharging."""
        p = self.problem
        uncurtailed = sol.net_load_kw.copy()
        np.subtract.at(uncurtailed, p.station_transformer, sol.pv_curtail_kw)
        without = uncurtailed.copy()
        np.add.at(without, p.station_transformer[p.battery_station], sol.battery_discharge_kw)
        if sol.ev_discharge_kw is not None:
            np.add.at(without, p.ev_transformer, sol.ev_discharge_kw)
        return (uncurtailed < -TOL).ravel(), (without < -TOL).ravel()


def start_ups(p: Problem, pattern: np.ndarray) -> np.ndarray:
    """[E, T] bool: charger switched on in slot t (on now, off or unplugged the slot before)."""
    previous = np.zeros_like(pattern)
    previous[:, 1:] = pattern[:, :-1]
    return pattern & ~previous & p.ev_binary[:, None]


def round_on_pattern(p: Problem, lp_power_kw: np.ndarray) -> np.ndarray:
    """[E, T] bool on/off pattern from the LP's EV power (rule 2 of the module docstring)."""
    pmin = p.ev_min_power_kw[:, None]
    on = (lp_power_kw >= pmin - TOL) & (lp_power_kw > TOL)
    frac = (lp_power_kw > TOL) & ~on & p.ev_binary[:, None]
    frac_kwh = (lp_power_kw * frac).sum(axis=1) * p.dt_h
    with np.errstate(divide="ignore", invalid="ignore"):
        n_pick = np.floor(frac_kwh / (p.ev_min_power_kw * p.dt_h) + 1e-9)
    n_pick = np.where(np.isfinite(n_pick), n_pick, 0).astype(int)
    # An EV needs one fractional slot on when its on slots cannot take the fractional energy at max
    # power (all its energy is fractional, or the on slots already charge at pmax): dropping it
    # would leave the EV short, which only a MILP (step 5) could then mend.
    room_on_kwh = (np.clip(p.ev_max_power_kw[:, None] - lp_power_kw, 0.0, None) * on).sum(axis=1) * p.dt_h
    n_pick = np.where((frac_kwh > TOL) & (n_pick == 0) & (room_on_kwh < frac_kwh - TOL), 1, n_pick)
    # Never more slots than the EV's energy can fill at pmin (else the fixed model is infeasible).
    with np.errstate(divide="ignore", invalid="ignore"):
        most = np.floor(p.ev_energy_kwh / (p.ev_min_power_kw * p.dt_h) + 1e-9)
    most = np.where(np.isfinite(most), most, p.n_slots).astype(int) - on.sum(axis=1)
    n_pick = np.clip(n_pick, 0, np.maximum(most, 0))
    score = np.where(frac, lp_power_kw, -1.0)
    order = np.argsort(-score, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(p.n_slots), order.shape), axis=1)
    return (on | (frac & (rank < n_pick[:, None]))) & p.ev_available


def room_kw(p: Problem, sol: Solution) -> np.ndarray:
    """[N, T] load that can still be added at each transformer without any limit binding [kW]."""
    room = p.limit_kw[:, None] - sol.net_load_kw
    for f in range(p.n_feeders):
        members = p.transformer_feeder == f
        spare = p.feeder_capacity_kw[f] - sol.net_load_kw[members].sum(axis=0)
        room[members] = np.minimum(room[members], spare)
    for k in range(p.n_events):
        spare = np.full(p.n_slots, np.inf)
        inside = p.event_slots[k] if p.event_signs()[k] > 0 else np.zeros(p.n_slots, dtype=bool)  # filling: more load helps
        spare[inside] = p.event_cap_kw[k, inside] - sol.net_load_kw[p.event_scope[k]].sum(axis=0)[inside]
        room[p.event_scope[k]] = np.minimum(room[p.event_scope[k]], spare)
    return room


def repair_pattern(p: Problem, pattern: np.ndarray, sol: Solution) -> tuple[np.ndarray, int]:
    """Switch on more slots for EVs short of energy, cheapest first, where there is room for ``pmin``."""
    pattern = pattern.copy()
    room = room_kw(p, sol)
    added = 0
    for e in np.flatnonzero(sol.ev_unmet_kwh > TOL):  # few EVs: a loop is fine here
        n, pmin, need = p.ev_transformer[e], p.ev_min_power_kw[e], sol.ev_unmet_kwh[e]
        slots = np.flatnonzero(p.ev_available[e] & ~pattern[e] & (room[n] >= pmin - TOL))
        for t in slots[np.lexsort((slots, p.price_cny_per_kwh[slots]))]:
            if (pattern[e].sum() + 1) * pmin * p.dt_h > p.ev_energy_kwh[e] + TOL:
                break  # one more slot at pmin would exceed the EV's energy
            pattern[e, t] = True
            added += 1
            need -= min(room[n, t], p.ev_max_power_kw[e]) * p.dt_h
            room[n, t] -= pmin
            if need <= TOL:
                break
    return pattern, added


def feasibility_problem(p: Problem) -> Problem:
    """``p`` with only unmet energy and overload priced (1 per kWh): which plan serves everyone?"""
    K = p.n_events
    return replace(p, price_cny_per_kwh=np.zeros(p.n_slots), unmet_penalty_cny_per_kwh=1.0,
                   overload_penalty_cny_per_kwh=1.0, early_charging_cny_per_kwh=0.0, switch_on_cny=0.0,
                   ramp_penalty_cny_per_kw=0.0, demand_cny_per_kw_month=np.zeros_like(p.demand_cny_per_kw_month),
                   v2g_degradation_cny_per_kwh=0.0, event_price_cny_per_kwh=np.zeros(K),
                   event_penalty_cny_per_kwh=np.zeros(K), unbalance_penalty_cny_per_kwh=0.0)


def feasibility_pattern(p: Problem, pattern: np.ndarray, sol: Solution, options: SolverOptions,
                        deadline: Deadline) -> np.ndarray | None:
    """``pattern`` with the chargers behind the transformers of EVs still short taken from a plan of
    those transformers that prices only unmet energy and overload (LP-guided rounding of
    :func:`feasibility_problem`, feeders and events reaching outside dropped); ``None`` when that
    plan serves them no better. Near capacity the cost-driven rounding fills the cheap hours and
    strands EVs that a different on/off pattern would serve; the fixed LP then prices this one."""

    short_at = np.unique(p.ev_transformer[sol.ev_unmet_kwh > TOL])
    evs = np.flatnonzero(np.isin(p.ev_transformer, short_at))
    sub = feasibility_problem(subproblem(p, short_at))
    # Rounding, repair and freeing the short of that plan, not its full MILP (step 7): on sampled
    # evaluate days that MILP took 8-12 s CPU at its root (52k columns, 14k binaries) to gain at
    # most what the rounded plan stands above the relaxation there (0.05 kWh on two days in 100),
    # and with HiGHS's objective of a warm-started MILP taken as given its plan had always been dropped.
    served = solve_lp_guided(sub, options.model_copy(update={"mip_rel_gap": 0.0}), serve_short=False,
                             deadline=deadline.sub(fraction=FEASIBILITY_SHARE), gap_fallback=False)
    if not served.status.has_plan or served.ev_unmet_kwh.sum() >= sol.ev_unmet_kwh[evs].sum() - TOL:
        return None
    out = pattern.copy()
    out[evs] = served.ev_power_kw > TOL
    return out


def _free_short_evs(p: Problem, options: SolverOptions, deadline: Deadline, best: Solution, pattern: np.ndarray,
                    relaxed: LeanModel) -> Solution:
    """A small MILP: every charger fixed to the pattern except those of EVs still short, which are free."""
    short = best.ev_unmet_kwh > TOL
    full = build_lean(p)
    e, t = full.col_index["ev_on"]
    cols = full.col_families["ev_on"]
    lower, upper = full.col_lower.copy(), full.col_upper.copy()
    fixed = pattern[e, t].astype(float)
    lower[cols] = np.where(short[e], 0.0, fixed)
    upper[cols] = np.where(short[e], 1.0, fixed)
    sol = solve_lean_model(replace(full, col_lower=lower, col_upper=upper), p, options,
                           start=_full_start(full, relaxed, best, pattern, p),
                           deadline=deadline)
    return sol if sol.status.has_plan and sol.objective_cny < best.objective_cny else best


def _full_milp(p: Problem, options: SolverOptions, deadline: Deadline, incumbent: Solution, bound: float,
               relaxed: LeanModel, pattern: np.ndarray) -> tuple[Solution, float]:
    """The whole MILP for the remaining time, warm-started from the rounded plan."""
    if deadline.remaining_s() < MIN_MILP_S and incumbent.status.has_plan:
        return incumbent, bound
    full = build_lean(p)
    warm = None
    if incumbent.status.has_plan:
        warm = _full_start(full, relaxed, incumbent, pattern, p)
    sol = solve_lean_model(full, p, options, start=warm, deadline=deadline)
    if np.isfinite(sol.bound_cny):
        bound = max(bound, sol.bound_cny)
    if sol.status.has_plan and (not incumbent.status.has_plan or sol.objective_cny < incumbent.objective_cny):
        return sol, bound
    return (incumbent if incumbent.status.has_plan else sol), bound


def _full_start(full: LeanModel, relaxed: LeanModel, sol: Solution, pattern: np.ndarray, p: Problem) -> np.ndarray:
    """The rounded plan as a column vector of the full model (adds ``ev_on``, ``ev_start``, modes).
    A plan that already is a solution of the full model (step 5's MILP) is passed as it is."""
    if sol.col_values is not None and len(sol.col_values) == full.n_cols and sol.solver.get("n_integer"):
        return sol.col_values
    x = np.zeros(full.n_cols)
    for family, cols in relaxed.col_families.items():
        if cols.stop > cols.start and family in full.col_families:
            x[full.col_families[family]] = sol.col_values[cols]
    e, t = full.col_index["ev_on"]
    x[full.col_families["ev_on"]] = pattern[e, t]
    x[full.col_families["ev_start"]] = start_ups(p, pattern)[e, t]
    x[full.col_families["battery_mode"]] = (sol.battery_charge_kw >= sol.battery_discharge_kw).reshape(-1)
    ve, vt = full.col_index["ev_v2g_mode"]
    if len(ve):
        x[full.col_families["ev_v2g_mode"]] = sol.ev_power_kw[ve, vt] >= sol.ev_discharge_kw[ve, vt]
    return x


def _within_gap(sol: Solution, bound: float, options: SolverOptions) -> bool:
    """The plan is within the requested gap of ``bound`` (up to round-off, ``GAP_TOL``)."""
    return relative_gap(sol.objective_cny, bound) <= options.mip_rel_gap + GAP_TOL


def _finish(best: Solution, lp: Solution, bound: float, options: SolverOptions, start: float,
            deadline: Deadline, out_of_time: bool = False) -> Solution:
    if not best.status.has_plan:
        return best
    best.bound_cny = bound
    best.mip_gap = relative_gap(best.objective_cny, bound)
    within = _within_gap(best, bound, options)
    # A plan the clock had a hand in (a run stopped, a phase skipped) may differ on another run:
    # it says so whatever its gap (solve/budget.py); otherwise the plan is the work's, repeatable.
    timed_out = out_of_time or deadline.was_cut
    best.status = (SolveStatus.TIME_LIMIT if timed_out else
                   SolveStatus.OPTIMAL if within else SolveStatus.FEASIBLE)
    total = time.perf_counter() - start
    best.build_seconds = lp.build_seconds + best.build_seconds
    best.solve_seconds = max(total - best.build_seconds, 0.0)
    best.solver = dict(best.solver, strategy="lp_rounding", lp_bound_cny=lp.objective_cny)
    return best
