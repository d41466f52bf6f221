"""Forecasts feeding the planning problem: PV AC power per slot."""

from vpp_sched.lazy import lazy_exports

# Imported on first use (PEP 562): importing a sibling module must not import this one's
# heavy dependencies.
_EXPORTS = {
    "annual_yield_kwh_per_kwp": "vpp_sched.forecast.pv",
    "pv_ac_power_kw": "vpp_sched.forecast.pv",
    "read_weather_csv": "vpp_sched.scenario.weather",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
