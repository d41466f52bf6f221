"""Per-block costs of the decomposed route, measured in CPU seconds (``time.process_time``, one
thread, in this process) on a sample of a generated day's blocks: what a cluster of N machines
spreads (benchmarks/README.md, *Province*).

    python benchmarks/block_costs.py /tmp/prov/g20k-400tr --blocks 12

For each sampled block: building its subproblem, a cold LP relaxation at the start prices (the
coordination's first round), a warm one from that basis at slightly moved prices (a later round),
the LP-guided rounding under its share (``solve_blocks``), and the pickled sizes of the tasks
and results a worker process receives and returns. The coordination's master LP and the
merging run on the client, once per round and once per solve.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np


def cpu(fn, *args):
    t = time.process_time()
    out = fn(*args)
    return out, time.process_time() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario")
    ap.add_argument("--blocks", type=int, default=12, help="blocks sampled, evenly over the day's")
    args = ap.parse_args(argv)

    from vpp_sched.problem.blocks import BlockSpec, find_blocks
    from vpp_sched.problem.build import build_problem
    from vpp_sched.scenario.load import load_scenario
    from vpp_sched.solve.coordination import BlockLP, coupling_rows, solve_block_lps
    from vpp_sched.solve.decompose import solve_blocks

    sc = load_scenario(args.scenario)
    p, prep_s = cpu(build_problem, sc)
    options = sc.config.solver.model_copy(update={"time_limit_s": 600.0})
    blocks, find_s = cpu(find_blocks, p)
    block_of = np.empty(p.n_transformers, dtype=np.int64)
    for j, idx in enumerate(blocks):
        block_of[idx] = j
    coupling = coupling_rows(p, block_of)
    start = 1e-4 * float(np.max(p.price_cny_per_kwh)) * p.dt_h
    adder0 = coupling.adder(np.full(coupling.n_rows, start), p.n_slots)
    adder1 = coupling.adder(np.full(coupling.n_rows, 20 * start), p.n_slots)
    rows = []
    for j in np.unique(np.linspace(0, len(blocks) - 1, args.blocks).astype(int)):
        idx = blocks[j]
        relaxed, build_s = cpu(BlockSpec(p, idx, relax=True).build)
        [cold], cold_s = cpu(solve_block_lps, [BlockLP(int(j), relaxed, adder0[idx], None, True)])
        [warm], warm_s = cpu(solve_block_lps, [BlockLP(int(j), relaxed, adder1[idx], cold.basis, True)])
        sub = BlockSpec(p, idx).build()
        [(_, sol, thread_s)], round_s = cpu(solve_blocks, [(int(j), sub, options, 600.0)])
        rows.append({"block": int(j), "evs": int(np.isin(p.ev_transformer, idx).sum()), "transformers": len(idx),
                     "build_s": build_s, "lp_cold_s": cold_s, "lp_warm_s": warm_s, "rounding_s": round_s,
                     "rounding_thread_s": thread_s, "status": sol.status.value,
                     "task_kb": len(pickle.dumps((int(j), sub, options, 600.0))) / 1024,
                     "lp_task_kb": len(pickle.dumps(BlockLP(int(j), relaxed, adder1[idx], cold.basis, True))) / 1024,
                     "result_kb": len(pickle.dumps(sol)) / 1024})
    keys = ("build_s", "lp_cold_s", "lp_warm_s", "rounding_s", "task_kb", "lp_task_kb", "result_kb")
    out = {"scenario": str(args.scenario), "n_evs": p.n_evs, "n_transformers": p.n_transformers,
           "n_blocks": len(blocks), "prepare_cpu_s": prep_s, "find_blocks_cpu_s": find_s,
           "mean": {k: float(np.mean([r[k] for r in rows])) for k in keys},
           "max": {k: float(np.max([r[k] for r in rows])) for k in keys}, "sampled": rows}
    print(json.dumps({k: v for k, v in out.items() if k != "sampled"}, indent=1))
    Path(__file__).with_name("results").joinpath(f"block-costs-{Path(args.scenario).name}.json").write_text(
        json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
