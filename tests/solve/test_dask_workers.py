"""The Dask executor asks the scheduler which workers are alive when it hands out work: the client's
cached ``scheduler_info()`` can list none just after a LocalCluster starts (a pinned map once divided
by zero there). It waits for a first worker, and with none it stops with one clear line."""

from __future__ import annotations

import pytest

from vpp_sched.errors import ArgumentError
from vpp_sched.solve.parallel import DaskExecutor


class _Scheduler:
    address = "tcp://10.0.0.5:8786"


class LateWorkerClient:
    """A client whose scheduler has no worker until someone waits for one (or never, ``joins=False``)."""

    scheduler = _Scheduler()

    def __init__(self, joins: bool = True):
        self.joins, self.waited, self.workers_now = joins, [], {}
        self.submitted: list[list[str]] = []

    def scheduler_info(self, **_):          # the stale copy: never lists a worker
        return {"workers": {}}

    def nthreads(self):
        return dict(self.workers_now)

    def wait_for_workers(self, n_workers, timeout=None):
        self.waited.append((n_workers, timeout))
        if not self.joins:
            raise TimeoutError(f"only 0/{n_workers} workers arrived after {timeout}")
        self.workers_now = {"tcp://127.0.0.1:4001": 1}


def test_the_executor_waits_for_a_first_worker_and_counts_it():
    client = LateWorkerClient()
    ex = DaskExecutor(client, wait_s=3.0)
    assert client.waited == [(1, 3.0)]
    assert ex.workers == 1


def test_no_worker_at_the_scheduler_is_one_clear_error():
    with pytest.raises(ArgumentError) as err:
        DaskExecutor(LateWorkerClient(joins=False), wait_s=0.5)
    text = str(err.value)
    assert "no Dask worker joined the scheduler tcp://10.0.0.5:8786 within 0.5 s" in text
    assert "\n" not in text


def test_a_pinned_map_waits_when_the_workers_are_gone(monkeypatch):
    client = LateWorkerClient()
    ex = DaskExecutor(client, wait_s=2.0)
    client.workers_now = {}                  # the worker left between two rounds
    pinned_to = []
    monkeypatch.setattr(client, "scatter", lambda items, workers=None, hash=True: list(items), raising=False)
    monkeypatch.setattr(client, "submit", lambda task, fn, item, workers=None, **_: pinned_to.append(workers) or item,
                        raising=False)
    monkeypatch.setattr(ex, "_gather", lambda futures, data: futures)
    assert ex.map_pinned(lambda x: x, ["a", "b"], pins=[0, 1]) == ["a", "b"]
    assert pinned_to == [["tcp://127.0.0.1:4001"]] * 2
    assert len(client.waited) == 2


def test_a_local_cluster_has_all_its_workers_when_the_executor_starts():
    from vpp_sched.solve.parallel import get_executor

    with get_executor("local", 2) as ex:
        assert ex.workers == 2 and len(ex.client.nthreads()) == 2
