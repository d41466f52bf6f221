"""Opt in or out of DR events: plan with them and check the planned response.

An event is taken (``optIn``) when the plan with it delivers at least ``min_compliance_pct`` of
the requested energy (target x duration); what falls short is counted per slot, so over-delivery
in one slot never hides a shortfall in another. The default 99 % leaves room for the MIP gap.
"""

from __future__ import annotations

from dataclasses import dataclass

from vpp_sched.scenario.config import DREvent, SolverOptions
from vpp_sched.interop.openadr.scenario_edit import with_events
from vpp_sched.plan.planner import PlanRun, plan_day
from vpp_sched.scenario.load import Scenario

OPT_IN, OPT_OUT = "optIn", "optOut"


@dataclass
class Decision:
    """``opt`` with the reason; ``run`` is the plan with the new events (whatever the decision)."""

    opt: str
    reason: str
    run: PlanRun


def evaluate(scenario: Scenario, new_events: list[DREvent], options: SolverOptions | None = None,
             min_compliance_pct: float = 99.0, method: str = "auto") -> Decision:
    """Plan ``scenario`` (its own DR events kept) with ``new_events`` added; opt in when each new
    event's shortfall is at most ``100 - min_compliance_pct`` % of its requested energy [kWh]."""
    sc = with_events(scenario, [*scenario.config.dr_events, *new_events])
    run = plan_day(sc, method=method, options=options)
    per_slot = run.plan.dr_events
    dt_h = run.problem.dt_h
    short = []
    for ev in new_events:
        rows = per_slot[per_slot.event_id == ev.event_id]
        requested = ev.target * len(rows) * dt_h
        missing = float(rows.shortfall_kw.sum() * dt_h)
        if missing > (1 - min_compliance_pct / 100) * requested + 1e-3:
            short.append(f"{ev.event_id} short by {missing:.1f} of {requested:.1f} kWh "
                         f"({100 * (1 - missing / requested):.1f} % < {min_compliance_pct:g} %)")
    if short:
        return Decision(OPT_OUT, "target cannot be met: " + "; ".join(short), run)
    met = ", ".join(f"{ev.event_id} {ev.target:.1f} kW" for ev in new_events)
    return Decision(OPT_IN, f"target met ({met})", run)
