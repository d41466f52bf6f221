"""report.html of the studies (whatif, hosting): written with the study, every figure drawn from the study's
tables, self-contained, deterministic, and rendered by a real browser (as tests/report/test_plan_report.py)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from test_plan_report import check_dom, check_screenshot, parse
from test_whatif import cli_app, write_study_scenario
from vpp_sched.studies import report as sr
from vpp_sched.studies import whatif
from vpp_sched.outfolder import MANIFEST
from vpp_sched.scenario.load import load_scenario
from vpp_sched.studies.output import REPORT_FILE
from vpp_sched.studies.report import render_hosting_report, render_whatif_report
from vpp_sched.studies.resample import ev_count
from vpp_sched.studies.vary import parse_varies

runner = CliRunner()
VARY = ["transformers.T1.rated_kva=100,160", "evs.scale=1,2", "stations.S1.battery.max_charge_kw=0,30"]
WHATIF_SECTIONS = {"summary", "curves", "transformers", "cases", "findings"}
WHATIF_FIGURES = {"fig-whatif-kpis", "fig-whatif-transformers"}
HOSTING_SECTIONS = {"summary", "capacity", "bisection", "binding", "findings"}
HOSTING_FIGURES = {"fig-hosting-capacity", "fig-hosting-bisection"}
TIMING = re.compile(r'<span class="timing">[^<]*</span>')


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_study_scenario(tmp_path_factory.mktemp("study-report") / "sc", per_transformer=4)


@pytest.fixture(scope="module")
def whatif_dir(folder):
    """A what-if study through the command line: 8 cases x 2 policies, the 4 orderly runs with a battery that
    cannot charge fail (no plan)."""
    out = folder.parent / "whatif"
    args = ["whatif", str(folder), "--out", str(out), "--workers", "1"] + [a for v in VARY for a in ("--vary", v)]
    result = runner.invoke(cli_app(), args)
    assert result.exit_code == 0, result.output + result.stderr
    return out


@pytest.fixture(scope="module")
def hosting_dir(folder):
    out = folder.parent / "hosting"
    result = runner.invoke(cli_app(), ["hosting", str(folder), "--out", str(out), "-t", "T1", "-t", "T2",
                                       "--workers", "1", "--time-limit", "5"])
    assert result.exit_code == 0, result.output + result.stderr
    return out


@pytest.fixture(scope="module")
def whatif_result(folder):
    sc = load_scenario(folder)
    options = sc.config.solver.model_copy(update={"time_limit_s": 10})     # the command's default
    return whatif.run_whatif(sc, parse_varies(VARY), method="lean", options=options)


@pytest.fixture(scope="module")
def hosting_result(folder):
    from vpp_sched.studies import hosting

    sc = load_scenario(folder)
    return hosting.run_hosting(sc, ["T1", "T2"], options=sc.config.solver.model_copy(update={"time_limit_s": 5}))


# --- the study folders ------------------------------------------------------------------------
@pytest.mark.slow
def test_studies_write_their_report(folder, whatif_dir, hosting_dir):
    assert sorted(p.name for p in whatif_dir.iterdir()) == [MANIFEST, "cases.csv", REPORT_FILE, "summary.md",
                                                             "transformer_peaks.csv"]
    assert sorted(p.name for p in hosting_dir.iterdir()) == [MANIFEST, "bisection.csv", "hosting.csv", REPORT_FILE,
                                                              "summary.md"]
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")], "no temporary folder left"
    for out, sections, figures in ((whatif_dir, WHATIF_SECTIONS, WHATIF_FIGURES),
                                   (hosting_dir, HOSTING_SECTIONS, HOSTING_FIGURES)):
        html = (out / REPORT_FILE).read_text(encoding="utf-8")
        page = parse(html)
        assert set(page.sections) == sections
        assert set(page.figures) == figures and all(n == 1 for n in page.figures.values()), page.figures
        assert len(TIMING.findall(html)) == 1


def test_no_report_skips_it(folder, tmp_path):
    out = tmp_path / "plain"
    result = runner.invoke(cli_app(), ["whatif", str(folder), "--out", str(out), "--policy", "uncontrolled",
                                       "--vary", "evs.scale=1,2", "--no-report"])
    assert result.exit_code == 0, result.output + result.stderr
    assert not (out / REPORT_FILE).exists() and (out / "cases.csv").exists()


# --- what-if: the figures' data ---------------------------------------------------------------
@pytest.mark.slow
def test_whatif_curves_are_cases_csv(whatif_dir, whatif_result):
    cases = pd.read_csv(whatif_dir / "cases.csv")
    curves = sr.whatif_curves(whatif_result)
    x, others = sr.sweep_axes(whatif_result.varies)
    assert x.key == "evs.scale" and [v.key for v in others] == [VARY[0].split("=")[0], VARY[2].split("=")[0]]
    assert len(curves) == len(cases) == 16
    # policies in study order, each line (series) in x order
    assert list(dict.fromkeys(curves.policy)) == ["uncontrolled", "orderly"]
    assert curves.groupby(["policy", "series"], sort=False).x.apply(lambda s: s.is_monotonic_increasing).all()
    assert set(curves.series) == {f"T1.rated_kva={a}, S1.battery.max_charge_kw={b}" for a in (100, 160)
                                  for b in (0, 30)}
    merged = curves.merge(cases, on=["case", "policy"], suffixes=("", "_csv"))
    assert len(merged) == 16 and (merged.x == merged["evs.scale"]).all()
    ok = merged.status != "failed"
    assert (~ok).sum() == 4
    for panel in sr.KPI_PANELS:
        assert np.allclose(merged[panel.column][ok], merged[f"{panel.column}_csv"][ok], rtol=1e-5, atol=1e-6), panel
        assert merged[panel.column][~ok].isna().all(), "a failed run is a gap"


@pytest.mark.slow
def test_whatif_transformer_curves_are_transformer_peaks_csv(whatif_dir, whatif_result):
    peaks = pd.read_csv(whatif_dir / "transformer_peaks.csv")
    ids = sr.focus_transformers(whatif_result)
    assert ids[0] == "T1", "the varied transformer comes first"
    data = sr.whatif_transformer_curves(whatif_result, ids)
    merged = data.merge(peaks, on=["case", "policy", "transformer_id"], suffixes=("", "_csv"))
    assert len(merged) == len(data) == len(peaks[peaks.transformer_id.isin(ids)])
    for col in ("peak_kw", "limit_kw"):
        assert np.allclose(merged[col], merged[f"{col}_csv"], rtol=1e-5)
    t1 = merged[merged.transformer_id == "T1"]
    assert set(t1.limit_kw.round(6)) == {95.0, 152.0}, "the limit follows the varied rated kVA"


@pytest.mark.slow
def test_whatif_report_shows_the_study(whatif_result):
    html = render_whatif_report(whatif_result)
    page = parse(html)
    text = " ".join(page.text)
    for words in ("16 run(s)", "4 failed", "Failed runs", "Wall time", "EV resampling seed", "lean, 10 s",
                  "case 1 orderly: no plan (infeasible)", "transformers.T1.rated_kva"):
        assert words in text, words
    kpis = page.figure_text("fig-whatif-kpis")
    for words in ("Peak net load, portfolio", "power [kW]", "loading [pu]", "transformer-hours over the limit [h]",
                  "energy [kWh]", "cost [CNY]", "EV population [multiple of today's]", "uncontrolled, T1.rated_kva=100",
                  "orderly, T1.rated_kva=160"):
        assert words in kpis, words
    trafos = page.figure_text("fig-whatif-transformers")
    assert "peak net load [kW]" in trafos and "limit (rated kVA" in trafos and "T1" in trafos
    assert render_whatif_report(whatif_result) == html, "deterministic"


@pytest.mark.slow
@pytest.mark.parametrize("vary", [[], ["transformers.T1.feeder_id=,F1"], ["tariff.scale=1,1.5"]])
def test_whatif_report_without_a_numeric_sweep(tmp_path, vary):
    import yaml

    feeders = pd.DataFrame({"feeder_id": ["F1"], "capacity_kw": [500.0]})
    folder = write_study_scenario(tmp_path / "sc", per_transformer=3)
    cfg = yaml.safe_load((folder / "scenario.yaml").read_text())
    (folder / "scenario.yaml").write_text(yaml.safe_dump({**cfg, "feeders": "feeders.csv"}, sort_keys=False))
    feeders.to_csv(folder / "feeders.csv", index=False)
    trafos = pd.read_csv(folder / "transformers.csv").assign(feeder_id=["", "F1"])
    trafos.to_csv(folder / "transformers.csv", index=False)
    result = whatif.run_whatif(load_scenario(folder), parse_varies(vary), ["uncontrolled"])
    page = parse(render_whatif_report(result))
    assert set(page.figures) == WHATIF_FIGURES and all(n == 1 for n in page.figures.values())
    x, _ = sr.sweep_axes(result.varies)
    assert sr.key_label(x.key if x else None) in page.figure_text("fig-whatif-kpis")


def test_whatif_report_when_every_run_fails(folder):
    varies = parse_varies(["stations.S1.battery.max_charge_kw=0", "transformers.T1.rated_kva=100,160"])
    result = whatif.run_whatif(load_scenario(folder), varies, ["orderly"])
    assert len(result.failed) == 2
    page = parse(render_whatif_report(result))
    assert set(page.figures) == {"fig-whatif-kpis"}
    assert "every run failed" in " ".join(page.text) and "2 failed" in " ".join(page.text)


# --- hosting: the figures' data ---------------------------------------------------------------
@pytest.mark.slow
def test_bisection_csv_is_every_population_judged(hosting_dir):
    table = pd.read_csv(hosting_dir / "hosting.csv")
    ev = pd.read_csv(hosting_dir / "bisection.csv")
    assert list(ev.columns) == ["transformer_id", "policy", "n_evs", "multiple", "hosts", "decided_by",
                                "max_loading_pu", "limit_pu", "peak_kw", "overload_kwh", "unmet_by_grid_kwh"]
    assert set(ev.policy) == {"uncontrolled", "orderly_lp", "orderly"}
    for row in table.itertuples():
        mine = ev[ev.transformer_id == row.transformer_id]
        assert not mine.duplicated(["policy", "n_evs"]).any()
        assert np.allclose(mine.multiple, mine.n_evs / row.evs_today)
        for pol in ("uncontrolled", "orderly_lp", "orderly"):
            tried = mine[mine.policy == pol].set_index("n_evs")
            # the LP's populations: hosted up to the upper bound of orderly, the next one proven not to host
            hosted = row.orderly_upper_evs if pol == "orderly_lp" else getattr(row, f"{pol}_evs")
            if pol != "orderly_lp":
                assert tried.hosts[hosted], (row.transformer_id, pol)      # the threshold population hosts
            fail = row.orderly_upper_evs + 1 if pol == "orderly_lp" else getattr(row, f"{pol}_fail_evs")
            if pol != "orderly":     # orderly's first failure may be the LP's (known_fail, judged there)
                assert not tried.hosts[fail]
            assert not tried.hosts[tried.index > hosted].any()
            assert tried.hosts[tried.index <= hosted].all()
        assert row.uncontrolled_evs <= row.orderly_evs <= row.orderly_upper_evs   # feasible <= its upper bound
        unc = mine[mine.policy == "uncontrolled"]                           # uncontrolled fails by overload
        assert (unc.max_loading_pu[unc.hosts] <= unc.limit_pu[unc.hosts] + 1e-3).all()
        assert (unc.max_loading_pu[~unc.hosts] > unc.limit_pu[~unc.hosts] - 1e-6).all()
    assert hosting_dir.joinpath("summary.md").read_text().count("bisection.csv") == 1


@pytest.mark.slow
def test_hosting_capacity_table_is_hosting_csv(hosting_dir, hosting_result):
    table = pd.read_csv(hosting_dir / "hosting.csv").set_index("transformer_id")
    cap = sr.hosting_capacity_table(hosting_result)
    assert set(cap.transformer_id) == set(table.index)
    assert cap.orderly_multiple.is_monotonic_increasing, "tightest first"
    for row in cap.itertuples():
        csv = table.loc[row.transformer_id]
        for col in ("uncontrolled_multiple", "orderly_multiple", "orderly_evs", "orderly_upper_evs",
                    "orderly_upper_multiple"):
            assert getattr(row, col) == pytest.approx(csv[col]), col
        assert row.lp_bound == pytest.approx((csv.orderly_upper_evs + 0.5) / csv.evs_today, abs=1e-4)
        assert ev_count(row.lp_bound, int(csv.evs_today)) == csv.orderly_upper_evs
        assert row.uncontrolled_multiple <= row.orderly_multiple <= row.lp_bound + 1e-9
    th = sr.hosting_thresholds(hosting_result)
    assert len(th) == 3 * len(cap) and set(th.policy) == {"uncontrolled", "orderly", "orderly_lp"}
    lines = th.pivot(index="transformer_id", columns="policy", values="multiple")
    assert (lines.orderly <= lines.orderly_lp).all(), "the LP's line is the upper bound, right of orderly's"


@pytest.mark.slow
def test_hosting_report_shows_the_study(hosting_result):
    html = render_hosting_report(hosting_result)
    page = parse(html)
    text = " ".join(page.text)
    for words in ("Bisection tolerance", "1.0% (or one EV)", "Populations judged", "Wall time", "Failed transformers",
                  "binding at the threshold", "fails just above with", "1 kVA more, CNY per kVA per day",
                  "planner at the threshold"):
        assert words in text, words
    capacity = page.figure_text("fig-hosting-capacity")
    for words in ("EV population [multiple of the transformer's EVs today]", "today's EVs (1×)",
                  "orderly at most (LP relaxation bound)", "uncontrolled: largest multiple hosted",
                  "T1 (100 kVA, 4 EVs)"):
        assert words in capacity, words
    bisection = page.figure_text("fig-hosting-bisection")
    for words in ("loading [pu]", "unmet energy [kWh]", "EV population [multiple of today's EVs]", "does not host",
                  "T1: highest loading", "T2: EV energy short by the grid"):
        assert words in bisection, words
    assert render_hosting_report(hosting_result) == html, "deterministic"


@pytest.mark.slow
def test_reports_are_self_contained_and_reproducible(whatif_dir, hosting_dir, whatif_result, hosting_result):
    for out, render in ((whatif_dir, lambda: render_whatif_report(whatif_result)),
                        (hosting_dir, lambda: render_hosting_report(hosting_result))):
        html = (out / REPORT_FILE).read_text(encoding="utf-8")
        page = parse(html)
        assert not page.tags["script"] and not page.tags["link"] and not page.tags["iframe"] and not page.tags["img"]
        assert all(r.startswith("#") for r in page.refs), [r for r in page.refs if not r.startswith("#")]
        assert "url(http" not in html and "@import" not in html
        assert not [i for i, n in page.ids.items() if n > 1]
        assert "Date" not in html.split("<svg", 1)[1][:2000]
        # The same study run again (in process, not through the CLI) gives the same page apart from the run time.
        assert TIMING.sub("", render()) == TIMING.sub("", html)


# --- the browser ------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("study", ["whatif", "hosting"])
def test_study_report_renders_in_headless_chromium(study, whatif_dir, hosting_dir, tmp_path):
    out, sections, figures = ((whatif_dir, WHATIF_SECTIONS, WHATIF_FIGURES) if study == "whatif" else
                              (hosting_dir, HOSTING_SECTIONS, HOSTING_FIGURES))
    url = (out / REPORT_FILE).as_uri()
    check_dom(tmp_path, url, sections, figures)
    check_screenshot(tmp_path, url, (1280, 2400))
