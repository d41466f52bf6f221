"""report.html: every section and figure, self-contained, deterministic, and rendered by a real browser.

The browser check runs headless Chromium (Debian's ``chromium``; ``.ci/run`` installs it). In CI
(``CI`` set) a missing browser fails the test; on a developer's machine without it the test is
skipped with the reason in pytest's summary, so the README's test command works with only Python.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scenario_factory import EVS, write_scenario
from vpp_sched.plan.output import write_plan
from vpp_sched.plan.planner import plan_day
from vpp_sched.report.plan_report import REPORT_FILE, render_report, report_writer

STATION = {"station_id": "S1", "transformer_id": "T1",
           "pv": {"capacity_kwp": 60.0, "tilt_deg": 30.0},
           "battery": {"capacity_kwh": 40.0, "max_charge_kw": 10.0, "max_discharge_kw": 10.0, "soc_min": 0.1,
                       "soc_max": 0.95, "soc_initial": 0.5}}
# Larger than the EVs and the battery can deliver, so the figure shows a shortfall too.
EVENT = {"event_id": "DR1", "start": "2026-11-27T18:00:00+08:00", "end": "2026-11-27T20:00:00+08:00",
         "scope": "all", "reduction_kw": 45.0, "price_cny_per_kwh": 2.0}
SECTIONS = {"summary", "portfolio", "transformers", "evs", "stations", "dr-events"}
FIGURES = {"fig-portfolio", "fig-transformers", "fig-evs", "fig-station-1", "fig-dr-1"}
KPI_LABELS = ("Grid energy cost", "Peak net load, portfolio", "Highest transformer loading",
              "Transformers overloaded", "Unmet EV energy", "Largest slot-to-slot rise of EV power", "Status",
              "MIP gap", "Build", "Solve")


class Page(HTMLParser):
    """Sections, figures (and the SVGs inside them), ids, resource references, text."""

    def __init__(self):
        super().__init__()
        self.sections, self.figures, self.ids, self.refs, self.tags = [], {}, Counter(), [], Counter()
        self.text, self._figure, self._svg_text = [], None, {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags[tag] += 1
        if "id" in a:
            self.ids[a["id"]] += 1
        self.refs += [v for k, v in attrs if k in ("src", "href", "xlink:href", "action", "data") and v]
        if tag == "section":
            self.sections.append(a.get("id"))
        if tag == "figure" and "plot" in (a.get("class") or ""):
            self._figure = a["id"]
            self.figures[self._figure] = 0
            self._svg_text[self._figure] = []
        if tag == "svg" and self._figure:
            self.figures[self._figure] += 1

    def handle_endtag(self, tag):
        if tag == "figure":
            self._figure = None

    def handle_data(self, data):
        self.text.append(data)
        if self._figure:
            self._svg_text[self._figure].append(data)

    def figure_text(self, key: str) -> str:
        return " ".join(self._svg_text[key])


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = write_scenario(tmp_path_factory.mktemp("report") / "sc",
                            yaml_overrides={"stations": [STATION], "dr_events": [EVENT]})
    return plan_day(folder)


@pytest.fixture(scope="module")
def html(run):
    return render_report(run)


def test_report_has_every_section_and_figure(run, html):
    page = parse(html)
    assert html.startswith("<!DOCTYPE html>")
    assert set(page.sections) == SECTIONS
    assert set(page.figures) == FIGURES
    assert all(n == 1 for n in page.figures.values()), page.figures       # one inline SVG per figure
    assert page.tags["svg"] == len(FIGURES)
    text = " ".join(page.text)
    for label in KPI_LABELS:
        assert label in text, label
    assert "uncontrolled" in text and "DR1" in text and "S1" in text
    # Figures: titles, units, legends, local time (12:00 Asia/Shanghai is 04:00 UTC).
    for key in FIGURES:
        words = page.figure_text(key)
        assert "[kW]" in words or "[kWh]" in words, key
    for key in FIGURES - {"fig-evs"}:
        words = page.figure_text(key)
        assert "local time (Asia/Shanghai, UTC+08:00)" in words, key
        assert "2026-11-27" in words and "12:00" in words, key
    portfolio = page.figure_text("fig-portfolio")
    for words in ("planned vs uncontrolled", "price [CNY/kWh]", "net load, planned", "net load, uncontrolled charging",
                  "base load (forecast)", "grid energy price"):
        assert words in portfolio
    assert "limit" in page.figure_text("fig-transformers")
    for words in ("PV forecast (available)", "PV curtailed", "battery charging (+)", "state of charge", "SOC [%]"):
        assert words in page.figure_text("fig-station-1"), words
    for words in ("baseline", "cap (baseline − target)", "net load, planned", "event window"):
        assert words in page.figure_text("fig-dr-1"), words
    if (run.plan.dr_events.shortfall_kw > 1e-4).any():
        assert "shortfall" in page.figure_text("fig-dr-1")


def test_transformer_table_shows_peak_import_and_reverse_flow(tmp_path):
    # A transformer whose PV exports read "peak 0.0 kW" beside its reverse-flow pu before.
    big_pv = dict(STATION, pv={"capacity_kwp": 300.0, "tilt_deg": 30.0})
    run = plan_day(write_scenario(tmp_path / "sc", yaml_overrides={"stations": [big_pv]}))
    html = render_report(run)
    head = re.search(r"<tr>(<th>#</th><th>transformer</th>.*?)</tr>", html).group(1)
    columns = re.findall(r"<th>(.*?)</th>", head)
    assert {"planned peak import kW", "planned peak reverse flow kW", "uncontrolled peak import kW",
            "uncontrolled peak reverse flow kW"} <= set(columns)
    load = run.plan.transformer_load
    assert (load.net_load_kw < -1.0).any(), "the station's PV exports at midday"
    for n, tid in enumerate(run.problem.transformer_ids):
        cells = re.search(rf"<tr[^>]*><td class=n>\d+</td><td>{re.escape(str(tid))}</td>(.*?)</tr>", html).group(1)
        values = dict(zip(columns[2:], re.findall(r"<td[^>]*>(.*?)</td>", cells)))
        net = load[load.transformer_id == tid].net_load_kw
        assert float(values["planned peak import kW"].replace(",", "")) == pytest.approx(max(net.max(), 0), abs=0.05)
        assert float(values["planned peak reverse flow kW"].replace(",", "")) == pytest.approx(max(-net.min(), 0), abs=0.05)
        pu = float(values["planned pu"])
        assert pu == pytest.approx(max(net.max(), -net.min()) / run.problem.rating_kw[n], abs=0.006)


def test_report_is_self_contained(html):
    page = parse(html)
    assert not page.tags["script"] and not page.tags["link"] and not page.tags["iframe"]
    assert not page.tags["img"] or all(r.startswith("data:") for r in page.refs if not r.startswith("#"))
    assert all(r.startswith(("#", "data:")) for r in page.refs), [r for r in page.refs if not r.startswith("#")]
    assert "url(http" not in html and "@import" not in html
    duplicates = [i for i, n in page.ids.items() if n > 1]
    assert not duplicates, duplicates[:5]
    assert "Date" not in html.split("<svg", 1)[1][:2000]           # no timestamps in SVG metadata


@pytest.mark.slow
def test_report_is_deterministic(run, html, tmp_path):
    assert render_report(run) == html
    folder = write_plan(run.plan, tmp_path / "plan", parquet=False, extra={"report": report_writer(run)})
    assert (folder / REPORT_FILE).read_text(encoding="utf-8") == html
    # Planning the same input again gives the same page apart from the solver timings.
    again = render_report(plan_day(run.scenario.folder))
    timings = re.compile(r'<span class="timing">[^<]*</span>')
    assert len(timings.findall(html)) == 5   # build, solve, total, HiGHS, modelling overhead
    assert timings.sub("", again) == timings.sub("", html)


def test_many_transformers_are_capped(tmp_path):
    n = 15
    trafos = pd.DataFrame({"transformer_id": [f"T{i:02d}" for i in range(1, n + 1)],
                           "rated_kva": np.linspace(100, 240, n), "power_factor": 0.95, "max_loading_pu": 1.0})
    evs = EVS.assign(transformer_id=["T01", "T01", "T02", "T03", "T15"])
    run = plan_day(write_scenario(tmp_path / "sc", transformers=trafos, evs=evs))
    page = parse(render_report(run))
    assert set(page.sections) == SECTIONS
    assert {"fig-portfolio", "fig-transformers", "fig-evs"} == set(page.figures)
    text = " ".join(page.text)
    assert f"The 12 most loaded of {n} transformers" in text
    shown = page.figure_text("fig-transformers")
    assert sum(f"T{i:02d} ·" in shown for i in range(1, n + 1)) == 12
    assert "No DR event" in text and "No PV-storage-charging station" in text


# --- the browser ------------------------------------------------------------------------------
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1"]
BROWSER_TIMEOUT_S = 120


def chromium() -> str:
    """Path of headless Chromium; fails in CI, skips with a reason elsewhere, when there is none."""
    for path in (os.environ.get("VPP_SCHED_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                 shutil.which("chromium-browser")):
        if path and Path(path).exists():
            return path
    hint = "headless Chromium not found (/usr/bin/chromium): install it (Debian: apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"{hint}; .ci/run installs it, so CI must have it")
    pytest.skip(f"{hint} to run the browser check of report.html")


def browse(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args, url]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"headless Chromium did not finish within {BROWSER_TIMEOUT_S} s: {' '.join(cmd)}")


@pytest.mark.slow
def test_report_renders_in_headless_chromium(html, tmp_path):
    report = tmp_path / REPORT_FILE
    report.write_text(html, encoding="utf-8")
    url = report.as_uri()
    check_dom(tmp_path, url, SECTIONS, FIGURES)
    check_screenshot(tmp_path, url, (1280, 4000))


def check_dom(tmp_path: Path, url: str, sections: set[str], figures: set[str]) -> Page:
    """The page as the browser built it has every section, and every figure with its one inline SVG."""
    dom = browse(tmp_path, url, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = parse(dom.stdout)
    assert set(page.sections) == sections
    assert set(page.figures) == figures and all(n == 1 for n in page.figures.values())
    assert dom.stdout.count("<svg") == len(figures)
    return page


def check_screenshot(tmp_path: Path, url: str, size: tuple[int, int]) -> None:
    """A screenshot of the page at ``size`` [px] is non-trivial: many colours, and a good share of the page
    is drawn (not just background)."""
    from PIL import Image

    png = tmp_path / "report.png"
    shot = browse(tmp_path, url, f"--screenshot={png}", f"--window-size={size[0]},{size[1]}")
    assert shot.returncode == 0 and png.exists(), shot.stderr[-2000:]
    with Image.open(png) as im:
        assert im.size == size
        pixels = np.asarray(im.convert("RGB"), dtype=np.int16)
    colours = np.unique(pixels.reshape(-1, 3)[::7], axis=0)
    assert len(colours) > 100, len(colours)
    ink = (np.abs(pixels - pixels[0, 0]).sum(axis=2) > 30) & (pixels.sum(axis=2) < 700)
    assert ink.mean() > 0.03, ink.mean()
