#!/usr/bin/env python
"""End-to-end speed benchmark of vpp-sched: seeded synthetic days, every method, one subprocess per run.

    python benchmarks/run.py                      # full run (see benchmarks/README.md)
    python benchmarks/run.py --quick              # tiny instances, both methods, < 60 s (CI)
    python benchmarks/run.py --sizes 1k,10k --methods lean,pyomo --time-limit 300

Each (instance, method) runs in its own Python process, so its peak memory is its own. The
child times every stage of ``vpp-sched plan``: load the scenario, prepare the problem arrays,
build and solve the model, make the plan tables and KPIs and check them (``check_plan``), write
the plan folder (CSV + Parquet, as the CLI does, into a temporary folder that is then deleted).
HiGHS's own time is measured by wrapping ``highspy.Highs.run``, so the modelling overhead
(everything but HiGHS) is reported too. Results go to ``<out>/<date>-<mode>.json`` and, in
full mode, into the table of ``benchmarks/README.md`` between the ``results`` markers.

This file is both the driver and (with ``--child``) the measured process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
README = HERE / "README.md"
MARK_START, MARK_END = "<!-- results:start -->", "<!-- results:end -->"

EVS_PER_TRANSFORMER = 50          # 1k -> 20, 10k -> 200, 100k -> 2000 transformers
MIN_POWER_KW = 1.4                # IEC 61851 6 A single phase
SINGLE_EVS = 200                  # the single-transformer instance
SINGLE_UNCONTROLLED_PU = 1.3      # its rating: uncontrolled peak = 1.3 x rated_kva x power_factor
DR_SHARE = 0.0                    # > 0: DR reduction = share x uncontrolled portfolio peak in the window (0: as generated)
VARIANTS = {                      # name -> generate_scenario keywords
    "plain": {"dr_event": False, "min_power": None},
    "dr": {"dr_event": True, "min_power": None},
    "minp": {"dr_event": False, "min_power": MIN_POWER_KW},
    "dr+minp": {"dr_event": True, "min_power": MIN_POWER_KW},
}
FULL_SIZES = "single,1k,10k,100k"
REPEAT_MAX_S = 60.0               # --repeat: runs longer than this are not repeated (noise matters less)
QUICK_SIZES = "50@5"
QUICK_VARIANTS = "plain,dr+minp"

# Targets of the speed issue, checked against the measured runs (see README).
TARGET_GAP = 0.005
TARGETS_TEXT = {
    "10k": "10,000 EVs / 200 transformers, DR event + min-power binaries: total wall <= 15 s, gap <= 0.5 %",
    "100k": "100,000 EVs / 2,000 transformers (DR event + min power): total wall <= 120 s, peak memory <= 4 GB",
    "overhead_model": "modelling overhead (all but HiGHS's own solve) <= 0.5 s per 10,000 EVs: the solve call "
                      "minus HiGHS (building the models, passing them to HiGHS, the method's own Python between "
                      "HiGHS runs, reading the solutions back)",
    "overhead_pipeline": "the same, read from the loaded scenario to the checked plan (prepare + solve + plan "
                         "tables + validity check - HiGHS)",
    "overhead": "the same, read end to end (also reading the CSVs, writing CSV + Parquet and report.html: "
                "fixed costs of 2-3 s, the report alone ~2 s)",
    "vs_pyomo": ">= 4x faster end to end than the plain Pyomo route at 10,000 EVs (DR event + min power)",
    "single": "one transformer, 200 EVs, min-power binaries: <= 0.2 s to 0.5 % gap",
}


# ==========================================================================================
# the measured child process
# ==========================================================================================
def _union_seconds(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of time intervals [s]."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def child_main(spec: dict) -> int:
    """Plan one scenario with one method as ``vpp-sched plan`` does, timing every stage; write a JSON result.

    The stages are timed through ``plan_day``'s ``progress`` callback (called as each stage
    starts), so the benchmark runs the planner's own pipeline, whatever it grows into.
    """
    out: dict = {"method": spec["method"], "scenario": spec["scenario"]}
    result_path = Path(spec["result"])
    t_import = time.perf_counter()
    try:
        import resource

        import highspy
        import numpy as np

        runs: list[dict] = []
        original_run = highspy.Highs.run

        def timed_run(self, *args, **kwargs):  # HiGHS's own time, per call (in this process)
            t0 = time.perf_counter()
            try:
                return original_run(self, *args, **kwargs)
            finally:
                runs.append({"seconds": time.perf_counter() - t0, "start": t0, "cols": int(self.getNumCol()),
                             "rows": int(self.getNumRow())})

        highspy.Highs.run = timed_run

        from vpp_sched.errors import NoPlanError
        from vpp_sched.plan.output import write_plan
        from vpp_sched.solve.parallel import get_executor
        from vpp_sched.plan.planner import plan_day
        from vpp_sched.problem.build import build_problem
        from vpp_sched.scenario.load import load_scenario

        try:
            from vpp_sched.report.plan_report import report_writer
        except ImportError:
            report_writer = None
        out["import_seconds"] = time.perf_counter() - t_import

        marks: list[tuple[str, float]] = []

        def say(stage: str) -> None:
            marks.append((stage, time.perf_counter()))

        start = time.perf_counter()
        scenario = load_scenario(spec["scenario"])
        t_loaded = time.perf_counter()
        options = scenario.config.solver.model_copy(update=spec["options"])
        run = None
        with get_executor(spec.get("scheduler"), spec.get("workers")) as executor:
            t_exec = time.perf_counter()
            try:
                run = plan_day(scenario, method=spec["method"], options=options, progress=say, executor=executor)
            except NoPlanError as exc:
                out["status"] = getattr(exc.status, "value", str(exc.status))
                out["error"] = str(exc)
            t_planned = time.perf_counter()

        def mark(word: str) -> float | None:
            return next((t for stage, t in marks if stage.lower().startswith(word)), None)

        t_prep, t_solve, t_check = mark("forecasting"), mark("solving"), mark("checking")
        out.update({
            "load_seconds": t_loaded - start, "executor_seconds": t_exec - t_loaded,
            # prepare includes the solve without events when a DR baseline is the plan (``baseline: plan``)
            "prepare_seconds": t_solve - t_prep if t_prep and t_solve else None,
            "baseline_solve": any(stage.lower().startswith("planning without") for stage, _ in marks),
            "solve_call_seconds": (t_check or t_planned) - t_solve if t_solve else None,
            "results_seconds": t_planned - t_check if t_check else None,
        })
        if run is None:
            problem = build_problem(scenario)  # for the sizes only; not timed
            solution = None
        else:
            problem, solution = run.problem, run.solution
        p = problem
        out.update({
            "n_evs": p.n_evs, "n_transformers": p.n_transformers, "n_feeders": p.n_feeders, "n_slots": p.n_slots,
            "n_events": p.n_events, "n_batteries": p.n_batteries,
            # on/off decisions: one per EV with min_power_kw > 0 and whole slot of its stay, plus battery modes
            "n_binaries": int(p.ev_available[p.ev_binary].sum()) + p.n_batteries * p.n_slots,
            "options": {k: getattr(options, k) for k in ("time_limit_s", "mip_rel_gap", "threads", "random_seed")},
        })
        if run is not None:
            plan, k, events = run.plan, run.plan.kpis, run.plan.dr_events
            violations = [w for w in plan.warnings if w.startswith("validity check failed")]
            out.update({
                "status": solution.status.value, "method_used": k.get("method", spec["method"]),
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
            })
            out["write_seconds"] = out["report_seconds"] = 0.0
            if spec.get("write_dir"):
                folder = Path(spec["write_dir"])
                t0 = time.perf_counter()
                write_plan(plan, folder, parquet=spec.get("parquet", True))
                t1 = time.perf_counter()
                if spec.get("report") and report_writer is not None:
                    report_writer(run)(folder)
                out["write_seconds"], out["report_seconds"] = t1 - t0, time.perf_counter() - t1
                shutil.rmtree(folder, ignore_errors=True)
        total = time.perf_counter() - start
        # Wall time with at least one HiGHS run going: runs on a thread pool overlap, and their sum
        # would exceed the wall time they took (and make the overhead below negative).
        highs_s = _union_seconds([(r["start"], r["start"] + r["seconds"]) for r in runs])
        for r in runs:
            del r["start"]
        out.update({"total_seconds": total if run is not None else None, "elapsed_seconds": total,
                    "highs_seconds": highs_s, "highs_runs": runs,
                    "overhead_seconds": total - highs_s if run is not None else None,
                    "model_overhead_seconds": out["solve_call_seconds"] - highs_s
                    if run is not None and out["solve_call_seconds"] is not None else None,
                    "pipeline_overhead_seconds": (out["prepare_seconds"] or 0.0) + out["solve_call_seconds"]
                    + (out["results_seconds"] or 0.0) - highs_s
                    if run is not None and out["solve_call_seconds"] is not None else None,
                    "maxrss_self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
        code = 0
    except Exception as exc:  # reported in the results, never hidden
        out["status"] = "error"
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()[-4000:]
        code = 1
    result_path.write_text(json.dumps(out, indent=1, default=_json_default))
    return code


def _num(x):
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _json_default(x):
    if hasattr(x, "item"):
        return x.item()
    if hasattr(x, "tolist"):
        return x.tolist()
    return str(x)


# ==========================================================================================
# instances
# ==========================================================================================
def parse_size(token: str) -> dict:
    """``1k`` -> 1,000 EVs on 20 transformers; ``200@5`` -> 200 EVs on 5; ``single`` -> 200 EVs on 1."""
    token = token.strip().lower()
    if token == "single":
        return {"label": "single", "evs": SINGLE_EVS, "transformers": 1, "single": True}
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(k?)(?:@(\d+))?", token)
    if not m:
        raise argparse.ArgumentTypeError(f"size {token!r}: use e.g. 1k, 10k, 100k, 200@5 or single")
    evs = int(round(float(m.group(1)) * (1000 if m.group(2) else 1)))
    transformers = int(m.group(3)) if m.group(3) else max(1, evs // EVS_PER_TRANSFORMER)
    return {"label": token, "evs": evs, "transformers": transformers, "single": False}


def instance_list(sizes: list[dict], variants: list[str], seed: int, dr_share: float = DR_SHARE) -> list[dict]:
    out = []
    for size in sizes:
        # The single-transformer instance is the min-power target case only.
        for variant in (["minp"] if size["single"] else variants):
            name = (f"single-{size['evs']}ev-minp" if size["single"]
                    else f"{size['evs']}ev-{size['transformers']}tr-{variant}")
            out.append({"name": name, "size": size["label"], "variant": variant, "evs": size["evs"],
                        "transformers": size["transformers"], "single": size["single"], "seed": seed,
                        **VARIANTS[variant], "dr_share": (dr_share or None) if VARIANTS[variant]["dr_event"] else None})
    return out


def make_instance(inst: dict, work: Path) -> tuple[Path, float, dict]:
    """Generate (or reuse) the scenario folder of ``inst``; returns it, the generation time [s]
    (0 when reused) and what the benchmark changed in the generated files."""
    from vpp_sched.scenario.synthetic import generate_scenario

    folder = work / "instances" / f"{inst['name'].replace('+', '_')}-s{inst['seed']}"
    marker = folder / "benchmark-instance.json"
    key = {k: inst[k] for k in ("evs", "transformers", "single", "seed", "dr_event", "min_power", "dr_share")}
    key["generator"] = generator_hash()  # a changed generator makes new instances
    if marker.exists() and (known := json.loads(marker.read_text())).get("key") == key:
        return folder, 0.0, known.get("info", {})
    shutil.rmtree(folder, ignore_errors=True)
    t0 = time.perf_counter()
    generate_scenario(folder, transformers=inst["transformers"], evs=inst["evs"], dr_event=inst["dr_event"],
                      min_power=inst["min_power"], seed=inst["seed"],
                      feeder_size=None if inst["single"] else 10)
    info = {}
    if inst["single"]:
        info = resize_single(folder)
    if inst["dr_event"] and inst["dr_share"]:
        info = tighten_dr_event(folder, inst["dr_share"])
    seconds = time.perf_counter() - t0
    marker.write_text(json.dumps({"key": key, "info": info}, indent=1))
    return folder, seconds, info


def generator_hash() -> str:
    import hashlib

    import vpp_sched.scenario.synthetic

    return hashlib.sha256(Path(vpp_sched.scenario.synthetic.__file__).read_bytes()).hexdigest()[:12]


def resize_single(folder: Path) -> dict:
    """Rate the one transformer so uncontrolled charging peaks at ``SINGLE_UNCONTROLLED_PU``.

    ``generate_scenario`` draws the rating from 160-630 kVA whatever the number of EVs, so 200
    EVs on one transformer can be hopelessly overloaded (every plan short of energy) or not
    congested at all. Here the rating is set from the uncontrolled peak (base load + every EV
    at full power from arrival), rounded up to 10 kVA: uncontrolled charging overloads the
    transformer by ~30 %, a planned day fits. The base load (kW) is kept as generated. The
    scenario has no feeder (``feeder_size=None``): a feeder sized at 70-80 % of one
    transformer would be the real limit.
    """
    import pandas as pd

    from vpp_sched.problem.build import build_problem
    from vpp_sched.plan.results import uncontrolled_reference
    from vpp_sched.scenario.load import load_scenario

    problem = build_problem(load_scenario(folder))
    _, net, _ = uncontrolled_reference(problem)
    table = pd.read_csv(folder / "transformers.csv")
    generated = float(table.rated_kva.iloc[0])
    pf, pu = float(table.power_factor.iloc[0]), float(table.max_loading_pu.iloc[0])
    rated = math.ceil(float(net.max()) / (SINGLE_UNCONTROLLED_PU * pf * pu) / 10) * 10
    table["rated_kva"] = float(rated)
    table.to_csv(folder / "transformers.csv", index=False, lineterminator="\n")
    return {"generated_rated_kva": generated, "rated_kva": rated, "uncontrolled_peak_kw": float(net.max())}


def tighten_dr_event(folder: Path, share: float) -> dict:
    """Set the DR event's ``reduction_kw`` to ``share`` x the uncontrolled portfolio peak in its window.

    Off by default (``--dr-share 0``): the generated event is used as is. It was needed when
    ``generate_scenario``'s event (then 18:00-21:00) did not bind; whether the event binds is
    measured and reported in every run (``dr_binding``) either way.
    """
    from vpp_sched.problem.build import build_problem
    from vpp_sched.scenario.load import load_scenario

    problem = build_problem(load_scenario(folder))
    peak = float(problem.event_baseline_kw[0][problem.event_slots[0]].max())
    reduction = float(round(share * peak))
    path = folder / "scenario.yaml"
    text, n = re.subn(r"(reduction_kw:\s*)[0-9.eE+-]+", lambda m: f"{m.group(1)}{reduction}", path.read_text())
    if n != 1:
        raise RuntimeError(f"{path}: expected one reduction_kw, found {n}")
    generated = float(problem.event_reduction_kw[0])
    path.write_text(text)
    return {"generated_reduction_kw": generated, "reduction_kw": reduction, "dr_share": share,
            "uncontrolled_peak_in_window_kw": peak}


# ==========================================================================================
# running children
# ==========================================================================================
def run_child(scenario: Path, method: str, options: dict, hard_limit_s: float, work: Path, tag: str,
              child: dict) -> dict:
    """One measured subprocess; returns the child's result plus peak memory and outer wall time."""
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    result = logs / f"{tag}.result.json"
    result.unlink(missing_ok=True)
    spec = {"scenario": str(scenario), "method": method, "options": options, "result": str(result),
            "write_dir": str(work / "plans" / tag) if child["write_plan"] else None, **child}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    try:
        import psutil
    except ImportError:  # optional: only for summing the memory of a process tree (Dask workers)
        psutil = None
    with open(logs / f"{tag}.stdout", "w") as so, open(logs / f"{tag}.stderr", "w") as se:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=so, stderr=se, start_new_session=True, cwd=str(work))
        tree_peak, timed_out, status, usage = 0, False, 0, None
        watch = psutil.Process(proc.pid) if psutil else None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if watch is not None:
                tree_peak = max(tree_peak, _tree_rss(watch, psutil))
            if time.perf_counter() - t0 > hard_limit_s:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.1)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    out = json.loads(result.read_text()) if result.exists() and not timed_out else {"method": method}
    out["outer_wall_seconds"] = wall
    out["returncode"] = proc.returncode
    # ru_maxrss of the waited child covers it and its waited-for descendants (max, not sum);
    # the sampled sum of the process tree covers worker processes alive at the same time.
    out["peak_mb"] = max(usage.ru_maxrss / 1024 if usage else 0.0, tree_peak / 2**20)
    if timed_out:
        out["status"] = "timeout"
        out["error"] = f"killed after the per-run limit of {hard_limit_s:g} s"
    elif proc.returncode and "error" not in out:
        out["status"] = "error"
        out["error"] = f"exit code {proc.returncode}: " + (logs / f"{tag}.stderr").read_text()[-1500:]
    return out


def _tree_rss(proc, psutil) -> int:
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


# ==========================================================================================
# reporting
# ==========================================================================================
def machine_info() -> dict:
    info = {"cores": os.cpu_count(), "cores_usable": len(os.sched_getaffinity(0)),
            "python": platform.python_version(), "platform": platform.platform(),
            "loadavg_start": list(os.getloadavg())}
    try:
        cpu = Path("/proc/cpuinfo").read_text()
        info["cpu_model"] = re.search(r"^model name\s*:\s*(.+)$", cpu, re.M).group(1).strip()
    except (OSError, AttributeError):
        info["cpu_model"] = platform.processor() or "unknown"
    try:
        mem = Path("/proc/meminfo").read_text()
        info["memory_gb"] = round(int(re.search(r"MemTotal:\s+(\d+)", mem).group(1)) / 2**20, 1)
    except (OSError, AttributeError):
        pass
    from importlib.metadata import PackageNotFoundError, version

    for pkg in ("highspy", "pyomo", "numpy", "pandas", "dask", "vpp-sched"):
        try:
            info[pkg.replace("-", "_")] = version(pkg)
        except PackageNotFoundError:
            info[pkg.replace("-", "_")] = None
    info["git"] = git_info()
    return info


def git_info() -> dict:
    def git(*args):
        try:
            return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                                  timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()]
    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(changed), "changed_files": changed}


def add_ratios(runs: list[dict]) -> None:
    """``wall_vs_lean``: this run's total wall / the lean run's on the same instance (same run)."""
    lean = {r["instance"]: r for r in runs if r["method"] == "lean" and r.get("total_seconds")}
    for r in runs:
        base = lean.get(r["instance"])
        r["wall_vs_lean"], r["wall_vs_lean_at_least"] = None, False
        if base is None or r["status"] in ("skipped", "error"):
            continue
        if r["status"] == "timeout":  # a lower bound: the run did not finish
            r["wall_vs_lean"] = r["outer_wall_seconds"] / base["total_seconds"]
            r["wall_vs_lean_at_least"] = True
        elif r.get("total_seconds"):
            r["wall_vs_lean"] = r["total_seconds"] / base["total_seconds"]


def _f(x, fmt="{:.2f}", none="–"):
    return none if x is None else fmt.format(x)


def results_table(runs: list[dict]) -> str:
    head = ("| instance | EVs | transf. | slots | DR events | binaries | method | status | build s | solve s "
            "| total s | vs lean | peak MB | objective CNY | bound CNY | gap | DR binding | DR short kWh "
            "| overload kWh | unmet kWh | valid |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in runs:
        ratio = None if r.get("wall_vs_lean") is None else (
            (">= " if r.get("wall_vs_lean_at_least") else "") + f"{r['wall_vs_lean']:.1f}x")
        skipped = r["status"] == "skipped"
        total = r.get("total_seconds") if r["status"] != "timeout" else None
        if r["status"] == "timeout":
            total_txt = f"> {r['outer_wall_seconds']:.0f}"
        elif total is None and r.get("elapsed_seconds") is not None:
            total_txt = f"({r['elapsed_seconds']:.0f}, no plan)"
        else:
            total_txt = _f(total)
        lines.append("| " + " | ".join([
            r["instance"], f"{r['evs']:,}", f"{r['transformers']:,}", _f(r.get("n_slots"), "{}"),
            _f(r.get("n_events"), "{}"), _f(r.get("n_binaries"), "{:,}"), r["method"],
            r["status"] + (f" ({r['reason']})" if skipped else ""),
            _f(r.get("build_seconds")), _f(r.get("solve_seconds")), total_txt, ratio or "–",
            _f(r.get("peak_mb") if not skipped else None, "{:,.0f}"),
            _f(r.get("objective_cny"), "{:,.2f}"), _f(r.get("bound_cny"), "{:,.2f}"),
            _f(r.get("mip_gap"), "{:.3%}"),
            {True: "yes", False: "no"}.get(r.get("dr_binding"), "–") if r.get("n_events") else "–",
            _f(r.get("dr_shortfall_kwh"), "{:,.1f}"),
            _f(None if r.get("overload_energy_kwh") is None else
               r["overload_energy_kwh"] + (r.get("feeder_overload_kwh") or 0.0), "{:,.1f}"),
            _f(r.get("unmet_energy_kwh"), "{:,.1f}"),
            {True: "yes", False: "**NO**"}.get(r.get("valid"), "–"),
        ]) + " |")
    return "\n".join(lines)


def other(r: dict) -> float | None:
    """Total minus the listed stages: executor start-up, the planner's own glue."""
    parts = [r.get(k) for k in ("load_seconds", "prepare_seconds", "solve_call_seconds", "results_seconds",
                                 "write_seconds", "report_seconds")]
    return r["total_seconds"] - sum(x or 0.0 for x in parts) if r.get("total_seconds") is not None else None


def stages_table(runs: list[dict]) -> str:
    head = ("| instance | method | load | prepare | build | solve | results+check | write plan | report | other "
            "| total "
            "| HiGHS runs (s) | overhead | per 10k EVs | pipeline overhead | per 10k EVs "
            "| modelling (solve-path) overhead | per 10k EVs |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in runs:
        if not r.get("total_seconds"):
            continue
        hr = r.get("highs_runs") or []
        runs_txt = " + ".join(f"{x['seconds']:.2f}" for x in hr[:6]) + (" + ..." if len(hr) > 6 else "")
        scale = max(r["evs"] / 10_000, 1e-9)
        lines.append("| " + " | ".join([
            r["instance"], r["method"], _f(r.get("load_seconds")), _f(r.get("prepare_seconds")),
            _f(r.get("build_seconds")), _f(r.get("solve_seconds")), _f(r.get("results_seconds")),
            _f(r.get("write_seconds")), _f(r.get("report_seconds")), _f(other(r)), _f(r.get("total_seconds")),
            f"{r['highs_seconds']:.2f} = {runs_txt}" if hr else "–",
            _f(r.get("overhead_seconds")), _f(r["overhead_seconds"] / scale),
            _f(r.get("pipeline_overhead_seconds")), _f(None if r.get("pipeline_overhead_seconds") is None
                                                       else r["pipeline_overhead_seconds"] / scale),
            _f(r.get("model_overhead_seconds")), _f(None if r.get("model_overhead_seconds") is None
                                                    else r["model_overhead_seconds"] / scale),
        ]) + " |")
    return "\n".join(lines)


def default_route(evs: int, transformers: int) -> str:
    """The method ``vpp-sched plan`` uses by default (``--method auto``) at this size."""
    try:
        from vpp_sched.solve.dispatch import AUTO_DECOMPOSE_EVS
    except ImportError:
        return "lean"
    return "decomposed" if evs >= AUTO_DECOMPOSE_EVS and transformers > 1 else "lean"


def check_targets(runs: list[dict]) -> list[dict]:
    """Each target with its measured figure and met / not met / not measured.

    A target is judged on the CLI's default route at that size (``auto``: lean below
    ``AUTO_DECOMPOSE_EVS``, decomposed above); the other methods' figures are listed beside it.
    """
    out = []

    def ok(r):
        return r is not None and r.get("total_seconds") is not None and r.get("valid") is True

    def add(key, met, measured):
        out.append({"target": key, "text": TARGETS_TEXT[key], "met": met, "measured": measured})

    def brief(r):
        if not ok(r):
            extra = f" after {r['outer_wall_seconds']:.0f} s" if r.get("outer_wall_seconds") else ""
            return f"{r['method']}: {r['status']}{extra}"
        return (f"{r['method']} {r['total_seconds']:.1f} s total, gap {_f(r.get('mip_gap'), '{:.3%}')}, "
                f"peak {r['peak_mb']:,.0f} MB")

    def on(instance):
        rows = [r for r in runs if r["instance"] == instance and r["status"] != "skipped"]
        if not rows:
            return None, []
        route = default_route(rows[0]["evs"], rows[0]["transformers"])
        main = next((r for r in rows if r["method"] == route), None) or next(
            (r for r in rows if r["method"] == "lean"), None)
        return main, [r for r in rows if r is not main and r["method"] != "pyomo"]

    for key, instance, seconds, memory in (("10k", "10000ev-200tr-dr+minp", 15, None),
                                           ("100k", "100000ev-2000tr-dr+minp", 120, 4096)):
        r, others = on(instance)
        if r is None:
            add(key, None, "not measured")
            continue
        text = ("default route " + brief(r) + (f" (build+solve {r['solve_call_seconds']:.1f} s)" if ok(r) else "")
                + "".join(f"; {brief(o)}" for o in others))
        met = (r["total_seconds"] <= seconds and (r["mip_gap"] or 0) <= TARGET_GAP
               and (memory is None or r["peak_mb"] <= memory)) if ok(r) else False
        add(key, met, text)

    for key, field in (("overhead_model", "model_overhead_seconds"), ("overhead_pipeline", "pipeline_overhead_seconds"),
                       ("overhead", "overhead_seconds")):
        cases = [(r[field] / (r["evs"] / 10_000), r) for r in runs
                 if r.get(field) is not None and r["evs"] >= 10_000 and r["method"] != "pyomo"]
        routed = [(v, r) for v, r in cases if r["method"] == default_route(r["evs"], r["transformers"])]
        if not routed:
            add(key, None, "not measured")
            continue
        v, r = max(routed, key=lambda x: x[0])
        of = {"overhead": f"{r['total_seconds']:.1f} s total",
              "overhead_pipeline": f"{(r['prepare_seconds'] or 0) + r['solve_call_seconds'] + (r['results_seconds'] or 0):.1f} s "
                                   "prepare + solve + tables + check"}.get(key, f"{r['solve_call_seconds']:.1f} s build + solve")
        text = (f"default route, worst {v:.2f} s per 10k EVs ({r['method']}, {r['instance']}: {r[field]:.1f} s "
                f"of {of} outside HiGHS)")
        for m in sorted({r["method"] for _, r in cases} - {r["method"]}):
            vm, rm = max(((v, r) for v, r in cases if r["method"] == m), key=lambda x: x[0])
            text += f"; {m}: worst {vm:.2f} s per 10k EVs ({rm['instance']})"
        add(key, v <= 0.5, text)

    r, _ = on("10000ev-200tr-dr+minp")
    p = next((x for x in runs if x["instance"] == "10000ev-200tr-dr+minp" and x["method"] == "pyomo"), None)
    if ok(r) and p is not None and p["status"] not in ("skipped", "error"):
        finished = p.get("total_seconds") is not None
        ratio = (p["total_seconds"] if finished else p["outer_wall_seconds"]) / r["total_seconds"]
        add("vs_pyomo", ratio >= 4 if (finished or ratio >= 4) else None,
            f"pyomo / {r['method']} = {'' if finished else '>= '}{ratio:.1f}x (pyomo {p['status']}"
            + ("" if finished else f" after {p['outer_wall_seconds']:.0f} s") + ")")
    else:
        add("vs_pyomo", None, "not measured")

    r, _ = on(f"single-{SINGLE_EVS}ev-minp")
    if ok(r):
        add("single", r["solve_call_seconds"] <= 0.2 and (r["mip_gap"] or 0) <= TARGET_GAP,
            f"{r['method']} build+solve {r['solve_call_seconds']:.2f} s (total with load, prepare, write, report "
            f"{r['total_seconds']:.2f} s), gap {r['mip_gap']:.3%}, status {r['status']}")
    else:
        add("single", None, "not measured" if r is None else brief(r))
    return out


def targets_table(targets: list[dict]) -> str:
    lines = ["| target | measured | met? |", "|---|---|---|"]
    for t in targets:
        met = {True: "**yes**", False: "**no**", None: "–"}[t["met"]]
        lines.append(f"| {t['text']} | {t['measured']} | {met} |")
    return "\n".join(lines)


def markdown(data: dict) -> str:
    m, s = data["machine"], data["settings"]
    git = m["git"]
    commit = (git["commit"] or "unknown")[:10] + (" + uncommitted changes" if git["dirty"] else "")
    return "\n".join([
        f"Run of {data['date']} ({data['mode']} mode), `{data['command']}`.",
        f"Machine: {m['cores']} cores, {m.get('cpu_model')}, {m.get('memory_gb')} GB; load average at start "
        f"{m['loadavg_start'][0]:.2f}. Python {m['python']}, highspy {m['highspy']}, Pyomo {m['pyomo']}; "
        f"commit {commit}.",
        f"Solver settings: MIP gap {s['mip_rel_gap']:.1%}, {s['threads']} thread(s), solver time limit "
        f"{s['solver_time_limit_s']:g} s, per-run limit {s['time_limit_s']:g} s, seed {s['seed']}, DR event "
        + (f"reduction {s['dr_share']:.0%} of the uncontrolled peak in the window; " if s.get("dr_share")
           else "as generated; ") +
        f"plan written: {'yes (CSV' + (' + Parquet' if s.get('parquet') else '') + (' + report.html' if s.get('report') else '') + ')' if s['write_plan'] else 'no'}"
        + (f"; decomposed executor: {s.get('scheduler') or 'CLI default'}"
           + (f", {s['workers']} workers" if s.get("workers") else "") if "decomposed" in s.get("methods", []) else "")
        + ".",
        "",
        results_table(data["runs"]),
        "",
        "Where the time goes (seconds; *overhead* = total - HiGHS's own `run` time; *solve-path overhead* = "
        "build + solve - HiGHS, i.e. building the model and the method's own work between HiGHS runs):",
        "",
        stages_table(data["runs"]),
        "",
        "Targets:",
        "",
        targets_table(data["targets"]),
    ])


def update_readme(text: str, path: Path = README) -> None:
    block = f"{MARK_START}\n{text}\n{MARK_END}"
    old = path.read_text() if path.exists() else ""
    if MARK_START in old and MARK_END in old:
        new = old[:old.index(MARK_START)] + block + old[old.index(MARK_END) + len(MARK_END):]
    else:
        new = old.rstrip() + "\n\n## Results\n\n" + block + "\n"
    path.write_text(new)


# ==========================================================================================
# driver
# ==========================================================================================
def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help=f"tiny instances ({QUICK_SIZES}: {QUICK_VARIANTS}), every method, < 60 s")
    ap.add_argument("--sizes", help=f"comma list: 1k, 10k, 100k, <EVs>@<transformers>, single (default {FULL_SIZES})")
    ap.add_argument("--variants", help=f"comma list of {', '.join(VARIANTS)} (default all)")
    ap.add_argument("--methods", help="comma list (default: every method in vpp_sched.solve.dispatch.METHODS)")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="folder of the results JSON")
    ap.add_argument("--work", type=Path, default=HERE / "work", help="instances, logs (git-ignored)")
    ap.add_argument("--pyomo-max-evs", type=int, default=10_000, help="skip the Pyomo route above this many EVs")
    ap.add_argument("--time-limit", type=float, default=300.0, help="per-run wall limit; the child is killed [s]")
    ap.add_argument("--solver-time-limit", type=float, help="HiGHS time limit (default 0.6 x --time-limit) [s]")
    ap.add_argument("--mip-gap", type=float, default=TARGET_GAP, help="relative MIP gap (default 0.005)")
    ap.add_argument("--threads", type=int, default=1, help="HiGHS threads (default 1)")
    ap.add_argument("--seed", type=int, default=0, help="generate_scenario seed")
    ap.add_argument("--dr-share", type=float, default=DR_SHARE,
                    help="DR reduction as a share of the uncontrolled peak in the window (0: as generated)")
    ap.add_argument("--no-write", action="store_true", help="do not time writing the plan folder")
    ap.add_argument("--no-parquet", action="store_true", help="write the plan as CSV only")
    ap.add_argument("--no-report", action="store_true", help="do not time writing report.html")
    ap.add_argument("--scheduler", help="executor of the decomposed method, as `vpp-sched plan --scheduler` "
                                        "(default: the CLI's)")
    ap.add_argument("--workers", type=int, help="workers of that executor, as `vpp-sched plan --workers`")
    ap.add_argument("--merge", action="store_true",
                    help="keep the other runs of an existing results file of the same date and mode")
    ap.add_argument("--readme", dest="readme", action="store_true", default=None,
                    help="write the table into benchmarks/README.md (default in full mode)")
    ap.add_argument("--no-readme", dest="readme", action="store_false", help="leave benchmarks/README.md alone")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each finished (instance, method) this many times and keep the fastest total "
                         f"(runs over {REPEAT_MAX_S:g} s are not repeated)")
    ap.add_argument("--report", type=Path, metavar="JSON",
                    help="only print (and with --readme write) the tables of an existing results file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(json.loads(args.child))
    if args.report:
        data = json.loads(args.report.read_text())
        add_ratios(data["runs"])
        data["targets"] = check_targets(data["runs"])
        text = markdown(data)
        print(text)
        if args.readme:
            update_readme(text)
        return 0
    from vpp_sched.solve.dispatch import METHODS

    mode = "quick" if args.quick else "full"
    sizes = [parse_size(t) for t in (args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES)).split(",") if t]
    variants = (args.variants or (QUICK_VARIANTS if args.quick else ",".join(VARIANTS))).split(",")
    for v in variants:
        if v not in VARIANTS:
            sys.exit(f"unknown variant {v!r}; choose from {', '.join(VARIANTS)}")
    methods = args.methods.split(",") if args.methods else sorted(METHODS, key=lambda m: (m != "lean", m))
    for m in methods:
        if m not in (*METHODS, "auto"):
            sys.exit(f"unknown method {m!r}; use auto or one of vpp_sched.solve.dispatch.METHODS: {', '.join(METHODS)}")
    readme = (mode == "full") if args.readme is None else args.readme
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    solver_limit = args.solver_time_limit or 0.6 * args.time_limit
    options = {"time_limit_s": solver_limit, "mip_rel_gap": args.mip_gap, "threads": args.threads}
    child = {"write_plan": not args.no_write, "parquet": not args.no_parquet, "report": not args.no_report,
             "scheduler": args.scheduler, "workers": args.workers}
    date = dt.date.today().isoformat()
    command = "python benchmarks/run.py" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
    machine = machine_info()

    runs = []
    for inst in instance_list(sizes, variants, args.seed, args.dr_share):
        folder, gen_s, changed = make_instance(inst, work)
        for method in methods:
            row = {"instance": inst["name"], "size": inst["size"], "variant": inst["variant"],
                   "evs": inst["evs"], "transformers": inst["transformers"], "method": method,
                   "generate_seconds": gen_s, "instance_changes": changed, "started": dt.datetime.now().isoformat(timespec="seconds"),
                   "commit": (machine["git"]["commit"] or "")[:10] + ("+dirty" if machine["git"]["dirty"] else "")}
            if method == "pyomo" and inst["evs"] > args.pyomo_max_evs:
                row.update(status="skipped", reason=f"> {args.pyomo_max_evs:,} EVs")
            else:
                print(f"[{time.strftime('%H:%M:%S')}] {inst['name']} {method} ...", flush=True)
                tag = f"{inst['name'].replace('+', '_')}-{method}"
                res = run_child(folder, method, options, args.time_limit, work, tag, child)
                totals = [res.get("total_seconds")]
                for _ in range(args.repeat - 1):
                    if res.get("total_seconds") is None or res["total_seconds"] > REPEAT_MAX_S:
                        break  # a timeout, error or long run is not repeated
                    again = run_child(folder, method, options, args.time_limit, work, tag, child)
                    totals.append(again.get("total_seconds"))
                    if again.get("total_seconds") is not None and again["total_seconds"] < res["total_seconds"]:
                        res = again
                res["repeats_total_seconds"] = totals
                res.pop("method", None)
                row.update(res)
            runs.append(row)
            print(f"    {row['status']}: total {_f(row.get('total_seconds'))} s, gap "
                  f"{_f(row.get('mip_gap'), '{:.3%}')}, peak {_f(row.get('peak_mb'), '{:,.0f}')} MB, "
                  f"valid {row.get('valid', '-')}", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{date}-{mode}.json"
    if args.merge and path.exists():
        done = {(r["instance"], r["method"]) for r in runs}
        old = [r for r in json.loads(path.read_text())["runs"] if (r["instance"], r["method"]) not in done]
        runs = old + runs
    add_ratios(runs)
    machine["loadavg_end"] = list(os.getloadavg())
    data = {"date": date, "mode": mode, "command": command, "machine": machine,
            "settings": {"mip_rel_gap": args.mip_gap, "threads": args.threads, "solver_time_limit_s": solver_limit,
                         "time_limit_s": args.time_limit, "seed": args.seed, "dr_share": args.dr_share, "pyomo_max_evs": args.pyomo_max_evs,
                         "write_plan": not args.no_write, "parquet": not args.no_parquet, "repeat": args.repeat,
                         "report": not args.no_report, "scheduler": args.scheduler, "workers": args.workers,
                         "sizes": [s["label"] for s in sizes], "variants": variants, "methods": methods},
            "runs": runs}
    data["targets"] = check_targets(runs)
    path.write_text(json.dumps(data, indent=1, default=_json_default) + "\n")
    text = markdown(data)
    print("\n" + text + f"\n\nresults: {path}")
    if readme:
        update_readme(text)
        print(f"table written into {README}")
    bad = [r for r in runs if r["status"] == "error" or r.get("valid") is False]
    for r in bad:
        print(f"FAILED: {r['instance']} {r['method']}: {r.get('error') or r.get('violations')}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
