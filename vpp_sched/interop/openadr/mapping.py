"""OpenADR 2.0b event signals -> our DR events (``models/dr_events.md``, "OpenADR 2.0b events").

An OpenADR event arrives as openleadr parses it: a dict with ``event_descriptor`` (``event_id``,
``modification_number``, ``event_status``, ``created_date_time``), ``active_period``,
``event_signals`` (each ``signal_name``, ``signal_type``, ``intervals`` of ``duration``,
``signal_payload`` and ``uid``, optionally ``dtstart``) and ``targets``. Every interval with a
non-zero request becomes one peak-shaving DR event of our format:

- ``SIMPLE`` / ``level`` 1, 2, 3 (moderate, high, special; 0 = normal operation, no event):
  ``target_kw`` = the configured kW of that level, or else its fraction (default 0.25, 0.5, 0.75)
  of the scope's *flexible load*: the mean power the scope's EVs would draw in the interval when
  charged uncontrolled (full power from arrival), i.e. the charging orderly control can move.
- ``LOAD_CONTROL`` / ``x-loadControlCapacity``: OpenADR 2.0b defines the payload as the fraction
  of the resource's maximum load consumption capacity to operate at (1.0 = 100 %). The scope's
  capacity is the sum of its transformers' usable limits (``rated_kva x power_factor x
  max_loading_pu``), so ``cap_kw = payload x capacity`` (``capacity_unit="kw"`` takes the
  payload as the cap in kW, for VTNs that send kW). Our events are a target against a baseline,
  so ``target_kw = max over the interval's slots of (baseline - cap_kw)``, at least 0: the
  scope's net load stays at or below the cap in every slot of the interval.

When an event carries both, ``LOAD_CONTROL`` capacity wins (it is in kW terms already). Targets
with ``resource_id`` naming transformers or stations form the scope; without, the scope is
``all``. OpenADR times are UTC; our events are written in the scenario's time zone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from vpp_sched.scenario.config import BASELINES, DREvent, SolverOptions
from vpp_sched.errors import ArgumentError, NoPlanError
from vpp_sched.interop.openadr.scenario_edit import with_events
from vpp_sched.problem.build import build_problem, needs_plan_baseline, uncontrolled_ev_power_kw
from vpp_sched.problem.arrays import Problem
from vpp_sched.scenario.load import Scenario, event_slot_mask
from vpp_sched.scenario.timeutil import to_local
from vpp_sched.solve.plan_baseline import scenario_plan_baseline

SIMPLE, LEVEL = "SIMPLE", "level"
LOAD_CONTROL, CAPACITY = "LOAD_CONTROL", "x-loadControlCapacity"


@dataclass(frozen=True)
class SignalMapping:
    """How OpenADR signals become DR targets, and the terms our events get (OpenADR carries none).

    Parameters
    ----------
    level_fractions : fraction of the flexible load asked by SIMPLE levels 1, 2, 3 [-]
    level_kw : kW asked by SIMPLE levels 1, 2, 3; overrides ``level_fractions`` when given [kW]
    capacity_unit : ``fraction`` (the spec: x-loadControlCapacity is a fraction of capacity) or ``kw``
    baseline : baseline method of the events (``models/dr_events.md``)
    price_cny_per_kwh, shortfall_penalty_cny_per_kwh : compensation and penalty [CNY/kWh]
    """

    level_fractions: tuple[float, float, float] = (0.25, 0.5, 0.75)
    level_kw: tuple[float, float, float] | None = None
    capacity_unit: Literal["fraction", "kw"] = "fraction"
    baseline: str = "uncontrolled"
    price_cny_per_kwh: float = 0.0
    shortfall_penalty_cny_per_kwh: float = 5.0

    def __post_init__(self):
        if len(self.level_fractions) != 3 or not all(0 <= f <= 1 for f in self.level_fractions):
            raise ArgumentError(f"level fractions must be three numbers in [0, 1], got {self.level_fractions}")
        if self.level_kw is not None and (len(self.level_kw) != 3 or min(self.level_kw) < 0):
            raise ArgumentError(f"level kW must be three numbers >= 0, got {self.level_kw}")
        if self.capacity_unit not in ("fraction", "kw"):
            raise ArgumentError(f"capacity unit must be 'fraction' or 'kw', not {self.capacity_unit!r}")
        if self.baseline not in BASELINES:
            raise ArgumentError(f"baseline must be one of {', '.join(BASELINES)}, not {self.baseline!r}")
        if self.price_cny_per_kwh < 0 or self.shortfall_penalty_cny_per_kwh < 0:
            raise ArgumentError("price and penalty must not be negative")


@dataclass
class Conversion:
    """One OpenADR event turned into our DR events; ``problems`` say why it cannot be taken."""

    oadr_event_id: str
    modification_number: int
    status: str
    signal: str = ""
    events: list[DREvent] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"


@dataclass(frozen=True)
class _Interval:
    uid: int
    start: dt.datetime  # UTC
    end: dt.datetime
    payload: float


def convert_event(event: dict, scenario: Scenario, mapping: SignalMapping = SignalMapping(),
                  options: SolverOptions | None = None) -> Conversion:
    """Our DR events for one OpenADR event (see the module docstring for the mapping).

    ``options`` solve the plan without events when ``mapping.baseline`` is ``plan``.
    """
    desc = event.get("event_descriptor") or {}
    conv = Conversion(oadr_event_id=str(desc.get("event_id", "?")),
                      modification_number=int(desc.get("modification_number") or 0),
                      status=str(desc.get("event_status") or ""))
    if conv.cancelled:
        return conv
    scope = _scope(event.get("targets") or [], scenario, conv.problems)
    signal = _pick_signal(event.get("event_signals") or [], conv.problems)
    if signal is None:
        return conv
    conv.signal = f"{signal['signal_name']}/{signal['signal_type']}"
    kept, outside = _usable_intervals(signal, event, scenario, mapping, conv)
    if not kept and outside and not conv.problems:
        conv.problems.append(f"{outside} interval(s) outside the planning horizon ({scenario.slots[0].isoformat()} "
                             f"to {scenario.slots[-1].isoformat()}) and none inside")
    if conv.problems or not kept:  # no problem and nothing kept: level 0 only, nothing asked
        return conv
    placeholders = [_dr_event(conv, iv, len(signal["intervals"]), scope, 0.0, mapping, scenario.tz, desc)
                    for iv in kept]
    p = _problem_with(scenario, placeholders, options)
    if signal["signal_name"] == LOAD_CONTROL:
        capacity = p.event_scope @ p.limit_kw if mapping.capacity_unit == "fraction" else np.ones(len(kept))
        targets = [_capacity_target(p, k, iv.payload * capacity[k]) for k, iv in enumerate(kept)]
    else:
        flexible = _flexible_kw(p)
        targets = [_level_target(iv.payload, flexible[k], mapping) for k, iv in enumerate(kept)]
    conv.events = [ev.model_copy(update={"target_kw": round(float(t), 3)}) for ev, t in zip(placeholders, targets)]
    return conv


def _scope(targets: list[dict], scenario: Scenario, problems: list[str]):
    """``all``, or the transformer / station ids named by the targets' ``resource_id``."""
    resources = [str(t["resource_id"]) for t in targets if isinstance(t, dict) and t.get("resource_id")]
    if not resources:
        return "all"
    known = set(scenario.transformers.transformer_id) | {st.station_id for st in [*scenario.config.stations,
                                                                                   *scenario.config.sites()]}
    for rid in resources:
        if rid not in known:
            problems.append(f"target resource_id {rid} is neither a transformer_id nor a station_id of the scenario")
    return list(dict.fromkeys(resources))


def _pick_signal(signals: list[dict], problems: list[str]) -> dict | None:
    """The LOAD_CONTROL capacity signal if there is one, else the SIMPLE level signal."""
    by_kind = {(s.get("signal_name"), s.get("signal_type")): s for s in signals}
    for key in ((LOAD_CONTROL, CAPACITY), (SIMPLE, LEVEL), ("simple", LEVEL)):
        if key in by_kind:
            return by_kind[key]
    got = ", ".join(f"{s.get('signal_name')}/{s.get('signal_type')}" for s in signals) or "no signal"
    problems.append(f"no supported signal (SIMPLE/level or LOAD_CONTROL/x-loadControlCapacity); got {got}")
    return None


def _intervals(signal: dict, event: dict) -> list[_Interval]:
    """The signal's intervals in UTC. An interval without its own ``dtstart`` follows the previous
    one, the first starting at the event's active period (the usual 2.0b form)."""
    start = _utc((event.get("active_period") or {}).get("dtstart"))
    out = []
    for i, iv in enumerate(signal.get("intervals") or []):
        start = _utc(iv.get("dtstart")) or start
        end = start + iv["duration"]
        out.append(_Interval(uid=int(iv.get("uid", i)), start=start, end=end, payload=float(iv["signal_payload"])))
        start = end
    return out


def _usable_intervals(signal: dict, event: dict, scenario: Scenario, mapping: SignalMapping,
                      conv: Conversion) -> tuple[list[_Interval], int]:
    """Intervals asking for a change inside the horizon, and how many asked for one outside it;
    bad payloads go to ``conv.problems``."""
    kept, outside = [], 0
    h = scenario.config.horizon
    for iv in _intervals(signal, event):
        span = f"interval {iv.uid} ({iv.start.isoformat()} to {iv.end.isoformat()})"
        if signal["signal_name"] == LOAD_CONTROL:
            if iv.payload < 0:
                conv.problems.append(f"{span}: x-loadControlCapacity {iv.payload:g} is negative")
                continue
            if mapping.capacity_unit == "fraction" and iv.payload > 1:
                conv.problems.append(f"{span}: x-loadControlCapacity {iv.payload:g} is above 1, the whole "
                                     "capacity (OpenADR 2.0b: a fraction); a VTN sending kW needs capacity unit kw")
                continue
        elif iv.payload == 0:
            conv.notes.append(f"{span}: level 0, normal operation")
            continue
        elif iv.payload not in (1, 2, 3):
            conv.problems.append(f"{span}: SIMPLE level {iv.payload:g} is not 0, 1, 2 or 3")
            continue
        if not event_slot_mask(scenario.slots, h.slot_minutes, iv.start, iv.end, scenario.tz).any():
            conv.notes.append(f"{span}: covers no whole slot of the planning horizon")
            outside += 1
            continue
        kept.append(iv)
    return kept, outside


def _dr_event(conv: Conversion, iv: _Interval, n_intervals: int, scope, target_kw: float,
              mapping: SignalMapping, tz: str, desc: dict) -> DREvent:
    created = _utc(desc.get("created_date_time"))
    return DREvent(
        event_id=conv.oadr_event_id if n_intervals == 1 else f"{conv.oadr_event_id}.{iv.uid}",
        kind="peak_shaving", start=to_local(iv.start, tz).to_pydatetime(), end=to_local(iv.end, tz).to_pydatetime(),
        notified_at=None if created is None else to_local(created, tz).to_pydatetime(),
        scope=scope, target_kw=target_kw, baseline=mapping.baseline, price_cny_per_kwh=mapping.price_cny_per_kwh,
        shortfall_penalty_cny_per_kwh=mapping.shortfall_penalty_cny_per_kwh)


def _problem_with(scenario: Scenario, events: list[DREvent], options: SolverOptions | None) -> Problem:
    """The problem with only ``events``: their slots, scopes and baselines, as the planner sees them."""
    sc = with_events(scenario, events)
    if not needs_plan_baseline(sc):
        return build_problem(sc)
    free_problem, free = scenario_plan_baseline(sc, options or sc.config.solver)
    if not free.status.has_plan:
        raise NoPlanError(free.status, "no plan without DR events, needed for the 'plan' baseline")
    return build_problem(sc, pv_kw=free_problem.pv_kw, plan_net_load_kw=free.net_load_kw)


def _flexible_kw(p: Problem) -> np.ndarray:
    """[K] mean uncontrolled EV power of each event's scope over its slots [kW]."""
    ev_kw = uncontrolled_ev_power_kw(p.ev_available, p.ev_energy_kwh, p.ev_max_power_kw, p.dt_h)
    by_trafo = np.zeros((p.n_transformers, p.n_slots))
    np.add.at(by_trafo, p.ev_transformer, ev_kw)
    scope_kw = p.event_scope @ by_trafo
    return np.array([scope_kw[k, p.event_slots[k]].mean() for k in range(p.n_events)])


def _level_target(level: float, flexible_kw: float, mapping: SignalMapping) -> float:
    i = int(level) - 1
    return mapping.level_kw[i] if mapping.level_kw is not None else mapping.level_fractions[i] * flexible_kw


def _capacity_target(p: Problem, k: int, cap_kw: float) -> float:
    """Reduction below the baseline that keeps the scope at or below ``cap_kw`` in every slot [kW]."""
    return max(float(np.max(p.event_baseline_kw[k, p.event_slots[k]] - cap_kw)), 0.0)


def _utc(value) -> dt.datetime | None:
    """An OpenADR time as aware UTC; OpenADR times are UTC, so a naive one is taken as UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)
