"""``report.html``: one self-contained page per plan, for the dispatch engineer and the planner.

KPIs of the plan against uncontrolled charging, the portfolio's net load and EV power over the
tariff, the most loaded transformers against their limits (a table for all of them), EV energy
requested vs delivered (and which EVs fall short, why), stations' PV, battery and SOC, and DR
events against their baselines. Figures are inline SVG; there is no script, no external style
sheet, font or image, so the page opens offline and can be mailed as one file. The same plan
gives the same bytes (the solver timings in the summary are the only run-dependent numbers).

    from vpp_sched.report.plan_report import report_writer
    write_plan(run.plan, out, extra={"report": report_writer(run)})
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from vpp_sched.report import figures as rf
from vpp_sched.report.grid_section import grid_section
from vpp_sched.report.sites_section import sites_section
from vpp_sched.plan.planner import PlanRun
from vpp_sched.report.html import chip as _chip, details as _details, figure as _figure, info_table, local as _local
from vpp_sched.report.html import num as _num, package_version as _version, page, pct as _pct, table as _table
from vpp_sched.report.html import timing as _timing, warnings_box
from vpp_sched.plan.results import TOL_KW, TOL_KWH
from vpp_sched.problem.build import uncontrolled_transformer_kw

REPORT_FILE = "report.html"
TOP_TRANSFORMERS = 12      # transformers drawn; the table lists every transformer (up to TABLE_ROWS)
TABLE_ROWS = 1000
MAX_STATION_FIGURES = 6
MAX_EVENT_FIGURES = 6
MAX_SHORT_EVS = 50


def report_writer(run: PlanRun) -> Callable[[Path], None]:
    """A callable writing ``report.html`` into a folder (for ``write_plan(..., extra=...)``)."""
    def write(folder: Path) -> None:
        (Path(folder) / REPORT_FILE).write_text(render_report(run), encoding="utf-8", newline="\n")
    return write


def render_report(run: PlanRun) -> str:
    """The plan report as one self-contained HTML page."""
    c = _curves(run)
    sections = [_summary(run), _portfolio(c), _transformers(run, c), _evs(run), _stations(run, c),
                _dr_events(run, c)]
    if run.problem.n_feeders:
        sections.append(_feeders(run, c))
    site = sites_section(run, c)        # swap and fast-charging stations (report/sites_section.py)
    if site is not None:
        sections.append(site)
    if (grids := grid_section(run)) is not None:
        sections.append(grids)
    cfg, k = run.scenario.config, run.plan.kpis
    slots, tz = run.problem.slots, run.scenario.tz
    end = slots[-1] + pd.Timedelta(hours=run.problem.dt_h)
    ok = k.get("valid") and not run.plan.warnings
    chips = (_chip("plan valid" if k.get("valid") else "VALIDITY CHECK FAILED", bool(k.get("valid")))
             + _chip(f"{len(run.plan.warnings)} warning(s)", bool(ok)))
    intro = (f"""<p class="sub">{_local(slots[0], tz)} – {_local(end, tz)}, {rf.time_label(slots, tz)};
{len(slots)} slots of {run.problem.dt_h * 60:g} min. {_counts(run.problem)}.</p>
{f'<p class="sub">{escape(cfg.description)}</p>' if getattr(cfg, "description", None) else ""}
<p>{chips}</p>""")
    footer = f"""vpp-sched {escape(_version())} · every time is local time ({escape(tz)}) · the uncontrolled reference
charges every EV at full power from arrival until its energy is met, batteries idle, PV not curtailed ·
tables of this plan: transformer_load.csv, evs.csv, batteries.csv, dr_events.csv, kpis.json"""
    return page(f"Day-ahead plan {cfg.name}", f"Day-ahead plan: {cfg.name}", intro, sections, footer)


# --- data -------------------------------------------------------------------------------------
def _curves(run: PlanRun) -> rf.Curves:
    p, plan = run.problem, run.plan
    unc_ev_at, unc_net = uncontrolled_transformer_kw(p)    # = np.add.at's sums, bit for bit, without [E, T]
    tl = plan.transformer_load
    in_order = _in_problem_order(tl, p)

    def grid(col: str) -> np.ndarray:
        if in_order:        # as make_plan writes it: a reshape, not a pivot (0.2 s at 2,000 transformers)
            return tl[col].to_numpy(dtype=float).reshape(p.n_transformers, p.n_slots)
        table = tl.pivot(index="transformer_id", columns="slot_start", values=col)
        return table.reindex(index=p.transformer_ids, columns=p.slots).to_numpy(dtype=float)

    return rf.Curves(slots=p.slots.tz_convert(run.scenario.tz), tz=run.scenario.tz, dt_h=p.dt_h,
                     price=np.asarray(p.price_cny_per_kwh, dtype=float), ids=np.asarray(p.transformer_ids),
                     limit_kw=np.asarray(p.limit_kw, dtype=float), rating_kw=np.asarray(p.rating_kw, dtype=float),
                     base_kw=np.asarray(p.base_load_kw, dtype=float), plan_net_kw=grid("net_load_kw"),
                     unc_net_kw=unc_net, plan_ev_kw=grid("ev_kw"), unc_ev_kw=unc_ev_at)


def _in_problem_order(tl: pd.DataFrame, p) -> bool:
    """The transformer table holds one row per transformer and slot, transformer by transformer in
    the problem's order and slot by slot within each (as ``make_plan`` builds it)."""
    T = p.n_slots
    if len(tl) != p.n_transformers * T:
        return False
    ids = tl.transformer_id.to_numpy()
    slots = pd.DatetimeIndex(tl.slot_start)
    return bool(np.array_equal(ids, np.repeat(np.asarray(p.transformer_ids, dtype=object), T))
                and np.array_equal(slots.as_unit("ns").asi8, np.tile(p.slots.as_unit("ns").asi8, p.n_transformers)))


def _ranking(c: rf.Curves) -> np.ndarray:
    """Transformers from the most loaded (highest loading planned or uncontrolled) down."""
    peak = np.maximum(np.abs(c.unc_net_kw).max(axis=1), np.abs(c.plan_net_kw).max(axis=1)) / c.rating_kw
    return np.argsort(-peak, kind="stable")


# --- sections: (id, title, html) --------------------------------------------------------------
def _summary(run: PlanRun):
    k, u = run.plan.kpis, run.plan.kpis["uncontrolled"]
    rows = [("Grid energy cost", "CNY", "grid_energy_cost_cny", 0), ("Grid energy", "kWh", "grid_energy_kwh", 0),
            ("Peak net load, portfolio", "kW", "peak_net_load_kw", 0),
            ("Highest transformer loading", "pu", "max_loading_pu", 3),
            ("Transformers overloaded", "", "overloaded_transformers", 0),
            ("Overload energy", "kWh", "overload_energy_kwh", 1), ("Unmet EV energy", "kWh", "unmet_energy_kwh", 1),
            ("EVs short of their request", "", "evs_short", 0),
            ("Largest slot-to-slot rise of EV power", "kW", "max_ramp_kw", 0)]
    if "demand_charge_cny" in k:        # two-part tariff: the new monthly peaks' charge (models/tariff.md)
        rows.append(("Demand charge (new monthly peaks)", "CNY", "demand_charge_cny", 2))
    body = []
    for label, unit, key, digits in rows:
        a, b = float(k.get(key, np.nan)), float(u.get(key, np.nan))
        d = a - b
        cls = "good" if d < -1e-9 else "bad" if d > 1e-9 and key != "grid_energy_kwh" else ""
        rel = f" ({d / abs(b):+.1%})" if abs(b) > 1e-9 and abs(d) > 1e-9 else ""
        body.append(f"<tr><td>{label}</td><td>{unit}</td><td class=n>{_num(a, digits)}</td><td class=n>"
                    f"{_num(b, digits)}</td><td class='n {cls}'>{_num(d, digits, sign=True)}{rel}</td></tr>")
    for label, key in (("PV curtailed", "pv_curtailed_kwh"), ("DR shortfall", "dr_shortfall_kwh")):
        body.append(f"<tr><td>{label}</td><td>kWh</td><td class=n>{_num(k.get(key, 0.0), 1)}</td>"
                    "<td class=n>–</td><td></td></tr>")
    kpi = ("<table><tr><th>KPI</th><th>unit</th><th>plan</th><th>uncontrolled</th><th>plan − uncontrolled</th></tr>"
           + "".join(body) + "</table>")
    solver = k.get("solver") or {}
    sv = " ".join(str(solver.get(x, "")) for x in ("name", "version")).strip()
    info = [("Status", escape(str(k.get("status")))), ("MIP gap", _pct(k.get("mip_gap"))),
            ("Objective", f"{_num(k.get('objective_cny'), 2)} CNY"),
            ("Solver", escape(f"{sv} ({k.get('method', '')} build)"))]
    info += [(label, _timing(k.get(key), 2))
             for label, key in (("Build", "build_seconds"), ("Solve", "solve_seconds"), ("Total", "total_seconds"))
             if key in k]
    t = k.get("timing") or {}
    info += [(label, _timing(t[key], 2)) for label, key in (("HiGHS (its own runs)", "highs_s"),
                                                             ("Modelling overhead", "modelling_overhead_s"))
             if key in t]
    info.append(("Validity check", "passed" if k.get("valid") else "<span class=bad>failed</span>"))
    run_table = info_table(info)
    warn = warnings_box(run.plan.warnings)
    tables = f"<div class=grid2><div>{kpi}</div><div>{run_table}</div></div>"
    return "summary", "Summary", f"{_headline(run)}\n{tables}\n{warn}"


def _headline(run: PlanRun) -> str:
    """The plan in one paragraph: limits, cost, EVs, DR."""
    k, u, p = run.plan.kpis, run.plan.kpis["uncontrolled"], run.problem
    cost, ucost = float(k["grid_energy_cost_cny"]), float(u["grid_energy_cost_cny"])
    parts = [f"<b>{k['overloaded_transformers']} of {p.n_transformers:,}</b> transformers over their limit with the "
             f"plan (uncontrolled charging: <b>{u['overloaded_transformers']}</b>); highest loading "
             f"<b>{float(k['max_loading_pu']):.2f} pu</b> (uncontrolled {float(u['max_loading_pu']):.2f} pu)",
             f"grid energy cost <b>{_num(cost, 0)} CNY</b>, {_num(cost - ucost, 0, sign=True)} CNY"
             + (f" ({(cost - ucost) / ucost:+.1%})" if abs(ucost) > 1e-9 else "") + " against uncontrolled charging",
             f"<b>{_num(k['unmet_energy_kwh'], 1)} kWh</b> of EV energy unmet "
             f"({k['evs_short']} of {p.n_evs:,} EVs short)"]
    if "max_ramp_kw" in k:
        parts.append(f"EV power rises by at most <b>{_num(k['max_ramp_kw'], 0)} kW</b> from one slot to the next "
                     f"(uncontrolled {_num(u.get('max_ramp_kw', np.nan), 0)} kW)")
    if p.n_events:
        parts.append(f"DR shortfall <b>{_num(k.get('dr_shortfall_kwh', 0.0), 1)} kWh</b>")
    return f'<p class="headline">{"; ".join(parts)}.</p>'


def _portfolio(c: rf.Curves):
    svg = rf.to_svg(rf.portfolio_figure(c), "fig-portfolio")
    return "portfolio", "Portfolio and tariff", _figure(
        "fig-portfolio", svg, "Net load of all transformers (base load + EVs + batteries − PV), EV charging "
        "power and the grid energy price per slot. Uncontrolled: every EV at full power from its arrival.")


def _transformers(run: PlanRun, c: rf.Curves):
    p, sc = run.problem, run.scenario
    order = _ranking(c)
    shown = [int(n) for n in order[:TOP_TRANSFORMERS]]
    html = []
    if shown:
        cap = (f"The {len(shown)} most loaded of {p.n_transformers:,} transformers (highest loading, planned or "
               "uncontrolled); the table below lists the others." if p.n_transformers > len(shown) else
               "Every transformer.")
        svg = rf.to_svg(rf.transformer_figure(c, shown), "fig-transformers")
        html.append(_figure("fig-transformers", svg, cap + " Limit = rated kVA × power factor × max loading; "
                            "loading in pu of rated kVA × power factor. Red title: overloaded when uncontrolled."))
    kva = sc.transformers.set_index("transformer_id").rated_kva.reindex(p.transformer_ids).to_numpy(dtype=float)
    n_evs = np.bincount(p.ev_transformer, minlength=p.n_transformers)
    ev_kwh = np.bincount(p.ev_transformer, weights=p.ev_energy_kwh, minlength=p.n_transformers)
    # per-transformer figures as arrays, once (a loop of numpy calls per row cost ~0.3 s at 2,000)
    listed = np.asarray(order[:TABLE_ROWS], dtype=np.int64)
    unc, plan, limit = c.unc_net_kw[listed], c.plan_net_kw[listed], c.limit_kw[listed, None]
    up, pp = np.abs(unc).max(axis=1) / c.rating_kw[listed], np.abs(plan).max(axis=1) / c.rating_kw[listed]
    uo = (np.abs(unc) > limit + TOL_KW).sum(axis=1)   # both ways, as the KPIs
    po = (np.abs(plan) > limit + TOL_KW).sum(axis=1)
    base_peak = c.base_kw[listed].max(axis=1)
    rows = []
    for rank, n in enumerate(listed.tolist(), 1):
        i = rank - 1
        rows.append([rank, escape(str(c.ids[n])), _num(kva[n], 0), _num(c.limit_kw[n], 1), n_evs[n],
                     _num(ev_kwh[n], 0), _num(base_peak[i], 1), *_import_export(unc[i]), _num(up[i], 2),
                     int(uo[i]), *_import_export(plan[i]), _num(pp[i], 2), int(po[i]),
                     "yes" if rank <= len(shown) else ""])
    head = ("#", "transformer", "rated kVA", "limit kW", "EVs", "EV energy kWh", "peak base kW",
            "uncontrolled peak import kW", "uncontrolled peak reverse flow kW", "uncontrolled pu",
            "uncontrolled slots over limit", "planned peak import kW", "planned peak reverse flow kW",
            "planned pu", "planned slots over limit", "in figure")
    table = _table(head, rows, text=(1,), marked={i for i, r in enumerate(rows) if r[14]})
    more = (f"<p class=note>The {TABLE_ROWS:,} most loaded are listed; transformer_load.csv has all "
            f"{p.n_transformers:,}.</p>" if p.n_transformers > TABLE_ROWS else "")
    html.append(_details(f"All transformers, most loaded first ({p.n_transformers:,})", table + more,
                         p.n_transformers))
    return "transformers", "Transformers", "\n".join(html)


def _import_export(net_kw: np.ndarray) -> tuple[str, str]:
    """Peak import and peak reverse flow (export, as a positive number) of a net load curve [kW]:
    the pu column is |net| / rating, so a transformer that only exports needs its reverse peak shown."""
    return _num(max(float(net_kw.max()), 0.0), 1), _num(max(float(-net_kw.min()), 0.0), 1)


def _evs(run: PlanRun):
    evs = run.plan.evs
    req, got = evs.requested_kwh.to_numpy(dtype=float), evs.delivered_kwh.to_numpy(dtype=float)
    html = []
    if len(evs):
        html.append(_figure("fig-evs", rf.to_svg(rf.ev_figure(req, got), "fig-evs"),
                            "Energy at the charger by departure (or the horizon's end), per EV."))
    short = evs[evs.unmet_kwh > TOL_KWH].sort_values(["unmet_kwh", "ev_id"], ascending=[False, True])
    if not len(short):
        html.append(f"<p>All {len(evs):,} EVs get the energy they asked for.</p>")
        return "evs", "EV energy", "\n".join(html)
    kind = short.reason.map(lambda r: "stay too short" if r.startswith("stay too short") else
                            "transformer, feeder or DR cap full" if r.startswith("transformer") else r)
    by = short.groupby(kind.to_numpy()).unmet_kwh.agg(["count", "sum"]).sort_values("sum", ascending=False)
    html.append(_table(("reason", "EVs short", "unmet kWh"),
                       [[escape(r), int(x["count"]), _num(x["sum"], 1)] for r, x in by.iterrows()], text=(0,)))
    tz = run.scenario.tz
    rows = []
    for e in short.head(MAX_SHORT_EVS).itertuples():
        times = [_local(pd.Timestamp(getattr(e, a)), tz) if isinstance(getattr(e, a, None), str) else ""
                 for a in ("arrival", "departure")]
        rows.append([escape(e.ev_id), escape(str(e.transformer_id)), *times, _num(e.requested_kwh, 1),
                     _num(e.delivered_kwh, 1), _num(e.unmet_kwh, 1), escape(e.reason)])
    more = (f"<p class=note>{len(short) - MAX_SHORT_EVS:,} more EVs short: see evs.csv.</p>"
            if len(short) > MAX_SHORT_EVS else "")
    head = ("EV", "transformer", "arrival", "departure", "requested kWh", "delivered kWh", "unmet kWh", "reason")
    html.append(f"<p>{len(short):,} of {len(evs):,} EVs fall short, most unmet energy first:</p>"
                + _table(head, rows, text=(0, 1, 2, 3, 7)) + more)
    return "evs", "EV energy", "\n".join(html)


def _stations(run: PlanRun, c: rf.Curves):
    p, sol = run.problem, run.solution
    if not p.n_stations:
        return "stations", "PV-storage-charging stations", "<p>No PV-storage-charging station in this scenario.</p>"
    pv = p.pv_kw if p.pv_kw is not None else np.zeros((p.n_stations, p.n_slots))
    curt = sol.pv_curtail_kw if sol.pv_curtail_kw is not None else np.zeros_like(pv)
    bat_of = {int(s): b for b, s in enumerate(p.battery_station)}
    html, rows = [], []
    for s in range(p.n_stations):
        b = bat_of.get(s)
        sc = rf.StationCurves(station_id=str(p.station_ids[s]), transformer=int(p.station_transformer[s]),
                              pv_forecast_kw=pv[s], pv_curtailed_kw=curt[s])
        if b is not None:
            sc = replace(sc, charge_kw=sol.battery_charge_kw[b], discharge_kw=sol.battery_discharge_kw[b],
                         soc_kwh=sol.battery_soc_kwh[b], soc_initial_kwh=float(p.battery_soc_initial_kwh[b]),
                         soc_min_kwh=float(p.battery_soc_min_kwh[b]), soc_max_kwh=float(p.battery_soc_max_kwh[b]),
                         capacity_kwh=float(p.battery_capacity_kwh[b]))
        if s < MAX_STATION_FIGURES:
            key = f"fig-station-{s + 1}"
            html.append(_figure(key, rf.to_svg(rf.station_figure(c, sc), key),
                                f"Station {escape(sc.station_id)}: PV forecast (pvlib) and what the plan uses, battery "
                                "power and state of charge, and the net load of its transformer."))
        e = p.dt_h
        rows.append([escape(sc.station_id), escape(str(c.ids[sc.transformer])), _num(pv[s].sum() * e, 1),
                     _num((pv[s] - curt[s]).sum() * e, 1), _num(curt[s].sum() * e, 1)]
                    + ([_num(sc.capacity_kwh, 0), _num(sc.charge_kw.sum() * e, 1), _num(sc.discharge_kw.sum() * e, 1),
                        _num(sc.soc_initial_kwh, 1), _num(sc.soc_kwh[-1], 1)] if b is not None else ["–"] * 5))
    head = ("station", "transformer", "PV forecast kWh", "PV used kWh", "PV curtailed kWh", "battery kWh",
            "charged kWh", "discharged kWh", "SOC start kWh", "SOC end kWh")
    if p.n_stations > MAX_STATION_FIGURES:
        html.append(f"<p class=note>Figures for the first {MAX_STATION_FIGURES} of {p.n_stations} stations.</p>")
    html.append(_table(head, rows, text=(0, 1)))
    return "stations", "PV-storage-charging stations", "\n".join(html)


def _dr_events(run: PlanRun, c: rf.Curves):
    p, events, tz = run.problem, run.plan.dr_events, run.scenario.tz
    if not p.n_events:
        return "dr-events", "Demand response events", "<p>No DR event in this scenario.</p>"
    cfg = {e.event_id: e for e in run.scenario.config.dr_events}
    html, rows = [], []
    for k, event_id in enumerate(p.event_ids):
        t = events[events.event_id == event_id]
        ev = cfg.get(event_id)
        kind = getattr(ev, "kind", "peak_shaving")
        target = float(p.event_reduction_kw[k])
        scope = np.asarray(p.event_scope[k], dtype=bool)
        scope_txt = "all" if ev is None or ev.scope == "all" else ", ".join(ev.scope)
        end = t.slot_start.iat[-1] + pd.Timedelta(hours=p.dt_h) if len(t) else None
        window = f"{_local(t.slot_start.iat[0], tz)} – {_local(end, tz)}" if len(t) else "outside the horizon"
        short_kwh = float(t.shortfall_kw.sum() * p.dt_h)
        if k < MAX_EVENT_FIGURES and len(t):
            key = f"fig-dr-{k + 1}"
            verb = "below" if kind == "peak_shaving" else "above"
            title = f"{kind.replace('_', ' ')}, {target:,.0f} kW {verb} the {getattr(ev, 'baseline', '')} baseline"
            cap_label = "cap (baseline − target)" if kind == "peak_shaving" else "floor (baseline + target)"
            html.append(_figure(key, rf.to_svg(rf.dr_figure(c, str(event_id), title, scope, t, cap_label), key),
                                f"Event {escape(str(event_id))}, {window}; scope: {escape(scope_txt)}. Shortfall: "
                                f"{_num(short_kwh, 1)} kWh."))
        rows.append([escape(str(event_id)), escape(kind.replace("_", " ")), window, escape(scope_txt),
                     escape(str(getattr(ev, "baseline", ""))), _num(target, 1),
                     _num(t.delivered_kw.mean() if len(t) else 0.0, 1), _num(short_kwh, 1),
                     int((t.shortfall_kw > TOL_KW).sum())])
    head = ("event", "kind", "window", "scope", "baseline", "target kW", "mean delivered kW", "shortfall kWh",
            "slots short")
    html.append(_table(head, rows, text=(0, 1, 2, 3, 4)))
    return "dr-events", "Demand response events", "\n".join(html)


def _feeders(run: PlanRun, c: rf.Curves):
    p = run.problem
    rows = []
    for f in range(p.n_feeders):
        on = p.transformer_feeder == f
        plan, unc = c.plan_net_kw[on].sum(axis=0), c.unc_net_kw[on].sum(axis=0)
        cap = float(p.feeder_capacity_kw[f])
        load = max(unc.max(), plan.max()) / cap if cap > 0 else np.inf
        rows.append([load, escape(str(p.feeder_ids[f])), int(on.sum()), _num(cap, 1), _num(unc.max(), 1),
                     int((unc > cap + TOL_KW).sum()), _num(plan.max(), 1), int((plan > cap + TOL_KW).sum())])
    rows = [r[1:] for r in sorted(rows, key=lambda r: -r[0])]   # most loaded first (stable)
    head = ("feeder", "transformers", "capacity kW", "peak uncontrolled kW", "uncontrolled slots over capacity",
            "peak planned kW", "planned slots over capacity")
    table = _table(head, rows, text=(0,), marked={i for i, r in enumerate(rows) if r[6]})
    return "feeders", "Feeders", _details(f"All feeders, most loaded first ({p.n_feeders:,})", table, p.n_feeders)


# --- helpers ----------------------------------------------------------------------------------
def _counts(p) -> str:
    items = [(p.n_transformers, "transformer"), (p.n_evs, "EV"), (p.n_stations, "station"),
             (p.n_events, "DR event"), (p.n_feeders, "feeder")]
    return ", ".join(f"{n:,} {word}{'' if n == 1 else 's'}" for n, word in items if n or word in ("EV", "transformer"))
