"""``report.html`` of the studies: ``vpp-sched whatif`` and ``vpp-sched hosting``, as the plan's report.

What-if: the study up top (inputs, cases, failures, time), the KPIs (portfolio peak, highest
loading, overload hours, unmet energy, cost) against the varied input per policy, one line per
value of the other varied inputs, the peak of the varied (else the most loaded) transformers
against their limits, every case in a table and the findings of ``summary.md``.

Hosting: the study up top (transformers, policies, bisection tolerance, time), the hosting
capacity per transformer (uncontrolled, orderly and the LP bound), the bisection (highest
loading and unmet energy of every population judged), the binding constraints and the value
of one more kVA.

The page shell, tables and number formats are the plan report's (:mod:`vpp_sched.report.html`),
the figures inline SVG (:mod:`vpp_sched.studies.figures`); the same study gives the same bytes
apart from the run time in the summary (marked ``<span class="timing">``).
"""

from __future__ import annotations

import re
from html import escape
from typing import TYPE_CHECKING

import matplotlib
import numpy as np
import pandas as pd

from vpp_sched.studies import figures as sf
from vpp_sched.report.figures import RC, to_svg
from vpp_sched.report.html import details, figure, info_table, num, package_version, page, table, timing, warnings_box
from vpp_sched.studies.hosting_grid import GRID_REPORT_HEAD, grid_report_rows
from vpp_sched.studies.hosting_search import MAX_MULTIPLE, is_capped
from vpp_sched.studies.summary import hosting_findings, hosting_method, whatif_findings

if TYPE_CHECKING:
    from vpp_sched.studies.hosting import HostingResult
    from vpp_sched.studies.vary import Vary
    from vpp_sched.studies.whatif import WhatIfResult

MAX_SWEEP_TRANSFORMERS = 6     # transformers drawn in the what-if figure
MAX_BISECTION_FIGURES = 8      # transformers drawn in the bisection figure (the tightest)
MAX_CAPACITY_ROWS = 40         # transformers drawn in the capacity figure (the tightest); the table has all

KPI_PANELS = (
    sf.Panel("peak_net_load_kw", "Peak net load, portfolio", "power [kW]"),
    sf.Panel("max_loading_pu", "Highest transformer loading", "loading [pu]", 1.0,
             "1 pu = rated kVA × power factor"),
    sf.Panel("overload_hours", "Overload", "transformer-hours over the limit [h]"),
    sf.Panel("unmet_energy_kwh", "Unmet EV energy", "energy [kWh]"),
    sf.Panel("grid_energy_cost_cny", "Grid energy cost", "cost [CNY]"),
)
UNITS = {"rated_kva": "kVA", "power_factor": "-", "max_loading_pu": "pu", "capacity_kwh": "kWh", "capacity_kwp": "kWp",
         "tilt_deg": "°", "azimuth_deg": "°", "losses_pct": "%", "efficiency": "-"}


# --- what-if: the data the figures are drawn from ---------------------------------------------
def sweep_axes(varies: list[Vary]) -> tuple[Vary | None, list[Vary]]:
    """The x axis (``evs.scale`` when varied, else the first numeric input with several values) and the
    other inputs with several values (each combination of theirs is a line)."""
    many = [v for v in varies if len(v.values) > 1]
    numeric = [v for v in many if _numeric(v.values)]
    x = next((v for v in numeric if v.key == "evs.scale"), None) or next(iter(numeric or many), None)
    return x, [v for v in many if v is not x]


def key_label(key: str | None) -> str:
    """An axis label with its unit for a ``--vary`` key."""
    if key is None:
        return "case"
    if key == "evs.scale":
        return "EV population [multiple of today's]"
    if key == "tariff.scale":
        return "energy prices [multiple of the tariff]"
    name = key.rsplit(".", 1)[-1]
    unit = UNITS.get(name) or next((u for suffix, u in (("_kwh", "kWh"), ("_kw", "kW"), ("_pct", "%"), ("_deg", "°"))
                                    if name.endswith(suffix)), "-")
    return f"{key} [{unit}]"


def short_key(key: str) -> str:
    """``T13.rated_kva`` for ``transformers.T13.rated_kva``, ``S1.battery.capacity_kwh`` for a station's."""
    kind, _, rest = key.partition(".")
    return rest if kind in ("transformers", "stations") and rest else key


def _series(df: pd.DataFrame, others: list[Vary]) -> pd.Series:
    if not others or not len(df):
        return pd.Series("", index=df.index, dtype=object)
    return df.apply(lambda r: ", ".join(f"{short_key(v.key)}={_value(r[v.key])}" for v in others), axis=1)


def _value(v) -> str:
    return f"{v:g}" if isinstance(v, (float, int, np.floating, np.integer)) else str(v)


def _sweep_frame(df: pd.DataFrame, result: WhatIfResult) -> pd.DataFrame:
    """``case``, ``policy``, ``x``, ``series`` of each row of ``df`` (cases or peaks), in study order."""
    x, others = sweep_axes(result.varies)
    out = pd.DataFrame({"case": df.case, "policy": df.policy, "x": df[x.key] if x else df.case,
                        "series": _series(df, others)}, index=df.index)
    rank = out.x
    if x is not None and not _numeric(x.values):
        rank = out.x.astype(str).map({str(v): i for i, v in enumerate(x.values)})
    policy_rank = out.policy.map({p: i for i, p in enumerate(result.policies)})
    series_rank = out.series.map({s: i for i, s in enumerate(dict.fromkeys(out.series))})   # study order
    return (out.assign(_p=policy_rank, _s=series_rank, _x=rank).sort_values(["_p", "_s", "_x"], kind="stable")
            .drop(columns=["_p", "_s", "_x"]))


def _numeric(values) -> bool:
    return all(isinstance(v, (int, float, np.integer, np.floating)) for v in values)


def whatif_curves(result: WhatIfResult) -> pd.DataFrame:
    """The KPI figure's table: per case and policy the varied value ``x``, the ``series`` (the other
    inputs' values) and the KPIs of ``cases.csv`` (NaN for a failed run)."""
    df = result.cases
    frame = _sweep_frame(df, result)
    ok = df.status.loc[frame.index] != "failed"
    for panel in KPI_PANELS:
        frame[panel.column] = df[panel.column].loc[frame.index].astype(float).where(ok)
    return frame.reset_index(drop=True)


def focus_transformers(result: WhatIfResult, limit: int = MAX_SWEEP_TRANSFORMERS) -> list[str]:
    """Transformers named in ``--vary`` keys, then the most loaded (highest loading in any run)."""
    named = [".".join(v.key.split(".")[1:-1]) for v in result.varies if v.key.startswith("transformers.")]
    pk = result.peaks
    loaded = (pk.groupby("transformer_id", sort=False).max_loading_pu.max().sort_values(ascending=False, kind="stable")
              .index.tolist() if len(pk) else [])
    return list(dict.fromkeys([*named, *loaded]))[:limit]


def whatif_transformer_curves(result: WhatIfResult, ids: list[str]) -> pd.DataFrame:
    """The transformer figure's table: ``transformer_peaks.csv`` rows of ``ids`` with ``x`` and ``series``."""
    pk = result.peaks[result.peaks.transformer_id.isin(ids)]
    frame = _sweep_frame(pk, result)
    for col in ("transformer_id", "peak_kw", "limit_kw", "max_loading_pu"):
        frame[col] = pk[col].loc[frame.index]
    return frame.reset_index(drop=True)


# --- what-if: the page ------------------------------------------------------------------------
def render_whatif_report(result: WhatIfResult) -> str:
    """The what-if study's report as one self-contained HTML page."""
    with matplotlib.rc_context(RC):
        sections = [_whatif_summary(result), _whatif_curves(result), _whatif_transformers(result),
                    _whatif_cases(result), ("findings", "Findings", _markdown_list(whatif_findings(
                        result.cases, [v.key for v in result.varies], result.policies)))]
    intro = f'<p class="sub">{_inputs_line(result)}</p>'
    footer = (f"vpp-sched {escape(package_version())} · overload hours are transformer-hours above the limit "
              "(rated_kva × power_factor × max_loading_pu) · uncontrolled: every EV at full power from arrival; "
              "orderly: the day-ahead plan · tables of this study: cases.csv, transformer_peaks.csv, summary.md")
    return page(f"What-if study {result.scenario_name}", f"What-if study: {result.scenario_name}", intro,
                sections, footer, css=".scroll{overflow-x:auto}")


def _inputs_line(r: WhatIfResult) -> str:
    varied = "; ".join(f"<code>{escape(v.key)}</code> = {escape(', '.join(_value(x) for x in v.values))}"
                       for v in r.varies) or "nothing varied (the scenario as it is)"
    return f"Varied: {varied}. Policies: {escape(', '.join(r.policies))}."


def _whatif_summary(r: WhatIfResult):
    df = r.cases
    n_cases = df.case.nunique() if len(df) else 0
    failed = r.failed
    parts = [f"<b>{escape(t['policy'])}</b>: {t['overloading']} of {t['runs']} case(s) overload a transformer, "
             f"highest loading <b>{t['max_loading_pu']:.2f} pu</b>; {t['short']} with EVs short of energy their "
             "stay allows" for t in r.policy_totals()]
    headline = (f'<p class="headline">{n_cases} case(s) × {len(r.policies)} polic'
                f'{"y" if len(r.policies) == 1 else "ies"} = {len(df)} run(s), <b>{len(failed)} failed</b>'
                + "".join(f"; {p}" for p in parts) + ".</p>")
    rows = [_scenario_row(r),
            *[(f"Varied: <code>{escape(v.key)}</code>", escape(", ".join(_value(x) for x in v.values)))
              for v in r.varies],
            ("Policies", escape(", ".join(r.policies))), ("Cases", f"{n_cases:,}"), ("Runs", f"{len(df):,}"),
            ("Failed runs", _count(len(failed))), *_run_rows(r)]
    return "summary", "Summary", f"{headline}\n{info_table(rows)}\n{warnings_box(r.warnings)}"


def _whatif_curves(r: WhatIfResult):
    data = whatif_curves(r)
    x, others = sweep_axes(r.varies)
    if not len(data):
        return "curves", "KPIs against the varied input", "<p>No run.</p>"
    order = list(x.values) if x else list(dict.fromkeys(data.x))
    title = f"KPIs against {x.key if x else 'the case'}, uncontrolled vs orderly charging"
    svg = to_svg(sf.sweep_figure(data, KPI_PANELS, key_label(x.key if x else None), order, title), "fig-whatif-kpis")
    fixed = [v for v in r.varies if len(v.values) == 1]
    cap = ("One line per policy" + (" and value of " + ", ".join(f"<code>{escape(v.key)}</code>" for v in others)
                                     if others else "")
           + ". Peak: the portfolio's summed net load; loading: the highest of any transformer and slot, in pu of "
           "rated kVA × power factor; overload: transformer-hours over the limit; unmet: EV energy not delivered by "
           "departure. A failed run is a gap." + (" Fixed: " + "; ".join(
               f"<code>{escape(v.key)}</code> = {_value(v.values[0])}" for v in fixed) + "." if fixed else ""))
    return "curves", "KPIs against the varied input", figure("fig-whatif-kpis", svg, cap)


def _whatif_transformers(r: WhatIfResult):
    ids = focus_transformers(r)
    if not ids:
        return "transformers", "Transformers", "<p>No run.</p>"
    x, _ = sweep_axes(r.varies)
    data = whatif_transformer_curves(r, ids)
    if not len(data):
        return "transformers", "Transformers", "<p>No run gave transformer peaks (every run failed).</p>"
    order = list(x.values) if x else list(dict.fromkeys(data.x))
    fig = sf.transformer_sweep_figure(data, ids, key_label(x.key if x else None), order,
                                      "Peak net load of the varied and the most loaded transformers")
    n_all = r.peaks.transformer_id.nunique()
    cap = (f"{len(ids)} of {n_all:,} transformers: those named in <code>--vary</code> first, then the most loaded "
           "(highest loading in any run); their limit dotted. Every transformer and run: transformer_peaks.csv.")
    return "transformers", "Transformers", figure("fig-whatif-transformers", to_svg(fig, "fig-whatif-transformers"),
                                                  cap)


def _whatif_cases(r: WhatIfResult):
    keys = [v.key for v in r.varies]
    rows, marked, errors = [], set(), []
    for i, d in enumerate(r.cases.to_dict("records")):
        cells = [d["case"], *[escape(_value(d[k])) for k in keys], escape(d["policy"]), escape(d["status"])]
        if d["status"] != "failed":
            cells += [f"{int(d['n_evs']):,}", num(d["peak_net_load_kw"], 0), num(d["max_loading_pu"], 2),
                      int(d["overloaded_transformers"]), num(d["overload_hours"], 2), num(d["unmet_energy_kwh"], 1),
                      num(d["unmet_by_grid_kwh"], 1), num(d["grid_energy_cost_cny"], 0)]
        else:
            marked.add(i)
            cells += ["–"] * 8
            errors.append(f"<li>case {d['case']} {escape(d['policy'])}: {escape(str(d['error']))}</li>")
        rows.append(cells)
    head = ("case", *[f"<code>{escape(short_key(k))}</code>" for k in keys], "policy", "status", "EVs", "peak kW",
            "max loading pu", "trafos over limit", "overload h", "unmet kWh", "unmet by the grid kWh",
            "energy cost CNY")
    text = tuple(range(1 + len(keys), 3 + len(keys)))
    html = details(f"Every case and policy ({len(rows):,} runs)",
                   f"<div class=scroll>{table(head, rows, text=text, marked=marked)}</div>", len(rows), open_below=60)
    if errors:
        html += f"\n<p>{len(errors)} failed run(s):</p>\n<ul>{''.join(errors)}</ul>"
    return "cases", "Cases", html


# --- hosting ----------------------------------------------------------------------------------
def hosting_capacity_table(result: HostingResult) -> pd.DataFrame:
    """The capacity figure's table: transformers with a result, tightest first (lowest orderly multiple,
    else uncontrolled), with ``label`` and the LP bound ``lp_bound`` (``orderly_upper_multiple``: the
    most EVs the LP relaxation allows, as a multiple of today's EVs)."""
    t = result.table[result.table.status == "ok"].copy()
    pol = "orderly" if "orderly" in result.policies else result.policies[0]
    t = t.sort_values([f"{pol}_multiple", "transformer_id"], kind="stable")
    t["label"] = [f"{r.transformer_id} ({r.rated_kva:g} kVA, {int(r.evs_today)} EVs)" for r in t.itertuples()]
    if "orderly" in result.policies:     # as the thresholds: the largest multiple giving that many EVs
        t["lp_bound"] = t.orderly_upper_multiple.astype(float)
    return t.reset_index(drop=True)


def hosting_thresholds(result: HostingResult) -> pd.DataFrame:
    """``transformer_id``, ``policy``, ``multiple``: the thresholds drawn on the bisection figure; for
    ``orderly_lp`` the upper bound of orderly it proves (``orderly_upper_multiple``)."""
    rows = []
    for r in result.table[result.table.status == "ok"].itertuples():
        for pol in (*result.policies, *(["orderly_lp"] if "orderly" in result.policies else [])):
            col = "orderly_upper_multiple" if pol == "orderly_lp" else f"{pol}_multiple"
            value = getattr(r, col)
            rows.append({"transformer_id": r.transformer_id, "policy": pol,
                         "multiple": float(value) if pd.notna(value) else float("nan")})
    return pd.DataFrame(rows, columns=["transformer_id", "policy", "multiple"])


def render_hosting_report(result: HostingResult) -> str:
    """The hosting study's report as one self-contained HTML page."""
    with matplotlib.rc_context(RC):
        sections = [_hosting_summary(result), _hosting_capacity(result), _hosting_bisection(result),
                    _hosting_binding(result), *_hosting_grid(result),
                    ("findings", "Findings", _markdown_list(hosting_findings(result.table, result.policies)))]
    n = len(result.table)
    intro = (f'<p class="sub">{n:,} transformer{"s" if n != 1 else ""}, policies {escape(", ".join(result.policies))}, '
             f"bisection tolerance {result.tolerance:.1%}.</p>")
    footer = (f"vpp-sched {escape(package_version())} · hosting = no overload and no EV short of energy its stay "
              "allows · each transformer is solved alone (no feeders, no DR events) · tables of this study: "
              "hosting.csv, bisection.csv, summary.md")
    return page(f"Hosting capacity {result.scenario_name}", f"EV hosting capacity: {result.scenario_name}", intro,
                sections, footer, css="#binding td{white-space:normal}")


def _hosting_summary(r: HostingResult):
    t = r.table
    failed = t[t.status == "failed"]
    evaluations = int(pd.to_numeric(t.evaluations, errors="coerce").fillna(0).sum()) if len(t) else 0
    rows = [_scenario_row(r), ("Transformers", escape(_some(t.transformer_id)) or "none"),
            ("Policies", escape(", ".join(r.policies))), ("Bisection tolerance", f"{r.tolerance:.1%} (or one EV)"),
            ("Populations judged", f"{evaluations:,}"), ("Failed transformers", _count(len(failed))), *_run_rows(r)]
    method = f"<p class=note>{_inline_markdown(hosting_method(r))}</p>"
    return "summary", "Summary", f"{info_table(rows)}\n{method}\n{warnings_box(r.warnings)}"


def _hosting_capacity(r: HostingResult):
    t = hosting_capacity_table(r)
    if not len(t):
        return "capacity", "Hosting capacity", "<p>No transformer with a result.</p>"
    svg = to_svg(sf.capacity_figure(t.head(MAX_CAPACITY_ROWS), r.policies, MAX_MULTIPLE), "fig-hosting-capacity")
    shown = f"The {MAX_CAPACITY_ROWS} tightest of {len(t):,} transformers" if len(t) > MAX_CAPACITY_ROWS else "Tightest"
    html = [figure("fig-hosting-capacity", svg, f"{shown} first. The multiple scales each transformer's own EVs "
                   "(nested, seeded resampling); every multiple up to the dot hosts. Orderly: a plan exists with "
                   "no overload and no EV short; the LP relaxation bounds it from above.")]
    rows = []
    for row in t.itertuples():
        cells = [escape(str(row.transformer_id)), num(row.rated_kva, 0), num(row.limit_kw, 1), int(row.evs_today)]
        for pol in r.policies:
            m, capped = getattr(row, f"{pol}_multiple"), is_capped(getattr(row, f"{pol}_capped"))
            cells += [("≥ " if capped else "") + num(m, 2), f"{int(getattr(row, f'{pol}_evs')):,}"]
        if "orderly" in r.policies:
            up = row.orderly_upper_evs
            cells += [f"{int(up):,}" if pd.notna(up) else "–", num(row.kva_value_cny_per_kva_day, 3)]
        rows.append(cells)
    head = ["transformer", "rated kVA", "limit kW", "EVs today"]
    for pol in r.policies:
        head += [f"{pol} multiple", f"{pol} EVs"]
    if "orderly" in r.policies:
        head += ["orderly at most (LP) EVs", "1 kVA more, CNY per kVA per day"]
    short = (t[[f"{pol}_multiple" for pol in r.policies]] < 1).any(axis=1).to_numpy()
    html.append(table(head, rows, text=(0,), marked=set(np.flatnonzero(short).tolist())))
    return "capacity", "Hosting capacity", "\n".join(html)


def _hosting_bisection(r: HostingResult):
    ev = r.evaluations
    t = hosting_capacity_table(r)
    if ev is None or not len(ev) or not len(t):
        return "bisection", "Bisection", "<p>No population was judged.</p>"
    ids = [i for i in t.transformer_id if i in set(ev.transformer_id)][:MAX_BISECTION_FIGURES]
    svg = to_svg(sf.bisection_figure(ev, ids, hosting_thresholds(r)), "fig-hosting-bisection")
    more = f" The {len(ids)} tightest of {len(t)} transformers." if len(t) > len(ids) else ""
    cap = ("The populations the search judged up to 1.5 × the largest threshold: highest loading (pu of rated kVA × "
           "power factor) and EV energy the grid leaves unmet, against the multiple of today's EVs. Uncontrolled "
           f"charging fails by overload, orderly by EVs short of energy.{more} Every population: bisection.csv.")
    return "bisection", "Bisection", figure("fig-hosting-bisection", svg, cap)


def _hosting_binding(r: HostingResult):
    t = r.table[r.table.status == "ok"]
    rows = []
    for row in t.itertuples():
        for pol in r.policies:
            rows.append([escape(str(row.transformer_id)), escape(pol), num(getattr(row, f"{pol}_multiple"), 2),
                         escape(str(getattr(row, f"{pol}_binding"))), escape(str(getattr(row, f"{pol}_fails_with")))])
    head = ("transformer", "policy", "threshold multiple", "binding at the threshold", "fails just above with")
    html = [table(head, rows, text=(0, 1, 3, 4))]
    if "orderly" in r.policies and len(t):
        planner = [[escape(str(row.transformer_id)), num(row.kva_value_cny_per_kva_day, 3),
                    escape(str(row.planner_at_threshold))] for row in t.itertuples()]
        html.append("<p>One more kVA at the orderly threshold (LP dual of the transformer limit) and whether the "
                    "day-ahead planner's own cost-optimal plan hosts that population:</p>")
        html.append(table(("transformer", "1 kVA more, CNY per kVA per day", "planner at the threshold"), planner,
                          text=(0, 2)))
    bad = r.table[r.table.status != "ok"]
    if len(bad):
        html.append(table(("transformer", "status", "error"), [[escape(str(b.transformer_id)), escape(str(b.status)),
                                                                escape(str(b.error))] for b in bad.itertuples()],
                          text=(0, 1, 2), marked=set(range(len(bad)))))
    return "binding", "Binding constraints", "\n".join(html)


def _hosting_grid(r: HostingResult) -> list:
    """The limits of the LV grids (studies/hosting_grid.py), when a transformer names one."""
    rows = grid_report_rows(r.table, r.policies)
    if not rows:
        return []
    note = ("<p>Per transformer with an LV grid: the EV count at which each limit first fails, uncontrolled (AC power "
            "flow of the uncontrolled profile) and orderly (the planner's plan with its grid rows, judged by its AC "
            "power flow). Per limit: grid_limits.csv; every population judged: grid_levels.csv.</p>")
    body = table(GRID_REPORT_HEAD, [[escape(c) for c in row] for row in rows], text=(0, 1, 2, 3, 6))
    return [("grid", "Limits of the LV grid", note + "\n" + body)]


# --- helpers ----------------------------------------------------------------------------------
def _scenario_row(r: WhatIfResult | HostingResult) -> tuple[str, str]:
    folder = f" (<code>{escape(r.scenario_folder)}</code>)" if r.scenario_folder else ""
    return "Scenario", escape(r.scenario_name) + folder


def _run_rows(r: WhatIfResult | HostingResult) -> list[tuple[str, str]]:
    """How the study ran: wall time, executor, model build and time limit, seed."""
    limit = f"{r.time_limit_s:g} s" if r.time_limit_s is not None else "–"
    return [("Wall time", timing(r.wall_seconds)), ("Ran on", escape(f"{r.executor}, {r.workers} worker(s)")),
            ("Model build, time limit per plan", escape(f"{r.method}, {limit}")), ("EV resampling seed", str(r.seed))]


def _some(ids, limit: int = 20) -> str:
    ids = [str(i) for i in ids]
    return ", ".join(ids[:limit]) + (f", ... ({len(ids):,} in all)" if len(ids) > limit else "")


def _count(n: int) -> str:
    """A count of failures, red when not zero."""
    return f"<span class=bad>{n}</span>" if n else "0"


def _inline_markdown(text: str) -> str:
    """``**bold**`` and ```code``` of the summaries' Markdown as HTML (the rest escaped)."""
    html = escape(text, quote=False)
    html = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html)


def _markdown_list(lines: list[str]) -> str:
    items = "".join(f"<li>{_inline_markdown(line.removeprefix('- '))}</li>\n" for line in lines)
    return f"<ul>\n{items}</ul>"
