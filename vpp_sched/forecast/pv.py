"""PV AC power forecast per slot with pvlib's PVWatts chain.

Chain: solar position and clear-sky (Ineichen, Linke turbidity from the table bundled with
pvlib, no network) at one instant per slot (``pv.time_label``, the midpoint by default) ->
optional cloud factor or measured/forecast weather -> Hay-Davies transposition -> SAPM cell
temperature (``pv.racking_model``; ``pv.temp_air_c`` and ``pv.wind_speed_m_s`` without weather)
-> PVWatts DC -> flat system losses -> PVWatts inverter. Each step is a small pure function;
:func:`pv_ac_power_kw` composes them. The assumptions are written in ``models/pv_forecast.md``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pvlib

from vpp_sched.errors import ArgumentError
from vpp_sched.scenario.config import PVConfig, Site
from vpp_sched.scenario.weather import IRRADIANCE_COLUMNS, WEATHER_COLUMNS

#: Default ambient temperature without weather (``pv.temp_air_c``) [C]. A mild value: it only
#: moves cell temperature, about -0.37 %/C of output, so a 10 C error costs ~4 %.
DEFAULT_TEMP_AIR_C = PVConfig.model_fields["temp_air_c"].default
#: Where in the slot each ``pv.time_label`` evaluates the sun, as a fraction of the slot [-].
_LABEL_FRACTION = {"start": 0.0, "midpoint": 0.5, "end": 1.0}


def inverter_kw(pv: PVConfig) -> float:
    """AC rating of the inverter; ``capacity_kwp / 1.1`` when not set [kW]."""
    return pv.inverter_kw if pv.inverter_kw is not None else pv.capacity_kwp / 1.1


def slot_times(slots: pd.DatetimeIndex, dt_h: float, label: str = "midpoint") -> pd.DatetimeIndex:
    """The instant of each slot whose sun stands for the slot's mean power (``pv.time_label``)."""
    if slots.tz is None:
        raise ArgumentError("slots must be timezone-aware slot starts")
    return slots + pd.Timedelta(hours=dt_h * _LABEL_FRACTION[label])


def slot_midpoints(slots: pd.DatetimeIndex, dt_h: float) -> pd.DatetimeIndex:
    """Middle of each slot, where one instantaneous value best stands for the slot mean."""
    return slot_times(slots, dt_h, "midpoint")


def clear_sky(site: Site, times: pd.DatetimeIndex) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Solar position and Ineichen clear-sky ``ghi, dni, dhi`` [W/m^2] at ``times``."""
    loc = pvlib.location.Location(site.latitude, site.longitude, tz=site.timezone,
                                  altitude=site.altitude_m)
    solpos = loc.get_solarposition(times)
    # Reuse the position: get_clearsky would otherwise compute it a second time.
    irr = loc.get_clearsky(times, model="ineichen", solar_position=solpos)
    return solpos, irr[list(IRRADIANCE_COLUMNS)]


def poa_global_w_per_m2(pv: PVConfig, solpos: pd.DataFrame, irr: pd.DataFrame) -> pd.Series:
    """Plane-of-array irradiance with the Hay-Davies sky model, albedo 0.25 [W/m^2]."""
    dni_extra = pvlib.irradiance.get_extra_radiation(solpos.index)
    poa = pvlib.irradiance.get_total_irradiance(
        pv.tilt_deg, pv.azimuth_deg, solpos["apparent_zenith"], solpos["azimuth"],
        irr["dni"], irr["ghi"], irr["dhi"], dni_extra=dni_extra, model="haydavies")
    # Cheap guard: NaN or negative irradiance must never reach the optimiser as power.
    return poa["poa_global"].fillna(0.0).clip(lower=0.0)


def dc_power_w(pv: PVConfig, poa_w_per_m2, temp_air_c, wind_speed_m_per_s):
    """PVWatts DC power after ``losses_pct``, no IAM or spectral correction, cells at the SAPM
    temperature of ``pv.racking_model`` [W]."""
    sapm = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"][pv.racking_model]
    temp_cell_c = pvlib.temperature.sapm_cell(poa_w_per_m2, temp_air_c, wind_speed_m_per_s,
                                             sapm["a"], sapm["b"], sapm["deltaT"])
    pdc_w = pvlib.pvsystem.pvwatts_dc(poa_w_per_m2, temp_cell_c, pv.capacity_kwp * 1000.0,
                                      pv.gamma_pdc_per_c)
    return pdc_w * (1.0 - pv.losses_pct / 100.0)


def ac_power_w(pv: PVConfig, pdc_w):
    """PVWatts inverter output, clipped to ``[0, inverter_kw]`` [W]."""
    # pvlib's pdc0 here is the DC input limit: AC rating / nominal efficiency.
    pdc0_w = inverter_kw(pv) * 1000.0 / pv.inverter_efficiency
    pac_w = pvlib.inverter.pvwatts(pdc_w, pdc0_w, eta_inv_nom=pv.inverter_efficiency)
    return np.clip(np.asarray(pac_w, dtype=float), 0.0, inverter_kw(pv) * 1000.0)


def pv_ac_power_kw(site: Site, pv: PVConfig, slots: pd.DatetimeIndex, dt_h: float,
                   weather: pd.DataFrame | None = None,
                   cloud_factor: np.ndarray | None = None) -> pd.Series:
    """AC power of the array, mean over each slot [kW], index = slots (tz-aware slot starts).

    (Long only by its parameter list: the body is the composition of the small steps above.)

    Parameters
    ----------
    site : Site
        Location used for solar position and clear-sky irradiance.
    pv : PVConfig
        Array, inverter and the forecast's assumptions (``temp_air_c``, ``wind_speed_m_s``,
        ``racking_model``, ``time_label``).
    slots : pandas.DatetimeIndex
        Timezone-aware slot starts.
    dt_h : float
        Slot length [h]. Everything is evaluated at ``pv.time_label``: the slot midpoint,
        ``start + dt_h / 2``, by default (or ``start``, ``start + dt_h``).
    weather : pandas.DataFrame, optional
        Indexed by slot start, columns ``ghi, dni, dhi`` [W/m^2] and ``temp_air`` [C],
        optionally ``wind_speed`` [m/s] (else ``pv.wind_speed_m_s``); replaces clear sky.
        Every slot must be present.
    cloud_factor : array-like, optional
        One value in ``[0, 1]`` per slot [-]; multiplies clear-sky ghi, dni and dhi, so
        output scales slightly more than linearly (cooler cells at lower irradiance).

    Returns
    -------
    pandas.Series
        AC power [kW], ``>= 0`` and ``<= inverter_kw``, named ``pv_ac_kw``.

    Raises
    ------
    ValueError
        Both ``weather`` and ``cloud_factor`` given, a wrongly sized ``cloud_factor``, a
        value outside ``[0, 1]``, naive ``slots``, or ``weather`` lacking a slot or column.

    Notes
    -----
    Without ``weather`` the ambient temperature is ``pv.temp_air_c`` (10 C by default) and the
    wind ``pv.wind_speed_m_s`` (1 m/s). A slot whose midpoint is before sunrise gives 0 even if
    the sun rises late in the slot; at 15 min this loses a few Wh.
    """
    if weather is not None and cloud_factor is not None:
        raise ArgumentError("give either weather or cloud_factor, not both")
    times = slot_times(slots, dt_h, pv.time_label)
    if weather is None:
        solpos, irr = clear_sky(site, times)
        temp_air_c = np.full(len(slots), pv.temp_air_c)
        wind_m_per_s = np.full(len(slots), pv.wind_speed_m_s)
        if cloud_factor is not None:
            factor = np.asarray(cloud_factor, dtype=float)
            if factor.shape != (len(slots),):
                raise ArgumentError(f"cloud_factor has {factor.size} values for {len(slots)} slots")
            if not np.all((factor >= 0.0) & (factor <= 1.0)):
                raise ArgumentError("every cloud_factor must be between 0 and 1")
            irr = irr.mul(factor, axis=0)
    else:
        missing = [c for c in WEATHER_COLUMNS if c not in weather.columns]
        if missing:
            raise ArgumentError(f"weather lacks column(s) {', '.join(missing)}")
        if getattr(weather.index, "tz", None) is None:
            raise ArgumentError("weather must be indexed by timezone-aware slot starts")
        aligned = weather.reindex(slots)
        gaps = aligned.index[aligned.isna().any(axis=1)]
        if len(gaps):
            raise ArgumentError(f"weather has no (or a NaN) value for {len(gaps)} slot(s), "
                             f"first {gaps[0].isoformat()}")
        solpos = pvlib.location.Location(site.latitude, site.longitude, tz=site.timezone,
                                         altitude=site.altitude_m).get_solarposition(times)
        # Weather rows are keyed by slot start; the sun is evaluated at the time label.
        irr = aligned[list(IRRADIANCE_COLUMNS)].set_axis(times)
        temp_air_c = aligned["temp_air"].to_numpy(float)
        wind_m_per_s = (aligned["wind_speed"].to_numpy(float) if "wind_speed" in aligned
                        else np.full(len(slots), pv.wind_speed_m_s))
    poa = poa_global_w_per_m2(pv, solpos, irr).to_numpy(float)
    pac_w = ac_power_w(pv, dc_power_w(pv, poa, temp_air_c, wind_m_per_s))
    return pd.Series(pac_w / 1000.0, index=slots, name="pv_ac_kw")


def annual_yield_kwh_per_kwp(site: Site, pv: PVConfig, year: int = 2026) -> float:
    """Clear-sky AC energy of one year per kWp, hourly, at ``pv.temp_air_c`` ambient [kWh/kWp].

    An upper bound of the real yield (no clouds); a diagnostic, not a forecast.
    """
    slots = pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq="1h",
                          inclusive="left", tz=site.timezone)
    return float(pv_ac_power_kw(site, pv, slots, 1.0).sum()) / pv.capacity_kwp
