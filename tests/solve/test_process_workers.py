"""Blocks on worker processes: what travels is each block's own subproblem (never the whole day),
results come back by pickle, and the plan is the in-process one; a LocalCluster of process
workers through the CLI writes the serial plan's files."""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pytest
from typer.testing import CliRunner

from problem_factory import random_problem
from test_decompose import OPTIONS, _same, binding_event
from vpp_sched.problem.arrays import Problem
from vpp_sched.problem.blocks import BlockSpec
from vpp_sched.solve.decompose import solve_decomposed


class PicklingExecutor:
    """Runs tasks here, but as a process worker would see them: every task and result pickled and
    unpickled; records each task's size and the problems it carries."""

    workers = 2
    name = "pickling"
    in_process = False

    def __init__(self):
        self.task_bytes: list[int] = []
        self.problems: list[Problem] = []

    def map(self, fn, items):
        out = []
        for item in items:
            blob = pickle.dumps(item)
            self.task_bytes.append(len(blob))
            task = pickle.loads(blob)
            self.problems += [x for t in task for x in _problems(t)]
            out.append(pickle.loads(pickle.dumps(fn(task))))
        return out


def _problems(task) -> list:
    """The problems a task (a BlockLP or a ``(block, problem, options, seconds)`` tuple) carries."""
    carried = task.problem if hasattr(task, "problem") else task[1]
    assert not isinstance(carried, BlockSpec), "a BlockSpec would carry the whole day"
    return [carried]


def test_tasks_carry_their_blocks_only_and_give_the_in_process_plan():
    p = binding_event(1, n_evs=80, n_transformers=4)
    serial = solve_decomposed(p, OPTIONS, max_block_evs=0)
    ex = PicklingExecutor()
    pickled = solve_decomposed(p, OPTIONS, max_block_evs=0, executor=ex)
    _same(serial, pickled)
    assert pickled.solver["executor"] == "pickling"
    # every problem that travelled is one block's: one transformer, its own EVs
    assert ex.problems and all(q.n_transformers == 1 for q in ex.problems)
    assert {q.n_evs for q in ex.problems} <= set(np.bincount(p.ev_transformer).tolist())
    day = len(pickle.dumps(p))
    assert max(ex.task_bytes) < day       # no task is as large as the day (4 blocks of 2 tasks: about half)
    # the per-block costs: one per block in the rounding pass, positive CPU
    cost = pickled.solver["block_cpu_s"]["rounding"]
    assert cost["n"] == 4 and 0 < cost["mean_s"] <= cost["max_s"] <= cost["total_s"]


def test_block_costs_recorded_in_process():
    p = random_problem(60, 24, 3, seed=2)
    sol = solve_decomposed(p, OPTIONS, max_block_evs=0)
    cost = sol.solver["block_cpu_s"]
    assert cost["rounding"]["n"] == sol.solver["n_blocks"] == 3
    assert cost["later"]["n"] == 0 or cost["later"]["total_s"] >= 0


@pytest.mark.slow
def test_local_cluster_of_processes_writes_the_serial_plan(tmp_path):
    from vpp_sched.cli import app
    from vpp_sched.scenario.synthetic import generate_scenario

    generate_scenario(tmp_path / "sc", transformers=6, evs=240, dr_event=True, min_power=1.4, seed=2)
    runner = CliRunner()
    digests = {}
    for scheduler in ("serial", "local"):
        out = tmp_path / scheduler
        args = ["plan", str(tmp_path / "sc"), "-o", str(out), "--scheduler", scheduler, "--workers", "2",
                "--method", "decomposed", "--no-report", "--time-limit", "600", "--partition-rows", "5000"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert (out / "ev_schedule").is_dir()          # the partitioned schedule, as at province size
        digests[scheduler] = {str(f.relative_to(out)): hashlib.sha256(f.read_bytes()).hexdigest()
                              for f in sorted(out.rglob("*")) if f.is_file() and f.name != "kpis.json"}
    assert digests["serial"] == digests["local"]
