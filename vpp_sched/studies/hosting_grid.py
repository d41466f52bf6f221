"""Hosting capacity with the LV grid: which limit fails first, and at how many EVs, uncontrolled and orderly.

For a transformer whose row names a grid, the nested populations of the transformer-only study
(:mod:`vpp_sched.studies.hosting`) are judged against the transformer, line, voltage and unbalance
limits (:mod:`~vpp_sched.studies.hosting_grid_judge`, where the added EVs' buses and phases are stated)
by the search of :mod:`~vpp_sched.studies.hosting_grid_search`.

Uncontrolled: up to 64x today's EVs, at most ``UNCONTROLLED_MAX_EVALUATIONS`` populations (each is one
all-slot power flow, milliseconds). Orderly: every population is a planner run with its grid
iterations, so the search is bounded twice: it ends at the first population the transformer-only LP
relaxation shows not to host (no plan hosts more under the transformer alone, so the transformer fails
from there on), and it judges at most ``max_plans`` populations (default ``ORDERLY_MAX_PLANS``); the
transformer fails in every population above the transformer-only orderly threshold (``orderly_evs``).
"""

from __future__ import annotations

from vpp_sched.scenario.config import SolverOptions
from vpp_sched.scenario.load import Scenario
from vpp_sched.studies.hosting_grid_judge import LIMITS, grid_population, judge_orderly, judge_uncontrolled, today_phases
from vpp_sched.studies.hosting_grid_search import NOT_IN_RANGE, LimitSearch, search_limits
from vpp_sched.studies.hosting_search import TOLERANCE

UNCONTROLLED_MAX_EVALUATIONS = 60
ORDERLY_MAX_PLANS = 16


def grid_searches(sc1: Scenario, transformer_id: str, policies, *, seed: int = 0, added_phase: str = "spread",
                  method: str = "lean", options: SolverOptions | None = None, tolerance: float = TOLERANCE,
                  orderly_evs: int | None = None, orderly_end_evs: int | None = None,
                  max_plans: int = ORDERLY_MAX_PLANS) -> dict[str, LimitSearch]:
    """``{policy: LimitSearch}`` of one transformer with a grid (``sc1`` restricted to it).

    ``orderly_evs``: the transformer-only orderly threshold (above it the transformer fails);
    ``orderly_end_evs``: the end of the orderly search range (the LP relaxation's first failure; ``None``:
    64x today's EVs).
    """
    n = len(sc1.evs)
    phases = today_phases(sc1)

    def pop(c: int) -> Scenario:
        return grid_population(sc1, transformer_id, c, seed=seed, added_phase=added_phase, phases=phases)

    out = {}
    if "uncontrolled" in policies:
        out["uncontrolled"] = search_limits(lambda c: judge_uncontrolled(pop(c)), n, "uncontrolled",
                                            tolerance=tolerance, max_evaluations=UNCONTROLLED_MAX_EVALUATIONS)
    if "orderly" in policies:
        def orderly(c: int):
            hosts = orderly_evs is None or c <= orderly_evs
            return judge_orderly(pop(c), method=method, options=options, transformer_hosts=hosts)

        out["orderly"] = search_limits(orderly, n, "orderly", tolerance=tolerance, max_evaluations=max_plans,
                                       cap_evs=orderly_end_evs)
    return out


def grid_columns(policies) -> list[str]:
    """hosting.csv's columns of the grid search (empty for a transformer without a grid)."""
    cols = ["grid", "added_phase"]
    for pol in policies:
        cols += [f"{pol}_grid_first_limit", f"{pol}_grid_first_fail_evs", f"{pol}_grid_evs",
                 *[f"{pol}_{lim}_fail_evs" for lim in LIMITS], f"{pol}_grid_limits", f"{pol}_grid_evaluations"]
    return cols


def limit_text(s: LimitSearch, lim: str) -> str:
    """One limit's result: ``voltage 120``, ``voltage 118..120 (plan budget spent)``, not within the search
    range, or held as far as the budget reached."""
    fail = s.fail_evs[lim]
    if fail is None and s.resolved[lim]:
        return f"{lim} {NOT_IN_RANGE} (up to {s.cap_evs} EVs)"
    if fail is None:
        return f"{lim} holds up to {s.pass_evs[lim]} EVs judged (plan budget spent before {s.cap_evs})"
    if s.resolved[lim]:
        return f"{lim} {fail}"
    lo = s.pass_evs[lim]
    return f"{lim} {'' if lo is None else lo + 1}..{fail} (plan budget spent)"


def grid_row(searches: dict[str, LimitSearch], grid_name: str, added_phase: str) -> dict:
    """The grid columns of one transformer's hosting.csv row (:func:`grid_columns`)."""
    row = {"grid": grid_name.rstrip("/"), "added_phase": added_phase}
    for pol, s in searches.items():
        row.update({f"{pol}_grid_first_limit": s.first_limit, f"{pol}_grid_first_fail_evs": s.first_fail_evs,
                    f"{pol}_grid_evs": s.hosted_evs(), f"{pol}_grid_evaluations": s.evaluations,
                    f"{pol}_grid_limits": "; ".join(limit_text(s, lim) for lim in LIMITS)})
        row.update({f"{pol}_{lim}_fail_evs": s.fail_evs[lim] for lim in LIMITS})
    return row


LIMIT_COLUMNS = ["transformer_id", "policy", "limit", "fail_evs", "holds_evs", "resolved", "first", "search_end_evs"]


def limit_rows(transformer_id: str, searches: dict[str, LimitSearch]) -> list[dict]:
    """Rows of ``grid_limits.csv``: per policy and limit, the smallest count judged failing (empty: not
    within the search range), the largest judged holding below it, and whether the two are within the
    tolerance; ``first`` marks the limit(s) failing first."""
    return [{"transformer_id": transformer_id, "policy": pol, "limit": lim, "fail_evs": s.fail_evs[lim],
             "holds_evs": s.pass_evs[lim], "resolved": s.resolved[lim], "first": lim in s.first_limits,
             "search_end_evs": s.cap_evs}
            for pol, s in searches.items() for lim in LIMITS]


LEVEL_COLUMNS = ["transformer_id", "policy", "n_evs", "failed", "lowest_vm_pu", "lowest_phase_vm_pu",
                 "highest_line_loading_pct", "worst_unbalance_pct", "overload_kwh", "unmet_by_grid_kwh", "note"]


def level_rows(transformer_id: str, searches: dict[str, LimitSearch]) -> list[dict]:
    """Rows of ``grid_levels.csv``: every population the grid search judged and what failed there."""
    return [{"transformer_id": transformer_id, "policy": pol, "n_evs": j.n_evs,
             "failed": "+".join(lim for lim in LIMITS if lim in j.failed),
             **{k: j.worst.get(k, float("nan")) for k in LEVEL_COLUMNS[4:10]}, "note": j.note}
            for pol, s in searches.items() for j in s.judged]


def grid_summary_lines(table, policies) -> list[str]:
    """summary.md's section on the grid search (nothing when no transformer names a grid)."""
    if "grid" not in table.columns:
        return []
    rows = table[(table.status == "ok") & table.grid.notna() & (table.grid != "")]
    if not len(rows):
        return []
    head = ["transformer", "grid", "policy", "first limit to fail", "at EVs", "hosted within all", *LIMITS]
    lines = ["## Limits of the LV grid", "",
             "Per transformer with a grid: the EV count at which each limit first fails (transformer, line, voltage "
             "band, current unbalance), uncontrolled and orderly (the planner's plan with its grid rows, judged by "
             "the AC power flow); added EVs placed by the grid's seeded rule, phase rule "
             f"`{rows.added_phase.iat[0]}` (studies/hosting_grid_judge.py). Per limit: grid_limits.csv; every "
             "population judged: grid_levels.csv.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows.itertuples():
        for pol in policies:
            at = getattr(r, f"{pol}_grid_first_fail_evs")
            cells = [str(r.transformer_id), str(r.grid), pol, str(getattr(r, f"{pol}_grid_first_limit")),
                     "-" if at is None or at != at else str(int(at)), str(int(getattr(r, f"{pol}_grid_evs")))]
            cells += ["-" if v is None or v != v else str(int(v)) for v in
                      (getattr(r, f"{pol}_{lim}_fail_evs") for lim in LIMITS)]
            lines.append("| " + " | ".join(cells) + " |")
    return lines + ["", "`-`: not within the search range (uncontrolled: 64x today's EVs; orderly: up to the "
                    "population the LP relaxation shows the transformer alone cannot host).", ""]


GRID_REPORT_HEAD = ("transformer", "grid", "policy", "first limit to fail", "at EVs", "hosted within all limits",
                    "each limit (EVs at which it fails)")


def grid_report_rows(table, policies) -> list[list[str]]:
    """The report's rows of the grid search (plain text; one per transformer with a grid and policy)."""
    if "grid" not in table.columns:
        return []
    rows = table[(table.status == "ok") & table.grid.notna() & (table.grid != "")]
    out = []
    for r in rows.itertuples():
        for pol in policies:
            at = getattr(r, f"{pol}_grid_first_fail_evs")
            out.append([str(r.transformer_id), str(r.grid), pol, str(getattr(r, f"{pol}_grid_first_limit")),
                        "–" if at is None or at != at else f"{int(at):,}", f"{int(getattr(r, f'{pol}_grid_evs')):,}",
                        str(getattr(r, f"{pol}_grid_limits"))])
    return out
