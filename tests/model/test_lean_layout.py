"""Structure of the lean build: the families of ``models/day_ahead.md``, built by the function of the
same name as in the Pyomo model, in the registry's order, covering every column and row once.

The matrices of the two builds are compared entry by entry in ``test_builds_agree.py``; here the
house: which function builds which family, and the bookkeeping of ``LeanBuilder``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyomo.environ as pyo
import pytest

from problem_factory import random_problem, with_demand_charge
from sites_factory import sites
from vpp_sched.model import (day_ahead, day_ahead_phases, day_ahead_sites, lean_families, lean_layout, lean_phases,
                              lean_sites)
from vpp_sched.model.lean import build_lean
from vpp_sched.problem.arrays import GridCuts
from vpp_sched.problem.phases import PhaseLimits
from vpp_sched.model.lean_layout import BINARY_FAMILIES, COL_FAMILY_DIMS, ROW_FAMILY_DIMS, LeanBuilder

#: The family functions in the order build_lean calls them (the order of the columns and rows).
FAMILY_FUNCTIONS = ("define_ev_power", "define_ev_energy", "define_v2g", "define_stations", "define_transformer",
                    "define_feeders", "define_batteries", "define_dr_events", "define_ev_ramp",
                    "define_storage_export", "define_demand_charge", "define_grid_limits")
#: The swap and fast-charging stations' families (model/lean_sites.py, model/day_ahead_sites.py), built
#: after the others in the lean build and before define_transformer in the Pyomo model.
SITE_FUNCTIONS = ("define_swap_stations", "define_fast_charging")
#: The phase family (model/lean_phases.py, model/day_ahead_phases.py), last in both builds.
PHASE_FUNCTIONS = ("define_phase_limits",)


def _every_family_problem():
    p = random_problem(n_evs=20, n_slots=12, n_transformers=3, seed=4, n_feeders=1, n_stations=2, n_events=2,
                       min_power_share=0.5, v2g_share=0.4)
    st = sites(n_slots=12, swap=[{"demand": 0.5, "transformer": 1}], fast=[{"lam": 2.0, "energy": 20.0}])
    cuts = GridCuts(kind=np.array(["voltage", "line"], dtype=object), slot=np.array([4, 6]),
                    rhs_kw=np.array([3.0, 5.0]), row=np.array([0, 0, 1, 1]), ev=np.array([0, 1, 1, 2]),
                    coef=np.array([1.0, 0.5, 1.0, 0.7]), label=np.array(["bus", "line"], dtype=object))
    phases = PhaseLimits(transformer=np.array([0, 2]), ev_share=np.eye(3)[np.arange(20) % 3])
    return with_demand_charge(replace(p, event_sign=np.array([1.0, -1.0]), ramp_penalty_cny_per_kw=0.05, sites=st,
                                      grid_cuts=cuts, phases=phases), 10.0, 1.0)


def _lean_families_by_function(p):
    s, b = lean_families.define_sets(p), LeanBuilder()
    made = {}
    for name in FAMILY_FUNCTIONS:
        cols, rows = set(b.cols.families), set(b.rows.families)
        fn = getattr(lean_families, name)
        fn(b, s) if name == "define_ev_power" else fn(b, s, p)
        made[name] = (set(b.cols.families) - cols) | (set(b.rows.families) - rows)
    for name in SITE_FUNCTIONS:
        cols, rows = set(b.cols.families), set(b.rows.families)
        getattr(lean_sites, name)(b, s.T, s.dt, p)
        made[name] = (set(b.cols.families) - cols) | (set(b.rows.families) - rows)
    for name in PHASE_FUNCTIONS:
        cols, rows = set(b.cols.families), set(b.rows.families)
        getattr(lean_phases, name)(b, s, p)
        made[name] = (set(b.cols.families) - cols) | (set(b.rows.families) - rows)
    return made


def _pyomo_families_by_function(p):
    m = pyo.ConcreteModel()
    day_ahead.define_sets(m, p)
    made = {}
    pyomo_order = (("define_ev_power", "define_v2g", "define_ev_energy", "define_stations") + SITE_FUNCTIONS
                   + FAMILY_FUNCTIONS[4:] + PHASE_FUNCTIONS)  # as create_model
    for name in pyomo_order:
        before = {c.name for c in m.component_objects((pyo.Var, pyo.Constraint))}
        fn = getattr(day_ahead_sites if name in SITE_FUNCTIONS else day_ahead_phases if name in PHASE_FUNCTIONS
                     else day_ahead, name)
        fn(m, p, False) if name in ("define_ev_power", "define_v2g", "define_stations") else fn(m, p)
        made[name] = {c.name for c in m.component_objects((pyo.Var, pyo.Constraint))} - before
    return made


def test_each_family_function_builds_the_same_families_as_its_pyomo_namesake():
    p = _every_family_problem()
    lean, pyomo = _lean_families_by_function(p), _pyomo_families_by_function(p)
    for name in FAMILY_FUNCTIONS + SITE_FUNCTIONS + PHASE_FUNCTIONS:
        assert lean[name] == pyomo[name], name
        assert lean[name] or name == "define_stations", name     # every function adds a row family
    built = set().union(*lean.values())
    assert built == set(COL_FAMILY_DIMS) | set(ROW_FAMILY_DIMS)


@pytest.mark.parametrize("relax", [False, True])
def test_families_tile_the_matrix_in_registry_order(relax):
    m = build_lean(_every_family_problem(), relax_integrality=relax)
    for families, dims, index, size in ((m.col_families, COL_FAMILY_DIMS, m.col_index, m.n_cols),
                                        (m.row_families, ROW_FAMILY_DIMS, m.row_index, m.n_rows)):
        assert list(families) == list(dims)
        stops = [0] + [sl.stop for sl in families.values()]
        assert [sl.start for sl in families.values()] == stops[:-1] and stops[-1] == size
        for name, sl in families.items():
            assert len(index[name]) == len(dims[name]), name
            assert all(len(ix) == sl.stop - sl.start and ix.dtype == np.int32 for ix in index[name]), name
            assert sl.stop > sl.start, f"{name} is empty although the problem has every family"
    binary = np.zeros(m.n_cols, dtype=bool)
    for name in BINARY_FAMILIES:
        binary[m.col_families[name]] = True
    assert np.array_equal(m.integrality == 1, binary & (not relax))
    assert m.matrix().shape == (m.n_rows, m.n_cols) and m.nnz == len(m.a_value) == len(m.a_index)


def test_builder_resolves_positions_within_families_and_keeps_chunk_order():
    # a row family naming a column family added after it (as ev_energy names ev_discharge_kw)
    b = LeanBuilder()
    b.add_cols("x", (np.arange(2),), upper=4.0)
    b.add_rows("r", (np.arange(2),), 0.0, [1.0, 2.0])
    b.coef("r", np.array([0, 1]), "y", np.array([1, 0]), [3.0, 5.0])
    b.add_cols("y", (np.arange(2),), lower=-1.0, binary=True)
    b.set_cost("y", [7.0, 8.0])
    b.add_rows("s", (np.arange(1),), -1.0, 1.0)
    b.coef("s", np.array([0, 0]), "x", np.array([0, 1]), [0.0, 2.0])   # the zero is dropped
    b.coef("r", np.array([1]), "x", np.array([0]), 9.0)
    a = b.finish()
    dense = np.zeros((3, 4))
    for j in range(4):
        for k in range(a.a_start[j], a.a_start[j + 1]):
            dense[a.a_index[k], j] = a.a_value[k]
    np.testing.assert_array_equal(dense, [[0, 0, 0, 3], [9, 0, 5, 0], [0, 2, 0, 0]])
    np.testing.assert_array_equal(a.col_cost, [0, 0, 7, 8])
    np.testing.assert_array_equal(a.col_lower, [0, 0, -1, -1])
    np.testing.assert_array_equal(a.col_upper[:2], [4, 4])
    np.testing.assert_array_equal(a.integrality, [0, 0, 1, 1])
    np.testing.assert_array_equal(a.row_upper, [1, 2, 1])


@pytest.mark.parametrize("counting_sort", [False, True])
def test_assembly_keeps_repeated_columns_in_chunk_order(counting_sort, monkeypatch):
    if counting_sort:
        monkeypatch.setattr(lean_layout, "SMALL_NNZ", -1)
    # column 0 twice in one chunk (as ev_max_rise_kw in every ev_rise row): rows stay ascending
    rows = [np.array([0, 2], np.int32), np.array([1, 3], np.int32)]
    cols = [np.array([0, 0], np.int32), np.array([1, 0], np.int32)]
    vals = [np.array([1.0, 2.0]), np.array([3.0, 4.0])]
    start, index, value = lean_layout.triplets_to_csc(rows, cols, vals, 2, [True, False])
    assert start.tolist() == [0, 3, 4]
    assert index.tolist() == [0, 2, 3, 1] and value.tolist() == [1.0, 2.0, 4.0, 3.0]
