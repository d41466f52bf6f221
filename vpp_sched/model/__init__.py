"""The readable Pyomo formulation of the day-ahead model (see ``models/day_ahead.md``)."""

from vpp_sched.model.day_ahead import create_model

__all__ = ["create_model"]
