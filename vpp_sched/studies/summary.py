"""The ``summary.md`` of the studies (``vpp-sched whatif``, ``vpp-sched hosting``) and their findings.

The findings and the hosting method note are also the reports' (:mod:`vpp_sched.studies.report`),
so both read them from here; :mod:`vpp_sched.studies.output` writes the folders.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from vpp_sched.studies.hosting_grid import grid_summary_lines
from vpp_sched.studies.hosting_search import is_capped

if TYPE_CHECKING:
    from vpp_sched.studies.hosting import HostingResult
    from vpp_sched.studies.whatif import WhatIfResult


# --- what-if summary.md -----------------------------------------------------------------------
def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(v):
            return ""
        return f"{v:g}"
    return str(v)


def _case_label(row, keys: list[str]) -> str:
    return ", ".join(f"{k}={_fmt(row[k])}" for k in keys) or "base"


def whatif_summary(r: WhatIfResult) -> str:
    """``summary.md`` of a what-if study."""
    df, keys = r.cases, [v.key for v in r.varies]
    n_cases = df.case.nunique() if len(df) else 0
    lines = [f"# What-if study: {r.scenario_name}", "",
             f"{n_cases} case(s) x {len(r.policies)} polic{'y' if len(r.policies) == 1 else 'ies'} "
             f"({', '.join(r.policies)}), {r.wall_seconds:.1f} s on {r.executor} ({r.workers} worker(s)); "
             f"EV resampling seed {r.seed}.", ""]
    if keys:
        lines += ["Varied: " + "; ".join(f"`{v.key}` = {', '.join(_fmt(x) for x in v.values)}" for v in r.varies), ""]
    head = ["case", *keys, "policy", "status", "EVs", "max loading pu", "overloaded trafos", "overload h",
            "unmet kWh", "energy cost CNY", "PV self-use"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, row in df.iterrows():
        ok = row.status != "failed"
        cells = [str(row.case), *[_fmt(row[k]) for k in keys], row.policy, row.status]
        if ok:
            pv = row.pv_self_consumption
            cells += [str(int(row.n_evs)), f"{row.max_loading_pu:.2f}", str(int(row.overloaded_transformers)),
                      f"{row.overload_hours:.2f}", f"{row.unmet_energy_kwh:.1f}", f"{row.grid_energy_cost_cny:,.0f}",
                      f"{pv:.0%}" if pd.notna(pv) else "-"]
        else:
            cells += ["-"] * 7
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Overload hours are transformer-hours above the limit (rated_kva x power_factor x "
              "max_loading_pu); unmet kWh is energy EVs do not get by departure (under `uncontrolled` only "
              "what their stay physically cannot carry). Per-transformer peaks: `transformer_peaks.csv`.", "",
              "## Findings", ""]
    lines += whatif_findings(df, keys, r.policies)
    return "\n".join(lines) + "\n"


def whatif_findings(df: pd.DataFrame, keys: list[str], policies: list[str]) -> list[str]:
    """The findings of a what-if study, one Markdown bullet each."""
    out = []
    done = df[df.status != "failed"]
    for pol in policies:
        sub = done[done.policy == pol]
        if not len(sub):
            continue
        over = sub[sub.overload_hours > 0]
        if len(over):
            worst = over.sort_values("max_loading_pu", ascending=False).iloc[0]
            out.append(f"- **{pol}**: {len(over)} of {len(sub)} case(s) overload a transformer: "
                       f"{_list_cases(over)}. Worst: case {worst.case} ({_case_label(worst, keys)}), "
                       f"{worst.max_loading_pu:.2f} pu, {worst.overload_hours:.2f} transformer-hours above the limit.")
        else:
            out.append(f"- **{pol}**: no case overloads a transformer (highest loading "
                       f"{sub.max_loading_pu.max():.2f} pu).")
        short = sub[sub.unmet_by_grid_kwh > 0]
        if len(short):
            worst = short.sort_values("unmet_by_grid_kwh", ascending=False).iloc[0]
            out.append(f"- **{pol}**: EVs fall short of energy their stay allows in {len(short)} case(s): "
                       f"{_list_cases(short)}. Most: case {worst.case} ({_case_label(worst, keys)}), "
                       f"{worst.unmet_by_grid_kwh:.1f} kWh in {int(worst.evs_short_by_grid)} EV(s)."
                       + (" This is the planner's plan: near a transformer's capacity its rounding of charger "
                          "on/off can leave EVs short where a plan without shortfall exists (`vpp-sched hosting` "
                          "shows what a transformer can host)." if pol == "orderly" else ""))
        elif pol == "orderly":
            out.append(f"- **{pol}**: every EV gets its energy in every case (as far as its stay allows).")
        physical = sub[(sub.unmet_energy_kwh - sub.unmet_by_grid_kwh) > 1e-3]
        if len(physical):
            kwh = (physical.unmet_energy_kwh - physical.unmet_by_grid_kwh).max()
            out.append(f"- **{pol}**: some EVs cannot get their energy in their stay at all (up to {kwh:.1f} kWh "
                       "per case); no grid can help them.")
    failed = df[df.status == "failed"]
    if len(failed):
        out.append(f"- **failed**: {len(failed)} run(s): " + "; ".join(
            f"case {r.case} {r.policy}: {r.error}" for r in failed.itertuples()))
    return out or ["- nothing to report."]


def _list_cases(sub: pd.DataFrame, limit: int = 12) -> str:
    ids = [str(c) for c in sub.case]
    return ", ".join(ids[:limit]) + (f", ... ({len(ids)})" if len(ids) > limit else "")


# --- hosting summary.md ----------------------------------------------------------------------
def _mult(row, pol: str) -> str:
    m = row.get(f"{pol}_multiple")
    if m is None or (isinstance(m, float) and math.isnan(m)):
        return "-"
    capped = is_capped(row.get(f"{pol}_capped"))
    return f"{'>= ' if capped else ''}{m:.2f}x ({int(row[f'{pol}_evs'])} EVs)"


def hosting_method(r: HostingResult) -> str:
    """What hosting means and how it is searched, one Markdown paragraph."""
    return ("Hosting = no overload (net load within rated_kva x power_factor x max_loading_pu) and no EV short of "
            "energy its stay allows. The multiple scales each transformer's own EVs (nested, seeded resampling). "
            f"Bisection tolerance {r.tolerance:.0%}: every multiple up to the reported one hosts; the smallest "
            f"multiple shown not to host (`*_fail_multiple` in hosting.csv) is at most {r.tolerance:.0%} higher or "
            "one EV more. Each transformer is solved alone (no feeder limits, no DR events). "
            "Orderly = a plan exists (chargers off or between min and max power) with no overload and no EV "
            "short, shown by a least-laxity-first schedule or the feasibility MILP (`orderly_evs`); the LP "
            "relaxation (chargers modulating down to 0) hosts whatever a plan can, so the first population it "
            "shows not to host, minus one, is an upper bound (`orderly_upper_evs`, never below `orderly_evs`): "
            "the true threshold lies between the two. "
            "`planner_at_threshold` in hosting.csv says whether the day-ahead planner's own cost-optimal plan "
            "reaches the orderly threshold.")


def hosting_summary(r: HostingResult) -> str:
    """``summary.md`` of a hosting study."""
    df = r.table
    pols = r.policies
    lines = [f"# EV hosting capacity: {r.scenario_name}", "",
             f"{len(df)} transformer(s), policies {', '.join(pols)}, {r.wall_seconds:.1f} s on {r.executor} "
             f"({r.workers} worker(s)); EV resampling seed {r.seed}.", "", hosting_method(r), ""]
    head = ["transformer", "kVA", "EVs today", *[f"{p}" for p in pols]]
    if "orderly" in pols:
        head += ["orderly at most (LP)", "1 kVA more, CNY/day"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, row in df.iterrows():
        cells = [str(row.transformer_id), f"{row.rated_kva:g}", str(int(row.evs_today))]
        if row.status != "ok":
            cells += [row.status] * len(pols) + (["-", "-"] if "orderly" in pols else [])
        else:
            cells += [_mult(row, p) for p in pols]
            if "orderly" in pols:
                v = row.get("kva_value_cny_per_kva_day")
                up = row.get("orderly_upper_evs")
                cells += [f"<= {int(up)} EVs" if pd.notna(up) else "-", f"{v:.3f}" if pd.notna(v) else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    grid = grid_summary_lines(df, pols)          # transformers with an LV grid (studies/hosting_grid.py)
    lines += ["", *grid[:-1]] if grid else []
    lines += ["", "## Findings", "", *hosting_findings(df, pols), "",
              "Binding constraints and what fails just above each threshold: `*_binding` and `*_fails_with` "
              "in hosting.csv; every population the search judged: bisection.csv."]
    return "\n".join(lines) + "\n"


def hosting_findings(df: pd.DataFrame, pols: list[str]) -> list[str]:
    """The findings of a hosting study, one Markdown bullet each."""
    lines = []
    ok = df[df.status == "ok"]
    for pol in pols:
        col = f"{pol}_multiple"
        if col not in ok or not len(ok):
            continue
        below = ok[ok[col] < 1.0]
        if len(below):
            lines.append(f"- **{pol}**: {len(below)} transformer(s) cannot host today's EVs: "
                         + ", ".join(f"{r.transformer_id} ({r[col]:.2f}x)" for _, r in below.iterrows()) + ".")
        else:
            lines.append(f"- **{pol}**: every transformer hosts today's EVs; the tightest is "
                         f"{ok.loc[ok[col].idxmin(), 'transformer_id']} at {ok[col].min():.2f}x.")
    if {"uncontrolled", "orderly"} <= set(pols) and len(ok):
        gain = ok.orderly_evs / ok.uncontrolled_evs.where(ok.uncontrolled_evs > 0)
        if gain.notna().any():
            lines.append(f"- Orderly charging hosts {gain.median():.1f}x the EVs of uncontrolled charging "
                         f"(median over transformers; {gain.min():.1f}x to {gain.max():.1f}x).")
    if "orderly" in pols and len(ok) and ok.orderly_upper_evs.notna().any():
        width = (ok.orderly_upper_evs / ok.orderly_evs.where(ok.orderly_evs > 0) - 1).dropna()
        if len(width):
            lines.append(f"- The orderly thresholds are proven within {width.max():.1%} (largest gap between the "
                         "population a plan hosts and the most the LP relaxation allows; median "
                         f"{width.median():.1%}).")
        planner_short = ok[~ok.planner_at_threshold.fillna("").str.startswith("hosts")]
        if len(planner_short):
            lines.append(f"- The day-ahead planner's own cost-optimal plan leaves EVs short at the orderly threshold "
                         f"of {len(planner_short)} transformer(s) ({', '.join(planner_short.transformer_id)}): "
                         "see `planner_at_threshold`.")
    if "orderly" in pols and len(ok) and ok.kva_value_cny_per_kva_day.notna().any():
        top = ok.loc[ok.kva_value_cny_per_kva_day.idxmax()]
        lines.append(f"- One more kVA is worth most on {top.transformer_id} "
                     f"({top.kva_value_cny_per_kva_day:.3f} CNY per kVA per day at its orderly threshold).")
    for _, row in df[df.status != "ok"].iterrows():
        lines.append(f"- {row.transformer_id}: {row.status}: {row.error}")
    return lines
