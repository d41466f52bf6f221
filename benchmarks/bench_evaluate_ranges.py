"""``vpp-sched evaluate``'s days in ranges, one process per range, each day written as it is done.

    python benchmarks/bench_evaluate_ranges.py run --first 0 --last 49 --jsonl FILE [--catch-up-overload-pct P]
    python benchmarks/bench_evaluate_ranges.py run --day-list 0,1,17 --jsonl FILE [--plans FILE.pkl] [...]
    python benchmarks/bench_evaluate_ranges.py merge FILE [FILE ...] --json OUT

``run`` makes the two plans and plays days ``first..last`` of seed 0 under every policy
(:func:`vpp_sched.studies.evaluate.run_day`, the function ``evaluate``'s executor maps), one JSON line per
day: the day's rows and its CPU time. ``merge`` reads the lines of all ranges and prints (and writes)
the targets as ``bench_evaluate.py`` does. A day depends on its number only, so the ranges give the
same tables as one ``evaluate`` run; on a loaded machine a run cut short still leaves its finished days.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import time
from dataclasses import replace
from pathlib import Path


def scenario_and_plans(seed: int, catch_up_overload_pct: float | None, plans_path: Path | None):
    """The bundled scenario (with the allowance if given), its two plans (read from ``plans_path`` when
    it exists, else made and written there) and the plans' CPU seconds."""
    from vpp_sched.scenario.load import load_scenario
    from vpp_sched.studies.evaluate import make_plans

    sc = load_scenario(None)
    if catch_up_overload_pct is not None:
        u = sc.config.uncertainty.model_copy(update={"catch_up_overload_pct": catch_up_overload_pct})
        sc = replace(sc, config=sc.config.model_copy(update={"uncertainty": u}))
    cpu = time.process_time()
    if plans_path is not None and plans_path.is_file():      # the plans do not depend on the allowance
        plans = pickle.loads(plans_path.read_bytes())
    else:
        plans = make_plans(sc, sc.config.solver, seed=seed)
        if plans_path is not None:
            plans_path.write_bytes(pickle.dumps(plans))
    # the robust plan's scenario is this one with the robust stays: its settings are this run's
    plans = replace(plans, robust_scenario=replace(plans.robust_scenario, config=sc.config))
    return sc, plans, time.process_time() - cpu


def run(args) -> None:
    from vpp_sched.studies.evaluate import POLICIES, DayTask, run_day

    sc, plans, plans_cpu_s = scenario_and_plans(args.seed, args.catch_up_overload_pct, args.plans)
    if args.early_laxity_slots is not None:   # the slot controller's early fill (slot_control.EARLY_LAXITY_SLOTS)
        from vpp_sched.studies import slot_control
        slot_control.EARLY_LAXITY_SLOTS = args.early_laxity_slots
    policies = tuple(args.policies.split(",")) if args.policies else POLICIES
    days = [int(d) for d in args.day_list.split(",")] if args.day_list else range(args.first, args.last + 1)
    with open(args.jsonl, "a") as out:
        out.write(json.dumps({"plans_cpu_seconds": plans_cpu_s}) + "\n")
        for d in days:
            rows, per_t, day_cpu = run_day(DayTask(d, args.seed, sc, policies, plans, sc.config.solver))
            out.write(json.dumps({"day": d, "rows": rows, "per_t": per_t, "cpu_seconds": day_cpu}) + "\n")
            out.flush()


def merge(args) -> None:
    import pandas as pd

    from vpp_sched.studies.evaluate import DAY_COLUMNS, POLICIES, EvaluateResult, policy_stats, transformer_table
    from bench_evaluate import policy_targets   # the same targets as the one-run benchmark

    lines = [json.loads(x) for f in args.files for x in Path(f).read_text().splitlines() if x.strip()]
    days = sorted({ln["day"]: ln for ln in lines if "day" in ln}.values(), key=lambda ln: ln["day"])
    rows = pd.DataFrame([r for ln in days for r in ln["rows"]])
    per_t = pd.DataFrame([r for ln in days for r in ln["per_t"]])
    r = EvaluateResult("merged", rows[DAY_COLUMNS + sorted(c for c in rows.columns if c not in DAY_COLUMNS)],
                       transformer_table(per_t, POLICIES), per_t, list(POLICIES), len(days), 0, 0)
    stats = policy_stats(r).set_index("policy")
    base, floor = stats.energy_cost_cny_mean["day-ahead"], stats.unmet_kwh_mean["uncontrolled"]
    cpu = sum(ln["cpu_seconds"] for ln in days) + sum(ln.get("plans_cpu_seconds", 0.0) for ln in lines)
    out = {"days": len(days), "day_numbers": [days[0]["day"], days[-1]["day"]], "seed": 0,
           "files": [str(f) for f in args.files], "cpu_seconds": cpu, "policies": {}}
    out["policies"] = policy_targets(stats, base, floor)
    for policy, target in out["policies"].items():
        target["days_unmet_above_uncontrolled"] = int((rows[rows.policy == policy].set_index("day").unmet_kwh
                                                       > rows[rows.policy == "uncontrolled"].set_index("day").unmet_kwh
                                                       + 1e-6).sum())
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--first", type=int, default=0)
    r.add_argument("--last", type=int, default=-1)
    r.add_argument("--day-list", default=None, help="comma-separated day numbers (instead of --first/--last)")
    r.add_argument("--plans", type=Path, default=None, help="pickle of the two plans: read if it exists, else written")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--jsonl", type=Path, required=True)
    r.add_argument("--catch-up-overload-pct", type=float, default=None)
    r.add_argument("--early-laxity-slots", type=float, default=None, help="slot_control.EARLY_LAXITY_SLOTS")
    r.add_argument("--policies", default=None, help="comma-separated (default: all four)")
    m = sub.add_parser("merge")
    m.add_argument("files", nargs="+", type=Path)
    m.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    run(args) if args.cmd == "run" else merge(args)


if __name__ == "__main__":
    main()
