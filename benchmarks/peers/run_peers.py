#!/usr/bin/env python
"""Peers side by side: vpp-sched plan, FlexMeasures' device_scheduler and the same model in linopy -> HiGHS.

    python benchmarks/peers/run_peers.py                          # single (200 EVs, 1 transformer) and 2k
    python benchmarks/peers/run_peers.py --sizes single,2k,10k --variants plain,minp --peers linopy

Run with the project's Python (it reads the scenarios with vpp-sched); the peers run in their own
environment, named by ``--peers-python`` (default ``$VPP_PEERS_PYTHON`` or ``/work/peers-venv/bin/python``;
``benchmarks/peers/README.md`` says how to make it). Each run is its own process, in one run of this
script, on the same instance (``peer_instances.py``), and the instance reaches the peers as a ``.npz``
file. vpp-sched is timed by ``benchmarks/bench_child.py`` (what ``vpp-sched plan`` runs, without
writing the plan folder), on the lean route (``--method lean``) unless ``--vpp-method`` says otherwise.
Each peer's schedule is judged by vpp-sched (``peer_check.judge``): its validity check, its model
objective and the gap to vpp-sched's bound. Results: ``<out>/<date>-peers.json``; with ``--readme``
the table goes into ``benchmarks/README.md`` between the ``peers`` markers.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]    # benchmarks/peers and benchmarks/ (bench_*.py, run.py)

import numpy as np  # noqa: E402

from bench_child import json_default  # noqa: E402
from peer_check import judge  # noqa: E402
from peer_instances import export_problem, make_peer_instance, peer_instances, problem_of  # noqa: E402
from run import machine_info  # noqa: E402
from vpp_sched.plan.results import dr_compensation_cny  # noqa: E402

README = HERE.parent / "README.md"
MARK_START, MARK_END = "<!-- peers:start -->", "<!-- peers:end -->"
PEER_SCRIPTS = {"flexmeasures": "run_flexmeasures.py", "linopy": "run_linopy.py"}
DEFAULT_PEERS_PYTHON = "/work/peers-venv/bin/python"


def run_process(cmd: list[str], limit_s: float, log: Path) -> dict:
    """Run ``cmd`` in its own session, killed after ``limit_s``; its CPU time (imports included) and peak memory."""
    with open(log, "w") as se:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=se, stderr=se, start_new_session=True)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - t0 > limit_s:
                os.killpg(proc.pid, signal.SIGKILL)
                _, status, usage = os.wait4(proc.pid, 0)
                return {"status": "timeout", "error": f"killed after {limit_s:g} s", "outer_wall_seconds": limit_s,
                        "returncode": None}
            time.sleep(0.1)
    return {"outer_wall_seconds": time.perf_counter() - t0, "process_cpu_seconds": usage.ru_utime + usage.ru_stime,
            "peak_mb": usage.ru_maxrss / 1024, "returncode": os.waitstatus_to_exitcode(status)}


def run_peer(python: str, peer: str, instance: Path, result: Path, extra: list[str], limit_s: float,
             logs: Path) -> dict:
    """One peer in its own process: its result ``.npz`` read back, plus CPU time (imports included)."""
    result.unlink(missing_ok=True)
    log = logs / f"{result.stem}.stderr"
    out = run_process([python, str(HERE / PEER_SCRIPTS[peer]), str(instance), str(result), *extra], limit_s, log)
    if out.get("status") == "timeout":
        return out
    if out.pop("returncode") or not result.exists():
        return {**out, "status": "error", "error": log.read_text()[-1500:]}
    with np.load(result) as r:
        out.update({k: r[k].item() for k in r.files if k != "ev_power_kw"})
        out["ev_power_kw"] = r["ev_power_kw"]
    return out


def vpp_row(folder: Path, args, work: Path, tag: str) -> dict:
    """vpp-sched in its own process (``vpp_child.py``: ``bench_child.measure``, the plan folder not written)."""
    options = {"time_limit_s": 0.6 * args.time_limit, "mip_rel_gap": args.mip_gap, "threads": 1}
    result = work / "logs" / f"{tag}.result.json"
    result.unlink(missing_ok=True)
    spec = {"scenario": str(folder), "method": args.vpp_method, "options": options, "result": str(result),
            "write_dir": None}
    r = run_process([sys.executable, str(HERE / "vpp_child.py"), json.dumps(spec)], args.time_limit,
                    work / "logs" / f"{tag}.stderr")
    if r.get("status") == "timeout":
        return r
    if r.pop("returncode") or not result.exists():
        return {**r, "status": "error", "error": (work / "logs" / f"{tag}.stderr").read_text()[-1500:]}
    child = json.loads(result.read_text())
    keep = ("status", "method_used", "total_seconds", "solve_call_seconds", "highs_seconds", "timed_cpu_seconds",
            "import_seconds", "plan_objective_cny", "bound_cny", "mip_gap", "unmet_energy_kwh",
            "overload_energy_kwh", "dr_shortfall_kwh", "valid", "violations", "n_binaries", "error")
    return {**r, **{k: child.get(k) for k in keep}}


def calls_status(statuses: str) -> str:
    """FlexMeasures' calls' termination conditions (``str`` of a dict of counts) as one status:
    ``optimal``, or ``time_limit (k of N calls)``, or the counts as they are."""
    calls = ast.literal_eval(statuses)
    calls.pop("no EVs", None)
    total = sum(calls.values())
    if set(calls) <= {"optimal"}:
        return "optimal"
    if set(calls) <= {"optimal", "maxTimeLimit"}:
        return f"time_limit ({calls['maxTimeLimit']} of {total} calls)"
    return statuses


def peer_row(peer: str, p, npz: Path, bound: float | None, args, logs: Path) -> dict:
    extra = ["--mip-gap", str(args.mip_gap), "--time-limit", str(0.6 * args.time_limit)]
    if peer == "flexmeasures" and args.fm_defaults:
        extra.append("--fm-defaults")
    r = run_peer(args.peers_python, peer, npz, npz.with_suffix(f".{peer}.npz"), extra, args.time_limit, logs)
    power = r.pop("ev_power_kw", None)
    r["timed_cpu_seconds"] = r.pop("cpu_seconds", None)
    if "bound_cny" in r:                      # linopy: HiGHS's own bound of its model
        r["own_bound_cny"] = r.pop("bound_cny")
    r["bound_cny"] = bound
    if "condition" in r:                      # linopy: HiGHS's termination condition
        r["status"] = r.pop("condition")
    elif "statuses" in r:                     # FlexMeasures: one termination condition per call
        r["status"] = calls_status(r["statuses"])
    if power is not None:
        r.update(judge(p, power, bound))
    return r


def run_instance(inst: dict, args, work: Path) -> list[dict]:
    folder = make_peer_instance(inst, work)
    p = problem_of(folder)
    npz = work / "peers" / f"{inst['name']}-s{inst['seed']}.npz"
    npz.parent.mkdir(parents=True, exist_ok=True)
    export_problem(p, npz)
    base = {"instance": inst["name"], "evs": p.n_evs, "transformers": p.n_transformers,
            "dr_events": p.n_events, "binaries": int(p.ev_available[p.ev_binary].sum())}
    rows = [{**base, "method": f"vpp-sched ({args.vpp_method})", **vpp_row(folder, args, work, f"peers-{inst['name']}")}]
    vpp = rows[0]
    # vpp-sched's bound on the reported basis (the DR compensation subtracted, as plan_objective_cny)
    bound = vpp["bound_cny"] - dr_compensation_cny(p) if vpp.get("bound_cny") is not None else None
    vpp["bound_cny"] = bound
    vpp["gap_to_vpp_bound"] = vpp.pop("mip_gap")
    for peer in args.peers.split(","):
        if peer == "linopy" and p.n_evs > args.linopy_max_evs:
            rows.append({**base, "method": peer, "status": "skipped", "error": f"--linopy-max-evs {args.linopy_max_evs}"})
            continue
        row = {**base, "method": peer, **peer_row(peer, p, npz, bound, args, work / "logs")}
        if vpp.get("total_seconds") and row.get("total_seconds"):
            row["vs_vpp"] = row["total_seconds"] / vpp["total_seconds"]
        if vpp.get("timed_cpu_seconds") and row.get("timed_cpu_seconds"):
            row["cpu_vs_vpp"] = row["timed_cpu_seconds"] / vpp["timed_cpu_seconds"]
        rows.append(row)
        print(f"  {inst['name']} {peer}: {row.get('status')} "
              f"{row.get('total_seconds')} s", flush=True)
    print(f"  {inst['name']} vpp-sched: {vpp.get('status')} {vpp.get('total_seconds')} s", flush=True)
    return rows


# ==========================================================================================
# table and driver
# ==========================================================================================
COLUMNS = [("instance", "instance"), ("EVs", "evs"), ("transf.", "transformers"), ("DR events", "dr_events"),
           ("on/off slots", "binaries"), ("method", "method"), ("status", "status"), ("time s", "total_seconds"),
           ("vs vpp-sched", "vs_vpp"), ("CPU s", "timed_cpu_seconds"), ("CPU vs vpp-sched", "cpu_vs_vpp"),
           ("import s", "import_seconds"), ("process CPU s", "process_cpu_seconds"),
           ("objective CNY", "plan_objective_cny"), ("vpp-sched bound CNY", "bound_cny"),
           ("gap to bound", "gap_to_vpp_bound"), ("unmet kWh", "unmet_energy_kwh"),
           ("overload kWh", "overload_energy_kwh"), ("DR short kWh", "dr_shortfall_kwh"), ("valid", "valid")]


def cell(key: str, value) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if key == "gap_to_vpp_bound":
        return f"{100 * value:.3f}%"
    if key in ("vs_vpp", "cpu_vs_vpp"):
        return f"{value:.1f}x"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1e5 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(h for h, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join(cell(k, r.get(k)) for _, k in COLUMNS) + " |")
    return "\n".join(lines)


def header(run: dict) -> str:
    m = run["machine"]
    a = run["args"]
    commands = " and ".join(f"`python benchmarks/peers/run_peers.py {argv}`" for argv in [run["argv"], *run.get("merged", [])])
    return (f"Run of {run['date']}: {commands}. Machine: "
            f"{m['cores']} cores, load average at start {m['loadavg_start'][0]:.2f}; commit "
            f"{(m['git']['commit'] or '?')[:10]}{' + uncommitted changes' if m['git']['dirty'] else ''}; "
            f"FlexMeasures {run['versions'].get('flexmeasures')}, linopy {run['versions'].get('linopy')}, "
            f"highspy {m['highspy']}. MIP gap {100 * a['mip_gap']:g} % for every method, 1 thread.")


def update_readme(text: str, path: Path = README) -> None:
    old = path.read_text()
    if MARK_START not in old or MARK_END not in old:
        raise SystemExit(f"{path}: no {MARK_START} ... {MARK_END} markers (section Peers)")
    path.write_text(old[:old.index(MARK_START)] + f"{MARK_START}\n{text}\n{MARK_END}"
                    + old[old.index(MARK_END) + len(MARK_END):])


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="single,2k", help="comma list as benchmarks/run.py's (single, 2k, 10k, E@N)")
    ap.add_argument("--variants", default="plain,minp", help="plain, minp, dr, dr+minp (single: minp only)")
    ap.add_argument("--peers", default="flexmeasures,linopy")
    ap.add_argument("--peers-python", default=os.environ.get("VPP_PEERS_PYTHON", DEFAULT_PEERS_PYTHON))
    ap.add_argument("--vpp-method", default="lean", help="vpp-sched's --method (default lean)")
    ap.add_argument("--mip-gap", type=float, default=0.005)
    ap.add_argument("--time-limit", type=float, default=600.0, help="per-run wall limit; the process is killed [s]")
    ap.add_argument("--fm-defaults", action="store_true", help="FlexMeasures with its own mip_rel_gap (0)")
    ap.add_argument("--linopy-max-evs", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=HERE.parent / "work")
    ap.add_argument("--out", type=Path, default=HERE.parent / "results")
    ap.add_argument("--merge", action="store_true", help="keep the other instances of today's results file")
    ap.add_argument("--readme", action="store_true", help="write the table into benchmarks/README.md (Peers)")
    ap.add_argument("--report", type=Path, metavar="JSON", help="only print (with --readme write) a results file's table")
    return ap.parse_args(argv)


def peer_versions(python: str) -> dict:
    code = ("import json; from importlib.metadata import version as v; "
            "print(json.dumps({k: v(k) for k in ('flexmeasures', 'linopy', 'highspy')}))")
    try:
        return json.loads(subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120).stdout)
    except (OSError, ValueError, subprocess.SubprocessError):
        return {}


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.report:
        run = json.loads(args.report.read_text())
    else:
        if not Path(args.peers_python).exists():
            raise SystemExit(f"--peers-python {args.peers_python}: not found (benchmarks/peers/README.md)")
        work = args.work
        (work / "logs").mkdir(parents=True, exist_ok=True)
        run = {"date": dt.date.today().isoformat(), "argv": " ".join(sys.argv[1:] if argv is None else argv),
               "args": {"mip_gap": args.mip_gap, "time_limit": args.time_limit, "fm_defaults": args.fm_defaults,
                        "vpp_method": args.vpp_method, "seed": args.seed},
               "machine": machine_info(), "versions": peer_versions(args.peers_python), "rows": []}
        for inst in peer_instances(args.sizes, args.variants, args.seed):
            print(f"{inst['name']}:", flush=True)
            run["rows"] += run_instance(inst, args, work)
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"{run['date']}-peers.json"
        if args.merge and path.exists():
            names = {r["instance"] for r in run["rows"]}
            run["rows"] = [r for r in json.loads(path.read_text())["rows"] if r["instance"] not in names] + run["rows"]
        path.write_text(json.dumps(run, indent=1, default=json_default))
        print(f"results: {path}")
    text = header(run) + "\n\n" + table(run["rows"])
    print(text)
    if args.readme:
        update_readme(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
