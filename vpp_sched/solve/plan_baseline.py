"""The ``plan`` DR baseline: the scope's load in the plan without the events, made unique.

The no-event day has many plans of (nearly) the same cost that put very different energy into an
event's window; which one a solver returns is a tie-break. The baseline is therefore not "the"
no-event plan but the unique solution of three solves of the no-event day's LP relaxation
(``models/dr_events.md``, "The plan baseline"):

1. minimise the day's cost: ``C*``;
2. with cost ``<= C* + COST_TOLERANCE_REL * max(|C*|, 1)``, minimise ``sum_k sign_k E_k``, ``E_k`` the
   energy of event ``k``'s scope in its window (``sign_k`` +1 for peak shaving: the lowest
   baseline; -1 for valley filling: the highest), the value ``S*``;
3. with also ``sum_k sign_k E_k <= S* + ENERGY_TOLERANCE_REL * max(|S*|, 1)``, slot by slot in
   time order (events in their listed order within a slot): minimise ``sign_k P_kt``, ``P_kt`` the
   scope's net load, and keep it within ``ENERGY_TOLERANCE_REL`` of that optimum for the later slots.

Each step's optimum value is unique (an LP's optimum is), and step 3 fixes every ``P_kt`` in turn,
so the baseline is unique: any correct LP solver gives the same one, whatever the order of EVs or
transformers in the files (a lexicographic optimum; a strictly convex rule such as the flattest
baseline would do too, but HiGHS's QP solver stalled on it).
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np

from vpp_sched.model.lean import build_lean
from vpp_sched.problem.arrays import Problem
from vpp_sched.problem.build import build_problem, event_scopes_and_slots
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.scenario.load import Scenario
from vpp_sched.solve.budget import Deadline
from vpp_sched.solve.highs import _check, highs_options, lp_presolve, quiet_highs_banner
from vpp_sched.solve.solution import SolveStatus
from vpp_sched.solve.timing import run_highs

#: Step 2 may spend this much of the cost (relative): wide enough for HiGHS's tolerances, far
#: below any difference a settlement cares about (0.0001 %).
COST_TOLERANCE_REL = 1e-9
#: Steps 3 and later may give up this much of the step before's optimum (relative).
ENERGY_TOLERANCE_REL = 1e-9


@dataclass
class PlanBaseline:
    """The outcome: ``status`` of the solves and, when it has a plan, the [N, T] transformer net
    load whose scope sums in the event windows are the baselines (unique there only)."""

    status: SolveStatus
    net_load_kw: np.ndarray | None = None
    cost_cny: float = float("nan")          # C*, the LP relaxation's optimum of the no-event day
    signed_energy_kwh: float = float("nan")  # S*
    #: False when the time limit stopped steps 2-3, or HiGHS failed on one (status unknown, a numerical
    #: failure on the nearly tight rows): ``net_load_kw`` is then the last step's optimum (a no-event
    #: plan of cost C*, not the unique baseline), and the plan says so.
    unique: bool = True
    stopped_by: str = ""                    # "time limit" or "solver" when not unique

    def warning(self) -> str | None:
        """The plan's warning when the baseline could not be made unique, else ``None``."""
        if self.unique or self.net_load_kw is None:
            return None
        if self.stopped_by == "solver":
            return ("the 'plan' baseline of the DR events could not be made unique: HiGHS failed on a later "
                    "step (models/dr_events.md, The plan baseline); it is a no-event plan of the optimal cost, "
                    "which another solver may choose differently")
        return ("the 'plan' baseline of the DR events could not be made unique within the time limit "
                "(models/dr_events.md, The plan baseline): it is a no-event plan of the optimal cost, which "
                "another machine may choose differently; raise solver.time_limit_s or --time-limit")


def scenario_plan_baseline(scenario: Scenario, options: SolverOptions,
                           deadline: Deadline | None = None) -> tuple[Problem, PlanBaseline]:
    """``(the no-event problem, its unique plan baseline)`` for the scenario's ``plan``-baseline events,
    its solves within ``deadline`` (default: a new one of ``options.time_limit_s``).

    Then ``build_problem(scenario, pv_kw=free.pv_kw, plan_net_load_kw=baseline.net_load_kw)``.
    """
    free = build_problem(scenario, with_events=False)
    events = scenario.config.dr_events
    scope, slots = event_scopes_and_slots(free.transformer_ids, scenario)
    sign = np.array([ev.sign for ev in events], dtype=float)
    wanted = np.array([ev.baseline == "plan" for ev in events], dtype=bool)
    return free, plan_baseline(free, scope, slots, sign, wanted, options, deadline)


def plan_baseline(free_problem: Problem, scope: np.ndarray, slots: np.ndarray, sign: np.ndarray,
                  wanted: np.ndarray, options: SolverOptions, deadline: Deadline | None = None) -> PlanBaseline:
    """The unique ``plan`` baseline of the events ``wanted`` [K] (bool) of the no-event problem.

    ``scope`` [K, N] transformers in each event's scope, ``slots`` [K, T] its window, ``sign`` [K]
    +1 peak shaving, -1 valley filling.
    """
    quiet_highs_banner()
    deadline = Deadline.of(options.time_limit_s, deadline)
    model = build_lean(free_problem, relax_integrality=True)
    h = _baseline_highs(model, options, deadline)
    out = _solve_steps(h, model, free_problem, scope, slots, sign, wanted)
    if (not out.unique and out.stopped_by == "time limit") or out.status is SolveStatus.NO_SOLUTION:
        deadline.cut("plan baseline")   # the clock chose the baseline: the plan ends time_limit, said
    return out


def _solve_steps(h: highspy.Highs, model, free_problem: Problem, scope: np.ndarray, slots: np.ndarray,
                 sign: np.ndarray, wanted: np.ndarray) -> PlanBaseline:
    """Steps 1-3 of the module docstring on the baseline LP in ``h``."""
    # step 1: the day's cost
    status = _run(h)
    if status is not SolveStatus.OPTIMAL:
        return PlanBaseline(status)
    cost = float(h.getInfo().objective_function_value)
    T, N = free_problem.n_slots, free_problem.n_transformers
    net = model.col_families["net_load_kw"]
    net_cols = np.arange(net.start, net.stop, dtype=np.int32).reshape(N, T)
    step1 = np.asarray(h.getSolution().col_value, dtype=np.float64)[net_cols]
    _keep_cost(h, model, cost)

    status, signed, step2 = _min_window_energy(h, model, free_problem, net_cols, scope, slots, sign, wanted)
    if status is not SolveStatus.OPTIMAL:
        return _stopped(status, step1, cost)
    status = _fix_slots(h, net_cols, scope, slots, sign, wanted)
    if status is not SolveStatus.OPTIMAL:
        return _stopped(status, step2, cost, signed_energy_kwh=signed)
    x = np.asarray(h.getSolution().col_value, dtype=np.float64)
    return PlanBaseline(SolveStatus.OPTIMAL, x[net_cols], cost, signed)


def _baseline_highs(model, options: SolverOptions, deadline: Deadline) -> highspy.Highs:
    """A quiet HiGHS instance holding the no-event day's LP, its options set."""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    opts = highs_options(options)
    # HiGHS counts time over the instance's life: one limit, set now, ends every solve at the deadline
    opts["time_limit"] = deadline.highs_time_limit()
    # presolve as the planner's LPs (off below LP_PRESOLVE_MIN_COLS): with it, every re-solve after
    # an added row would presolve again instead of starting from the last basis
    opts["presolve"] = lp_presolve(model.n_cols)
    for name in ("time_limit", "threads", "random_seed", "presolve"):
        _check(h.setOptionValue(name, opts[name]), f"setting HiGHS option {name}")
    _check(h.passModel(model.n_cols, model.n_rows, model.nnz, int(highspy.MatrixFormat.kColwise),
                       int(highspy.ObjSense.kMinimize), 0.0, model.col_cost, model.col_lower, model.col_upper,
                       model.row_lower, model.row_upper, model.a_start, model.a_index, model.a_value,
                       np.zeros(model.n_cols, dtype=np.int32)), "passing the baseline LP to HiGHS")
    return h


def _stopped(status: SolveStatus, best: np.ndarray, cost: float, **found) -> PlanBaseline:
    """A later step ended without its optimum: the last step's plan is kept, said. Step 1 found the
    day feasible, so a later step that fails (HiGHS's status unknown on the nearly tight rows, seen on
    a 375-EV day at its sixth slot) is the solver's failure, not the day's: no reason to lose the plan."""
    if status is SolveStatus.NO_SOLUTION:  # the wall clock, not the problem
        return PlanBaseline(SolveStatus.OPTIMAL, best, cost, unique=False, stopped_by="time limit", **found)
    return PlanBaseline(SolveStatus.OPTIMAL, best, cost, unique=False, stopped_by="solver", **found)


def _keep_cost(h: highspy.Highs, model, cost: float) -> None:
    """The later steps keep the day's cost within COST_TOLERANCE_REL of step 1's ``cost``."""
    # The later solves change the objective and add a row: the basis stays primal feasible, so the
    # primal simplex goes on from it (tens of iterations; the dual simplex restarted, 4-8x slower).
    _check(h.setOptionValue("simplex_strategy", 4), "choosing the primal simplex")
    nz = np.flatnonzero(model.col_cost).astype(np.int32)
    _add_row(h, nz, model.col_cost[nz], cost + COST_TOLERANCE_REL * max(abs(cost), 1.0))


def _min_window_energy(h: highspy.Highs, model, free_problem: Problem, net_cols: np.ndarray, scope: np.ndarray,
                       slots: np.ndarray, sign: np.ndarray,
                       wanted: np.ndarray) -> tuple[SolveStatus, float, np.ndarray | None]:
    """Step 2, the conservative energy in the windows: ``(status, S*, the net load)``, and on success
    the row keeping ``S*`` for step 3."""
    T, N = free_problem.n_slots, free_problem.n_transformers
    n = model.n_cols
    all_cols = np.arange(n, dtype=np.int32)
    weight = np.zeros((N, T))
    for k in np.flatnonzero(wanted):
        weight += sign[k] * free_problem.dt_h * np.outer(scope[k], slots[k])
    _check(h.changeColsCost(n, all_cols, np.zeros(n)), "clearing the cost")
    cols = net_cols[weight != 0]
    _check(h.changeColsCost(len(cols), cols, weight[weight != 0]), "setting the window energy objective")
    status = _run(h)
    if status is not SolveStatus.OPTIMAL:
        return status, float("nan"), None
    signed = float(h.getInfo().objective_function_value)
    step2 = np.asarray(h.getSolution().col_value, dtype=np.float64)[net_cols]
    _add_row(h, cols, weight[weight != 0], signed + ENERGY_TOLERANCE_REL * max(abs(signed), 1.0))
    _check(h.changeColsCost(len(cols), cols, np.zeros(len(cols))), "clearing the window energy objective")
    return status, signed, step2


def _fix_slots(h: highspy.Highs, net_cols: np.ndarray, scope: np.ndarray, slots: np.ndarray, sign: np.ndarray,
               wanted: np.ndarray) -> SolveStatus:
    """Step 3: slot by slot in time order (events in their order within a slot), each scope's load as
    low (peak shaving) or high (valley filling) as the steps before allow."""
    for t in range(net_cols.shape[1]):
        for k in np.flatnonzero(wanted & slots[:, t]):
            members = net_cols[scope[k], t]
            value = np.full(len(members), sign[k])
            _check(h.changeColsCost(len(members), members, value), "setting a slot's objective")
            status = _run(h)
            if status is not SolveStatus.OPTIMAL:
                return status
            best = float(h.getInfo().objective_function_value)
            _add_row(h, members, value, best + ENERGY_TOLERANCE_REL * max(abs(best), 1.0))
            _check(h.changeColsCost(len(members), members, np.zeros(len(members))), "clearing a slot's objective")
    return SolveStatus.OPTIMAL


def _add_row(h: highspy.Highs, cols: np.ndarray, values: np.ndarray, upper: float) -> None:
    _check(h.addRow(-highspy.kHighsInf, upper, len(cols), np.asarray(cols, np.int32),
                    np.asarray(values, np.float64)), "adding a baseline row")


def _run(h: highspy.Highs) -> SolveStatus:
    highspy.Highs.resetThreadScheduler(True)
    run_highs(h)
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kOptimal:
        return SolveStatus.OPTIMAL
    if status == highspy.HighsModelStatus.kInfeasible:
        return SolveStatus.INFEASIBLE
    if status == highspy.HighsModelStatus.kTimeLimit:
        return SolveStatus.NO_SOLUTION
    return SolveStatus.ERROR
