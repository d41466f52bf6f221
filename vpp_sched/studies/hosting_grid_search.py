"""The hosting study's search against every limit of a grid: at how many EVs each limit fails first.

Each population judged (:mod:`~vpp_sched.studies.hosting_grid_judge`) tells every limit at once, so one
cache of judged counts serves the searches of all four. For a limit, ``pass`` is the largest count
judged below its first failure at which it holds, ``fail`` the smallest count judged at which it fails.

Search (bounded by the number of populations judged, ``max_evaluations``): 0 EVs, then today's count,
doubled until a limit fails or the end of the search range is reached (``cap_evs``, default 64x today's
EVs as the transformer-only study; the orderly search ends where the LP relaxation shows the transformer
alone cannot host, see :mod:`~vpp_sched.studies.hosting_grid`). Then, one population at a time: bisect
the bracket of a limit that may still be the first to fail (``pass`` below the lowest ``fail`` of all),
lowest ``pass`` first, until each is one EV wide or within ``tolerance`` of its lower end; then go on
doubling while a limit has not failed; then bisect the other limits' brackets. A limit that never
fails up to 64x is "not within the search range". Where the budget ends before a bracket is closed, the
limit's count is the smallest count seen failing and ``resolved`` says it is not yet within tolerance.
A population whose power flow does not converge fails the voltage and tells nothing of the lines
(``LimitJudgement.unknown``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from vpp_sched.studies.hosting_grid_judge import LIMITS, LimitJudgement
from vpp_sched.studies.hosting_search import MAX_MULTIPLE, TOLERANCE
from vpp_sched.studies.resample import ev_count

NOT_IN_RANGE = "not within the search range"


@dataclass
class LimitSearch:
    """Per limit: the smallest count judged failing (``None``: not within the search range), the
    largest judged holding below it, and whether that bracket is closed (one EV or ``tolerance``)."""

    mode: str
    fail_evs: dict
    pass_evs: dict
    resolved: dict
    first_limits: tuple            # the limit(s) failing at the lowest count (ties all named)
    first_fail_evs: int | None
    cap_evs: int
    evaluations: int
    judged: list = field(default_factory=list, repr=False)   # every LimitJudgement, by count

    @property
    def first_limit(self) -> str:
        return "+".join(self.first_limits) if self.first_limits else NOT_IN_RANGE

    def hosted_evs(self) -> int:
        """EVs hosted within every limit: one below the first failure (the cap when none fails)."""
        return self.cap_evs if self.first_fail_evs is None else max(self.first_fail_evs - 1, 0)


def _brackets(cache: dict[int, LimitJudgement]) -> tuple[dict, dict]:
    fail, ok = {}, {}
    for lim in LIMITS:
        failing = [c for c, j in cache.items() if lim in j.failed]
        fail[lim] = min(failing) if failing else None
        holding = [c for c, j in cache.items() if lim not in j.failed | j.unknown
                   and (fail[lim] is None or c < fail[lim])]
        ok[lim] = max(holding) if holding else None
    return fail, ok


def _closed(lo: int | None, hi: int | None, tolerance: float) -> bool:
    if hi is None:
        return True                          # never failed up to the cap: nothing to bisect
    if lo is None:
        return hi == 0
    return hi - lo <= 1 or (lo > 0 and hi - lo <= tolerance * lo)


def _next_count(fail: dict, ok: dict, tolerance: float, step: int | None) -> int | None:
    """The count to judge next (module docstring), or ``None`` when there is nothing left to judge;
    ``step`` is the next count of the doubling (``None`` once it reached the end of the range)."""
    open_ = [lim for lim in LIMITS if not _closed(ok[lim], fail[lim], tolerance)]
    lowest = min((f for f in fail.values() if f is not None), default=None)
    may_be_first = [lim for lim in open_ if lowest is None or (ok[lim] or 0) < lowest]
    if not may_be_first and step is not None and any(f is None for f in fail.values()):
        return step                          # the first failure is known: look further for the others
    if not open_:
        return step if step is not None and any(f is None for f in fail.values()) else None
    pick = min(may_be_first or open_, key=lambda lim: ((ok[lim] or 0), LIMITS.index(lim)))
    return ((ok[pick] or 0) + fail[pick]) // 2


def search_limits(judge: Callable[[int], LimitJudgement], n: int, mode: str, *, tolerance: float = TOLERANCE,
                  max_evaluations: int = 40, cap_evs: int | None = None) -> LimitSearch:
    """Search the counts of ``n`` EVs' nested populations, ``judge(c)`` for ``c`` EVs (module docstring);
    ``cap_evs``: the end of the search range (default 64x ``n``)."""
    cache: dict[int, LimitJudgement] = {}

    def at(c: int) -> LimitJudgement:
        if c not in cache:
            cache[c] = judge(c)
        return cache[c]

    cap = ev_count(MAX_MULTIPLE, n) if cap_evs is None else int(cap_evs)
    at(0)
    step = min(max(n, 1), cap) if cap > 0 else None
    while len(cache) < max_evaluations and step is not None:     # double until something fails
        if any(j.failed for j in cache.values()):
            break
        at(step)
        step = None if step >= cap else min(2 * step, cap)
    while len(cache) < max_evaluations:
        fail, ok = _brackets(cache)
        c = _next_count(fail, ok, tolerance, step)
        if c is None:
            break
        doubling = c == step
        if doubling:
            step = None if step >= cap else min(2 * step, cap)
        if c not in cache:
            at(c)
        elif not doubling:   # a bracket's midpoint lies strictly between two counts judged: never cached
            break
    fail, ok = _brackets(cache)
    lowest = min((f for f in fail.values() if f is not None), default=None)
    first = tuple(lim for lim in LIMITS if lowest is not None and fail[lim] == lowest)
    reached = max(cache) >= cap           # a limit that never failed held up to the end of the range
    resolved = {lim: _closed(ok[lim], fail[lim], tolerance) and (fail[lim] is not None or reached)
                for lim in LIMITS}
    return LimitSearch(mode, fail, ok, resolved, first, lowest, cap, len(cache), [cache[c] for c in sorted(cache)])
