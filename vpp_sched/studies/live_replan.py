"""A re-plan of the rest of the day from live data, by replay's machinery (``models/replay.md``).

Live data are what a charging platform reports during the day: sessions (arrival, the EV's stated
departure and energy, energy delivered so far, ended or not), metered transformer load and DR events.
They are the day's :class:`~vpp_sched.studies.actuals.Actuals` so far: the sessions are its EVs (an
ended session left at its end, with what it got), and the metered load sets the base load of the slot
the re-plan starts in (metered load less the EV power the current plan gives that transformer there).
From there the re-plan is replay's: the scenario's forecast problem with its DR baselines as the day
ahead made them (:func:`~vpp_sched.studies.actuals.make_context`), the EVs as the planner believes them
at that slot (:meth:`~vpp_sched.studies.actuals.Fleet.belief`: a forecast EV that has not plugged in
by then is expected from the next slot, one that has is known as it is), cut to the rest of the day by
:func:`~vpp_sched.studies.actuals.window_problem`, and planned by
:func:`~vpp_sched.plan.planner.plan_day` (LV grid iterations and the validity check included).

Nothing meters the station batteries and swap stations here, so their state at the start of the slot
is the current plan's (:class:`PlanState`, kept with each plan): the plan was followed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from vpp_sched.errors import InputError
from vpp_sched.plan.planner import PlanRun, plan_day
from vpp_sched.problem.arrays import Problem
from vpp_sched.problem.blocks import with_evs
from vpp_sched.scenario.load import Scenario
from vpp_sched.solve.solution import Solution
from vpp_sched.studies.actuals import EV_COLUMNS, Actuals, make_context, window_problem

#: The name of the state file a plan keeps for the next re-plan (not part of the plan folder).
STATE_FILE = "replan_state.json"


@dataclass
class PlanState:
    """A plan's storage state at the end of each of its slots: ``slot_start`` -> id -> value."""

    battery_soc_kwh: dict[str, dict[str, float]] = field(default_factory=dict)     # station_id
    swap_full_packs: dict[str, dict[str, float]] = field(default_factory=dict)     # swap station_id
    swap_partial_kwh: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps(self.__dict__, sort_keys=True).encode()

    @classmethod
    def from_json(cls, text: bytes | None) -> "PlanState | None":
        return None if text is None else cls(**json.loads(text))


def plan_state(problem: Problem, solution: Solution) -> PlanState:
    """The storage state of a plan at each slot's end."""
    keys = [t.isoformat() for t in problem.slots]
    batteries = np.asarray(problem.station_ids, dtype=object)[np.asarray(problem.battery_station, dtype=np.int64)]
    out = PlanState(battery_soc_kwh={k: {str(b): float(v) for b, v in zip(batteries, solution.battery_soc_kwh[:, t])}
                                     for t, k in enumerate(keys)})
    st = problem.sites
    if st is not None and st.n_swap:
        for t, k in enumerate(keys):
            out.swap_full_packs[k] = {str(w): float(v) for w, v in zip(st.swap_ids, solution.swap_full_packs[:, t])}
            out.swap_partial_kwh[k] = {str(w): float(v) for w, v in zip(st.swap_ids, solution.swap_partial_kwh[:, t])}
    return out


def live_actuals(scenario: Scenario, sessions: pd.DataFrame, metered_base_kw: dict[str, float],
                 slot: pd.Timestamp) -> Actuals:
    """The day so far: ``sessions`` (columns ``EV_COLUMNS``, ``status``, ``ended_at``) and the base load of
    ``slot`` set from the meters (transformer_id -> kW), the forecast elsewhere."""
    evs = sessions.copy() if len(sessions) else pd.DataFrame(columns=EV_COLUMNS + ["status", "ended_at"])
    for c in ("arrival", "departure", "ended_at"):
        evs[c] = pd.to_datetime(evs[c], utc=True, format="ISO8601").dt.tz_convert(scenario.tz)
    ended = (evs.status == "ended") & evs.ended_at.notna()
    evs.loc[ended, "departure"] = evs.loc[ended, ["departure", "ended_at"]].min(axis=1)
    base = scenario.base_load_kw.copy()
    for trafo, kw in metered_base_kw.items():
        if trafo in base.columns and slot in base.index:
            base.loc[slot, trafo] = kw
    return Actuals(evs=evs[EV_COLUMNS].reset_index(drop=True), base_load_kw=base, source="live data")


def replan_rest_of_day(scenario: Scenario, sessions: pd.DataFrame, delivered_kwh: dict[str, float],
                       metered_base_kw: dict[str, float], as_of, state: PlanState | None, method: str = "lean",
                       executor=None) -> PlanRun:
    """Plan the slots from the one holding ``as_of`` to the horizon's end from the live data (module docstring)."""
    slots = scenario.slots
    at = pd.Timestamp(as_of)
    t0 = int(np.searchsorted(slots, at, "right")) - 1
    if t0 < 0 or at >= slots[-1] + pd.Timedelta(hours=scenario.dt_h):
        raise InputError([f"as_of {at.isoformat()}: outside the scenario's horizon {slots[0].isoformat()} .. "
                          f"{(slots[-1] + pd.Timedelta(hours=scenario.dt_h)).isoformat()}"])
    options = scenario.config.solver
    ctx = make_context(scenario, live_actuals(scenario, sessions, metered_base_kw, slots[t0]), options, method)
    p = ctx.problem
    delivered = np.array([float(delivered_kwh.get(e, 0.0)) for e in ctx.fleet.ev_ids])
    before = slots[t0 - 1].isoformat() if t0 > 0 else None
    soc = p.battery_soc_initial_kwh.astype(float).copy()
    site_state = None
    if state is not None and before is not None:
        batteries = np.asarray(p.station_ids, dtype=object)[np.asarray(p.battery_station, dtype=np.int64)]
        known = state.battery_soc_kwh.get(before, {})
        soc = np.array([known.get(str(b), s) for b, s in zip(batteries, soc)])
        st = p.sites
        if st is not None and st.n_swap and before in state.swap_full_packs:
            full, part = state.swap_full_packs[before], state.swap_partial_kwh[before]
            site_state = (np.array([full.get(str(w), f) for w, f in zip(st.swap_ids, st.swap_initial_full)]),
                          np.array([part.get(str(w), d) for w, d in zip(st.swap_ids, st.partial0_kwh)]))
    now_s = int(at.timestamp())
    window = window_problem(ctx, t0, delivered, soc, site_state=site_state, known_at_s=now_s)
    evs = _believed_evs(scenario, ctx, now_s, delivered, window)
    here = (evs.departure > at).to_numpy()     # an EV gone by now (an ended session) leaves the plan
    window, evs = with_evs(window, here), evs[here].reset_index(drop=True)
    seen = replace(scenario, evs=evs)
    return plan_day(seen, method=method, executor=executor, problem=window)


def _believed_evs(scenario: Scenario, ctx, now_s: int, delivered: np.ndarray, window: Problem) -> pd.DataFrame:
    """``evs`` as the planner sees them at ``now_s`` (epoch s), row for row with the window's EVs (the plan's EV
    table and the LV grids read it): believed stays, energy still wanted; bus and phase as the scenario
    has them (none for a session it does not list: the grid's placement rule)."""
    f = ctx.fleet
    arrival, departure, *_ = f.belief(now_s, ctx.dt_s, delivered)
    times = lambda s: pd.to_datetime(s, unit="s", utc=True).tz_convert(scenario.tz)  # noqa: E731
    evs = pd.DataFrame({"ev_id": f.ev_ids, "transformer_id": window.transformer_ids[f.transformer],
                        "arrival": times(arrival), "departure": times(departure),
                        "energy_kwh": window.ev_energy_kwh, "max_power_kw": window.ev_max_power_kw,
                        "min_power_kw": window.ev_min_power_kw})
    listed = scenario.evs.set_index("ev_id")
    for column in ("bus_id", "phase"):
        if column in listed.columns:
            evs[column] = listed[column].reindex(f.ev_ids).fillna("").to_numpy(object)
    return evs
