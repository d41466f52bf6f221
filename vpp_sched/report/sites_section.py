"""The plan report's section on the swap and fast-charging stations (models/swap_stations.md,
models/fast_charging.md): per station its service (swaps served, expected waits from the model and
the simulation) and a figure of its load against its transformer's net load and limit."""

from __future__ import annotations

from html import escape

import numpy as np

from vpp_sched.report import figures as rf
from vpp_sched.report.svgplot import Plot
from vpp_sched.report.html import figure as _figure, num as _num, pct as _pct, table as _table

MAX_SITE_FIGURES = 6


def sites_section(run, c: rf.Curves):
    """``(id, title, html)`` of the section, or ``None`` when the scenario has no such station."""
    p, k = run.problem, run.plan.kpis
    if p.sites is None:
        return None
    html = []
    if k.get("swap_stations"):
        rows = [(escape(str(s["station_id"])), _num(s["swaps_requested"]), _num(s["swaps_served"]),
                 _num(s["unserved_swaps"]), _pct(s["service_level"]), _num(s["charged_kwh"], 0))
                for s in k["swap_stations"]]
        html.append("<h3>Battery-swap stations</h3>" + _table(
            ("station", "swaps requested", "served", "unserved", "service level", "charged kWh"), rows, text=(0,)))
    if k.get("fast_charging_stations"):
        rows = [(escape(str(s["station_id"])), _num(s["target_wait_min"], 0), _num(s["energy_served_kwh"], 0),
                 _num(s["model_mean_wait_min"]), _pct(s["model_p_wait_over_target"]), _num(s["sim_mean_wait_min"]),
                 _pct(s["sim_p_wait_over_target"]), str(s["slots_over_target"])) for s in k["fast_charging_stations"]]
        html.append("<h3>Fast-charging stations</h3>" + _table(
            ("station", "target min", "energy served kWh", "mean wait min (Erlang C)", "P(wait > target)",
             "mean wait min (simulated)", "P(wait > target) simulated", "slots over target"), rows, text=(0,))
            + "<p class=note>Erlang C (M/M/c) per slot under the planned power cap; the simulation replays "
              "the day 40 times with seeded random arrivals (models/fast_charging.md).</p>")
    html += _figures(run, c)
    return "sites", "Swap and fast-charging stations", "\n".join(html)


def _figures(run, c: rf.Curves) -> list[str]:
    p, tables = run.problem, run.plan.sites
    st = p.sites
    items = [(str(i), int(n), tables["swap_stations"], "charge_kw", "pack charging")
             for i, n in zip(st.swap_ids, st.swap_transformer)]
    items += [(str(i), int(n), tables["fast_charging"], "power_cap_kw", "power cap")
              for i, n in zip(st.fast_ids, st.fast_transformer)]
    out = []
    for j, (sid, n, table, column, what) in enumerate(items[:MAX_SITE_FIGURES]):
        values = table.loc[table.station_id == sid, column].to_numpy(float)
        fig = Plot(11, 3.4)
        (ax,) = fig.grid(1, 1, left=0.8, right=2.7, top=0.6, bottom=0.75, hspace=0.45, wspace=0.3)
        fig.suptitle = f"{sid} at transformer {c.ids[n]}: {what} and net load"
        ax.stairs(values, c.edges, baseline=0, fill=True, color=rf.CHARGE, alpha=0.45, label=f"{what} (planned)")
        ax.stairs(c.plan_net_kw[n], c.edges, color=rf.PLAN, lw=1.5, label=f"{c.ids[n]} net load, planned")
        ax.hline(c.limit_kw[n], color=rf.LIMIT, lw=1.0, dash=rf.LIMIT_DASH, label=f"{c.ids[n]} limit {c.limit_kw[n]:,.0f} kW")
        ax.ylabel, ax.legend = "power [kW]", "right"
        rf.time_axis(ax, c)
        key = f"fig-site-{j}"
        peak = float(np.max(values)) if len(values) else 0.0
        out.append(_figure(key, rf.to_svg(fig, key), f"{escape(sid)}: {what} (peak {peak:,.0f} kW) and the "
                                                      f"transformer's planned net load against its limit."))
    return out
