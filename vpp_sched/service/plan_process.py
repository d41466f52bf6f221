"""The server's planning process: one spawned worker that runs the plan jobs, and its prompt stop.

A plan runs in its own process (``Settings.plan_process``) so a solve never holds the GIL the event
loop answering the stations needs. When the server stops (SIGTERM, Ctrl-C), the plan running there is
stopped too, instead of being waited for: the standard library joins a process pool's manager thread
at interpreter exit, so the server's exit used to wait until the plan had finished (~100 s on the
demo). The stop sends the process SIGTERM, which raises :class:`PlanStopped` in the plan at its next
Python bytecode (its ``with`` blocks run: the job's temporary folder goes, its executor is closed),
then SIGKILL if the plan is still running :data:`STOP_GRACE_S` later (a HiGHS solve runs in C, where
no Python signal handler runs until it returns). :meth:`PlanProcess.run` then raises
:class:`JobInterrupted`, and the job is queued again (:mod:`vpp_sched.service.jobs`).

Ctrl-C in a terminal sends SIGINT to the whole process group: the planning process ignores it and
is stopped by the server's own stop, in the order above.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from vpp_sched.errors import VppSchedError

#: How long a stopped plan may take to unwind after SIGTERM before it gets SIGKILL [s].
STOP_GRACE_S = 3.0


class PlanStopped(BaseException):
    """Raised in the planning process by SIGTERM during a plan. A ``BaseException``, so no ``except
    Exception`` of the planner on the way out swallows it; the pool hands it back to the server."""


class JobInterrupted(Exception):
    """The server stopped while the job's plan ran: the plan was stopped, the job is to be resumed."""


class PlanProcess:
    """One worker process, started at the first plan, at a CPU priority ``nice`` below the server's."""

    def __init__(self, nice: int):
        self._nice = nice
        self._pool: ProcessPoolExecutor | None = None
        self._pid: int | None = None
        self._future = None
        self._stopping = threading.Event()

    def run(self, fn, *args):
        """``fn(*args)`` in the process. Raises :class:`JobInterrupted` when the server stops meanwhile, and
        :class:`~vpp_sched.errors.VppSchedError` when the process died or was stopped by someone else."""
        if self._stopping.is_set():
            raise JobInterrupted
        try:
            future = self._start().submit(planning, fn, *args)
            self._future = future
            if self._stopping.is_set():     # a stop that came before it could see this plan
                self._end(future)
            return future.result()
        except (PlanStopped, BrokenProcessPool) as exc:
            broken = isinstance(exc, BrokenProcessPool)
            if broken:
                self._pool = self._pid = None
            # A stop signal sent to the server's whole process group reaches this process first.
            if self._stopping.wait(STOP_GRACE_S):
                raise JobInterrupted from None
            raise VppSchedError("the planning process died (out of memory?)" if broken else
                                "the planning process was stopped (SIGTERM) by someone other than the server") from None
        finally:
            self._future = None

    def stop(self) -> None:
        """Stop the plan running (SIGTERM, then SIGKILL after :data:`STOP_GRACE_S`) and the process."""
        self._stopping.set()
        future = self._future
        if future is not None:
            self._end(future)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _start(self) -> ProcessPoolExecutor:
        if self._pool is None:
            pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=worker_init, initargs=(self._nice,))
            self._pid = pool.submit(os.getpid).result()    # one worker for the pool's life: the one to signal
            self._pool = pool
        return self._pool

    def _end(self, future) -> None:
        self._signal(signal.SIGTERM)
        if future in wait([future], STOP_GRACE_S).not_done:
            self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        if self._pid is not None:
            try:
                os.kill(self._pid, signum)
            except ProcessLookupError:
                pass


def worker_init(nice: int) -> None:
    """The planning process's start (the pool's initializer): a lower CPU priority, SIGINT ignored."""
    if nice > 0 and hasattr(os, "nice"):
        os.nice(nice)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def planning(fn, *args):
    """``fn(*args)`` in the planning process, with SIGTERM raising :class:`PlanStopped` while it runs
    (and the default, ending the idle process, otherwise)."""
    signal.signal(signal.SIGTERM, _stop_plan)
    try:
        return fn(*args)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _stop_plan(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)    # one stop: a second SIGTERM must not break the unwinding
    raise PlanStopped
