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
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from vpp_sched.errors import ArgumentError

#: Scheduler names of :func:`get_executor`; anything else is taken as a Dask scheduler address.
SCHEDULERS = ("serial", "threads", "local")


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
    """A ``distributed.Client``: tasks run on its workers; items are scattered first."""

    name = "dask"
    in_process = False

    def __init__(self, client):
        self.client = client
        info = client.scheduler_info(n_workers=-1) if _takes_n_workers(client) else client.scheduler_info()
        self.workers = max(sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()), 1)

    def map(self, fn: Callable, items: Sequence) -> list:
        if not items:
            return []
        data = self.client.scatter(list(items))
        futures = self.client.map(fn, data, pure=False)
        try:
            return self.client.gather(futures)
        finally:
            self.client.cancel(futures + data)


def _takes_n_workers(client) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


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
        from distributed import Client, LocalCluster

        n = workers or cpu_count()
        # dashboard_address ":0": any free port, so a second cluster never clashes on 8787
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                          worker_dashboard_address=None) as cluster, Client(cluster) as client:
            yield DaskExecutor(client)
    else:
        from distributed import Client

        with Client(scheduler) as client:
            yield DaskExecutor(client)
