"""uncontrolled_row_kw: the uncontrolled EV power summed per transformer without the [E, T] array,
bit for bit the sums of uncontrolled_reference (one-run stays and the general case)."""

from __future__ import annotations

import numpy as np

from vpp_sched.scenario.stay import run_mask, uncontrolled_reference, uncontrolled_row_kw


def _fleet(seed: int, n_evs: int = 400, n_slots: int = 96, n_rows: int = 7):
    rng = np.random.default_rng(seed)
    first = rng.integers(0, n_slots, n_evs)
    count = np.minimum(rng.integers(0, 40, n_evs), n_slots - first)
    available = run_mask(first, count, n_slots)
    energy = rng.uniform(0.0, 60.0, n_evs) * (rng.random(n_evs) > 0.05)     # some want nothing
    pmax = rng.choice([3.5, 7.0, 11.0, 0.0], n_evs, p=[0.3, 0.5, 0.19, 0.01])
    rows = rng.integers(0, n_rows, n_evs)
    return available, energy, pmax, rows, n_rows


def test_one_run_stays_give_the_reference_sums_bit_for_bit():
    for seed in range(5):
        available, energy, pmax, rows, n = _fleet(seed)
        want = uncontrolled_reference(available, energy, pmax, 0.25, rows, n)[1]
        got = uncontrolled_row_kw(available, energy, pmax, 0.25, rows, n)
        assert got.shape == want.shape and want.sum() > 0
        assert np.array_equal(got.view(np.int64), want.view(np.int64))     # the same bits, sign of 0 too


def test_a_stay_of_two_runs_takes_the_general_way():
    available, energy, pmax, rows, n = _fleet(7)
    available[0] = False
    available[0, [3, 4, 10, 11]] = True          # plugged in twice
    energy[0], pmax[0] = 20.0, 7.0
    want = uncontrolled_reference(available, energy, pmax, 0.25, rows, n)[1]
    got = uncontrolled_row_kw(available, energy, pmax, 0.25, rows, n)
    assert np.array_equal(got, want) and want[rows[0], 10] > 0
