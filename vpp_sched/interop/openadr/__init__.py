"""OpenADR 2.0b events in: a VEN that takes DR events from a DR platform (VTN), and stored messages.

``mapping`` turns an OpenADR event (as openleadr parses it) into our DR events; ``decide`` plans
with them and opts in or out; ``messages`` reads a stored ``oadrDistributeEvent``; ``scenario_edit``
adds events to a scenario and writes a scenario folder; ``ven`` runs the VEN. The signal mapping
is stated in ``models/dr_events.md`` (section "OpenADR 2.0b events").

Only ``messages`` and ``ven`` import openleadr, so the rest works (and is tested) without it.
"""

from vpp_sched.lazy import lazy_exports

# Imported on first use (PEP 562): importing a sibling module must not import this one's
# heavy dependencies.
_EXPORTS = {
    "Conversion": "vpp_sched.interop.openadr.mapping",
    "Decision": "vpp_sched.interop.openadr.decide",
    "SignalMapping": "vpp_sched.interop.openadr.mapping",
    "convert_event": "vpp_sched.interop.openadr.mapping",
    "evaluate": "vpp_sched.interop.openadr.decide",
    "with_events": "vpp_sched.interop.openadr.scenario_edit",
    "write_scenario_with_events": "vpp_sched.interop.openadr.scenario_edit",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
