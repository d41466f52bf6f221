"""Sampled days: the forecast of a scenario perturbed by its ``uncertainty:`` model.

:func:`sample_day` is the one sampler of the project (``vpp-sched evaluate``, ``vpp-sched
replay`` without ``--actuals``, the robust plan's margins). Day ``d`` of seed ``s`` is drawn from
``numpy.random.default_rng(SeedSequence(s, spawn_key=(d,)))``, so each day depends only on
``(s, d)``: days are independent of each other and of the order an executor runs them in. The
draws, in this order: EV arrival and departure shifts, energy factors, no-shows, unannounced
sessions, base-load errors, PV factors, DR notices, the sites' demand. Method: ``models/uncertainty.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vpp_sched.scenario.load import Scenario
from vpp_sched.scenario.sampling_sites import sample_site_demand
from vpp_sched.scenario.synthetic_sessions import sample_home_evs
from vpp_sched.scenario.timeutil import to_local
from vpp_sched.scenario.uncertainty import Uncertainty

#: Columns of a sampled day's sessions (those of ``evs.csv`` a replay reads).
SESSION_COLUMNS = ["ev_id", "transformer_id", "arrival", "departure", "energy_kwh", "max_power_kw", "min_power_kw"]
#: Prefix of an unannounced session's ``ev_id`` (numbered from 1; never an id of the forecast).
UNANNOUNCED_PREFIX = "unannounced-"


@dataclass(frozen=True)
class SampledDay:
    """One sampled day.

    Attributes
    ----------
    day : the day's number (its spawn key)
    evs : the sessions that happen, ``SESSION_COLUMNS`` (tz-aware times, kWh, kW)
    base_load_kw : [slots x transformer_id] actual base load [kW], like ``Scenario.base_load_kw``
    pv_factor : [S, T] actual PV / forecast PV per station [-]
    dr_notified_at : event_id -> when the event is actually notified (tz-aware; ``None``: day ahead)
    site_demand : station_id -> [slots x demand columns] the swap and fast-charging stations' sampled
        demand, like ``Scenario.site_demand`` (:mod:`vpp_sched.scenario.sampling_sites`)
    """

    day: int
    evs: pd.DataFrame
    base_load_kw: pd.DataFrame
    pv_factor: np.ndarray
    dr_notified_at: dict = field(default_factory=dict)
    site_demand: dict = field(default_factory=dict)


def day_rng(seed: int, day: int) -> np.random.Generator:
    """The generator of day ``day`` of ``seed``: a function of the pair only."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(day),)))


def ar1_noise(rng: np.random.Generator, rows: int, slots: int, sd: float, phi: float) -> np.ndarray:
    """[rows, slots] stationary AR(1) series: ``e_0 ~ N(0, sd)``, ``e_t = phi e_(t-1) + sqrt(1-phi^2) sd z_t``.

    Every slot has mean 0 and standard deviation ``sd``; consecutive slots are correlated ``phi``.
    """
    z = rng.standard_normal((rows, slots))
    out = np.empty((rows, slots))
    if slots:
        out[:, 0] = sd * z[:, 0]
    innovation = np.sqrt(1.0 - phi * phi) * sd
    for t in range(1, slots):
        out[:, t] = phi * out[:, t - 1] + innovation * z[:, t]
    return out


def sample_day(scenario: Scenario, seed: int, day: int = 0, model: Uncertainty | None = None) -> SampledDay:
    """Day ``day`` of ``seed`` drawn from ``model`` (default: the scenario's ``uncertainty:``)."""
    u = model or scenario.config.uncertainty
    rng = day_rng(seed, day)
    evs = _sessions(scenario, u, rng)
    extra = _unannounced(scenario, u, rng, day)
    if len(extra):
        evs = pd.concat([evs, extra], ignore_index=True)
    base = scenario.base_load_kw
    error = ar1_noise(rng, base.shape[1], base.shape[0], u.base_load_error_sd, u.base_load_error_ar1).T
    base = (base * np.maximum(1.0 + error, 0.0)).round(3)
    n_st, T = len(scenario.config.stations), len(scenario.slots)
    pv = np.clip(u.pv_factor_mean + ar1_noise(rng, n_st, T, u.pv_factor_sd, u.pv_factor_ar1), 0.0, 1.0)
    notices = _notices(scenario, u, rng)
    sites = sample_site_demand(scenario, u, rng, ar1_noise)   # last: the draws before are those of a day without sites
    return SampledDay(day=day, evs=evs, base_load_kw=base, pv_factor=pv, dr_notified_at=notices, site_demand=sites)


def _sessions(scenario: Scenario, u: Uncertainty, rng: np.random.Generator) -> pd.DataFrame:
    """The forecast sessions moved, resized and thinned by no-shows."""
    evs = scenario.evs[SESSION_COLUMNS].copy()
    n = len(evs)
    arrival_min = np.round(rng.normal(0.0, u.arrival_shift_sd_min, n))
    departure_min = np.round(rng.normal(0.0, u.departure_shift_sd_min, n))
    factor = rng.normal(1.0, u.energy_error_sd, n)
    shows = rng.random(n) >= u.no_show_probability
    evs["arrival"] = evs.arrival + pd.to_timedelta(arrival_min, unit="min")
    departure = evs.departure + pd.to_timedelta(departure_min, unit="min")
    earliest = evs.arrival + pd.Timedelta(minutes=scenario.config.horizon.slot_minutes)
    evs["departure"] = departure.where(departure >= earliest, earliest)
    energy = np.maximum(evs.energy_kwh.to_numpy() * factor, 0.0)
    if "v2g" in scenario.evs.columns:   # a V2G EV's request still fits in its battery
        v = scenario.evs
        room = (v.battery_kwh * (1.0 - v.soc_arrival)).to_numpy() / scenario.config.v2g.charge_efficiency
        energy = np.where(v.v2g.to_numpy(bool), np.minimum(energy, np.floor(room * 1000) / 1000), energy)
    evs["energy_kwh"] = np.round(energy, 3)   # 3 decimals: a written copy of the day is exact
    return evs[shows].reset_index(drop=True)


def _unannounced(scenario: Scenario, u: Uncertainty, rng: np.random.Generator, day: int) -> pd.DataFrame:
    """Poisson(``unannounced_rate`` x forecast sessions) home sessions from the ElaadNL statistics, each
    behind a transformer drawn in proportion to its forecast sessions."""
    fc = scenario.evs
    n = int(rng.poisson(u.unannounced_rate * len(fc))) if len(fc) else 0
    if n == 0:
        return pd.DataFrame(columns=SESSION_COLUMNS)
    h = scenario.config.horizon
    start = to_local(h.start, scenario.tz).to_pydatetime()
    uses_min = bool((fc.min_power_kw > 0).any())
    new = sample_home_evs(rng, n, start, h.slots, h.slot_minutes, min_power="iec" if uses_min else None)
    taken = set(fc.ev_id)
    ids = [f"{UNANNOUNCED_PREFIX}{i + 1}" for i in range(n)]
    ids = [i if i not in taken else f"{i}-day{day}" for i in ids]
    new.insert(0, "transformer_id", rng.choice(fc.transformer_id.to_numpy(dtype=object), size=n))
    new.insert(0, "ev_id", ids)
    return new[SESSION_COLUMNS]


def _notices(scenario: Scenario, u: Uncertainty, rng: np.random.Generator) -> dict:
    """event_id -> notice time: late (``dr_late_notice_min`` before the start) with ``dr_late_notice_probability``."""
    out = {}
    for ev in scenario.config.dr_events:
        late = rng.random() < u.dr_late_notice_probability
        notice = None if ev.notified_at is None else to_local(ev.notified_at, scenario.tz)
        if late:
            late_at = to_local(ev.start, scenario.tz) - pd.Timedelta(minutes=u.dr_late_notice_min)
            notice = late_at if notice is None else max(notice, late_at)
        out[ev.event_id] = None if notice is None else pd.Timestamp(notice).to_pydatetime()
    return out

