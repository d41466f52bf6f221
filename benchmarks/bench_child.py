"""The measured child process of ``benchmarks/run.py``: one scenario planned with one method.

The child times every stage of ``vpp-sched plan``: load the scenario, prepare the problem arrays,
build and solve the model, make the plan tables and KPIs and check them (``check_plan``), write
the plan folder (CSV + Parquet, as the CLI does, into a temporary folder that is then deleted).
The planner's own stage times come from the plan's ``kpis["timing"]``
(:func:`vpp_sched.plan.planner.timing_kpis`); HiGHS's own time from a
:func:`vpp_sched.solve.timing.highs_clock` open around the whole run (overlapping runs on a
thread pool count once), so the modelling overhead (everything but HiGHS) is reported too.
"""

from __future__ import annotations

import json
import math
import shutil
import time
import traceback
from pathlib import Path


def child_main(spec: dict) -> int:
    """Plan one scenario with one method as ``vpp-sched plan`` does, timing every stage; write a JSON result."""
    out: dict = {"method": spec["method"], "scenario": spec["scenario"]}
    try:
        measure(spec, out)
        code = 0
    except Exception as exc:  # reported in the results, never hidden
        out["status"] = "error"
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()[-4000:]
        code = 1
    Path(spec["result"]).write_text(json.dumps(out, indent=1, default=json_default))
    return code


def measure(spec: dict, out: dict) -> None:
    """The measured run: fills ``out`` with the stage times, sizes, plan figures and memory."""
    t_import = time.perf_counter()
    import resource

    from vpp_sched.errors import NoPlanError
    from vpp_sched.plan.output import write_plan
    from vpp_sched.plan.planner import plan_day
    from vpp_sched.problem.build import build_problem, needs_plan_baseline
    from vpp_sched.scenario.load import load_scenario
    from vpp_sched.solve.parallel import get_executor
    from vpp_sched.solve.timing import highs_clock

    try:
        from vpp_sched.report.plan_report import report_writer  # matplotlib: imported before the clock starts
    except ImportError:
        report_writer = None
    out["import_seconds"] = time.perf_counter() - t_import  # the imports are part of what is measured
    with highs_clock() as clock:
        start = time.perf_counter()
        scenario = load_scenario(spec["scenario"])
        t_loaded = time.perf_counter()
        options = scenario.config.solver.model_copy(update=spec["options"])
        run = None
        with get_executor(spec.get("scheduler"), spec.get("workers")) as executor:
            t_exec = time.perf_counter()
            try:
                run = plan_day(scenario, method=spec["method"], options=options, executor=executor)
            except NoPlanError as exc:
                out["status"] = getattr(exc.status, "value", str(exc.status))
                out["error"] = str(exc)
        out.update(load_seconds=t_loaded - start, executor_seconds=t_exec - t_loaded,
                   baseline_solve=needs_plan_baseline(scenario))
        out.update(stage_seconds(run))
        problem = build_problem(scenario) if run is None else run.problem  # for the sizes only; not timed
        out.update(sizes(problem, options))
        if run is not None:
            out.update(plan_figures(run))
            out.update(write_seconds(run, spec, write_plan, report_writer))
        total = time.perf_counter() - start
    highs_s = clock.seconds
    out.update({"total_seconds": total if run is not None else None, "elapsed_seconds": total,
                "highs_seconds": highs_s, "highs_runs": [{"seconds": b - a} for a, b in clock.intervals],
                "maxrss_self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
    out.update(overheads(out, highs_s, run is not None))


def stage_seconds(run) -> dict:
    """The planner's stages from ``kpis["timing"]`` [s] (None without a plan)."""
    if run is None:
        return {"prepare_seconds": None, "solve_call_seconds": None, "results_seconds": None}
    t = run.plan.kpis["timing"]
    # prepare: the problem arrays (with a 'plan' DR baseline, twice); solve: every solve call,
    # the baseline's too; results: the plan tables and KPIs and the validity check.
    return {"prepare_seconds": t["prepare_s"], "solve_call_seconds": t["solve_s"],
            "results_seconds": t["results_s"] + t["check_s"]}


def overheads(out: dict, highs_s: float, planned: bool) -> dict:
    """Everything but HiGHS [s]: end to end, in the solve call, and from the loaded scenario to the checked plan."""
    if not planned:
        return {"overhead_seconds": None, "model_overhead_seconds": None, "pipeline_overhead_seconds": None}
    solve = out["solve_call_seconds"]
    return {"overhead_seconds": out["total_seconds"] - highs_s,
            "model_overhead_seconds": solve - highs_s,
            "pipeline_overhead_seconds": (out["prepare_seconds"] or 0.0) + solve + (out["results_seconds"] or 0.0) - highs_s}


def sizes(p, options) -> dict:
    """The instance's dimensions and the solver options used."""
    return {
        "n_evs": p.n_evs, "n_transformers": p.n_transformers, "n_feeders": p.n_feeders, "n_slots": p.n_slots,
        "n_events": p.n_events, "n_batteries": p.n_batteries,
        # on/off decisions: one per EV with min_power_kw > 0 and whole slot of its stay, plus battery modes
        "n_binaries": int(p.ev_available[p.ev_binary].sum()) + p.n_batteries * p.n_slots,
        "options": {k: getattr(options, k) for k in ("time_limit_s", "mip_rel_gap", "threads", "random_seed")},
    }


def plan_figures(run) -> dict:
    """Status, objective, gap and what the plan does to the grid (for the results table)."""
    import numpy as np

    plan, k, events, solution, p = run.plan, run.plan.kpis, run.plan.dr_events, run.solution, run.problem
    violations = [w for w in plan.warnings if w.startswith("validity check failed")]
    return {
        "status": solution.status.value, "method_used": k.get("method"),
        "build_seconds": solution.build_seconds, "solve_seconds": solution.solve_seconds,
        "objective_cny": _num(solution.objective_cny), "bound_cny": _num(solution.bound_cny),
        "mip_gap": _num(solution.mip_gap), "solver": solution.solver,
        "valid": bool(k.get("valid")), "violations": violations[:5],
        "plan_objective_cny": _num(k["objective_cny"]),
        "dr_shortfall_kwh": k.get("dr_shortfall_kwh", 0.0),
        "dr_binding": bool((events.net_load_kw >= events.cap_kw - 1e-3).any()
                           or (events.shortfall_kw > 1e-3).any()) if len(events) else None,
        "overload_energy_kwh": k.get("overload_energy_kwh", 0.0),
        "feeder_overload_kwh": float(np.sum(solution.feeder_overload_kw) * p.dt_h)
        if solution.feeder_overload_kw is not None else 0.0,
        "unmet_energy_kwh": k.get("unmet_energy_kwh", 0.0), "evs_short": k.get("evs_short", 0),
        "uncontrolled_max_loading_pu": k["uncontrolled"]["max_loading_pu"],
        "max_loading_pu": k["max_loading_pu"], "warnings": plan.warnings,
    }


def write_seconds(run, spec: dict, write_plan, report_writer) -> dict:
    """Writing the plan folder (and report.html) as the CLI does, into a folder deleted afterwards [s]."""
    if not spec.get("write_dir"):
        return {"write_seconds": 0.0, "report_seconds": 0.0}
    folder = Path(spec["write_dir"])
    t0 = time.perf_counter()
    if spec.get("parquet", True):   # a province's schedule as partitioned Parquet, smaller plans as write_plan writes them
        from vpp_sched.plan.output import write_plan_large

        write_plan_large(run.plan, folder)
    else:
        write_plan(run.plan, folder, parquet=False)
    t1 = time.perf_counter()
    if spec.get("report") and report_writer is not None:
        report_writer(run)(folder)
    out = {"write_seconds": t1 - t0, "report_seconds": time.perf_counter() - t1}
    shutil.rmtree(folder, ignore_errors=True)
    return out


def _num(x):
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def json_default(x):
    if hasattr(x, "item"):
        return x.item()
    if hasattr(x, "tolist"):
        return x.tolist()
    return str(x)


if __name__ == "__main__":
    import sys

    sys.exit(child_main(json.loads(sys.argv[1])))
