"""HiGHS options on a generated day's block LPs, each solved from scratch in one thread: the
coordination's round-one LP (no ramp price) and the rounding's relaxation (ramp and shares, after a
serial coordination), for blocks sampled evenly; CPU (``time.thread_time``), simplex iterations and
the largest relative difference of the optimal values from the options as the planner sets them
(benchmarks/README.md, "Round five").

    python benchmarks/highs_block_options.py /tmp/g10k 5 [main,dantzig,...]
"""
import sys
import time

from dataclasses import replace

import highspy
import numpy as np

from vpp_sched.scenario.load import load_scenario
from vpp_sched.problem.build import build_problem
from vpp_sched.problem.blocks import BlockSpec, built, find_blocks
from vpp_sched.model.lean import build_lean
from vpp_sched.solve.coordination import coordinate, coupling_rows
from vpp_sched.solve.parallel import SerialExecutor, batches
from vpp_sched.solve.highs import quiet_highs_banner

quiet_highs_banner()
sc = load_scenario(sys.argv[1])
p = build_problem(sc)
ex = SerialExecutor()
blocks = find_blocks(p)
block_of = np.empty(p.n_transformers, dtype=np.int64)
for j, idx in enumerate(blocks):
    block_of[idx] = j
coupling = coupling_rows(p, block_of)
touched = np.zeros(len(blocks), dtype=bool)
touched[block_of[coupling.member.indices]] = True
weight = np.bincount(block_of[p.ev_transformer], minlength=len(blocks)).astype(float)
coord = coordinate(p, blocks, coupling, np.flatnonzero(touched), ex, 0.005 / 4, time.perf_counter() + 999, 30,
                   lambda items: batches(items, weight, 3),
                   start_price=1e-4 * float(np.max(p.price_cny_per_kwh)) * p.dt_h)
nb = int(sys.argv[2])
pick = np.unique(np.linspace(0, len(blocks) - 1, nb).astype(int))
lps = {}
pr = replace(p, ramp_penalty_cny_per_kw=0.0)
for j in pick:
    idx = blocks[j]
    lps[("coord", j)] = build_lean(built(BlockSpec(pr, idx, relax=True)), relax_integrality=True)
    sub = built(BlockSpec(p, idx, cap_kw=coord.shares[:, idx], cap_penalty_cny_per_kwh=coupling.layer_penalty,
                          cap_sign=coupling.layer_sign)) if touched[j] else built(BlockSpec(p, idx))
    lps[("relax", j)] = build_lean(sub.relaxation(), relax_integrality=True)
base = {"presolve": "off", "simplex_dual_edge_weight_strategy": 1}
variants = {
  "main": {},
  "dantzig": {"simplex_dual_edge_weight_strategy": 0},
  "dse": {"simplex_dual_edge_weight_strategy": 2},
  "scale0": {"simplex_scale_strategy": 0},
  "scale1": {"simplex_scale_strategy": 1},
  "scale3": {"simplex_scale_strategy": 3},
  "scale4": {"simplex_scale_strategy": 4},
  "primal": {"simplex_strategy": 4},
  "presolve": {"presolve": "on"},
  "noperturb": {"dual_simplex_cost_perturbation_multiplier": 0.0},
  "perturb5": {"dual_simplex_cost_perturbation_multiplier": 5.0},
  "cleanup0": {"dual_simplex_cleanup_strategy": 0},
  "price0": {"simplex_price_strategy": 0},
  "price1": {"simplex_price_strategy": 1},
  "price2": {"simplex_price_strategy": 2},
}
only = sys.argv[3].split(",") if len(sys.argv) > 3 else list(variants)
res = {}
for name in only:
    opts = dict(base, **variants[name])
    for kind in ("coord", "relax"):
        cpu, iters, objs = 0.0, 0, []
        for j in pick:
            m = lps[(kind, j)]
            h = highspy.Highs(); h.setOptionValue("output_flag", False); h.setOptionValue("threads", 1)
            h.setOptionValue("random_seed", 0)
            for k, v in opts.items(): h.setOptionValue(k, v)
            h.passModel(m.n_cols, m.n_rows, m.nnz, int(highspy.MatrixFormat.kColwise), int(highspy.ObjSense.kMinimize), 0.0,
                        m.col_cost, m.col_lower, m.col_upper, m.row_lower, m.row_upper, m.a_start, m.a_index, m.a_value, m.integrality)
            highspy.Highs.resetThreadScheduler(True)
            c = time.thread_time(); h.run(); cpu += time.thread_time() - c
            iters += h.getInfo().simplex_iteration_count
            objs.append(h.getInfo().objective_function_value)
        res[(name, kind)] = (cpu, iters, objs)
        m0 = res.get(("main", kind))
        dev = max(abs(a - b) / max(abs(b), 1) for a, b in zip(objs, m0[2])) if m0 else 0
        print(f"{name:10s} {kind:5s} cpu {cpu:6.3f} iters {iters:7d} max rel obj dev {dev:.1e}", flush=True)
