"""The client's serial part of a province plan, without the solve: read the scenario, build the
problem arrays, make the plan tables, check them and write the plan folder (partitioned Parquet),
each stage's CPU seconds (``time.process_time``) and the RSS after it. The plan is the uncontrolled
reference (every EV charging at full power from arrival), so the check reports its overloads: only
the cost of the stages is measured, not a plan.

    python benchmarks/client_costs.py /tmp/prov/g1000k-20000tr --out /tmp/prov/client-1m

The folder ``--out`` is written through vpp_sched.outfolder (new, or one this script wrote before).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    from vpp_sched.plan.output import write_plan_large
    from vpp_sched.plan.results import make_plan
    from vpp_sched.plan.validity import check_plan
    from vpp_sched.problem.build import build_problem, uncontrolled_reference
    from vpp_sched.scenario.load import load_scenario
    from vpp_sched.solve.solution import Solution, SolveStatus

    stages = {}

    def stage(name, fn, *a, **k):
        t, w = time.process_time(), time.perf_counter()
        out = fn(*a, **k)
        stages[name] = {"cpu_s": time.process_time() - t, "wall_s": time.perf_counter() - w, "rss_mb": rss_mb()}
        print(name, stages[name], flush=True)
        return out

    sc = stage("read", load_scenario, args.scenario)
    p = stage("prepare", build_problem, sc)

    def reference() -> Solution:
        ev, net, unmet = uncontrolled_reference(p)
        T = p.n_slots
        return Solution(status=SolveStatus.FEASIBLE, ev_power_kw=ev, ev_unmet_kwh=unmet,
                        pv_curtail_kw=np.zeros((p.n_stations, T)), battery_charge_kw=np.zeros((p.n_batteries, T)),
                        battery_discharge_kw=np.zeros((p.n_batteries, T)), battery_soc_kwh=np.zeros((p.n_batteries, T)),
                        net_load_kw=net, overload_kw=np.maximum(net - p.limit_kw[:, None], 0.0),
                        feeder_overload_kw=np.zeros((p.n_feeders, T)), dr_shortfall_kw=np.zeros((p.n_events, T)),
                        objective_cny=0.0, bound_cny=0.0, mip_gap=0.0)
    sol = stage("reference_solution", reference)
    plan = stage("plan_tables", make_plan, p, sol, sc.evs)
    problems = stage("check", check_plan, p, plan)
    stage("write", write_plan_large, plan, args.out)
    rec = {"scenario": args.scenario, "n_evs": p.n_evs, "schedule_rows": len(plan.ev_schedule),
           "check_findings": len(problems), "stages": stages,
           "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "total_cpu_s": sum(s["cpu_s"] for s in stages.values())}
    print(json.dumps(rec, indent=1))
    Path(__file__).with_name("results").joinpath(f"client-costs-{Path(args.scenario).name}.json").write_text(
        json.dumps(rec, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
