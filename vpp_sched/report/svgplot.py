"""A small SVG plotter for the plan report's figures: what to draw (:mod:`vpp_sched.report.svgdraw` draws it).

The plan report draws the same few things every time (steps over 15-min slots against a local-time
axis, limits, a legend), and matplotlib cost about 2 s of every plan (0.5 s to import it, the rest to
lay out and draw the figures) whatever the size. This module writes that SVG directly: axes boxes with
"nice" ticks, paths, text (kept as text: searchable in the page), deterministic output (no dates,
ids prefixed with the figure's key). Coordinates are pixels of 1/100 inch, as the old figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from html import escape

import numpy as np

FONT = "DejaVu Sans, Verdana, sans-serif"
DPI = 100.0        # pixels per inch of the figure sizes


def nice_ticks(lo: float, hi: float, n: int = 6) -> np.ndarray:
    """About ``n`` round tick values (1, 2, 2.5, 5 x 10^k) covering ``[lo, hi]``."""
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        return np.array([lo]) if np.isfinite(lo) else np.zeros(1)
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = np.arange(first, hi + step * 1e-9, step)
    return np.round(ticks, 10)


def tick_text(v: float, span: float) -> str:
    """A tick label: thousands separators from 10,000, decimals as the tick step needs."""
    if abs(v) < 1e-12:
        v = 0.0
    if span >= 10000 or abs(v) >= 10000:
        return f"{v:,.0f}"
    text = f"{v:.6g}" if abs(v) < 1e6 else f"{v:,.0f}"
    return text.replace("-", "−")


@dataclass
class Artist:
    kind: str
    data: tuple
    style: dict
    label: str | None = None


@dataclass
class Axes:
    """One plot area: data artists in data coordinates, drawn into the pixel box ``(x, y, w, h)``."""

    x: float
    y: float
    w: float
    h: float
    artists: list[Artist] = field(default_factory=list)
    xlim: tuple[float, float] | None = None
    ylim: tuple[float, float] | None = None
    title: str = ""
    title_lines_color: str = "#222222"
    title_size: float = 10.0
    xlabel: str = ""
    ylabel: str = ""
    xticks: list[tuple[float, str]] | None = None   # (value, text; "\n" starts a second line)
    x_tick_labels: bool = True
    y_integer: bool = False
    right_axis: tuple | None = None                 # (label, function of the y value)
    legend: str | None = None                       # "right", "top-left" or None
    legend_at: tuple[float, float] | None = None    # legend's top left, in pixels of the figure

    # --- artists ------------------------------------------------------------------------------
    def stairs(self, values, edges, *, baseline=None, fill=False, color="#000", lw=1.0, dash=None,
               alpha=1.0, label=None) -> None:
        """Slot values as steps over ``[edges[i], edges[i+1])``; ``nan`` leaves a gap."""
        self.artists.append(Artist("stairs", (np.asarray(values, float), np.asarray(edges, float), baseline),
                                   dict(fill=fill, color=color, lw=lw, dash=dash, alpha=alpha), label))

    def hline(self, y, *, color="#222", lw=1.0, dash=None, label=None) -> None:
        self.artists.append(Artist("hline", (float(y),), dict(color=color, lw=lw, dash=dash), label))

    def vspan(self, x0, x1, *, color, alpha=1.0, label=None) -> None:
        self.artists.append(Artist("vspan", (float(x0), float(x1)), dict(color=color, alpha=alpha), label))

    def fill_steps(self, edges, lower, upper, where=None, *, color, alpha=1.0, hatch=False, label=None) -> None:
        """The band between ``lower`` and ``upper`` (scalars or per slot) over the slots ``where``."""
        edges = np.asarray(edges, float)
        n = len(edges) - 1
        lo = np.broadcast_to(np.asarray(lower, float), (n,))
        up = np.broadcast_to(np.asarray(upper, float), (n,))
        where = np.ones(n, bool) if where is None else np.asarray(where, bool)
        self.artists.append(Artist("band", (edges, lo, up, where), dict(color=color, alpha=alpha, hatch=hatch), label))

    def line(self, x, y, *, color, lw=1.0, label=None) -> None:
        self.artists.append(Artist("line", (np.asarray(x, float), np.asarray(y, float)),
                                   dict(color=color, lw=lw, dash=None), label))

    def hist(self, values, bins, *, color, alpha=1.0, step=False, lw=1.0, label=None) -> None:
        counts, _ = np.histogram(np.asarray(values, float), bins=bins)
        edges = np.asarray(bins, float)
        if step:
            self.stairs(counts, edges, color=color, lw=lw, label=label)
        else:
            self.stairs(counts, edges, baseline=0.0, fill=True, color=color, alpha=alpha, label=label)

    def text(self, fx: float, fy: float, words: str, boxed: bool = True) -> None:
        """Text at the axes fraction ``(fx, fy)`` from the top left, in a rounded box."""
        self.artists.append(Artist("text", (fx, fy, words), dict(boxed=boxed)))

    # --- limits ------------------------------------------------------------------------------
    def data_range(self) -> tuple[float, float]:
        lo, hi = np.inf, -np.inf
        for a in self.artists:
            vals = []
            if a.kind == "stairs":
                vals = [a.data[0]] + ([np.array([a.data[2]])] if a.data[2] is not None else [])
            elif a.kind == "hline":
                vals = [np.array(a.data)]
            elif a.kind == "band":
                vals = [a.data[1][a.data[3]], a.data[2][a.data[3]]]
            elif a.kind == "line":
                vals = [a.data[1]]
            for v in vals:
                v = v[np.isfinite(v)]
                if len(v):
                    lo, hi = min(lo, float(v.min())), max(hi, float(v.max()))
        if not np.isfinite(lo):
            return 0.0, 1.0
        if hi - lo < 1e-12:
            return lo - 0.5, hi + 0.5
        pad = 0.05 * (hi - lo)
        return lo - pad, hi + pad


@dataclass
class Plot:
    """A figure: size in inches, a title, axes, an optional legend across the top."""

    width_in: float
    height_in: float
    suptitle: str = ""
    axes: list[Axes] = field(default_factory=list)
    top_legend: list[tuple[str, Artist]] | None = None
    top_legend_y: float = 0.0

    @property
    def w(self) -> float:
        return self.width_in * DPI

    @property
    def h(self) -> float:
        return self.height_in * DPI

    def grid(self, nrows: int, ncols: int, *, left: float, right: float, top: float, bottom: float,
             hspace: float, wspace: float, height_ratios=None) -> list[Axes]:
        """Axes in a grid with margins in inches and spacing as fractions of the mean axes size
        (matplotlib's ``subplots_adjust``)."""
        W, H = self.w, self.h
        x0, x1 = left * DPI, W - right * DPI
        y0, y1 = top * DPI, H - bottom * DPI
        ratios = np.asarray(height_ratios if height_ratios is not None else np.ones(nrows), float)
        cell_w = (x1 - x0) / (ncols + wspace * (ncols - 1))
        cell_h_total = (y1 - y0) / (1 + hspace * (nrows - 1) / nrows)
        heights = cell_h_total * ratios / ratios.sum()
        gap = hspace * cell_h_total / nrows
        out, y = [], y0
        for r in range(nrows):
            for c in range(ncols):
                out.append(Axes(x0 + c * cell_w * (1 + wspace), y, cell_w, heights[r]))
            y += heights[r] + gap
        self.axes.extend(out)
        return out


def local_time_ticks(start_local, dt_h: float, n_slots: int, max_ticks: int) -> list[tuple[float, str]]:
    """Ticks on whole local hours (every 1, 2, 3, 4, 6, 12 h, or days) as hours from the start:
    ``HH:MM``, with the date under the first tick of each day."""
    hours = n_slots * dt_h
    step = next((s for s in (1, 2, 3, 4, 6, 12) if hours / s <= max_ticks), 24)
    day_step = max(1, int(hours // 240)) if step == 24 else 1
    tz = start_local.tzinfo
    first = start_local.replace(minute=0, second=0, microsecond=0)
    if first < start_local:
        first += timedelta(hours=1)
    t = first.astimezone(timezone.utc)          # stepped in UTC: one real hour at a time (DST)
    start_s = start_local.timestamp()
    end_s = start_s + hours * 3600
    out, last_date = [], None
    while t.timestamp() <= end_s + 1e-6:
        local = t.astimezone(tz)
        ok = local.minute == 0 and ((local.hour % step == 0) if step < 24 else
                                    (local.hour == 0 and (local.day - 1) % day_step == 0))
        if ok:
            text = local.strftime("%H:%M")
            if local.date() != last_date:
                text += "\n" + local.strftime("%Y-%m-%d")
            last_date = local.date()
            out.append(((t.timestamp() - start_s) / 3600.0, text))
        t += timedelta(hours=1)
    return out
