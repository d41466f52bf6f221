"""The planning worker process runs below the server's CPU priority, so the stations' answers come first."""

from __future__ import annotations

import os

from vpp_sched.service.plan_process import PlanProcess
from vpp_sched.service.settings import Settings


def _niceness() -> int:
    return os.nice(0)


def test_the_worker_process_is_niced_by_the_setting():
    by = Settings().plan_nice
    assert by > 0
    process = PlanProcess(by)
    try:
        child = process.run(_niceness)
    finally:
        process.stop()
    assert child == min(os.nice(0) + by, 19)
