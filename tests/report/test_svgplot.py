"""The report's SVG plotter: round ticks, local-time ticks (DST too), and no matplotlib in a plan's report."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from vpp_sched.report.svgdraw import render
from vpp_sched.report.svgplot import Plot, local_time_ticks, nice_ticks, tick_text

ROOT = Path(__file__).resolve().parents[2]


def test_nice_ticks_are_round_and_cover_the_range():
    np.testing.assert_allclose(nice_ticks(0, 4000), [0, 1000, 2000, 3000, 4000])
    np.testing.assert_allclose(nice_ticks(0, 1.2), [0, 0.25, 0.5, 0.75, 1.0])
    assert nice_ticks(-37, 410)[0] >= -37 and nice_ticks(-37, 410)[-1] <= 410
    assert tick_text(300000.0, 300000) == "300,000" and tick_text(-50.0, 300) == "−50"
    assert tick_text(0.25, 1) == "0.25"


def test_local_time_ticks_on_whole_hours_with_the_date_under_each_days_first():
    start = datetime(2026, 11, 27, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    ticks = local_time_ticks(start, 0.25, 96, 10)
    assert [t for t, _ in ticks] == [0, 3, 6, 9, 12, 15, 18, 21, 24]
    assert ticks[0][1] == "12:00\n2026-11-27" and ticks[4][1] == "00:00\n2026-11-28" and ticks[1][1] == "15:00"


def test_local_time_ticks_across_a_dst_change_stay_on_local_hours():
    # Berlin, 2026-03-29: 02:00 -> 03:00; a 24 h horizon from 00:00 ends at 01:00 next day
    start = datetime(2026, 3, 29, 0, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    ticks = local_time_ticks(start, 0.25, 96, 10)
    labels = [text.split("\n")[0] for _, text in ticks]
    assert labels[:3] == ["00:00", "03:00", "06:00"]
    assert ticks[1][0] == pytest.approx(2.0)       # 03:00 is two real hours after midnight that day


def test_a_plot_is_deterministic_svg_with_prefixed_ids():
    def draw() -> str:
        fig = Plot(6, 3, suptitle="t & <x>")
        (ax,) = fig.grid(1, 1, left=0.8, right=2, top=0.5, bottom=0.7, hspace=0.3, wspace=0.3)
        e = np.arange(5.0)
        ax.stairs([1, 2, np.nan, 3], e, label="a")
        ax.fill_steps(e, 0, [1, 1, 1, 1], [True, False, True, True], color="#f00", hatch=True, label="b")
        ax.legend = "right"
        return render(fig, "fig-x")

    svg = draw()
    assert svg == draw() and svg.startswith("<svg") and svg.endswith("</svg>")
    assert 'id="fig-x-hatch"' in svg and "url(#fig-x-clip0)" in svg and "t &amp; &lt;x&gt;" in svg
    assert svg.count("<path") >= 4


@pytest.mark.slow
def test_a_plans_report_draws_no_matplotlib(tmp_path):
    # pandapower (the LV grids' power flow) imports matplotlib itself for its plotting module, so the
    # check is on what drawing with it would load: matplotlib's SVG writer, which the report no longer uses.
    code = ("import sys\nfrom vpp_sched.plan.planner import plan_day\n"
            "from vpp_sched.report.plan_report import render_report\n"
            "html = render_report(plan_day(None, method='lean'))\n"
            "print('matplotlib.backends.backend_svg' in sys.modules, html.count('<svg'))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    imported, figures = done.stdout.split()
    assert imported == "False" and int(figures) >= 4
