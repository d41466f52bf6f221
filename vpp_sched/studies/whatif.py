"""Feeder-capacity what-if studies: the cross product of input variations, each a full plan.

``vpp-sched whatif SCENARIO --vary KEY=V1,V2 [--vary ...]`` plans every combination of the
varied inputs under each policy and tabulates what it does to the transformers:

* ``uncontrolled``: every EV at full power from arrival (the reference of every plan, no solve);
* ``orderly``: the day-ahead plan of :func:`~vpp_sched.plan.planner.plan_day`.

Keys (``--vary``)
-----------------
``transformers.<ID>.<column>``
    a ``transformers.csv`` column of one transformer: ``rated_kva``, ``power_factor``,
    ``max_loading_pu`` (numbers) or ``feeder_id`` (a feeder of ``feeders.csv``, empty for none).
``evs.scale``
    the EV population as a multiple of today's, per transformer (each keeps its own mix), see
    :func:`~vpp_sched.studies.resample.resample_evs`.
``stations.<ID>.battery.<field>`` / ``stations.<ID>.pv.<field>``
    a numeric field of the station's battery or PV (``capacity_kwh``, ``max_charge_kw``,
    ``capacity_kwp``, ``tilt_deg``, ...). ``capacity_kwh=0`` removes the battery and
    ``capacity_kwp=0`` the PV; other values resize an existing one (its power ratings stay).
``tariff.scale``
    multiplies every energy price.

A case is applied to the loaded :class:`~vpp_sched.scenario.load.Scenario` in memory
(:func:`~vpp_sched.studies.cases.apply_case`); no scenario files are written. Syntax errors and out-of-range values
raise :class:`~vpp_sched.studies.vary.VaryError` (a usage error); ids that are not in the scenario raise
:class:`~vpp_sched.errors.InputError`.

The cases run through an executor of :mod:`vpp_sched.solve.parallel` (in-process, threads, a local
Dask cluster or a remote scheduler); a case that fails becomes a row with status ``failed`` and
its error message.
"""

from __future__ import annotations

import contextlib
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vpp_sched.errors import InputError, NoPlanError
from vpp_sched.problem.build import build_problem
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.scenario.load import Scenario
from vpp_sched.solve.parallel import SerialExecutor, cpu_count, get_executor
from vpp_sched.studies.cases import apply_case, check_varies
from vpp_sched.studies.outcome import orderly_outcome, outcome_row, uncontrolled_outcome
from vpp_sched.studies.vary import POLICIES, Vary, cross_product, parse_policies


@dataclass(frozen=True)
class CaseTask:
    """One case to run on an executor (pickled to Dask workers as it is)."""

    number: int
    case: dict
    scenario: Scenario
    policies: tuple[str, ...]
    seed: int = 0
    method: str = "lean"
    options: SolverOptions | None = None


def run_case(task: CaseTask) -> list[dict]:
    """Rows (one per policy) of one case; errors become rows with status ``failed``, never raise."""
    rows = []
    base = {"case": task.number, **task.case}
    t0 = time.perf_counter()
    try:
        sc = apply_case(task.scenario, task.case, seed=task.seed)
        problem = build_problem(sc) if "uncontrolled" in task.policies else None
        prep = time.perf_counter() - t0
    except Exception as exc:  # noqa: BLE001 - a failed case is reported, not fatal
        return [{**base, "policy": pol, "status": "failed", "error": _message(exc),
                 "wall_seconds": time.perf_counter() - t0} for pol in task.policies]
    for policy in task.policies:
        t1 = time.perf_counter()
        try:
            o = uncontrolled_outcome(problem) if policy == "uncontrolled" else \
                orderly_outcome(sc, task.method, task.options)
            row, peaks = outcome_row(o)
            wall = time.perf_counter() - t1 + (prep if policy == "uncontrolled" else 0.0)
            rows.append({**base, "policy": policy, **row, "error": "", "wall_seconds": wall, "_peaks": peaks})
        except Exception as exc:  # noqa: BLE001
            rows.append({**base, "policy": policy, "status": "failed", "error": _message(exc),
                         "wall_seconds": time.perf_counter() - t1})
    return rows


def _message(exc: BaseException) -> str:
    if isinstance(exc, InputError):
        return "invalid input: " + "; ".join(exc.problems)
    if isinstance(exc, NoPlanError):
        return f"no plan ({exc.status.value}): {exc}"
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" (at {Path(where.filename).name}:{where.lineno})" if where else ""
    return f"{type(exc).__name__}: {exc}{at}"


@dataclass
class WhatIfResult:
    """The study's tables: ``cases`` one row per case x policy, ``peaks`` one per case x policy x transformer."""

    scenario_name: str
    varies: list[Vary]
    policies: list[str]
    cases: pd.DataFrame
    peaks: pd.DataFrame
    wall_seconds: float = 0.0
    executor: str = "serial"
    workers: int = 1
    seed: int = 0
    warnings: list[str] = field(default_factory=list)
    scenario_folder: str = ""
    method: str = "lean"
    time_limit_s: float | None = None   # solver time limit per plan [s]

    @property
    def failed(self) -> pd.DataFrame:
        return self.cases[self.cases.status == "failed"]

    def policy_totals(self) -> list[dict]:
        """Per policy with runs that did not fail: runs, runs with an overloaded transformer, runs
        with EVs short of energy their stay allows, highest loading [pu] (the study's headline)."""
        done = self.cases[self.cases.status != "failed"]
        out = []
        for pol in self.policies:
            sub = done[done.policy == pol]
            if len(sub):
                out.append({"policy": pol, "runs": len(sub), "overloading": int((sub.overload_hours > 0).sum()),
                            "short": int((sub.unmet_by_grid_kwh > 0).sum()),
                            "max_loading_pu": float(sub.max_loading_pu.max())})
        return out


@contextlib.contextmanager
def executor_for(scheduler: str | None = None, workers: int | None = None, tasks: int | None = None) -> Iterator:
    """An executor of :mod:`vpp_sched.solve.parallel` for a study of ``tasks`` independent runs.

    Defaults for studies: ``workers`` = the cores (at most ``tasks``); ``scheduler`` = ``threads``
    when more than one worker (HiGHS releases the GIL, no process start-up), else ``serial``.
    ``local`` (Dask processes) and a scheduler address are passed on to ``get_executor``.
    """
    if workers is None and scheduler in (None, "threads", "local"):
        workers = max(min(cpu_count(), tasks or cpu_count()), 1)
    if scheduler is None:
        scheduler = "serial" if workers in (None, 1) else "threads"
    with get_executor(scheduler, workers) as ex:
        yield ex


#: Branch-and-bound nodes of each MILP run of a case's plan: a case's numbers are bounded by work,
#: the same on a busy or an idle machine; the time limit only stops a plan that then says so
#: (status ``time_limit`` in cases.csv and a warning).
WHATIF_MAX_NODES = 1000


def work_bounded(options: SolverOptions, max_nodes: int) -> SolverOptions:
    """``options`` with at most ``max_nodes`` branch-and-bound nodes per MILP run (a tighter own limit kept)."""
    nodes = max_nodes if options.mip_max_nodes is None else min(options.mip_max_nodes, max_nodes)
    return options.model_copy(update={"mip_max_nodes": nodes})


def run_whatif(scenario: Scenario, varies: Sequence[Vary], policies: Sequence[str] = POLICIES, *,
               seed: int = 0, method: str = "lean", options: SolverOptions | None = None,
               executor=None) -> WhatIfResult:
    """Run every case of the cross product under each policy.

    ``executor`` has ``map(fn, items) -> list`` (see :mod:`vpp_sched.solve.parallel`); default in-process.
    Checks ids and values first (:func:`check_varies`, raises ``InputError``); a case that fails
    later is a ``failed`` row.
    """
    t0 = time.perf_counter()
    check_varies(scenario, varies)
    policies = tuple(parse_policies(list(policies)))
    options = work_bounded(options or scenario.config.solver, WHATIF_MAX_NODES)
    tasks = [CaseTask(i + 1, case, scenario, policies, seed, method, options)
             for i, case in enumerate(cross_product(varies))]
    # Largest populations first: the slowest cases start early and the workers finish together.
    order = sorted(range(len(tasks)), key=lambda i: -float(tasks[i].case.get("evs.scale", 1.0)))
    ex = executor or SerialExecutor()
    done = ex.map(run_case, [tasks[i] for i in order])
    results = [None] * len(tasks)
    for i, rows in zip(order, done):
        results[i] = rows
    rows = [r for case_rows in results for r in case_rows]
    keys = [v.key for v in varies]
    peaks = []
    for r in rows:
        for pk in r.pop("_peaks", []):
            peaks.append({"case": r["case"], **{k: r[k] for k in keys}, "policy": r["policy"], **pk})
    cases = _case_table(rows, keys, peaks)
    peak_cols = ["case", *keys, "policy", "transformer_id", "limit_kw", "peak_kw", "max_loading_pu",
                 "overload_hours", "overload_kwh"]
    result = WhatIfResult(scenario.config.name, list(varies), list(policies), cases,
                          pd.DataFrame(peaks, columns=peak_cols), time.perf_counter() - t0,
                          getattr(ex, "name", type(ex).__name__), int(getattr(ex, "workers", 1)), seed,
                          scenario_folder=str(getattr(scenario, "folder", "") or ""), method=method,
                          time_limit_s=(options or scenario.config.solver).time_limit_s)
    stopped = cases[cases.status == "time_limit"]
    if len(stopped):
        result.warnings.append(f"{len(stopped)} of {len(cases)} case runs were stopped by the wall-clock limit of "
                               f"{options.time_limit_s:g} s (status 'time_limit' in cases.csv): their numbers may "
                               "differ on a busier or faster machine; raise --time-limit")
    failed = result.failed
    if len(failed):
        result.warnings.append(f"{len(failed)} of {len(cases)} case runs failed (status 'failed' in cases.csv), "
                               f"e.g. case {failed.case.iat[0]} {failed.policy.iat[0]}: {failed.error.iat[0]}")
    return result


CASE_COLUMNS = ["policy", "status", "n_evs", "max_loading_pu", "overloaded_transformers", "overload_hours",
                "overload_kwh", "unmet_energy_kwh", "evs_short", "unmet_by_grid_kwh", "evs_short_by_grid",
                "grid_energy_cost_cny", "peak_net_load_kw", "pv_self_consumption", "valid", "mip_gap",
                "wall_seconds", "error"]


#: Columns of the swap and fast-charging stations (studies/site_cases.py), after the others.
SITE_CASE_COLUMNS = ["unserved_swaps", "fast_slots_over_target"]


def _case_table(rows: list[dict], keys: list[str], peaks: list[dict]) -> pd.DataFrame:
    sites = [c for c in SITE_CASE_COLUMNS if any(c in r for r in rows)]     # only with swap/fast stations
    df = pd.DataFrame(rows, columns=["case", *keys, *CASE_COLUMNS, *sites])
    if peaks:
        pk = pd.DataFrame(peaks)
        tids = list(dict.fromkeys(pk.transformer_id))
        wide = pk.pivot_table(index=["case", "policy"], columns="transformer_id",
                              values=["peak_kw", "max_loading_pu"], aggfunc="first")
        cols = {}
        for name, label in (("peak_kw", "peak_kw"), ("max_loading_pu", "loading_pu")):
            for tid in tids:
                cols[f"{label}.{tid}"] = wide[(name, tid)] if (name, tid) in wide.columns else np.nan
        wide = pd.DataFrame(cols).reset_index()
        df = df.merge(wide, on=["case", "policy"], how="left")
    return df
