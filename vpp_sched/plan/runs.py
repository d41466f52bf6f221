"""Factorizing a plan column whose values come in runs (``ev_schedule``: each EV's slots in a row)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def factorize_runs(values) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(values)`` (codes by first appearance, -1 for a missing value; ``uniques`` an
    object array) of a column of text, computed on its runs: one comparison per row with the row
    before, and a hash lookup per run instead of per row. The schedule's 4.3 M ``ev_id`` cells at
    100,000 EVs are 100,000 runs: 0.11 s instead of 0.20 s, and the plan factorizes that column when
    it is checked and when it is written. The same codes and uniques for any order of the rows (a
    value in several runs gets the code of its first run)."""
    a = np.asarray(values, dtype=object)
    try:
        changed = np.asarray(a[1:] != a[:-1])
    except (TypeError, ValueError):     # cells that do not compare to a bool (pd.NA): per row
        changed = None
    if len(a) < 2 or changed is None or changed.dtype != np.bool_:
        codes, uniques = pd.factorize(a)
        return codes, np.asarray(uniques, dtype=object)
    start = np.flatnonzero(np.concatenate([[True], changed]))
    run_codes, uniques = pd.factorize(a[start])
    return np.repeat(run_codes, np.diff(np.append(start, len(a)))), np.asarray(uniques, dtype=object)
