"""A push that read a session's profile before the session ended never sends it after the end: the
CSMS remembers the ended sessions and its sends skip them (the station's last word for an ended
transaction is the ClearChargingProfile). It remembers them only while such a push may still send:
the set no longer grows with every session of the run (csms_ended.py)."""

from __future__ import annotations

import asyncio

from vpp_sched.service import csms as csms_module
from vpp_sched.service.csms_ended import EndedSessions
from vpp_sched.service.profiles import Outgoing
from vpp_sched.service.settings import Settings


class _Point:
    def __init__(self):
        self.sent: list[str] = []

    async def call(self, request, skip_schema_validation=False):
        self.sent.append(type(request).__name__)
        return None


def _outs(*pks):
    return [Outgoing(session_pk=pk, plan_id=1, evse_id=1, charging_profile={"id": pk}) for pk in pks]


def _csms(recorded: list) -> csms_module.Csms:
    """A CSMS with one connected station CS1 and no database: writes are recorded, reads are the test's."""
    cs = csms_module.Csms(sessions=None, settings=Settings(), verifier=None, wake_jobs=lambda: None)
    cs.points = {"CS1": _Point()}

    async def db_retrying(fn, *args, priority=None):
        if fn is csms_module.csms_store.session_station:
            return "CS1", 1
        recorded.append((args[3], args[1]))             # (action, session_pk)
        return None

    cs.db_retrying = db_retrying
    return cs


def test_a_push_read_before_the_end_skips_the_ended_session():
    recorded = []

    async def scenario():
        cs = _csms(recorded)
        read, release = asyncio.Event(), asyncio.Event()

        async def db_reading(fn, *args):                # the push's read: sessions 7 and 8 still active
            read.set()
            await release.wait()
            return {"CS1": _outs(7, 8)}

        cs.db_reading = db_reading
        push = asyncio.ensure_future(cs.push_scenario(1))
        await read.wait()
        await cs.clear(7)                                # session 7 ends before the push sends
        kept_while_sending = 7 in cs._ended
        release.set()
        await push
        cs.close()
        return cs.points["CS1"].sent, kept_while_sending, len(cs._ended)

    sent, kept_while_sending, left = asyncio.run(scenario())
    assert sent == ["ClearChargingProfile", "SetChargingProfile"]
    assert recorded == [("ClearChargingProfile", 7), ("SetChargingProfile", 8)]
    assert kept_while_sending and left == 0             # forgotten once that push's sends are done


def test_the_ended_sessions_do_not_grow_with_the_run():
    """2,000 sessions end, 1 in 100 while a push is in flight: only those of the push still sending are
    kept (the set held all 2,000 before)."""
    recorded = []

    async def scenario():
        cs = _csms(recorded)
        sizes = []
        for pk in range(2000):
            if pk % 100 == 0:
                with cs._ended.reading():               # a push in flight over this end
                    await cs.clear(pk)
                    sizes.append(len(cs._ended))
            else:
                await cs.clear(pk)
        cs.close()
        return sizes, len(cs._ended)

    sizes, left = asyncio.run(scenario())
    assert sizes == [1] * 20 and left == 0
    assert len(recorded) == 2000


def test_only_the_reads_started_before_an_end_keep_it():
    ended = EndedSessions()
    with ended.reading():              # read A, before the end of 1
        ended.add(1)
        with ended.reading():          # read B, after it: it cannot hold 1
            ended.add(2)
            assert 1 in ended and 2 in ended
        assert 1 in ended and 2 in ended   # A, older than both ends, still sending
    assert len(ended) == 0
    with ended.reading():              # read C
        ended.add(3)
        with ended.reading():          # read D, after 3's end
            pass
        assert 3 in ended              # C still sending
    assert 3 not in ended
    ended.add(4)                       # no read in flight: nothing can hold it
    assert 4 not in ended
