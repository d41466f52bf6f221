"""Group commit for the CSMS: the writes of many station messages in one transaction, one disk flush.

A commit costs a disk flush (~5-10 ms here) whatever it holds, and SQLite takes one writer at a time
(the others sleep-poll, up to 100 ms a try). So one thread takes every write waiting, runs them in
one session, commits once and only then lets each message be answered: 500 stations' messages cost a
few commits a second, and nothing is answered before it is stored. When one write of a group fails
(a bug, not the database), the group is rolled back and each write run again alone, so only that
one fails.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading

from sqlalchemy.exc import InterfaceError, OperationalError

log = logging.getLogger("vpp_sched.service.csms")
#: Most writes in one transaction [-].
MAX_GROUP = 200


class GroupWriter:
    def __init__(self, sessions):
        self.sessions = sessions
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="vpp-sched-writer", daemon=True)
        self._thread.start()

    async def run(self, fn, *args):
        """``fn(db, *args)`` in the writer's next group; returns once that group is committed."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((fn, args, loop, future))
        return await future

    def stop(self) -> None:
        self._queue.put(None)

    def _loop(self) -> None:
        while (first := self._queue.get()) is not None:
            group = [first]
            while len(group) < MAX_GROUP:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                group.append(item)
            self._write(group)

    def _write(self, group: list) -> None:
        try:
            with self.sessions() as db:
                results = [fn(db, *args) for fn, args, _, _ in group]
                db.commit()
        except (OperationalError, InterfaceError) as exc:   # the database: each caller retries
            return self._settle(group, errors=[exc] * len(group))
        except Exception:  # noqa: BLE001 - one bad write: run each alone so only it fails
            if len(group) > 1:
                for item in group:
                    self._write([item])
                return None
            log.exception("CSMS write %s failed", group[0][0].__name__)
            return self._settle(group, errors=[RuntimeError("write failed")])
        return self._settle(group, results=results)

    @staticmethod
    def _settle(group, results=None, errors=None) -> None:
        for i, (_, _, loop, future) in enumerate(group):
            def done(f=future, i=i):
                if f.done():
                    return
                if errors is not None:
                    f.set_exception(errors[i])
                else:
                    f.set_result(results[i])
            loop.call_soon_threadsafe(done)
