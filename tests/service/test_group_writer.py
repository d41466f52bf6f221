"""The CSMS's group writer: stations' messages before records of what was sent; one bad write fails alone."""

from __future__ import annotations

import asyncio
import contextlib
import threading

from vpp_sched.service.group_writer import LATER, NOW, GroupWriter


class _Db:
    def __init__(self, log):
        self.log, self.info = log, {}

    def commit(self):
        self.log.append("commit")


def _writer(log):
    return GroupWriter(lambda: contextlib.nullcontext(_Db(log)))


def test_a_stations_message_is_written_before_records_asked_for_earlier():
    log, gate = [], threading.Event()

    def hold(db):
        gate.wait(5)
        db.log.append("hold")

    def write(db, name):
        db.log.append(name)
        return name

    async def scenario():
        w = _writer(log)
        first = asyncio.ensure_future(w.run(hold))
        await asyncio.sleep(0.05)          # the writer now waits inside ``hold``
        later = [asyncio.ensure_future(w.run(write, f"record{i}", priority=LATER)) for i in range(3)]
        now = asyncio.ensure_future(w.run(write, "meter", priority=NOW))
        await asyncio.sleep(0.05)
        gate.set()
        out = await asyncio.gather(first, *later, now)
        w.stop()
        return out

    assert asyncio.run(scenario())[1:] == ["record0", "record1", "record2", "meter"]
    assert log == ["hold", "commit", "meter", "record0", "record1", "record2", "commit"]


def test_one_failing_write_fails_alone_and_stop_waits_for_the_queue():
    log = []

    def write(db, name):
        if name == "bad":
            raise KeyError(name)
        db.log.append(name)
        return name

    async def scenario():
        w = _writer(log)
        calls = [w.run(write, n) for n in ("a", "bad", "b")]
        out = await asyncio.gather(*calls, return_exceptions=True)
        w.stop()
        w._thread.join(5)
        return out, w._thread.is_alive()

    (a, bad, b), alive = asyncio.run(scenario())
    assert (a, b) == ("a", "b") and isinstance(bad, RuntimeError) and not alive
    assert "a" in log and "b" in log
