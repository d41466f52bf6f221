"""DR baselines: what the scope's load would have been without the event (models/dr_events.md).

Pure functions of a metered load history (``slot_start, scope_id, load_kw``) or of a load
forecast on the horizon. Each returns the baseline on the horizon's slots [kW] (values are
used only in the event's slots).

Working days (:class:`WorkingDays`) are Monday to Friday less public holidays, plus adjusted
working weekend days (调休), less days that had a DR event themselves. The shipped Chinese
calendar (``vpp_sched/data/cn_holidays.csv``) is the State Council's published arrangement.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vpp_sched.scenario.config import DREvent, WorkingCalendar
from vpp_sched.errors import InputError
from vpp_sched.scenario.holidays import calendar_days
from vpp_sched.scenario.timeutil import to_local

PRE_EVENT = pd.Timedelta(minutes=15)


@dataclass(frozen=True)
class WorkingDays:
    """Normal working days: Mon-Fri not in ``holidays``, or in ``working`` (adjusted working weekend
    days), and never in ``skipped`` (days that had a DR event themselves). ``day in calendar``."""

    holidays: frozenset[dt.date] = frozenset()
    working: frozenset[dt.date] = frozenset()
    skipped: frozenset[dt.date] = frozenset()

    def __contains__(self, day: dt.date | pd.Timestamp) -> bool:
        d = day.date() if isinstance(day, dt.datetime) else day  # a Timestamp's local date
        if d in self.skipped:
            return False
        return d in self.working or (d.weekday() < 5 and d not in self.holidays)


@functools.cache
def builtin_calendar(name: str) -> tuple[frozenset[dt.date], frozenset[dt.date]]:
    """``(holidays, adjusted working days)`` of a shipped calendar: ``"cn"`` (China, 2025-2026) or ``"none"``."""
    if name == "none":
        return frozenset(), frozenset()
    rows = calendar_days(name)
    days = {kind: frozenset(r.date for r in rows if r.kind == kind) for kind in ("holiday", "working_day")}
    return days["holiday"], days["working_day"]


def working_days(calendar: WorkingCalendar | None = None, skipped: Iterable[dt.date] = ()) -> WorkingDays:
    """The working days of a scenario's ``calendar`` (default: the shipped Chinese one); its own
    ``holidays`` and ``working_days`` extend the built-in calendar and win over it."""
    calendar = calendar or WorkingCalendar()
    holidays, working = builtin_calendar(calendar.builtin)
    extra_off, extra_on = frozenset(calendar.holidays), frozenset(calendar.working_days)
    return WorkingDays(holidays=(holidays - extra_on) | extra_off, working=(working - extra_off) | extra_on,
                       skipped=frozenset(skipped))


def _scope_rows(history: pd.DataFrame, members: list[str], whole_portfolio: bool) -> pd.DataFrame:
    if whole_portfolio and (history.scope_id == "all").any():
        return history[history.scope_id == "all"]
    return history[history.scope_id.isin(members)]


def scope_history_kw(history: pd.DataFrame, members: list[str], whole_portfolio: bool) -> pd.Series:
    """Metered load of a scope by time [kW]: rows ``scope_id == 'all'`` for the whole portfolio
    when present, else the sum of its members' rows."""
    return _scope_rows(history, members, whole_portfolio).groupby("slot_start").load_kw.sum().sort_index()


def event_days(history: pd.DataFrame, members: list[str], whole_portfolio: bool) -> set[dt.date]:
    """Local dates on which a history row of the scope (its transformers, and ``all`` for the whole
    portfolio) is marked ``dr_event``: those days are no normal days for a baseline."""
    if "dr_event" not in history.columns:
        return set()
    rows = history[history.scope_id.isin(members) | ((history.scope_id == "all") & whole_portfolio)]
    return set(rows.slot_start[rows.dr_event.to_numpy(bool)].dt.date)


def working_days_before(series: pd.Series, day: pd.Timestamp, n: int,
                        calendar: WorkingDays | None = None) -> list[pd.Timestamp]:
    """The ``n`` most recent working days (``calendar``, default: the shipped Chinese one) before
    ``day`` that have history [local dates]."""
    calendar = calendar if calendar is not None else working_days()
    days = pd.DatetimeIndex(series.index.normalize().unique()).sort_values()
    days = [d for d in days if d < day.normalize() and d in calendar]
    return days[-n:]


def same_slots_on(series: pd.Series, days: list[pd.Timestamp], slots: pd.DatetimeIndex) -> np.ndarray:
    """[D, T] history at the same local clock time as each slot, on each day (NaN where missing)."""
    out = np.full((len(days), len(slots)), np.nan)
    clock = slots - slots.normalize()
    for i, d in enumerate(days):
        out[i] = series.reindex(d + clock).to_numpy(dtype=float)
    return out


def jiangsu_baseline_kw(series: pd.Series, event: DREvent, slots: pd.DatetimeIndex, mask: np.ndarray,
                        tz: str, calendar: WorkingDays | None = None) -> np.ndarray:
    """Mean of the same slots over the N most recent working days before the notice (Jiangsu, N=5)."""
    days = working_days_before(series, _notice(event, tz), event.baseline_days, calendar)
    return _mean_of_days(series, days, event.baseline_days, event, slots, mask,
                         f"{event.baseline_days} working days")


def beijing_baseline_kw(series: pd.Series, event: DREvent, slots: pd.DatetimeIndex, mask: np.ndarray,
                        tz: str, calendar: WorkingDays | None = None) -> np.ndarray:
    """Mean of the highest-load X of the last 2X working days, by load in the event window (Beijing, 5 of 10)."""
    keep = event.baseline_days
    days = working_days_before(series, _notice(event, tz), 2 * keep, calendar)
    if len(days) < 2 * keep:
        return _mean_of_days(series, days, 2 * keep, event, slots, mask, f"{2 * keep} working days")
    window = same_slots_on(series, days, slots[mask])
    score = np.nanmean(window, axis=1) if window.size else np.array([])
    ranked = [days[i] for i in np.argsort(-score, kind="stable")[:keep]]
    return _mean_of_days(series, sorted(ranked), keep, event, slots, mask, f"top {keep} of {2 * keep} working days")


def pre_event_baseline_kw(series: pd.Series | None, forecast_kw: np.ndarray, event: DREvent,
                          slots: pd.DatetimeIndex, mask: np.ndarray, tz: str) -> np.ndarray:
    """The mean load in the 15 minutes before control starts, held over the event (real-time response).

    From the metered history when it covers those 15 minutes, else from the forecast on the horizon.
    """
    start = to_local(event.start, tz)
    if series is not None:
        before = series[(series.index >= start - PRE_EVENT) & (series.index < start)]
        if len(before):
            return np.full(len(slots), float(before.mean()))
    inside = (slots >= start - PRE_EVENT) & (slots < start)
    if not inside.any():
        raise InputError([f"scenario.yaml: dr_events ({event.event_id}): baseline pre_event_15min needs load in "
                          "the 15 minutes before the start: give load_history, or start the event after the "
                          "horizon's first slot"])
    return np.full(len(slots), float(forecast_kw[inside].mean()))


def _notice(event: DREvent, tz: str) -> pd.Timestamp:
    return to_local(event.notified_at or event.start, tz)


def _mean_of_days(series, days, needed: int, event, slots, mask, what: str) -> np.ndarray:
    values = same_slots_on(series, days, slots)
    complete = ~np.isnan(values[:, mask]).any(axis=1) if len(days) else np.array([], dtype=bool)
    if len(days) < needed or not complete.all():
        raise InputError([f"load_history: event {event.event_id} ({event.baseline}) needs the event's slots on "
                          f"{what} before {(event.notified_at or event.start).date()}; found "
                          f"{int(complete.sum()) if len(days) else 0} complete day(s) (holidays, weekends other than "
                          "adjusted working days, and days marked dr_event do not count)"])
    return values.mean(axis=0)
