"""One time budget for a planning run: the :class:`Deadline` handed from the planner to every phase.

The user's ``solver.time_limit_s`` (or ``--time-limit``) becomes one deadline when the run starts;
every phase (the ``plan``-baseline solve, the relaxation, the fixed solves, the repair and fallback
MILPs, the coordination and the blocks of the decomposed solve) asks it how much is left and may
take a part of it (:meth:`Deadline.sub`), never more than is left. The solver options stay as
the user gave them (so ``kpis.solver.options.time_limit`` records the user's limit); the only
place a time becomes a HiGHS option is :meth:`Deadline.highs_time_limit`, at each run.

Results are bounded by work (simplex to optimality, ``mip_max_nodes``, coordination rounds), so
they repeat on a busy or an idle machine, except where the clock cut something: a HiGHS run stopped
by its time limit, or a phase skipped or shortened because too little time was left. Every such cut
is noted on the budget (:meth:`Deadline.cut`, shared by a budget and all its parts), and a solve
whose budget was cut ends with status ``time_limit`` (and the plan's warning), whatever its gap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

#: A HiGHS run always gets at least this long [s], so a nearly spent budget still lets a run
#: return the solution it is handed (a warm start) instead of failing at once.
MIN_RUN_S = 0.01


@dataclass(frozen=True)
class Deadline:
    """A wall-clock budget of ``limit_s`` seconds from ``start`` (``time.perf_counter`` times).

    ``end`` may lie before ``start + limit_s`` for a part of a budget (:meth:`sub`); ``limit_s``
    stays the whole run's limit, the one the user set.
    """

    limit_s: float
    start: float = field(default_factory=lambda: time.perf_counter())   # looked up at each call
    end: float | None = None
    #: What the clock cut (one entry per cut, e.g. ``"highs"``), shared by a budget and its parts.
    cuts: list[str] = field(default_factory=list, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.end is None:
            object.__setattr__(self, "end", self.start + self.limit_s)

    @classmethod
    def of(cls, limit_s: float, deadline: Deadline | None = None) -> Deadline:
        """``deadline`` when given (a caller's budget, handed down), else a new one of ``limit_s``."""
        return deadline if deadline is not None else cls(float(limit_s))

    def elapsed_s(self) -> float:
        """Seconds since the budget started."""
        return time.perf_counter() - self.start

    def remaining_s(self) -> float:
        """Seconds left before the deadline (0 once it has passed)."""
        return max(self.end - time.perf_counter(), 0.0)

    def expired(self) -> bool:
        return time.perf_counter() >= self.end

    def cut(self, what: str) -> None:
        """Note that the clock cut ``what`` (a run stopped, a phase skipped): the result may differ
        on another run, so the solve must end ``time_limit``."""
        self.cuts.append(what)

    @property
    def was_cut(self) -> bool:
        """The clock cut something of this budget or of any of its parts."""
        return bool(self.cuts)

    def sub(self, seconds: float | None = None, *, fraction: float | None = None,
            reserve_s: float = 0.0) -> Deadline:
        """A part of what is left, starting now: at most ``seconds``, or ``fraction`` of the time
        left, and always leaving ``reserve_s`` for what comes after (never past this deadline)."""
        now = time.perf_counter()
        left = max(self.end - now, 0.0)
        take = left - min(max(reserve_s, 0.0), left)
        if seconds is not None:
            take = min(take, max(seconds, 0.0))
        if fraction is not None:
            take = min(take, fraction * left)
        return Deadline(self.limit_s, start=now, end=now + take, cuts=self.cuts)

    def highs_time_limit(self, run_time_s: float = 0.0) -> float:
        """HiGHS's ``time_limit`` for a run that should end at this deadline: HiGHS counts its time
        over an instance's life (``getRunTime``), so the limit is what has run plus what is left."""
        return float(run_time_s + max(self.remaining_s(), MIN_RUN_S))
