"""Benchmark of ``vpp-sched evaluate`` on the bundled scenario: the issue-16 targets, measured.

    python benchmarks/bench_evaluate.py [--days 100] [--seed 0] [--replan-every 12] [--workers 2]
                                        [--scheduler local] [--out benchmarks/results/evaluate-100d]
                                        [--json FILE]

Runs the evaluation (every policy) on the executor (default ``local``: a Dask cluster of
``--workers`` processes, the days in parallel), writes the folder, and prints (and with ``--json``
writes) wall and CPU time, the load average before and after, and the targets: per policy the
transformers holding their limit on >= 95 % of the days, the energy cost against the day-ahead
plan's expected cost, the unmet energy against uncontrolled. CPU time (this process's
``time.process_time`` plus every day's CPU in its worker) is the number to compare on a shared
machine; wall time depends on what else runs.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def policy_targets(stats, base: float, floor: float) -> dict[str, dict]:
    """Per policy (``policy_stats`` indexed by policy): the issue-16 targets' numbers, the cost against the
    day-ahead plan's mean ``base`` [CNY] and the unmet energy against uncontrolled's ``floor`` [kWh]."""
    return {policy: {
        "transformers_held_95": int(s.transformers_held_95), "transformers": int(s.transformers),
        "worst_p_overload_day": float(s.worst_p_overload_day), "energy_cost_cny_mean": float(s.energy_cost_cny_mean),
        "cost_vs_day_ahead_pct": float(100 * (s.energy_cost_cny_mean / base - 1)),
        "unmet_kwh_mean": float(s.unmet_kwh_mean), "unmet_vs_uncontrolled_kwh": float(s.unmet_kwh_mean - floor),
        "replans_mean": float(s.replans_mean)} for policy, s in stats.iterrows()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--replan-every", type=int, default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scheduler", default="local", help="serial | threads | local | tcp://...")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--policies", default=None, help="comma-separated (default: all)")
    ap.add_argument("--catch-up-overload-pct", type=float, default=None,
                    help="uncertainty.catch_up_overload_pct for the run (default: the scenario's)")
    args = ap.parse_args()

    from vpp_sched.scenario.load import load_scenario
    from vpp_sched.solve.parallel import get_executor
    from vpp_sched.studies.evaluate import EVALUATE_REPLAN_EVERY, policy_stats, run_evaluate
    from vpp_sched.studies.evaluate_output import write_evaluate

    every = args.replan_every or EVALUATE_REPLAN_EVERY
    sc = load_scenario(None)
    if args.catch_up_overload_pct is not None:
        from dataclasses import replace
        u = sc.config.uncertainty.model_copy(update={"catch_up_overload_pct": args.catch_up_overload_pct})
        sc = replace(sc, config=sc.config.model_copy(update={"uncertainty": u}))
    policies = args.policies.split(",") if args.policies else None
    load_before = os.getloadavg()
    wall = time.perf_counter()
    with get_executor(args.scheduler if args.workers > 1 else "serial", args.workers) as ex:
        r = run_evaluate(sc, args.days, args.seed, replan_every=every, executor=ex,
                         **({"policies": policies} if policies else {}))
    wall, cpu = time.perf_counter() - wall, r.cpu_seconds
    if args.out:
        write_evaluate(r, args.out, limit_kw=sc.transformers.limit_kw.to_numpy(float), force=True)
    stats = policy_stats(r).set_index("policy")
    base = stats.energy_cost_cny_mean.get("day-ahead", float("nan"))
    floor = stats.unmet_kwh_mean.get("uncontrolled", float("nan"))
    out = {"scenario": sc.config.name, "days": args.days, "seed": args.seed, "replan_every": every,
           "workers": args.workers, "scheduler": r.executor,
           "catch_up_overload_pct": sc.config.uncertainty.catch_up_overload_pct, "wall_seconds": wall, "cpu_seconds": cpu,
           "load_average_before": list(load_before), "load_average_after": list(os.getloadavg()), "policies": {}}
    out["policies"] = policy_targets(stats, base, floor)
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
