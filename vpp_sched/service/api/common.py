"""What every route shares: the database session, token checks (401 / 403) and error responses.

Errors follow FastAPI's conventions: ``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}`` with
status 422 for bad input (``loc`` is the field path, e.g. ``["body", "energy_kwh"]``), and
``{"detail": "..."}`` for 401, 403, 404, 409 and 413. No response ever carries a traceback: an
unexpected error is logged by the server and answered ``500 {"detail": "internal error"}``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from vpp_sched.errors import InputError
from vpp_sched.service.auth import scope_allows
from vpp_sched.service.horizon import Horizon

log = logging.getLogger("vpp_sched.service")
_bearer = HTTPBearer(auto_error=False)


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as db:
        yield db


def require(scope: str):
    """A dependency: the caller's actor name (``token:<id>``) when its token has ``scope``; else 401 / 403."""

    def check(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(_bearer),
              db: Session = Depends(get_db)) -> str:
        token = creds.credentials if creds is not None else request.query_params.get("token") \
            if request.url.path == "/status" else None
        if not token:
            raise HTTPException(401, "an API token is required (Authorization: Bearer <token>)",
                                headers={"WWW-Authenticate": "Bearer"})
        found = request.app.state.verifier.token(db, token)
        if found is None:
            raise HTTPException(401, "unknown or revoked API token", headers={"WWW-Authenticate": "Bearer"})
        token_id, have = found
        if not scope_allows(have, scope):
            raise HTTPException(403, f"this token's scope is {have!r}; this needs {scope!r}")
        return f"token:{token_id}"

    return check


def unprocessable(problems: list[tuple[list, str]]) -> HTTPException:
    """A 422 in FastAPI's form, one entry per (field path, message)."""
    return HTTPException(422, [{"loc": loc, "msg": msg, "type": "value_error"} for loc, msg in problems])


# An input problem's line (scenario/tables.py, config.py): "evs.csv row 2 (ev_id=E2): energy_kwh 'x' is ..."
# or "scenario.yaml: horizon.slot_minute: unknown key ..."; its file, row and field become the 422's loc.
_TABLE_LINE = re.compile(r"^(?P<file>[\w.-]+\.csv) row (?P<row>\d+)(?: \([^)]*\))?: (?P<field>[A-Za-z_]\w*)[ :]")
_YAML_LINE = re.compile(r"^(?P<file>[\w.-]+\.ya?ml): (?P<path>[A-Za-z_][\w.]*):")
_FILE_LINE = re.compile(r"^(?P<file>[\w.-]+\.(?:csv|ya?ml|json)):")


def input_error_loc(line: str) -> list:
    """``["body", file, row, field]`` (as far as the line names them) of an uploaded scenario's problem."""
    if m := _TABLE_LINE.match(line):
        return ["body", m["file"], int(m["row"]), m["field"]]
    if m := _YAML_LINE.match(line):
        return ["body", m["file"], *m["path"].split(".")]
    if m := _FILE_LINE.match(line):
        return ["body", m["file"]]
    return ["body"]


def not_found(what: str) -> HTTPException:
    return HTTPException(404, f"{what} not found")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError):
        return JSONResponse({"detail": [{"loc": input_error_loc(line), "msg": line, "type": "input_error"}
                                        for line in exc.problems]}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)


def replan_time_problems(sc, at, loc: list, hint: str = "") -> list[tuple[list, str]]:
    """A re-plan of scenario row ``sc`` asked for at ``at`` needs a time before the horizon's end (one before
    its start re-plans the whole horizon, :mod:`vpp_sched.service.horizon`): the 422 problem at ``loc``, if any."""
    horizon = Horizon.of(sc.summary)
    if not horizon.ended_by(at):
        return []
    return [(loc, f"{at.isoformat()} is at or after the end of scenario {sc.id}'s horizon ({horizon}): nothing "
                  f"is left to re-plan{hint}")]
