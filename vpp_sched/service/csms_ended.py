"""The sessions the CSMS heard end, kept only while a send read before their end may still run.

A push reads the profiles of a station's (or a scenario's) active sessions, then sends them one by
one, each after waiting for the station's lock. A session that ends meanwhile must not get a
SetChargingProfile after its ClearChargingProfile (the station's last word for an ended transaction),
so the CSMS remembers it and its sends skip it. A read that starts after the end was committed no
longer returns the session (only active sessions are read: :mod:`vpp_sched.service.profiles`), so an
ended session is forgotten once every read started before its end has finished its sends: what is
kept is the sessions that ended while pushes were in flight, not every session of the run.

Used on the event loop only (no lock).
"""

from __future__ import annotations

import contextlib


class EndedSessions:
    """Session pks that ended, each until no read of profiles started before its end is still sending."""

    def __init__(self):
        self._ended: dict[int, int] = {}    # session pk -> reads started before its end (in order of ending)
        self._started = 0                   # reads started so far (each read's number)
        self._open: dict[int, None] = {}    # numbers of the reads still sending, oldest first

    def add(self, session_pk: int) -> None:
        """The session ended: sends of a read started before now skip it."""
        self._ended.pop(session_pk, None)   # a second end moves it to the back: the order stays by number
        self._ended[session_pk] = self._started
        self._forget()

    def __contains__(self, session_pk: int) -> bool:
        return session_pk in self._ended

    def __len__(self) -> int:
        return len(self._ended)

    @contextlib.contextmanager
    def reading(self):
        """Around a read of profiles and the sends of what it read."""
        number = self._started
        self._started += 1
        self._open[number] = None
        try:
            yield
        finally:
            del self._open[number]
            self._forget()

    def _forget(self) -> None:
        """Drop the ended sessions no read still sending can hold: those that ended before the oldest of
        those reads started (or all, when none is sending)."""
        oldest = next(iter(self._open), self._started)
        while self._ended:
            session_pk, before = next(iter(self._ended.items()))
            if before > oldest:
                return
            del self._ended[session_pk]
