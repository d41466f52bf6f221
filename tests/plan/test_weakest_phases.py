"""weakest_phases builds only a head of the long (bus, slot, phase) table: the same rows as sorting
the whole melted table, ties, missing phases and busbar nodes included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vpp_sched.plan.grid_output import weakest_phases


def _melted(buses: pd.DataFrame, n: int) -> pd.DataFrame:
    """The whole long table sorted, as weakest_phases did before it built only a head."""
    cols = ["vm_a_pu", "vm_b_pu", "vm_c_pu"]
    long = buses.melt(id_vars=["transformer_id", "bus_id", "slot_start"], value_vars=cols, var_name="phase",
                      value_name="vm_phase_pu").dropna(subset=["vm_phase_pu"])
    long["phase"] = long["phase"].str[3]
    w = (long.sort_values("vm_phase_pu", kind="stable").drop_duplicates(["transformer_id", "bus_id"])
         .assign(_node=lambda d: d.bus_id.str.replace(r"_\d+$", "", regex=True))
         .drop_duplicates(["transformer_id", "_node"]).head(n))
    return w[["transformer_id", "bus_id", "slot_start", "phase", "vm_phase_pu"]].reset_index(drop=True)


def _buses(seed: int, n_buses: int, n_slots: int = 96) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    slots = pd.date_range("2026-11-27 04:00", periods=n_slots, freq="15min", tz="UTC")
    bus = np.array([f"bus_{i // 3}_{i % 3}" if i % 4 else f"bus_{i}" for i in range(n_buses)], dtype=object)
    t = np.array([f"T{i % 3}" for i in range(n_buses)], dtype=object)
    table = pd.DataFrame({"transformer_id": np.repeat(t, n_slots), "bus_id": np.repeat(bus, n_slots),
                          "slot_start": np.tile(slots, n_buses)})
    for c in ("vm_a_pu", "vm_b_pu", "vm_c_pu"):
        v = np.round(rng.normal(0.97, 0.01, len(table)), 3)        # rounded: many ties
        v[rng.random(len(table)) < 0.1] = np.nan
        table[c] = v
    return table


@pytest.mark.parametrize("seed, n", [(0, 5), (1, 8), (2, 40), (3, 1000)])
def test_the_head_gives_the_whole_tables_rows(seed, n):
    buses = _buses(seed, 60)
    got = weakest_phases(buses, n)
    pd.testing.assert_frame_equal(got, _melted(buses, n))
    assert len(got) == min(n, len(_melted(buses, 10_000)))


def test_one_bus_much_lower_in_every_slot_needs_a_longer_head():
    buses = _buses(4, 30)
    low = buses.bus_id == "bus_1_1"
    buses.loc[low, ["vm_a_pu", "vm_b_pu", "vm_c_pu"]] -= 0.2      # the first 288 sorted rows are one bus
    pd.testing.assert_frame_equal(weakest_phases(buses, 8), _melted(buses, 8))
