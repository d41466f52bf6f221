"""Forecasts feeding the planning problem: PV AC power per slot."""

import importlib

# Imported on first use (PEP 562): importing a sibling module must not import this one's
# heavy dependencies.
_EXPORTS = {
    "annual_yield_kwh_per_kwp": "vpp_sched.forecast.pv",
    "pv_ac_power_kw": "vpp_sched.forecast.pv",
    "read_weather_csv": "vpp_sched.scenario.weather",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
