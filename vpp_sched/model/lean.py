"""The lean build: the day-ahead model of ``models/day_ahead.md`` as sparse arrays for highspy.

This is the time-critical path. :func:`build_lean` reads like the Pyomo model's ``create_model``:
the index sets, then one ``define_*`` function per family of ``models/day_ahead.md``
(:mod:`vpp_sched.model.lean_families`), each building its columns and rows with vectorised numpy
from a :class:`~vpp_sched.problem.arrays.Problem` (no Python loop over EVs x slots), into a
:class:`~vpp_sched.model.lean_layout.LeanBuilder` that assembles one column-wise (CSC) matrix,
handed to HiGHS in a single ``Highs.passModel`` call (by :class:`vpp_sched.solve.highs.LeanSolver`).

Variables exist only where the markdown says they do:

* ``ev_power_kw[e, t]`` for available ``(e, t)`` only; ``ev_on``/``ev_start`` and the rows
  ``ev_min_power``/``ev_max_power``/``ev_start_up`` only for EVs with ``min_power_kw > 0``;
* ``ev_discharge_kw``/``ev_soc_kwh``/``ev_v2g_mode`` and their rows only for available
  ``(e, t)`` of V2G EVs;
* ``pv_curtail_kw`` for every station (upper bound the PV forecast, 0 without PV);
* ``dr_shortfall_kw`` and ``dr_event_cap`` only in event slots;
* ``transformer_reverse_limit`` only for transformers with a station or a base load below
  ``-limit_kw`` in some slot;
* ``ev_max_rise_kw`` and the rows ``ev_rise`` only when the ramp is priced
  (``ramp_penalty_cny_per_kw > 0``);
* ``battery_export`` for every battery slot, ``ev_export`` for available ``(e, t)`` of V2G EVs;
* ``new_peak_kw`` and the rows ``demand_peak`` only for the (transformer, month) pairs that pay a
  demand charge (``models/tariff.md``).

:class:`LeanModel` records each family's column and row range (``col_families``,
``row_families``, names identical to the markdown) and the model indices of each column
and row (``col_index``, ``row_index``), so any column or row can be traced back, e.g.
``model.col_name(j) == "ev_power_kw[3,17]"``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import highspy
import numpy as np
import scipy.sparse as sp

from vpp_sched.model import lean_families as fam
from vpp_sched.model import lean_phases, lean_sites
from vpp_sched.model.lean_layout import BINARY_FAMILIES, COL_FAMILY_DIMS, INF, ROW_FAMILY_DIMS, LeanBuilder
from vpp_sched.problem.arrays import Problem

__all__ = ["BINARY_FAMILIES", "COL_FAMILY_DIMS", "INF", "ROW_FAMILY_DIMS", "LeanModel", "build_lean"]


@dataclass
class LeanModel:
    """The day-ahead MILP as arrays, ready for ``Highs.passModel``.

    The constraint matrix is column-wise (CSC): column ``j``'s entries are
    ``a_index[a_start[j]:a_start[j+1]]`` (rows) and ``a_value[...]``. Rows are ranges
    ``row_lower <= A x <= row_upper``; columns ``col_lower <= x <= col_upper``; the objective
    is ``min col_cost @ x`` (``objective_constant`` is *not* passed to HiGHS).
    """

    n_cols: int
    n_rows: int
    col_cost: np.ndarray        # [n_cols] float64
    col_lower: np.ndarray       # [n_cols] float64
    col_upper: np.ndarray       # [n_cols] float64
    row_lower: np.ndarray       # [n_rows] float64
    row_upper: np.ndarray       # [n_rows] float64
    a_start: np.ndarray         # [n_cols + 1] int32
    a_index: np.ndarray         # [nnz] int32
    a_value: np.ndarray         # [nnz] float64
    integrality: np.ndarray     # [n_cols] int32, 1 = integer (binary by bounds), 0 = continuous
    col_families: dict[str, slice]
    row_families: dict[str, slice]
    col_index: dict[str, tuple[np.ndarray, ...]]   # family -> index arrays (see COL_FAMILY_DIMS)
    row_index: dict[str, tuple[np.ndarray, ...]]   # family -> index arrays (see ROW_FAMILY_DIMS)
    relax_integrality: bool = False
    objective_constant: float = 0.0   # - sum_k price_k dt red_k |T_k|, added to get objective_cny of kpis
    build_seconds: float = 0.0        # time of build_lean
    shape: dict = field(default_factory=dict)   # sizes E, T, N, F, S, B, K

    # sizes -------------------------------------------------------------------------------
    @property
    def nnz(self) -> int:
        return int(self.a_start[-1])

    @property
    def n_integer(self) -> int:
        return int(np.count_nonzero(self.integrality))

    @property
    def is_mip(self) -> bool:
        return self.n_integer > 0

    def matrix(self) -> sp.csc_matrix:
        """The constraint matrix as a scipy CSC matrix (shares the arrays)."""
        return sp.csc_matrix((self.a_value, self.a_index, self.a_start), shape=(self.n_rows, self.n_cols))

    # tracing -----------------------------------------------------------------------------
    def col_family(self, j: int) -> str:
        return _family_of(self.col_families, j, "column")

    def row_family(self, i: int) -> str:
        return _family_of(self.row_families, i, "row")

    def col_name(self, j: int) -> str:
        """E.g. ``"ev_power_kw[3,17]"``: family and Problem indices of column ``j``."""
        fam = self.col_family(j)
        k = j - self.col_families[fam].start
        return f"{fam}[{','.join(str(int(ix[k])) for ix in self.col_index[fam])}]"

    def row_name(self, i: int) -> str:
        """E.g. ``"transformer_limit[0,5]"``: family and Problem indices of row ``i``."""
        fam = self.row_family(i)
        k = i - self.row_families[fam].start
        return f"{fam}[{','.join(str(int(ix[k])) for ix in self.row_index[fam])}]"

    def values(self, x: np.ndarray, family: str) -> np.ndarray:
        """The slice of a column vector ``x`` belonging to ``family``."""
        return x[self.col_families[family]]

    def to_highs_lp(self) -> highspy.HighsLp:
        """The model as a ``highspy.HighsLp`` (for inspection or ``writeModel``).

        ``solve_lean`` does not use it: setting the integer arrays of a ``HighsLp`` from numpy
        is ~6x slower than the array overload of ``Highs.passModel`` at this size.
        """
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.n_cols, self.n_rows
        lp.col_cost_, lp.col_lower_, lp.col_upper_ = self.col_cost, self.col_lower, self.col_upper
        lp.row_lower_, lp.row_upper_ = self.row_lower, self.row_upper
        m = lp.a_matrix_
        m.format_ = highspy.MatrixFormat.kColwise
        m.num_col_, m.num_row_ = self.n_cols, self.n_rows
        m.start_, m.index_, m.value_ = self.a_start, self.a_index, self.a_value
        if self.is_mip:
            lp.integrality_ = [highspy.HighsVarType(int(v)) for v in self.integrality]
        return lp


def _family_of(families: dict[str, slice], i: int, what: str) -> str:
    for name, sl in families.items():
        if sl.start <= i < sl.stop:
            return name
    raise IndexError(f"{what} {i} is outside the model")


def build_lean(problem: Problem, *, relax_integrality: bool = False) -> LeanModel:
    """Build the day-ahead model of ``models/day_ahead.md`` as sparse arrays.

    The families in the order of their columns and rows; each is the Pyomo model's function of
    the same name. ``relax_integrality=True`` gives the LP relaxation (``ev_on``, ``battery_mode``
    and ``ev_v2g_mode`` continuous in [0, 1]), e.g. for bounds or decomposition.
    """
    t0 = time.perf_counter()
    p = problem
    s = fam.define_sets(p)
    b = LeanBuilder(relax_integrality)
    fam.define_ev_power(b, s)
    fam.define_ev_energy(b, s, p)
    fam.define_v2g(b, s, p)
    fam.define_stations(b, s, p)
    fam.define_transformer(b, s, p)
    fam.define_feeders(b, s, p)
    fam.define_batteries(b, s, p)
    fam.define_dr_events(b, s, p)
    fam.define_ev_ramp(b, s, p)
    fam.define_storage_export(b, s, p)
    fam.define_demand_charge(b, s, p)
    fam.define_grid_limits(b, s, p)
    objective_constant = fam.define_objective(b, s, p)
    lean_sites.define_swap_stations(b, s.T, s.dt, p)
    lean_sites.define_fast_charging(b, s.T, s.dt, p)
    lean_phases.define_phase_limits(b, s, p)
    a = b.finish()
    return LeanModel(
        n_cols=b.cols.size, n_rows=b.rows.size,
        col_cost=a.col_cost, col_lower=a.col_lower, col_upper=a.col_upper,
        row_lower=a.row_lower, row_upper=a.row_upper,
        a_start=a.a_start, a_index=a.a_index, a_value=a.a_value,
        integrality=a.integrality,
        col_families=b.cols.families, row_families=b.rows.families,
        col_index=b.cols.index, row_index=b.rows.index,
        relax_integrality=relax_integrality,
        objective_constant=objective_constant,
        build_seconds=time.perf_counter() - t0,
        shape=dict(E=s.E, T=s.T, N=s.N, F=s.F, S=s.S, B=s.B, K=s.K),
    )
