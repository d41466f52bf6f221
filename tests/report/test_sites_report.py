"""The plan report's section on swap and fast-charging stations."""

from __future__ import annotations

from sites_factory import site_scenario
from vpp_sched.plan.planner import plan_day
from vpp_sched.report.plan_report import render_report


def test_report_shows_the_sites(tmp_path):
    run = plan_day(site_scenario(tmp_path / "sc"))
    html = render_report(run)
    assert "Swap and fast-charging stations" in html
    assert "mine-1" in html and "sa-1" in html
    assert html.count('<figure class="plot" id="fig-site-') == 2
    served = f'{run.plan.kpis["swap_stations"][0]["swaps_served"]:,.1f}'
    assert served in html
