"""Where a province plan's CPU goes on worker processes: the client's serial part, stage by stage,
against the workers' block solves (CPU seconds, ``time.process_time`` of each process).

    python benchmarks/province_costs.py /tmp/prov/g100k --out /tmp/prov/p100k [--workers 2] [--scheduler local]

It plans as ``vpp-sched plan G -o P --scheduler local --workers 2 --no-report`` does (the same
``plan_day`` and ``write_plan_large``), and records the client's CPU between the planner's progress
messages (reading, building the problem, solving, checking, writing), the solve's own phases (wall,
from ``solver.seconds``), the workers' CPU over the plan (``Client.run``), HiGHS's time as the plan
reports it, and the peak RSS of the client and of each worker. Record:
``benchmarks/results/province-costs-<scenario>.json`` (``--record`` names another file).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path


def _worker_usage() -> dict:
    """A worker's CPU seconds and peak RSS [MB] (run there by ``Client.run``)."""
    return {"cpu_s": time.process_time(), "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario")
    ap.add_argument("--out", required=True)
    ap.add_argument("--scheduler", default="local")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--time-limit", type=float, default=1800.0)
    ap.add_argument("--mip-gap", type=float, default=0.005)
    ap.add_argument("--record", default=None)
    args = ap.parse_args(argv)

    from vpp_sched.outfolder import OutFolder
    from vpp_sched.plan.output import write_plan_large
    from vpp_sched.plan.planner import plan_day
    from vpp_sched.scenario.load import load_scenario
    from vpp_sched.solve.parallel import get_executor

    stages: dict[str, float] = {}
    mark = {"name": "start", "cpu": time.process_time(), "wall": time.perf_counter()}
    walls: dict[str, float] = {}

    def say(stage: str) -> None:
        now, wall = time.process_time(), time.perf_counter()
        stages[mark["name"]] = stages.get(mark["name"], 0.0) + now - mark["cpu"]
        walls[mark["name"]] = walls.get(mark["name"], 0.0) + wall - mark["wall"]
        mark.update(name=stage, cpu=now, wall=wall)
        print(f"{wall:.1f} {stage}", flush=True)

    say("reading the scenario")
    sc = load_scenario(args.scenario)
    options = sc.config.solver.model_copy(update={"time_limit_s": args.time_limit, "mip_rel_gap": args.mip_gap})
    with get_executor(args.scheduler, args.workers) as executor:
        client = executor.client
        before = client.run(_worker_usage)
        run = plan_day(sc, method="decomposed", options=options, progress=say, executor=executor)
        say("workers' usage")
        after = client.run(_worker_usage)
    with OutFolder(args.out, "plan", force=True) as folder:
        say("writing the plan")
        write_plan_large(run.plan, folder)
    say("done")
    solver = run.solution.solver
    k = run.plan.kpis
    workers = {w: {"cpu_s": after[w]["cpu_s"] - before[w]["cpu_s"], "max_rss_mb": after[w]["max_rss_mb"]}
               for w in after if w in before}
    rec = {"scenario": args.scenario, "n_evs": run.problem.n_evs, "n_transformers": run.problem.n_transformers,
           "scheduler": args.scheduler, "workers": args.workers,
           "client_cpu_s": {k_: round(v, 3) for k_, v in stages.items()},
           "client_wall_s": {k_: round(v, 3) for k_, v in walls.items()},
           "client_cpu_total_s": sum(stages.values()),
           "client_max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "workers_cpu": workers, "workers_cpu_total_s": sum(w["cpu_s"] for w in workers.values()),
           "solve_phases_wall_s": solver.get("seconds"), "rounds": solver.get("rounds"),
           "n_blocks": solver.get("n_blocks"), "block_lp_seconds": solver.get("block_lp_seconds"),
           "block_cpu_s": solver.get("block_cpu_s"), "highs_s": k["timing"]["highs_s"],
           "highs_runs": k["timing"]["highs_runs"], "status": k["status"], "mip_gap": k["mip_gap"],
           "objective_cny": k.get("objective_cny"), "dr_events": k.get("dr_events"),
           "load_average": list(__import__("os").getloadavg())}
    print(json.dumps(rec, indent=1, default=str))
    target = Path(args.record) if args.record else (
        Path(__file__).with_name("results") / f"province-costs-{Path(args.scenario).name}.json")
    target.write_text(json.dumps(rec, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
