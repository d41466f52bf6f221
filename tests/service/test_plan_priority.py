"""The planning worker process runs below the server's CPU priority, so the stations' answers come first."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from vpp_sched.service.jobs import _lower_priority
from vpp_sched.service.settings import Settings


def _niceness() -> int:
    return os.nice(0)


def test_the_worker_process_is_niced_by_the_setting():
    by = Settings().plan_nice
    assert by > 0
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_lower_priority,
                             initargs=(by,)) as pool:
        child = pool.submit(_niceness).result(timeout=120)
    assert child == min(os.nice(0) + by, 19)
