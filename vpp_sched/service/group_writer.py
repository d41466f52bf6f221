"""Group commit for the CSMS: the writes of many station messages in one transaction, one disk flush.

A commit costs a disk flush (~5-10 ms here) whatever it holds, and SQLite takes one writer at a time
(the others sleep-poll, up to 100 ms a try). So one thread takes every write waiting, runs them in
one session, commits once and only then lets each message be answered: 500 stations' messages cost a
few commits a second, and nothing is answered before it is stored. When one write of a group fails
(a bug, not the database), the group is rolled back and each write run again alone, so only that
one fails. The stations' own messages go first: a record of a profile sent (:data:`LATER`) waits
behind every message waiting to be answered, so 500 sends after a re-plan never delay a MeterValues.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading

from sqlalchemy import insert, update
from sqlalchemy.exc import InterfaceError, OperationalError

log = logging.getLogger("vpp_sched.service.csms")
#: Most writes in one transaction [-].
MAX_GROUP = 200
#: Most records of what was sent (:data:`LATER`) in one transaction [-]: a group once started runs to
#: its commit, so a station's message arriving meanwhile waits for all of it; 200 records after a re-plan
#: held the writer for hundreds of milliseconds, 16 for a few.
MAX_LATER = 16
#: Priorities: a station's message waiting for its answer, then records of what the CSMS sent [-].
NOW, LATER = 0, 1
_STOP = 9


_STAGED = "vpp_sched_staged_rows"
_STAGED_UPDATES = "vpp_sched_staged_updates"


def stage(db, model, row: dict) -> None:
    """Insert ``row`` into ``model``'s table with the group's other staged rows of that table, in one
    executemany at the group's commit: no ORM object per row (a MeterValues is one row, 50 a second)."""
    db.info.setdefault(_STAGED, {}).setdefault(model, []).append(row)


def stage_update(db, model, row: dict) -> None:
    """Update the row of ``model`` whose primary key ``row`` holds with its other columns, with the
    group's other staged updates of the same columns in one executemany at the group's commit (in the
    order staged): no ORM object loaded, no flush per message (500 stations booting at once)."""
    db.info.setdefault(_STAGED_UPDATES, {}).setdefault((model, tuple(sorted(row))), []).append(row)


def _insert_staged(db) -> None:
    for model, rows in db.info.pop(_STAGED, {}).items():
        db.execute(insert(model), rows)
    for (model, _), rows in db.info.pop(_STAGED_UPDATES, {}).items():
        db.execute(update(model), rows)


class GroupWriter:
    def __init__(self, sessions):
        self.sessions = sessions
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._seq = itertools.count()   # first come, first written within a priority
        self._thread = threading.Thread(target=self._loop, name="vpp-sched-writer", daemon=True)
        self._thread.start()

    async def run(self, fn, *args, priority: int = NOW):
        """``fn(db, *args)`` in the writer's next group; returns once that group is committed."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((priority, next(self._seq), (fn, args, loop, future)))
        return await future

    def stop(self) -> None:
        """Stop once every write asked for is done."""
        self._queue.put((_STOP, next(self._seq), None))

    def _loop(self) -> None:
        while (entry := self._queue.get())[2] is not None:
            group, later = [entry[2]], int(entry[0] == LATER)
            while len(group) < MAX_GROUP:
                try:
                    entry = self._queue.get_nowait()
                except queue.Empty:
                    break
                if entry[2] is None or (entry[0] == LATER and later == MAX_LATER):
                    self._queue.put(entry)   # the stop, or a record for the next group
                    break
                group.append(entry[2])
                later += entry[0] == LATER
            self._write(group)

    def _write(self, group: list) -> None:
        try:
            with self.sessions() as db:
                results = [fn(db, *args) for fn, args, _, _ in group]
                _insert_staged(db)
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
