"""Time handling: timezone-aware slot indexes and ISO 8601 parsing with the scenario's zone."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd

# An offset only counts after a clock time, so the "-27" of a bare date is not one.
_OFFSET = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$")


def to_local(ts: dt.datetime | pd.Timestamp, tz: str) -> pd.Timestamp:
    """A timestamp in zone ``tz``; a naive one is taken as local time in ``tz``."""
    ts = pd.Timestamp(ts)
    return ts.tz_localize(tz) if ts.tzinfo is None else ts.tz_convert(tz)


def slot_index(start: dt.datetime, slots: int, slot_minutes: int, tz: str) -> pd.DatetimeIndex:
    """Slot starts of the horizon, in zone ``tz``, fixed frequency."""
    first = to_local(start, tz)
    # Build in UTC so a daylight-saving change never repeats or skips a slot.
    idx = pd.date_range(first.tz_convert("UTC"), periods=slots, freq=f"{slot_minutes}min")
    return idx.tz_convert(tz).as_unit("s")


def parse_times(values: pd.Series, tz: str) -> tuple[pd.Series, np.ndarray]:
    """Parse ISO 8601 strings; those without offset are local time in ``tz``.

    Returns
    -------
    times : Series of tz-aware timestamps in ``tz`` (NaT where unparseable)
    bad : bool array, True where a value could not be parsed
    """
    text = values.astype(str).str.strip()
    has_offset = text.str.contains(_OFFSET, regex=True)
    out = pd.Series(pd.NaT, index=values.index, dtype=f"datetime64[s, {tz}]")
    if has_offset.any():
        aware = pd.to_datetime(text[has_offset], format="ISO8601", utc=True, errors="coerce")
        out[has_offset] = aware.dt.tz_convert(tz).dt.as_unit("s")
    if (~has_offset).any():
        naive = pd.to_datetime(text[~has_offset], format="ISO8601", errors="coerce")
        out[~has_offset] = naive.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").dt.as_unit("s")
    bad = out.isna().to_numpy()
    return out, bad


def dt_hours(slot_minutes: int) -> float:
    """Slot length [h]."""
    return slot_minutes / 60.0
