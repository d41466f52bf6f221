"""A re-plan's window of the swap stations (Sites.window): its final full packs stay reachable."""

from __future__ import annotations

import numpy as np
import pytest

from problem_factory import tiny_problem
from sites_factory import sites
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.solve.dispatch import solve


def _window(full: float, partial_kwh: float, slots_left: int = 1):
    """The last ``slots_left`` slots (of 1 h) of a day, starting from ``full`` packs and ``partial_kwh``:
    4 packs of 20 kWh, 4 bays of 10 kW (the connection 40 kW), 4 full asked at the end, no swaps."""
    spec = dict(packs=4, pack_charge_kwh=20.0, charge_max_kw=40.0, bay_max_kw=10.0, bays=4, initial=4.0, final=4.0,
                demand=[0] * (slots_left + 2))
    day = sites(n_slots=slots_left + 2, swap=[spec])
    st = day.window(2, np.array([full]), np.array([partial_kwh]), 1.0)
    return tiny_problem(n_slots=slots_left, evs=[], sites=st)


def test_the_final_packs_of_a_window_are_what_the_bays_of_the_packs_not_full_reach():
    # one slot left, 3 full and 5 kWh in the one pack not full: one bay charges it, 10 kWh in the hour,
    # 3 + (5 + 10) / 20 = 3.75 packs (the connection's 40 kW would say 4, which cannot be reached)
    p = _window(full=3.0, partial_kwh=5.0)
    assert p.sites.swap_final_full_min[0] == pytest.approx(3.75)
    sol = solve(p, SolverOptions())
    assert sol.status.has_plan
    assert sol.swap_full_packs[0, -1] == pytest.approx(3.75)


def test_a_window_with_time_enough_keeps_the_final_packs_asked():
    # three slots left: one bay, 15 + 30 kWh > the 15 kWh the pack lacks, so 4 stays the target
    p = _window(full=3.0, partial_kwh=5.0, slots_left=3)
    assert p.sites.swap_final_full_min[0] == pytest.approx(4.0)
    sol = solve(p, SolverOptions())
    assert sol.status.has_plan and sol.swap_full_packs[0, -1] == pytest.approx(4.0)
