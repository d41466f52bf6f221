"""Synthetic base load: SimBench low-voltage benchmark profiles (``rural1``, ``semiurb4``, ``urban6``)
placed on the horizon's dates and scaled to each transformer's peak."""

from __future__ import annotations

import datetime as dt
import gzip
import io
from functools import lru_cache

import numpy as np
import pandas as pd

from vpp_sched.errors import ArgumentError
from vpp_sched.scenario.synthetic_common import data_bytes, iso_times, parse_start

GRIDS = ("rural1", "semiurb4", "urban6")
SIMBENCH_SLOTS = 35_136  # 366 days x 96 slots of 2016


@lru_cache(maxsize=1)
def _simbench_kw() -> np.ndarray:
    """SimBench base load of 2016 [35136, 3] in kW, columns in ``GRIDS`` order (read-only)."""
    table = pd.read_csv(io.BytesIO(gzip.decompress(data_bytes("simbench_base_load_kw.csv.gz"))))
    values = table[list(GRIDS)].to_numpy(dtype=float)
    values.flags.writeable = False
    return values



def simbench_date(day: dt.date) -> dt.date:
    """The 2016 day with the weekday of ``day`` nearest its day of year (at most 3 days away).

    Near the year's ends the nearest same weekday may fall outside 2016: then the one a week
    later (or earlier) inside 2016 is used, so the weekday always matches.
    """
    same = dt.date(2016, 1, 1) + dt.timedelta(days=day.timetuple().tm_yday - 1)
    out = same + dt.timedelta(days=(day.weekday() - same.weekday() + 3) % 7 - 3)
    if out.year < 2016:
        out += dt.timedelta(days=7)
    elif out.year > 2016:
        out -= dt.timedelta(days=7)
    return out


def _simbench_minute(start: dt.datetime) -> int:
    """Minute of 2016 matching ``start``: :func:`simbench_date`, same local clock time."""
    return (simbench_date(start.date()) - dt.date(2016, 1, 1)).days * 1440 + start.hour * 60 + start.minute


# ---------------------------------------------------------------- base load
def base_load_profile_kw(grid: str, start: str | dt.datetime, slots: int, slot_minutes: int = 15,
                         peak_kw: float | None = None) -> np.ndarray:
    """Base load of a SimBench LV grid over a horizon, on the matching 2016 day.

    The scenario date is mapped to the 2016 date with the same day-of-year, moved by at most
    three days to the same weekday, at the same local clock time. SimBench is German local
    time without a zone; the clock is not shifted because residential evening peaks fall at
    about 19:00-21:00 clock time in both countries (``rural1`` peaks there; ``semiurb4`` and
    ``urban6`` hold a broad daytime plateau with their maximum around noon, see the data
    README). Horizons past 31 December 2016 wrap to 1 January 2016. Slots other than 15 min
    are means of the 15-min values held over each minute, which conserves energy.

    Parameters
    ----------
    grid : one of ``GRIDS``
    start : horizon start, timezone-aware; its wall clock is used
    slots, slot_minutes : number and length of slots [-], [min]
    peak_kw : if given, the profile is scaled so its maximum over the horizon equals this [kW].
        Scaling to the horizon's own maximum (not the annual one) makes the base-load peak of
        the planned day a direct sizing input; the seasonal level is lost, the day's shape kept.

    Returns
    -------
    numpy.ndarray of shape (slots,): mean load per slot [kW]
    """
    if grid not in GRIDS:
        raise ArgumentError(f"unknown SimBench grid {grid!r}; use one of {', '.join(GRIDS)}")
    t0 = parse_start(start)
    need = slots * slot_minutes
    m0 = _simbench_minute(t0)
    idx = np.arange(m0 // 15, -(-(m0 + need) // 15)) % SIMBENCH_SLOTS
    per_minute = np.repeat(_simbench_kw()[idx, GRIDS.index(grid)], 15)[m0 % 15: m0 % 15 + need]
    profile = per_minute.reshape(slots, slot_minutes).mean(axis=1)
    if peak_kw is not None:
        profile = profile * (peak_kw / profile.max())
    return profile


def base_load_matrix_kw(rng: np.random.Generator, grids: list[str], peaks_kw: np.ndarray,
                        start: str | dt.datetime, slots: int, slot_minutes: int = 15,
                        noise: float = 0.03) -> np.ndarray:
    """Base load per transformer [N, slots] in kW: a SimBench shape, noise, scaled to a peak.

    Multiplicative Gaussian noise (``noise`` is its standard deviation [-]) is applied before
    scaling, so each row's maximum still equals ``peaks_kw`` exactly (before rounding).
    """
    shapes = {g: base_load_profile_kw(g, start, slots, slot_minutes, 1.0) for g in set(grids)}
    load = np.stack([shapes[g] for g in grids]) if grids else np.zeros((0, slots))
    load = load * np.clip(1.0 + noise * rng.standard_normal(load.shape), 0.5, 1.5)
    return load / load.max(axis=1, keepdims=True) * np.asarray(peaks_kw, dtype=float)[:, None]


def base_load_table(transformer_ids, load_kw: np.ndarray, start: str | dt.datetime,
                    slot_minutes: int = 15) -> pd.DataFrame:
    """Long table ``slot_start, transformer_id, load_kw`` (per transformer, then slot)."""
    t0 = parse_start(start)
    n, slots = load_kw.shape
    slot_text = iso_times(t0, np.arange(slots) * slot_minutes)
    return pd.DataFrame({"slot_start": np.tile(slot_text, n),
                         "transformer_id": np.repeat(np.asarray(transformer_ids, dtype=object), slots),
                         "load_kw": np.round(load_kw, 2).ravel()})

