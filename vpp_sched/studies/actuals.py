"""What happened on the day, and what the planner knew of it when (``vpp-sched replay``).

:class:`Actuals` holds the real EV sessions, base load and PV: read from a folder
(:func:`load_actuals`) or drawn as a seeded perturbation of the forecast
(:func:`perturb_forecast`). :class:`Fleet` lines up the forecast and the actual sessions by
``ev_id`` (forecast sessions first, in the scenario's order, then unexpected ones) and answers
what the planner believes about each EV at a decision time (:meth:`Fleet.belief`);
:func:`window_problem` is the planning problem of the rest of the day as the planner sees it
then. Method: ``models/replay.md``.
"""

# Over the ~400-line guide (~420) and not split yet: issue 13's replay work edits it in parallel; the
# seam is reading the day (Actuals, load/write/perturb) vs the planner's belief (Fleet, Context, window_problem).

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from vpp_sched.scenario import stay, tables
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.errors import InputError, NoPlanError
from vpp_sched.problem.phases import phases_for_evs
from vpp_sched.problem.build import build_problem, needs_plan_baseline, pv_forecast_kw as build_pv_forecast_kw
from vpp_sched.problem.arrays import Problem
from vpp_sched.scenario.load import Scenario
from vpp_sched.scenario.sampling import SampledDay, sample_day
from vpp_sched.solve.solution import Solution
from vpp_sched.solve.plan_baseline import scenario_plan_baseline
from vpp_sched.scenario.timeutil import to_local
from vpp_sched.studies.actuals_sites import read_site_demand, write_site_demand

TOL_SAME = 1e-6   # state differences below this are round-off: the plan still holds [kWh, kW]

EV_COLUMNS = ["ev_id", "transformer_id", "arrival", "departure", "energy_kwh", "max_power_kw", "min_power_kw"]
OPTIONAL_EV_COLUMNS = ("transformer_id", "max_power_kw", "min_power_kw")  # default: the forecast's


@dataclass(frozen=True)
class Actuals:
    """The day as it happened.

    Attributes
    ----------
    evs : one row per session that happened, columns ``EV_COLUMNS`` (tz-aware times, kWh, kW)
    base_load_kw : [slots x transformer_id] metered base load [kW], like ``Scenario.base_load_kw``
    pv_kw : [S, T] actual PV AC power per station [kW]; ``None`` means as forecast
    source : where they came from (a folder, or the perturbation and its seed)
    dr_notified_at : event_id -> when the event was actually notified (``None``: as in the scenario)
    """

    evs: pd.DataFrame
    base_load_kw: pd.DataFrame
    pv_kw: np.ndarray | None = None
    source: str = ""
    dr_notified_at: dict | None = None   # event_id -> actual notice time (None: the scenario's notified_at)
    site_demand: dict | None = None      # station_id -> sampled swap/fast demand table (None: as forecast)


def forecast_as_actuals(scenario: Scenario) -> Actuals:
    """Actuals equal to the forecast (the day went exactly as planned)."""
    return Actuals(evs=scenario.evs[EV_COLUMNS].copy(), base_load_kw=scenario.base_load_kw.copy(),
                   source="forecast")


def perturb_forecast(scenario: Scenario, seed: int = 0, day: int = 0, model=None,
                     pv_forecast_kw: np.ndarray | None = None) -> Actuals:
    """Day ``day`` of ``seed`` drawn from the scenario's ``uncertainty:`` model (or ``model``) by the
    project's one sampler, :func:`vpp_sched.scenario.sampling.sample_day` (``models/uncertainty.md``).

    ``pv_forecast_kw`` [S, T]: the PV forecast the day's PV factors multiply (default: pvlib's, computed
    here when a station has PV) [kW].
    """
    source = f"forecast perturbed with seed {seed}" + (f", day {day}" if day else "")
    return sampled_actuals(scenario, sample_day(scenario, seed, day, model), pv_forecast_kw, source)


def sampled_actuals(scenario: Scenario, day: SampledDay, pv_forecast_kw: np.ndarray | None = None,
                    source: str = "") -> Actuals:
    """A :class:`SampledDay` as :class:`Actuals` (PV: the forecast times the day's factors; none without PV)."""
    pv = None
    if any(st.pv is not None for st in scenario.config.stations):
        forecast = pv_forecast_kw if pv_forecast_kw is not None else build_pv_forecast_kw(scenario)
        pv = np.round(np.asarray(forecast, float) * day.pv_factor, 3)
    return Actuals(evs=day.evs, base_load_kw=day.base_load_kw, pv_kw=pv, dr_notified_at=day.dr_notified_at,
                   source=source or f"sampled day {day.day} of the uncertainty model",
                   site_demand=day.site_demand or None)


def load_actuals(folder: Path | str, scenario: Scenario) -> Actuals:
    """Read ``evs.csv`` (required), ``base_load.csv`` and ``pv.csv`` (optional) from ``folder``.

    ``evs.csv`` has ``ev_id, arrival, departure, energy_kwh`` and optionally ``transformer_id,
    max_power_kw, min_power_kw`` (empty or absent: the forecast's; required for an ``ev_id`` not in
    the scenario). ``base_load.csv`` is in the scenario's format; ``pv.csv`` is ``slot_start,
    station_id, pv_kw``. Missing files mean "as forecast".

    Raises
    ------
    InputError
        One line per problem, naming the file, row and field.
    """
    folder = Path(folder)
    if not (folder / "evs.csv").is_file():
        raise InputError([f"{folder}: actuals folder has no evs.csv"])
    problems = tables.Problems()
    tz, slots, ids = scenario.tz, scenario.slots, list(scenario.transformers.transformer_id)
    evs = _read_evs(folder / "evs.csv", scenario, problems)
    base = scenario.base_load_kw
    if (folder / "base_load.csv").is_file():
        base = tables.read_slot_table(folder / "base_load.csv", "actuals base_load.csv", tz, slots,
                                      "transformer_id", "load_kw", ids, problems)
    pv = None
    if (folder / "pv.csv").is_file():
        st_ids = [s.station_id for s in scenario.config.stations]
        wide = tables.read_slot_table(folder / "pv.csv", "actuals pv.csv", tz, slots, "station_id", "pv_kw",
                                      st_ids, problems, "scenario.yaml stations")
        pv = None if wide is None else wide.to_numpy(float).T
    site_demand = read_site_demand(folder, scenario, problems)   # swap_demand.csv, fast_demand.csv
    if problems:
        raise InputError(problems.close())
    return Actuals(evs=evs, base_load_kw=base, pv_kw=pv, source=str(folder.resolve()), site_demand=site_demand)


def _read_evs(path: Path, scenario: Scenario, problems: tables.Problems) -> pd.DataFrame | None:
    label = "actuals evs.csv"
    t = tables.Table(path, label, "ev_id", problems)
    if not t.ok or not t.require(["ev_id", "arrival", "departure", "energy_kwh"]):
        return None
    forecast = scenario.evs.set_index("ev_id")
    df = pd.DataFrame({"ev_id": t.text("ev_id"), "arrival": t.time("arrival", scenario.tz),
                       "departure": t.time("departure", scenario.tz),
                       "energy_kwh": t.number("energy_kwh", minimum=0)})
    t.unique("ev_id")
    known = df.ev_id.isin(forecast.index).to_numpy()
    for col in OPTIONAL_EV_COLUMNS:
        given = t.raw[col] if col in t.raw.columns else pd.Series("", index=t.raw.index)
        empty = (given == "").to_numpy()
        if col == "min_power_kw":   # as in the scenario's evs.csv, 0 when not given
            fallback = df.ev_id.map(forecast[col]).fillna(0.0)
        else:
            fallback = df.ev_id.map(forecast[col])
            t.report(empty & ~known, col, lambda i: "is empty, and this ev_id is not in the scenario's evs.csv")
        if col == "transformer_id":
            df[col] = given.where(~empty, fallback)
            unknown = ~empty & ~given.isin(set(scenario.transformers.transformer_id)).to_numpy()
            t.report(unknown, col, lambda i: f"{given.iat[i]} is not a transformer_id of the scenario")
            moved = known & ~empty & (given != fallback).to_numpy()
            t.report(moved, col, lambda i: f"{given.iat[i]} differs from the scenario's {fallback.iat[i]}")
            continue
        value = pd.to_numeric(given.where(~empty, fallback), errors="coerce").astype(float)
        t.report(~empty & ~(value.to_numpy() >= 0), col, lambda i: f"{given.iat[i]!r} is not a number >= 0")
        df[col] = value
    t.report((df.departure <= df.arrival).fillna(False).to_numpy(), "departure",
             lambda i: f"{df.departure.iat[i].isoformat()} is not after arrival {df.arrival.iat[i].isoformat()}")
    t.report((df.min_power_kw > df.max_power_kw).to_numpy(), "min_power_kw", lambda i: "exceeds max_power_kw")
    return df[EV_COLUMNS]


def write_actuals(actuals: Actuals, folder: Path, station_ids: list[str], config=None) -> None:
    """Write the actuals in the format :func:`load_actuals` reads (so a replay can be repeated)."""
    folder.mkdir(parents=True, exist_ok=True)
    evs = actuals.evs.copy()
    for col in ("arrival", "departure"):
        evs[col] = evs[col].map(lambda x: x.isoformat())
    evs.to_csv(folder / "evs.csv", index=False, float_format="%.6g", lineterminator="\n")
    base = actuals.base_load_kw.rename_axis(index="slot_start", columns="transformer_id")
    long = base.stack().rename("load_kw").reset_index()
    long["slot_start"] = long.slot_start.map(lambda x: x.isoformat())
    # 10 significant digits: a base load of 1,234.567 kW (3 decimals, as sampled) is written exactly
    long[["slot_start", "transformer_id", "load_kw"]].to_csv(folder / "base_load.csv", index=False,
                                                             float_format="%.10g", lineterminator="\n")
    if actuals.pv_kw is not None and len(station_ids):
        pv = pd.DataFrame(actuals.pv_kw.T, index=actuals.base_load_kw.index, columns=station_ids)
        long = pv.rename_axis(index="slot_start", columns="station_id").stack().rename("pv_kw").reset_index()
        long["slot_start"] = long.slot_start.map(lambda x: x.isoformat())
        long.to_csv(folder / "pv.csv", index=False, float_format="%.10g", lineterminator="\n")
    write_site_demand(actuals.site_demand, config, folder)


def _seconds(times: pd.Series) -> np.ndarray:
    return times.dt.as_unit("s").astype("int64").to_numpy()


def whole_slots(slot_start_s: np.ndarray, dt_s: int, arrival_s: np.ndarray, departure_s: np.ndarray) -> np.ndarray:
    """[U, T] plugged in for the whole slot: start >= arrival and end <= departure (epoch seconds).

    :func:`vpp_sched.scenario.stay.whole_slots`, the planner's rule, on the integer seconds a replay
    has at every decision (no pandas series built).
    """
    return stay.whole_slots(slot_start_s, dt_s, arrival_s, departure_s)


@dataclass(frozen=True)
class Fleet:
    """Forecast and actual EV sessions lined up by ``ev_id`` (index ``u``).

    Times are epoch seconds; a session absent from the forecast (unexpected) or from the actuals
    (no-show) has arrival = departure = 0 and energy 0 on that side, so it has no whole slot.
    Charger limits: ``f_*`` as forecast, ``a_*`` as plugged in [kW].
    """

    ev_ids: np.ndarray
    transformer: np.ndarray          # [U] index into the problem's transformer_ids
    in_forecast: np.ndarray          # [U] bool
    in_actuals: np.ndarray           # [U] bool
    f_arrival_s: np.ndarray
    f_departure_s: np.ndarray
    f_energy_kwh: np.ndarray
    f_max_power_kw: np.ndarray
    f_min_power_kw: np.ndarray
    a_arrival_s: np.ndarray
    a_departure_s: np.ndarray
    a_energy_kwh: np.ndarray
    a_max_power_kw: np.ndarray
    a_min_power_kw: np.ndarray
    # V2G, from the scenario's evs.csv (a car's battery does not change on the day; EVs that are
    # not in the forecast do not discharge); all False / 0 without V2G EVs.
    v2g: np.ndarray | None = None                 # [U] bool
    max_discharge_kw: np.ndarray | None = None    # [U]
    battery_kwh: np.ndarray | None = None         # [U]
    soc_arrival_kwh: np.ndarray | None = None     # [U] stored at arrival

    @property
    def has_v2g(self) -> bool:
        return self.v2g is not None and bool(self.v2g.any())

    @property
    def status(self) -> np.ndarray:
        """[U] ``expected`` (forecast and came), ``unexpected`` (not forecast) or ``no_show``."""
        return np.where(self.in_forecast & self.in_actuals, "expected",
                        np.where(self.in_actuals, "unexpected", "no_show")).astype(object)

    def belief(self, t0_s: int, dt_s: int, delivered_kwh: np.ndarray, use_actuals: bool = True) -> tuple:
        """What the planner takes for each EV at a decision at ``t0_s`` (epoch s).

        A driver states departure and energy at plug-in, so an EV that has arrived
        (actual arrival <= ``t0_s``) is known as it is; before that the forecast stands, except that
        an EV forecast to have arrived but not plugged in is expected from the next slot on.
        ``use_actuals=False`` is the day-ahead view: the forecast only.

        Returns
        -------
        arrival_s, departure_s : [U] epoch s
        energy_kwh : [U] still wanted, at the charger (actual request minus ``delivered_kwh``) [kWh]
        max_power_kw, min_power_kw : [U] [kW]
        """
        if not use_actuals:
            return (self.f_arrival_s, self.f_departure_s, self.f_energy_kwh, self.f_max_power_kw,
                    self.f_min_power_kw)
        known = self.in_actuals & (self.a_arrival_s <= t0_s)
        late = ~known & self.in_forecast & (self.f_arrival_s <= t0_s)
        arrival = np.where(known, self.a_arrival_s, np.where(late, t0_s + dt_s, self.f_arrival_s))
        departure = np.where(known, self.a_departure_s, self.f_departure_s)
        energy = np.where(known, np.maximum(self.a_energy_kwh - delivered_kwh, 0.0), self.f_energy_kwh)
        return (arrival, departure, energy, np.where(known, self.a_max_power_kw, self.f_max_power_kw),
                np.where(known, self.a_min_power_kw, self.f_min_power_kw))


def make_fleet(scenario: Scenario, actuals: Actuals, transformer_ids: np.ndarray) -> Fleet:
    """Line up the scenario's (forecast) EVs and the actual ones by ``ev_id``."""
    fc, ac = scenario.evs, actuals.evs
    forecast_ids = set(fc.ev_id)
    ids = list(fc.ev_id) + [e for e in ac.ev_id if e not in forecast_ids]
    t_index = {t: i for i, t in enumerate(transformer_ids)}
    both = pd.concat([d for d in (ac[EV_COLUMNS], fc[EV_COLUMNS]) if len(d)] or [fc[EV_COLUMNS]]).drop_duplicates("ev_id").set_index("ev_id").loc[ids]

    def side(df: pd.DataFrame) -> tuple[np.ndarray, ...]:
        df = df.set_index("ev_id").reindex(ids)
        present = df.arrival.notna().to_numpy()
        secs = [np.where(present, _seconds(df[c].fillna(pd.Timestamp(0, tz=scenario.tz))), 0)
                for c in ("arrival", "departure")]
        nums = [df[c].astype(float).fillna(0.0).to_numpy() for c in ("energy_kwh", "max_power_kw", "min_power_kw")]
        return (present, *secs, *nums)

    f, a = side(fc), side(ac)
    v2g = {}
    if "v2g" in fc.columns and fc.v2g.any():
        col = fc.set_index("ev_id").reindex(ids)
        v2g = dict(v2g=col.v2g.astype("boolean").fillna(False).to_numpy(bool),   # NaN: EVs only in the actuals
                   max_discharge_kw=col.max_discharge_kw.fillna(0.0).to_numpy(float),
                   battery_kwh=col.battery_kwh.fillna(0.0).to_numpy(float),
                   soc_arrival_kwh=(col.battery_kwh * col.soc_arrival).fillna(0.0).to_numpy(float))
    return Fleet(**v2g, ev_ids=np.array(ids, dtype=object),
                 transformer=np.array([t_index[t] for t in both.transformer_id], dtype=int),
                 in_forecast=f[0], in_actuals=a[0], f_arrival_s=f[1], f_departure_s=f[2], f_energy_kwh=f[3],
                 f_max_power_kw=f[4], f_min_power_kw=f[5], a_arrival_s=a[1], a_departure_s=a[2],
                 a_energy_kwh=a[3], a_max_power_kw=a[4], a_min_power_kw=a[5])


# ---- what the planner knows when -----------------------------------------------------------
@dataclass
class Context:
    """Everything a replay reads: the forecast problem over the fleet, the actuals, timing of news."""

    scenario: Scenario
    actuals: Actuals
    fleet: Fleet
    problem: Problem                   # forecast, all events (their baselines), fleet EVs as forecast
    base_actual_kw: np.ndarray         # [N, T]
    pv_actual_kw: np.ndarray           # [S, T]
    notice_slot: np.ndarray            # [K] first slot from which an event is known (0: day-ahead)
    options: SolverOptions
    method: str

    @property
    def start_s(self) -> np.ndarray:
        return self.problem.slots.as_unit("s").asi8

    @property
    def dt_s(self) -> int:
        return int(round(self.problem.dt_h * 3600))

    @property
    def actual_available(self) -> np.ndarray:
        """[U, T] actually plugged in for the whole slot."""
        f = self.fleet
        return whole_slots(self.start_s, self.dt_s, f.a_arrival_s, f.a_departure_s)


def make_context(scenario: Scenario, actuals: Actuals, options: SolverOptions, method: str = "lean",
                 forecast: Problem | None = None) -> Context:
    """Forecast problem (events and baselines as ``vpp-sched plan`` builds them) over the fleet.
    ``forecast``: that problem made before (it is the same for every day of a scenario)."""
    if forecast is not None:
        full = forecast
    elif needs_plan_baseline(scenario):
        free_problem, free = scenario_plan_baseline(scenario, options)
        if not free.status.has_plan:
            raise NoPlanError(free.status, "no plan without the DR events (their 'plan' baseline)")
        full = build_problem(scenario, pv_kw=free_problem.pv_kw, plan_net_load_kw=free.net_load_kw)
    else:
        full = build_problem(scenario)
    fleet = make_fleet(scenario, actuals, full.transformer_ids)
    start = full.slots.as_unit("s").asi8
    dt_s = int(round(full.dt_h * 3600))
    full = replace(full, ev_ids=fleet.ev_ids, ev_transformer=fleet.transformer, ev_energy_kwh=fleet.f_energy_kwh,
                   ev_max_power_kw=fleet.f_max_power_kw, ev_min_power_kw=fleet.f_min_power_kw,
                   ev_available=whole_slots(start, dt_s, fleet.f_arrival_s, fleet.f_departure_s),
                   **(dict(ev_v2g=fleet.v2g, ev_max_discharge_kw=fleet.max_discharge_kw,
                           ev_battery_kwh=fleet.battery_kwh, ev_soc_arrival_kwh=fleet.soc_arrival_kwh)
                      if fleet.has_v2g else dict(ev_v2g=np.zeros(0, dtype=bool))))
    full = replace(full, phases=phases_for_evs(full, dict(zip(scenario.evs.ev_id, scenario.evs.phase))))  # the fleet's phases
    base = actuals.base_load_kw[list(full.transformer_ids)].to_numpy(float).T
    pv = full.pv_kw if actuals.pv_kw is None else np.asarray(actuals.pv_kw, float)
    notice = np.zeros(full.n_events, dtype=int)
    for k, ev in enumerate(scenario.config.dr_events):
        notified_at = (actuals.dr_notified_at or {}).get(ev.event_id, ev.notified_at)
        if notified_at is not None:
            notice[k] = int(np.searchsorted(start, to_local(notified_at, scenario.tz).timestamp(), "left"))
    return Context(scenario=scenario, actuals=actuals, fleet=fleet, problem=full, base_actual_kw=base,
                   pv_actual_kw=pv, notice_slot=notice, options=options, method=method)


def window_problem(ctx: Context, t0: int, delivered_kwh: np.ndarray, soc_kwh: np.ndarray,
                   use_actuals: bool = True, ev_soc_kwh: np.ndarray | None = None,
                   site_state: tuple[np.ndarray, np.ndarray] | None = None, known_at_s: int | None = None) -> Problem:
    """The planning problem of slots ``t0..T-1`` as the planner sees it at the start of slot ``t0``.

    EVs as :meth:`Fleet.belief`; base load and PV actual in ``t0``, forecast later; battery SOC
    actual; DR events known by ``t0`` (baselines of the day-ahead problem), sliced. The tie-break
    for early charging is rescaled so its per-slot weights equal the day-ahead ones up to a
    constant, so a re-plan with nothing new agrees with the plan it replaces.
    ``use_actuals=False`` at ``t0 = 0`` is the day-ahead problem. ``ev_soc_kwh`` [U]: V2G EVs'
    battery energy now (default: at arrival); ``delivered_kwh`` counts their discharge as taken back.
    ``site_state``: swap stations' full packs and energy in the packs not full now [W] (default: the start's).
    ``known_at_s``: when the planner looks (epoch s; default the start of slot ``t0``; a live re-plan looks
    during the slot, knowing the EVs plugged in so far).
    """
    full, T = ctx.problem, ctx.problem.n_slots
    start = ctx.start_s
    now_s = int(start[t0]) if known_at_s is None else int(known_at_s)
    arrival, departure, energy, pmax, pmin = ctx.fleet.belief(now_s, ctx.dt_s, delivered_kwh, use_actuals)
    avail = whole_slots(start[t0:], ctx.dt_s, arrival, departure)
    energy = np.where(avail.any(axis=1), energy, 0.0)
    # Less left than one slot at min power: the charger runs below it while the car tops up.
    pmin = np.minimum(pmin, energy / full.dt_h)
    base, pv = full.base_load_kw[:, t0:].copy(), full.pv_kw[:, t0:].copy()
    if use_actuals:
        base[:, 0], pv[:, 0] = ctx.base_actual_kw[:, t0], ctx.pv_actual_kw[:, t0]
    return replace(full, slots=full.slots[t0:], price_cny_per_kwh=full.price_cny_per_kwh[t0:],
                   base_load_kw=base, pv_kw=pv, ev_energy_kwh=energy, ev_max_power_kw=pmax, ev_min_power_kw=pmin,
                   ev_available=avail,
                   **({"ev_soc_arrival_kwh": ctx.fleet.soc_arrival_kwh if ev_soc_kwh is None else ev_soc_kwh}
                      if ctx.fleet.has_v2g else {}),
                   **_battery_window(full, soc_kwh, T - t0),
                   **_event_window(full, ctx.notice_slot <= t0, t0),
                   early_charging_cny_per_kwh=full.early_charging_cny_per_kwh * (T - t0 - 1) / max(T - 1, 1),
                   # the demand charge's months of the slots left; the month's peak so far stays the
                   # day-ahead's (models/replay.md, Limitations)
                   **({"slot_month": np.asarray(full.slot_month)[t0:]} if len(full.slot_month) else {}),
                   sites=None if full.sites is None else full.sites.window(
                       t0, *(site_state or (full.sites.swap_initial_full, full.sites.partial0_kwh)), full.dt_h))


def _battery_window(p: Problem, soc_kwh: np.ndarray, n_slots: int) -> dict:
    """Start at the actual SOC; the final SOC bound is lowered if it can no longer be reached."""
    soc = np.clip(soc_kwh, p.battery_soc_min_kwh, p.battery_soc_max_kwh)
    reach = np.minimum(soc + p.battery_charge_efficiency * p.dt_h * p.battery_max_charge_kw * n_slots,
                       p.battery_soc_max_kwh)
    return {"battery_soc_initial_kwh": soc, "battery_soc_final_min_kwh": np.minimum(p.battery_soc_final_min_kwh, reach)}


def _event_window(p: Problem, known: np.ndarray, t0: int) -> dict:
    """Event arrays of the known events with slots left, sliced to ``t0..T-1``."""
    if not p.n_events:
        return {}
    keep = np.flatnonzero(known & p.event_slots[:, t0:].any(axis=1))
    return {"event_ids": p.event_ids[keep], "event_slots": p.event_slots[keep, t0:],
            "event_scope": p.event_scope[keep], "event_baseline_kw": p.event_baseline_kw[keep, t0:],
            "event_reduction_kw": p.event_reduction_kw[keep], "event_sign": p.event_signs()[keep],
            "event_price_cny_per_kwh": p.event_price_cny_per_kwh[keep],
            "event_penalty_cny_per_kwh": p.event_penalty_cny_per_kwh[keep]}


def same_inputs(plan_p: Problem, plan: Solution, k: int, new: Problem) -> bool:
    """True when the window problem ``new`` is what the plan (made ``k`` slots ago) expected now:
    same EV stays, energies left and limits, base load, PV, battery SOC and events."""
    dt = plan_p.dt_h
    delivered = plan.ev_power_kw[:, :k].sum(axis=1) * dt
    v2g_same = True
    if plan.ev_discharge_kw is not None:   # V2G: discharge is taken back; the batteries must be as planned
        delivered = delivered - plan_p.v2g_round_trip * plan.ev_discharge_kw[:, :k].sum(axis=1) * dt
        stored = plan_p.ev_soc_arrival_kwh + dt * (plan_p.v2g_charge_efficiency * plan.ev_power_kw[:, :k]
                                                   - plan.ev_discharge_kw[:, :k] / plan_p.v2g_discharge_efficiency
                                                   ).sum(axis=1)
        v2g_same = np.allclose(stored, new.ev_soc_arrival_kwh, atol=TOL_SAME, rtol=0)
    avail = plan_p.ev_available[:, k:]
    left = np.where(avail.any(axis=1), np.maximum(plan_p.ev_energy_kwh - delivered, 0.0), 0.0)
    soc = plan.battery_soc_kwh[:, k - 1] if k > 0 else plan_p.battery_soc_initial_kwh
    old_events = plan_p.event_slots[:, k:].any(axis=1) if plan_p.n_events else np.zeros(0, bool)
    return (v2g_same and np.array_equal(avail, new.ev_available) and np.allclose(left, new.ev_energy_kwh, atol=TOL_SAME, rtol=0)
            and np.allclose(np.minimum(plan_p.ev_min_power_kw, left / plan_p.dt_h), new.ev_min_power_kw,
                            atol=TOL_SAME, rtol=0)
            and np.array_equal(plan_p.ev_max_power_kw, new.ev_max_power_kw)
            and np.allclose(plan_p.base_load_kw[:, k:], new.base_load_kw, atol=TOL_SAME, rtol=0)
            and np.allclose(plan_p.pv_kw[:, k:], new.pv_kw, atol=TOL_SAME, rtol=0)
            and np.allclose(soc, new.battery_soc_initial_kwh, atol=TOL_SAME, rtol=0)
            and np.allclose(plan_p.battery_soc_final_min_kwh, new.battery_soc_final_min_kwh, atol=TOL_SAME, rtol=0)
            and list(plan_p.event_ids[old_events]) == list(new.event_ids))
