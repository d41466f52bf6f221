"""Forecasts feeding the planning problem: PV AC power per slot."""

from vpp_sched.forecast.pv import annual_yield_kwh_per_kwp, pv_ac_power_kw, read_weather_csv

__all__ = ["annual_yield_kwh_per_kwp", "pv_ac_power_kw", "read_weather_csv"]
