"""Figures of the plan report (``report.html``) as inline SVG, and the matplotlib helpers of the studies.

The plan's figures are written directly as SVG by :mod:`vpp_sched.report.svgplot` (no matplotlib:
importing and drawing it cost ~2 s of every plan whatever its size). Text stays text (searchable in
the page), output is deterministic (no dates), and the ids inside each SVG are prefixed with the
figure's key so several figures can share one HTML page. The study reports (:mod:`vpp_sched.studies`)
still draw with matplotlib through :func:`new_figure` and :func:`to_svg` (imported when they run).

Time axes show **local time** of the scenario's zone (slots are tz-aware): ``HH:MM``, with the
date under the first tick of each day. Values are per slot and drawn as steps over the slot.
"""

from __future__ import annotations

import io
import re
from html import escape
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vpp_sched.report.svgdraw import render
from vpp_sched.report.svgplot import Axes, Plot, local_time_ticks

RC = {
    "svg.hashsalt": "vpp-sched-report", "svg.fonttype": "none", "font.family": "DejaVu Sans",
    "font.size": 9, "axes.titlesize": 10, "axes.titleweight": "bold", "axes.labelsize": 9,
    "legend.fontsize": 8, "legend.framealpha": 0.9, "xtick.labelsize": 8, "ytick.labelsize": 8,
    "axes.grid": True, "grid.alpha": 0.35, "grid.linewidth": 0.6, "axes.spines.top": False,
    "axes.spines.right": False, "figure.titlesize": 12, "figure.titleweight": "bold",
    "path.simplify": False,
}
SVG_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}

BASE, UNC, PLAN, LIMIT = "#b8b8b8", "#d62728", "#1f5fa8", "#222222"
PV, CHARGE, DISCHARGE, PRICE, EVENT = "#f0a500", "#2ca02c", "#8e44ad", "#8c564b", "#fff3c4"
DASHED, LIMIT_DASH = (4, 2.5), (5, 3)


@dataclass(frozen=True)
class Curves:
    """Per-transformer curves [N, T] of the plan and the uncontrolled reference, and the time axis."""

    slots: pd.DatetimeIndex
    tz: str
    dt_h: float
    price: np.ndarray          # [T] CNY/kWh
    ids: np.ndarray            # [N]
    limit_kw: np.ndarray       # [N]
    rating_kw: np.ndarray      # [N]
    base_kw: np.ndarray        # [N, T]
    plan_net_kw: np.ndarray    # [N, T]
    unc_net_kw: np.ndarray     # [N, T]
    plan_ev_kw: np.ndarray     # [N, T]
    unc_ev_kw: np.ndarray      # [N, T]

    @property
    def edges(self) -> np.ndarray:
        """[T+1] slot boundaries in hours from the first slot's start."""
        return np.arange(len(self.slots) + 1) * self.dt_h


# --- time axis --------------------------------------------------------------------------------
def time_label(slots: pd.DatetimeIndex, tz: str) -> str:
    """``local time (Asia/Shanghai, UTC+08:00)``; every offset of the horizon when it changes (DST)."""
    offsets = []
    for t in (slots[0], slots[-1]):
        z = t.tz_convert(tz).strftime("%z")
        z = f"UTC{z[:3]}:{z[3:]}"
        if z not in offsets:
            offsets.append(z)
    return f"local time ({tz}, {' / '.join(offsets)})"


def time_axis(ax: Axes, c: Curves, label: bool = True, max_ticks: int = 10) -> None:
    """Local-time ticks over the horizon (``HH:MM``, the date under each day's first tick)."""
    ax.xlim = (0.0, float(c.edges[-1]))
    ax.xticks = local_time_ticks(c.slots[0].tz_convert(c.tz).to_pydatetime(), c.dt_h, len(c.slots), max_ticks)
    if label:
        ax.xlabel = time_label(c.slots, c.tz)


# --- SVG --------------------------------------------------------------------------------------
_ID = re.compile(r'(\bid=")([^"]+)(")|(url\(#)([^)]+)(\))|((?:xlink:)?href="#)([^"]+)(")')


def to_svg(fig, key: str) -> str:
    """The figure (a :class:`~vpp_sched.report.svgplot.Plot`, or a matplotlib ``Figure`` of the
    studies) as an inline ``<svg>`` element; its ids are prefixed with ``key``."""
    if isinstance(fig, Plot):
        return render(fig, key)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata=SVG_METADATA)
    text = buf.getvalue()
    text = text[text.index("<svg"):]

    def prefix(m: re.Match) -> str:
        g = m.groups()
        for i in (0, 3, 6):
            if g[i] is not None:
                return f"{g[i]}{key}-{g[i + 1]}{g[i + 2]}"
        return m.group(0)

    text = _ID.sub(prefix, text)
    label = escape(fig.get_suptitle() or key, quote=True)
    return text.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1).strip()


_ID = re.compile(r'(\bid=")([^"]+)(")|(url\(#)([^)]+)(\))|((?:xlink:)?href="#)([^"]+)(")')


def new_figure(figsize, left=0.8, right=0.25, top=0.55, bottom=0.75, hspace=0.55, wspace=0.3):
    """A matplotlib figure (the studies' figures) of ``figsize`` (width, height) [inch] with fixed
    margins ``left`` .. ``bottom`` [inch] and subplot spacing ``hspace``, ``wspace`` (fractions of the
    axes, as matplotlib's): no layout engine, several times faster to draw."""
    from matplotlib.figure import Figure

    w, h = figsize
    fig = Figure(figsize=figsize)
    fig.subplots_adjust(left=left / w, right=1 - right / w, top=1 - top / h, bottom=bottom / h,
                        hspace=hspace, wspace=wspace)
    return fig


def thousands_axis(*axes) -> None:
    """Thousands separators on the y axis of each matplotlib axes of ``axes`` whose range reaches
    10,000: ``300,000`` rather than ``300000`` on large power axes (the SVG plots do this themselves)."""
    import matplotlib.ticker as mticker

    for ax in axes:
        if max(abs(v) for v in ax.get_ylim()) >= 10000:
            ax.yaxis.set_major_formatter(mticker.StrMethodFormatter("{x:,.0f}"))


# --- figures ----------------------------------------------------------------------------------
def portfolio_figure(c: Curves) -> Plot:
    """Summed net load, EV charging power (planned vs uncontrolled) and the tariff, one time axis."""
    fig = Plot(11, 7.6)
    ax1, ax2, ax3 = fig.grid(3, 1, left=0.8, right=2.75, top=0.6, bottom=0.75, hspace=0.42, wspace=0.3,
                             height_ratios=[3, 2, 1.4])
    n, e = len(c.ids), c.edges
    fig.suptitle = f"Portfolio of {n:,} transformer{'s' if n != 1 else ''}: planned vs uncontrolled charging"
    ax1.stairs(c.base_kw.sum(axis=0), e, baseline=0, fill=True, color=BASE, alpha=0.6, label="base load (forecast)")
    ax1.stairs(c.unc_net_kw.sum(axis=0), e, color=UNC, lw=1.4, dash=DASHED, label="net load, uncontrolled charging")
    ax1.stairs(c.plan_net_kw.sum(axis=0), e, color=PLAN, lw=1.8, label="net load, planned")
    ax1.title, ax1.ylabel, ax1.legend = "Net load, sum of all transformers", "power [kW]", "right"
    ax2.stairs(c.unc_ev_kw.sum(axis=0), e, color=UNC, lw=1.4, dash=DASHED, label="uncontrolled (full power on arrival)")
    ax2.stairs(c.plan_ev_kw.sum(axis=0), e, baseline=0, fill=True, color=PLAN, alpha=0.35)
    ax2.stairs(c.plan_ev_kw.sum(axis=0), e, color=PLAN, lw=1.4, label="planned")
    ax2.title, ax2.ylabel, ax2.legend = "EV charging power, all EVs", "power [kW]", "right"
    ax3.stairs(c.price, e, baseline=0, fill=True, color=PRICE, alpha=0.25)
    ax3.stairs(c.price, e, color=PRICE, lw=1.4, label="grid energy price")
    ax3.title, ax3.ylabel, ax3.legend = "Tariff", "price [CNY/kWh]", "right"
    ax3.ylim = (0.0, max(float(np.max(c.price)) * 1.25, 1e-6))
    for ax in (ax1, ax2):
        time_axis(ax, c, label=False)
        ax.x_tick_labels = False
    time_axis(ax3, c)
    return fig


def transformer_figure(c: Curves, order: list[int], ncols: int = 3) -> Plot:
    """Small multiples: base load, uncontrolled and planned net load against the limit, per transformer."""
    nrows = -(-len(order) // ncols)
    ncols = min(ncols, len(order))
    fig = Plot(11, 1.55 + 2.05 * nrows)
    axes = fig.grid(nrows, ncols, left=0.75, right=0.2, top=1.05, bottom=0.8, hspace=0.62, wspace=0.22)
    e = c.edges
    for i, n in enumerate(order):
        ax = axes[i]
        rating, limit = c.rating_kw[n], c.limit_kw[n]
        ax.stairs(c.base_kw[n], e, baseline=0, fill=True, color=BASE, alpha=0.6, label="base load")
        ax.stairs(c.unc_net_kw[n], e, color=UNC, lw=1.1, dash=DASHED, label="net load, uncontrolled")
        ax.stairs(c.plan_net_kw[n], e, color=PLAN, lw=1.5, label="net load, planned")
        ax.hline(limit, color=LIMIT, lw=1.0, dash=LIMIT_DASH, label="limit")
        over = c.unc_net_kw[n] > limit + 1e-4
        if over.any():
            ax.fill_steps(e, limit, np.maximum(c.unc_net_kw[n], limit), over, color=UNC, alpha=0.25,
                          label="overload, uncontrolled")
        if float(c.plan_net_kw[n].min()) < 0:
            ax.hline(-limit, color=LIMIT, lw=1.0, dash=LIMIT_DASH)
        unc_pu = float(np.abs(c.unc_net_kw[n]).max() / rating)
        plan_pu = float(np.abs(c.plan_net_kw[n]).max() / rating)
        ax.title = (f"{c.ids[n]} · limit {limit:,.0f} kW\n"
                    f"peak {unc_pu:.2f} pu uncontrolled → {plan_pu:.2f} pu planned")
        ax.title_size = 9
        ax.title_lines_color = UNC if unc_pu > limit / rating + 1e-6 else LIMIT
        top = max(float(c.unc_net_kw[n].max()), float(c.plan_net_kw[n].max()), limit)
        low = min(float(c.plan_net_kw[n].min()), float(c.unc_net_kw[n].min()))
        ax.ylim = (min(0.0, low * 1.1), top * 1.08)
        if i % ncols == 0:
            ax.ylabel = "power [kW]"
        last_row = i >= len(order) - ncols
        time_axis(ax, c, label=last_row, max_ticks=5)
        ax.x_tick_labels = last_row
    fig.axes = axes[:len(order)]
    entries = {}
    for ax in fig.axes:
        for a in ax.artists:
            if a.label:
                entries.setdefault(a.label, a)
    fig.top_legend, fig.top_legend_y = list(entries.items()), 0.55 * 100
    what = (f"The {len(order)} most loaded transformers" if len(order) < len(c.ids)
            else f"All {len(order)} transformer{'s' if len(order) != 1 else ''}")
    fig.suptitle = f"{what}: net load against the limit"
    return fig


def ev_figure(requested: np.ndarray, delivered: np.ndarray) -> Plot:
    """Histogram of energy requested vs delivered per EV, and of the share of the request delivered."""
    fig = Plot(11, 3.8)
    ax1, ax2 = fig.grid(1, 2, left=0.8, right=0.25, top=0.6, bottom=0.6, hspace=0.55, wspace=0.2)
    fig.suptitle = f"EV energy: requested vs delivered ({len(requested):,} EVs)"
    top = float(max(requested.max(initial=0.0), delivered.max(initial=0.0), 1.0))
    bins = np.linspace(0.0, top * 1.0001, 31)
    ax1.hist(requested, bins, color=BASE, alpha=0.8, label="requested")
    ax1.hist(delivered, bins, color=PLAN, step=True, lw=1.6, label="delivered (planned)")
    ax1.title, ax1.xlabel, ax1.ylabel = "Energy per EV", "energy per EV [kWh]", "number of EVs"
    ax1.xlim, ax1.y_integer, ax1.legend = (0.0, float(bins[-1])), True, "top-left"
    ax1.legend_at = (ax1.x + ax1.w - 150, ax1.y + 6)
    want = requested > 1e-9
    share = np.clip(100.0 * delivered[want] / requested[want], 0.0, 100.0)
    full = int((share >= 100.0 - 1e-4).sum())
    ax2.hist(np.minimum(share, 99.999), np.linspace(0.0, 100.0, 21), color=PLAN, alpha=0.75, label="EVs per 5 % bin")
    ax2.title, ax2.xlabel, ax2.ylabel = "Share of the request delivered", "delivered / requested [%]", "number of EVs"
    ax2.xlim, ax2.y_integer, ax2.legend = (0.0, 100.0), True, "top-left"
    ax2.text(0.03, 0.05, f"{full:,} of {int(want.sum()):,} EVs get all they asked for")
    ax2.legend_at = (ax2.x + 0.03 * ax2.w, ax2.y + 0.05 * ax2.h + 24)
    for ax in (ax1, ax2):
        lo, hi = ax.data_range()
        ax.ylim = (0.0, max(hi, 1.0))
    return fig


@dataclass(frozen=True)
class StationCurves:
    """One PV-storage-charging station's curves [T] (zeros where it has no PV or battery)."""

    station_id: str
    transformer: int           # index into Curves.ids
    pv_forecast_kw: np.ndarray
    pv_curtailed_kw: np.ndarray
    charge_kw: np.ndarray | None = None
    discharge_kw: np.ndarray | None = None
    soc_kwh: np.ndarray | None = None        # [T] at the end of each slot
    soc_initial_kwh: float = 0.0
    soc_min_kwh: float = 0.0
    soc_max_kwh: float = 0.0
    capacity_kwh: float = 0.0


def station_figure(c: Curves, s: StationCurves) -> Plot:
    """PV produced and curtailed, battery charge/discharge, the transformer's net load; SOC below."""
    battery = s.soc_kwh is not None
    fig = Plot(11, 6.0 if battery else 3.6)
    axes = fig.grid(2 if battery else 1, 1, left=0.8, right=2.7, top=0.6, bottom=0.75, hspace=0.45, wspace=0.3,
                    height_ratios=[3, 2] if battery else [1])
    n, e = s.transformer, c.edges
    fig.suptitle = f"Station {s.station_id} at transformer {c.ids[n]}: PV, battery and net load"
    ax = axes[0]
    used = s.pv_forecast_kw - s.pv_curtailed_kw
    if s.pv_forecast_kw.any():
        ax.stairs(used, e, baseline=0, fill=True, color=PV, alpha=0.45, label="PV used")
        ax.fill_steps(e, used, s.pv_forecast_kw, color=PV, hatch=True, label="PV curtailed")
        ax.stairs(s.pv_forecast_kw, e, color=PV, lw=1.2, label="PV forecast (available)")
    if battery:
        ax.stairs(s.charge_kw, e, baseline=0, fill=True, color=CHARGE, alpha=0.5, label="battery charging (+)")
        ax.stairs(-s.discharge_kw, e, baseline=0, fill=True, color=DISCHARGE, alpha=0.5,
                  label="battery discharging (−)")
    ax.stairs(c.plan_net_kw[n], e, color=PLAN, lw=1.5, label=f"{c.ids[n]} net load, planned")
    # The limit is drawn only when the curves come near it, so it does not squash them.
    limit = c.limit_kw[n]
    reach = max(float(np.abs(c.plan_net_kw[n]).max()), float(s.pv_forecast_kw.max(initial=0.0)))
    near = reach >= 0.45 * limit
    if near:
        ax.hline(limit, color=LIMIT, lw=1.0, dash=LIMIT_DASH, label=f"{c.ids[n]} limit ±{limit:,.0f} kW")
        if float(c.plan_net_kw[n].min()) < -0.3 * limit:
            ax.hline(-limit, color=LIMIT, lw=1.0, dash=LIMIT_DASH)
    ax.hline(0, color="#555555", lw=0.6)
    ax.title = ("Power (drawn from the grid is positive)"
                + ("" if near else f"; {c.ids[n]} limit ±{limit:,.0f} kW is off the scale"))
    ax.ylabel, ax.legend = "power [kW]", "right"
    time_axis(ax, c, label=not battery)
    ax.x_tick_labels = not battery
    if battery:
        ax = axes[1]
        cap = s.capacity_kwh
        ax.line(e, np.r_[s.soc_initial_kwh, s.soc_kwh], color=CHARGE, lw=1.6, label="state of charge (slot end)")
        ax.hline(s.soc_min_kwh, color=LIMIT, lw=0.9, dash=(1, 2), label="SOC min / max")
        ax.hline(s.soc_max_kwh, color=LIMIT, lw=0.9, dash=(1, 2))
        ax.ylim = (0.0, cap * 1.02 if cap > 0 else 1.0)
        ax.title = f"Battery state of charge (capacity {cap:,.0f} kWh)"
        ax.ylabel, ax.legend = "energy [kWh]", "right"
        ax.right_axis = ("SOC [%]", (lambda v: 100 * v / cap) if cap > 0 else (lambda v: v))
        time_axis(ax, c)
    return fig


def dr_figure(c: Curves, event_id: str, title: str, scope: np.ndarray, table: pd.DataFrame,
              cap_label: str = "cap (baseline − target)") -> Plot:
    """One DR event: the scope's baseline, cap, planned and uncontrolled net load; shortfall shaded."""
    fig = Plot(11, 3.8)
    (ax,) = fig.grid(1, 1, left=0.8, right=2.7, top=0.6, bottom=0.75, hspace=0.55, wspace=0.3)
    fig.suptitle = f"DR event {event_id}: {title}"
    idx = c.slots.get_indexer(table.slot_start)
    e = c.edges
    if len(idx):
        ax.vspan(e[idx.min()], e[idx.max() + 1], color=EVENT, alpha=0.9, label="event window")
    ax.stairs(c.unc_net_kw[scope].sum(axis=0), e, color=UNC, lw=1.1, dash=DASHED, label="net load, uncontrolled")
    net = c.plan_net_kw[scope].sum(axis=0)
    ax.stairs(net, e, color=PLAN, lw=1.6, label="net load, planned")
    full = np.full(len(c.slots), np.nan)
    base, cap, short = full.copy(), full.copy(), np.zeros(len(c.slots))
    base[idx], cap[idx], short[idx] = table.baseline_kw, table.cap_kw, table.shortfall_kw
    ax.stairs(base, e, color=LIMIT, lw=1.4, label="baseline")
    ax.stairs(cap, e, color=CHARGE, lw=1.4, dash=(5, 2), label=cap_label)
    if (short > 1e-4).any():
        ax.fill_steps(e, np.nan_to_num(cap), net, short > 1e-4, color=UNC, alpha=0.35, label="shortfall")
    m = int(scope.sum())
    ax.title = f"Net load of the event's scope ({m} transformer{'s' if m != 1 else ''})"
    ax.ylabel, ax.legend = "power [kW]", "right"
    time_axis(ax, c)
    return fig
