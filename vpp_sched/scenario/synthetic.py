"""Seeded synthetic scenarios from real statistics, for tests, benchmarks and demos.

Base load comes from the SimBench low-voltage benchmark grids (``rural1``, ``semiurb4``,
``urban6``); home-charging sessions from the ElaadNL statistics; both ship in
``vpp_sched/data`` (see its README for sources, licences and changes). Every function takes
a ``numpy.random.Generator`` or a seed and is deterministic: the same arguments write the same
bytes. Everything is vectorised over EVs and transformers, so 100,000 EVs on 2,000
transformers take a few seconds.

Times are handled as integer minutes after the horizon start and written as ISO 8601 with the
start's UTC offset. Local clock times (arrivals, tariff periods, DR windows) use the start's
wall clock, which assumes a fixed offset (true for China, which has no daylight saving).
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import math
from functools import cache, lru_cache
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from vpp_sched.scenario.config import ScenarioConfig
from vpp_sched.scenario.stay import first_whole_slot, uncontrolled_reference, whole_slot_run, whole_slots
from vpp_sched.outfolder import OutFolder, check_target

GRIDS = ("rural1", "semiurb4", "urban6")
# County residential areas are mostly villages: favour the rural feeder's evening-peaked shape.
GRID_WEIGHTS = (0.5, 0.3, 0.2)
RATINGS_KVA = (160, 200, 250, 315, 400, 500, 630)
CHARGER_KW = np.array([3.5, 7.0, 11.0])
CHARGER_SHARE = (0.20, 0.65, 0.15)
# IEC 61851-1: 6 A is the lowest current a charger may signal; 230 V x 6 A single-phase
# (3.5 and 7 kW wallboxes), 3 x 230 V x 6 A three-phase (11 kW).
IEC_MIN_KW = np.array([1.4, 1.4, 4.2])
ENERGY_MARGIN = 1.1  # an EV's stay can deliver at least 1.1 x its energy at max power
MIN_ENERGY_KWH = 2.0
SIMBENCH_SLOTS = 35_136  # 366 days x 96 slots of 2016
ZEZHOU_SITE = {"latitude": 35.49, "longitude": 112.85, "altitude_m": 700.0, "timezone": "Asia/Shanghai"}
# Illustrative Shanxi-like time-of-use prices (not an official tariff) [CNY/kWh].
SHANXI_TOU_PERIODS = [
    {"start": "00:00", "end": "07:00", "price_cny_per_kwh": 0.30},
    {"start": "07:00", "end": "08:00", "price_cny_per_kwh": 0.60},
    {"start": "08:00", "end": "11:00", "price_cny_per_kwh": 0.95},
    {"start": "11:00", "end": "17:00", "price_cny_per_kwh": 0.60},
    {"start": "17:00", "end": "22:00", "price_cny_per_kwh": 0.95},
    {"start": "22:00", "end": "23:00", "price_cny_per_kwh": 0.60},
    {"start": "23:00", "end": "24:00", "price_cny_per_kwh": 0.30},
]
EV_COLUMNS = ["ev_id", "transformer_id", "arrival", "departure", "energy_kwh", "max_power_kw", "min_power_kw"]


# ---------------------------------------------------------------- package data
def _data_bytes(name: str) -> bytes:
    return (files("vpp_sched") / "data" / name).read_bytes()


@lru_cache(maxsize=1)
def _simbench_kw() -> np.ndarray:
    """SimBench base load of 2016 [35136, 3] in kW, columns in ``GRIDS`` order (read-only)."""
    table = pd.read_csv(io.BytesIO(gzip.decompress(_data_bytes("simbench_base_load_kw.csv.gz"))))
    values = table[list(GRIDS)].to_numpy(dtype=float)
    values.flags.writeable = False
    return values


@cache
def _elaad(name: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(_data_bytes(f"elaad-{name}.csv")))


# ---------------------------------------------------------------- time helpers
def parse_start(start: str | dt.datetime) -> dt.datetime:
    """A timezone-aware horizon start from an ISO 8601 string or datetime."""
    t = start if isinstance(start, dt.datetime) else dt.datetime.fromisoformat(str(start))
    if t.utcoffset() is None:
        raise ValueError(f"start {t.isoformat()} needs a UTC offset, e.g. 2026-11-27T12:00:00+08:00")
    return t


def iso_times(start: dt.datetime, minutes: np.ndarray) -> np.ndarray:
    """ISO 8601 strings with offset for integer minutes after ``start``.

    Formats each distinct minute once (a horizon has few), so 100,000 times cost milliseconds.
    """
    uniq, inverse = np.unique(np.asarray(minutes, dtype=np.int64), return_inverse=True)
    utc = start.astimezone(dt.UTC)
    text = [(utc + dt.timedelta(minutes=int(m))).astimezone(start.tzinfo).isoformat() for m in uniq]
    return np.asarray(text, dtype=object)[inverse]


def minutes_after(start: dt.datetime, times) -> np.ndarray:
    """Whole minutes (floored) from ``start`` to tz-aware ``times`` (ISO strings or timestamps)."""
    stamps = pd.to_datetime(times, utc=True)
    return ((stamps - pd.Timestamp(start)) // pd.Timedelta(minutes=1)).to_numpy(dtype=np.int64)


def _clock_minute(start: dt.datetime, minutes: np.ndarray) -> np.ndarray:
    """Local minute of day (0..1439) of minutes after ``start``, fixed offset assumed."""
    return (start.hour * 60 + start.minute + np.asarray(minutes)) % 1440


def simbench_date(day: dt.date) -> dt.date:
    """The 2016 day with the weekday of ``day`` nearest its day of year (at most 3 days away).

    Near the year's ends the nearest same weekday may fall outside 2016: then the one a week
    later (or earlier) inside 2016 is used, so the weekday always matches.
    """
    same = dt.date(2016, 1, 1) + dt.timedelta(days=day.timetuple().tm_yday - 1)
    out = same + dt.timedelta(days=(day.weekday() - same.weekday() + 3) % 7 - 3)
    if out.year < 2016:
        out += dt.timedelta(days=7)
    elif out.year > 2016:
        out -= dt.timedelta(days=7)
    return out


def _simbench_minute(start: dt.datetime) -> int:
    """Minute of 2016 matching ``start``: :func:`simbench_date`, same local clock time."""
    return (simbench_date(start.date()) - dt.date(2016, 1, 1)).days * 1440 + start.hour * 60 + start.minute


# ---------------------------------------------------------------- base load
def base_load_profile_kw(grid: str, start: str | dt.datetime, slots: int, slot_minutes: int = 15,
                         peak_kw: float | None = None) -> np.ndarray:
    """Base load of a SimBench LV grid over a horizon, on the matching 2016 day.

    The scenario date is mapped to the 2016 date with the same day-of-year, moved by at most
    three days to the same weekday, at the same local clock time. SimBench is German local
    time without a zone; the clock is not shifted because residential evening peaks fall at
    about 19:00-21:00 clock time in both countries (``rural1`` peaks there; ``semiurb4`` and
    ``urban6`` hold a broad daytime plateau with their maximum around noon, see the data
    README). Horizons past 31 December 2016 wrap to 1 January 2016. Slots other than 15 min
    are means of the 15-min values held over each minute, which conserves energy.

    Parameters
    ----------
    grid : one of ``GRIDS``
    start : horizon start, timezone-aware; its wall clock is used
    slots, slot_minutes : number and length of slots [-], [min]
    peak_kw : if given, the profile is scaled so its maximum over the horizon equals this [kW].
        Scaling to the horizon's own maximum (not the annual one) makes the base-load peak of
        the planned day a direct sizing input; the seasonal level is lost, the day's shape kept.

    Returns
    -------
    numpy.ndarray of shape (slots,): mean load per slot [kW]
    """
    if grid not in GRIDS:
        raise ValueError(f"unknown SimBench grid {grid!r}; use one of {', '.join(GRIDS)}")
    t0 = parse_start(start)
    need = slots * slot_minutes
    m0 = _simbench_minute(t0)
    idx = np.arange(m0 // 15, -(-(m0 + need) // 15)) % SIMBENCH_SLOTS
    per_minute = np.repeat(_simbench_kw()[idx, GRIDS.index(grid)], 15)[m0 % 15: m0 % 15 + need]
    profile = per_minute.reshape(slots, slot_minutes).mean(axis=1)
    if peak_kw is not None:
        profile = profile * (peak_kw / profile.max())
    return profile


def base_load_matrix_kw(rng: np.random.Generator, grids: list[str], peaks_kw: np.ndarray,
                        start: str | dt.datetime, slots: int, slot_minutes: int = 15,
                        noise: float = 0.03) -> np.ndarray:
    """Base load per transformer [N, slots] in kW: a SimBench shape, noise, scaled to a peak.

    Multiplicative Gaussian noise (``noise`` is its standard deviation [-]) is applied before
    scaling, so each row's maximum still equals ``peaks_kw`` exactly (before rounding).
    """
    shapes = {g: base_load_profile_kw(g, start, slots, slot_minutes, 1.0) for g in set(grids)}
    load = np.stack([shapes[g] for g in grids]) if grids else np.zeros((0, slots))
    load = load * np.clip(1.0 + noise * rng.standard_normal(load.shape), 0.5, 1.5)
    return load / load.max(axis=1, keepdims=True) * np.asarray(peaks_kw, dtype=float)[:, None]


def base_load_table(transformer_ids, load_kw: np.ndarray, start: str | dt.datetime,
                    slot_minutes: int = 15) -> pd.DataFrame:
    """Long table ``slot_start, transformer_id, load_kw`` (per transformer, then slot)."""
    t0 = parse_start(start)
    n, slots = load_kw.shape
    slot_text = iso_times(t0, np.arange(slots) * slot_minutes)
    return pd.DataFrame({"slot_start": np.tile(slot_text, n),
                         "transformer_id": np.repeat(np.asarray(transformer_ids, dtype=object), slots),
                         "load_kw": np.round(load_kw, 2).ravel()})


# ---------------------------------------------------------------- sessions
def _arrival_minutes(rng: np.random.Generator, n: int, density: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Draw ``n`` arrival minutes after the start from a per-minute density restricted to ``valid``."""
    p = np.where(valid, density, 0.0)
    if n and p.sum() <= 0:
        raise ValueError("no arrival time in the horizon leaves room for a charging session; lengthen the horizon")
    return rng.choice(p.size, size=n, p=p / p.sum()) if n else np.zeros(0, dtype=np.int64)


def _home_arrival_density(start: dt.datetime, horizon_min: int) -> np.ndarray:
    """ElaadNL private arrival share per minute of the horizon (weekday or weekend by local date)."""
    clock = _clock_minute(start, np.arange(horizon_min))
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
            raise ValueError(f"min_power={min_power!r}: use None, 'iec' or a number of kW")
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
    stay_h = _mean_home_stay_h(_clock_minute(t0, arrival)) * rng.gamma(9.0, 1 / 9.0, size=n)
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
    clock = _clock_minute(t0, minute)
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
        raise ValueError(f"EV on unknown transformer {evs['transformer_id'][row.isna()].iloc[0]!r}")
    slot_start = np.arange(slots) * slot_minutes
    available = whole_slots(slot_start, slot_minutes, minutes_after(t0, evs["arrival"]),
                            minutes_after(t0, evs["departure"]))
    return uncontrolled_reference(available, evs["energy_kwh"].to_numpy(dtype=float),
                                  evs["max_power_kw"].to_numpy(dtype=float), slot_minutes / 60,
                                  row.to_numpy(dtype=np.int64), len(index))[1]


# ---------------------------------------------------------------- scenario assembly
def make_transformers(rng: np.random.Generator, n: int, *, prefix: str = "T",
                      feeder_size: int | None = 10) -> pd.DataFrame:
    """``transformer_id, rated_kva, power_factor, max_loading_pu[, feeder_id]`` for ``n`` transformers.

    Ratings are uniform over ``RATINGS_KVA``; consecutive transformers share a feeder of
    ``feeder_size`` (None: no feeders).
    """
    width = max(2, len(str(n)))
    table = pd.DataFrame({"transformer_id": [f"{prefix}{i + 1:0{width}d}" for i in range(n)],
                          "rated_kva": rng.choice(RATINGS_KVA, size=n).astype(float),
                          "power_factor": 0.95, "max_loading_pu": 1.0})
    if feeder_size:
        fw = max(2, len(str(-(-n // feeder_size))))
        table["feeder_id"] = [f"F{i // feeder_size + 1:0{fw}d}" for i in range(n)]
    return table


def limit_kw(transformers: pd.DataFrame) -> np.ndarray:
    """Usable active power ``rated_kva * power_factor * max_loading_pu`` [kW]."""
    return (transformers["rated_kva"] * transformers["power_factor"] * transformers["max_loading_pu"]).to_numpy(float)


def make_feeders(rng: np.random.Generator, transformers: pd.DataFrame) -> pd.DataFrame:
    """``feeder_id, capacity_kw`` at 70-80 % of the sum of the feeder's transformer limits,
    below the sum so that feeders can bind when many transformers peak together."""
    limits = pd.Series(limit_kw(transformers), index=transformers["feeder_id"]).groupby(level=0, sort=True).sum()
    share = rng.uniform(0.70, 0.80, size=len(limits))
    return pd.DataFrame({"feeder_id": limits.index, "capacity_kw": np.round(limits.to_numpy() * share, 1)})


def make_dr_event(rng: np.random.Generator, start: str | dt.datetime, slots: int, slot_minutes: int,
                  total_uncontrolled_kw: np.ndarray) -> dict:
    """One binding peak-shaving event for the whole portfolio, 23:00-01:00 on the first night.

    When the valley tariff starts at 23:00, price-driven charging piles up in a rebound peak
    above what uncontrolled charging would draw then; the province asks for the portfolio to stay
    10-15 % below the uncontrolled baseline. Orderly charging must spread the night's charging to
    deliver it, so the event binds (and a plan that ignores it overshoots the cap by the rebound).
    Notified at 12:00 the day before.
    """
    t0 = parse_start(start)
    first = (23 * 60 - (t0.hour * 60 + t0.minute)) % 1440
    if first + 120 > slots * slot_minutes:
        raise ValueError("the horizon holds no 23:00-01:00 window for a DR event")
    s0, s1 = first // slot_minutes, -(-(first + 120) // slot_minutes)
    peak = float(np.max(total_uncontrolled_kw[s0:s1]))
    begin, end = iso_times(t0, np.array([first, first + 120]))
    day = dt.datetime.fromisoformat(begin)
    notified = day.replace(hour=12, minute=0) - dt.timedelta(days=1)
    return {"event_id": "DR1", "start": begin, "end": end, "notified_at": notified.isoformat(), "scope": "all",
            "reduction_kw": round(peak * rng.uniform(0.10, 0.15), 0), "baseline": "uncontrolled",
            "price_cny_per_kwh": 3.0}


class _Dumper(yaml.SafeDumper):
    """Quotes clock times such as ``07:00`` so no reader takes them for YAML 1.1 base-60 numbers."""


_Dumper.add_representer(str, lambda d, v: d.represent_scalar(
    "tag:yaml.org,2002:str", v, style="'" if len(v) == 5 and v[2] == ":" and v.replace(":", "").isdigit() else None))


def write_scenario(out_dir: str | Path, config: dict, tables: dict[str, pd.DataFrame]) -> Path:
    """Validate ``config`` with :class:`ScenarioConfig`, then write it and the CSV tables into ``out_dir``.

    ``tables`` maps file names to frames; time columns that are timestamps are written as ISO
    8601 with the horizon start's offset. Output is byte-deterministic. ``out_dir`` is the
    caller's own folder (an :class:`~vpp_sched.outfolder.OutFolder`'s ``tmp``, or the bundled
    demo's folder for its build script): commands write through :func:`generate_scenario`,
    which refuses a folder vpp-sched did not write.
    """
    ScenarioConfig.model_validate(config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = parse_start(config["horizon"]["start"])
    for name, frame in tables.items():
        frame = frame.copy()
        for col in ("arrival", "departure"):
            if col in frame and not pd.api.types.is_string_dtype(frame[col]):
                frame[col] = iso_times(t0, minutes_after(t0, frame[col]))
        frame.to_csv(out / name, index=False, lineterminator="\n")
    text = yaml.dump(config, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    (out / "scenario.yaml").write_text(text, encoding="utf-8")
    return out


def station_config(station_id: str, transformer_id: str, capacity_kwp: float, battery_kwh: float,
                   battery_kw: float, tilt_deg: float = 30.0) -> dict:
    """A ``stations`` entry: south-facing PV and a battery (efficiencies 0.95, SOC 0.1-0.95, start 0.5)."""
    return {"station_id": station_id, "transformer_id": transformer_id,
            "pv": {"capacity_kwp": float(capacity_kwp), "tilt_deg": float(tilt_deg), "azimuth_deg": 180.0},
            "battery": {"capacity_kwh": float(battery_kwh), "max_charge_kw": float(battery_kw),
                        "max_discharge_kw": float(battery_kw), "charge_efficiency": 0.95,
                        "discharge_efficiency": 0.95, "soc_min": 0.1, "soc_max": 0.95, "soc_initial": 0.5}}


def scenario_config(name: str, description: str, start: str | dt.datetime, slots: int, slot_minutes: int,
                    stations: list[dict], **extra) -> dict:
    """``scenario.yaml`` contents at the Zezhou site with the Shanxi-like tariff; ``extra`` keys are added."""
    return {"name": name, "description": description, "site": dict(ZEZHOU_SITE),
            "horizon": {"start": parse_start(start).isoformat(), "slots": slots, "slot_minutes": slot_minutes},
            "tariff": {"periods": [dict(p) for p in SHANXI_TOU_PERIODS]},
            "transformers": "transformers.csv", "base_load": "base_load.csv", "evs": "evs.csv",
            "stations": stations, "dr_events": [], **extra}


def _stations(rng: np.random.Generator, count: int, sessions: int, feeders, start: dt.datetime, slots: int,
              slot_minutes: int) -> tuple[pd.DataFrame, list[dict], list[pd.DataFrame]]:
    """Transformer rows, ``stations`` entries and DC sessions of ``count`` generic stations."""
    ids = [f"TS{i + 1:02d}" for i in range(count)]
    rows = pd.DataFrame({"transformer_id": ids, "rated_kva": 400.0, "power_factor": 0.95, "max_loading_pu": 1.0})
    if feeders is not None:
        rows["feeder_id"] = [feeders[i % len(feeders)] for i in range(count)]
    configs, visits = [], []
    for i, tid in enumerate(ids):
        configs.append(station_config(f"PV{i + 1:02d}", tid, round(rng.uniform(100, 300), -1), 200.0, 100.0))
        visit = sample_station_sessions(rng, sessions, start, slots, slot_minutes)
        visit.insert(0, "transformer_id", tid)
        visit.insert(0, "ev_id", [f"{tid}-{k + 1:03d}" for k in range(sessions)])
        visits.append(visit)
    return rows, configs, visits


V2G_BATTERY_KWH = (50.0, 60.0, 72.0, 80.0, 100.0)   # usable packs of common Chinese BEVs [kWh]


def add_v2g_columns(rng: np.random.Generator, ev_table: pd.DataFrame, n_home: int, share: float) -> pd.DataFrame:
    """``v2g, max_discharge_kw, battery_kwh, soc_arrival`` for ``share`` of the first ``n_home`` EVs.

    A V2G EV discharges at up to its charger's power; its pack is drawn from ``V2G_BATTERY_KWH``
    but at least the smallest that holds its request within 90 % (requests above 90 kWh: no
    V2G); it arrives at 30-70 % but never so full that the request would not fit (1 % margin,
    at a charge efficiency of 1).
    """
    out = ev_table.copy()
    n = len(out)
    energy = out.energy_kwh.to_numpy()
    packs = np.asarray(V2G_BATTERY_KWH)
    v2g = np.zeros(n, dtype=bool)
    v2g[:n_home] = rng.random(n_home) < share
    v2g &= energy <= 0.9 * packs.max()
    smallest = packs[np.minimum(np.searchsorted(packs, energy / 0.9), len(packs) - 1)]
    battery = np.maximum(rng.choice(packs, size=n), smallest)
    soc = np.minimum(rng.uniform(0.3, 0.7, n), 0.99 - energy / battery)
    out["v2g"] = np.where(v2g, "true", "false")
    out["max_discharge_kw"] = np.where(v2g, out.max_power_kw, np.nan)
    out["battery_kwh"] = np.where(v2g, battery, np.nan)
    out["soc_arrival"] = np.where(v2g, np.round(np.clip(soc, 0.0, 1.0), 3), np.nan)
    return out


def generate_scenario(out_dir: str | Path, *, transformers: int, evs: int, stations: int = 0,
                      dr_event: bool = False, min_power=None, seed: int = 0,
                      start: str | dt.datetime = "2026-11-27T12:00:00+08:00", slots: int = 96,
                      slot_minutes: int = 15, name: str | None = None, feeder_size: int | None = 10,
                      station_sessions: int = 25, v2g_share: float = 0.0, force: bool = False) -> Path:
    """Write a seeded synthetic scenario folder and return its path.

    ``transformers`` residential transformers (ratings from ``RATINGS_KVA``, base-load peak
    45-65 % of the limit, shape from a SimBench grid drawn with ``GRID_WEIGHTS``) carry
    ``evs`` home EVs (:func:`sample_home_evs`, ``min_power`` as there), each on a transformer
    drawn with probability proportional to its rating. Each of ``stations`` stations adds its
    own 400 kVA transformer ``TS..`` (base load peaking at 5 % of its limit), 100-300 kWp of
    PV, a 200 kWh / 100 kW battery and ``station_sessions`` DC sessions
    (:func:`sample_station_sessions`): the files hold ``transformers + stations``
    transformers and ``evs + stations * station_sessions`` sessions. Feeders group
    ``feeder_size`` consecutive transformers (None: no ``feeders.csv``); the tariff is
    ``SHANXI_TOU_PERIODS``; ``dr_event`` adds one :func:`make_dr_event`; ``v2g_share`` of the
    home EVs may discharge (:func:`add_v2g_columns`, its own seeded stream: the rest is unchanged).
    ``out_dir`` must be new, empty or an earlier scenario folder of vpp-sched's with ``force``
    (:class:`~vpp_sched.outfolder.OutFolderError` otherwise, before any work).
    """
    if transformers < 1 or evs < 0 or stations < 0:
        raise ValueError("need transformers >= 1, evs >= 0 and stations >= 0")
    check_target(out_dir, "scenario", force=force)
    rng = np.random.default_rng(seed)
    t0 = parse_start(start)
    homes = make_transformers(rng, transformers, feeder_size=feeder_size)
    feeders = homes["feeder_id"].unique() if feeder_size else None
    station_rows, configs, visits = _stations(rng, stations, station_sessions, feeders, t0, slots, slot_minutes)
    table = pd.concat([homes, station_rows], ignore_index=True)
    grids = [str(g) for g in rng.choice(GRIDS, size=transformers, p=GRID_WEIGHTS)] + ["semiurb4"] * stations
    share = np.concatenate([rng.uniform(0.45, 0.65, transformers), np.full(stations, 0.05)])
    base = np.round(base_load_matrix_kw(rng, grids, limit_kw(table) * share, t0, slots, slot_minutes), 2)
    cars = sample_home_evs(rng, evs, t0, slots, slot_minutes, min_power=min_power)
    weight = homes["rated_kva"].to_numpy() / homes["rated_kva"].sum()
    cars.insert(0, "transformer_id", homes["transformer_id"].to_numpy()[rng.choice(transformers, size=evs, p=weight)])
    cars.insert(0, "ev_id", [f"E{i + 1:0{max(2, len(str(evs)))}d}" for i in range(evs)])
    ev_table = pd.concat([cars, *visits], ignore_index=True)[EV_COLUMNS]
    if v2g_share > 0:
        ev_table = add_v2g_columns(np.random.default_rng([seed, 2]), ev_table, evs, v2g_share)
    config = scenario_config(name or f"synthetic-{transformers}tr-{evs}ev-seed{seed}",
                             f"Synthetic scenario from vpp_sched.scenario.synthetic.generate_scenario(transformers="
                             f"{transformers}, evs={evs}, stations={stations}, seed={seed})",
                             t0, slots, slot_minutes, configs)
    tables = {"transformers.csv": table, "evs.csv": ev_table,
              "base_load.csv": base_load_table(table["transformer_id"], base, t0, slot_minutes)}
    if feeder_size:
        config["feeders"] = "feeders.csv"
        tables["feeders.csv"] = make_feeders(rng, table)
    if dr_event:
        ev_load = uncontrolled_ev_load_kw(ev_table, table["transformer_id"], t0, slots, slot_minutes)
        config["dr_events"] = [make_dr_event(rng, t0, slots, slot_minutes, base.sum(axis=0) + ev_load.sum(axis=0))]
    with OutFolder(out_dir, "scenario", force=force) as folder:
        write_scenario(folder.tmp, config, tables)
    return folder.path
