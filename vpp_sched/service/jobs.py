"""Plan jobs: queued in the database, run one at a time by a worker thread on the project's executor.

A job is a row of ``plans``; its state lives only in the database, so a server killed mid-job finds
it ``running`` at the next start (:meth:`JobRunner.recover`): it is queued again (resumed from its
stored inputs) until it has been started ``max_job_attempts`` times, then marked failed with the
reason. A job the server was stopped in cleanly (SIGTERM, Ctrl-C) has its plan stopped
(:mod:`vpp_sched.service.plan_process`) and is queued again at once, with the reason in the audit
trail: the next start resumes it. Re-plans asked for while one is still queued for the scenario
join it (its ``as_of`` moves to the latest) instead of queuing another: a burst of 500 arriving
EVs is one re-plan, not 500.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import queue
import tempfile
import threading
import time
from collections.abc import Callable

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from vpp_sched.errors import InputError, NoPlanError, VppSchedError
from vpp_sched.service.db import PlanFile, PlanJob, ScenarioRow, utcnow
from vpp_sched.service.horizon import Horizon
from vpp_sched.service.plan_process import JobInterrupted, PlanProcess
from vpp_sched.service.planning import run_plan, run_plan_isolated
from vpp_sched.service.settings import Settings
from vpp_sched.service.store import audit, current_plan, live_data
from vpp_sched.solve.parallel import get_executor

log = logging.getLogger("vpp_sched.service")
#: Wait before retrying a job step whose database was unreachable [s], and how often.
DB_RETRY_S, DB_RETRIES = 1.0, 60
#: Most bytes (as stored) of plan files written in one transaction [bytes].
STORE_CHUNK_BYTES = 512 * 1024


def retrying(fn, *args):
    """``fn(*args)``, retried while the database is unreachable (restarting), at most ``DB_RETRIES`` times."""
    for attempt in range(DB_RETRIES):
        try:
            return fn(*args)
        except OperationalError:
            if attempt == DB_RETRIES - 1:
                raise
            log.warning("database unreachable; retrying %s", getattr(fn, "__name__", fn))
            time.sleep(DB_RETRY_S)


def enqueue(db, scenario_id: int, actor: str, trigger: str, as_of: dt.datetime | None = None) -> PlanJob | None:
    """Add a job (or join the scenario's queued re-plan) to the session; the caller commits. A re-plan
    from before the horizon's start runs from the start; none is queued from its end on (``None``):
    replay refuses an ``as_of`` outside the horizon, and a queued re-plan joined by one would fail for all."""
    if as_of is not None:
        as_of = Horizon.of(db.get(ScenarioRow, scenario_id).summary).replan_from(as_of)
        if as_of is None:
            return None
    if trigger != "request":
        queued = db.scalars(select(PlanJob).where(PlanJob.scenario_id == scenario_id, PlanJob.status == "queued",
                                                  PlanJob.trigger != "request")).first()
        if queued is not None:
            if as_of is not None and (queued.as_of is None or as_of > queued.as_of):
                queued.as_of = as_of
            return queued
    job = PlanJob(scenario_id=scenario_id, status="queued", trigger=trigger, as_of=as_of, requested_by=actor)
    db.add(job)
    db.flush()
    audit(db, actor, "plan.request", f"plan:{job.id}", scenario_id=scenario_id, trigger=trigger,
          as_of=as_of.isoformat() if as_of else None)
    return job


class JobRunner:
    """The worker thread. ``on_plan(scenario_id, plan_id)`` is called after each plan that succeeded."""

    def __init__(self, sessions: sessionmaker, settings: Settings, on_plan: Callable[[int, int], None]):
        self.sessions, self.settings, self.on_plan = sessions, settings, on_plan
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="vpp-sched-jobs", daemon=True)
        self.idle = threading.Event()
        self._stopping = threading.Event()
        self._process = PlanProcess(settings.plan_nice)

    def start(self) -> None:
        self.recover()
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the worker: a plan running in the planning process is stopped and its job queued again
        (a plan in the job thread, ``plan_process=False``, cannot be stopped: waited for ``timeout_s``)."""
        self._stopping.set()
        self._queue.put(None)
        self._process.stop()
        self._thread.join(timeout_s)

    def _plan(self, live, as_of, executor):
        """The plan, here or (``plan_process``) in the worker process, so a long solve never holds the
        GIL the event loop answering the stations needs."""
        s = self.settings
        if not s.plan_process:
            return run_plan(live, as_of, s.method, executor)
        # The job's folder is the server's: removed also when the planning process is killed mid-plan.
        with tempfile.TemporaryDirectory(prefix="vpp-sched-job-") as workdir:
            out = self._process.run(run_plan_isolated, live, as_of, s.method, s.scheduler, s.workers, workdir)
        if isinstance(out, str):
            raise VppSchedError(out)
        return out

    def wake(self) -> None:
        """Look for queued jobs (after a commit that queued one)."""
        self.idle.clear()
        self._queue.put("wake")

    def recover(self) -> None:
        """Jobs a stopped server left ``running``: queued again, or failed after ``max_job_attempts`` starts."""
        with self.sessions() as db:
            for job in db.scalars(select(PlanJob).where(PlanJob.status == "running")):
                if job.attempts >= self.settings.max_job_attempts:
                    self._fail(db, job, f"the server stopped during this job {job.attempts} time(s); not resumed again")
                else:
                    job.status = "queued"
                    audit(db, "service", "plan.resume", f"plan:{job.id}", attempts=job.attempts,
                          reason="the server stopped during the job; resumed from its stored inputs")
            db.commit()
        self.wake()

    def _loop(self) -> None:
        with get_executor(self.settings.scheduler, self.settings.workers) as executor:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                while not self._stopping.is_set() and (job_id := self._next()) is not None:
                    try:
                        self._run(job_id, executor)
                    except OperationalError:   # gone for longer than the retries: the next start resumes it
                        log.exception("plan job %s: database unreachable", job_id)
                    except Exception as exc:  # noqa: BLE001 - storing failed: the worker lives on, the job says why
                        log.exception("plan job %s: storing the plan failed", job_id)
                        retrying(self._finish_failed, job_id, f"internal error storing the plan ({type(exc).__name__})")
                if self._queue.empty():
                    self.idle.set()

    def _next(self) -> int | None:
        def first():
            with self.sessions() as db:
                return db.scalars(select(PlanJob.id).where(PlanJob.status == "queued").order_by(PlanJob.id).limit(1)).first()

        try:
            return retrying(first)
        except OperationalError:
            return None

    def _run(self, job_id: int, executor) -> None:
        try:
            with self.sessions() as db:
                job = db.get(PlanJob, job_id)
                job.status, job.started_at, job.attempts = "running", utcnow(), job.attempts + 1
                current = current_plan(db, job.scenario_id)
                job.replaces_id = current.id if current is not None else None
                db.commit()
                live, as_of = live_data(db, job), job.as_of
            out = self._plan(live, as_of, executor)
        except JobInterrupted:
            return retrying(self._requeue_interrupted, job_id)
        except (InputError, NoPlanError, VppSchedError) as exc:
            return retrying(self._finish_failed, job_id, str(exc))
        except OperationalError:
            log.exception("plan job %s: database unreachable", job_id)
            return retrying(self._requeue, job_id)
        except Exception as exc:  # noqa: BLE001 - a job never takes the worker down; the log has the traceback
            log.exception("plan job %s failed", job_id)
            return retrying(self._finish_failed, job_id, f"internal error ({type(exc).__name__}); see the server log")
        retrying(self._store, job_id, out)
        self.on_plan(retrying(live_scenario, self.sessions, job_id), job_id)

    def _store(self, job_id: int, out) -> None:
        """The plan's files in transactions of at most ``STORE_CHUNK_BYTES``, then the job marked succeeded
        (only then are they served or pushed). SQLite has one writer at a time: one transaction of a
        plan's 1,000+ files (the CSMS's answers to the stations waited out its lock) held it for long."""
        with self.sessions() as db:
            db.execute(delete(PlanFile).where(PlanFile.plan_id == job_id))   # a resumed job's earlier partial files
            db.commit()
        for rows in _chunks([PlanFile.row(job_id, n, c) for n, c in out.files.items()]):
            with self.sessions() as db:
                db.execute(insert(PlanFile), rows)
                db.commit()
        with self.sessions() as db:
            job = db.get(PlanJob, job_id)
            job.status, job.finished_at = "succeeded", utcnow()
            job.kpis, job.warnings = _json_safe(out.kpis), out.warnings
            audit(db, "service", "plan.succeeded", f"plan:{job_id}", scenario_id=job.scenario_id,
                  replaces=job.replaces_id, status=out.kpis.get("status"))
            db.commit()

    def _requeue(self, job_id: int) -> None:
        with self.sessions() as db:
            db.get(PlanJob, job_id).status = "queued"
            db.commit()

    def _requeue_interrupted(self, job_id: int) -> None:
        with self.sessions() as db:
            job = db.get(PlanJob, job_id)
            job.status = "queued"
            audit(db, "service", "plan.interrupted", f"plan:{job_id}", attempts=job.attempts,
                  reason="the server stopped during the job; its plan was stopped and it is resumed from its "
                         "stored inputs at the next start")
            db.commit()

    def _finish_failed(self, job_id: int, reason: str) -> None:
        with self.sessions() as db:
            self._fail(db, db.get(PlanJob, job_id), reason)
            db.commit()

    @staticmethod
    def _fail(db, job: PlanJob, reason: str) -> None:
        job.status, job.finished_at, job.reason = "failed", utcnow(), reason
        audit(db, "service", "plan.failed", f"plan:{job.id}", reason=reason)


def _chunks(rows: list[dict]) -> list[list[dict]]:
    """``rows`` in runs of at most :data:`STORE_CHUNK_BYTES` of content (a larger file alone)."""
    out, size = [[]], 0
    for r in rows:
        if out[-1] and size + len(r["content"]) > STORE_CHUNK_BYTES:
            out.append([])
            size = 0
        out[-1].append(r)
        size += len(r["content"])
    return [c for c in out if c]


def live_scenario(sessions: sessionmaker, job_id: int) -> int:
    with sessions() as db:
        return db.get(PlanJob, job_id).scenario_id


def _json_safe(value):
    """KPIs as JSON (numpy scalars to Python, NaN/inf to None)."""
    def fix(v):
        if isinstance(v, dict):
            return {str(k): fix(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [fix(x) for x in v]
        if hasattr(v, "item"):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v if isinstance(v, (str, int, float, bool, type(None))) else str(v)

    return json.loads(json.dumps(fix(value)))
