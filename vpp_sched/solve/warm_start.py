"""A re-plan's relaxation started from the previous plan's optimal basis (rolling re-plans).

A replay re-plans the rest of the day many times (``vpp_sched/studies/replay.py``); each window
problem is the previous one less its first slots, with a few EVs, energies, loads and events
changed. Its LP relaxation (step 1 of :mod:`vpp_sched.solve.lp_rounding`, about two thirds of a
re-plan's time) is nearly the previous one, so it starts from that one's optimal basis instead of
from the slack basis: :class:`LpStart` keeps the basis keyed by what each column and row *is*
(family, EV / transformer / station / battery / feeder / event, and the slot's absolute time), and
:meth:`LpStart.basis_for` carries it to the new model. Columns and rows the old model did not have
start nonbasic at a bound (columns) or basic (rows, i.e. their slack); the statuses are then
made consistent with the new bounds and the count of basic variables (HiGHS repairs a singular
start). The carried basis depends only on the two models, so the re-plans stay repeatable; the
LP's optimum is the same from any start (its vertex may differ where the LP is degenerate).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import highspy
import numpy as np

from vpp_sched.model.lean import COL_FAMILY_DIMS, ROW_FAMILY_DIMS, LeanModel
from vpp_sched.problem.arrays import Problem

LOWER, BASIC, UPPER, ZERO = 0, 1, 2, 3
_STATUSES = list(highspy.HighsBasisStatus.__members__.values())
_FAMILIES = {name: i for i, name in enumerate(list(COL_FAMILY_DIMS) + list(ROW_FAMILY_DIMS))}



def statuses(status_list) -> np.ndarray:
    """int8 array of a highspy basis' ``col_status``/``row_status`` (``.value`` is 1.5x faster than ``int()``)."""
    return np.array([s.value for s in status_list], dtype=np.int8)


def basis_statuses(values: np.ndarray) -> list:
    """highspy status objects of int8 ``values`` (a list indexed by Python ints: 2x faster than by numpy ints)."""
    return list(map(_STATUSES.__getitem__, np.asarray(values).tolist()))

@dataclass(frozen=True)
class LpStart:
    """An optimal basis of a relaxation, its columns and rows keyed (:func:`keys`)."""

    col_keys: np.ndarray      # [n_cols] int64
    row_keys: np.ndarray      # [n_rows] int64
    col_status: np.ndarray    # [n_cols] int8, HighsBasisStatus values
    row_status: np.ndarray    # [n_rows] int8
    slot0: int = 0            # absolute slot (slot_key) of the first slot of the model it came from

    @classmethod
    def of(cls, model: LeanModel, problem: Problem, h: highspy.Highs) -> LpStart | None:
        """The basis ``h`` holds for ``model`` (of ``problem``), or None without a valid one."""
        b = h.getBasis()
        if not b.valid:
            return None
        cols, rows = keys(model, problem)
        return cls(cols, rows, statuses(b.col_status), statuses(b.row_status), slot_key(problem))

    def age_slots(self, problem: Problem) -> int:
        """Slots from the first slot of the model this basis came from to ``problem``'s first slot."""
        return slot_key(problem) - self.slot0

    def basis_for(self, model: LeanModel, problem: Problem) -> highspy.HighsBasis:
        """This basis carried to ``model`` of ``problem`` (a later window of the same day)."""
        cols, rows = keys(model, problem)
        col = _carried(self.col_keys, self.col_status, cols, LOWER)
        row = _carried(self.row_keys, self.row_status, rows, BASIC)
        col = _at_finite_bound(col, model.col_lower, model.col_upper)
        row = _at_finite_bound(row, model.row_lower, model.row_upper)
        _balance(col, row, model)
        basis = highspy.HighsBasis()
        basis.col_status = basis_statuses(col)
        basis.row_status = basis_statuses(row)
        basis.valid = True
        return basis


def slot_key(problem: Problem) -> int:
    """The absolute number of ``problem``'s first slot (slots since the epoch)."""
    return int(round(problem.slots[0].timestamp() / (problem.dt_h * 3600.0)))


def keys(model: LeanModel, problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """int64 key of every column and row: family, entity and absolute slot, the same in any
    window of the day (events by id; other entities keep their index in a window problem)."""
    slot0 = slot_key(problem)
    event_code = np.array([zlib.crc32(str(k).encode()) & 0xFFFFFF for k in problem.event_ids], dtype=np.int64)

    def of(families: dict[str, slice], index: dict, dims: dict, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.int64)
        for name, span in families.items():
            if span.stop <= span.start:
                continue
            # bits 56-62 the family, 32-55 its first entity (EV, transformer, ...; an event by its id),
            # 24-31 a further small index (e.g. a month), 0-23 the absolute slot
            code = np.full(span.stop - span.start, _FAMILIES[name] << 56, dtype=np.int64)
            entities = 0
            for dim, ix in zip(dims[name], index[name]):
                ix = np.asarray(ix, dtype=np.int64)
                if dim == "t":
                    code += (ix + slot0) & 0xFFFFFF
                    continue
                value = event_code[ix] if dim == "k" else ix
                code += ((value & 0xFFFFFF) << 32) if entities == 0 else ((value & 0xFF) << 24)
                entities += 1
            out[span] = code
        return out

    return (of(model.col_families, model.col_index, COL_FAMILY_DIMS, model.n_cols),
            of(model.row_families, model.row_index, ROW_FAMILY_DIMS, model.n_rows))


def _carried(old_keys: np.ndarray, old_status: np.ndarray, new_keys: np.ndarray, default: int) -> np.ndarray:
    """The old status of each new key, ``default`` where the old model had no such column or row."""
    out = np.full(len(new_keys), default, dtype=np.int8)
    if not len(old_keys):
        return out
    order = np.argsort(old_keys, kind="stable")
    ordered = old_keys[order]
    pos = np.minimum(np.searchsorted(ordered, new_keys), len(order) - 1)
    found = ordered[pos] == new_keys
    out[found] = old_status[order[pos[found]]]
    return out


def _at_finite_bound(status: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Nonbasic statuses moved to a bound that is finite under the new bounds (free: zero)."""
    inf = highspy.kHighsInf
    lo, up = np.asarray(lower) > -inf, np.asarray(upper) < inf
    out = status.copy()
    nonbasic = out != BASIC
    out[nonbasic & (out == LOWER) & ~lo] = UPPER
    out[nonbasic & (out == UPPER) & ~up] = LOWER
    out[nonbasic & (out == LOWER) & ~lo] = ZERO              # free both ways
    out[nonbasic & (out == ZERO) & lo] = LOWER               # a bound where there was none
    out[nonbasic & (out == ZERO) & ~lo & up] = UPPER
    out[nonbasic & (out == 4)] = np.where(lo, LOWER, np.where(up, UPPER, ZERO))[nonbasic & (out == 4)]
    return out


def _balance(col: np.ndarray, row: np.ndarray, model: LeanModel) -> None:
    """As many basic variables as rows: extra basic row slacks made nonbasic (last first), missing
    ones taken from the nonbasic rows (first first)."""
    extra = int((col == BASIC).sum() + (row == BASIC).sum()) - model.n_rows
    if extra > 0:
        basic_rows = np.flatnonzero(row == BASIC)[::-1][:extra]
        row[basic_rows] = _at_finite_bound(np.full(len(basic_rows), LOWER, np.int8),
                                           model.row_lower[basic_rows], model.row_upper[basic_rows])
        extra -= len(basic_rows)
        if extra > 0:       # still too many: basic columns made nonbasic (last first)
            basic_cols = np.flatnonzero(col == BASIC)[::-1][:extra]
            col[basic_cols] = _at_finite_bound(np.full(len(basic_cols), LOWER, np.int8),
                                               model.col_lower[basic_cols], model.col_upper[basic_cols])
    elif extra < 0:
        row[np.flatnonzero(row != BASIC)[:-extra]] = BASIC
