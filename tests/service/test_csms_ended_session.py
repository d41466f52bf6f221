"""A push that read a session's profile before the session ended never sends it after the end: the
CSMS remembers the ended sessions and its sends skip them (the station's last word for an ended
transaction is the ClearChargingProfile)."""

from __future__ import annotations

import asyncio

from vpp_sched.service import csms as csms_module
from vpp_sched.service.profiles import Outgoing


class _Point:
    def __init__(self):
        self.sent: list[str] = []

    async def call(self, request, skip_schema_validation=False):
        self.sent.append(type(request).__name__)
        return None


def _outs(*pks):
    return [Outgoing(session_pk=pk, plan_id=1, evse_id=1, charging_profile={"id": pk}) for pk in pks]


def test_a_push_read_before_the_end_skips_the_ended_session(monkeypatch):
    async def scenario():
        cs = csms_module.Csms.__new__(csms_module.Csms)     # only what _send and clear use
        cs.points, cs._ended, cs._locks = {"CS1": _Point()}, set(), {}
        cs._in_flight = asyncio.Semaphore(4)
        recorded = []

        async def db_retrying(fn, *args, priority=None):
            if fn is csms_module.csms_store.session_station:
                return "CS1", 1
            recorded.append((args[3], args[1]))             # (action, session_pk)
            return None

        cs.db_retrying = db_retrying
        stale = _outs(7, 8)                                  # read while sessions 7 and 8 were active
        await cs.clear(7)                                    # session 7 ends before the push sends
        await cs._send_station("CS1", stale)
        return cs.points["CS1"].sent, recorded

    sent, recorded = asyncio.run(scenario())
    assert sent == ["ClearChargingProfile", "SetChargingProfile"]
    assert recorded == [("ClearChargingProfile", 7), ("SetChargingProfile", 8)]
