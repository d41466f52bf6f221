"""Working days of the history baselines: Chinese public holidays, adjusted working days (调休),
the scenario's own calendar, and days that had a DR event themselves."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from scenario_factory import write_scenario
from test_planner import _base, _ev, _trafos, _yaml
from vpp_sched.forecast.baselines import (beijing_baseline_kw, builtin_calendar, jiangsu_baseline_kw, working_days,
                                 working_days_before)
from vpp_sched.scenario.config import DREvent, WorkingCalendar
from vpp_sched.errors import InputError
from vpp_sched.problem.build import build_problem
from vpp_sched.scenario.load import load_scenario

TZ = "Asia/Shanghai"
D = dt.date


def _history(first: str, last: str) -> pd.Series:
    """Hourly history from ``first`` to ``last`` (inclusive): on each day the load is the day of the
    year [kW] plus hour / 100, so a baseline's value names the days it averaged."""
    idx = pd.date_range(first, pd.Timestamp(last) + pd.Timedelta(days=1), freq="60min", tz=TZ, inclusive="left")
    return pd.Series(idx.dayofyear + idx.hour / 100, index=idx, dtype=float)


def _event(start: str, notified: str, baseline: str = "jiangsu_5d", **kw) -> DREvent:
    end = (pd.Timestamp(start) + pd.Timedelta(hours=2)).isoformat()
    return DREvent.model_validate({"event_id": "DR1", "start": start, "end": end, "notified_at": notified,
                                   "target_kw": 5.0, "baseline": baseline, **kw})


def _slots(start: str) -> tuple[pd.DatetimeIndex, np.ndarray]:
    slots = pd.date_range(start, periods=4, freq="60min", tz=TZ)
    return slots, np.array([True, True, False, False])


def _mean_day_of_year(days: list[str]) -> float:
    return float(np.mean([pd.Timestamp(d).dayofyear for d in days]))


def test_shipped_calendar_holds_the_state_council_arrangements():
    holidays, working = builtin_calendar("cn")
    # 2025 (国办发明电〔2024〕12号) and 2026 (State Council notice of 2025-11-04)
    assert {D(2025, 1, 1), D(2025, 1, 28), D(2025, 2, 4), D(2025, 10, 8), D(2026, 2, 15), D(2026, 2, 23),
            D(2026, 6, 19), D(2026, 9, 25), D(2026, 10, 1), D(2026, 10, 7)} <= holidays
    assert working == {D(2025, 1, 26), D(2025, 2, 8), D(2025, 4, 27), D(2025, 9, 28), D(2025, 10, 11),
                       D(2026, 1, 4), D(2026, 2, 14), D(2026, 2, 28), D(2026, 5, 9), D(2026, 9, 20), D(2026, 10, 10)}
    assert all(d.weekday() >= 5 for d in working)  # adjusted working days are weekend days
    assert len(holidays) == 1 + 8 + 3 + 5 + 3 + 8 + 3 + 9 + 3 + 5 + 3 + 3 + 7
    cal = working_days()
    assert D(2026, 10, 9) in cal and D(2026, 10, 10) in cal  # Friday; adjusted working Saturday
    assert D(2026, 10, 1) not in cal and D(2026, 10, 11) not in cal  # National Day; a plain Sunday


def test_jiangsu_skips_a_holiday_inside_the_five_day_window():
    # Dragon Boat Festival, Fri 2026-06-19 (holiday 19-21 June); notice Wed 24 June
    slots, mask = _slots("2026-06-25 18:00")
    event = _event("2026-06-25T18:00:00+08:00", "2026-06-24T12:00:00+08:00")
    history = _history("2026-06-01", "2026-06-24")
    days = ["2026-06-23", "2026-06-22", "2026-06-18", "2026-06-17", "2026-06-16"]  # Fri 19 skipped
    base = jiangsu_baseline_kw(history, event, slots, mask, TZ)
    assert base[0] == pytest.approx(_mean_day_of_year(days) + 0.18)
    # Monday to Friday only (no calendar) would have taken the holiday
    plain = jiangsu_baseline_kw(history, event, slots, mask, TZ, working_days(WorkingCalendar(builtin="none")))
    assert plain[0] == pytest.approx(_mean_day_of_year(["2026-06-23", "2026-06-22", "2026-06-19", "2026-06-18",
                                                        "2026-06-17"]) + 0.18)


def test_adjusted_working_saturday_counts_and_golden_week_is_skipped():
    # notice Sun 2026-10-11: Sat 10 Oct is a working day (调休), 1-7 Oct is National Day
    slots, mask = _slots("2026-10-12 18:00")
    event = _event("2026-10-12T18:00:00+08:00", "2026-10-11T12:00:00+08:00")
    history = _history("2026-09-14", "2026-10-11")
    assert [d.date() for d in working_days_before(history, pd.Timestamp("2026-10-11", tz=TZ), 5)] == [
        D(2026, 9, 29), D(2026, 9, 30), D(2026, 10, 8), D(2026, 10, 9), D(2026, 10, 10)]
    base = jiangsu_baseline_kw(history, event, slots, mask, TZ)
    assert base[1] == pytest.approx(_mean_day_of_year(["2026-10-10", "2026-10-09", "2026-10-08", "2026-09-30",
                                                       "2026-09-29"]) + 0.19)


def test_beijing_takes_its_ten_days_from_working_days_only():
    slots, mask = _slots("2026-10-12 18:00")
    event = _event("2026-10-12T18:00:00+08:00", "2026-10-11T12:00:00+08:00", baseline="beijing_5of10")
    history = _history("2026-09-01", "2026-10-11")
    # the last ten working days skip National Day (1-7 Oct) and Mid-Autumn (25-27 Sep), take Sat 10 Oct
    ten = working_days_before(history, pd.Timestamp("2026-10-11", tz=TZ), 10)
    assert [d.date() for d in ten] == [D(2026, 9, 21), D(2026, 9, 22), D(2026, 9, 23), D(2026, 9, 24),
                                       D(2026, 9, 28), D(2026, 9, 29), D(2026, 9, 30), D(2026, 10, 8),
                                       D(2026, 10, 9), D(2026, 10, 10)]
    assert D(2026, 9, 25) not in {d.date() for d in ten}  # Mid-Autumn Festival (Fri)
    base = beijing_baseline_kw(history, event, slots, mask, TZ)
    # load grows with the day of the year, so the highest five are the five latest working days
    assert base[0] == pytest.approx(_mean_day_of_year([d.isoformat() for d in (
        D(2026, 10, 10), D(2026, 10, 9), D(2026, 10, 8), D(2026, 9, 30), D(2026, 9, 29))]) + 0.18)


def test_scenario_lists_extend_and_override_the_shipped_calendar():
    cal = working_days(WorkingCalendar(holidays=[D(2026, 11, 20)], working_days=[D(2026, 10, 1)]))
    assert D(2026, 11, 20) not in cal          # a local holiday (a Friday)
    assert D(2026, 10, 1) in cal               # the scenario's working day wins over the shipped holiday
    assert D(2026, 10, 2) not in cal
    cal = working_days(WorkingCalendar(holidays=[D(2026, 10, 10)]))
    assert D(2026, 10, 10) not in cal          # the scenario's holiday wins over a shipped working Saturday
    cal = working_days(WorkingCalendar(builtin="none"))
    assert D(2026, 10, 1) in cal and D(2026, 10, 10) not in cal
    with pytest.raises(ValueError, match="both as holiday and as working day"):
        WorkingCalendar(holidays=[D(2026, 11, 20)], working_days=[D(2026, 11, 20)])


# --- through the scenario: calendar in scenario.yaml, dr_event marker in load_history.csv ---------------

START = "2026-11-27T16:00:00+08:00"  # a Friday, as in test_planner_cases


def _scenario(tmp_path, history: pd.DataFrame, **yaml_extra):
    event = {"event_id": "J1", "start": "2026-11-27T18:00:00+08:00", "end": "2026-11-27T20:00:00+08:00",
             "notified_at": "2026-11-26T12:00:00+08:00", "target_kw": 4.0, "baseline": "jiangsu_5d"}
    trafos = _trafos(("T1", 100.0))
    return write_scenario(tmp_path / "sc", yaml_overrides=_yaml(dr_events=[event], load_history="history.csv",
                                                                **yaml_extra),
                          transformers=trafos, evs=pd.DataFrame([_ev(energy=10.0)]), base_load=_base(trafos),
                          extra_files={"history.csv": history})


def _history_table(marked: set[str] = frozenset()) -> pd.DataFrame:
    idx = pd.date_range("2026-11-01", "2026-11-27", freq="60min", tz=TZ, inclusive="left")
    table = pd.DataFrame({"slot_start": [t.isoformat() for t in idx], "scope_id": "T1",
                          "load_kw": idx.dayofyear.astype(float)})
    if marked:
        table["dr_event"] = ["true" if t.date().isoformat() in marked else "false" for t in idx]
    return table


def _baseline(folder) -> float:
    p = build_problem(load_scenario(folder))
    return float(p.event_baseline_kw[0][p.event_slots[0]][0])


def test_history_days_marked_dr_event_are_skipped(tmp_path):
    # notice Thu 26 Nov: Mon-Fri before it are 25, 24, 23, 20, 19 Nov; 24 Nov had an event itself
    folder = _scenario(tmp_path, _history_table({"2026-11-24"}))
    assert _baseline(folder) == pytest.approx(_mean_day_of_year(["2026-11-25", "2026-11-23", "2026-11-20",
                                                                 "2026-11-19", "2026-11-18"]))


def test_calendar_in_scenario_yaml(tmp_path):
    folder = _scenario(tmp_path, _history_table(), calendar={"holidays": ["2026-11-23"],
                                                             "working_days": ["2026-11-22"]})
    # Sun 22 Nov works, Mon 23 Nov is off
    assert _baseline(folder) == pytest.approx(_mean_day_of_year(["2026-11-25", "2026-11-24", "2026-11-22",
                                                                 "2026-11-20", "2026-11-19"]))


def test_bad_calendar_and_marker_are_input_errors(tmp_path):
    folder = _scenario(tmp_path, _history_table(), calendar={"holidays": ["2026-11-23"],
                                                             "working_days": ["2026-11-23"]})
    with pytest.raises(InputError, match="calendar: 2026-11-23 listed both"):
        load_scenario(folder)
    table = _history_table({"2026-11-24"})
    table.loc[5, "dr_event"] = "maybe"
    folder = _scenario(tmp_path / "b", table)
    with pytest.raises(InputError, match=r"history.csv row 6 \(scope_id=T1\): dr_event 'maybe' is not true/false"):
        load_scenario(folder)
