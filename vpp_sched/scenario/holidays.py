"""The shipped public-holiday calendars (``vpp_sched/data/<name>_holidays.csv``), read once.

One row per day: ``date, kind, name`` with ``kind`` ``holiday`` or ``working_day`` (an adjusted
working weekend day, 调休) and ``name`` the festival it belongs to (``春节 Spring Festival``).
The DR baselines (:mod:`vpp_sched.forecast.baselines`) use the kinds; the Shanxi tariff preset
(:mod:`vpp_sched.scenario.tariff_presets`) uses the names of the holidays.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class CalendarDay:
    """One row of a shipped calendar."""

    date: dt.date
    kind: str        # "holiday" or "working_day"
    name: str        # the festival, Chinese and English: "春节 Spring Festival"


@functools.cache
def calendar_days(name: str) -> tuple[CalendarDay, ...]:
    """The rows of the shipped calendar ``name`` (``"cn"``: China, 2025-2026), in file order."""
    text = (resources.files("vpp_sched") / "data" / f"{name}_holidays.csv").read_text(encoding="utf-8")
    return tuple(CalendarDay(dt.date.fromisoformat(r["date"]), r["kind"], r["name"])
                 for r in csv.DictReader(io.StringIO(text)))


def calendar_years(name: str) -> frozenset[int]:
    """The years a shipped calendar covers (those with at least one row) [year]."""
    return frozenset(day.date.year for day in calendar_days(name))


def holiday_names(name: str) -> dict[dt.date, str]:
    """Each public holiday of the calendar ``name`` and its festival's name (adjusted working days left out)."""
    return {day.date: day.name for day in calendar_days(name) if day.kind == "holiday"}
