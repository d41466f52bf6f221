"""Where ``replan``'s and ``robust``'s unmet energy above ``uncontrolled`` goes, EV by EV (issue 16).

    python benchmarks/trace_unmet.py --days 24,26,90 --plans /tmp/plans.pkl [--policies replan,robust]
        [--catch-up-overload-pct P] [--jsonl FILE]

Plays each day as :func:`vpp_sched.studies.evaluate.run_day` does and prints, per policy, every EV that
got less than under ``uncontrolled``: its transformer, first and last whole slot, request, what each run
delivered, and per slot of its stay the transformer's metered load against its limit, the base load
against its forecast and the sites' and batteries' draw there. ``--plans``: a pickle of the two plans
(``bench_evaluate_ranges.py``'s), read if it exists, else written.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def runs_of_day(sc, plans, day: int, seed: int, policies):
    """``{policy: (ctx, run)}`` of one day, as ``run_day`` plays it."""
    from vpp_sched.scenario.sampling import sample_day
    from vpp_sched.studies.actuals import make_context, sampled_actuals
    from vpp_sched.studies.evaluate import (REPLAN_MAX_NODES, SLOT_CONTROLLED, _day_ahead_problem, padded,
                                            periodic_decisions, EVALUATE_REPLAN_EVERY)
    from vpp_sched.studies.replay import simulate, uncontrolled_run

    opts = sc.config.solver
    actuals = sampled_actuals(sc, sample_day(sc, seed, day), pv_forecast_kw=plans.forecast.pv_kw)
    ropts = opts.model_copy(update={"mip_max_nodes": min(opts.mip_max_nodes or REPLAN_MAX_NODES, REPLAN_MAX_NODES)})
    ctx = make_context(sc, actuals, opts, "lean", forecast=plans.replan_forecast)
    out = {"uncontrolled": (ctx, uncontrolled_run(ctx))}
    for policy in policies:
        robust = policy == "robust"
        rctx = (make_context(plans.robust_scenario, actuals, opts, "lean", forecast=plans.robust_forecast)
                if robust else ctx)
        sol = padded(plans.robust if robust else plans.day_ahead, len(rctx.fleet.ev_ids))
        dec = {} if policy == "day-ahead" else periodic_decisions(rctx, EVALUATE_REPLAN_EVERY)
        out[policy] = (rctx, simulate(rctx, policy, (_day_ahead_problem(rctx), sol), dec, ropts,
                                      slot_control=policy in SLOT_CONTROLLED))
    return out


def short_evs(runs, policy):
    """Rows of the EVs ``policy`` left shorter than ``uncontrolled`` on the day [kWh]."""
    ctx, run = runs[policy]
    uctx, urun = runs["uncontrolled"]
    p, f = ctx.problem, ctx.fleet
    avail = ctx.actual_available
    got, ugot = run.delivered_kwh, urun.delivered_kwh
    rows = []
    for u in np.flatnonzero(f.in_actuals & (ugot - got > 1e-3)):
        n = int(f.transformer[u])
        slots = np.flatnonzero(avail[u])
        per_slot = []
        for t in slots:
            site = run.sites.load_kw(p.n_transformers)[n, t] if run.sites is not None else 0.0
            per_slot.append({"t": int(t), "ev_kw": round(float(run.ev_kw[u, t]), 2),
                             "unc_ev_kw": round(float(urun.ev_kw[u, t]), 2),
                             "load_pu": round(float(run.net_load_kw[n, t] / p.limit_kw[n]), 4),
                             "unc_load_pu": round(float(urun.net_load_kw[n, t] / p.limit_kw[n]), 4),
                             "base_kw": round(float(ctx.base_actual_kw[n, t]), 1),
                             "base_fc_kw": round(float(p.base_load_kw[n, t]), 1),
                             "site_kw": round(float(site), 1)})
        rows.append({"ev": str(f.ev_ids[u]), "transformer": str(p.transformer_ids[n]),
                     "status": str(f.status[u]), "first": int(slots[0]) if len(slots) else -1,
                     "last": int(slots[-1]) if len(slots) else -1,
                     "request_kwh": round(float(f.a_energy_kwh[u]), 3),
                     "forecast_kwh": round(float(f.f_energy_kwh[u]), 3),
                     "pmax_kw": float(f.a_max_power_kw[u]), "got_kwh": round(float(got[u]), 3),
                     "unc_kwh": round(float(ugot[u]), 3), "short_kwh": round(float(ugot[u] - got[u]), 3),
                     "slots": per_slot})
    return rows


def day_arguments(doc: str) -> argparse.ArgumentParser:
    """The options of the scripts that play sampled days under the policies (this one, unmet_floor.py)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--days", required=True, help="comma-separated day numbers")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plans", type=Path, default=None)
    ap.add_argument("--policies", default="replan,robust")
    ap.add_argument("--catch-up-overload-pct", type=float, default=None)
    ap.add_argument("--jsonl", type=Path, default=None)
    return ap


def played_days(args):
    """``(day, runs, policies, cpu_start)`` for each of ``--days``, played under ``--policies``."""
    from bench_evaluate_ranges import scenario_and_plans

    sc, plans, _ = scenario_and_plans(args.seed, args.catch_up_overload_pct, args.plans)
    policies = [x for x in args.policies.split(",") if x]
    for d in (int(x) for x in args.days.split(",")):
        cpu = time.process_time()
        yield d, runs_of_day(sc, plans, d, args.seed, policies), policies, cpu


def main() -> None:
    ap = day_arguments(__doc__)
    ap.add_argument("--quiet", action="store_true", help="totals only")
    args = ap.parse_args()
    for d, runs, policies, cpu in played_days(args):
        line = {"day": d, "cpu_seconds": None}
        for policy in policies:
            rows = short_evs(runs, policy)
            line[policy] = rows
            total = sum(r["short_kwh"] for r in rows)
            print(f"day {d} {policy}: {total:.3f} kWh short of uncontrolled, {len(rows)} EVs "
                  f"({', '.join(sorted({r['transformer'] for r in rows}))})")
            if not args.quiet:
                for r in rows:
                    print(f"   {r['ev']} {r['transformer']} {r['status']} slots {r['first']}-{r['last']} "
                          f"req {r['request_kwh']} (fc {r['forecast_kwh']}) pmax {r['pmax_kw']} got {r['got_kwh']} "
                          f"unc {r['unc_kwh']}")
                    for s in r["slots"]:
                        print(f"      t{s['t']:>2} ev {s['ev_kw']:>6} unc {s['unc_ev_kw']:>6} load {s['load_pu']:.3f} "
                              f"unc {s['unc_load_pu']:.3f} base {s['base_kw']} fc {s['base_fc_kw']} site {s['site_kw']}")
        line["cpu_seconds"] = time.process_time() - cpu
        if args.jsonl:
            with open(args.jsonl, "a") as fh:
                fh.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
