#!/usr/bin/env python
"""End-to-end speed benchmark of vpp-sched: seeded synthetic days, every method, one subprocess per run.

    python benchmarks/run.py                      # full run (see benchmarks/README.md)
    python benchmarks/run.py --quick              # tiny instances, both methods, < 60 s (CI)
    python benchmarks/run.py --sizes 1k,10k --methods lean,pyomo --time-limit 300

Each (instance, method) runs in its own Python process (``bench_child.py``), so its peak memory is
its own. The child times every stage of ``vpp-sched plan`` (the plan's ``kpis["timing"]``) and
HiGHS's own time (:mod:`vpp_sched.solve.timing`), so the modelling overhead (everything but
HiGHS) is reported too. Results go to ``<out>/<date>-<mode>.json`` and, in full mode, into the
table of ``benchmarks/README.md`` between the ``results`` markers.

This file is the driver: ``bench_instances.py`` makes the instances, ``bench_child.py`` is the
measured process, ``bench_tables.py`` writes the tables and judges the targets.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from vpp_sched.solve.dispatch import METHODS

from bench_child import child_main, json_default
from bench_instances import (DR_SHARE, FULL_SIZES, QUICK_SIZES, QUICK_VARIANTS, VARIANTS, instance_list, make_instance,
                             parse_size)
from bench_tables import README, TARGET_GAP, add_ratios, check_targets, markdown, num_text, update_readme

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
REPEAT_MAX_S = 60.0               # --repeat: runs longer than this are not repeated (noise matters less)


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
    cmd = [sys.executable, str(HERE / "bench_child.py"), json.dumps(spec)]
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
    # CPU time of the child and its waited-for descendants (imports included): on a shared, loaded
    # machine the wall time says more about the neighbours than about the code.
    out["cpu_seconds"] = (usage.ru_utime + usage.ru_stime) if usage else None
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
        return report_only(args)
    mode = "quick" if args.quick else "full"
    sizes, variants, methods = plan_of(args)
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
    runs = run_all(args, sizes, variants, methods, options, child, work, machine)
    startup = startup_seconds()

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
            "runs": runs, "startup": startup}
    data["targets"] = check_targets(runs, startup)
    path.write_text(json.dumps(data, indent=1, default=json_default) + "\n")
    text = markdown(data)
    print("\n" + text + f"\n\nresults: {path}")
    if readme:
        update_readme(text)
        print(f"table written into {README}")
    bad = [r for r in runs if r["status"] == "error" or r.get("valid") is False]
    for r in bad:
        print(f"FAILED: {r['instance']} {r['method']}: {r.get('error') or r.get('violations')}", file=sys.stderr)
    return 1 if bad else 0


def report_only(args) -> int:
    """``--report JSON``: the tables of an existing results file (and with --readme into the README)."""
    data = json.loads(args.report.read_text())
    add_ratios(data["runs"])
    data["targets"] = check_targets(data["runs"], data.get("startup"))
    text = markdown(data)
    print(text)
    if args.readme:
        update_readme(text)
    return 0


def startup_seconds(repeat: int = 3) -> dict:
    """``vpp-sched --help`` from a fresh process: the fastest wall and CPU time of ``repeat`` runs [s]."""
    code = "import sys; sys.argv = ['vpp-sched', '--help']; from vpp_sched.cli import main; main()"
    walls, cpus = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, cwd=str(REPO))
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - t0)
        cpus.append(usage.ru_utime + usage.ru_stime)
    return {"command": "vpp-sched --help", "wall_seconds": min(walls), "cpu_seconds": min(cpus)}


def plan_of(args) -> tuple[list[dict], list[str], list[str]]:
    """The sizes, variants and methods to run (exits on an unknown variant or method)."""
    sizes = [parse_size(t) for t in (args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES)).split(",") if t]
    variants = (args.variants or (QUICK_VARIANTS if args.quick else ",".join(VARIANTS))).split(",")
    for v in variants:
        if v not in VARIANTS:
            sys.exit(f"unknown variant {v!r}; choose from {', '.join(VARIANTS)}")
    methods = args.methods.split(",") if args.methods else sorted(METHODS, key=lambda m: (m != "lean", m))
    for m in methods:
        if m not in (*METHODS, "auto"):
            sys.exit(f"unknown method {m!r}; use auto or one of vpp_sched.solve.dispatch.METHODS: {', '.join(METHODS)}")
    return sizes, variants, methods


def run_all(args, sizes, variants, methods, options, child, work, machine) -> list[dict]:
    """One row per (instance, method): measured (best of --repeat) or skipped."""
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
                row.update(best_of(args.repeat, lambda: run_child(folder, method, options, args.time_limit, work,
                                                                  tag, child)))
            runs.append(row)
            print(f"    {row['status']}: total {num_text(row.get('total_seconds'))} s, gap "
                  f"{num_text(row.get('mip_gap'), '{:.3%}')}, peak {num_text(row.get('peak_mb'), '{:,.0f}')} MB, "
                  f"valid {row.get('valid', '-')}", flush=True)
    return runs


def best_of(repeat: int, measure) -> dict:
    """The fastest of up to ``repeat`` runs of ``measure()``; a timeout, error or long run is not repeated."""
    res = measure()
    totals = [res.get("total_seconds")]
    for _ in range(repeat - 1):
        if res.get("total_seconds") is None or res["total_seconds"] > REPEAT_MAX_S:
            break
        again = measure()
        totals.append(again.get("total_seconds"))
        if again.get("total_seconds") is not None and again["total_seconds"] < res["total_seconds"]:
            res = again
    res["repeats_total_seconds"] = totals
    res.pop("method", None)
    return res


if __name__ == "__main__":
    sys.exit(main())
