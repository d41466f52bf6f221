"""factorize_runs gives pd.factorize's codes and uniques on columns in runs, and on any other order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vpp_sched.plan.runs import factorize_runs


def _same(values) -> None:
    codes, uniques = pd.factorize(values)
    got_codes, got_uniques = factorize_runs(values)
    assert np.array_equal(got_codes, codes)
    assert list(got_uniques) == list(uniques)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_runs_and_shuffled_rows_give_pandas_codes(seed):
    rng = np.random.default_rng(seed)
    ids = np.array([f"EV{i:04d}" for i in rng.permutation(300)], dtype=object)
    rows = np.repeat(ids, rng.integers(1, 9, len(ids)))
    rows[rng.random(len(rows)) < 0.02] = None                          # missing cells: code -1
    _same(pd.Series(rows))
    _same(pd.Series(rng.permutation(rows)))                             # no runs at all
    _same(pd.Series(np.concatenate([rows[:50], rows[:50], rows])))     # values again in later runs


@pytest.mark.parametrize("values", [[], ["a"], [None], ["a", "a"], [np.nan, np.nan, "b"], [3, 3, 1, 3],
                                    ["a", pd.NA, pd.NA, "b", "a"]])
def test_short_missing_and_non_text_columns(values):
    _same(np.asarray(values, dtype=object))


def test_a_string_dtype_column_with_missing_values():
    _same(pd.Series(["b", "b", None, "a", None, "b"], dtype="string"))
