"""Executors for the decomposed solve: in-process, threads, a local Dask cluster or a remote one.

Each executor has ``workers`` (how many tasks run at once) and ``map(fn, items) -> list``
(results in the order of ``items``). ``fn`` must be a module-level function (Dask pickles it
by reference, so ``vpp_sched`` must be importable on every worker) and deterministic; then
the results do not depend on the executor.

:func:`get_executor` is a context manager; whatever it starts (threads, a ``LocalCluster``,
a ``Client``) is closed when the block ends, also on errors.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from vpp_sched.errors import ArgumentError

#: Scheduler names of :func:`get_executor`; anything else is taken as a Dask scheduler address.
SCHEDULERS = ("serial", "threads", "local")

#: How long a Dask executor waits for a first worker to join before it stops with an error [s].
WORKER_WAIT_S = 60.0

#: Dask settings of the ``LocalCluster`` (its worker processes get them too): the workers' statistical
#: profiler (every 10 ms) and the 0.1-0.5 s system and memory monitors off or slowed. Measured on this
#: 2-core machine, a LocalCluster of 2 idle workers used 2.4 s of CPU per 30 s (client 0.87, workers
#: 0.8 each) with the defaults and 0.35 s with these: ~40 s of CPU over a 10-minute province plan.
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.system-monitor.disk": False,
    "distributed.worker.memory.monitor-interval": "5s",
    "distributed.admin.tick.interval": "1s",
}


class SerialExecutor:
    """Runs every task in this process, one after another."""

    workers = 1
    name = "serial"
    in_process = True                # tasks and results are not pickled

    def map(self, fn: Callable, items: Sequence) -> list:
        return [fn(item) for item in items]


class ThreadExecutor:
    """A thread pool in this process (HiGHS releases the GIL while it solves)."""

    name = "threads"
    in_process = True

    def __init__(self, pool: ThreadPoolExecutor, workers: int):
        self.pool, self.workers = pool, workers

    def map(self, fn: Callable, items: Sequence) -> list:
        # Each task runs in a copy of the caller's context (e.g. its open HiGHS clocks, vpp_sched.solve.timing).
        contexts = [contextvars.copy_context() for _ in items]
        return list(self.pool.map(lambda ctx, item: ctx.run(fn, item), contexts, items))


class DaskExecutor:
    """A ``distributed.Client``: tasks run on its workers; items are scattered first.

    The HiGHS runs of a task are timed on its worker and recorded on the caller's open clocks
    (:mod:`vpp_sched.solve.timing`) when the results come back, placed by the wall clock."""

    name = "dask"
    in_process = False

    def __init__(self, client, wait_s: float = WORKER_WAIT_S):
        self.client = client
        self.wait_s = wait_s
        self.workers = max(sum(self._alive_workers().values()), 1)
        self._pinned: dict = {}      # pin -> worker address (map_pinned)

    def map(self, fn: Callable, items: Sequence) -> list:
        if not items:
            return []
        data = self.client.scatter(list(items))
        futures = self.client.map(_timed_task, [fn] * len(data), data, pure=False)
        return self._gather(futures, data)

    def map_pinned(self, fn: Callable, items: Sequence, pins: Sequence) -> list:
        """Like :meth:`map`, but every item of the same ``pin`` runs on the same worker (the first
        pin seen goes to the first worker, the next to the next, round robin), so a worker can keep
        state between calls (:mod:`vpp_sched.solve.worker_cache`)."""
        if not items:
            return []
        alive = sorted(self._alive_workers())
        futures, data = [], []
        for item, pin in zip(items, pins):
            if self._pinned.get(pin) not in alive:
                self._pinned[pin] = alive[len(self._pinned) % len(alive)]
            where = [self._pinned[pin]]
            (scattered,) = self.client.scatter([item], workers=where, hash=False)
            data.append(scattered)
            futures.append(self.client.submit(_timed_task, fn, scattered, workers=where,
                                              allow_other_workers=False, pure=False))
        return self._gather(futures, data)

    def run_everywhere(self, fn: Callable, *args) -> dict:
        """``fn(*args)`` once on every worker: worker address -> its result."""
        return self.client.run(fn, *args)

    def _alive_workers(self) -> dict[str, int]:
        """Worker address -> threads, asked of the scheduler now. The client's ``scheduler_info()`` is
        a copy refreshed every few seconds: just after a ``LocalCluster`` starts it can list no worker
        although they run (a pinned map then had none to pin to). With none alive, wait up to
        ``wait_s`` for one, then stop with a clear error rather than hand out no work."""
        alive = self.client.nthreads()
        if not alive:
            try:
                self.client.wait_for_workers(1, timeout=self.wait_s)
            except TimeoutError:
                raise ArgumentError(f"no Dask worker joined the scheduler {self.client.scheduler.address} "
                                 f"within {self.wait_s:g} s; start workers (dask worker ADDRESS) or "
                                 "use --scheduler local") from None
            alive = self.client.nthreads()
        return dict(alive)

    def _gather(self, futures: list, data: list) -> list:
        """The futures' results in their order, each fetched as soon as its task ends (``gather``
        fetches none before all have ended: the transfers then overlap the tasks still running)."""
        from distributed import as_completed

        done = {}
        try:
            for future, result in as_completed(futures, with_results=True):
                done[future.key] = _recorded(*result)
        finally:
            self.client.cancel(futures + data)
        return [done[f.key] for f in futures]


def _timed_task(fn: Callable, item):
    """``fn(item)`` on a worker, with its HiGHS runs' intervals and this process's clocks now."""
    from vpp_sched.solve.timing import highs_clock

    with highs_clock() as clock:
        result = fn(item)
    return result, clock.intervals, time.perf_counter(), time.time()


def _recorded(result, intervals: list, worker_perf: float, worker_wall: float):
    """The result of a :func:`_timed_task`, its HiGHS runs recorded on this process's open clocks
    (moved from the worker's ``perf_counter`` to ours through the wall clock)."""
    from vpp_sched.solve.timing import record

    shift = (worker_wall - worker_perf) - (time.time() - time.perf_counter())
    for start, end in intervals:
        record(start + shift, end + shift)
    return result


def batches(items: list[int], weight, n_batches: int) -> list[list[int]]:
    """Consecutive runs of ``items`` of about equal total ``weight[item]`` (at most ``n_batches``):
    small blocks travel together in one task, which cuts the per-task overhead."""
    if not items:
        return []
    import numpy as np

    n_batches = max(1, min(n_batches, len(items)))
    cum = np.cumsum(np.asarray(weight, dtype=float)[items] + 1.0)
    cut = np.searchsorted(cum, cum[-1] * np.arange(1, n_batches) / n_batches, side="right")
    return [[int(i) for i in run] for run in np.split(np.asarray(items, dtype=int), np.unique(cut)) if len(run)]


def cpu_count() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def get_executor(scheduler: str | None = None, workers: int | None = None) -> Iterator:
    """An executor for :func:`~vpp_sched.solve.decompose.solve_decomposed`.

    ``scheduler``:

    * ``None``: a thread pool of ``workers`` (default: the cores; 1 is serial) in this process: it
      starts in no time, and HiGHS releases the GIL, so the blocks solve in parallel (10,000 EVs on
      2 cores: 7 s instead of 12 s); results are the executor's whatever it is;
    * ``"serial"``: in-process, one task after another;
    * ``"threads"``: a thread pool of ``workers`` (default: the cores) threads in this process;
    * ``"local"``: a ``distributed.LocalCluster`` of ``workers`` (default: the cores) worker
      processes with one thread each;
    * an address such as ``"tcp://10.0.0.5:8786"``: a running Dask scheduler (``workers`` is ignored;
      its workers must have ``vpp_sched`` installed).
    """
    if scheduler is None:
        scheduler = "serial" if (workers or cpu_count()) == 1 else "threads"
    if workers is not None and workers < 1:
        raise ArgumentError(f"workers must be at least 1, not {workers}")
    if scheduler == "serial":
        yield SerialExecutor()
    elif scheduler == "threads":
        n = workers or cpu_count()
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="vpp-sched") as pool:
            yield ThreadExecutor(pool, n)
    elif scheduler == "local":
        import dask
        from distributed import Client, LocalCluster

        n = workers or cpu_count()
        # dashboard_address ":0": any free port, so a second cluster never clashes on 8787
        with dask.config.set(LOCAL_CLUSTER_CONFIG), LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                          worker_dashboard_address=None) as cluster, Client(cluster) as client:
            client.wait_for_workers(n, timeout=WORKER_WAIT_S)     # all n, so the first map spreads over them
            yield DaskExecutor(client)
    else:
        from distributed import Client

        with Client(scheduler) as client:
            try:
                yield DaskExecutor(client)
            finally:      # the workers outlive this plan: drop any block LPs it left (a coordination that failed)
                _drop_kept_lps(client)


def _drop_kept_lps(client) -> None:
    from vpp_sched.solve.worker_cache import drop_kept_of, token_prefix

    try:
        client.run(drop_kept_of, token_prefix())
    except Exception:     # noqa: BLE001 - workers gone or the connection lost: nothing left to drop
        pass
