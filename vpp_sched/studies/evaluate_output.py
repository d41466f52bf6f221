"""The ``vpp-sched evaluate`` folder: ``days.csv``, ``transformers.csv``, ``margins.csv``, ``summary.md``,
``report.html``, written atomically (:func:`vpp_sched.plan.output.atomic_folder`).

Nothing written depends on the machine or the executor: timings are printed by the command only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vpp_sched.plan.output import atomic_folder, target_path
from vpp_sched.problem.margins import Margins
from vpp_sched.studies.evaluate import OVERLOAD_TOLERANCE, EvaluateResult, findings, policy_stats
from vpp_sched.studies.evaluate_sites import site_summary_lines
from vpp_sched.studies.output import REPORT_FILE, write_csv


def margins_table(margins: Margins, slots: pd.DatetimeIndex, transformer_ids: list[str],
                  limit_kw: np.ndarray | None = None, used_kw: np.ndarray | None = None) -> pd.DataFrame:
    """``margins.csv``: per slot and transformer the margin kept below the limit [kW] and its multiplier
    (margin / spread of the uncontrolled extra load) [-]; with ``limit_kw`` [N] the planned limit, with
    ``used_kw`` [N, T] the margin the plan used [kW]."""
    N, T = margins.margin_kw.shape
    out = pd.DataFrame({"slot_start": np.tile([s.isoformat() for s in slots], N),
                        "transformer_id": np.repeat(transformer_ids, T),
                        "margin_kw": margins.margin_kw.ravel(), "spread_kw": margins.spread_kw.ravel(),
                        "multiplier": np.repeat(margins.multiplier, T)})
    if limit_kw is not None:
        out["planned_limit_kw"] = (np.asarray(limit_kw, float)[:, None] - margins.margin_kw).ravel()
    if used_kw is not None:
        out["margin_used_kw"] = np.asarray(used_kw, float).ravel()
    return out


def evaluate_summary(r: EvaluateResult) -> str:
    """``summary.md``: the setting, one line per policy and the targets."""
    stats = policy_stats(r).set_index("policy")
    lines = [f"# Evaluation of {r.scenario_name} on {r.n_days} sampled day(s)", "",
             f"Seed {r.seed}; days 0..{r.n_days - 1} of the scenario's `uncertainty:` model; re-plans every "
             f"{r.replan_every} slot(s) and at DR notices (policies `replan`, `robust`, both under the slot "
             "controller). An overload is a slot whose "
             f"metered load passes the usable limit by more than {OVERLOAD_TOLERANCE:.0%}. Method: "
             "`models/uncertainty.md`.", "",
             "| policy | energy cost mean [CNY] | p5..p95 [CNY] | days with an overload | overload mean [kWh] "
             "| transformers held on >= 95 % of days | unmet mean [kWh] | EVs short mean | re-plans a day |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s in stats.reset_index().itertuples():
        policy = s.policy
        lines.append(f"| {policy} | {s.energy_cost_cny_mean:,.0f} | {s.energy_cost_cny_p5:,.0f}..{s.energy_cost_cny_p95:,.0f} "
                     f"| {s.days_with_overload:.0%} | {s.overload_kwh_mean:,.1f} | {s.transformers_held_95} of "
                     f"{s.transformers} | {s.unmet_kwh_mean:,.1f} | {s.evs_short_mean:.1f} | {s.replans_mean:.1f} |")
    lines += ["", "## Findings", ""] + [f"- {f}" for f in findings(r, stats)]
    lines += site_summary_lines(r.days, r.policies)   # the swap and fast-charging stations (none without)
    if r.margins is not None:
        m = r.margins
        lines += ["", f"Robust margins: chance constraint with epsilon {m.epsilon:g} from {m.scenarios} sampled days "
                  f"(seed {m.seed}, days from 1,000,000 on, never evaluated here); largest margin "
                  f"{m.margin_kw.max():,.1f} kW (`margins.csv`)."]
    if r.warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in r.warnings]
    return "\n".join(lines) + "\n"


def write_evaluate(r: EvaluateResult, out_dir, report: bool = True, limit_kw: np.ndarray | None = None,
                   inputs=(), force: bool = False) -> Path:
    """Write the evaluation folder (``out_dir`` a path or an open :class:`~vpp_sched.outfolder.OutFolder`)."""
    with atomic_folder(out_dir, "evaluate", inputs, force) as tmp:
        write_csv(r.days, tmp / "days.csv")
        write_csv(r.transformers, tmp / "transformers.csv")
        if r.margins is not None:
            write_csv(margins_table(r.margins, r.slots, r.transformer_ids, limit_kw), tmp / "margins.csv")
        (tmp / "summary.md").write_text(evaluate_summary(r), encoding="utf-8")
        if report:
            from vpp_sched.studies.evaluate_report import render_evaluate_report  # matplotlib: only for a report

            (tmp / REPORT_FILE).write_text(render_evaluate_report(r), encoding="utf-8", newline="\n")
    return target_path(out_dir)
