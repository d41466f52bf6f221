"""``/scenarios``: upload a scenario (zip of its folder, or JSON in the scenario schema), read it back."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from vpp_sched.service.api.common import get_db, not_found, require
from vpp_sched.service.db import ScenarioFile, ScenarioRow
from vpp_sched.service.store import audit
from vpp_sched.service.uploads import check_scenario, json_body, json_files, scenario_summary, zip_files

router = APIRouter(tags=["scenarios"])


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    if int(request.headers.get("content-length") or 0) > limit:
        raise HTTPException(413, f"upload larger than {limit:,} bytes")
    out = bytearray()
    async for chunk in request.stream():
        out += chunk
        if len(out) > limit:
            raise HTTPException(413, f"upload larger than {limit:,} bytes")
    return bytes(out)


@router.post("/scenarios", status_code=201, summary="Upload a scenario: application/zip (the folder) or application/json",
             openapi_extra={"requestBody": {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}},
                                                        "application/json": {"schema": {"type": "object"}}}}})
async def create_scenario(request: Request, actor: str = Depends(require("plan"))) -> dict:
    settings = request.app.state.settings
    data = await _body(request, settings.max_upload_bytes)
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind == "application/json":
        files = json_files(json_body(data))
    elif kind in ("application/zip", "application/x-zip-compressed", "application/octet-stream"):
        files = zip_files(data, settings)
    else:
        raise HTTPException(415, "send the scenario as application/zip or application/json")
    sc = check_scenario(files)   # InputError -> 422, nothing stored
    with request.app.state.sessions() as db:
        row = ScenarioRow(name=sc.config.name, created_by=actor, summary=scenario_summary(sc))
        db.add(row)
        db.flush()
        db.add_all(ScenarioFile(scenario_id=row.id, name=n, content=c) for n, c in files.items())
        audit(db, actor, "scenario.create", f"scenario:{row.id}", name=row.name, files=sorted(files))
        db.commit()
        return _out(row, sorted(files))


@router.get("/scenarios")
def list_scenarios(db: Session = Depends(get_db), actor: str = Depends(require("read"))) -> list[dict]:
    return [_out(r) for r in db.scalars(select(ScenarioRow).order_by(ScenarioRow.id))]


@router.get("/scenarios/{scenario_id}")
def get_scenario(scenario_id: int, db: Session = Depends(get_db), actor: str = Depends(require("read"))) -> dict:
    row = db.get(ScenarioRow, scenario_id)
    if row is None:
        raise not_found(f"scenario {scenario_id}")
    names = db.scalars(select(ScenarioFile.name).where(ScenarioFile.scenario_id == row.id).order_by(ScenarioFile.name))
    return _out(row, list(names))


def _out(row: ScenarioRow, files: list[str] | None = None) -> dict:
    out = {"id": row.id, "name": row.name, "created_at": row.created_at.isoformat(), "created_by": row.created_by,
           **row.summary}
    if files is not None:
        out["files"] = files
    return out
