"""``benchmarks/unmet_floor.py``: the clairvoyant controller's linear programme on a case solved by hand."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location(
    "unmet_floor", Path(__file__).resolve().parents[1] / "benchmarks" / "unmet_floor.py")
unmet_floor = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(unmet_floor)

# 3 one-hour slots, 10 kW limit, other load 5, 5, 10 kW: 5, 5, 0 kW of headroom.
# E0 plugged in for slots 0-1, wants 8 kWh; E1 for slots 1-2, wants 5 kWh; both 5 kW chargers.
AVAIL = np.array([[1, 1, 0], [0, 1, 1]], bool)
REQUEST = np.array([8.0, 5.0])
PMAX = np.array([5.0, 5.0])
OTHER = np.array([5.0, 5.0, 10.0])


def test_the_floor_delivers_what_the_limit_allows_and_no_more_than_asked():
    got = unmet_floor.limit_floor_kwh(AVAIL, REQUEST, PMAX, 10.0 - OTHER, 1.0)
    assert got.sum() == pytest.approx(10.0)          # slots 0 and 1 full, slot 2 has no room
    assert np.all(got <= REQUEST + 1e-9)
    assert got[0] >= 5.0 - 1e-9                       # only E0 can use slot 0


def test_the_least_limit_that_serves_every_request_is_found_by_bisection():
    # E0 needs 3 kWh in slot 1 beside slot 0; E1 gets s in slot 2 and 5 - s in slot 1:
    # 8 - s <= 10 pu - 5 and s <= 10 pu - 10, so pu >= 1.15
    pu = unmet_floor._pu_to_match(AVAIL, REQUEST, PMAX, 10.0, OTHER, 1.0)
    assert pu == pytest.approx(1.15, abs=1e-3)        # up to the 1 Wh a bisection step accepts short
    got = unmet_floor.limit_floor_kwh(AVAIL, REQUEST, PMAX, 10.0 * (pu - 0.01) - OTHER, 1.0)
    assert got.sum() < REQUEST.sum() - 0.05            # 1 % less and a driver is short
