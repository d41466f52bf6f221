"""Figures of the study reports (``vpp-sched whatif`` and ``vpp-sched hosting``).

Drawn like the plan report's (:mod:`vpp_sched.report.figures`): bare matplotlib figures, no pyplot,
settings through ``rc_context(RC)``, deterministic inline SVG through ``to_svg``. The inputs are the
tidy tables :mod:`vpp_sched.studies.report` derives from the study's CSV tables; nothing here reads
a file or runs a study.

Policies keep the plan report's colours: uncontrolled charging red and dashed, orderly blue and
solid (its LP bound light blue). Where a study varies more than one input, each combination of
the others is a line of its own, told apart by marker and shade.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib as mpl
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from vpp_sched.report.figures import LIMIT, PLAN, UNC, new_figure, thousands_axis
from vpp_sched.studies.hosting_search import capped_flags

LP = "#7fa7d6"
POLICY_STYLE = {"uncontrolled": {"color": UNC, "ls": (0, (5, 2)), "cmap": "Reds"},
                "orderly": {"color": PLAN, "ls": "-", "cmap": "Blues"},
                "orderly_lp": {"color": LP, "ls": (0, (2, 1.5)), "cmap": "Blues"}}
POLICY_LABEL = {"uncontrolled": "uncontrolled", "orderly": "orderly",
                "orderly_lp": "orderly, LP relaxation (upper bound)"}
LEGEND_WIDTH = 44            # characters per line of a legend entry
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">", "p")


@dataclass(frozen=True)
class Panel:
    """One KPI panel of a sweep figure: the column drawn, the panel's title and the y label (with unit)."""

    column: str
    title: str
    ylabel: str
    ref: float | None = None          # a horizontal reference line
    ref_label: str = ""


def _style(policy: str, k: int, n: int) -> dict:
    """Colour, line style and marker of series ``k`` of ``n`` of a policy."""
    st = POLICY_STYLE.get(policy, {"color": "#555555", "ls": "-", "cmap": "Greys"})
    colour = st["color"] if n == 1 else mpl.colormaps[st["cmap"]](0.95 - 0.5 * k / max(n - 1, 1))
    return {"color": colour, "ls": st["ls"], "marker": MARKERS[k % len(MARKERS)]}


def _x_positions(x: pd.Series, order: Sequence) -> tuple[np.ndarray, list | None]:
    """Numbers for the x values: themselves when numeric, else their place in ``order`` (and tick labels)."""
    if pd.api.types.is_numeric_dtype(x):
        return x.to_numpy(float), None
    labels = [str(v) for v in order]
    return np.array([labels.index(str(v)) for v in x], dtype=float), labels


def _lines(ax, data: pd.DataFrame, column: str, series: list[str], policies: list[str], order: Sequence) -> None:
    for policy in policies:
        for k, name in enumerate(series):
            d = data[(data.policy == policy) & (data.series == name)]
            if not len(d):
                continue
            x, _ = _x_positions(d.x, order)
            ax.plot(x, d[column].to_numpy(float), lw=1.5, ms=4.5, **_style(policy, k, len(series)))


def _legend_handles(series: list[str], policies: list[str]) -> list[Line2D]:
    handles = []
    for policy in policies:
        for k, name in enumerate(series):
            label = "\n  ".join(textwrap.wrap(POLICY_LABEL.get(policy, policy) + (f", {name}" if name else ""),
                                              LEGEND_WIDTH, break_long_words=False))
            handles.append(Line2D([], [], lw=1.5, ms=4.5, label=label, **_style(policy, k, len(series))))
    return handles


def _x_axis(ax, data: pd.DataFrame, order: Sequence, label: str) -> None:
    _, ticks = _x_positions(data.x, order)
    if ticks is not None:
        ax.set_xticks(range(len(ticks)), ticks)
    elif len(order) <= 8:
        ax.set_xticks([float(v) for v in order])
    ax.set_xlabel(label)


def sweep_figure(data: pd.DataFrame, panels: Sequence[Panel], x_label: str, order: Sequence, title: str,
                 ncols: int = 3) -> Figure:
    """KPI panels against the varied input: one line per policy and combination of the other inputs.

    ``data`` has the columns ``x`` (the varied value), ``policy``, ``series`` (the label of the
    other inputs' values, "" when there are none) and each panel's column; ``order`` is the x
    values in study order. A failed run is a gap (NaN).
    """
    series = list(dict.fromkeys(data.series))
    policies = list(dict.fromkeys(data.policy))
    nrows = -(-(len(panels) + 1) // ncols)
    fig = new_figure((11, 0.9 + 2.75 * nrows), left=0.85, right=0.2, top=0.6, bottom=0.7, hspace=0.6, wspace=0.32)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    fig.suptitle(title)
    for ax, panel in zip(axes, panels):
        _lines(ax, data, panel.column, series, policies, order)
        if panel.ref is not None:
            ax.axhline(panel.ref, color=LIMIT, lw=0.9, ls=":")
        ax.set_title(panel.title)
        ax.set_ylabel(panel.ylabel)
        values = data[panel.column].to_numpy(float)
        if not np.isfinite(values).any() or np.nanmax(np.abs(values)) < 1e-9:
            ax.set_ylim(0, 1)                     # all zero (or every run failed)
        else:
            low, high = ax.get_ylim()
            ax.set_ylim(min(low, 0.0), high)
        thousands_axis(ax)
        _x_axis(ax, data, order, x_label)
    legend_ax = axes[len(panels)]
    legend_ax.axis("off")
    refs = [Line2D([], [], color=LIMIT, lw=0.9, ls=":", label="\n  ".join(textwrap.wrap(
        f"{p.title.lower()}: {p.ref_label}", LEGEND_WIDTH))) for p in panels if p.ref is not None]
    legend_ax.legend(handles=_legend_handles(series, policies) + refs, loc="center left", frameon=False,
                     title="policy, other inputs" if any(series) else "policy", fontsize=7.5, title_fontsize=8)
    for ax in axes[len(panels) + 1:]:
        ax.set_visible(False)
    return fig


def transformer_sweep_figure(data: pd.DataFrame, ids: Sequence[str], x_label: str, order: Sequence, title: str,
                             ncols: int = 3) -> Figure:
    """Small multiples, one per transformer: its peak net load against the varied input, with its limit.

    ``data`` has ``transformer_id``, ``x``, ``policy``, ``series``, ``peak_kw`` and ``limit_kw``.
    """
    series = list(dict.fromkeys(data.series))
    policies = list(dict.fromkeys(data.policy))
    handles = _legend_handles(series, policies) + [
        Line2D([], [], color=LIMIT, lw=0.9, ls=":", label="limit (rated kVA × power factor × max loading)")]
    ncols = min(ncols, len(ids))
    nrows = -(-len(ids) // ncols)
    lines = max(h.get_label().count("\n") + 1 for h in handles)        # per legend entry
    bottom = 0.8 + 0.15 * lines * -(-len(handles) // 2)
    fig = new_figure((11, 0.6 + bottom + 2.5 * nrows), left=0.85, right=0.2, top=0.6, bottom=bottom, hspace=0.62,
               wspace=0.3)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    fig.suptitle(title)
    for ax, tid in zip(axes, ids):
        d = data[data.transformer_id == tid]
        _lines(ax, d, "peak_kw", series, policies, order)
        limits = d.drop_duplicates(["series", "x"])
        for k, name in enumerate(series):
            lim = limits[limits.series == name]
            x, _ = _x_positions(lim.x, order)
            ax.plot(x, lim.limit_kw.to_numpy(float), color=LIMIT, lw=0.9, ls=":",
                    marker=MARKERS[k % len(MARKERS)] if len(series) > 1 else None, ms=3, mfc="none")
        ax.set_title(f"{tid}")
        ax.set_ylabel("peak net load [kW]")
        ax.set_ylim(0, max(ax.get_ylim()[1], 1e-6))
        thousands_axis(ax)
        _x_axis(ax, d, order, x_label)
    for ax in axes[len(ids):]:
        ax.set_visible(False)
    fig.legend(handles=handles, loc="lower center", ncols=2, frameon=False, fontsize=7.5)
    return fig


# --- hosting ------------------------------------------------------------------------------------
def capacity_figure(table: pd.DataFrame, policies: Sequence[str], cap: float) -> Figure:
    """Hosting capacity per transformer as a dot chart of EV multiples (one row per transformer).

    ``table`` rows (top to bottom) have ``label`` and, per policy, ``<policy>_multiple`` and
    ``<policy>_capped``; with orderly also ``lp_bound`` (the most the LP relaxation allows, as a
    multiple). Multiples at the search cap are drawn at ``cap`` as a right arrow.
    """
    n = len(table)
    fig = new_figure((11, 1.5 + 0.34 * max(n, 2)), left=2.6, right=2.7, top=0.55, bottom=0.7)
    ax = fig.subplots()
    fig.suptitle("Hosting capacity per transformer: uncontrolled vs orderly charging")
    y = np.arange(n)[::-1].astype(float)
    values = [table[f"{p}_multiple"].to_numpy(float) for p in policies]
    if "orderly" in policies and "lp_bound" in table:
        values.append(table.lp_bound.to_numpy(float))
    finite = np.concatenate([v[np.isfinite(v)] for v in values] + [np.array([1.0])])
    right = max(float(finite.max()) * 1.1, 1.3)
    ax.axvline(1.0, color=LIMIT, lw=1.0, ls=(0, (5, 3)), label="today's EVs (1×)", zorder=1)
    if "orderly" in policies and "lp_bound" in table:
        lo, hi = table.orderly_multiple.to_numpy(float), table.lp_bound.to_numpy(float)
        ok = np.isfinite(lo) & np.isfinite(hi)
        ax.hlines(y[ok], lo[ok], hi[ok], color=LP, lw=4, alpha=0.7, zorder=2,
                  label="orderly threshold lies in this range")
        ax.plot(hi[ok], y[ok], "|", color=PLAN, ms=11, mew=1.6, zorder=3,
                label="orderly at most (LP relaxation bound)")
    for policy, v in zip(policies, values):
        capped = capped_flags(table, policy)   # NA: no result, not capped
        colour = POLICY_STYLE[policy]["color"]
        shift = 0.12 if policy == "uncontrolled" else -0.12 if len(policies) > 1 else 0.0
        ax.plot(v[~capped], y[~capped] + shift, "o", color=colour, ms=6.5, zorder=4,
                label=f"{POLICY_LABEL[policy]}: largest multiple hosted")
        if capped.any():
            ax.plot(v[capped], y[capped] + shift, ">", color=colour, ms=7, zorder=4,
                    label=f"{POLICY_LABEL[policy]}: hosts the search cap {cap:g}× or more")
    ax.set_yticks(y, table.label.tolist())
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlim(0, right)
    ax.grid(axis="y", alpha=0.15)
    ax.set_xlabel("EV population [multiple of the transformer's EVs today]")
    ax.set_title("Largest multiple of today's EVs with no overload and no EV short of energy")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7.5)
    return fig


def bisection_figure(evals: pd.DataFrame, ids: Sequence[str], thresholds: pd.DataFrame) -> Figure:
    """Per transformer (a row): the highest loading and the unmet energy of every population the search
    judged, against the EV multiple; filled = hosted, open = not hosted; dotted: the thresholds.

    ``evals`` is ``bisection.csv``; ``thresholds`` has ``transformer_id``, ``policy``, ``multiple``.
    """
    policies = [p for p in ("uncontrolled", "orderly_lp", "orderly") if p in set(evals.policy)]
    n = len(ids)
    fig = new_figure((11, 1.2 + 2.25 * n), left=0.85, right=2.75, top=0.75, bottom=0.7, hspace=0.75, wspace=0.25)
    axes = np.atleast_2d(fig.subplots(n, 2, squeeze=False))
    fig.suptitle("Bisection: the EV populations judged near the thresholds, per transformer")
    for row, tid in zip(axes, ids):
        d = evals[evals.transformer_id == tid]
        th_all = thresholds[thresholds.transformer_id == tid].multiple.to_numpy(float)
        right = _zoom(d.multiple.to_numpy(float), th_all)
        seen = d[d.multiple <= right]
        for policy in policies:
            st = POLICY_STYLE[policy]
            e = d[d.policy == policy].sort_values("multiple")
            if not len(e):
                continue
            hosts = e.hosts.astype(bool).to_numpy()
            for ax, col in zip(row, ("max_loading_pu", "unmet_by_grid_kwh")):
                x, v = e.multiple.to_numpy(float), e[col].to_numpy(float)
                ax.plot(x, v, color=st["color"], ls=st["ls"], lw=1.0)
                ax.plot(x[hosts], v[hosts], "o", color=st["color"], ms=4.5)
                ax.plot(x[~hosts], v[~hosts], "o", mfc="white", mec=st["color"], ms=4.5)
            th = thresholds[(thresholds.transformer_id == tid) & (thresholds.policy == policy)].multiple
            if len(th) and np.isfinite(th.iat[0]):
                for ax in row:
                    ax.axvline(float(th.iat[0]), color=st["color"], lw=0.9, ls=":")
        limit = d.limit_pu.dropna()
        if len(limit):
            row[0].axhline(float(limit.iat[0]), color=LIMIT, lw=1.0, ls=(0, (5, 3)))
        row[0].set_title(f"{tid}: highest loading")
        row[0].set_ylabel("loading [pu]")
        row[1].set_title(f"{tid}: EV energy short by the grid (log scale above 1 kWh)")
        row[1].set_ylabel("unmet energy [kWh]")
        top = [max(float(np.nanmax(seen.max_loading_pu, initial=0.0)), float(np.nanmax(limit, initial=0.0))),
               float(np.nanmax(seen.unmet_by_grid_kwh, initial=0.0))]
        # Unmet energy spans a few kWh near the threshold to thousands above it: linear to 1 kWh, log above.
        row[1].set_yscale("symlog", linthresh=1.0)
        row[1].yaxis.set_major_formatter(mticker.StrMethodFormatter("{x:,.0f}"))
        row[1].yaxis.set_minor_locator(mticker.NullLocator())
        row[0].set_ylim(0, max(top[0] * 1.1, 0.1))
        row[1].set_ylim(0, max(top[1] * 1.5, 1.0))
        for ax in row:
            ax.set_xlim(0, right)
            ax.set_xlabel("EV population [multiple of today's EVs]")
    handles = [Line2D([], [], color=POLICY_STYLE[p]["color"], ls=POLICY_STYLE[p]["ls"], marker="o", ms=4.5,
                      label=POLICY_LABEL[p]) for p in policies]
    handles += [Line2D([], [], ls="none", marker="o", color="#555555", ms=4.5, label="hosts"),
                Line2D([], [], ls="none", marker="o", mfc="white", mec="#555555", ms=4.5, label="does not host"),
                Line2D([], [], color="#555555", lw=0.9, ls=":", label="threshold (largest multiple hosted)"),
                Line2D([], [], color=LIMIT, lw=1.0, ls=(0, (5, 3)), label="limit (max loading)")]
    fig.legend(handles=handles, loc="upper right", bbox_to_anchor=(0.995, 1 - 0.75 / fig.get_figheight()),
               fontsize=7.5)
    return fig


def _zoom(multiples: np.ndarray, thresholds: np.ndarray) -> float:
    """The right end of a bisection panel: 1.5 x the largest threshold (the search's far brackets, up to
    8x or more, would squash the populations near the thresholds), at most the largest multiple judged."""
    found = thresholds[np.isfinite(thresholds)]
    data = float(np.nanmax(multiples, initial=1.0))
    if not len(found) or found.max() <= 0:
        return data * 1.03
    return min(data, 1.5 * float(found.max())) * 1.03
