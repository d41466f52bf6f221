"""Figures of the plan report (``report.html``): matplotlib to inline SVG text.

No pyplot: every figure is a bare :class:`matplotlib.figure.Figure` drawn by matplotlib's
non-interactive SVG canvas (like Agg, it needs no display), so no GUI backend is ever chosen and no
global state is touched (settings apply through ``rc_context(RC)``). Output is deterministic:
fixed ``svg.hashsalt``, no metadata (no date), and the ids inside each SVG are prefixed so several
figures can share one HTML page. Text stays text (``svg.fonttype: none``): searchable in the page.

Time axes show **local time** of the scenario's zone (slots are tz-aware): ``HH:MM``, with the
date under the first tick of each day. Values are per slot and drawn as steps over the slot.
"""

from __future__ import annotations

import io
import re
from html import escape
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import matplotlib.dates as mdates
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

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
        """[T+1] slot boundaries as matplotlib date numbers (UTC based)."""
        start = self.slots.tz_convert("UTC").tz_localize(None)
        end = start[-1:] + pd.Timedelta(hours=self.dt_h)
        return mdates.date2num(np.concatenate([start.to_numpy(), end.to_numpy()]))


# --- time axis --------------------------------------------------------------------------------
class LocalTimeFormatter(mticker.Formatter):
    """``HH:MM`` in the scenario's zone; the date is added under the first tick of each day."""

    def __init__(self, tz: str):
        self.tz = ZoneInfo(tz)

    def __call__(self, x, pos=None) -> str:
        return mdates.num2date(x, tz=self.tz).strftime("%Y-%m-%d %H:%M")

    def format_ticks(self, values) -> list[str]:
        out, last = [], None
        for v in values:
            t = mdates.num2date(v, tz=self.tz)
            out.append(t.strftime("%H:%M") + ("\n" + t.strftime("%Y-%m-%d") if t.date() != last else ""))
            last = t.date()
        return out


def time_label(slots: pd.DatetimeIndex, tz: str) -> str:
    """``local time (Asia/Shanghai, UTC+08:00)``; every offset of the horizon when it changes (DST)."""
    offsets = []
    for t in (slots[0], slots[-1]):
        z = t.tz_convert(tz).strftime("%z")
        z = f"UTC{z[:3]}:{z[3:]}"
        if z not in offsets:
            offsets.append(z)
    return f"local time ({tz}, {' / '.join(offsets)})"


def time_axis(ax, c: Curves, label: bool = True, max_ticks: int = 10) -> None:
    hours = len(c.slots) * c.dt_h
    step = next((s for s in (1, 2, 3, 4, 6, 12) if hours / s <= max_ticks), 24)
    tz = ZoneInfo(c.tz)
    locator = (mdates.HourLocator(byhour=range(0, 24, step), tz=tz) if step < 24
               else mdates.DayLocator(interval=max(1, int(hours // 240)), tz=tz))
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(LocalTimeFormatter(c.tz))
    edges = c.edges
    ax.set_xlim(edges[0], edges[-1])
    if label:
        ax.set_xlabel(time_label(c.slots, c.tz))


def stairs(ax, c: Curves, values, **kw):
    """Slot values as steps over [slot start, slot end)."""
    return ax.stairs(np.asarray(values, dtype=float), c.edges, baseline=kw.pop("baseline", None), **kw)


# --- SVG --------------------------------------------------------------------------------------
_ID = re.compile(r'(\bid=")([^"]+)(")|(url\(#)([^)]+)(\))|((?:xlink:)?href="#)([^"]+)(")')


def to_svg(fig: Figure, key: str) -> str:
    """The figure as an inline ``<svg>`` element; its ids are prefixed with ``key``."""
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


def new_figure(figsize, left=0.8, right=0.25, top=0.55, bottom=0.75, hspace=0.55, wspace=0.3) -> Figure:
    """A figure of ``figsize`` (width, height) [inch] with fixed margins ``left`` .. ``bottom`` [inch]
    and subplot spacing ``hspace``, ``wspace`` (fractions of the axes, as matplotlib's): no layout
    engine, several times faster to draw. The plan's and the studies' figures all start here."""
    w, h = figsize
    fig = Figure(figsize=figsize)
    fig.subplots_adjust(left=left / w, right=1 - right / w, top=1 - top / h, bottom=bottom / h,
                        hspace=hspace, wspace=wspace)
    return fig


def thousands_axis(*axes) -> None:
    """Thousands separators on the y axis of each of ``axes`` whose range reaches 10,000:
    ``300,000`` rather than ``300000`` on large power axes."""
    for ax in axes:
        if max(abs(v) for v in ax.get_ylim()) >= 10000:
            ax.yaxis.set_major_formatter(mticker.StrMethodFormatter("{x:,.0f}"))


def _legend(ax, **kw):
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, **kw)


# --- figures ----------------------------------------------------------------------------------
def portfolio_figure(c: Curves) -> Figure:
    """Summed net load, EV charging power (planned vs uncontrolled) and the tariff, one time axis."""
    fig = new_figure((11, 7.6), right=2.75, top=0.6, hspace=0.42)
    ax1, ax2, ax3 = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2, 1.4]})
    n = len(c.ids)
    fig.suptitle(f"Portfolio of {n:,} transformer{'s' if n != 1 else ''}: planned vs uncontrolled charging")
    stairs(ax1, c, c.base_kw.sum(axis=0), baseline=0, fill=True, color=BASE, alpha=0.6,
           label="base load (forecast)")
    stairs(ax1, c, c.unc_net_kw.sum(axis=0), color=UNC, lw=1.4, ls="--", label="net load, uncontrolled charging")
    stairs(ax1, c, c.plan_net_kw.sum(axis=0), color=PLAN, lw=1.8, label="net load, planned")
    ax1.set_title("Net load, sum of all transformers")
    ax1.set_ylabel("power [kW]")
    _legend(ax1, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    stairs(ax2, c, c.unc_ev_kw.sum(axis=0), color=UNC, lw=1.4, ls="--", label="uncontrolled (full power on arrival)")
    stairs(ax2, c, c.plan_ev_kw.sum(axis=0), baseline=0, fill=True, color=PLAN, alpha=0.35)
    stairs(ax2, c, c.plan_ev_kw.sum(axis=0), color=PLAN, lw=1.4, label="planned")
    ax2.set_title("EV charging power, all EVs")
    ax2.set_ylabel("power [kW]")
    _legend(ax2, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    stairs(ax3, c, c.price, baseline=0, fill=True, color=PRICE, alpha=0.25)
    stairs(ax3, c, c.price, color=PRICE, lw=1.4, label="grid energy price")
    ax3.set_title("Tariff")
    ax3.set_ylabel("price [CNY/kWh]")
    ax3.set_ylim(0, max(float(np.max(c.price)) * 1.25, 1e-6))
    _legend(ax3, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    thousands_axis(ax1, ax2)
    time_axis(ax3, c)
    return fig


def transformer_figure(c: Curves, order: list[int], ncols: int = 3) -> Figure:
    """Small multiples: base load, uncontrolled and planned net load against the limit, per transformer."""
    nrows = -(-len(order) // ncols)
    ncols = min(ncols, len(order))
    fig = new_figure((11, 1.55 + 2.05 * nrows), left=0.75, right=0.2, top=1.05, bottom=0.8, hspace=0.62, wspace=0.22)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        if i >= len(order):
            ax.set_visible(False)
            continue
        n = order[i]
        rating = c.rating_kw[n]
        stairs(ax, c, c.base_kw[n], baseline=0, fill=True, color=BASE, alpha=0.6, label="base load")
        stairs(ax, c, c.unc_net_kw[n], color=UNC, lw=1.1, ls="--", label="net load, uncontrolled")
        stairs(ax, c, c.plan_net_kw[n], color=PLAN, lw=1.5, label="net load, planned")
        ax.axhline(c.limit_kw[n], color=LIMIT, lw=1.0, ls=(0, (5, 3)), label="limit")
        over = c.unc_net_kw[n] > c.limit_kw[n] + 1e-4
        if over.any():
            ax.fill_between(c.edges[:-1], c.limit_kw[n], np.maximum(c.unc_net_kw[n], c.limit_kw[n]),
                            where=over, step="post", color=UNC, alpha=0.25, lw=0, label="overload, uncontrolled")
        if float(c.plan_net_kw[n].min()) < 0:
            ax.axhline(-c.limit_kw[n], color=LIMIT, lw=1.0, ls=(0, (5, 3)))
        unc_pu = float(np.abs(c.unc_net_kw[n]).max() / rating)
        plan_pu = float(np.abs(c.plan_net_kw[n]).max() / rating)
        ax.set_title(f"{c.ids[n]} · limit {c.limit_kw[n]:,.0f} kW\n"
                     f"peak {unc_pu:.2f} pu uncontrolled → {plan_pu:.2f} pu planned",
                     fontsize=9, color=UNC if unc_pu > c.limit_kw[n] / rating + 1e-6 else LIMIT)
        top = max(float(c.unc_net_kw[n].max()), float(c.plan_net_kw[n].max()), c.limit_kw[n])
        low = min(float(c.plan_net_kw[n].min()), float(c.unc_net_kw[n].min()))
        ax.set_ylim(min(0.0, low * 1.1), top * 1.08)
        if i % ncols == 0:
            ax.set_ylabel("power [kW]")
        thousands_axis(ax)
        last_row = i >= len(order) - ncols
        time_axis(ax, c, label=last_row, max_ticks=5)
        ax.tick_params(axis="x", labelbottom=last_row)
    handles, labels = {}, {}
    for ax in axes[:len(order)]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles.keys()), loc="upper center", ncols=5,
               bbox_to_anchor=(0.5, 1 - 0.42 / fig.get_figheight()), frameon=False)
    what = (f"The {len(order)} most loaded transformers" if len(order) < len(c.ids)
            else f"All {len(order)} transformer{'s' if len(order) != 1 else ''}")
    fig.suptitle(f"{what}: net load against the limit",
                 y=1 - 0.1 / fig.get_figheight(), va="top")
    return fig


def ev_figure(requested: np.ndarray, delivered: np.ndarray) -> Figure:
    """Histogram of energy requested vs delivered per EV, and of the share of the request delivered."""
    fig = new_figure((11, 3.8), top=0.6, bottom=0.6, wspace=0.2)
    ax1, ax2 = fig.subplots(1, 2)
    fig.suptitle(f"EV energy: requested vs delivered ({len(requested):,} EVs)")
    top = float(max(requested.max(initial=0.0), delivered.max(initial=0.0), 1.0))
    bins = np.linspace(0.0, top * 1.0001, 31)
    ax1.hist(requested, bins=bins, color=BASE, alpha=0.8, label="requested")
    ax1.hist(delivered, bins=bins, histtype="step", color=PLAN, lw=1.6, label="delivered (planned)")
    ax1.set_title("Energy per EV")
    ax1.set_xlabel("energy per EV [kWh]")
    ax1.set_ylabel("number of EVs")
    ax1.yaxis.set_major_locator(mticker.MaxNLocator(integer=True))
    _legend(ax1, loc="best")
    want = requested > 1e-9
    share = np.clip(100.0 * delivered[want] / requested[want], 0.0, 100.0)
    full = int((share >= 100.0 - 1e-4).sum())
    ax2.hist(np.minimum(share, 99.999), bins=np.linspace(0.0, 100.0, 21), color=PLAN, alpha=0.75,
             label="EVs per 5 % bin")
    ax2.set_title("Share of the request delivered")
    ax2.set_xlabel("delivered / requested [%]")
    ax2.set_ylabel("number of EVs")
    ax2.yaxis.set_major_locator(mticker.MaxNLocator(integer=True))
    ax2.set_xlim(0, 100)
    ax2.text(0.03, 0.93, f"{full:,} of {int(want.sum()):,} EVs get all they asked for",
             transform=ax2.transAxes, va="top", fontsize=9,
             bbox={"boxstyle": "round", "fc": "white", "ec": "#cccccc"})
    _legend(ax2, loc="upper left", bbox_to_anchor=(0.0, 0.84))
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


def station_figure(c: Curves, s: StationCurves) -> Figure:
    """PV produced and curtailed, battery charge/discharge, the transformer's net load; SOC below."""
    battery = s.soc_kwh is not None
    fig = new_figure((11, 6.0 if battery else 3.6), right=2.7, top=0.6, hspace=0.45)
    axes = fig.subplots(2 if battery else 1, 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": [3, 2] if battery else [1]}).ravel()
    n = s.transformer
    fig.suptitle(f"Station {s.station_id} at transformer {c.ids[n]}: PV, battery and net load")
    ax = axes[0]
    used = s.pv_forecast_kw - s.pv_curtailed_kw
    if s.pv_forecast_kw.any():
        stairs(ax, c, used, baseline=0, fill=True, color=PV, alpha=0.45, label="PV used")
        ax.fill_between(c.edges[:-1], used, s.pv_forecast_kw, step="post", facecolor="none", edgecolor=PV,
                        hatch="////", lw=0, label="PV curtailed")
        stairs(ax, c, s.pv_forecast_kw, color=PV, lw=1.2, label="PV forecast (available)")
    if battery:
        stairs(ax, c, s.charge_kw, baseline=0, fill=True, color=CHARGE, alpha=0.5, label="battery charging (+)")
        stairs(ax, c, -s.discharge_kw, baseline=0, fill=True, color=DISCHARGE, alpha=0.5,
               label="battery discharging (−)")
    stairs(ax, c, c.plan_net_kw[n], color=PLAN, lw=1.5, label=f"{c.ids[n]} net load, planned")
    # The limit is drawn only when the curves come near it, so it does not squash them.
    limit = c.limit_kw[n]
    reach = max(float(np.abs(c.plan_net_kw[n]).max()), float(s.pv_forecast_kw.max(initial=0.0)))
    near = reach >= 0.45 * limit
    if near:
        ax.axhline(limit, color=LIMIT, lw=1.0, ls=(0, (5, 3)), label=f"{c.ids[n]} limit ±{limit:,.0f} kW")
        if float(c.plan_net_kw[n].min()) < -0.3 * limit:
            ax.axhline(-limit, color=LIMIT, lw=1.0, ls=(0, (5, 3)))
    ax.axhline(0, color="#555555", lw=0.6, zorder=0.5)
    ax.set_title("Power (drawn from the grid is positive)"
                 + ("" if near else f"; {c.ids[n]} limit ±{limit:,.0f} kW is off the scale"))
    ax.set_ylabel("power [kW]")
    thousands_axis(ax)
    _legend(ax, loc="center left", bbox_to_anchor=(1.01, 0.5))
    time_axis(ax, c, label=not battery)
    if battery:
        ax = axes[1]
        x = c.edges
        ax.plot(x, np.r_[s.soc_initial_kwh, s.soc_kwh], color=CHARGE, lw=1.6, label="state of charge (slot end)")
        ax.axhline(s.soc_min_kwh, color=LIMIT, lw=0.9, ls=":", label="SOC min / max")
        ax.axhline(s.soc_max_kwh, color=LIMIT, lw=0.9, ls=":")
        ax.set_ylim(0, s.capacity_kwh * 1.02)
        ax.set_title(f"Battery state of charge (capacity {s.capacity_kwh:,.0f} kWh)")
        ax.set_ylabel("energy [kWh]")
        cap = s.capacity_kwh
        sec = ax.secondary_yaxis("right", functions=(lambda v: 100 * v / cap, lambda p: p * cap / 100))
        sec.set_ylabel("SOC [%]")
        _legend(ax, loc="center left", bbox_to_anchor=(1.06, 0.5))
        time_axis(ax, c)
    return fig


def dr_figure(c: Curves, event_id: str, title: str, scope: np.ndarray, table: pd.DataFrame,
              cap_label: str = "cap (baseline − target)") -> Figure:
    """One DR event: the scope's baseline, cap, planned and uncontrolled net load; shortfall shaded."""
    fig = new_figure((11, 3.8), right=2.7, top=0.6)
    ax = fig.subplots()
    fig.suptitle(f"DR event {event_id}: {title}")
    idx = c.slots.get_indexer(table.slot_start)
    edges = c.edges
    if len(idx):
        ax.axvspan(edges[idx.min()], edges[idx.max() + 1], color=EVENT, alpha=0.9, lw=0, label="event window")
    stairs(ax, c, c.unc_net_kw[scope].sum(axis=0), color=UNC, lw=1.1, ls="--", label="net load, uncontrolled")
    stairs(ax, c, c.plan_net_kw[scope].sum(axis=0), color=PLAN, lw=1.6, label="net load, planned")
    full = np.full(len(c.slots), np.nan)
    base, cap, short = full.copy(), full.copy(), np.zeros(len(c.slots))
    base[idx], cap[idx], short[idx] = table.baseline_kw, table.cap_kw, table.shortfall_kw
    stairs(ax, c, base, color=LIMIT, lw=1.4, label="baseline")
    stairs(ax, c, cap, color=CHARGE, lw=1.4, ls=(0, (5, 2)), label=cap_label)
    net = c.plan_net_kw[scope].sum(axis=0)
    if (short > 1e-4).any():
        ax.fill_between(edges[:-1], np.nan_to_num(cap), net, where=short > 1e-4, step="post", color=UNC,
                        alpha=0.35, lw=0, label="shortfall")
    m = int(scope.sum())
    ax.set_title(f"Net load of the event's scope ({m} transformer{'s' if m != 1 else ''})")
    ax.set_ylabel("power [kW]")
    thousands_axis(ax)
    _legend(ax, loc="center left", bbox_to_anchor=(1.01, 0.5))
    time_axis(ax, c)
    return fig
