"""``vpp-sched token create``: an API token (printed once; only its hash is stored)."""

from __future__ import annotations

from typing import Annotated

import typer

from vpp_sched.service.settings import DEFAULT_DB_URL as DEFAULT_DB

app = typer.Typer(no_args_is_help=True, help="API tokens of `vpp-sched serve`.")
SCOPES = ("read", "plan", "admin")


@app.command("create")
def create(
    scope: Annotated[str, typer.Option(help="read: GET only | plan: also scenarios, plans, live data | admin: also stations, tokens")],
    db: Annotated[str, typer.Option("--db", envvar="VPP_SCHED_DB", help="Database URL of the service")] = DEFAULT_DB,
    name: Annotated[str, typer.Option(help="What the token is for (kept in the audit trail)")] = "",
) -> None:
    """Create a token with a scope and print it (it cannot be shown again)."""
    from vpp_sched.cli.errors import EXIT_USAGE, err

    if scope not in SCOPES:
        err(f"error: --scope must be one of {', '.join(SCOPES)}, not {scope!r}")
        raise typer.Exit(EXIT_USAGE)
    from sqlalchemy.exc import ArgumentError as UrlError, OperationalError

    from vpp_sched.service.auth import create_token
    from vpp_sched.service.db import make_engine, make_sessions, migrate

    try:
        engine = make_engine(db)
        migrate(engine)
    except (UrlError, OperationalError, ModuleNotFoundError) as exc:
        err(f"error: --db {db!r}: {str(exc).splitlines()[0]}")
        raise typer.Exit(EXIT_USAGE) from None
    with make_sessions(engine)() as session:
        typer.echo(create_token(session, scope, name))
    engine.dispose()
