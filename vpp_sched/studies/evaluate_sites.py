"""The swap and fast-charging stations in ``vpp-sched evaluate``'s ``summary.md`` and ``report.html``.

Per policy, over the sampled days, the site KPIs of ``days.csv`` (:data:`~vpp_sched.studies.actuals_sites.SWAP_DAY_COLUMNS`,
:data:`~vpp_sched.studies.actuals_sites.FAST_DAY_COLUMNS`; ``models/uncertainty.md``, "The sites on the day").
Nothing here for a scenario without sites.
"""

from __future__ import annotations

import pandas as pd

from vpp_sched.studies.actuals_sites import FAST_DAY_COLUMNS, SWAP_DAY_COLUMNS

#: (column of site_stats, heading with unit, digits)
SITE_STAT_COLUMNS = (("unserved_swaps_mean", "unserved swaps mean [-]", 2),
                     ("unserved_swaps_p95", "unserved swaps p95 [-]", 2),
                     ("days_with_unserved_swaps", "days with an unserved swap", None),
                     ("fast_unserved_kwh_mean", "fast-charging energy unserved mean [kWh]", 1),
                     ("fast_wait_min_mean", "fast-charging wait mean [min]", 1),
                     ("fast_slots_over_target_mean", "station-slots over the wait target mean", 1))


def site_stats(days: pd.DataFrame, policies) -> pd.DataFrame:
    """Per policy: mean (and for swaps the 95th percentile and the share of days with any) of the day's
    site KPIs; only the columns of the kinds of site the scenario has (empty without sites)."""
    has_swap = all(c in days.columns for c in SWAP_DAY_COLUMNS)
    has_fast = all(c in days.columns for c in FAST_DAY_COLUMNS)
    if not (has_swap or has_fast):
        return pd.DataFrame()
    rows = []
    for policy in policies:
        d = days[days.policy == policy]
        row = {"policy": policy}
        if has_swap:
            row.update(unserved_swaps_mean=d.unserved_swaps.mean(), unserved_swaps_p95=d.unserved_swaps.quantile(0.95),
                       days_with_unserved_swaps=(d.unserved_swaps > 1e-3).mean())
        if has_fast:
            row.update(fast_unserved_kwh_mean=d.fast_unserved_kwh.mean(), fast_wait_min_mean=d.fast_wait_min.mean(),
                       fast_slots_over_target_mean=d.fast_slots_over_target.mean())
        rows.append(row)
    return pd.DataFrame(rows)


def site_cells(stats: pd.DataFrame, fmt) -> tuple[list[str], list[list[str]]]:
    """Heading and rows of the sites' table; ``fmt(value, digits)`` formats a number (digits None: a share)."""
    cols = [c for c in SITE_STAT_COLUMNS if c[0] in stats.columns]
    head = ["policy"] + [h for _, h, _ in cols]
    rows = [[str(s["policy"])] + [f"{s[c]:.0%}" if digits is None else fmt(s[c], digits) for c, _, digits in cols]
            for _, s in stats.iterrows()]
    return head, rows


def site_summary_lines(days: pd.DataFrame, policies) -> list[str]:
    """``summary.md``'s section on the sites (no lines without sites)."""
    stats = site_stats(days, policies)
    if not len(stats):
        return []
    head, rows = site_cells(stats, lambda x, d: f"{x:,.{d}f}")
    return (["", "## Swap and fast-charging stations", "",
             "On each sampled day the stations' own demand (swaps asked, fast-charging arrivals) is drawn too and "
             "played against the policy's set-points: swaps served from packs full at the slot's start, fast-charging "
             "drivers under the cap the policy leaves (Erlang-C wait at the day's arrival rate). Per day in `days.csv` "
             "(`unserved_swaps`, `fast_unserved_kwh`, `fast_wait_min`, `fast_slots_over_target`); method: "
             "`models/uncertainty.md`, \"The sites on the day\".", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            + ["| " + " | ".join(r) + " |" for r in rows])
