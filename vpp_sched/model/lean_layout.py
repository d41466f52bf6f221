"""The lean build's bookkeeping: named column and row families, and the CSC assembly.

:class:`LeanBuilder` is what the family functions of :mod:`vpp_sched.model.lean_families` write
into: each family adds its columns (bounds, binary or not) and rows (bounds) under the name of
``models/day_ahead.md``, and its coefficients as ``(row family, rows, column family, columns,
values)`` chunks with positions *within* the families. The positions are resolved to matrix
indices only in :meth:`LeanBuilder.finish`, so a family may name a column family that a later
family adds (``ev_energy`` holds the V2G EVs' ``ev_discharge_kw``), and the matrix is assembled
column-wise (CSC) without ever sorting all triplets.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy

from vpp_sched.errors import ArgumentError, InternalError
import numpy as np
import scipy.sparse as sp

INF = highspy.kHighsInf

#: Index names of each column family, in the order of ``LeanModel.col_index[family]``.
COL_FAMILY_DIMS: dict[str, tuple[str, ...]] = {
    "ev_power_kw": ("e", "t"),
    "ev_on": ("e", "t"),
    "ev_start": ("e", "t"),
    "ev_unmet_kwh": ("e",),
    "ev_discharge_kw": ("e", "t"),
    "ev_soc_kwh": ("e", "t"),
    "ev_v2g_mode": ("e", "t"),
    "pv_curtail_kw": ("s", "t"),
    "battery_charge_kw": ("b", "t"),
    "battery_discharge_kw": ("b", "t"),
    "battery_soc_kwh": ("b", "t"),
    "battery_mode": ("b", "t"),
    "net_load_kw": ("n", "t"),
    "grid_import_kw": ("n", "t"),
    "overload_kw": ("n", "t"),
    "feeder_overload_kw": ("f", "t"),
    "dr_shortfall_kw": ("k", "t"),
    "ev_max_rise_kw": ("n",),
    "new_peak_kw": ("n", "m"),
    "grid_voltage_slack_kw": ("c",),
    "grid_line_slack_kw": ("c",),
    "swap_charge_kw": ("w", "t"),
    "swap_unserved": ("w", "t"),
    "swap_full_packs": ("w", "t"),
    "swap_partial_kwh": ("w", "t"),
    "fast_cap_kw": ("g", "t"),
    "fast_cap_short_kw": ("g", "t"),
    "phase_ev_kw": ("n", "p", "t"),
    "phase_overload_kw": ("n", "p", "t"),
    "unbalance_slack_kw": ("n", "t"),
}

#: Index names of each row family, in the order of ``LeanModel.row_index[family]``.
ROW_FAMILY_DIMS: dict[str, tuple[str, ...]] = {
    "ev_min_power": ("e", "t"),
    "ev_max_power": ("e", "t"),
    "ev_start_up": ("e", "t"),
    "ev_energy": ("e",),
    "ev_soc": ("e", "t"),
    "ev_charge_mode": ("e", "t"),
    "ev_discharge_mode": ("e", "t"),
    "transformer_balance": ("n", "t"),
    "transformer_limit": ("n", "t"),
    "transformer_reverse_limit": ("n", "t"),
    "grid_import": ("n", "t"),
    "feeder_limit": ("f", "t"),
    "battery_soc": ("b", "t"),
    "battery_charge_mode": ("b", "t"),
    "battery_discharge_mode": ("b", "t"),
    "battery_final_soc": ("b",),
    "dr_event_cap": ("k", "t"),
    "ev_rise": ("n", "t"),
    "battery_export": ("b", "t"),
    "ev_export": ("e", "t"),
    "demand_peak": ("n", "t"),
    "grid_voltage": ("c",),
    "grid_line": ("c",),
    "swap_completed": ("w", "t"),
    "swap_energy": ("w", "t"),
    "swap_on_hand": ("w", "t"),
    "swap_bays": ("w", "t"),
    "swap_partial_room": ("w", "t"),
    "fast_wait_cap": ("g", "t"),
    "phase_ev": ("n", "p", "t"),
    "phase_limit": ("n", "p", "t"),
    "phase_unbalance": ("n", "pq", "t"),   # pq: the ordered pair of phases (problem/phases.py PHASE_PAIRS)
}

#: Column families that are binary in the MIP.
BINARY_FAMILIES = ("ev_on", "battery_mode", "ev_v2g_mode")

#: Up to this many triplets a model (a transformer block) is assembled by scipy's C++ conversion
#: in one call: half the time of the chunk-wise counting sort, which the large models keep because
#: it never holds the triplets twice.
SMALL_NNZ = 2_000_000


def grid(n: int, n_slots: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-major indices ``(i, t)`` of an ``n x T`` grid."""
    return (np.repeat(np.arange(n, dtype=np.int32), n_slots),
            np.tile(np.arange(n_slots, dtype=np.int32), n))


class Layout:
    """Allocates consecutive index ranges to named families."""

    def __init__(self) -> None:
        self.size = 0
        self.families: dict[str, slice] = {}
        self.index: dict[str, tuple[np.ndarray, ...]] = {}

    def add(self, name: str, *index: np.ndarray) -> int:
        n = len(index[0])
        self.families[name] = slice(self.size, self.size + n)
        self.index[name] = tuple(np.asarray(ix, dtype=np.int32) for ix in index)
        start = self.size
        self.size += n
        return start

    def count(self, name: str) -> int:
        sl = self.families[name]
        return sl.stop - sl.start


@dataclass
class LeanArrays:
    """What :meth:`LeanBuilder.finish` hands to ``LeanModel``: the matrix and its bounds."""

    col_cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integrality: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    a_start: np.ndarray
    a_index: np.ndarray
    a_value: np.ndarray


class LeanBuilder:
    """Column and row families, their bounds and costs, and coefficient chunks, by family name."""

    def __init__(self, relax_integrality: bool = False) -> None:
        self.relax_integrality = relax_integrality
        self.cols = Layout()
        self.rows = Layout()
        self._col_attrs: dict[str, dict[str, object]] = {}
        self._row_lo: list[np.ndarray] = []
        self._row_up: list[np.ndarray] = []
        # chunks of (row family, rows, column family, columns, values, repeats); a family of None:
        # the positions are already matrix indices
        self._chunks: list[tuple[str, np.ndarray, str, np.ndarray, np.ndarray, bool]] = []

    def add_cols(self, name: str, index: tuple[np.ndarray, ...], *, lower=0.0, upper=INF,
                 binary: bool = False) -> None:
        """A column family with its bounds (scalars or one value per column); cost 0 until
        :meth:`set_cost`. ``binary`` columns are integer unless the build relaxes integrality."""
        self.cols.add(name, *index)
        self._col_attrs[name] = {"lower": lower, "upper": upper, "cost": 0.0, "binary": binary}

    def set_cost(self, name: str, cost) -> None:
        """The objective coefficient of a column family (scalar or one per column) [CNY per unit]."""
        self._col_attrs[name]["cost"] = cost

    def add_rows(self, name: str, index: tuple[np.ndarray, ...], lower, upper) -> None:
        """A row family ``lower <= A x <= upper`` (scalars or one value per row)."""
        self.rows.add(name, *index)
        n = self.rows.count(name)
        self._row_lo.append(np.broadcast_to(np.asarray(lower, dtype=np.float64), (n,)))
        self._row_up.append(np.broadcast_to(np.asarray(upper, dtype=np.float64), (n,)))

    def coef(self, row_family: str, r: np.ndarray, col_family: str, c: np.ndarray, value,
             repeats: bool = False) -> None:
        """Coefficients ``value`` at rows ``r`` of ``row_family`` and columns ``c`` of ``col_family``
        (positions within the families). ``repeats``: the chunk holds a column more than once."""
        r, c = np.asarray(r), np.asarray(c)
        v = np.broadcast_to(np.asarray(value, dtype=np.float64), r.shape)
        # Resolved now where both families are laid out (all but a few chunks), so the int64 local
        # positions are freed at once and only int32 indices are held until the assembly.
        if row_family in self.rows.families:
            r, row_family = np.asarray(self.rows.families[row_family].start + r, dtype=np.int32), None
        if col_family in self.cols.families:
            c, col_family = np.asarray(self.cols.families[col_family].start + c, dtype=np.int32), None
        self._chunks.append((row_family, r, col_family, c, v, repeats))

    def finish(self) -> LeanArrays:
        """Resolve the remaining chunks to matrix indices, assemble the CSC matrix (consumes the chunks)."""
        n_cols = self.cols.size
        cost, lower, upper, integrality = self._column_arrays()
        trip_r, trip_c, trip_v, repeats = [], [], [], []
        while self._chunks:     # popped, so each chunk's local arrays are freed once resolved
            row_family, r, col_family, c, v, rep = self._chunks.pop(0)
            if row_family is not None:
                r = np.asarray(self.rows.families[row_family].start + r, dtype=np.int32)
            if col_family is not None:
                c = np.asarray(self.cols.families[col_family].start + c, dtype=np.int32)
            trip_r.append(r)
            trip_c.append(c)
            trip_v.append(v)
            repeats.append(rep)
        a_start, a_index, a_value = triplets_to_csc(trip_r, trip_c, trip_v, n_cols, repeats)
        cat = lambda parts: np.ascontiguousarray(np.concatenate(parts)) if parts else np.zeros(0)  # noqa: E731
        return LeanArrays(col_cost=cost, col_lower=lower, col_upper=upper, integrality=integrality,
                          row_lower=cat(self._row_lo), row_upper=cat(self._row_up),
                          a_start=a_start, a_index=a_index, a_value=a_value)

    def _column_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        n_cols = self.cols.size
        cost, lower = np.zeros(n_cols), np.zeros(n_cols)
        upper = np.full(n_cols, INF)
        integrality = np.zeros(n_cols, dtype=np.int32)
        for name, attrs in self._col_attrs.items():
            sl = self.cols.families[name]
            cost[sl], lower[sl], upper[sl] = attrs["cost"], attrs["lower"], attrs["upper"]
            if attrs["binary"] and not self.relax_integrality:
                integrality[sl] = 1
        return cost, lower, upper, integrality


# ------------------------------------------------------------------------------------------
# CSC assembly
# ------------------------------------------------------------------------------------------
def triplets_to_csc(rows: list[np.ndarray], cols: list[np.ndarray], vals: list[np.ndarray],
                    n_cols: int, repeats: list[bool]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column-wise arrays (start int32, index int32, value float64) from chunks of triplets.

    A counting sort without concatenating the chunks: count the entries per column, then
    scatter chunk by chunk, each chunk filling the next free positions of its columns (a chunk
    flagged in ``repeats`` holds a column several times, e.g. ``ev_max_rise_kw[n]`` in each
    slot's ``ev_rise`` row or ``net_load_kw[n,t]`` in the ``ev_export`` row of each V2G EV behind
    ``n``). Within a column the entries keep the chunk order, i.e. ascending rows.
    Zero coefficients are dropped. The chunks are consumed (emptied) to free memory early.
    """
    if sum(len(c) for c in cols) <= SMALL_NNZ:
        return _triplets_to_csc_small(rows, cols, vals, n_cols)
    counts = np.zeros(n_cols, dtype=np.int64)
    for k, (c, v) in enumerate(zip(cols, vals)):
        if not np.all(v):
            keep = v != 0.0
            rows[k], cols[k], vals[k] = rows[k][keep], c[keep], v[keep]
        if repeats[k]:
            np.add.at(counts, cols[k], 1)
        else:
            counts[cols[k]] += 1      # faster, but counts a column once per chunk
    start = np.zeros(n_cols + 1, dtype=np.int64)
    np.cumsum(counts, out=start[1:])
    nnz = int(start[-1])
    if nnz > np.iinfo(np.int32).max:
        raise ArgumentError(f"model has {nnz} nonzeros, more than HiGHS' 32-bit index allows")
    index = np.empty(nnz, dtype=np.int32)
    value = np.empty(nnz, dtype=np.float64)
    nxt = start[:-1].copy()
    k_chunk = 0
    while cols:
        r, c, v, repeated = rows.pop(0), cols.pop(0), vals.pop(0), repeats[k_chunk]
        k_chunk += 1
        if repeated:                  # e.g. ev_max_rise_kw[n] in every slot's ev_rise row
            pos = nxt[c] + _rank_within(c)
            np.add.at(nxt, c, 1)
        else:
            pos = nxt[c]
            nxt[c] += 1
        index[pos] = r
        value[pos] = v
    if not np.array_equal(nxt, start[1:]):
        raise InternalError("lean build: entries lost while assembling the matrix")
    return start.astype(np.int32), index, value


def _rank_within(c: np.ndarray) -> np.ndarray:
    """For each entry, how many earlier entries of the chunk have the same column."""
    order = np.argsort(c, kind="stable")
    sorted_c = c[order]
    first = np.ones(len(c), dtype=bool)
    first[1:] = sorted_c[1:] != sorted_c[:-1]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(c)), 0))
    rank = np.empty(len(c), dtype=np.int64)
    rank[order] = np.arange(len(c)) - group_start
    return rank


def _triplets_to_csc_small(rows: list[np.ndarray], cols: list[np.ndarray], vals: list[np.ndarray],
                           n_cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`triplets_to_csc` for small models: the same arrays (entries of a column in chunk
    order, zeros dropped), by scipy's stable COO -> CSC conversion."""
    r, c = np.concatenate(rows or [np.zeros(0, np.int32)]), np.concatenate(cols or [np.zeros(0, np.int32)])
    v = np.concatenate(vals or [np.zeros(0)])
    keep = v != 0.0
    if not keep.all():
        r, c, v = r[keep], c[keep], v[keep]
    n_rows = int(r.max()) + 1 if len(r) else 0
    a = sp.csc_matrix((v, (r, c)), shape=(n_rows, n_cols))
    if a.nnz != len(v):                     # duplicates were summed: a bug in a family
        raise InternalError("lean build: duplicate (row, column) entries in one family")
    rows.clear(), cols.clear(), vals.clear()
    return a.indptr.astype(np.int32), a.indices.astype(np.int32), a.data.astype(np.float64, copy=False)
