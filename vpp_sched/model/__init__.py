"""The readable Pyomo formulation of the day-ahead model (see ``models/day_ahead.md``)."""

from vpp_sched.lazy import lazy_exports

# Imported on first use (PEP 562): importing a sibling module must not import this one's
# heavy dependencies.
_EXPORTS = {
    "create_model": "vpp_sched.model.day_ahead",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
