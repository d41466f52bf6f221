"""Swap and fast-charging stations in scenario.yaml and their demand tables: read, aligned, and bad input
as one line naming the file, the row and the field."""

from __future__ import annotations

import numpy as np
import pytest

from sites_factory import site_scenario
from vpp_sched.errors import InputError
from vpp_sched.problem.build import build_problem
from vpp_sched.scenario.load import load_scenario


def _problems(folder) -> list[str]:
    with pytest.raises(InputError) as exc:
        load_scenario(folder)
    return exc.value.problems


def test_sites_are_read_into_the_problem(tmp_path):
    sc = load_scenario(site_scenario(tmp_path))
    p = build_problem(sc)
    st = p.sites
    assert list(st.swap_ids) == ["mine-1"] and list(st.fast_ids) == ["sa-1"]
    assert st.swap_pack_charge_kwh[0] == pytest.approx((0.95 - 0.2) * 282)
    assert st.swap_charge_max_kw[0] == pytest.approx(8 * 300)
    assert st.swap_demand.shape == (1, 96) and st.swap_demand[0, 0] == pytest.approx(1.0)
    assert list(p.transformer_ids[st.fast_transformer]) == ["T1"]
    assert list(p.station_ids) == ["sa-1"] and p.n_batteries == 1      # the fast station's battery
    assert (st.fast_min_cap_kw > st.fast_arrivals_per_h * st.fast_mean_energy_kwh).all()


def test_bad_cells_name_file_row_and_field(tmp_path):
    folder = site_scenario(tmp_path)
    swap = (folder / "swap_demand.csv").read_text().splitlines()
    swap[3] = swap[3].rsplit(",", 1)[0] + ",x"
    swap[5] = swap[5].rsplit(",", 1)[0] + ",-2"
    (folder / "swap_demand.csv").write_text("\n".join(swap) + "\n")
    fast = (folder / "fast_demand.csv").read_text().splitlines()
    fast[2] = fast[2].rsplit(",", 1)[0] + ",abc"
    (folder / "fast_demand.csv").write_text("\n".join(fast) + "\n")
    lines = _problems(folder)
    assert "swap_demand.csv row 3 (station_id=mine-1): swaps 'x' is not a number" in lines
    assert any(line.startswith("swap_demand.csv row 5 (station_id=mine-1): swaps -2 is outside") for line in lines)
    assert "fast_demand.csv row 2 (station_id=sa-1): mean_energy_kwh 'abc' is not a number" in lines
    assert len(lines) == 3


def test_missing_column_slot_and_unknown_transformer(tmp_path):
    import pandas as pd

    folder = site_scenario(tmp_path, swap_overrides={"transformer_id": "T9"})
    fast = pd.read_csv(folder / "fast_demand.csv").drop(columns=["arrivals_per_hour"])
    fast.to_csv(folder / "fast_demand.csv", index=False)
    swap = pd.read_csv(folder / "swap_demand.csv").iloc[:-2]
    swap.to_csv(folder / "swap_demand.csv", index=False)
    lines = _problems(folder)
    assert "scenario.yaml: swap_stations.0 (mine-1): transformer_id T9 is not in transformers.csv" in lines
    assert any(line.startswith("fast_demand.csv: missing column arrivals_per_hour") for line in lines)
    assert any(line.startswith("swap_demand.csv: slot_start missing for station_id=mine-1: 2 slot(s)") for line in lines)


@pytest.mark.parametrize("override, expected", [
    ({"packs": 0}, "scenario.yaml: swap_stations.0.packs: Input should be greater than 0"),
    ({"initial_full_packs": 12}, "initial_full_packs=12 exceeds packs=10"),
    ({"returned_soc": 0.96}, "returned_soc=0.96 must be below full_soc=0.95"),
    ({"bays_typo": 3}, "scenario.yaml: swap_stations.0.bays_typo: unknown key"),
])
def test_bad_swap_settings(tmp_path, override, expected):
    lines = _problems(site_scenario(tmp_path, swap_overrides=override))
    assert len(lines) == 1 and expected in lines[0]


def test_duplicate_station_ids_across_kinds(tmp_path):
    lines = _problems(site_scenario(tmp_path, fast_overrides={"station_id": "mine-1"}))
    assert any("duplicate station_id: mine-1" in line for line in lines)


def test_dr_scope_may_name_a_site(tmp_path):
    event = {"event_id": "ev1", "start": "2026-11-27T18:00:00+08:00", "end": "2026-11-27T19:00:00+08:00",
             "scope": ["mine-1"], "target_kw": 100.0}
    p = build_problem(load_scenario(site_scenario(tmp_path, yaml_overrides={"dr_events": [event]})))
    assert np.array_equal(p.event_scope[0], p.transformer_ids == "T2")
