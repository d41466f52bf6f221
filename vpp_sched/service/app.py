"""The FastAPI application: :func:`create_app` wires the database, the job worker, the CSMS and the routes.

At start (the app's lifespan) the database is migrated to the newest schema, stations are marked
disconnected (no connection survives a restart), plan jobs a stopped server left running are resumed
or failed (:meth:`vpp_sched.service.jobs.JobRunner.recover`) and the worker starts.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor

from fastapi import FastAPI, WebSocket
from sqlalchemy import update

from vpp_sched.service.api import admin, live, plans, scenarios, status
from vpp_sched.service.api.common import install_error_handlers
from vpp_sched.service.auth import Verifier
from vpp_sched.service.csms import Csms, StationPoint
from vpp_sched.service.db import Station, make_engine, make_sessions, migrate
from vpp_sched.service.jobs import JobRunner
from vpp_sched.service.loop_lag import freeze_startup
from vpp_sched.service.settings import Settings

#: Threads for database work of the websocket handlers (asyncio's default is cores + 4).
DB_THREADS = 32


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    engine = make_engine(settings.db_url)
    sessions = make_sessions(engine)
    verifier = Verifier()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(DB_THREADS, thread_name_prefix="vpp-sched-db"))
        await asyncio.to_thread(_start, engine, sessions)
        await asyncio.to_thread(StationPoint.compile_schemas)     # not on the loop at the first connections
        freeze_startup()     # start-up's objects out of the garbage collector's full walks (loop_lag.py)
        csms.start(loop)
        runner.start()
        try:
            yield
        finally:
            runner.stop()
            await csms.touch()
            csms.close()
            engine.dispose()

    app = FastAPI(title="vpp-sched", summary="Plans EV charging on distribution transformers; an OCPP 2.0.1 CSMS.",
                  lifespan=lifespan)
    csms = Csms(sessions, settings, verifier, wake_jobs=lambda: runner.wake())
    runner = JobRunner(sessions, settings, on_plan=csms.plan_ready)
    app.state.settings, app.state.sessions, app.state.verifier = settings, sessions, verifier
    app.state.engine, app.state.runner, app.state.csms = engine, runner, csms
    install_error_handlers(app)
    for module in (status, scenarios, plans, live, admin):
        app.include_router(module.router)

    @app.websocket("/ocpp/{station_id}")
    async def ocpp_endpoint(websocket: WebSocket, station_id: str):
        await csms.handle(websocket, station_id)

    return app


def _start(engine, sessions) -> None:
    migrate(engine)
    with sessions() as db:
        db.execute(update(Station).values(connected=False))
        db.commit()
