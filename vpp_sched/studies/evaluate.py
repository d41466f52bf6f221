"""Monte-Carlo evaluation of plans on sampled days (``vpp-sched evaluate``).

``N`` days are drawn from the scenario's ``uncertainty:`` model (:func:`~vpp_sched.scenario.sampling.sample_day`,
day ``d`` of ``seed``), and each is played slot by slot (:func:`vpp_sched.studies.replay.simulate`)
under each policy:

* ``uncontrolled``: every EV that plugs in charges at full power from its first whole slot;
* ``day-ahead``: the deterministic plan of the forecast held all day, chargers capped at its set-points
  (an unannounced EV gets nothing, a late one what its planned slots still offer);
* ``replan``: the same plan, re-planned from the metered state every ``replan_every`` slots and at
  DR notices, as ``vpp-sched replay`` re-plans (arrivals do not trigger a re-plan here: they are
  many on a sampled day, and the periodic re-plans pick them up), every re-plan keeping the robust
  margins below each limit (:mod:`vpp_sched.problem.margins`);
* ``robust``: the robust plan (its margins and robust sessions), re-planned like ``replan`` with the
  margins and the robust sessions kept in every re-plan.

``replan`` and ``robust`` run under the charging platform's slot controller
(:mod:`vpp_sched.studies.slot_control`): in every slot, EVs that would otherwise miss their stated
request are caught up, and the controllable loads are cut to the transformer's metered headroom.

The two plans are made once (the forecast is the same every day); the days run on an executor of
:mod:`vpp_sched.solve.parallel` in runs of consecutive days, each day a function of its number only,
so every executor gives the same tables. Re-plans are bounded by work (``REPLAN_MAX_NODES`` nodes per MILP run). Method and
definitions: ``models/uncertainty.md``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from vpp_sched.errors import ArgumentError, NoPlanError
from vpp_sched.plan.results import TOL_KWH, event_summary, grid_kpis
from vpp_sched.problem.arrays import Problem
from vpp_sched.problem.margins import Margins, is_margin_event, robust_margins, robust_scenario, with_margins
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.scenario.load import Scenario
from vpp_sched.scenario.sampling import sample_day
from vpp_sched.solve.dispatch import solve
from vpp_sched.solve.parallel import SerialExecutor, batches
from vpp_sched.solve.solution import Solution
from vpp_sched.studies.actuals import Context, forecast_as_actuals, make_context, sampled_actuals, window_problem
from vpp_sched.studies.actuals_sites import FAST_DAY_COLUMNS, SWAP_DAY_COLUMNS, site_day_kpis
from vpp_sched.studies.replay import (REPLAN_MAX_NODES, ReplayRun, decision_points, event_table, simulate,
                                      uncontrolled_run)

POLICIES = ("uncontrolled", "day-ahead", "replan", "robust")
#: Re-plan every this many slots by default (6 h of 15-min slots): 3 re-plans a day per re-planning
#: policy. The slot controller keeps the limits and the drivers' requests between re-plans, so the
#: re-plans are for cost only: on days 0-9 of the bundled scenario every 24 slots took 38 % less CPU
#: than every 12 with the same unmet energy and overloads (none), at -0.1 % (replan) and +0.2 %
#: (robust) energy cost (benchmarks/bench_evaluate.py, models/uncertainty.md "Measured").
EVALUATE_REPLAN_EVERY = 24
#: Days go to the executor in about this many runs of consecutive days per worker (load balance
#: against pickling the scenario and the plans once per task).
CHUNKS_PER_WORKER = 4
#: Policies whose set-points the charging platform fits to every metered slot (catch-up, headroom cap).
SLOT_CONTROLLED = ("replan", "robust")
#: A slot is an overload when the metered load passes the usable limit by more than this share [-].
OVERLOAD_TOLERANCE = 0.01
DAY_COLUMNS = ["day", "policy", "energy_cost_cny", "overload_kwh", "overloaded_transformers", "unmet_kwh",
               "evs_short", "peak_kw", "max_loading_pu", "replans"]
TRANSFORMER_COLUMNS = ["policy", "transformer_id", "p_overload_day", "expected_overload_kwh", "p95_loading_pu",
                       "max_loading_pu"]


@dataclass(frozen=True)
class DayPlans:
    """What every day starts from: the forecast problems and the plans made on them."""

    forecast: Problem                 # the day-ahead problem over the forecast sessions
    day_ahead: Solution
    robust_forecast: Problem | None = None   # ``forecast`` with the margin events
    robust: Solution | None = None
    margins: Margins | None = None
    robust_scenario: Scenario | None = None   # the scenario with the robust stays of its EVs
    replan_forecast: Problem | None = None    # ``forecast`` with the margin events: what ``replan`` re-plans on


@dataclass(frozen=True)
class DayTask:
    """One sampled day to play (pickled to Dask workers as it is)."""

    day: int
    seed: int
    scenario: Scenario
    policies: tuple[str, ...]
    plans: DayPlans
    options: SolverOptions
    method: str = "lean"
    replan_every: int = EVALUATE_REPLAN_EVERY


@dataclass
class EvaluateResult:
    """The evaluation's tables and its setting."""

    scenario_name: str
    days: pd.DataFrame                # one row per day and policy (DAY_COLUMNS, then DR compliance)
    transformers: pd.DataFrame        # one row per policy and transformer (TRANSFORMER_COLUMNS)
    day_transformers: pd.DataFrame    # one row per day, policy and transformer
    policies: list[str]
    n_days: int
    seed: int
    replan_every: int
    margins: Margins | None = None
    transformer_ids: list[str] = field(default_factory=list)
    slots: pd.DatetimeIndex | None = None
    wall_seconds: float = 0.0          # timings: printed, never written (the files do not depend on the machine)
    cpu_seconds: float = 0.0
    executor: str = "serial"
    workers: int = 1
    warnings: list[str] = field(default_factory=list)


def parse_policies(text: str | list[str]) -> list[str]:
    """Policies from ``"uncontrolled,day-ahead"`` (order of :data:`POLICIES`); unknown names raise ArgumentError."""
    names = [p.strip() for p in (text.split(",") if isinstance(text, str) else text) if p.strip()]
    bad = [p for p in names if p not in POLICIES]
    if bad or not names:
        raise ArgumentError(f"unknown polic{'y' if len(bad) == 1 else 'ies'} {', '.join(bad) or '(none)'}; "
                            f"choose from {', '.join(POLICIES)}")
    return [p for p in POLICIES if p in names]


def make_plans(scenario: Scenario, options: SolverOptions, method: str = "lean", robust: bool = True,
               seed: int = 0, executor=None) -> DayPlans:
    """The deterministic plan and, if ``robust``, the robust plan of the forecast (once for all days);
    the two solves side by side on ``executor`` (default: one after the other)."""
    ctx = make_context(scenario, forecast_as_actuals(scenario), options, method)
    if not robust:
        return DayPlans(forecast=ctx.problem, day_ahead=_solved(_day_ahead_problem(ctx), options, method,
                                                                "the day-ahead plan"))
    margins = robust_margins(scenario, ctx.problem, seed)
    robust_sc = robust_scenario(scenario, margins.epsilon)
    price = scenario.config.uncertainty.robust_margin_cny_per_kwh
    margined = with_margins(ctx.problem, margins.margin_kw, price)
    rctx = make_context(robust_sc, forecast_as_actuals(scenario), options, method, forecast=margined)
    jobs = [(_day_ahead_problem(ctx), options, method, "the day-ahead plan"),
            (_day_ahead_problem(rctx), options, method, "the robust plan")]
    day_ahead, robust_plan = (executor or SerialExecutor()).map(_solved_job, jobs)
    return DayPlans(forecast=ctx.problem, day_ahead=day_ahead, robust_forecast=rctx.problem, robust=robust_plan,
                    margins=margins, robust_scenario=robust_sc, replan_forecast=margined)


def _day_ahead_problem(ctx: Context) -> Problem:
    """The day-ahead problem of a context: slot 0 on, the forecast only."""
    zero = np.zeros(len(ctx.fleet.ev_ids))
    return window_problem(ctx, 0, zero, ctx.problem.battery_soc_initial_kwh, use_actuals=False)


def _solved_job(job: tuple) -> Solution:
    """:func:`_solved` of ``(problem, options, method, what)`` (one executor task)."""
    return _solved(*job)


def _solved(problem: Problem, options: SolverOptions, method: str, what: str) -> Solution:
    # the plan keeps its relaxation's basis: the day's first re-plan starts from it, as in replay
    sol = solve(problem, options, method=method, keep_basis=True)
    if not sol.status.has_plan:
        raise NoPlanError(sol.status, f"{what} ended {sol.status.value}")
    return sol


def padded(sol: Solution, n_evs: int) -> Solution:
    """``sol`` with zero EV rows appended up to ``n_evs`` (the day's unannounced sessions are in no plan)."""
    def pad(a):
        if a is None or a.shape[0] >= n_evs:
            return a
        return np.concatenate([a, np.zeros((n_evs - a.shape[0], *a.shape[1:]))])
    return replace(sol, ev_power_kw=pad(sol.ev_power_kw), ev_unmet_kwh=pad(sol.ev_unmet_kwh),
                   ev_discharge_kw=pad(sol.ev_discharge_kw), ev_soc_kwh=pad(sol.ev_soc_kwh))


def periodic_decisions(ctx: Context, replan_every: int) -> dict[int, list[str]]:
    """Slot -> reasons: every ``replan_every`` slots and at DR notices (not at arrivals; see the module)."""
    out = {}
    for t, reasons in decision_points(ctx, replan_every).items():
        kept = [r for r in reasons if not r.startswith("arrival ")]
        if kept:
            out[t] = kept
    return out


def run_day(task: DayTask) -> tuple[list[dict], list[dict], float]:
    """Rows of one day (per policy, per policy and transformer) and its CPU time (this thread's) [s]."""
    cpu = time.thread_time()
    sc, plans = task.scenario, task.plans
    actuals = sampled_actuals(sc, sample_day(sc, task.seed, task.day), pv_forecast_kw=plans.forecast.pv_kw)
    replan_options = task.options.model_copy(update={"mip_max_nodes": min(task.options.mip_max_nodes
                                                                          or REPLAN_MAX_NODES, REPLAN_MAX_NODES)})
    rows, per_t = [], []
    # with margins when replan keeps them: uncontrolled and day-ahead never re-plan, so they are the same on it
    forecast = plans.forecast if plans.replan_forecast is None else plans.replan_forecast
    ctx = make_context(sc, actuals, task.options, task.method, forecast=forecast)
    for policy in task.policies:
        run_ctx = ctx
        if policy == "uncontrolled":
            run = uncontrolled_run(ctx)
        else:
            robust = policy == "robust"
            if robust:
                run_ctx = make_context(plans.robust_scenario, actuals, task.options, task.method,
                                       forecast=plans.robust_forecast)
            sol = padded(plans.robust if robust else plans.day_ahead, len(run_ctx.fleet.ev_ids))
            start = _day_ahead_problem(run_ctx)
            decisions = {} if policy == "day-ahead" else periodic_decisions(run_ctx, task.replan_every)
            # the re-planning policies run under the platform's slot controller (studies/slot_control.py)
            run = simulate(run_ctx, policy, (start, sol), decisions, replan_options,
                           slot_control=policy in SLOT_CONTROLLED)
        row, trafo = day_kpis(run_ctx, run)
        rows.append({"day": task.day, "policy": policy, **row})
        per_t += [{"day": task.day, "policy": policy, **r} for r in trafo]
    return rows, per_t, time.thread_time() - cpu


def run_days(tasks: list[DayTask]) -> list[tuple[list[dict], list[dict], float]]:
    """:func:`run_day` of each task, in order (one executor task for a run of days)."""
    return [run_day(t) for t in tasks]


def day_kpis(ctx: Context, run: ReplayRun) -> tuple[dict, list[dict]]:
    """The day's KPIs of one run (metered loads) and its per-transformer overloads and peak loading."""
    p, f = ctx.problem, ctx.fleet
    unmet = np.where(f.in_actuals, np.maximum(f.a_energy_kwh - run.delivered_kwh, 0.0), 0.0)
    unmet[unmet < 1e-3] = 0.0
    k = grid_kpis(p, run.net_load_kw, unmet)
    load = np.abs(run.net_load_kw)
    over_slot = load > p.limit_kw[:, None] * (1.0 + OVERLOAD_TOLERANCE)
    over_kwh = np.where(over_slot, load - p.limit_kw[:, None], 0.0).sum(axis=1) * p.dt_h
    peak_pu = (load / p.rating_kw[:, None]).max(axis=1)
    row = {"energy_cost_cny": k["grid_energy_cost_cny"], "overload_kwh": float(over_kwh.sum()),
           "overloaded_transformers": int(over_slot.any(axis=1).sum()), "unmet_kwh": float(unmet.sum()),
           "evs_short": int((unmet > TOL_KWH).sum()), "peak_kw": k["peak_net_load_kw"],
           "max_loading_pu": float(peak_pu.max()) if len(peak_pu) else 0.0,
           "replans": sum(1 for d in run.decisions if d["solved"])}
    row.update(site_day_kpis(run.sites, p.dt_h))   # the sites on the day's demand (studies/actuals_sites.py)
    row.update(dr_compliance(p, run.net_load_kw))
    trafo = [{"transformer_id": str(tid), "overloaded": bool(over_slot[n].any()), "overload_kwh": float(over_kwh[n]),
              "peak_loading_pu": float(peak_pu[n])} for n, tid in enumerate(p.transformer_ids)]
    return row, trafo


def dr_compliance(p: Problem, net_load_kw: np.ndarray) -> dict:
    """``dr_<event_id>_compliance_pct`` of each DR event of the scenario (margin events left out) [%]."""
    real = ~is_margin_event(p.event_ids) if p.n_events else np.zeros(0, bool)
    if not real.any():
        return {}
    keep = set(p.event_ids[real])
    summary = event_summary(p, event_table(p, net_load_kw))
    return {f"dr_{e.event_id}_compliance_pct": float(e.compliance_pct) for e in summary.itertuples()
            if e.event_id in keep}


def run_evaluate(scenario: Scenario, days: int, seed: int = 0, policies=POLICIES, *,
                 replan_every: int = EVALUATE_REPLAN_EVERY, options: SolverOptions | None = None,
                 method: str = "lean", executor=None) -> EvaluateResult:
    """Play ``days`` sampled days under each policy (see the module). ``executor``: map(fn, items)."""
    if days < 1:
        raise ArgumentError(f"days must be at least 1, not {days}")
    t0, cpu0 = time.perf_counter(), time.process_time()
    policies = tuple(parse_policies(list(policies)))
    options = options or scenario.config.solver
    ex = executor or SerialExecutor()
    plans = make_plans(scenario, options, method, robust=bool({"robust", "replan"} & set(policies)), seed=seed,
                       executor=ex)
    tasks = [DayTask(d, seed, scenario, policies, plans, options, method, replan_every) for d in range(days)]
    # worker processes: a few runs of consecutive days per task, one pickled copy of the scenario and the
    # plans each; threads share them, so one day per task balances the load best (no idle core at the end)
    in_process = getattr(ex, "in_process", True)
    chunks = batches(list(range(days)), np.ones(days),
                     days if in_process else CHUNKS_PER_WORKER * int(getattr(ex, "workers", 1)))
    done = [d for part in ex.map(run_days, [[tasks[i] for i in run] for run in chunks]) for d in part]
    rows = [r for day_rows, _, _ in done for r in day_rows]
    per_t = pd.DataFrame([r for _, day_t, _ in done for r in day_t])
    table = pd.DataFrame(rows)
    lead = DAY_COLUMNS + [c for c in SWAP_DAY_COLUMNS + FAST_DAY_COLUMNS if c in table.columns]   # then DR
    table = table[lead + sorted(c for c in table.columns if c not in lead)]
    cpu = time.process_time() - cpu0 + (0.0 if in_process else sum(c for _, _, c in done))
    result = EvaluateResult(scenario.config.name, table, transformer_table(per_t, policies), per_t, list(policies),
                            days, seed, replan_every, plans.margins,
                            [str(t) for t in plans.forecast.transformer_ids], plans.forecast.slots,
                            time.perf_counter() - t0, cpu, getattr(ex, "name", type(ex).__name__),
                            int(getattr(ex, "workers", 1)))
    result.warnings += evaluate_warnings(result)
    return result


def transformer_table(per_t: pd.DataFrame, policies) -> pd.DataFrame:
    """Per policy and transformer: share of days with an overload, mean overload energy, 95th percentile
    and maximum over the days of the day's peak loading [-, kWh, pu]."""
    if not len(per_t):
        return pd.DataFrame(columns=TRANSFORMER_COLUMNS)
    g = per_t.groupby(["policy", "transformer_id"], sort=False)
    out = pd.DataFrame({"p_overload_day": g.overloaded.mean(), "expected_overload_kwh": g.overload_kwh.mean(),
                        "p95_loading_pu": g.peak_loading_pu.quantile(0.95),
                        "max_loading_pu": g.peak_loading_pu.max()}).reset_index()
    order = {p: i for i, p in enumerate(policies)}
    out = out.sort_values("policy", key=lambda c: c.map(order), kind="stable", ignore_index=True)
    return out[TRANSFORMER_COLUMNS]


def evaluate_warnings(r: EvaluateResult) -> list[str]:
    """Policies that miss the 95 %-of-days target on some transformer, or leave EVs shorter than uncontrolled."""
    out = []
    t = r.transformers
    for policy in r.policies:
        bad = t[(t.policy == policy) & (t.p_overload_day > 0.05)]
        if policy != "uncontrolled" and len(bad):
            out.append(f"{policy}: {len(bad)} transformer(s) above their limit on more than 5 % of the days, e.g. "
                       f"{bad.transformer_id.iat[0]} on {bad.p_overload_day.iat[0]:.0%} (see transformers.csv)")
    return out


def policy_stats(r: EvaluateResult) -> pd.DataFrame:
    """Per policy: mean, 5th and 95th percentile of the day's cost, overload and unmet energy, the share of
    days with any overload, transformers held on >= 95 % of days [CNY, kWh, -]."""
    rows = []
    for policy in r.policies:
        d = r.days[r.days.policy == policy]
        t = r.transformers[r.transformers.policy == policy]
        rows.append({"policy": policy, "energy_cost_cny_mean": d.energy_cost_cny.mean(),
                     "energy_cost_cny_p5": d.energy_cost_cny.quantile(0.05),
                     "energy_cost_cny_p95": d.energy_cost_cny.quantile(0.95),
                     "overload_kwh_mean": d.overload_kwh.mean(), "days_with_overload": (d.overloaded_transformers > 0).mean(),
                     "unmet_kwh_mean": d.unmet_kwh.mean(), "evs_short_mean": d.evs_short.mean(),
                     "peak_kw_mean": d.peak_kw.mean(), "replans_mean": d.replans.mean(),
                     "transformers_held_95": int((t.p_overload_day <= 0.05).sum()), "transformers": len(t),
                     "worst_p_overload_day": t.p_overload_day.max() if len(t) else 0.0})
    return pd.DataFrame(rows)


def findings(r: EvaluateResult, stats: pd.DataFrame) -> list[str]:
    """The targets of issue 16 against the numbers: limits held, cost against the deterministic plan, unmet energy."""
    out = []
    base = stats.energy_cost_cny_mean.get("day-ahead")
    floor = stats.unmet_kwh_mean.get("uncontrolled")
    for policy in ("day-ahead", "replan", "robust"):
        if policy not in stats.index:
            continue
        s = stats.loc[policy]
        missed = int(s.transformers - s.transformers_held_95)
        text = (f"`{policy}`: " + ("every transformer holds its limit" if not missed else
                                   f"{missed} of {int(s.transformers)} transformers miss their limit")
                + f" on >= 95 % of the days (the worst is over on {s.worst_p_overload_day:.0%} of the days)")
        if base is not None and policy != "day-ahead":
            text += f"; energy cost {100 * (s.energy_cost_cny_mean / base - 1):+.2f} % against the day-ahead plan's expected cost"
        if floor is not None:
            text += (f"; unmet energy {s.unmet_kwh_mean:,.1f} kWh a day against {floor:,.1f} kWh uncontrolled "
                     f"({'no higher' if s.unmet_kwh_mean <= floor + 1e-6 else 'higher'})")
        out.append(text + ".")
    return out
