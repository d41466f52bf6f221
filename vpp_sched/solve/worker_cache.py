"""Block LPs kept on the worker processes across coordination rounds.

In-process executors keep each block's LP (its :class:`~vpp_sched.model.lean.LeanModel`) and its
HiGHS basis object between the coordination rounds (:mod:`vpp_sched.solve.coordination`). On worker
processes each round used to carry the block's subproblem (~80 KB) and its basis as int8 arrays
(~50 KB) both ways, and the worker rebuilt the LP and converted the basis back: on a 500-EV block of
the 100k day a warm round took 0.046 s that way and 0.018 s from the kept LP and basis.

:class:`BlockLPCache` ships each block once: the first round's task carries the subproblem; the
worker keeps the LP and the basis it ends with in a dict of its process keyed by ``(token, block)``
(``token`` is one coordination's); later rounds send only the block and its price adder, always
to the same worker (``executor.map_pinned``), and get back the LP value and net loads. The worker
warm-starts from the very basis the in-process route would use, so the plan does not depend on the
executor. :meth:`BlockLPCache.release` drops the coordination's entries from every worker.

A worker that lost its entry (restarted) answers ``None`` for that block; the client then sends the
full task again, which solves from scratch (the only case in which the basis differs from the
in-process route's).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

#: The worker process's kept LPs: (token, block) -> (LeanModel, HighsBasis, its shape).
_KEPT: dict = {}
_KEPT_LOCK = threading.Lock()
_TOKENS = itertools.count()


@dataclass(frozen=True)
class _Shape:
    """What ``solve_block_lps`` reads of a block's problem once its LP is built."""

    n_transformers: int
    n_slots: int


@dataclass
class _Keyed:
    """A block LP task for a worker that keeps the LP: ``task.problem`` is ``None`` after round one."""

    token: str
    task: object                     # coordination.BlockLP


def solve_kept_block_lps(solve_block_lps: Callable, items: list[_Keyed]) -> list:
    """Solve a batch of block LPs with ``solve_block_lps`` (coordination's), each from the LP and basis
    this process kept for it (if any); ``None`` for a block whose task carries no problem and whose
    LP this process does not have."""
    out = []
    for item in items:
        task = item.task
        key = (item.token, task.block)
        with _KEPT_LOCK:
            kept = _KEPT.get(key)
        if kept is None and task.problem is None:
            out.append(None)
            continue
        if kept is not None:
            task = replace(task, problem=kept[2], model=kept[0], basis=kept[1], portable=False)
        else:
            task = replace(task, basis=None, model=None, portable=False)
        (result,) = solve_block_lps([task])
        with _KEPT_LOCK:
            _KEPT[key] = (result.model, result.basis, _Shape(task.problem.n_transformers, task.problem.n_slots))
        out.append(replace(result, model=None, basis=None))
    return out


def drop_kept(token: str) -> int:
    """Forget the LPs of coordination ``token`` in this process; how many there were."""
    with _KEPT_LOCK:
        keys = [k for k in _KEPT if k[0] == token]
        for k in keys:
            del _KEPT[k]
    return len(keys)


def drop_kept_of(prefix: str) -> int:
    """Forget the LPs of every coordination whose token starts with ``prefix`` (a client process's:
    :func:`token_prefix`) in this process; how many there were."""
    with _KEPT_LOCK:
        keys = [k for k in _KEPT if k[0].startswith(prefix)]
        for k in keys:
            del _KEPT[k]
    return len(keys)


def token_prefix() -> str:
    """The start of every coordination token this process makes."""
    return f"{os.getpid()}-"


def kept_count(token: str | None = None) -> int:
    """LPs this process keeps (of ``token``, or of all coordinations)."""
    with _KEPT_LOCK:
        return sum(1 for k in _KEPT if token is None or k[0] == token)


class BlockLPCache:
    """The client's side: which blocks' LPs the workers hold, and the pinned map of the rounds."""

    def __init__(self, executor, solve_block_lps: Callable):
        self.executor = executor
        self.solve = partial(solve_kept_block_lps, solve_block_lps)
        self.token = f"{token_prefix()}{id(self)}-{next(_TOKENS)}"
        self.sent: set[int] = set()

    @staticmethod
    def for_executor(executor, solve_block_lps: Callable) -> BlockLPCache | None:
        """A cache when ``executor`` runs tasks in other processes and can pin them, else ``None``."""
        if getattr(executor, "in_process", False) or not hasattr(executor, "map_pinned"):
            return None
        return BlockLPCache(executor, solve_block_lps)

    def map(self, chunks: list[list]) -> list[list]:
        """Results of the block LP tasks ``chunks`` (lists of ``BlockLP``), chunk by chunk; a chunk
        goes to the worker its first block went to."""
        items = [[_Keyed(self.token, t if t.block not in self.sent else replace(t, problem=None, basis=None))
                  for t in chunk] for chunk in chunks]
        pins = [chunk[0].block if chunk else -1 for chunk in chunks]
        results = self.executor.map_pinned(self.solve, items, pins)
        self.sent.update(t.block for chunk in chunks for t in chunk)
        lost = [t for chunk, res in zip(chunks, results) for t, r in zip(chunk, res) if r is None]
        if lost:                       # a worker lost its LPs: these blocks once more in full, cold
            redo = self.executor.map_pinned(self.solve,
                                            [[_Keyed(self.token, replace(t, basis=None)) for t in lost]],
                                            [lost[0].block])[0]
            again = {r.block: r for r in redo}
            results = [[again[t.block] if r is None else r for t, r in zip(chunk, res)]
                       for chunk, res in zip(chunks, results)]
        return results

    def release(self) -> None:
        """Drop this coordination's LPs on every worker."""
        if self.sent:
            self.executor.run_everywhere(drop_kept, self.token)
        self.sent = set()


def map_block_lps(executor, solve_block_lps: Callable, chunks: list[list], cache: BlockLPCache | None) -> list:
    """The block LP results of ``chunks`` in order, flattened: through ``cache`` when there is one,
    else ``executor.map(solve_block_lps, ...)``."""
    done = cache.map(chunks) if cache is not None else executor.map(solve_block_lps, chunks)
    return [r for chunk in done for r in chunk]
