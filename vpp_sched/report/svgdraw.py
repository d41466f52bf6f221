"""The drawing half of :mod:`vpp_sched.report.svgplot`: a :class:`~vpp_sched.report.svgplot.Plot` as SVG text."""

from __future__ import annotations

from html import escape

import numpy as np

from vpp_sched.report.svgplot import FONT, Artist, Axes, Plot, nice_ticks, tick_text

GRID, AXIS, TEXT = "#dddddd", "#444444", "#222222"


def _f(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _t(x: float, y: float, words: str, size: float = 8, anchor: str = "start", weight: str = "normal",
       color: str = TEXT, rotate: bool = False, baseline: str = "auto") -> str:
    """Text, one ``tspan`` per line (``\\n``)."""
    lines = str(words).split("\n")
    spans = "".join(f'<tspan x="{_f(x)}" dy="{0 if i == 0 else _f(size * 1.2)}">{escape(line)}</tspan>'
                    for i, line in enumerate(lines))
    rot = f' transform="rotate(-90 {_f(x)} {_f(y)})"' if rotate else ""
    return (f'<text x="{_f(x)}" y="{_f(y)}" font-size="{_f(size)}" text-anchor="{anchor}" '
            f'font-weight="{weight}" fill="{color}" dominant-baseline="{baseline}"{rot}>{spans}</text>')


def _stroke(style: dict) -> str:
    dash = style.get("dash")
    out = f'fill="none" stroke="{style["color"]}" stroke-width="{_f(style.get("lw", 1.0))}"'
    if dash:
        out += f' stroke-dasharray="{" ".join(_f(d) for d in dash)}"'
    if style.get("alpha", 1.0) < 1.0 and not style.get("fill"):
        out += f' stroke-opacity="{_f(style["alpha"])}"'
    return out


class _Scale:
    def __init__(self, ax: Axes, xlim, ylim):
        self.ax, (self.x0, self.x1), (self.y0, self.y1) = ax, xlim, ylim

    def px(self, x):
        return self.ax.x + (np.asarray(x, float) - self.x0) / (self.x1 - self.x0) * self.ax.w

    def py(self, y):
        return self.ax.y + self.ax.h - (np.asarray(y, float) - self.y0) / (self.y1 - self.y0) * self.ax.h


def _step_runs(values: np.ndarray) -> list[tuple[int, int]]:
    """Runs ``[i, j)`` of finite values."""
    ok = np.isfinite(values)
    runs, i = [], 0
    n = len(values)
    while i < n:
        if not ok[i]:
            i += 1
            continue
        j = i
        while j < n and ok[j]:
            j += 1
        runs.append((i, j))
        i = j
    return runs


def _stairs(s: _Scale, a: Artist) -> str:
    values, edges, baseline = a.data
    out = []
    for i, j in _step_runs(values):
        xs = s.px(edges[i:j + 1])
        ys = s.py(values[i:j])
        pts = []
        for k in range(j - i):
            pts += [f"{_f(xs[k])},{_f(ys[k])}", f"{_f(xs[k + 1])},{_f(ys[k])}"]
        if a.style["fill"] and baseline is not None:
            yb = _f(float(s.py(baseline)))
            d = f"M{_f(xs[0])},{yb} L" + " ".join(pts) + f" L{_f(xs[-1])},{yb} Z"
            out.append(f'<path d="{d}" fill="{a.style["color"]}" fill-opacity="{_f(a.style["alpha"])}" stroke="none"/>')
        else:
            out.append(f'<path d="M{" L".join(pts)}" {_stroke(a.style)}/>')
    return "".join(out)


def _band(s: _Scale, a: Artist, key: str) -> str:
    edges, lo, up, where = a.data
    out = []
    fill = f'url(#{key}-hatch)' if a.style["hatch"] else a.style["color"]
    opacity = 1.0 if a.style["hatch"] else a.style["alpha"]
    for i, j in _step_runs(np.where(where, 0.0, np.nan)):
        xs = s.px(edges[i:j + 1])
        top, bot = s.py(up[i:j]), s.py(lo[i:j])
        upper = [f"{_f(xs[k])},{_f(top[k])} {_f(xs[k + 1])},{_f(top[k])}" for k in range(j - i)]
        lower = [f"{_f(xs[k + 1])},{_f(bot[k])} {_f(xs[k])},{_f(bot[k])}" for k in reversed(range(j - i))]
        out.append(f'<path d="M{" ".join(upper)} {" ".join(lower)} Z" fill="{fill}" '
                   f'fill-opacity="{_f(opacity)}" stroke="none"/>')
    return "".join(out)


def _artist(s: _Scale, a: Artist, key: str) -> str:
    ax = s.ax
    if a.kind == "stairs":
        return _stairs(s, a)
    if a.kind == "hline":
        y = _f(float(s.py(a.data[0])))
        return f'<path d="M{_f(ax.x)},{y} L{_f(ax.x + ax.w)},{y}" {_stroke(a.style)}/>'
    if a.kind == "vspan":
        x0, x1 = s.px(a.data[0]), s.px(a.data[1])
        return (f'<rect x="{_f(x0)}" y="{_f(ax.y)}" width="{_f(x1 - x0)}" height="{_f(ax.h)}" '
                f'fill="{a.style["color"]}" fill-opacity="{_f(a.style["alpha"])}"/>')
    if a.kind == "band":
        return _band(s, a, key)
    if a.kind == "line":
        xs, ys = s.px(a.data[0]), s.py(a.data[1])
        return f'<path d="M{" L".join(f"{_f(x)},{_f(y)}" for x, y in zip(xs, ys))}" {_stroke(a.style)}/>'
    if a.kind == "text":
        fx, fy, words = a.data
        x, y = ax.x + fx * ax.w, ax.y + fy * ax.h
        width = 5.2 * len(words) + 10
        return (f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(width)}" height="18" rx="4" fill="white" stroke="#cccccc"/>'
                + _t(x + 5, y + 12.5, words, 9))
    return ""


def _swatch(a: Artist, x: float, y: float) -> str:
    """The legend's sample of an artist at ``(x, y)`` (left, middle)."""
    if a.kind in ("vspan", "band") or (a.kind == "stairs" and a.style["fill"]):
        fill = a.style["color"]
        op = a.style.get("alpha", 1.0)
        stroke = f' stroke="{a.style["color"]}"' if a.style.get("hatch") else ""
        return f'<rect x="{_f(x)}" y="{_f(y - 5)}" width="20" height="10" fill="{fill}" fill-opacity="{_f(op)}"{stroke}/>'
    return f'<path d="M{_f(x)},{_f(y)} L{_f(x + 20)},{_f(y)}" {_stroke(a.style)}/>'


def _legend_entries(artists: list[Artist]) -> list[tuple[str, Artist]]:
    seen, out = set(), []
    for a in artists:
        if a.label and a.label not in seen:
            seen.add(a.label)
            out.append((a.label, a))
    return out


def _legend(entries: list[tuple[str, Artist]], x: float, y: float) -> str:
    if not entries:
        return ""
    width = max(5.0 * len(label) for label, _ in entries) + 38
    height = 15 * len(entries) + 8
    out = [f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(width)}" height="{_f(height)}" rx="3" '
           f'fill="white" fill-opacity="0.9" stroke="#cccccc"/>']
    for i, (label, a) in enumerate(entries):
        cy = y + 11 + 15 * i
        out.append(_swatch(a, x + 6, cy))
        out.append(_t(x + 32, cy + 3, label, 8))
    return "".join(out)


def _axes(ax: Axes, key: str, index: int) -> str:
    xlim = ax.xlim or (0.0, 1.0)
    ylim = ax.ylim or ax.data_range()
    s = _Scale(ax, xlim, ylim)
    yt = [v for v in nice_ticks(*ylim) if ylim[0] - 1e-9 <= v <= ylim[1] + 1e-9]
    if ax.y_integer:
        yt = [v for v in yt if abs(v - round(v)) < 1e-9]
    out = [f'<g class="axes">']
    span = max(abs(ylim[0]), abs(ylim[1]))
    for v in yt:                       # grid and y ticks
        y = _f(float(s.py(v)))
        out.append(f'<path d="M{_f(ax.x)},{y} L{_f(ax.x + ax.w)},{y}" stroke="{GRID}" stroke-width="0.6"/>')
        out.append(_t(ax.x - 4, float(y) + 3, tick_text(v, span), 8, "end"))
    xticks = ax.xticks if ax.xticks is not None else [(v, tick_text(v, 0)) for v in nice_ticks(*xlim)]
    for v, words in xticks:
        if xlim[0] - 1e-9 <= v <= xlim[1] + 1e-9:
            x = _f(float(s.px(v)))
            out.append(f'<path d="M{x},{_f(ax.y)} L{x},{_f(ax.y + ax.h)}" stroke="{GRID}" stroke-width="0.6"/>')
            if ax.x_tick_labels:
                out.append(_t(float(x), ax.y + ax.h + 12, words, 8, "middle"))
    out.append(f'<clipPath id="{key}-clip{index}"><rect x="{_f(ax.x)}" y="{_f(ax.y)}" width="{_f(ax.w)}" '
               f'height="{_f(ax.h)}"/></clipPath><g clip-path="url(#{key}-clip{index})">')
    out += [_artist(s, a, key) for a in ax.artists if a.kind != "text"]
    out.append("</g>")
    out += [_artist(s, a, key) for a in ax.artists if a.kind == "text"]
    bottom = _f(ax.y + ax.h)
    out.append(f'<path d="M{_f(ax.x)},{_f(ax.y)} L{_f(ax.x)},{bottom} L{_f(ax.x + ax.w)},{bottom}" '
               f'fill="none" stroke="{AXIS}" stroke-width="0.8"/>')
    if ax.right_axis is not None:
        label, fn = ax.right_axis
        xr = ax.x + ax.w
        out.append(f'<path d="M{_f(xr)},{_f(ax.y)} L{_f(xr)},{bottom}" stroke="{AXIS}" stroke-width="0.8"/>')
        lo, hi = fn(ylim[0]), fn(ylim[1])
        for v in nice_ticks(lo, hi):
            if lo - 1e-9 <= v <= hi + 1e-9:
                y = ax.y + ax.h - (v - lo) / (hi - lo) * ax.h
                out.append(_t(xr + 4, y + 3, tick_text(v, 0), 8))
        out.append(_t(xr + 34, ax.y + ax.h / 2, label, 9, "middle", rotate=True))
    if ax.title:
        lines = ax.title.split("\n")
        out.append(_t(ax.x + ax.w / 2, ax.y - 6 - ax.title_size * 1.2 * (len(lines) - 1), ax.title,
                      ax.title_size, "middle", "bold", ax.title_lines_color))
    if ax.ylabel:
        out.append(_t(ax.x - 46, ax.y + ax.h / 2, ax.ylabel, 9, "middle", rotate=True))
    if ax.xlabel:
        extra = 12 if any("\n" in w for _, w in xticks) else 0
        out.append(_t(ax.x + ax.w / 2, ax.y + ax.h + 28 + extra, ax.xlabel, 9, "middle"))
    entries = _legend_entries(ax.artists)
    if ax.legend == "right":
        out.append(_legend(entries, ax.x + ax.w + (62 if ax.right_axis else 8), ax.y))
    elif ax.legend == "top-left":
        x, y = ax.legend_at or (ax.x + 6, ax.y + 6)
        out.append(_legend(entries, x, y))
    out.append("</g>")
    return "".join(out)


def render(plot: Plot, key: str) -> str:
    """The plot as an inline ``<svg>`` element; its ids are prefixed with ``key``."""
    label = escape(plot.suptitle or key, quote=True)
    out = [f'<svg role="img" aria-label="{label}" xmlns="http://www.w3.org/2000/svg" '
           f'width="{_f(plot.w * 0.72)}pt" height="{_f(plot.h * 0.72)}pt" viewBox="0 0 {_f(plot.w)} {_f(plot.h)}" '
           f'font-family="{FONT}">',
           f'<defs><pattern id="{key}-hatch" patternUnits="userSpaceOnUse" width="6" height="6">'
           f'<path d="M0,6 L6,0" stroke="#f0a500" stroke-width="1"/></pattern></defs>',
           f'<rect width="{_f(plot.w)}" height="{_f(plot.h)}" fill="white"/>']
    if plot.suptitle:
        out.append(_t(plot.w / 2, 24, plot.suptitle, 12, "middle", "bold"))
    out += [_axes(ax, key, i) for i, ax in enumerate(plot.axes)]
    if plot.top_legend:
        width = sum(5.0 * len(lbl) + 44 for lbl, _ in plot.top_legend)
        x = plot.w / 2 - width / 2
        for lbl, a in plot.top_legend:
            out.append(_swatch(a, x, plot.top_legend_y))
            out.append(_t(x + 26, plot.top_legend_y + 3, lbl, 8))
            x += 5.0 * len(lbl) + 44
    out.append("</svg>")
    return "".join(out)
