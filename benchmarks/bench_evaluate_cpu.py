"""CPU seconds per sampled day and policy of ``vpp-sched evaluate`` (issue 16's time target, by CPU).

    python benchmarks/bench_evaluate_cpu.py [--days 10 | --day-list 4,29,49] [--seed 0] [--json FILE] [--days-csv FILE]

In this process, one thread, one day and one policy at a time: the plans once (their CPU), then
each day under each policy alone (``studies.evaluate.run_day`` of a one-policy task, its thread
CPU: sampling the day, the contexts, the slot-by-slot play, the re-plans). Thread CPU hardly
depends on what else runs on the machine, so two checkouts can be compared side by side in the
same minute (``PYTHONPATH=<checkout> python <this file>``). ``--days-csv`` writes the days' rows
(days.csv's columns) to compare the results of the two checkouts.

The extrapolation printed: 100 days x the policies on W workers = plans + 100 * (sum of the
policies' mean CPU per day) / W, the parallel part assumed perfectly shared (threads: HiGHS
releases the GIL; the rest, Python holding it, is the ``python_share`` measured here: the days'
CPU outside HiGHS's runs).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=10)
    ap.add_argument("--day-list", default=None, help="these days (comma-separated) instead of 0..days-1; the 100-day extrapolation then holds only for a fair sample")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2, help="for the extrapolation only")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--days-csv", type=Path, default=None)
    args = ap.parse_args()

    import pandas as pd

    import vpp_sched
    from vpp_sched.scenario.load import load_scenario
    from vpp_sched.solve import highs as highs_module
    from vpp_sched.studies.evaluate import POLICIES, DayTask, make_plans, run_day

    sc = load_scenario(None)
    options = sc.config.solver
    cpu = time.thread_time()
    plans = make_plans(sc, options, robust=True, seed=args.seed)
    plans_cpu = time.thread_time() - cpu
    per = {p: [] for p in POLICIES}
    rows = []
    highs_cpu = _count_highs_cpu(highs_module)
    days = [int(d) for d in args.day_list.split(",")] if args.day_list else list(range(args.days))
    for day in days:
        for policy in POLICIES:
            day_rows, _, seconds = run_day(DayTask(day, args.seed, sc, (policy,), plans, options))
            per[policy].append(seconds)
            rows += day_rows
    highs_s = highs_cpu[0]
    mean = {p: sum(v) / len(v) for p, v in per.items()}
    day_cpu = sum(mean.values())
    total = sum(sum(v) for v in per.values())
    out = {"checkout": str(Path(vpp_sched.__file__).parent.parent), "days": len(days), "day_numbers": days, "seed": args.seed,
           "plans_cpu_s": plans_cpu, "cpu_s_per_day": mean, "cpu_s_per_day_all_policies": day_cpu,
           "highs_s": highs_s, "python_share": (1 - highs_s / total) if total else None,
           "per_day": per,
           "extrapolated_100d_wall_s": plans_cpu + 100 * day_cpu / args.workers, "workers": args.workers}
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    if args.days_csv:
        pd.DataFrame(rows).to_csv(args.days_csv, index=False, float_format="%.9g")


def _count_highs_cpu(highs_module) -> list[float]:
    """A one-element list summing the thread CPU of every HiGHS run of the lean solver from now [s]."""
    total, real = [0.0], highs_module.run_highs

    def counted(h):
        cpu = time.thread_time()
        try:
            return real(h)
        finally:
            total[0] += time.thread_time() - cpu
    highs_module.run_highs = counted
    return total


if __name__ == "__main__":
    main()
