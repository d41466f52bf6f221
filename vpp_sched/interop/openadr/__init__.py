"""OpenADR 2.0b events in: a VEN that takes DR events from a DR platform (VTN), and stored messages.

``mapping`` turns an OpenADR event (as openleadr parses it) into our DR events; ``decide`` plans
with them and opts in or out; ``messages`` reads a stored ``oadrDistributeEvent``; ``scenario_edit``
adds events to a scenario and writes a scenario folder; ``ven`` runs the VEN. The signal mapping
is stated in ``models/dr_events.md`` (section "OpenADR 2.0b events").

Only ``messages`` and ``ven`` import openleadr, so the rest works (and is tested) without it.
"""

import importlib

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

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
