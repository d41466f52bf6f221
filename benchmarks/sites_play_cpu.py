"""CPU of one sampled day per policy on the bundled scenario (``run_day``'s thread CPU), for comparing two
checkouts side by side (issue 16: the sites' play; ``benchmarks/README.md``, "Evaluate").

    PYTHONPATH=<checkout> python benchmarks/sites_play_cpu.py [--days 3]

Prints JSON: the CPU of making the two plans, then per policy the CPU of each day [s].
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=3)
    args = ap.parse_args()

    from vpp_sched.scenario.load import load_scenario
    from vpp_sched.studies import evaluate as E

    sc = load_scenario(None)
    opts = sc.config.solver
    c0 = time.process_time()
    plans = E.make_plans(sc, opts, robust=True, seed=0)
    out = {"plans_cpu": round(time.process_time() - c0, 2)}
    for policy in E.POLICIES:
        out[policy] = [round(E.run_day(E.DayTask(d, 0, sc, (policy,), plans, opts))[2], 3) for d in range(args.days)]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
