"""The table readers' shortcuts (each distinct time parsed once, stripping skipped where no cell
needs it) give what parsing and stripping every cell gives."""

import numpy as np
import pandas as pd

from vpp_sched.scenario.tables import _stripped
from vpp_sched.scenario.timeutil import parse_times


def test_repeated_times_parse_as_each_alone_in_their_rows_order():
    texts = ["2026-12-04T00:15:00", "2026-12-04T00:00:00+08:00", "not a time", "2026-12-04T00:15:00",
             " 2026-12-04T00:00:00+08:00 ", "2026-12-04T00:15:00", "2026-13-01T00:00:00"]
    values = pd.Series(texts, index=np.arange(10, 10 + len(texts)), dtype=object)
    times, bad = parse_times(values, "Asia/Shanghai")
    assert list(times.index) == list(values.index)
    assert bad.tolist() == [False, False, True, False, False, False, True]
    for i, text in enumerate(texts):
        alone, alone_bad = parse_times(pd.Series([text], dtype=object), "Asia/Shanghai")
        assert bool(alone_bad[0]) == bool(bad[i])
        assert (pd.isna(times.iloc[i]) and pd.isna(alone.iloc[0])) or times.iloc[i] == alone.iloc[0]
    assert times.iloc[1] == times.iloc[4] == pd.Timestamp("2026-12-04T00:00:00+08:00")
    assert str(times.dtype) == "datetime64[s, Asia/Shanghai]"


def test_columns_are_stripped_exactly_where_a_cell_has_edge_whitespace():
    clean = pd.Series(["a", "b c", ""], dtype=object)
    assert _stripped(clean) is clean                  # nothing to strip: the column itself
    for messy in (["a ", "b"], ["a", "\tb"], ["a", "b\u00a0"], [" "], ["a", "b\n"]):
        column = pd.Series(messy, dtype=object)
        assert _stripped(column).tolist() == column.str.strip().tolist()
        assert _stripped(column).tolist() != messy


def test_the_edge_space_scan_finds_what_the_regex_finds():
    from vpp_sched.scenario.tables import _EDGE_SPACE, _has_edge_space

    rng = np.random.default_rng(0)
    alphabet = ["a", "7", " ", "\t", "\n", "\x1c", "\x0b", ":", "+", "\u00a0", "\x85", "é"]
    for _ in range(400):
        cells = ["".join(rng.choice(alphabet, size=rng.integers(0, 4))) for _ in range(rng.integers(1, 5))]
        joined = "\x00".join(cells)
        assert _has_edge_space(joined) == (_EDGE_SPACE.search(joined) is not None), cells
    assert not _has_edge_space("") and not _has_edge_space("2026-12-04 00:00:00\x00b c")
