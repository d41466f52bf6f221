"""PV forecast layer: physics sanity on a clear November day at Zezhou, Shanxi, and the CSV reader."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pvlib
import pytest

from vpp_sched.scenario.config import PVConfig, Site
from vpp_sched.errors import InputError
from vpp_sched.forecast.pv import (
    DEFAULT_TEMP_AIR_C,
    ac_power_w,
    annual_yield_kwh_per_kwp,
    clear_sky,
    dc_power_w,
    inverter_kw,
    pv_ac_power_kw,
    slot_midpoints,
)
from vpp_sched.scenario.weather import read_weather_csv

TZ = "Asia/Shanghai"
SITE = Site(latitude=35.49, longitude=112.85, altitude_m=700, timezone=TZ)
PV = PVConfig(capacity_kwp=200, tilt_deg=25, azimuth_deg=180)
DT_H = 0.25
SLOTS = pd.date_range("2026-11-27 00:00", periods=96, freq="15min", tz=TZ)


@pytest.fixture(scope="module")
def clear_day_kw() -> pd.Series:
    return pv_ac_power_kw(SITE, PV, SLOTS, DT_H)


@pytest.fixture(scope="module")
def sun_times() -> pd.Series:
    day = pd.DatetimeIndex([SLOTS[0]])
    return pvlib.solarposition.sun_rise_set_transit_spa(day, SITE.latitude, SITE.longitude).iloc[0]


def test_sun_times_match_hand_values(sun_times):
    # Longitude 112.85 E is 28.6 min of clock behind the UTC+8 meridian (120 E); the equation
    # of time in late November is about +12.5 min (sun fast), so noon is near 12:16, not 12:30.
    assert abs(sun_times["transit"] - SLOTS[0].replace(hour=12, minute=16)) < pd.Timedelta("5min")
    assert abs(sun_times["sunrise"] - SLOTS[0].replace(hour=7, minute=16)) < pd.Timedelta("10min")
    assert abs(sun_times["sunset"] - SLOTS[0].replace(hour=17, minute=16)) < pd.Timedelta("10min")


def test_zero_at_night_and_positive_in_daylight(clear_day_kw, sun_times):
    assert (clear_day_kw >= 0).all()
    ends = SLOTS + pd.Timedelta(hours=DT_H)
    night = (ends <= sun_times["sunrise"]) | (SLOTS >= sun_times["sunset"])
    assert night.sum() > 50  # ~14 h of night in late November
    assert (clear_day_kw[night] == 0).all()
    day = (SLOTS >= sun_times["sunrise"] + pd.Timedelta("30min")) & (ends <= sun_times["sunset"] - pd.Timedelta("30min"))
    assert (clear_day_kw[day] > 1.0).all()


def test_peak_near_solar_noon(clear_day_kw, sun_times):
    peak_mid = clear_day_kw.idxmax() + pd.Timedelta(hours=DT_H / 2)
    assert abs(peak_mid - sun_times["transit"]) <= pd.Timedelta("45min")
    # Instantaneous power (a slot of ~0 length) mirrors about solar noon on a clear day; an
    # azimuth or time-zone slip would skew it.
    pair = pd.DatetimeIndex([sun_times["transit"] - pd.Timedelta("3h"), sun_times["transit"] + pd.Timedelta("3h")])
    before, after = pv_ac_power_kw(SITE, PV, pair, 1e-9)
    assert before == pytest.approx(after, rel=0.02)


def test_peak_plausible_and_under_inverter_rating(clear_day_kw):
    # Noon elevation 90 - 35.5 - 21.2 = 33.3 deg; a 25 deg south tilt sees the beam at ~32 deg
    # incidence: POA ~ 800 W/m^2 beam*cos + ~90 diffuse ~ 850 W/m^2. 200 kWp * 0.85 * (1 - 14 %)
    # * ~0.98 (cell ~30 C) * ~0.96 inverter ~ 135 kW AC. Allow a wide band around it.
    assert 110.0 <= clear_day_kw.max() <= 190.0
    assert clear_day_kw.max() <= inverter_kw(PV) + 1e-9
    # Daily energy: ~5.5 peak-sun-hours on the tilted plane * 200 kWp * ~0.82 ~ 900 kWh.
    assert 650.0 <= clear_day_kw.sum() * DT_H <= 1150.0


def test_dc_and_ac_hand_values():
    # SAPM open rack glass/polymer at 1000 W/m^2 and 1 m/s: module = Ta + 1000 * exp(-3.56 - 0.075),
    # cell = module + 3 C. Pick Ta so the cell sits at 25 C: DC = nameplate * (1 - 14 % losses).
    pv = PVConfig(capacity_kwp=100.0)
    temp_air_c = 25.0 - 1000.0 * np.exp(-3.56 - 0.075 * 1.0) - 3.0
    pdc_w = dc_power_w(pv, np.array([1000.0]), np.array([temp_air_c]), np.array([1.0]))
    assert pdc_w[0] == pytest.approx(86_000.0, rel=1e-9)
    # PVWatts inverter: rating 100/1.1 kW, DC limit = rating / 0.96, zeta = pdc / DC limit.
    zeta = 86_000.0 / (100_000.0 / 1.1 / 0.96)
    eta = 0.96 / 0.9637 * (-0.0162 * zeta - 0.0059 / zeta + 0.9858)
    assert ac_power_w(pv, pdc_w)[0] == pytest.approx(86_000.0 * eta, rel=1e-9)
    assert 82_000.0 < 86_000.0 * eta < 83_000.0  # ~96 % efficient, below the 90.9 kW rating


def test_inverter_clips_at_its_rating():
    small = PV.model_copy(update={"inverter_kw": 80.0})
    p = pv_ac_power_kw(SITE, small, SLOTS, DT_H)
    assert p.max() == pytest.approx(80.0)
    assert (p <= 80.0 + 1e-9).all()
    assert (p >= 80.0 - 1e-6).sum() >= 8  # clipped through the middle of the day


def test_orientation_convention(clear_day_kw):
    # 180 = south: a north-facing array gets much less in November, an east-facing one peaks early.
    north = pv_ac_power_kw(SITE, PV.model_copy(update={"azimuth_deg": 0.0}), SLOTS, DT_H)
    east = pv_ac_power_kw(SITE, PV.model_copy(update={"azimuth_deg": 90.0}), SLOTS, DT_H)
    assert north.sum() < 0.6 * clear_day_kw.sum()
    assert east.idxmax() < clear_day_kw.idxmax() - pd.Timedelta("1h")


def test_annual_clear_sky_yield_plausible():
    # Clear-sky GHI at 35.5 N and 700 m is ~2000-2200 kWh/m^2/yr (real GHI in southern Shanxi
    # is ~1500 with clouds); a 25 deg south tilt adds ~10 %, and losses (14 %), temperature and
    # inverter (~4 %) leave a performance ratio ~0.8: ~1750-1950 kWh/kWp. Real systems there
    # yield ~1300-1450, so a clear-sky value below 1600 or above 2300 means a broken chain.
    one_kwp = PVConfig(capacity_kwp=1.0, tilt_deg=25, azimuth_deg=180)
    assert 1600.0 <= annual_yield_kwh_per_kwp(SITE, one_kwp, year=2026) <= 2300.0


def test_cloud_factor_scales_output(clear_day_kw):
    half = pv_ac_power_kw(SITE, PV, SLOTS, DT_H, cloud_factor=np.full(len(SLOTS), 0.5))
    ratio = half.sum() / clear_day_kw.sum()
    # A bit above 0.5: cooler cells at half irradiance; the inverter curve barely moves it.
    assert 0.49 <= ratio <= 0.56
    zero = pv_ac_power_kw(SITE, PV, SLOTS, DT_H, cloud_factor=np.zeros(len(SLOTS)))
    assert (zero == 0).all()
    # Per slot, not just on the total: a slot with factor 0 is dark, the rest unchanged.
    mixed = np.ones(len(SLOTS))
    mixed[48] = 0.0
    p = pv_ac_power_kw(SITE, PV, SLOTS, DT_H, cloud_factor=mixed)
    assert p.iloc[48] == 0 and p.drop(SLOTS[48]).equals(clear_day_kw.drop(SLOTS[48]))


def test_argument_errors():
    with pytest.raises(ValueError, match="not both"):
        pv_ac_power_kw(SITE, PV, SLOTS, DT_H, weather=pd.DataFrame(), cloud_factor=np.ones(96))
    with pytest.raises(ValueError, match="95 values for 96 slots"):
        pv_ac_power_kw(SITE, PV, SLOTS, DT_H, cloud_factor=np.ones(95))
    with pytest.raises(ValueError, match="between 0 and 1"):
        pv_ac_power_kw(SITE, PV, SLOTS, DT_H, cloud_factor=np.full(96, 1.2))
    with pytest.raises(ValueError, match="timezone-aware"):
        pv_ac_power_kw(SITE, PV, SLOTS.tz_localize(None), DT_H)
    weather = _clear_sky_weather()
    with pytest.raises(ValueError, match="timezone-aware"):
        pv_ac_power_kw(SITE, PV, SLOTS, DT_H, weather=weather.tz_localize(None))
    with pytest.raises(ValueError, match="1 slot"):
        pv_ac_power_kw(SITE, PV, SLOTS, DT_H, weather=weather.drop(SLOTS[30]))
    with pytest.raises(ValueError, match="temp_air"):
        pv_ac_power_kw(SITE, PV, SLOTS, DT_H, weather=weather.drop(columns="temp_air"))


def test_single_slot_at_noon(clear_day_kw):
    noon = pd.DatetimeIndex([pd.Timestamp("2026-11-27 12:00", tz=TZ)])
    p = pv_ac_power_kw(SITE, PV, noon, DT_H)
    assert list(p.index) == list(noon)
    assert p.iloc[0] == pytest.approx(clear_day_kw[noon[0]], rel=1e-9)
    # Slots in another time zone denote the same instants and give the same power.
    assert pv_ac_power_kw(SITE, PV, noon.tz_convert("UTC"), DT_H).iloc[0] == pytest.approx(p.iloc[0])


def test_hourly_slots(clear_day_kw):
    hourly = pd.date_range("2026-11-27 00:00", periods=24, freq="60min", tz=TZ)
    p = pv_ac_power_kw(SITE, PV, hourly, 1.0)
    assert len(p) == 24 and (p.index == hourly).all()
    assert p.sum() * 1.0 == pytest.approx(clear_day_kw.sum() * DT_H, rel=0.03)
    # Each slot stands for its middle: the 08:00 hour (evaluated at 08:30) is close to the mean
    # of its four quarters while the power ramps steeply; evaluating slot starts would be ~30 % low.
    for hour in (8, 9, 12, 15, 16):
        quarters = clear_day_kw.iloc[4 * hour:4 * hour + 4].mean()
        assert p[hourly[hour]] == pytest.approx(quarters, rel=0.03)
    mid = pd.DatetimeIndex([hourly[8] + pd.Timedelta("30min")])
    assert p[hourly[8]] == pytest.approx(pv_ac_power_kw(SITE, PV, mid, 1e-9).iloc[0], rel=1e-6)


def _clear_sky_weather() -> pd.DataFrame:
    _, irr = clear_sky(SITE, slot_midpoints(SLOTS, DT_H))
    weather = irr.set_axis(SLOTS).copy()
    weather["temp_air"] = DEFAULT_TEMP_AIR_C
    return weather


def test_weather_equal_to_clear_sky_reproduces_it(clear_day_kw):
    p = pv_ac_power_kw(SITE, PV, SLOTS, DT_H, weather=_clear_sky_weather())
    np.testing.assert_allclose(p.to_numpy(), clear_day_kw.to_numpy(), rtol=1e-9, atol=1e-9)
    hot = _clear_sky_weather().assign(temp_air=35.0)
    assert pv_ac_power_kw(SITE, PV, SLOTS, DT_H, weather=hot).max() < clear_day_kw.max()


def _write_weather(path, weather: pd.DataFrame) -> None:
    table = weather.copy()
    # Mix the allowed spellings: with offset, in UTC, and without offset (local time).
    stamps = [s.isoformat() if i % 3 == 0 else s.tz_convert("UTC").isoformat() if i % 3 == 1
              else s.tz_localize(None).isoformat() for i, s in enumerate(SLOTS)]
    table.insert(0, "slot_start", stamps)
    table[["slot_start", "ghi", "dni", "dhi", "temp_air"]].to_csv(path, index=False)


def test_weather_csv_round_trip(tmp_path):
    weather = _clear_sky_weather()
    weather["ghi"] *= 0.7
    weather["dni"] *= 0.6
    weather["temp_air"] = np.linspace(2.0, 14.0, len(SLOTS))
    path = tmp_path / "weather.csv"
    _write_weather(path, weather)
    read = read_weather_csv(path, TZ, SLOTS)
    assert list(read.index) == list(SLOTS)
    pd.testing.assert_frame_equal(read[["ghi", "dni", "dhi", "temp_air"]], weather, check_freq=False,
                                  check_index_type=False, rtol=1e-12)
    from_csv = pv_ac_power_kw(SITE, PV, SLOTS, DT_H, weather=read)
    direct = pv_ac_power_kw(SITE, PV, SLOTS, DT_H, weather=weather)
    np.testing.assert_allclose(from_csv.to_numpy(), direct.to_numpy(), rtol=1e-12)
    assert 0 < from_csv.max() < pv_ac_power_kw(SITE, PV, SLOTS, DT_H).max()


def test_weather_csv_errors_name_file_row_and_field(tmp_path):
    path = tmp_path / "weather.csv"
    _write_weather(path, _clear_sky_weather())
    lines = path.read_text().splitlines()

    no_dhi = tmp_path / "no_dhi.csv"
    pd.read_csv(path).drop(columns="dhi").to_csv(no_dhi, index=False)
    with pytest.raises(InputError) as err:
        read_weather_csv(no_dhi, TZ, SLOTS)
    assert len(err.value.problems) == 1
    assert str(no_dhi) in str(err.value) and "missing column dhi" in str(err.value)

    # Data row 5 is line 6 of the file (line 1 is the header); messages follow vpp_sched.scenario.tables:
    # "<file> row N: <field> <problem>".
    bad = tmp_path / "bad_cells.csv"
    row5 = lines[5].split(",")
    row5[1] = "NaN"
    row9 = lines[9].split(",")
    row9[4] = "warm"
    row12 = lines[12].split(",")
    row12[4] = "283.15"  # Kelvin by mistake
    bad.write_text("\n".join([*lines[:5], ",".join(row5), *lines[6:9], ",".join(row9), *lines[10:12],
                              ",".join(row12), *lines[13:]]) + "\n")
    with pytest.raises(InputError) as err:
        read_weather_csv(bad, TZ, SLOTS, label="stations/weather.csv")
    assert err.value.problems == [
        "stations/weather.csv row 5: ghi 'NaN' is not a number",
        "stations/weather.csv row 9: temp_air 'warm' is not a number",
        "stations/weather.csv row 12: temp_air 283.15 must be at most 70",
    ]

    # Dropping data row 41 (slot 40) and repeating row 3 in its place.
    gap = tmp_path / "gap.csv"
    gap.write_text("\n".join([*lines[:41], lines[3], *lines[42:]]) + "\n")
    with pytest.raises(InputError) as err:
        read_weather_csv(gap, TZ, SLOTS)
    assert err.value.problems == [
        f"{gap} row 41: slot_start {SLOTS[2].isoformat()} appears twice",
        f"{gap}: slot_start missing: 1 slot(s) of the horizon have no row ({SLOTS[40].isoformat()})",
    ]

    # A file at hourly resolution for a 15-min horizon: one summary line, not 72.
    hourly = tmp_path / "hourly.csv"
    hourly.write_text("\n".join([lines[0], *lines[1::4]]) + "\n")
    with pytest.raises(InputError) as err:
        read_weather_csv(hourly, TZ, SLOTS)
    assert len(err.value.problems) == 1 and "72 slot(s)" in err.value.problems[0]


# --- The forecast's assumptions are scenario settings (pv.temp_air_c, wind_speed_m_s, racking_model,
# time_label); the defaults are the values the forecast used before they were settings.

def _pvlib_chain_kw(pv: PVConfig, times: pd.DatetimeIndex) -> np.ndarray:
    """The same PVWatts chain written straight from pvlib's functions, at the given instants."""
    loc = pvlib.location.Location(SITE.latitude, SITE.longitude, tz=TZ, altitude=SITE.altitude_m)
    sol = loc.get_solarposition(times)
    irr = loc.get_clearsky(times, model="ineichen", solar_position=sol)
    poa = pvlib.irradiance.get_total_irradiance(
        pv.tilt_deg, pv.azimuth_deg, sol["apparent_zenith"], sol["azimuth"], irr["dni"], irr["ghi"],
        irr["dhi"], dni_extra=pvlib.irradiance.get_extra_radiation(times), model="haydavies")["poa_global"]
    poa = poa.fillna(0.0).clip(lower=0.0)
    cell = pvlib.temperature.sapm_cell(poa, pv.temp_air_c, pv.wind_speed_m_s,
                                       **pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"][pv.racking_model])
    pdc = pvlib.pvsystem.pvwatts_dc(poa, cell, pv.capacity_kwp * 1000.0, pv.gamma_pdc_per_c) * (1 - pv.losses_pct / 100)
    ac_kw = inverter_kw(pv)
    pac = pvlib.inverter.pvwatts(pdc, ac_kw * 1000.0 / pv.inverter_efficiency, eta_inv_nom=pv.inverter_efficiency)
    return np.clip(np.asarray(pac, dtype=float), 0.0, ac_kw * 1000.0) / 1000.0


def test_default_assumptions_are_the_stated_ones(clear_day_kw):
    stated = PV.model_copy(update={"temp_air_c": 10.0, "wind_speed_m_s": 1.0,
                                   "racking_model": "open_rack_glass_polymer", "time_label": "midpoint"})
    assert (PV.temp_air_c, PV.wind_speed_m_s, PV.racking_model, PV.time_label) == (
        10.0, 1.0, "open_rack_glass_polymer", "midpoint")
    np.testing.assert_array_equal(pv_ac_power_kw(SITE, stated, SLOTS, DT_H).to_numpy(), clear_day_kw.to_numpy())
    np.testing.assert_allclose(clear_day_kw.to_numpy(), _pvlib_chain_kw(PV, slot_midpoints(SLOTS, DT_H)),
                               rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("update", [{"temp_air_c": 30.0}, {"temp_air_c": -20.0}, {"wind_speed_m_s": 6.0},
                                    {"racking_model": "close_mount_glass_glass"},
                                    {"racking_model": "insulated_back_glass_polymer", "temp_air_c": 25.0}])
def test_cell_temperature_settings_change_the_forecast_as_pvlib_says(clear_day_kw, update):
    pv = PV.model_copy(update=update)
    got = pv_ac_power_kw(SITE, pv, SLOTS, DT_H).to_numpy()
    np.testing.assert_allclose(got, _pvlib_chain_kw(pv, slot_midpoints(SLOTS, DT_H)), rtol=1e-9, atol=1e-9)
    noon = int(np.argmax(clear_day_kw.to_numpy()))
    # Hotter cells (warmer air, less wind, a mount that cools worse) give less, colder more.
    cooler = update.get("temp_air_c", 10.0) < 10.0 or update.get("wind_speed_m_s", 1.0) > 1.0
    assert (got[noon] > clear_day_kw.iat[noon] + 0.1) if cooler else (got[noon] < clear_day_kw.iat[noon] - 0.1)


@pytest.mark.parametrize("label, shift_h", [("start", -DT_H / 2), ("end", DT_H / 2)])
def test_time_label_moves_the_instant_that_stands_for_the_slot(clear_day_kw, label, shift_h):
    got = pv_ac_power_kw(SITE, PV.model_copy(update={"time_label": label}), SLOTS, DT_H)
    assert list(got.index) == list(SLOTS)
    # A slot labelled at its start sees the sun of the midpoint-labelled slot half a slot earlier.
    moved = pv_ac_power_kw(SITE, PV, SLOTS + pd.Timedelta(hours=shift_h), DT_H).to_numpy()
    np.testing.assert_allclose(got.to_numpy(), moved, rtol=1e-9, atol=1e-9)
    morning = (SLOTS.hour >= 8) & (SLOTS.hour < 10)   # rising sun: start < midpoint < end
    assert ((got[morning] < clear_day_kw[morning]) if label == "start" else (got[morning] > clear_day_kw[morning])).all()


def test_wind_setting_fills_a_weather_table_without_wind(tmp_path):
    path = tmp_path / "weather.csv"
    _write_weather(path, _clear_sky_weather())   # no wind_speed column
    read = read_weather_csv(path, TZ, SLOTS)
    assert "wind_speed" not in read.columns
    calm = pv_ac_power_kw(SITE, PV, SLOTS, DT_H, weather=read)
    windy = pv_ac_power_kw(SITE, PV.model_copy(update={"wind_speed_m_s": 8.0}), SLOTS, DT_H, weather=read)
    with_column = pv_ac_power_kw(SITE, PV, SLOTS, DT_H, weather=read.assign(wind_speed=8.0))
    np.testing.assert_allclose(windy.to_numpy(), with_column.to_numpy(), rtol=1e-12)
    assert windy.max() > calm.max() + 0.1
    # The weather table's own temperature wins over pv.temp_air_c.
    hot_setting = pv_ac_power_kw(SITE, PV.model_copy(update={"temp_air_c": 40.0}), SLOTS, DT_H, weather=read)
    np.testing.assert_array_equal(hot_setting.to_numpy(), calm.to_numpy())


@pytest.mark.parametrize("field, value", [("temp_air_c", 61.0), ("temp_air_c", -51.0), ("wind_speed_m_s", -0.1),
                                          ("wind_speed_m_s", 76.0), ("racking_model", "roof"),
                                          ("time_label", "middle")])
def test_assumption_settings_are_validated(field, value):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=field):
        PVConfig(capacity_kwp=200, **{field: value})


def test_assumption_settings_are_in_the_scenario_json_schema():
    from vpp_sched.scenario.config import scenario_json_schema

    props = scenario_json_schema()["$defs"]["PVConfig"]["properties"]
    assert (props["temp_air_c"]["default"], props["temp_air_c"]["minimum"], props["temp_air_c"]["maximum"]) == (10.0, -50, 60)
    assert (props["wind_speed_m_s"]["default"], props["wind_speed_m_s"]["minimum"]) == (1.0, 0)
    assert props["racking_model"]["default"] == "open_rack_glass_polymer"
    assert set(props["racking_model"]["enum"]) == set(pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"])
    assert props["time_label"]["enum"] == ["midpoint", "start", "end"]
