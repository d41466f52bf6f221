"""The run's one time budget (solve/budget.py): its arithmetic on a clock the test moves."""

from __future__ import annotations

import pytest

from vpp_sched.solve import budget
from vpp_sched.solve.budget import Deadline


@pytest.fixture
def clock(monkeypatch):
    """A perf_counter the test sets: ``clock[0] = t``."""
    now = [100.0]
    monkeypatch.setattr(budget.time, "perf_counter", lambda: now[0])
    return now


def test_remaining_and_expired_follow_the_clock(clock):
    d = Deadline(60.0)
    assert (d.start, d.end, d.remaining_s(), d.expired()) == (100.0, 160.0, 60.0, False)
    clock[0] = 159.0
    assert d.remaining_s() == pytest.approx(1.0) and not d.expired()
    assert not d.was_cut               # time used is not a cut: only what the clock stopped is
    clock[0] = 161.0
    assert d.remaining_s() == 0.0 and d.expired()


def test_sub_takes_a_part_of_what_is_left_and_keeps_the_users_limit(clock):
    d = Deadline(60.0)
    clock[0] = 120.0                                   # 40 s left
    assert d.sub(10.0).end == 130.0
    assert d.sub(100.0).end == 160.0                   # never past the deadline
    assert d.sub(fraction=0.5).end == 140.0            # half of what is left, not of the limit
    assert d.sub(reserve_s=15.0).end == 145.0          # all but a reserve for what comes after
    assert d.sub(30.0, reserve_s=15.0).end == 145.0
    assert d.sub(reserve_s=100.0).end == 120.0         # a reserve larger than what is left: nothing
    part = d.sub(10.0)
    assert part.limit_s == 60.0 and part.start == 120.0   # the limit recorded is the user's
    clock[0] = 129.0
    assert not part.expired() and d.sub(fraction=1.0).end == 160.0
    clock[0] = 130.0
    assert part.expired() and not d.expired()


def test_a_cut_of_a_part_is_a_cut_of_the_whole_budget(clock):
    d = Deadline(60.0)
    part, other = d.sub(fraction=0.5), d.sub(10.0)
    assert not (d.was_cut or part.was_cut or other.was_cut)
    part.sub(1.0).cut("highs")
    assert d.was_cut and part.was_cut and other.was_cut and d.cuts == ["highs"]
    assert not Deadline(60.0).was_cut   # a new budget starts uncut


def test_highs_limit_adds_what_has_run_to_what_is_left(clock):
    d = Deadline(60.0)
    clock[0] = 110.0
    assert d.highs_time_limit() == 50.0
    assert d.highs_time_limit(run_time_s=7.5) == 57.5      # HiGHS counts over the instance's life
    clock[0] = 170.0
    assert d.highs_time_limit(3.0) == 3.0 + budget.MIN_RUN_S   # spent: a run still gets a moment


def test_of_hands_a_given_deadline_down_unchanged(clock):
    given = Deadline(5.0)
    assert Deadline.of(60.0, given) is given
    assert Deadline.of(60.0).end == 160.0
