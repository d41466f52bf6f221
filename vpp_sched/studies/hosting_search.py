"""The hosting study's search: bracket and bisect the multiple of a transformer's EVs, and the
texts saying what binds at the threshold and what fails just above it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vpp_sched.studies.hosting_judge import OVERLOAD_TOL_KWH, UNMET_TOL_KWH, Evaluation
from vpp_sched.studies.resample import ev_count

TOLERANCE = 0.01            # relative width of the final bracket [-]
START_MULTIPLE = 8.0        # first upper end of the bracket [-]
MAX_MULTIPLE = 64.0         # the search stops here [-]
AT_LIMIT_TOL_KW = 1e-2      # a slot within this of the limit is "at the limit" [kW]


@dataclass
class Threshold:
    """A policy's hosting threshold on one transformer."""

    policy: str
    multiple: float                 # every multiple up to this hosts
    n_evs: int                      # EVs hosted at ``multiple``
    fail_multiple: float | None     # smallest multiple tried that does not host (None: capped)
    fail_evs: int | None
    capped: bool                    # still hosts at MAX_MULTIPLE
    evaluations: int                # populations judged (cache hits not counted)
    binding: str                    # what is at its limit at the threshold
    fails_with: str                 # what goes wrong just above it
    kva_value: float = float("nan")  # CNY per kVA per day at the threshold (orderly)
    planner: str = ""               # does the planner's own solve host the threshold (orderly)
    at: Evaluation | None = field(default=None, repr=False)
    above: Evaluation | None = field(default=None, repr=False)
    tried: list[dict] = field(default_factory=list, repr=False)   # every population judged, see evaluation_row


def find_threshold(evaluate_count, n: int, policy: str, *, tolerance: float = TOLERANCE,
                   start: float = START_MULTIPLE, cap: float = MAX_MULTIPLE, hint: float | None = None,
                   known_fail: Evaluation | None = None) -> Threshold:
    """Bracket and bisect the multiple of ``n`` EVs; ``evaluate_count(c) -> Evaluation`` for ``c`` EVs.

    Without ``known_fail``, the bracket is ``0..start``, doubling the upper end while it hosts, up to
    ``cap``. ``known_fail`` is a population already shown not to host (e.g. by the LP relaxation,
    which hosts whatever a plan hosts): it is the upper end, and the population one EV below it is
    tried first. ``hint`` is a multiple likely to host (e.g. the uncontrolled threshold), tried
    first to raise the lower end. Bisection stops when the bracket is one EV wide or within
    ``tolerance`` of its lower end.
    """
    cache: dict[int, Evaluation] = {}
    if known_fail is not None:
        cache[known_fail.n_evs] = known_fail

    def at(m: float) -> Evaluation:
        c = ev_count(m, n)
        if c not in cache:
            cache[c] = evaluate_count(c)
        return cache[c]

    def done() -> Threshold:
        th = _threshold(policy, lo, hi, n, cache, evaluated=len(cache) - (known_fail is not None))
        th.tried = [evaluation_row(ev, n) for _, ev in sorted(cache.items()) if ev is not known_fail]
        return th

    lo = 0.0
    zero = at(0.0)
    if not zero.hosts:
        hi = 0.0
        return done()
    if hint is not None and 0 < hint < (known_fail.n_evs / n if known_fail else start) and at(hint).hosts:
        lo = hint
    if known_fail is not None:
        hi = known_fail.n_evs / n
        below = (known_fail.n_evs - 1) / n      # one EV below the known failure: hosts when the planner
        if ev_count(below, n) > ev_count(lo, n):  # does what the LP relaxation does
            if at(below).hosts:
                lo = below
            else:
                hi = below
    else:
        hi = start
        while at(hi).hosts:
            lo = hi
            if hi >= cap:
                return done()
            hi = min(hi * 2, cap)
    while ev_count(hi, n) - ev_count(lo, n) > 1 and not (lo > 0 and hi - lo <= tolerance * lo):
        mid = (lo + hi) / 2
        if at(mid).hosts:
            lo = mid
        else:
            hi = mid
    return done()


EVALUATION_COLUMNS = ["transformer_id", "policy", "n_evs", "multiple", "hosts", "decided_by", "max_loading_pu",
                      "limit_pu", "peak_kw", "overload_kwh", "unmet_by_grid_kwh"]


def evaluation_row(ev: Evaluation, n: int) -> dict:
    """One population the search judged (a row of ``bisection.csv``): its multiple of today's ``n`` EVs,
    whether it hosts, the highest loading [pu of rated kVA x power factor], the limit [pu], the peak
    net load [kW], overload [kWh] and unmet energy by the grid [kWh] (NaN where no plan was found)."""
    row = {"n_evs": ev.n_evs, "multiple": ev.n_evs / n if n else float("nan"), "hosts": bool(ev.hosts),
           "decided_by": ev.decided_by, "max_loading_pu": float("nan"), "limit_pu": float("nan"),
           "peak_kw": float("nan"), "overload_kwh": ev.overload_kwh, "unmet_by_grid_kwh": ev.unmet_by_grid_kwh}
    o = ev.outcome
    if o is not None and o.problem.n_slots and o.problem.n_transformers:
        p, net = o.problem, o.net_load_kw[0]
        row.update(max_loading_pu=float(np.abs(net).max() / p.rating_kw[0]),
                   limit_pu=float(p.limit_kw[0] / p.rating_kw[0]), peak_kw=float(net.max()))
    return row


def _threshold(policy: str, lo: float, hi: float, n: int, cache: dict[int, Evaluation], evaluated: int) -> Threshold:
    """The result of a search ending with ``lo`` hosting and ``hi`` not (``hi == lo`` when capped at lo)."""
    c_lo, c_hi = ev_count(lo, n), ev_count(hi, n)
    at_lo = cache[c_lo]
    if not at_lo.hosts:                       # even no EVs: the base load alone overloads
        return Threshold(policy, 0.0, 0, 0.0, 0, False, evaluated,
                         "base load alone exceeds the limit" + _over_text(at_lo), fails_with_text(at_lo),
                         at=None, above=at_lo)
    if c_hi <= c_lo:                          # still hosts at the cap
        return Threshold(policy, lo, c_lo, None, None, True, evaluated, binding_text(at_lo),
                         f"still hosts at {lo:g}x (the search cap)", at=at_lo)
    multiple = largest_multiple(c_lo, n, fallback=lo)
    above = cache[c_hi]
    return Threshold(policy, multiple, c_lo, hi, c_hi, False, evaluated, binding_text(at_lo), fails_with_text(above),
                     at=at_lo, above=above)


def largest_multiple(count: int, n: int, fallback: float = float("nan")) -> float:
    """The largest multiple of ``n`` EVs (4 decimals, rounded down) giving ``count`` EVs: every
    multiple up to it gives at most ``count``; ``fallback`` where 4 decimals are too coarse."""
    multiple = math.floor((count + 0.5) / n * 1e4) / 1e4
    return multiple if ev_count(multiple, n) == count else fallback


def orderly_bound(lp: Threshold, orderly: Threshold, n: int) -> dict:
    """hosting.csv's upper bound of orderly: ``orderly_upper_evs`` = the first population the LP
    relaxation shows not to host, minus one (no plan hosts more), with its multiple; ``None``
    with ``orderly_upper_capped`` when the LP still hosts at the cap.

    Never below ``orderly.n_evs``: a plan hosting a population is an LP solution for it (and the
    orderly search starts below the LP's failure, so this max only guards round-off).
    """
    if lp.fail_evs is None:
        return {"orderly_upper_multiple": None, "orderly_upper_evs": None, "orderly_upper_capped": True}
    upper = max(lp.fail_evs - 1, orderly.n_evs, 0)
    return {"orderly_upper_multiple": largest_multiple(upper, n, fallback=upper / n) if n else float("nan"),
            "orderly_upper_evs": upper, "orderly_upper_capped": False}


def capped_flags(table: pd.DataFrame, policy: str) -> np.ndarray:
    """``<policy>_capped`` of each row of a hosting table as bools: a row without a result for the
    policy (NA after the reindex, or no column) is not capped. Read the flag only through this or
    :func:`is_capped`: ``bool(nan)`` is True."""
    col = f"{policy}_capped"
    if col not in table:
        return np.zeros(len(table), dtype=bool)
    return table[col].astype("boolean").fillna(False).to_numpy(bool)


def is_capped(value) -> bool:
    """One ``<policy>_capped`` cell as a bool: NA, NaN or None (no result) is not capped."""
    return bool(value) if value is not None and not pd.isna(value) else False


def _slot_ranges(slots: pd.DatetimeIndex, mask: np.ndarray, dt_h: float, limit: int = 4) -> str:
    idx = np.flatnonzero(mask)
    if not len(idx):
        return ""
    runs, start = [], idx[0]
    for a, b in zip(idx[:-1], idx[1:]):
        if b != a + 1:
            runs.append((start, a))
            start = b
    runs.append((start, idx[-1]))
    step = pd.Timedelta(hours=dt_h)
    text = [f"{slots[a]:%H:%M}-{slots[b] + step:%H:%M}" for a, b in runs[:limit]]
    more = f" and {len(runs) - limit} more" if len(runs) > limit else ""
    return ", ".join(text) + more + f" ({len(idx)} slot{'s' if len(idx) != 1 else ''})"


def binding_text(ev: Evaluation) -> str:
    """What binds in a hosted population (hosting.csv's ``*_binding``): the slots at the limit, else the peak."""
    o = ev.outcome
    if o is None:
        return ev.note
    p = o.problem
    net, limit = o.net_load_kw[0], p.limit_kw[0]
    at_limit = net >= limit - AT_LIMIT_TOL_KW
    if at_limit.any():
        return f"net load at the limit {limit:.0f} kW in " + _slot_ranges(p.slots, at_limit, p.dt_h)
    t = int(np.argmax(net))
    return f"peak {net[t]:.0f} kW = {net[t] / limit:.0%} of the limit at {p.slots[t]:%H:%M}"


def _over_text(ev: Evaluation | None) -> str:
    if ev is None or ev.outcome is None:
        return ""
    o = ev.outcome
    over = o.overload_kw[0] > 0
    return f" in {_slot_ranges(o.problem.slots, over, o.problem.dt_h)}" if over.any() else ""


def fails_with_text(ev: Evaluation) -> str:
    """What goes wrong in a population not hosted (hosting.csv's ``*_fails_with``): overload, EVs short."""
    o = ev.outcome
    if o is None:
        return f"at {ev.n_evs} EVs: {ev.note}"
    p = o.problem
    parts = []
    if ev.overload_kwh > OVERLOAD_TOL_KWH:
        parts.append(f"overload {ev.overload_kwh:.1f} kWh{_over_text(ev)}")
    short = o.unmet_by_grid_kwh
    if short.sum() > UNMET_TOL_KWH:
        ids = [str(p.ev_ids[e]) for e in np.argsort(-short, kind="stable") if short[e] > 0]
        shown = ", ".join(ids[:5]) + (f", ... ({len(ids)})" if len(ids) > 5 else "")
        parts.append(f"{len(ids)} EV(s) short of {short.sum():.2f} kWh ({shown})")
    who = {"lp": " (LP relaxation)", "plan": " (planner)",
           "milp": " (proven by the feasibility MILP's bound; the least-laxity schedule too)",
           "milp-undecided": " (best plan of the feasibility MILP in the time limit, not proven)"}.get(ev.decided_by, "")
    return f"at {ev.n_evs} EVs{who}: " + "; ".join(parts) if parts else f"at {ev.n_evs} EVs"

