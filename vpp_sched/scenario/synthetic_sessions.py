"""Synthetic EV sessions: home charging from the ElaadNL statistics, daytime DC visits at stations,
and the uncontrolled EV load of a session table."""

from __future__ import annotations

import datetime as dt
import io
import math
from functools import cache

import numpy as np
import pandas as pd

from vpp_sched.errors import ArgumentError
from vpp_sched.scenario.stay import first_whole_slot, uncontrolled_reference, whole_slot_run, whole_slots
from vpp_sched.scenario.synthetic_common import clock_minute, data_bytes, minutes_after, parse_start

CHARGER_KW = np.array([3.5, 7.0, 11.0])
CHARGER_SHARE = (0.20, 0.65, 0.15)
# IEC 61851-1: 6 A is the lowest current a charger may signal; 230 V x 6 A single-phase
# (3.5 and 7 kW wallboxes), 3 x 230 V x 6 A three-phase (11 kW).
IEC_MIN_KW = np.array([1.4, 1.4, 4.2])
ENERGY_MARGIN = 1.1  # an EV's stay can deliver at least 1.1 x its energy at max power
MIN_ENERGY_KWH = 2.0


@cache
def _elaad(name: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data_bytes(f"elaad-{name}.csv")))



def _arrival_minutes(rng: np.random.Generator, n: int, density: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Draw ``n`` arrival minutes after the start from a per-minute density restricted to ``valid``."""
    p = np.where(valid, density, 0.0)
    if n and p.sum() <= 0:
        raise ArgumentError("no arrival time in the horizon leaves room for a charging session; lengthen the horizon")
    return rng.choice(p.size, size=n, p=p / p.sum()) if n else np.zeros(0, dtype=np.int64)


def _home_arrival_density(start: dt.datetime, horizon_min: int) -> np.ndarray:
    """ElaadNL private arrival share per minute of the horizon (weekday or weekend by local date)."""
    clock = clock_minute(start, np.arange(horizon_min))
    day = (start.hour * 60 + start.minute + np.arange(horizon_min)) // 1440
    weekend = np.array([(start.date() + dt.timedelta(days=int(d))).weekday() >= 5 for d in range(day.max() + 1)])
    week = _elaad("distribution-of-arrival")["private"].to_numpy(dtype=float)
    wkend = _elaad("distribution-of-arrival-weekend")["private"].to_numpy(dtype=float)
    return np.where(weekend[day], wkend[clock // 15], week[clock // 15])


def _mean_home_stay_h(clock_minute: np.ndarray) -> np.ndarray:
    """ElaadNL mean home connection time by half-hour of arrival [h]."""
    table = _elaad("mean-session-length-per")
    half_hour = table["Arrival Time"].map(lambda s: int(s[:2]) * 2 + int(s[3:]) // 30)
    means = pd.Series(table["home"].to_numpy(dtype=float), index=half_hour).sort_index().to_numpy()
    return means[np.asarray(clock_minute) // 30]


def _survival_sample(rng: np.random.Generator, n: int, x: np.ndarray, survival_pct: np.ndarray) -> np.ndarray:
    """Inverse-transform samples from a survival curve (% of sessions above x)."""
    cdf = np.maximum.accumulate(np.clip(1.0 - survival_pct / 100.0, 0.0, 1.0))
    cdf[0], cdf[-1] = 0.0, 1.0
    return np.interp(rng.random(n), cdf, x)


def _min_power_kw(kind: np.ndarray, max_kw: np.ndarray, min_power) -> np.ndarray:
    if min_power is None:
        return np.zeros(kind.size)
    if isinstance(min_power, str):
        if min_power != "iec":
            raise ArgumentError(f"min_power={min_power!r}: use None, 'iec' or a number of kW")
        return IEC_MIN_KW[kind]
    return np.minimum(float(min_power), max_kw)


def _fit_stay_and_energy(arrival: np.ndarray, stay: np.ndarray, want_kwh: np.ndarray, max_kw: np.ndarray,
                         slot_minutes: int, horizon_min: int, min_energy_kwh: float):
    """Departure and energy such that the whole-slot stay delivers ``ENERGY_MARGIN`` x energy.

    A stay is stretched to the slots the minimum energy needs (short ElaadNL top-ups would
    otherwise get no whole slot) and cut at the horizon end; energy is clipped to what the
    whole-slot stay can deliver with the margin, and rounded down to 0.01 kWh.
    """
    dt_h = slot_minutes / 60
    slot_start = np.arange(horizon_min // slot_minutes) * slot_minutes
    first = first_whole_slot(slot_start, arrival)
    need = np.ceil(ENERGY_MARGIN * min_energy_kwh / (max_kw * dt_h) - 1e-9).astype(np.int64)
    departure = np.minimum(np.maximum(arrival + stay, (first + need) * slot_minutes), horizon_min)
    whole = whole_slot_run(slot_start, slot_minutes, arrival, departure)[1]
    cap = whole * max_kw * dt_h / ENERGY_MARGIN
    energy = np.floor(np.clip(want_kwh, min_energy_kwh, cap) * 100 + 1e-9) / 100
    return departure, energy


def sample_home_evs(rng: np.random.Generator, n: int, start: str | dt.datetime, slots: int,
                    slot_minutes: int = 15, *, min_power=None, min_energy_kwh: float = MIN_ENERGY_KWH,
                    charger_share=CHARGER_SHARE) -> pd.DataFrame:
    """Home-charging sessions drawn from the ElaadNL ``private`` statistics.

    - Arrival: time of day from the 15-min arrival shares (weekday or weekend file by the
      local date), uniform within the quarter hour, placed at every matching minute of the
      horizon (a 12:00-12:00 horizon holds evening arrivals and morning departures) but only
      where the session can still get ``min_energy_kwh`` before the horizon end.
    - Connection time: the ElaadNL mean home connection time for the arrival half-hour times a
      Gamma(9, 1/9) factor (coefficient of variation 1/3). The pooled connection-time survival
      curve (median about 1.5 h) mixes in short daytime top-ups and would cut short the
      overnight stays that make home charging flexible; the by-arrival mean keeps them.
    - Energy: the ElaadNL private energy survival curve, at least ``min_energy_kwh``, at most
      what the whole-slot stay delivers at max power / 1.1. Departures after the horizon end
      are moved to the horizon end.
    - Charger: 3.5 / 7 / 11 kW with ``charger_share``; ``min_power`` None -> 0, ``'iec'`` ->
      the IEC 61851 6 A minimum (1.4 / 1.4 / 4.2 kW), a number -> that, capped at max power.

    Returns
    -------
    DataFrame ``arrival, departure`` (tz-aware timestamps, whole minutes), ``energy_kwh``,
    ``max_power_kw``, ``min_power_kw``; no ids or transformers yet.
    """
    t0 = parse_start(start)
    horizon = slots * slot_minutes
    kind = rng.choice(len(CHARGER_KW), size=n, p=np.asarray(charger_share) / np.sum(charger_share))
    max_kw = CHARGER_KW[kind]
    density = _home_arrival_density(t0, horizon)
    minute = np.arange(horizon)
    arrival = np.zeros(n, dtype=np.int64)
    for k, kw in enumerate(CHARGER_KW):  # the room a session needs depends on its charger
        need = math.ceil(ENERGY_MARGIN * min_energy_kwh / (kw * slot_minutes / 60) - 1e-9)
        valid = (-(-minute // slot_minutes) + need) * slot_minutes <= horizon
        arrival[kind == k] = _arrival_minutes(rng, int(np.sum(kind == k)), density, valid)
    stay_h = _mean_home_stay_h(clock_minute(t0, arrival)) * rng.gamma(9.0, 1 / 9.0, size=n)
    stay = np.maximum(np.rint(stay_h * 60).astype(np.int64), 1)
    energy_table = _elaad("distribution-of-energy-demand")
    want = _survival_sample(rng, n, energy_table.iloc[:, 0].to_numpy(dtype=float),
                            energy_table["private"].to_numpy(dtype=float))
    departure, energy = _fit_stay_and_energy(arrival, stay, want, max_kw, slot_minutes, horizon, min_energy_kwh)
    return _session_frame(t0, arrival, departure, energy, max_kw, _min_power_kw(kind, max_kw, min_power))


def sample_station_sessions(rng: np.random.Generator, n: int, start: str | dt.datetime, slots: int,
                            slot_minutes: int = 15, *, window: tuple[str, str] = ("09:00", "16:00"),
                            stay_minutes: tuple[int, int] = (20, 60),
                            power_kw: tuple[float, ...] = (30.0, 40.0, 50.0, 60.0)) -> pd.DataFrame:
    """Daytime DC visitor sessions at a station: uniform arrivals in a local clock ``window``.

    Stays are uniform in ``stay_minutes`` but stretched to hold at least one whole slot;
    energy is 50-90 % of what the stay could take at max power, clipped as for home EVs.
    ``min_power_kw`` is 0 (DC chargers regulate down to zero). Same columns as
    :func:`sample_home_evs`.
    """
    t0 = parse_start(start)
    horizon = slots * slot_minutes
    minute = np.arange(horizon)
    lo, hi = (int(w[:2]) * 60 + int(w[3:]) for w in window)
    clock = clock_minute(t0, minute)
    valid = (clock >= lo) & (clock < hi) & ((-(-minute // slot_minutes) + 1) * slot_minutes <= horizon)
    arrival = _arrival_minutes(rng, n, np.ones(horizon), valid)
    stay = rng.integers(stay_minutes[0], stay_minutes[1] + 1, size=n)
    max_kw = rng.choice(np.asarray(power_kw, dtype=float), size=n)
    want = rng.uniform(0.5, 0.9, size=n) * max_kw * stay / 60
    departure, energy = _fit_stay_and_energy(arrival, stay, want, max_kw, slot_minutes, horizon, MIN_ENERGY_KWH)
    return _session_frame(t0, arrival, departure, energy, max_kw, np.zeros(n))


def _session_frame(start, arrival, departure, energy, max_kw, min_kw) -> pd.DataFrame:
    origin = pd.Timestamp(start)
    return pd.DataFrame({"arrival": origin + pd.to_timedelta(arrival, unit="min"),
                         "departure": origin + pd.to_timedelta(departure, unit="min"),
                         "energy_kwh": energy, "max_power_kw": max_kw, "min_power_kw": min_kw})


def uncontrolled_ev_load_kw(evs: pd.DataFrame, transformer_ids, start: str | dt.datetime, slots: int,
                            slot_minutes: int = 15) -> np.ndarray:
    """EV load per transformer and slot [N, slots] in kW when every EV charges at max power
    from its first whole slot until its energy is met (the uncontrolled reference).

    The planner's reference (:func:`vpp_sched.scenario.stay.uncontrolled_reference`), on minutes
    after ``start``.
    """
    t0 = parse_start(start)
    index = {tid: i for i, tid in enumerate(transformer_ids)}
    row = evs["transformer_id"].map(index)
    if row.isna().any():
        raise ArgumentError(f"EV on unknown transformer {evs['transformer_id'][row.isna()].iloc[0]!r}")
    slot_start = np.arange(slots) * slot_minutes
    available = whole_slots(slot_start, slot_minutes, minutes_after(t0, evs["arrival"]),
                            minutes_after(t0, evs["departure"]))
    return uncontrolled_reference(available, evs["energy_kwh"].to_numpy(dtype=float),
                                  evs["max_power_kw"].to_numpy(dtype=float), slot_minutes / 60,
                                  row.to_numpy(dtype=np.int64), len(index))[1]

