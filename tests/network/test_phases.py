"""The phase rule and the unbalance of a hand-checkable case."""

from __future__ import annotations

import numpy as np
import pytest

from vpp_sched.network.phases import phase_power_kw, resolve_phases, unbalance_pct


def test_empty_phases_go_round_robin_and_big_chargers_are_three_phase():
    got = resolve_phases(["E3", "E1", "E2", "E4", "E5"], ["", "", "c", "", ""], [7.0, 7.0, 7.0, 11.0, 3.5])
    # E1 -> a, E3 -> b (E2 keeps c), E4 (11 kW) -> abc, E5 -> c
    assert got == ["b", "a", "c", "abc", "c"]


def test_unbalance_of_three_cars_on_one_phase():
    ev = np.array([[7.0, 0.0], [7.0, 0.0], [7.0, 7.0]])
    per = phase_power_kw(ev, ["a", "a", "abc"], balanced_kw=np.array([30.0, 30.0]))
    np.testing.assert_allclose(per[:, 0], [10 + 14 + 7 / 3, 10 + 7 / 3, 10 + 7 / 3])
    u = unbalance_pct(per)
    assert u[0] == pytest.approx(14 / (10 + 14 + 7 / 3) * 100)
    assert u[1] == pytest.approx(0.0)
