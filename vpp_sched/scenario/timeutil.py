"""Time handling: timezone-aware slot indexes and ISO 8601 parsing with the scenario's zone."""

from __future__ import annotations

import datetime as dt
import re

from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from vpp_sched.errors import quoted

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
    # Each distinct text parsed once (a slot table repeats its 96 times once per transformer).
    codes, uniques = pd.factorize(values.astype(str), sort=False)
    times, bad = _parse_distinct(pd.Series(uniques, dtype=object), tz)
    out = times.iloc[codes]
    out.index = values.index
    return out, bad[codes]


def _parse_distinct(values: pd.Series, tz: str) -> tuple[pd.Series, np.ndarray]:
    """:func:`parse_times` of distinct texts."""
    text = values.str.strip()
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


def local_time_problem(ts: dt.datetime | pd.Timestamp, tz: str) -> str | None:
    """Why the local time ``ts`` (naive) names no single instant in ``tz``, or ``None`` when it does.

    On the day clocks go back, the repeated hour happens twice (ambiguous); on the day they go
    forward, the skipped hour never happens (nonexistent). Either way the time needs its offset.
    """
    if ts.tzinfo is not None:
        return None
    zone = ZoneInfo(tz)
    naive = pd.Timestamp(ts).to_pydatetime().replace(tzinfo=None)
    first, second = (naive.replace(tzinfo=zone, fold=f) for f in (0, 1))
    if first.utcoffset() == second.utcoffset():
        return None
    text = naive.isoformat()
    offsets = [_offset(t.utcoffset()) for t in (first, second)]
    back = first.astimezone(dt.timezone.utc).astimezone(zone).replace(tzinfo=None)
    if back == naive:   # both folds are real instants: the hour is repeated
        return (f"{text} is ambiguous in {tz} (clocks go back, the hour happens twice): write "
                f"{text}{offsets[0]} or {text}{offsets[1]}")
    later = first.astimezone(dt.timezone.utc).astimezone(zone)
    return (f"{text} does not exist in {tz} (clocks go forward, the hour is skipped): write a time "
            f"outside the gap, e.g. {later.isoformat()} (the same instant as {text}{offsets[0]})")


def _offset(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def time_problem(text: str, tz: str) -> str:
    """Why ``text`` (a value :func:`parse_times` could not read) is not a time: ambiguous, skipped or malformed."""
    text = str(text).strip()
    if not _OFFSET.search(text):
        try:
            naive = pd.to_datetime(text, format="ISO8601")
        except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
            naive = None
        if naive is not None and not pd.isna(naive):
            problem = local_time_problem(naive, tz)
            if problem:
                return problem
    return f"{quoted(text)} is not an ISO 8601 time (e.g. 2026-11-27T19:15:00+08:00)"


def dt_hours(slot_minutes: int) -> float:
    """Slot length [h]."""
    return slot_minutes / 60.0
