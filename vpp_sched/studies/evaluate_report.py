"""``report.html`` of ``vpp-sched evaluate``: the distributions over the sampled days.

Box plots per policy of the day's energy cost, overload energy and unmet EV energy; exceedance
curves of the day's highest transformer loading (the share of days at or above each loading); the
share of days each transformer is over its limit per policy; the robust margins. Drawn like the
other reports (bare matplotlib figures, ``rc_context(RC)``, deterministic inline SVG) in the plan
report's page shell (:mod:`vpp_sched.report.html`).
"""

from __future__ import annotations

from html import escape

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from vpp_sched.report.figures import LIMIT, PLAN, RC, UNC, new_figure, to_svg
from vpp_sched.report.html import figure, info_table, num, package_version, page, table, warnings_box
from vpp_sched.studies.evaluate import OVERLOAD_TOLERANCE, EvaluateResult, findings, policy_stats
from vpp_sched.studies.evaluate_sites import site_cells, site_stats

COLOURS = {"uncontrolled": UNC, "day-ahead": "#8c8c8c", "replan": PLAN, "robust": "#2ca02c"}
BOX_PANELS = (("energy_cost_cny", "Energy cost of the day", "cost [CNY]"),
              ("overload_kwh", "Overload energy", "energy above the limit [kWh]"),
              ("unmet_kwh", "Unmet EV energy", "energy [kWh]"))


def box_figure(r: EvaluateResult) -> Figure:
    """One box plot per KPI, one box per policy (whiskers 5 %..95 % of the days)."""
    fig = new_figure((11, 3.6), left=0.9, right=0.3, top=0.6, bottom=0.9, wspace=0.45)
    axes = fig.subplots(1, len(BOX_PANELS))
    fig.suptitle(f"The day's KPIs over {r.n_days} sampled day(s)")
    for ax, (col, title, ylabel) in zip(axes, BOX_PANELS):
        data = [r.days.loc[r.days.policy == p, col].to_numpy(float) for p in r.policies]
        parts = ax.boxplot(data, whis=(5, 95), patch_artist=True, widths=0.6, showfliers=True,
                           flierprops={"markersize": 2.5})
        for patch, p in zip(parts["boxes"], r.policies):
            patch.set_facecolor(COLOURS.get(p, PLAN))
            patch.set_alpha(0.55)
        ax.set_xticks(range(1, len(r.policies) + 1), r.policies, rotation=20)
        ax.set_title(title)
        ax.set_ylabel(ylabel)
    return fig


def exceedance_figure(r: EvaluateResult) -> Figure:
    """Share of days whose highest transformer loading is at or above x, per policy."""
    fig = new_figure((11, 3.8), left=0.9, right=2.3, top=0.6, bottom=0.7)
    ax = fig.subplots()
    fig.suptitle("Exceedance: share of days with a transformer loaded at or above x")
    for p in r.policies:
        x = np.sort(r.days.loc[r.days.policy == p, "max_loading_pu"].to_numpy(float))[::-1]
        share = np.arange(1, len(x) + 1) / max(len(x), 1)
        ax.step(x, share, where="post", color=COLOURS.get(p, PLAN), lw=1.6, label=p)
    ax.axvline(1.0, color=LIMIT, lw=1.0, ls=(0, (5, 3)), label="1 pu (rated kVA × power factor)")
    ax.axhline(0.05, color=LIMIT, lw=0.8, ls=":", label="5 % of days")
    ax.set_xlabel("highest transformer loading of the day [pu]")
    ax.set_ylabel("share of days [-]")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def transformer_figure(r: EvaluateResult) -> Figure:
    """Per transformer and policy: share of days over the limit (bars), the 5 % target line."""
    t = r.transformers
    ids = list(dict.fromkeys(t.transformer_id))
    fig = new_figure((11, 3.6), left=0.9, right=2.3, top=0.6, bottom=0.9)
    ax = fig.subplots()
    fig.suptitle("Share of days each transformer passes its limit")
    width = 0.8 / max(len(r.policies), 1)
    x = np.arange(len(ids))
    for i, p in enumerate(r.policies):
        sub = t[t.policy == p].set_index("transformer_id").reindex(ids)
        ax.bar(x + (i - (len(r.policies) - 1) / 2) * width, sub.p_overload_day.to_numpy(float), width,
               color=COLOURS.get(p, PLAN), label=p)
    ax.axhline(0.05, color=LIMIT, lw=0.9, ls=(0, (5, 3)), label="5 % of days (target)")
    ax.set_xticks(x, ids, rotation=60, fontsize=7)
    ax.set_ylabel("share of days over the limit [-]")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def render_evaluate_report(r: EvaluateResult) -> str:
    """The evaluation as one self-contained HTML page (same result, same bytes)."""
    with matplotlib.rc_context(RC):
        figs = [("fig-eval-box", box_figure(r), "Boxes: quartiles and median; whiskers: 5 % and 95 % of the days."),
                ("fig-eval-exceed", exceedance_figure(r), "Read: the share of days (y) on which some transformer "
                 "is loaded at or above x pu."),
                ("fig-eval-trafo", transformer_figure(r), f"An overload: a slot {OVERLOAD_TOLERANCE:.0%} or more "
                 "above the usable limit (rated kVA × power factor × max loading).")]
        svgs = [figure(key, to_svg(fig, key), cap) for key, fig, cap in figs]
    stats = policy_stats(r)
    rows = [[escape(s.policy), num(s.energy_cost_cny_mean, 0), num(s.energy_cost_cny_p95, 0),
             f"{s.days_with_overload:.0%}", num(s.overload_kwh_mean), f"{s.transformers_held_95} of {s.transformers}",
             num(s.unmet_kwh_mean), num(s.evs_short_mean), num(s.replans_mean)] for s in stats.itertuples()]
    head = ["policy", "cost mean [CNY]", "cost p95 [CNY]", "days with an overload", "overload mean [kWh]",
            "transformers held on ≥ 95 % of days", "unmet mean [kWh]", "EVs short mean", "re-plans a day"]
    info = info_table([("Scenario", escape(r.scenario_name)), ("Days", f"{r.n_days:,} (seed {r.seed})"),
                       ("Policies", escape(", ".join(r.policies))),
                       ("Re-plans", f"every {r.replan_every} slot(s) and at DR notices")])
    found = "<ul>" + "".join(f"<li>{escape(f)}</li>" for f in findings(r, stats.set_index("policy"))) + "</ul>"
    sections = [("summary", "Summary", f"{info}\n{table(head, rows, text=(0,))}\n{found}\n{warnings_box(r.warnings)}"),
                ("distributions", "Distributions", "\n".join(svgs[:2])),
                ("transformers", "Transformers", svgs[2])]
    sites = site_stats(r.days, r.policies)   # the swap and fast-charging stations on the sampled days
    if len(sites):
        head_s, rows_s = site_cells(sites, lambda x, d: num(x, d))
        sections.append(("sites", "Swap and fast-charging stations",
                         "<p>Their own demand of each sampled day, played against the policy's set-points: swaps "
                         "served from packs full at the slot's start; fast-charging drivers under the cap the policy "
                         "leaves (Erlang-C wait at the day's arrival rate). Per day: days.csv.</p>\n"
                         + table([escape(h) for h in head_s], [[escape(c) for c in row] for row in rows_s], text=(0,))))
    footer = (f"vpp-sched {escape(package_version())} · tables of this evaluation: days.csv, transformers.csv"
              f"{', margins.csv' if r.margins is not None else ''}, summary.md · method: models/uncertainty.md")
    return page(f"Evaluation {r.scenario_name}", f"Evaluation on sampled days: {r.scenario_name}",
                f'<p class="sub">{r.n_days} day(s) drawn from the scenario\'s uncertainty model, each played slot '
                "by slot under each policy.</p>", sections, footer)
