"""The least unmet energy any controller that keeps the limit could reach, per day and transformer (issue 16).

    python benchmarks/unmet_floor.py --days 31,89 --plans /tmp/plans.pkl [--policies replan,robust]

For each day (played as :func:`trace_unmet.runs_of_day` plays it) and each transformer where a policy left
an EV shorter than ``uncontrolled``, a clairvoyant linear programme that knows the whole day in advance
(every EV's actual arrival, departure and request, the actual base load) charges the transformer's EVs to
deliver as much energy as possible without passing ``limit_kw`` in any slot (``--limit-pu``: that share of it):

    max  sum_(e,t) p[e, t] dt
    s.t. 0 <= p[e, t] <= pmax_e on the EV's actual whole slots, sum_t p[e, t] dt <= request_e,
         sum_e p[e, t] <= max(limit_kw - other[t], 0)

``other`` is everything at the transformer but its EVs as the policy's run metered it (base load, the
site's battery and fast-charging draw as the controller left them). The floor's shortfall against
``uncontrolled`` (which charges each EV at full power from plug-in, the most any policy can give it) is
loss no policy that keeps the limit avoids; the policy's shortfall above the floor is loss a better
controller could have avoided knowing the day. ``pu_to_match_uncontrolled``: the least limit (pu of
``limit_kw``, bisection on the same programme) under which the floor gives every EV what ``uncontrolled``
gives. HiGHS through ``scipy.optimize.linprog``.
"""

from __future__ import annotations

import json
import time

import numpy as np


def limit_floor_kwh(avail: np.ndarray, request_kwh: np.ndarray, pmax_kw: np.ndarray, headroom_kw: np.ndarray,
                    dt_h: float) -> np.ndarray:
    """[E] the energy each EV of one transformer gets when the day's total is the most the limit allows [kWh].

    ``avail`` [E, T] whole slots plugged in, ``headroom_kw`` [T] limit less everything but these EVs."""
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    e_idx, t_idx = np.nonzero(avail)
    if len(e_idx) == 0:
        return np.zeros(len(request_kwh))
    nv, E, T = len(e_idx), avail.shape[0], avail.shape[1]
    rows = np.r_[e_idx, E + t_idx]
    a = coo_matrix((np.full(2 * nv, dt_h), (rows, np.r_[np.arange(nv), np.arange(nv)])), shape=(E + T, nv))
    b = np.r_[request_kwh, np.maximum(headroom_kw, 0.0) * dt_h]
    res = linprog(-np.ones(nv), A_ub=a.tocsr(), b_ub=b, bounds=np.c_[np.zeros(nv), pmax_kw[e_idx]], method="highs")
    if res.status != 0:
        raise RuntimeError(f"floor LP: {res.message}")
    return np.bincount(e_idx, res.x * dt_h, E)


def floor_rows(runs, policy: str, limit_pu: float = 1.0) -> list[dict]:
    """Per transformer where ``policy`` left an EV short of ``uncontrolled``: the policy's and the floor's
    shortfall against ``uncontrolled`` [kWh], the floor's limit ``limit_pu`` x ``limit_kw``."""
    ctx, run = runs[policy]
    _, urun = runs["uncontrolled"]
    p, f, dt = ctx.problem, ctx.fleet, ctx.problem.dt_h
    got, ugot = run.delivered_kwh, urun.delivered_kwh
    avail = ctx.actual_available
    ev_load = np.zeros_like(run.net_load_kw)
    np.add.at(ev_load, f.transformer, run.ev_kw)
    out = []
    for n in sorted({int(f.transformer[u]) for u in np.flatnonzero(f.in_actuals & (ugot - got > 1e-3))}):
        on = np.flatnonzero((f.transformer == n) & f.in_actuals)
        request = np.minimum(f.a_energy_kwh[on], ugot[on] + 1e-9)   # nobody gets more than uncontrolled gives
        headroom = p.limit_kw[n] * limit_pu - (run.net_load_kw[n] - ev_load[n])
        best = limit_floor_kwh(avail[on], request, f.a_max_power_kw[on], headroom, dt)
        floor_short = float(np.maximum(ugot[on] - best, 0).sum())
        pu = (_pu_to_match(avail[on], request, f.a_max_power_kw[on], p.limit_kw[n], run.net_load_kw[n] - ev_load[n],
                           dt) if floor_short > 1e-3 else limit_pu)
        out.append({"transformer": str(p.transformer_ids[n]), "pu_to_match_uncontrolled": round(pu, 4),
                    "policy_short_kwh": round(float(np.maximum(ugot[on] - got[on], 0).sum()), 3),
                    "floor_short_kwh": round(floor_short, 3),
                    "slots_headroom_below_zero": int((headroom < 0).sum())})
    return out


def _pu_to_match(avail, request_kwh, pmax_kw, limit_kw, other_kw, dt_h, steps: int = 14) -> float:
    """The least limit [pu of ``limit_kw``] under which the floor gives every EV ``request_kwh`` (bisection on
    the LP, ``steps`` halvings; 1 Wh short in all counts as served) [pu]."""
    def ok(pu):
        got = limit_floor_kwh(avail, request_kwh, pmax_kw, limit_kw * pu - other_kw, dt_h)
        return float(np.maximum(request_kwh - got, 0).sum()) <= 1e-3
    lo, hi = 1.0, 2.0
    while not ok(hi):
        hi *= 1.5
    for _ in range(steps):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def main() -> None:
    from trace_unmet import day_arguments, played_days

    ap = day_arguments(__doc__)
    ap.add_argument("--limit-pu", type=float, default=1.0, help="the floor's limit in pu of limit_kw (1.0099: "
                    "within evaluate's 1 %% overload tolerance)")
    args = ap.parse_args()
    for d, runs, policies, cpu in played_days(args):
        line = {"day": d}
        for policy in policies:
            line[policy] = rows = floor_rows(runs, policy, args.limit_pu)
            print(f"day {d} {policy}: " + ", ".join(f"{r['transformer']} short {r['policy_short_kwh']} "
                                                    f"(floor {r['floor_short_kwh']}, {r['pu_to_match_uncontrolled']} pu to match)"
                                                    for r in rows))
        line["cpu_seconds"] = time.process_time() - cpu
        if args.jsonl:
            with open(args.jsonl, "a") as fh:
                fh.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
