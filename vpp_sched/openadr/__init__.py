"""OpenADR 2.0b events in: a VEN that takes DR events from a DR platform (VTN), and stored messages.

``mapping`` turns an OpenADR event (as openleadr parses it) into our DR events; ``decide`` plans
with them and opts in or out; ``messages`` reads a stored ``oadrDistributeEvent``; ``scenario_edit``
adds events to a scenario and writes a scenario folder; ``ven`` runs the VEN. The signal mapping
is stated in ``models/dr_events.md`` (section "OpenADR 2.0b events").

Only ``messages`` and ``ven`` import openleadr, so the rest works (and is tested) without it.
"""

from vpp_sched.openadr.decide import Decision, evaluate
from vpp_sched.openadr.mapping import Conversion, SignalMapping, convert_event
from vpp_sched.openadr.scenario_edit import with_events, write_scenario_with_events

__all__ = ["Conversion", "Decision", "SignalMapping", "convert_event", "evaluate", "with_events",
           "write_scenario_with_events"]
