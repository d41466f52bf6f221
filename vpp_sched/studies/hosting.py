"""EV hosting capacity per transformer: the largest multiple of its EVs it carries without trouble.

For each transformer, under ``uncontrolled`` (every EV at full power from arrival) and under
``orderly`` (a coordinated day plan, see below), find the largest multiple ``m`` of the transformer's own EV
population (resampled as :func:`vpp_sched.studies.resample.resample_evs`, on this transformer only) at
which the day has

* no overload: net load never above the limit (``rated_kva x power_factor x max_loading_pu``,
  nor below minus the limit where a station feeds in), and
* no unmet energy by the grid: every EV gets what its stay physically allows (an EV whose stay
  is too short at its max power falls short under any grid and is not counted).

Search: a population of ``n`` EVs at multiple ``m`` has ``ev_count(m, n)`` EVs and the
populations are nested (a larger one holds every EV of a smaller one), so the uncontrolled
reference and the LP relaxation host monotonically in ``m``. The bracket starts at ``0..8``;
while the upper end still hosts it doubles, up to 64 (hosting 64x is reported ``capped``).
Then bisection until the bracket is within ``tolerance`` (1 %) of its lower end, or one EV
wide. The reported ``multiple`` is the largest multiple giving the hosted population
(``(c + 0.5) / n`` for ``c`` EVs, rounded down to 4 decimals): every multiple up to it gives at
most ``c`` EVs, and the first multiple shown not to host (``fail_multiple``) is at most
``tolerance`` above it, or one EV more.

Orderly means: a day plan exists that respects every charger (off, or between its min and max
power, only while plugged in for the whole slot) and has no overload and no unmet energy. It is
searched in two passes. The LP relaxation (chargers modulating down to 0) is searched as above;
it hosts whatever a plan can host, so the first population it shows not to host bounds orderly
from above: ``orderly_upper_evs`` is that population minus one (no plan hosts more). The LP's own
search stops within the tolerance, so the largest population *it* was shown to host may lie
below orderly's; hosting.csv does not report it (bisection.csv has every population judged).
Then populations from one EV below the LP's failure down are judged by a least-laxity-first
schedule (:func:`~vpp_sched.studies.hosting_judge.least_laxity_schedule`, fast: when it hosts, that is a valid plan) or, where it
falls short, by a feasibility MILP (:func:`~vpp_sched.studies.hosting_judge.feasibility_milp`: the day-ahead MILP pricing only
overload and unmet energy), which may prove either way: a plan with neither, or a lower bound
showing there is none (``decided_by`` ``milp`` in ``bisection.csv``). Within the time limit it
often cannot prove the second (the LP relaxation hosts more, so its bound stays at 0): such a
population counts as not hosted (``milp-undecided``). So the reported orderly threshold always
has a plan; the true threshold lies between it (``orderly_evs``) and ``orderly_upper_evs``
(``orderly_evs <= orderly_upper_evs`` always), and is the reported one, up to the bisection
tolerance, where the next population is ``milp``-proven. ``planner_at_threshold`` reports
whether the planner's cost-optimal plan also hosts that population: near capacity its LP
rounding can leave EVs short where a plan without shortfall exists.

Each transformer is solved alone: :func:`restrict_to_transformer` keeps only it, its EVs and
its stations; feeders and DR events are dropped (a transformer-only study).

The marginal value of one more kVA is the LP dual of ``transformer_limit`` (and of
``transformer_reverse_limit`` at a station) summed over the slots, from the LP relaxation of the
lean build at the orderly threshold, converted to CNY per kVA per day with
``power_factor x max_loading_pu`` (limit kW per kVA).
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from vpp_sched.errors import InputError
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.scenario.load import Scenario
from vpp_sched.solve.parallel import SerialExecutor
from vpp_sched.studies.hosting_grid import (LEVEL_COLUMNS, LIMIT_COLUMNS, ORDERLY_MAX_PLANS, grid_columns, grid_row,
                                            grid_searches, level_rows, limit_rows)
from vpp_sched.studies.hosting_judge import Evaluation, evaluate, judge_outcome, kva_value
from vpp_sched.studies.hosting_search import (EVALUATION_COLUMNS, TOLERANCE, Threshold, binding_text, fails_with_text,
                                              find_threshold, orderly_bound)
from vpp_sched.studies.vary import POLICIES
from vpp_sched.studies.whatif import work_bounded

#: Least time limit of the planner's own solve at the threshold (``planner_at_threshold``) [s]: the
#: study's short per-population limit would cut the planner's MILP stages, `vpp-sched plan` has 60 s.
PLANNER_CHECK_TIME_LIMIT_S = 30.0
#: Branch-and-bound nodes of each MILP run of a judgement: the judgement is bounded by work, so it
#: is the same on a busy or an idle machine; the time limit only stops a run that then says so
#: (``decided_by = milp-undecided``, "stopped by the wall-clock limit" in ``fails_with``).
HOSTING_MAX_NODES = 200


# ------------------------------------------------------------------------------------------
# one transformer's subproblem
# ------------------------------------------------------------------------------------------
def restrict_to_transformer(scenario: Scenario, transformer_id: str) -> Scenario:
    """The scenario with only ``transformer_id``, its EVs and its stations (no feeders, no DR events)."""
    trafos = scenario.transformers
    if transformer_id not in set(trafos.transformer_id):
        raise InputError([f"transformer {transformer_id} is not in {scenario.config.transformers}"])
    one = trafos[trafos.transformer_id == transformer_id].reset_index(drop=True)
    one.attrs = {}
    one["feeder_id"] = ""
    stations = [st for st in scenario.config.stations if st.transformer_id == transformer_id]
    sites = {kind: [st for st in getattr(scenario.config, kind) if st.transformer_id == transformer_id]
             for kind in ("swap_stations", "fast_charging_stations")}   # issue 14's sites stay with their transformer
    config = scenario.config.model_copy(update={"stations": stations, "dr_events": [], "feeders": None, **sites})
    evs = scenario.evs[scenario.evs.transformer_id == transformer_id].reset_index(drop=True)
    kept = {st.station_id for st in [*stations, *sites["swap_stations"], *sites["fast_charging_stations"]]}
    return dataclasses.replace(
        scenario, config=config, transformers=one, feeders=scenario.feeders.iloc[0:0],
        base_load_kw=scenario.base_load_kw[[transformer_id]], evs=evs,
        weather={k: v for k, v in scenario.weather.items() if k in kept})


def station_transformers(scenario: Scenario) -> set[str]:
    return {st.transformer_id for st in [*scenario.config.stations, *scenario.config.sites()]}


# ------------------------------------------------------------------------------------------
# the study
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HostingTask:
    transformer_id: str
    scenario: Scenario               # already restricted to the transformer
    policies: tuple[str, ...]
    seed: int = 0
    method: str = "lean"
    options: SolverOptions | None = None
    tolerance: float = TOLERANCE
    grid: bool = True                # also search the LV grid's limits (studies/hosting_grid.py), where named
    added_phase: str = "spread"
    max_plans: int = ORDERLY_MAX_PLANS


def hosting_thresholds(sc1: Scenario, transformer_id: str, policies: Sequence[str] = POLICIES, *, seed: int = 0,
                       method: str = "lean", options: SolverOptions | None = None,
                       tolerance: float = TOLERANCE) -> dict[str, Threshold]:
    """Thresholds of one transformer (``sc1`` restricted to it): ``uncontrolled``, ``orderly`` and,
    with ``orderly``, ``orderly_lp`` (the LP relaxation's search: its first failure bounds orderly
    from above, see :func:`~vpp_sched.studies.hosting_search.orderly_bound`; its ``n_evs`` is only what that search saw hosted).

    Orderly is searched in two passes: the cheap LP relaxation first (the bracket and bisection of
    the module docstring), then, from one EV below the population the LP fails, populations are
    judged ``orderly``: hosted when the least-laxity schedule or else the feasibility plan
    (:func:`~vpp_sched.studies.hosting_judge.feasibility_milp`) has no overload and no unmet energy. Both are valid plans, so every
    reported orderly threshold is proven hosted; when it meets the LP's, it is exact.
    ``planner_at_threshold`` says whether the planner's own cost-optimal solve (as ``vpp-sched
    plan``, with at least ``PLANNER_CHECK_TIME_LIMIT_S``) also hosts the threshold population.
    """
    n = len(sc1.evs)

    def judge(mode: str):
        return lambda c: evaluate(sc1, transformer_id, c, mode, seed=seed, method=method, options=options)

    found: dict[str, Threshold] = {}
    if "uncontrolled" in policies:
        found["uncontrolled"] = find_threshold(judge("uncontrolled"), n, "uncontrolled", tolerance=tolerance)
    if "orderly" in policies:
        lp = found["orderly_lp"] = find_threshold(judge("lp"), n, "orderly_lp", tolerance=tolerance)
        hint = found["uncontrolled"].multiple if "uncontrolled" in found else None
        orderly = find_threshold(judge("orderly"), n, "orderly", tolerance=tolerance, hint=hint,
                                 known_fail=lp.above)
        if orderly.at is not None:
            orderly.kva_value, lp_at = kva_value(sc1, transformer_id, orderly.n_evs, seed=seed, options=options)
            orderly.binding = binding_text(judge_outcome(lp_at, "lp")) + " (cost-optimal LP at the threshold)"
            check = (options or sc1.config.solver).model_copy(update={"time_limit_s": max(
                (options or sc1.config.solver).time_limit_s, PLANNER_CHECK_TIME_LIMIT_S)})
            planner = evaluate(sc1, transformer_id, orderly.n_evs, "plan", seed=seed, method=method, options=check)
            orderly.planner = _planner_text(planner)
        found["orderly"] = orderly
    return found


def _planner_text(ev: Evaluation) -> str:
    if ev.outcome is None:
        return ev.note
    status = ev.outcome.status
    if ev.hosts:
        return f"hosts ({status})"
    return fails_with_text(ev).split(": ", 1)[-1] + f" ({status})"


def host_transformer(task: HostingTask) -> dict:
    """One row of ``hosting.csv``; errors become ``status = failed``, never raise."""
    t0 = time.perf_counter()
    sc, tid = task.scenario, task.transformer_id
    trafo = sc.transformers.iloc[0]
    n = len(sc.evs)
    row = {"transformer_id": tid, "rated_kva": float(trafo.rated_kva), "limit_kw": float(trafo.limit_kw),
           "evs_today": n}
    try:
        if n == 0:
            row.update(status="no EVs", error="the transformer has no EVs to scale")
            row["wall_seconds"] = time.perf_counter() - t0
            return row
        found = hosting_thresholds(sc, tid, task.policies, seed=task.seed, method=task.method,
                                   options=task.options, tolerance=task.tolerance)
        for policy, th in found.items():
            if policy == "orderly_lp":
                row.update(orderly_bound(th, found["orderly"], n))
                continue
            row.update({f"{policy}_multiple": th.multiple, f"{policy}_evs": th.n_evs,
                        f"{policy}_fail_multiple": th.fail_multiple, f"{policy}_fail_evs": th.fail_evs,
                        f"{policy}_capped": th.capped, f"{policy}_binding": th.binding,
                        f"{policy}_fails_with": th.fails_with})
        row["_tried"] = [{"transformer_id": tid, "policy": policy, **r} for policy, th in found.items()
                         for r in th.tried]
        if "orderly" in found:
            row["kva_value_cny_per_kva_day"] = found["orderly"].kva_value
            row["planner_at_threshold"] = found["orderly"].planner
        if task.grid and tid in sc.grids:
            _add_grid_search(row, task, found)
        row.update(status="ok", error="", evaluations=sum(th.evaluations for th in found.values()))
    except Exception as exc:  # noqa: BLE001 - one transformer failing is reported, not fatal
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        at = f" (at {Path(where.filename).name}:{where.lineno})" if where else ""
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}{at}")
    row["wall_seconds"] = time.perf_counter() - t0
    return row


def _add_grid_search(row: dict, task: HostingTask, found: dict[str, Threshold]) -> None:
    """The grid columns of ``row`` and its ``_grid_limits`` / ``_grid_levels`` rows (studies/hosting_grid.py)."""
    sc, tid = task.scenario, task.transformer_id
    orderly, lp = found.get("orderly"), found.get("orderly_lp")
    searches = grid_searches(sc, tid, task.policies, seed=task.seed, added_phase=task.added_phase,
                             method=task.method, options=task.options, tolerance=task.tolerance,
                             orderly_evs=orderly.n_evs if orderly else None,
                             orderly_end_evs=lp.fail_evs if lp else None, max_plans=task.max_plans)
    row.update(grid_row(searches, sc.grids[tid].name, task.added_phase))
    row["_grid_limits"] = limit_rows(tid, searches)
    row["_grid_levels"] = level_rows(tid, searches)


@dataclass
class HostingResult:
    scenario_name: str
    policies: list[str]
    table: pd.DataFrame
    tolerance: float
    seed: int
    wall_seconds: float
    executor: str = "serial"
    workers: int = 1
    warnings: list[str] = field(default_factory=list)
    evaluations: pd.DataFrame | None = None   # every population judged (bisection.csv), EVALUATION_COLUMNS
    scenario_folder: str = ""
    method: str = "lean"
    time_limit_s: float | None = None         # solver time limit per plan [s]
    grid_limits: pd.DataFrame | None = None   # per transformer with a grid, policy and limit (grid_limits.csv)
    grid_levels: pd.DataFrame | None = None   # every population the grid search judged (grid_levels.csv)


def hosting_columns(policies: Sequence[str], grid: bool = False) -> list[str]:
    cols = ["transformer_id", "rated_kva", "limit_kw", "evs_today"]
    for pol in policies:
        cols += [f"{pol}_multiple", f"{pol}_evs", f"{pol}_fail_multiple", f"{pol}_fail_evs", f"{pol}_capped",
                 f"{pol}_binding", f"{pol}_fails_with"]
    if "orderly" in policies:
        cols += ["orderly_upper_multiple", "orderly_upper_evs", "orderly_upper_capped",
                 "planner_at_threshold", "kva_value_cny_per_kva_day"]
    if grid:
        cols += grid_columns(policies)
    return cols + ["tolerance", "evaluations", "status", "error", "wall_seconds"]


def typed_flags(table: pd.DataFrame, policies: Sequence[str]) -> pd.DataFrame:
    """``table`` with its ``*_capped`` flags as nullable booleans: NA, not NaN, where a transformer has no
    result (no EVs, failed), so no reader takes a missing flag for True (``bool(nan)`` is True)."""
    flags = [f"{pol}_capped" for pol in policies] + (["orderly_upper_capped"] if "orderly" in policies else [])
    return table.astype({col: "boolean" for col in flags if col in table})


def default_transformers(scenario: Scenario) -> list[str]:
    """Every transformer without a station (a station's transformer only when named)."""
    stations = station_transformers(scenario)
    return [t for t in scenario.transformers.transformer_id if t not in stations]


def run_hosting(scenario: Scenario, transformer_ids: Sequence[str] | None = None,
                policies: Sequence[str] = POLICIES, *, seed: int = 0, method: str = "lean",
                options: SolverOptions | None = None, tolerance: float = TOLERANCE,
                executor=None, grid: bool = True, added_phase: str = "spread",
                max_plans: int = ORDERLY_MAX_PLANS) -> HostingResult:
    """Hosting thresholds of each transformer (default :func:`default_transformers`).

    Raises ``InputError`` for an unknown transformer id; a transformer whose search fails is a
    row with ``status = failed``.
    """
    t0 = time.perf_counter()
    known = list(scenario.transformers.transformer_id)
    ids = list(dict.fromkeys(transformer_ids)) if transformer_ids else default_transformers(scenario)
    unknown = [t for t in ids if t not in known]
    if unknown:
        raise InputError([f"--transformer {t}: not a transformer of {scenario.config.transformers} "
                          f"(known: {', '.join(known[:8])}{', ...' if len(known) > 8 else ''})" for t in unknown])
    policies = tuple(p for p in POLICIES if p in policies)
    options = work_bounded(options or scenario.config.solver, HOSTING_MAX_NODES)
    tasks = [HostingTask(t, restrict_to_transformer(scenario, t), policies, seed, method, options, tolerance,
                         grid, added_phase, max_plans) for t in ids]
    # Most EVs first: the longest searches start early.
    order = sorted(range(len(tasks)), key=lambda i: -len(tasks[i].scenario.evs))
    ex = executor or SerialExecutor()
    done = ex.map(host_transformer, [tasks[i] for i in order])
    rows = [None] * len(tasks)
    for i, r in zip(order, done):
        rows[i] = r
    tried = [t for r in rows for t in r.pop("_tried", [])]
    limits = [t for r in rows for t in r.pop("_grid_limits", [])]
    levels = [t for r in rows for t in r.pop("_grid_levels", [])]
    with_grid = grid and any(t in scenario.grids for t in ids)
    table = typed_flags(pd.DataFrame(rows).reindex(columns=hosting_columns(policies, with_grid)), policies)
    table["tolerance"] = tolerance
    result = HostingResult(scenario.config.name, list(policies), table, tolerance, seed, time.perf_counter() - t0,
                           getattr(ex, "name", type(ex).__name__), int(getattr(ex, "workers", 1)),
                           evaluations=pd.DataFrame(tried, columns=EVALUATION_COLUMNS),
                           scenario_folder=str(getattr(scenario, "folder", "") or ""), method=method,
                           time_limit_s=(options or scenario.config.solver).time_limit_s,
                           grid_limits=pd.DataFrame(limits, columns=LIMIT_COLUMNS) if with_grid else None,
                           grid_levels=pd.DataFrame(levels, columns=LEVEL_COLUMNS) if with_grid else None)
    failed = table[table.status == "failed"]
    if len(failed):
        result.warnings.append(f"{len(failed)} of {len(table)} transformer(s) failed (status 'failed' in "
                               f"hosting.csv), e.g. {failed.transformer_id.iat[0]}: {failed.error.iat[0]}")
    return result
