"""The shanxi-2026 tariff preset: hand-picked slots of each season and holiday, a horizon across a
season boundary, and the errors of bad settings (one line naming the field)."""

from __future__ import annotations

import typing

import pandas as pd
import pytest

from scenario_factory import write_scenario
from vpp_sched.errors import InputError
from vpp_sched.scenario.config import Tariff
from vpp_sched.scenario.load import load_scenario
from vpp_sched.scenario.tariff_presets import PRESETS, SHANXI_2026, preset_prices, slot_periods

TZ = "Asia/Shanghai"
FLAT = 0.5          # [CNY/kWh]
PEAK, VALLEY = FLAT * 1.6, FLAT * 0.45
DEEP, CRITICAL = VALLEY * 0.8, PEAK * 1.2


def price_at(local: str) -> float:
    slot = pd.DatetimeIndex([pd.Timestamp(local, tz=TZ)])
    return float(preset_prices("shanxi-2026", FLAT, slot).iloc[0])


@pytest.mark.parametrize("local, expected", [
    # winter (Dec-Feb): peak 06-08 and 16-23, critical 17-20 inside it, valley 02-05 and 10-15
    ("2026-12-08 06:00", PEAK), ("2026-12-08 07:45", PEAK), ("2026-12-08 08:00", FLAT),
    ("2026-12-08 16:30", PEAK), ("2026-12-08 17:00", CRITICAL), ("2026-12-08 19:45", CRITICAL),
    ("2026-12-08 20:00", PEAK), ("2026-12-08 22:45", PEAK), ("2026-12-08 23:00", FLAT),
    ("2026-01-12 02:00", VALLEY), ("2026-01-12 04:45", VALLEY), ("2026-01-12 05:00", FLAT),
    ("2026-01-12 10:00", VALLEY), ("2026-01-12 14:45", VALLEY), ("2026-01-12 15:00", FLAT),
    ("2026-02-10 01:45", FLAT), ("2026-02-10 09:45", FLAT),
    # summer (Jun-Aug): peak 06-08 and 18-24, critical 18-21, valley 02-05 and 10-15
    ("2026-07-15 06:15", PEAK), ("2026-07-15 17:45", FLAT), ("2026-07-15 18:00", CRITICAL),
    ("2026-07-15 20:45", CRITICAL), ("2026-07-15 21:00", PEAK), ("2026-07-15 23:45", PEAK),
    ("2026-08-03 03:00", VALLEY), ("2026-08-03 10:30", VALLEY), ("2026-08-03 09:45", FLAT),
    # spring (Mar-May): no peak, no critical peak; valley 02-05 and 09-15
    ("2026-04-20 09:00", VALLEY), ("2026-04-20 08:45", FLAT), ("2026-04-20 18:00", FLAT),
    ("2026-04-20 07:00", FLAT), ("2026-04-20 13:30", VALLEY),
    # autumn (Sep-Nov): valley 02-05 and 11-15
    ("2026-11-27 10:45", FLAT), ("2026-11-27 11:00", VALLEY), ("2026-11-27 19:00", FLAT),
    ("2026-09-10 02:30", VALLEY),
    # deep valley 13-15 on the Spring Festival, Labour Day and National Day holidays
    ("2026-10-02 13:30", DEEP), ("2026-10-02 12:45", VALLEY), ("2026-10-02 15:00", FLAT),
    ("2026-05-03 14:45", DEEP), ("2026-02-17 13:00", DEEP), ("2026-02-17 18:00", CRITICAL),
    ("2025-10-06 13:15", DEEP), ("2025-01-29 14:00", DEEP),
    # ... but not on other holidays or on the adjusted working days of those festivals
    ("2026-09-26 13:30", VALLEY),   # Mid-Autumn Festival 2026, not National Day
    ("2026-06-19 13:30", VALLEY),   # Dragon Boat Festival
    ("2026-10-10 13:30", VALLEY),   # adjusted working day of National Day (a Saturday)
    ("2026-01-01 13:30", VALLEY),   # New Year's Day
])
def test_price_of_hand_picked_slots(local, expected):
    assert price_at(local) == pytest.approx(expected, rel=1e-12)


def test_factors_of_the_rule():
    f = SHANXI_2026.factors()
    assert f == pytest.approx({"deep_valley": 0.36, "valley": 0.45, "flat": 1.0, "peak": 1.6, "critical_peak": 1.92})


def test_horizon_across_february_and_march_takes_each_slot_by_its_own_date():
    slots = pd.date_range("2026-02-28 12:00", periods=96, freq="15min", tz=TZ)
    periods = pd.Series(slot_periods(SHANXI_2026, slots), index=slots)
    assert periods[pd.Timestamp("2026-02-28 18:00", tz=TZ)] == "critical_peak"   # winter evening
    assert periods[pd.Timestamp("2026-02-28 22:00", tz=TZ)] == "peak"
    assert periods[pd.Timestamp("2026-03-01 07:00", tz=TZ)] == "flat"            # spring: no morning peak
    assert periods[pd.Timestamp("2026-03-01 09:30", tz=TZ)] == "valley"          # spring valley from 09:00
    assert periods[pd.Timestamp("2026-02-28 14:30", tz=TZ)] == "valley"
    # winter's 09:00-10:00 is flat, spring's valley: the same hour on either side of the boundary
    winter_9 = price_at("2026-02-28 09:30")
    spring_9 = price_at("2026-03-01 09:30")
    assert (winter_9, spring_9) == pytest.approx((FLAT, VALLEY))


def test_a_year_outside_the_holiday_calendar_is_refused():
    slots = pd.date_range("2027-10-01 12:00", periods=4, freq="15min", tz=TZ)
    with pytest.raises(ValueError, match="2027.*2025-2026"):
        slot_periods(SHANXI_2026, slots)


def test_config_literal_lists_the_presets():
    assert set(typing.get_args(Tariff.model_fields["preset"].annotation.__args__[0])) == set(PRESETS)


def test_scenario_with_the_preset(tmp_path):
    folder = write_scenario(tmp_path / "sc", yaml_overrides={
        "tariff": {"preset": "shanxi-2026", "flat_price_cny_per_kwh": FLAT}})
    sc = load_scenario(folder)
    # 2026-11-27 noon to 11-28 noon: autumn; valley 11-15 and 02-05, flat otherwise
    price = sc.price_cny_per_kwh
    assert price[pd.Timestamp("2026-11-27 12:00", tz=TZ)] == pytest.approx(VALLEY)
    assert price[pd.Timestamp("2026-11-27 18:00", tz=TZ)] == pytest.approx(FLAT)
    assert price[pd.Timestamp("2026-11-28 03:00", tz=TZ)] == pytest.approx(VALLEY)
    assert sorted(set(price.round(6))) == pytest.approx([VALLEY, FLAT])


@pytest.mark.parametrize("tariff, expected", [
    ({"preset": "shanxi-2025", "flat_price_cny_per_kwh": 0.5}, "tariff.preset: Input should be 'shanxi-2026'"),
    ({"preset": "shanxi-2026", "flat_price_cny_per_kwh": -0.1}, "tariff.flat_price_cny_per_kwh: Input should be greater"),
    ({"preset": "shanxi-2026"}, "tariff: 'flat_price_cny_per_kwh' goes with 'preset'"),
    ({"preset": "shanxi-2026", "flat_price_cny_per_kwh": 0.5,
      "periods": [{"start": "00:00", "end": "24:00", "price_cny_per_kwh": 0.5}]},
     "tariff: give exactly one of 'periods', 'table' or 'preset' (found 'periods' and 'preset')"),
    ({"periods": [{"start": "00:00", "end": "24:00", "price_cny_per_kwh": 0.5}], "flat_price_cny_per_kwh": 0.5},
     "tariff: 'flat_price_cny_per_kwh' goes with 'preset'"),
])
def test_bad_preset_settings_are_one_line_naming_the_field(tmp_path, tariff, expected):
    folder = write_scenario(tmp_path / "sc", yaml_overrides={"tariff": tariff})
    with pytest.raises(InputError) as err:
        load_scenario(folder)
    assert len(err.value.problems) == 1, err.value.problems
    assert expected in err.value.problems[0]


def test_preset_outside_the_calendar_is_one_line(tmp_path):
    folder = write_scenario(tmp_path / "sc", yaml_overrides={
        "tariff": {"preset": "shanxi-2026", "flat_price_cny_per_kwh": FLAT}}, day_start="2027-11-27T12:00:00+08:00")
    with pytest.raises(InputError) as err:
        load_scenario(folder)
    assert err.value.problems == [err.value.problems[0]] and "tariff.preset: shanxi-2026 needs the holidays of 2027" \
        in err.value.problems[0]
