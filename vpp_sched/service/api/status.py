"""``GET /health`` and ``GET /status``: the status page (plain HTML, no scripts, no outside resources).

The page shows each scenario's current plan (KPIs), its transformers' highest planned load against
their limits, the stations with their connection and last profile, and the latest audit entries.
A browser cannot send a Bearer header from an address bar, so ``/status`` also takes ``?token=``.
"""

from __future__ import annotations

import html
import io
from pathlib import Path
from string import Template

import pandas as pd
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from vpp_sched.service.api.admin import audit_out, station_out
from vpp_sched.service.api.common import get_db, require
from vpp_sched.service.db import AuditEntry, ScenarioRow, Station
from vpp_sched.service.store import current_plan, plan_file

router = APIRouter(tags=["status"])
PAGE = Template((Path(__file__).parents[1] / "templates" / "status.html").read_text(encoding="utf-8"))
KPIS = (("status", "Status"), ("grid_energy_cost_cny", "Grid energy cost [CNY]"), ("peak_net_load_kw", "Peak net load [kW]"),
        ("max_loading_pu", "Highest loading [pu]"), ("overloaded_transformers", "Transformers overloaded"),
        ("unmet_energy_kwh", "Unmet EV energy [kWh]"), ("n_evs", "EVs"))


@router.get("/health")
def health(db: Session = Depends(get_db)) -> dict:
    db.execute(text("SELECT 1"))
    return {"status": "ok"}


@router.get("/status", response_class=HTMLResponse)
def status_page(db: Session = Depends(get_db), actor: str = Depends(require("read"))) -> HTMLResponse:
    scenarios = "".join(_scenario_section(db, sc) for sc in db.scalars(select(ScenarioRow).order_by(ScenarioRow.id)))
    stations = _table(["Station", "Scenario", "Transformer", "Connected", "Last profile", "Plan", "Answer", "Sent"],
                      [_station_row(station_out(db, s)) for s in db.scalars(select(Station).order_by(Station.id))])
    entries = [audit_out(a) for a in db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(30))]
    audit = _table(["At", "Who", "What", "Target"], [[a["at"], a["actor"], a["action"], a["target"]] for a in entries])
    page = PAGE.substitute(scenarios=scenarios or "<p>No scenario yet.</p>", stations=stations, audit=audit)
    return HTMLResponse(page, headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})


def _scenario_section(db: Session, sc: ScenarioRow) -> str:
    plan = current_plan(db, sc.id)
    head = f"<h2>Scenario {sc.id}: {html.escape(sc.name)}</h2>"
    if plan is None:
        return f'<section class="scenario">{head}<p>No plan yet.</p></section>'
    kpis = _table(["KPI", "Value"], [[label, _fmt(plan.kpis.get(key))] for key, label in KPIS])
    load = pd.read_csv(io.BytesIO(plan_file(db, plan.id, "transformer_load.csv")), dtype={"transformer_id": str})
    worst = load.groupby("transformer_id").agg(peak_kw=("net_load_kw", "max"), limit_kw=("limit_kw", "max"),
                                               loading_pu=("loading_pu", "max"))
    rows = [[t, f"{r.peak_kw:,.1f}", f"{r.limit_kw:,.1f}", f"{r.loading_pu:.2f}",
             "over" if r.loading_pu > 1.0 + 1e-6 else "ok"] for t, r in worst.iterrows()]
    trafos = _table(["Transformer", "Peak net load [kW]", "Limit [kW]", "Loading [pu]", ""], rows)
    return (f'<section class="scenario">{head}<p>Current plan {plan.id} ({html.escape(plan.trigger)}, '
            f'finished {plan.finished_at:%Y-%m-%d %H:%M:%S} UTC)</p>{kpis}<h3>Transformers</h3>{trafos}</section>')


def _station_row(s: dict) -> list:
    p = s["last_profile"] or {}
    return [s["station_id"], s["scenario_id"], s["transformer_id"], "yes" if s["connected"] else "no",
            p.get("action", ""), p.get("plan_id", ""), p.get("answer", ""), p.get("sent_at", "")]


def _fmt(v) -> str:
    return f"{v:,.2f}" if isinstance(v, float) else str(v)


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
