"""Package data and time helpers shared by the synthetic scenario generators.

Times are integer minutes after the horizon start, written as ISO 8601 with the start's UTC
offset; local clock times use the start's wall clock (a fixed offset, true for China).
"""

from __future__ import annotations

import datetime as dt
from importlib.resources import files

from vpp_sched.errors import ArgumentError

import numpy as np
import pandas as pd


def data_bytes(name: str) -> bytes:
    """The bytes of ``vpp_sched/data/<name>`` (SimBench and ElaadNL statistics, see its README)."""
    return (files("vpp_sched") / "data" / name).read_bytes()


def parse_start(start: str | dt.datetime) -> dt.datetime:
    """A timezone-aware horizon start from an ISO 8601 string or datetime."""
    t = start if isinstance(start, dt.datetime) else dt.datetime.fromisoformat(str(start))
    if t.utcoffset() is None:
        raise ArgumentError(f"start {t.isoformat()} needs a UTC offset, e.g. 2026-11-27T12:00:00+08:00")
    return t


def iso_times(start: dt.datetime, minutes: np.ndarray) -> np.ndarray:
    """ISO 8601 strings with offset for integer minutes after ``start``.

    Formats each distinct minute once (a horizon has few), so 100,000 times cost milliseconds.
    """
    uniq, inverse = np.unique(np.asarray(minutes, dtype=np.int64), return_inverse=True)
    utc = start.astimezone(dt.UTC)
    text = [(utc + dt.timedelta(minutes=int(m))).astimezone(start.tzinfo).isoformat() for m in uniq]
    return np.asarray(text, dtype=object)[inverse]


def minutes_after(start: dt.datetime, times) -> np.ndarray:
    """Whole minutes (floored) from ``start`` to tz-aware ``times`` (ISO strings or timestamps)."""
    stamps = pd.to_datetime(times, utc=True)
    return ((stamps - pd.Timestamp(start)) // pd.Timedelta(minutes=1)).to_numpy(dtype=np.int64)


def clock_minute(start: dt.datetime, minutes: np.ndarray) -> np.ndarray:
    """Local minute of day (0..1439) of minutes after ``start``, fixed offset assumed."""
    return (start.hour * 60 + start.minute + np.asarray(minutes)) % 1440

