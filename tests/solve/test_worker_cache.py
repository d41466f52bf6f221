"""Worker processes keep their blocks' LPs across coordination rounds (solve/worker_cache.py): a block's
subproblem travels once, later rounds carry only prices, the plan is the in-process one, and the
kept LPs are dropped when the coordination ends."""

from __future__ import annotations

import pickle

import pytest

from test_decompose import OPTIONS, _same, binding_event
from vpp_sched.solve import worker_cache
from vpp_sched.solve.decompose import solve_decomposed
from vpp_sched.solve.worker_cache import _Keyed


class PinnedPicklingExecutor:
    """Runs tasks here as a process worker would see them (every task and result pickled), with the
    pinned map of a Dask executor; records per pinned call the tasks' bytes and problems carried."""

    workers = 2
    name = "pinned-pickling"
    in_process = False

    def __init__(self, lose_after_call: int | None = None):
        self.calls: list[dict] = []
        self.pins: dict = {}
        self.lose_after_call = lose_after_call   # forget every kept LP after this pinned call

    def map(self, fn, items):
        return [pickle.loads(pickle.dumps(fn(pickle.loads(pickle.dumps(item))))) for item in items]

    def map_pinned(self, fn, items, pins):
        call = {"bytes": 0, "with_problem": 0, "without_problem": 0}
        out = []
        for item, pin in zip(items, pins):
            self.pins.setdefault(pin, len(self.pins) % self.workers)
            blob = pickle.dumps(item)
            call["bytes"] += len(blob)
            task = pickle.loads(blob)
            assert all(isinstance(k, _Keyed) for k in task)
            call["with_problem"] += sum(k.task.problem is not None for k in task)
            call["without_problem"] += sum(k.task.problem is None for k in task)
            out.append(pickle.loads(pickle.dumps(fn(task))))
        self.calls.append(call)
        if self.lose_after_call is not None and len(self.calls) == self.lose_after_call:
            worker_cache._KEPT.clear()
        return out

    def run_everywhere(self, fn, *args):
        return {"worker": fn(*args)}


def test_blocks_travel_once_and_give_the_in_process_plan():
    p = binding_event(1, n_evs=80, n_transformers=4)
    serial = solve_decomposed(p, OPTIONS, max_block_evs=0)
    ex = PinnedPicklingExecutor()
    kept = solve_decomposed(p, OPTIONS, max_block_evs=0, executor=ex)
    _same(serial, kept)
    assert serial.solver["rounds"] >= 2 and len(ex.calls) == serial.solver["rounds"]
    first, later = ex.calls[0], ex.calls[1:]
    assert first["with_problem"] == 4 and first["without_problem"] == 0
    assert all(c["with_problem"] == 0 and c["without_problem"] == 4 for c in later)
    assert all(c["bytes"] < first["bytes"] / 2 for c in later)     # prices only, no subproblem or basis
    assert worker_cache.kept_count() == 0                          # released when the coordination ended


def test_a_worker_that_lost_its_lps_gets_the_blocks_again():
    p = binding_event(1, n_evs=80, n_transformers=4)
    ex = PinnedPicklingExecutor(lose_after_call=1)
    sol = solve_decomposed(p, OPTIONS, max_block_evs=0, executor=ex)
    assert sol.status.has_plan and sol.solver["rounds"] >= 2
    # round two found nothing kept: its blocks were sent once more in full (a call of its own)
    assert ex.calls[1]["without_problem"] == 4 and ex.calls[2]["with_problem"] == 4
    assert worker_cache.kept_count() == 0


def test_a_task_without_problem_and_nothing_kept_answers_none():
    from vpp_sched.solve.coordination import BlockLP, solve_block_lps

    assert worker_cache.solve_kept_block_lps(solve_block_lps, [_Keyed("nobody", BlockLP(7, None))]) == [None]


def _profiling_on() -> bool:
    import dask

    return bool(dask.config.get("distributed.worker.profile.enabled"))


@pytest.fixture(autouse=True)
def _empty_cache():
    worker_cache._KEPT.clear()
    yield
    worker_cache._KEPT.clear()


@pytest.mark.slow
def test_local_cluster_keeps_the_lps_times_the_workers_highs_and_cleans_up():
    from vpp_sched.solve.parallel import get_executor
    from vpp_sched.solve.timing import highs_clock

    p = binding_event(1, n_evs=80, n_transformers=4)
    options = OPTIONS.model_copy(update={"time_limit_s": 900.0})   # no clock cut on a loaded machine
    serial = solve_decomposed(p, options, max_block_evs=0)
    with get_executor("local", 2) as ex, highs_clock() as clock:
        clustered = solve_decomposed(p, options, max_block_evs=0, executor=ex)
        left = ex.client.run(worker_cache.kept_count)
        profiling = ex.client.run(_profiling_on)
    assert set(profiling.values()) == {False}             # parallel.LOCAL_CLUSTER_CONFIG reached the workers
    _same(serial, clustered)
    assert set(left.values()) == {0}
    # every block LP of every round and every block's rounding ran on a worker, and is on the clock
    rounds = clustered.solver["rounds"]
    assert clock.runs >= 4 * rounds + 4 + rounds       # + the master LP on the client each round
    assert clock.seconds >= clustered.solver["block_lp_seconds"] / 2 * 0.5


def _one_lp(_item) -> str:
    import highspy
    import numpy as np

    from vpp_sched.solve.timing import run_highs

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.addVars(2, np.zeros(2), np.ones(2))
    h.changeColsCost(2, np.arange(2, dtype=np.int32), np.array([-1.0, -2.0]))
    h.addRow(-highspy.kHighsInf, 1.5, 2, np.arange(2, dtype=np.int32), np.ones(2))
    run_highs(h)
    return "done"


def test_a_workers_highs_runs_are_recorded_on_the_callers_clock():
    from vpp_sched.solve.parallel import _recorded, _timed_task
    from vpp_sched.solve.timing import highs_clock

    shipped = pickle.loads(pickle.dumps(_timed_task(_one_lp, None)))   # as it comes back from a worker
    result, intervals, _, _ = shipped
    assert result == "done" and len(intervals) == 1
    with highs_clock() as clock:
        assert _recorded(*shipped) == "done"
    assert clock.runs == 1
    assert clock.seconds == pytest.approx(intervals[0][1] - intervals[0][0])
    start, _ = clock.intervals[0]
    assert abs(start - intervals[0][0]) < 1.0        # this process's clock: moved by the wall clock, not by hours


def test_a_client_drops_what_its_coordinations_left():
    from vpp_sched.solve.worker_cache import drop_kept_of, token_prefix

    worker_cache._KEPT[(f"{token_prefix()}1-0", 3)] = (None, None, None)
    worker_cache._KEPT[("999999999-1-0", 3)] = (None, None, None)        # another client's
    assert drop_kept_of(token_prefix()) == 1
    assert worker_cache.kept_count() == 1


class FailingExecutor(PinnedPicklingExecutor):
    """A pinned executor whose ``fail_at``-th pinned call fails (a worker lost mid-coordination)."""

    def __init__(self, fail_at: int):
        super().__init__()
        self.fail_at = fail_at

    def map_pinned(self, fn, items, pins):
        if len(self.calls) + 1 == self.fail_at:
            raise RuntimeError("worker lost")
        return super().map_pinned(fn, items, pins)


def test_a_coordination_failing_midway_releases_the_workers_lps():
    p = binding_event(1, n_evs=80, n_transformers=4)
    ex = FailingExecutor(fail_at=2)
    with pytest.raises(RuntimeError, match="worker lost"):
        solve_decomposed(p, OPTIONS, max_block_evs=0, executor=ex)
    assert len(ex.calls) == 1 and ex.calls[0]["with_problem"] == 4   # round one left 4 LPs on the workers
    assert worker_cache.kept_count() == 0                             # dropped by the failed coordination


def _counting_block_builds(monkeypatch) -> list:
    """Record every block subproblem built for planning (not the relaxations of the rounds)."""
    from vpp_sched.problem.blocks import BlockSpec

    built, build = [], BlockSpec.build

    def counted(self):
        if not self.relax:
            built.append(tuple(self.transformers))
        return build(self)
    monkeypatch.setattr(BlockSpec, "build", counted)
    return built


def test_the_event_retry_on_workers_builds_only_the_blocks_it_plans(monkeypatch):
    p = binding_event(2)
    serial = solve_decomposed(p, OPTIONS, max_block_evs=0)
    built = _counting_block_builds(monkeypatch)
    kept = solve_decomposed(p, OPTIONS, max_block_evs=0, executor=PinnedPicklingExecutor())
    _same(serial, kept)
    n_blocks, retried = kept.solver["n_blocks"], kept.solver["blocks_event_retry"]
    assert retried == serial.solver["blocks_event_retry"] and 1 <= retried < n_blocks
    assert len(built) == n_blocks + retried      # the rounding's blocks, then only the retried ones


@pytest.mark.slow
def test_the_event_retry_gives_the_in_process_plan_on_threads_and_a_local_cluster():
    from vpp_sched.solve.parallel import get_executor

    p = binding_event(2)
    options = OPTIONS.model_copy(update={"time_limit_s": 900.0})   # no clock cut on a loaded machine
    serial = solve_decomposed(p, options, max_block_evs=0)
    assert serial.solver["blocks_event_retry"] >= 1
    for kind in ("threads", "local"):
        with get_executor(kind, 2) as ex:
            other = solve_decomposed(p, options, max_block_evs=0, executor=ex)
            if kind == "local":
                assert set(ex.client.run(worker_cache.kept_count).values()) == {0}
        _same(serial, other)
        assert other.solver["blocks_event_retry"] == serial.solver["blocks_event_retry"], kind
