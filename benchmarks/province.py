"""The province benchmark (issue 17, target 3): ``vpp-sched plan`` timed from outside on a generated
day of up to 1,000,000 EVs, decomposed route on Dask worker processes, the plan as partitioned Parquet.

    # time one size: generate (if missing), plan on a LocalCluster of 2 worker processes
    python benchmarks/province.py run --evs 1000000 --transformers 20000 --work /tmp/prov
    # the same plan through a scheduler address: starts `dask scheduler` + 2 `dask worker`
    # processes on 127.0.0.1, plans both ways, compares the plan files' hashes, stops them
    python benchmarks/province.py same-plan --evs 20000 --transformers 400 --work /tmp/prov

Each run writes a JSON record (``--json``, default ``benchmarks/results/province-<label>.json``):
wall, user + system CPU of the whole process tree (``/usr/bin/time -v``, children included), the
peak RSS summed over the process tree (sampled every ``--sample-s``: the plan's process and its
worker processes), and from ``kpis.json`` the status, objective, bound, gap, DR compliance and the
decomposed solve's per-phase seconds and per-block CPU costs (``solver.block_cpu_s``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
PLAN_FLAGS = ["--no-report", "--mip-gap", "0.005"]


def env() -> dict:
    """The environment of every child: this checkout's package first (workers import vpp_sched)."""
    e = dict(os.environ)
    e["PYTHONPATH"] = f"{ROOT}{os.pathsep}{e['PYTHONPATH']}" if e.get("PYTHONPATH") else str(ROOT)
    return e


def tree_rss_mb(pid: int) -> float:
    """RSS of ``pid`` and all its descendants [MB] (from /proc; 0 when it has gone)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(d.name))
        rss[int(d.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total / 2**20


def timed(cmd: list[str], timeout_s: float, sample_s: float = 1.0) -> dict:
    """Run ``cmd`` under ``/usr/bin/time -v``: wall, CPU (user + system, children included), the
    largest single-process RSS and the sampled peak of the process tree's summed RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen(["/usr/bin/time", "-v", *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env(), start_new_session=True)   # its own group: stopped whole on a timeout
    peak = [0.0]

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss_mb(proc.pid))
            time.sleep(sample_s)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        import signal

        os.killpg(proc.pid, signal.SIGKILL)      # /usr/bin/time, the plan and its worker processes
        out, err = proc.communicate()
        return {"cmd": cmd, "timed_out": True, "wall_s": time.perf_counter() - start, "stderr": err[-3000:]}
    sampler.join()
    got = {k: float(m.group(1)) for k, pat in (("user_s", r"User time \(seconds\): ([\d.]+)"),
                                               ("system_s", r"System time \(seconds\): ([\d.]+)"),
                                               ("max_rss_kb", r"Maximum resident set size \(kbytes\): (\d+)"))
           if (m := re.search(pat, err))}
    return {"cmd": cmd, "returncode": proc.returncode, "wall_s": time.perf_counter() - start,
            "cpu_s": got.get("user_s", 0.0) + got.get("system_s", 0.0),
            "max_single_rss_mb": got.get("max_rss_kb", 0.0) / 1024, "peak_tree_rss_mb": peak[0],
            "stdout": out[-3000:], "stderr": err[-3000:]}


def generate(args, folder: Path) -> dict | None:
    if (folder / "scenario.yaml").exists():
        return None
    return timed([str(BIN / "vpp-sched"), "generate", str(folder), "--transformers", str(args.transformers),
                  "--evs", str(args.evs), "--dr-event", "--min-power-kw", "1.4", "--seed", str(args.seed)],
                 args.timeout)


def plan(args, folder: Path, out: Path, scheduler: str, workers: int | None) -> dict:
    cmd = [str(BIN / "vpp-sched"), "plan", str(folder), "-o", str(out), "--scheduler", scheduler,
           "--time-limit", str(args.time_limit), *PLAN_FLAGS]
    if workers:
        cmd += ["--workers", str(workers)]
    rec = timed(cmd, args.timeout, args.sample_s)
    if rec.get("returncode") == 0:
        rec["kpis"] = kpi_extract(json.loads((out / "kpis.json").read_text()))
        rec["plan_hashes"] = plan_hashes(out)
    return rec


def kpi_extract(k: dict) -> dict:
    """What the province record keeps of ``kpis.json``."""
    s = k.get("solver", {})
    return {"status": k["status"], "objective_cny": k.get("objective_cny"), "bound_cny": k.get("bound_cny"),
            "mip_gap": k.get("mip_gap"), "dr_shortfall_kwh": k.get("dr_shortfall_kwh"),
            "dr_events": [{f: e.get(f) for f in ("event_id", "target_kw", "compliance_pct")} for e in k.get("dr_events", [])],
            "unmet_energy_kwh": k.get("unmet_energy_kwh"), "n_evs": k["n_evs"], "n_transformers": k["n_transformers"],
            "timing": k.get("timing"), "partitioned": k.get("partitioned"),
            "solver": {f: s.get(f) for f in ("executor", "workers", "n_blocks", "n_coupled_blocks", "rounds",
                                               "block_lp_seconds", "seconds", "block_cpu_s")}}


def plan_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every plan file but kpis.json (timings differ run to run) and the manifest."""
    return {str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(folder.rglob("*")) if f.is_file() and f.name not in ("kpis.json", ".vpp-sched-manifest.json")}


def kpis_without_timings(folder: Path) -> dict:
    k = json.loads((folder / "kpis.json").read_text())
    for key in ("build_seconds", "solve_seconds", "total_seconds", "timing", "solver"):
        k.pop(key, None)
    return k


def cmd_run(args) -> dict:
    folder = Path(args.work) / f"g{args.label}"
    rec = {"label": args.label, "evs": args.evs, "transformers": args.transformers, "load_before": os.getloadavg(),
           "generate": generate(args, folder)}
    rec["plan"] = plan(args, folder, Path(args.work) / f"p{args.label}-{args.scheduler}", args.scheduler, args.workers)
    rec["load_after"] = os.getloadavg()
    return rec


def start_dask(port: int, n_workers: int) -> list[subprocess.Popen]:
    """``dask scheduler`` on 127.0.0.1:port and ``n_workers`` ``dask worker`` processes (1 thread each)."""
    addr = f"tcp://127.0.0.1:{port}"
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    time.sleep(3)
    procs += [subprocess.Popen([str(BIN / "dask"), "worker", addr, "--nworkers", "1", "--nthreads", "1",
                                "--no-dashboard", "--name", f"w{i}"], env=env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(n_workers)]
    from distributed import Client

    with Client(addr, timeout=60) as client:
        client.wait_for_workers(n_workers, timeout=120)
    return procs


def stop(procs: list[subprocess.Popen]) -> None:
    for p in reversed(procs):     # workers first, then the scheduler
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def cmd_same_plan(args) -> dict:
    work = Path(args.work)
    folder = work / f"g{args.label}"
    rec = {"label": args.label, "evs": args.evs, "transformers": args.transformers, "load_before": os.getloadavg(),
           "generate": generate(args, folder)}
    rec["local"] = plan(args, folder, work / f"p{args.label}-local", "local", 2)
    procs = start_dask(args.port, 2)
    try:
        rec["address"] = plan(args, folder, work / f"p{args.label}-tcp", f"tcp://127.0.0.1:{args.port}", None)
    finally:
        stop(procs)
    a, b = rec["local"].get("plan_hashes"), rec["address"].get("plan_hashes")
    rec["same_files"] = a is not None and a == b
    rec["same_kpis"] = (a is not None and b is not None and
                        kpis_without_timings(work / f"p{args.label}-local") == kpis_without_timings(work / f"p{args.label}-tcp"))
    rec["load_after"] = os.getloadavg()
    return rec


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=("run", "same-plan"))
    ap.add_argument("--evs", type=int, default=1_000_000)
    ap.add_argument("--transformers", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", default="/tmp/vpp-province")
    ap.add_argument("--scheduler", default="local", help="run: local | threads | serial | tcp://...")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--port", type=int, default=8799)
    ap.add_argument("--time-limit", type=float, default=1200.0, help="the plan's --time-limit [s]")
    ap.add_argument("--timeout", type=float, default=1500.0, help="wall time after which a child is stopped [s]")
    ap.add_argument("--sample-s", type=float, default=1.0)
    ap.add_argument("--json", help="where to write the record")
    args = ap.parse_args(argv)
    args.label = f"{args.evs // 1000}k-{args.transformers}tr" if args.evs % 1000 == 0 else f"{args.evs}-{args.transformers}tr"
    Path(args.work).mkdir(parents=True, exist_ok=True)
    rec = cmd_run(args) if args.mode == "run" else cmd_same_plan(args)
    path = Path(args.json or HERE / "results" / f"province-{args.mode}-{args.label}.json")
    path.write_text(json.dumps(rec, indent=1, default=str) + "\n")
    summary = {k: v for k, v in rec.items() if k not in ("local", "address", "plan", "generate")}
    for part in ("generate", "plan", "local", "address"):
        if rec.get(part):
            r = rec[part]
            summary[part] = {k: r.get(k) for k in ("returncode", "timed_out", "wall_s", "cpu_s", "peak_tree_rss_mb",
                                                    "max_single_rss_mb")}
            if "kpis" in r:
                summary[part]["kpis"] = {k: r["kpis"][k] for k in ("status", "mip_gap", "dr_events", "unmet_energy_kwh")}
            elif r.get("returncode"):
                summary[part]["stderr"] = r["stderr"][-800:]
    print(json.dumps(summary, indent=1, default=str))
    print(f"record: {path}")
    return 0


if __name__ == "__main__":
    shutil.which("/usr/bin/time") or sys.exit("needs GNU time at /usr/bin/time")
    sys.exit(main())
