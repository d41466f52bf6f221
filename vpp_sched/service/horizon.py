"""A scenario's horizon for the live data: which sessions its plans can hold, and from when a re-plan runs.

A re-plan of the rest of the day runs from a time in the horizon ``[start, end)``
(:func:`~vpp_sched.studies.live_replan.replan_rest_of_day` refuses any other ``as_of``). Live data may
be about other times: a station's clock, a session that starts after the day's scenario ends. The
rules, one place for the API and the CSMS:

* a session is **planned** when its stay ``[arrival, departure)`` overlaps the horizon. A stay that
  starts before the start or ends after the end is clipped by the plan itself, as a scenario's own EVs
  are: the planner gives an EV the slots of its stay that lie in the horizon. Its row keeps the times
  the station or the client stated.
* a session whose stay lies wholly outside is **not planned**: no slot of the plan can hold it. The
  API refuses it (422 naming ``arrival`` or ``departure``); the CSMS, which cannot refuse what a station
  reports, stores it as :data:`OUTSIDE` (its meter values kept, no profile sent) with an audit entry
  saying why, and answers the station as for any transaction (:mod:`vpp_sched.service.csms`).
* a **re-plan** asked for at a time before the start runs from the start (the whole horizon); one at
  or after the end is not queued: nothing of the horizon is left to plan (the API: 422 naming the time).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

#: The status of a session whose stay lies outside its scenario's horizon: stored, never planned.
OUTSIDE = "outside"


@dataclass(frozen=True)
class Horizon:
    start: dt.datetime
    end: dt.datetime

    @classmethod
    def of(cls, summary: dict) -> "Horizon":
        """From a scenario's stored summary (``start``, ``slots``, ``slot_minutes``)."""
        start = dt.datetime.fromisoformat(summary["start"])
        return cls(start, start + dt.timedelta(minutes=summary["slot_minutes"] * summary["slots"]))

    def holds(self, arrival: dt.datetime, departure: dt.datetime) -> bool:
        """The stay overlaps the horizon: a plan can hold it."""
        return arrival < self.end and departure > self.start

    def replan_from(self, at: dt.datetime) -> dt.datetime | None:
        """The ``as_of`` of a re-plan asked for at ``at``: ``at`` moved up to the start; ``None`` (no re-plan)
        at or after the end."""
        return None if self.ended_by(at) else max(at, self.start)

    def ended_by(self, at: dt.datetime | None) -> bool:
        """``at`` is at or after the end: no re-plan of the horizon can start there."""
        return at is not None and at >= self.end

    def __str__(self) -> str:
        return f"{self.start.isoformat()} .. {self.end.isoformat()}"
