"""LV grids named by transformers: reading, EV placement, per-bus base load, and one line per bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from grid_factory import two_bus_grid
from scenario_factory import EVS, TRANSFORMERS, write_scenario
from vpp_sched.errors import InputError
from vpp_sched.scenario.grid import bus_base_load_kw
from vpp_sched.scenario.load import load_scenario


def _scenario(tmp_path, evs=None, grid_kwargs=None, trafo_grid=("grids/two/", "grids/1-LV-rural1--0-sw/"), **kw):
    two_bus_grid(tmp_path / "grids" / "two", **(grid_kwargs or {}))
    trafos = TRANSFORMERS.assign(grid=list(trafo_grid), **kw)
    return write_scenario(tmp_path, transformers=trafos, evs=EVS if evs is None else evs)


def _problems(folder) -> list[str]:
    with pytest.raises(InputError) as err:
        load_scenario(folder)
    return err.value.problems


def test_grids_are_read_and_evs_placed_by_the_seeded_rule(tmp_path):
    s = load_scenario(_scenario(tmp_path))
    assert set(s.grids) == {"T1", "T2"}
    assert s.grids["T2"].folder.name == "1-LV-rural1--0-sw"          # a shipped grid
    on_t1 = s.evs[s.evs.transformer_id == "T1"]
    assert set(on_t1.bus_id) == {"B1"}                                  # the two-bus grid's only load bus
    loads = set(pd.read_csv(s.grids["T2"].folder / "Load.csv", sep=";")["node"])
    assert set(s.evs[s.evs.transformer_id == "T2"].bus_id) <= loads
    again = load_scenario(tmp_path)
    assert list(again.evs.bus_id) == list(s.evs.bus_id)                # same input, same placement


def test_base_load_per_bus_adds_up_to_the_transformer(tmp_path):
    s = load_scenario(_scenario(tmp_path))
    base = s.base_load_kw["T2"].to_numpy() if "T2" in s.base_load_kw else s.base_load_kw.loc["T2"].to_numpy()
    buses, p_kw, q_kvar = bus_base_load_kw(s.grids["T2"], s.slots, base)
    assert p_kw.shape == (len(buses), len(s.slots))
    np.testing.assert_allclose(p_kw.sum(axis=0), base, rtol=1e-12)
    assert (p_kw >= 0).all() and (q_kvar >= 0).all() and len(set(np.round(p_kw[0] / base, 6))) > 1  # shares move


def test_bus_id_not_in_the_grid(tmp_path):
    evs = EVS.assign(bus_id=["B1", "nowhere", "", "", ""])
    lines = _problems(_scenario(tmp_path, evs=evs))
    assert lines == ["evs.csv row 2 (ev_id=E2): bus_id nowhere is not a node of grids/two/Node.csv "
                     "(grid of transformer T1)"]


def test_line_type_missing(tmp_path):
    lines = _problems(_scenario(tmp_path, grid_kwargs={"line_type": "NAYY 4x999"}))
    assert lines == ["grids/two/Line.csv row 1 (id=L1): type NAYY 4x999 is not an id in grids/two/LineType.csv"]


def test_bus_cut_off_from_the_transformer(tmp_path):
    lines = _problems(_scenario(tmp_path, grid_kwargs={"extra_nodes": ["B2"], "switch_open_to": "B2"}))
    assert len(lines) == 1
    assert lines[0].startswith("grids/two/Load.csv row 2 (id=load_B2): node B2 is cut off from the transformer")


def test_grid_that_does_not_exist_and_bad_phase_and_mv_voltage(tmp_path):
    evs = EVS.assign(phase=["a", "abc", "d", "", "c"])
    lines = _problems(_scenario(tmp_path, evs=evs, trafo_grid=("grids/none/", ""), mv_vm_pu=["1.5", ""]))
    assert len(lines) == 3
    assert lines[0].startswith("transformers.csv row 1 (transformer_id=T1): grid grids/none/ is neither")
    assert any(x.startswith("evs.csv row 3 (ev_id=E3): phase d is not one of a, b, c, abc") for x in lines)
    assert any(x.startswith("transformers.csv row 1 (transformer_id=T1): mv_vm_pu 1.5 is not") for x in lines)
