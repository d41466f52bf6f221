"""Tariff presets: published time-of-use rules turned into a price per slot (``models/tariff.md``).

``tariff: {preset: shanxi-2026, flat_price_cny_per_kwh: 0.6}`` in ``scenario.yaml`` prices every
slot of the horizon by the rule's periods: the flat (平段) price times the factor of the period the
slot falls in. The season and the holiday are taken from each slot's own local date, so a
noon-to-noon horizon across 28 February / 1 March is priced by winter until midnight and by
spring after it.

Shanxi's rule (as transcribed in issue 14 from 晋发改商品发〔2021〕479号 and 晋发改商品发〔2026〕15号;
the documents themselves were not available to check, see ``models/tariff.md``):
peak = flat x 1.6, valley = flat x 0.45, deep valley = valley x 0.8, critical peak = peak x 1.2.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vpp_sched.scenario.holidays import calendar_years, holiday_names

#: The periods of a time-of-use day, from the cheapest to the dearest.
PERIODS = ("deep_valley", "valley", "flat", "peak", "critical_peak")

#: Hours of the day as ``(start, end)`` pairs, end exclusive, ``24`` for midnight [h].
Hours = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Season:
    """The periods of one season's ordinary day; hours not named are flat."""

    name: str
    months: tuple[int, ...]
    peak: Hours
    valley: Hours
    critical_peak: Hours = ()


@dataclass(frozen=True)
class TouRule:
    """A time-of-use rule: the factors of each period relative to the flat price, the seasons, and the
    deep valley of the named public holidays."""

    name: str
    peak_factor: float               # peak / flat [-]
    valley_factor: float             # valley / flat [-]
    deep_valley_of_valley: float     # deep valley / valley [-]
    critical_of_peak: float          # critical peak / peak [-]
    seasons: tuple[Season, ...]
    deep_valley: Hours               # on the holidays below [h]
    deep_valley_holidays: tuple[str, ...]   # festival names as in data/cn_holidays.csv (Chinese part)
    holiday_calendar: str = "cn"

    def factors(self) -> dict[str, float]:
        """Price of each period in units of the flat price [-]."""
        return {"deep_valley": self.valley_factor * self.deep_valley_of_valley, "valley": self.valley_factor,
                "flat": 1.0, "peak": self.peak_factor, "critical_peak": self.peak_factor * self.critical_of_peak}

    def season_of(self, month: int) -> Season:
        return next(s for s in self.seasons if month in s.months)


SHANXI_2026 = TouRule(
    name="shanxi-2026", peak_factor=1.6, valley_factor=0.45, deep_valley_of_valley=0.8, critical_of_peak=1.2,
    seasons=(
        Season("winter", (12, 1, 2), peak=((6, 8), (16, 23)), valley=((2, 5), (10, 15)), critical_peak=((17, 20),)),
        Season("spring", (3, 4, 5), peak=(), valley=((2, 5), (9, 15))),
        Season("summer", (6, 7, 8), peak=((6, 8), (18, 24)), valley=((2, 5), (10, 15)), critical_peak=((18, 21),)),
        Season("autumn", (9, 10, 11), peak=(), valley=((2, 5), (11, 15))),
    ),
    deep_valley=((13, 15),), deep_valley_holidays=("春节", "劳动节", "国庆节"),
)

#: The presets ``tariff.preset`` may name.
PRESETS: dict[str, TouRule] = {SHANXI_2026.name: SHANXI_2026}


def _in_hours(minute: np.ndarray, hours: Hours) -> np.ndarray:
    inside = np.zeros(len(minute), dtype=bool)
    for start, end in hours:
        inside |= (minute >= start * 60) & (minute < end * 60)
    return inside


def deep_valley_days(rule: TouRule, days: list[dt.date]) -> np.ndarray:
    """[D] bool: the days that are holidays of one of the rule's festivals (Spring Festival, ...)."""
    names = holiday_names(rule.holiday_calendar)
    return np.array([any(f in names.get(d, "") for f in rule.deep_valley_holidays) for d in days], dtype=bool)


def slot_periods(rule: TouRule, slots: pd.DatetimeIndex) -> np.ndarray:
    """[T] the period (one of :data:`PERIODS`) of each slot, by its local start time and date.

    Raises ``ValueError`` when a slot's year is not in the holiday calendar: its deep-valley days
    would be unknown.
    """
    missing = sorted(set(slots.year) - calendar_years(rule.holiday_calendar))
    if missing:
        covered = sorted(calendar_years(rule.holiday_calendar))
        raise ValueError(f"{rule.name} needs the holidays of {', '.join(map(str, missing))}; the shipped "
                         f"{rule.holiday_calendar} calendar covers {covered[0]}-{covered[-1]} "
                         f"(vpp_sched/data/{rule.holiday_calendar}_holidays.csv); give the tariff as periods or a table")
    minute = np.asarray(slots.hour * 60 + slots.minute)
    out = np.full(len(slots), "flat", dtype=object)
    holiday = deep_valley_days(rule, [ts.date() for ts in slots])
    for season in rule.seasons:
        here = np.isin(np.asarray(slots.month), season.months)
        # later assignments win: valley, then deep valley inside it, peak, then critical peak inside it
        for period, hours, extra in (("valley", season.valley, True), ("deep_valley", rule.deep_valley, holiday),
                                     ("peak", season.peak, True), ("critical_peak", season.critical_peak, True)):
            out[here & extra & _in_hours(minute, hours)] = period
    return out


def preset_prices(name: str, flat_price_cny_per_kwh: float, slots: pd.DatetimeIndex) -> pd.Series:
    """[T] price of each slot under the preset ``name`` with the given flat price [CNY/kWh].

    ``slots`` are timezone-aware slot starts in the site's local time.
    """
    rule = PRESETS[name]
    factor = rule.factors()
    periods = slot_periods(rule, slots)
    price = flat_price_cny_per_kwh * np.array([factor[p] for p in periods], dtype=float)
    return pd.Series(price, index=slots, name="price_cny_per_kwh")
