"""``vpp-sched serve``: the REST API and the OCPP 2.0.1 CSMS on one port (FastAPI + uvicorn)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from vpp_sched.cli.errors import EXIT_USAGE, err
from vpp_sched.service.settings import DEFAULT_DB_URL as DEFAULT_DB


def serve(
    db: Annotated[str, typer.Option("--db", envvar="VPP_SCHED_DB", help="Database URL: sqlite:///file.db or postgresql+psycopg://user:pw@host/db")] = DEFAULT_DB,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the API and of ws://HOST:PORT/ocpp/{station}")] = 8080,
    scheduler: Annotated[Optional[str], typer.Option(help="Where a plan's decomposed blocks run: serial | threads | local | tcp://host:8786")] = None,
    workers: Annotated[Optional[int], typer.Option(min=1, help="Workers of that executor; default the cores")] = None,
    method: Annotated[str, typer.Option(help="Model build of plan jobs: auto | lean | pyomo | decomposed")] = "auto",
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level")] = "info",
) -> None:
    """Run the scheduler as a service: scenarios, plan jobs, live data, an OCPP 2.0.1 CSMS, a status page
    (/status) and the API docs (/docs). Tables are created or upgraded at start."""
    import uvicorn  # heavy imports here: `vpp-sched --help` stays fast
    from sqlalchemy.exc import ArgumentError as UrlError

    from vpp_sched.service.app import create_app
    from vpp_sched.service.settings import Settings

    try:
        app = create_app(Settings(db_url=db, scheduler=scheduler, workers=workers, method=method))
    except (UrlError, ModuleNotFoundError) as exc:
        err(f"error: --db {db!r}: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    from vpp_sched.cli.interrupt import Stopped

    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, ws="websockets-sansio")
    except Stopped as stop:
        # uvicorn shuts down cleanly on SIGINT/SIGTERM (connections closed, jobs left resumable),
        # then raises the signal again for the caller: here that is the end of a normal stop.
        err(f"vpp-sched serve: {stop.what}, shut down cleanly")
