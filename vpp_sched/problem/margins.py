"""Robust headroom: the margin a plan keeps below each transformer's limit for forecast errors.

The chance constraint of ``models/uncertainty.md`` ("The robust plan"): from ``K`` days sampled
by :func:`vpp_sched.scenario.sampling.sample_day`, the load a controlled plan does not steer, over
its forecast, per transformer ``n`` and slot ``t``::

    x[k, n, t] = (base_k - base_forecast)[n, t] + (pv_forecast - pv_k) at n [kW]

(EVs under control never draw more than their set-points, so they add nothing here). With
``sd[n, t]`` its spread over the days, the margin is ``margin[n, t] = lam[n] * sd[n, t]``, where
``lam[n]`` is the smallest number with at most ``epsilon * K`` sampled days on which
``max_t x[k, n, t] / sd[n, t] > lam[n]``: a plan that keeps transformer ``n`` at or below
``limit - margin`` in every slot passes its limit on at most a share ``epsilon`` of the sampled days.

The margin enters the problem as reduced headroom without a new model family, the way
:func:`vpp_sched.problem.blocks.subproblem` caps a transformer per slot: one DR-like event per
transformer with a margin (scope the transformer, ``baseline = limit - margin``, target 0, no
compensation), its shortfall (the margin used) priced at ``margin_cny_per_kwh``, below the
unmet-energy penalty, so EVs are served before the margin is kept.

Robust sessions (:func:`robust_stays`): the robust plan gives a forecast EV the ``(1 - epsilon)``
quantile of its energy (what its stay takes at most) and charges it only where it is plugged in with
probability ``1 - epsilon`` (its forecast arrival plus the quantile of the arrival shift to its
forecast departure less that of the departure shift, when the energy still fits there), so a driver
asking for more, arriving late or leaving early seldom finds the plan short. An EV takes at most what
it needs, so set-points above its actual need cost nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from statistics import NormalDist

import numpy as np
import pandas as pd

from vpp_sched.errors import ArgumentError
from vpp_sched.problem.arrays import Problem
from vpp_sched.problem.build import ev_availability
from vpp_sched.scenario.load import Scenario
from vpp_sched.scenario.sampling import sample_day
from vpp_sched.scenario.uncertainty import Uncertainty

#: ``event_id`` prefix of the margin events (``margin:T01``); never a DR event of a scenario.
MARGIN_EVENT_PREFIX = "margin:"
#: The margins are fitted on sampled days from this day number on, which ``vpp-sched evaluate``
#: (days 0, 1, ...) never draws: a robust plan is judged on days it was not made from.
MARGIN_DAY_OFFSET = 1_000_000


@dataclass(frozen=True)
class Margins:
    """Robust margins per transformer and slot and how they were made."""

    margin_kw: np.ndarray        # [N, T] headroom kept below limit_kw [kW]
    multiplier: np.ndarray       # [N] lam: margin / spread of the uncontrolled extra load [-]
    spread_kw: np.ndarray        # [N, T] sd of the extra load over the sampled days [kW]
    epsilon: float               # share of days a transformer may pass its limit [-]
    scenarios: int               # sampled days K [-]
    seed: int


def extra_load_kw(scenario: Scenario, problem: Problem, scenarios: int, seed: int) -> np.ndarray:
    """[K, N, T] load over the forecast that no set-point steers, on ``scenarios`` sampled days [kW]."""
    ids = list(problem.transformer_ids)
    pv_forecast = problem.pv_at_transformer_kw()
    out = np.empty((scenarios, problem.n_transformers, problem.n_slots))
    for k in range(scenarios):
        day = sample_day(scenario, seed, MARGIN_DAY_OFFSET + k)
        base = day.base_load_kw[ids].to_numpy(float).T
        pv = np.zeros_like(pv_forecast)
        if problem.n_stations and problem.pv_kw is not None:
            np.add.at(pv, problem.station_transformer, problem.pv_kw * day.pv_factor)
        out[k] = (base - problem.base_load_kw) + (pv_forecast - pv)
    return out


def chance_margins_kw(extra_kw: np.ndarray, epsilon: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(margin [N, T], lam [N], sd [N, T])`` of the day-level chance constraint from samples [K, N, T].

    ``lam[n]`` is the ``ceil((1 - epsilon) K)``-th smallest of the days' worst standardised extra load
    ``max_t x / sd`` (slots without spread left out), at least 0: at most ``epsilon K`` days exceed it.
    """
    if not 0 < epsilon < 1:
        raise ArgumentError(f"epsilon must lie in (0, 1), not {epsilon}")
    K = extra_kw.shape[0]
    sd = extra_kw.std(axis=0)
    spread = sd > 1e-9
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(spread[None], extra_kw / np.where(spread, sd, 1.0)[None], -np.inf)
    worst = np.sort(z.max(axis=2), axis=0)            # [K, N] ascending
    rank = min(max(math.ceil((1.0 - epsilon) * K - 1e-9), 1), K) - 1
    lam = np.maximum(worst[rank], 0.0)
    lam[~np.isfinite(lam)] = 0.0                     # a transformer without any spread keeps no margin
    return lam[:, None] * sd, lam, sd


def robust_margins(scenario: Scenario, problem: Problem, seed: int = 0) -> Margins:
    """The margins of the scenario's ``uncertainty:`` settings (``robust_epsilon``, ``robust_scenarios``)."""
    u = scenario.config.uncertainty
    margin, lam, sd = chance_margins_kw(extra_load_kw(scenario, problem, u.robust_scenarios, seed), u.robust_epsilon)
    return Margins(margin_kw=np.round(margin, 3), multiplier=lam, spread_kw=sd, epsilon=u.robust_epsilon,
                   scenarios=u.robust_scenarios, seed=seed)


def with_margins(problem: Problem, margin_kw: np.ndarray, margin_cny_per_kwh: float) -> Problem:
    """``problem`` with one margin event per transformer whose margin is positive in some slot:
    ``net_load - used <= limit_kw - margin`` in those slots, ``used`` priced ``margin_cny_per_kwh``."""
    p, T = problem, problem.n_slots
    margin_kw = np.asarray(margin_kw, dtype=float).reshape(p.n_transformers, T)
    rows = np.flatnonzero((margin_kw > 0).any(axis=1))
    if not len(rows):
        return p
    K = p.n_events
    scope = np.zeros((len(rows), p.n_transformers), dtype=bool)
    scope[np.arange(len(rows)), rows] = True

    def stack(old, new, shape):
        return np.concatenate([np.asarray(old, dtype=np.asarray(new).dtype).reshape(shape), new])

    return replace(
        p, event_ids=np.concatenate([np.asarray(p.event_ids, dtype=object),
                                     np.array([MARGIN_EVENT_PREFIX + str(p.transformer_ids[n]) for n in rows],
                                              dtype=object)]),
        event_slots=stack(p.event_slots if K else np.zeros((0, T), bool), margin_kw[rows] > 0, (K, T)),
        event_scope=stack(p.event_scope if K else np.zeros((0, p.n_transformers), bool), scope,
                          (K, p.n_transformers)),
        event_baseline_kw=stack(p.event_baseline_kw if K else np.zeros((0, T)),
                                p.limit_kw[rows, None] - margin_kw[rows], (K, T)),
        event_reduction_kw=stack(p.event_reduction_kw, np.zeros(len(rows)), (K,)),
        event_sign=stack(p.event_signs(), np.ones(len(rows)), (K,)),
        event_price_cny_per_kwh=stack(p.event_price_cny_per_kwh, np.zeros(len(rows)), (K,)),
        event_penalty_cny_per_kwh=stack(p.event_penalty_cny_per_kwh, np.full(len(rows), float(margin_cny_per_kwh)),
                                        (K,)))


def is_margin_event(event_ids) -> np.ndarray:
    """[K] bool: the margin events of :func:`with_margins`."""
    return np.array([str(e).startswith(MARGIN_EVENT_PREFIX) for e in np.asarray(event_ids, dtype=object)],
                    dtype=bool)


def margin_used_kw(problem: Problem, dr_shortfall_kw: np.ndarray) -> np.ndarray:
    """[N, T] margin the plan used (its margin events' shortfall) per transformer [kW]."""
    out = np.zeros((problem.n_transformers, problem.n_slots))
    mask = is_margin_event(problem.event_ids)
    for k in np.flatnonzero(mask):
        out[np.flatnonzero(problem.event_scope[k])[0]] += np.asarray(dr_shortfall_kw)[k]
    return out


def robust_stays(evs: pd.DataFrame, u: Uncertainty, slots: pd.DatetimeIndex, dt_h: float,
                 epsilon: float, charge_efficiency: float = 1.0) -> pd.DataFrame:
    """``evs`` as the robust plan counts on them: energy raised to the ``(1 - epsilon)`` quantile of the
    normal energy factor (at most what the whole-slot stay takes at ``max_power_kw``, and a V2G EV's
    battery room), the stay shortened to where the EV is plugged in with probability ``1 - epsilon``
    (arrival later, departure earlier by the quantiles of the shifts, whole minutes) when that energy
    still fits there; else the stay as forecast."""
    z = NormalDist().inv_cdf(1.0 - epsilon)
    pmax, energy = evs.max_power_kw.to_numpy(float), evs.energy_kwh.to_numpy(float)
    full = ev_availability(slots, dt_h, evs.arrival, evs.departure).sum(axis=1) * pmax * dt_h
    want = np.maximum(np.minimum(energy * (1.0 + z * u.energy_error_sd), full), energy)
    if "v2g" in evs.columns:          # a V2G EV's request fits in its battery
        room = (evs.battery_kwh * (1.0 - evs.soc_arrival)).to_numpy(float) / charge_efficiency
        want = np.where(evs.v2g.to_numpy(bool), np.maximum(np.minimum(want, room), energy), want)
    later = pd.Timedelta(minutes=round(z * u.arrival_shift_sd_min))
    earlier = pd.Timedelta(minutes=round(z * u.departure_shift_sd_min))
    arrival, departure = evs.arrival + later, evs.departure - earlier
    inside = ev_availability(slots, dt_h, arrival, departure).sum(axis=1) * pmax * dt_h
    fits = (inside >= want - 1e-9) & (departure > arrival).to_numpy()
    return evs.assign(arrival=evs.arrival.where(~fits, arrival), departure=evs.departure.where(~fits, departure),
                      energy_kwh=np.floor(want * 1000 + 1e-6) / 1000)


def robust_scenario(scenario: Scenario, epsilon: float) -> Scenario:
    """``scenario`` with the robust stays of its EVs (:func:`robust_stays`)."""
    evs = robust_stays(scenario.evs, scenario.config.uncertainty, scenario.slots, scenario.dt_h, epsilon,
                       scenario.config.v2g.charge_efficiency)
    return replace(scenario, evs=evs)


def robust_problem(problem: Problem, scenario: Scenario, margins: Margins) -> Problem:
    """``problem`` (the scenario's EVs in order) with the margins and the robust stays' availability."""
    shrunk = robust_sessions_problem(problem, scenario, margins.epsilon)
    return with_margins(shrunk, margins.margin_kw, scenario.config.uncertainty.robust_margin_cny_per_kwh)


def robust_sessions_problem(problem: Problem, scenario: Scenario, epsilon: float) -> Problem:
    """``problem`` with the robust stays' availability and energies, no margins: the problem a robust
    plan's tables are of (``validate PLAN`` checks a written robust plan on it)."""
    evs = robust_scenario(scenario, epsilon).evs
    if len(evs) != problem.n_evs:
        raise ArgumentError(f"the problem has {problem.n_evs} EVs, the scenario {len(evs)}")
    return replace(problem, ev_available=ev_availability(scenario.slots, scenario.dt_h, evs.arrival, evs.departure),
                   ev_energy_kwh=evs.energy_kwh.to_numpy(float))


def without_margins(problem: Problem, n_events: int) -> Problem:
    """``problem`` with only its first ``n_events`` events (the scenario's; the margin events dropped)."""
    if problem.n_events == n_events:
        return problem
    keep = slice(0, n_events)
    return replace(problem, event_ids=problem.event_ids[keep], event_slots=problem.event_slots[keep],
                   event_scope=problem.event_scope[keep], event_baseline_kw=problem.event_baseline_kw[keep],
                   event_reduction_kw=problem.event_reduction_kw[keep], event_sign=problem.event_signs()[keep],
                   event_price_cny_per_kwh=problem.event_price_cny_per_kwh[keep],
                   event_penalty_cny_per_kwh=problem.event_penalty_cny_per_kwh[keep])


def margin_kpis(margins: Margins, used_kw: np.ndarray, dt_h: float) -> dict:
    """``kpis["robust"]`` of a robust plan: the chance constraint and the margins kept and used [kW, kWh]."""
    return {"epsilon": margins.epsilon, "scenarios": margins.scenarios, "seed": margins.seed,
            "transformers_with_margin": int((margins.margin_kw > 0).any(axis=1).sum()),
            "max_margin_kw": float(margins.margin_kw.max()) if margins.margin_kw.size else 0.0,
            "margin_kwh": float(margins.margin_kw.sum() * dt_h), "margin_used_kwh": float(np.sum(used_kw) * dt_h),
            "method": "day-level chance constraint per transformer; robust sessions (models/uncertainty.md)"}
