"""``vpp-sched hosting`` with an LV grid: which limit fails first and at how many EVs, checked by hand.

The grid is ``grid_factory.two_bus_grid``: every EV and the whole base load at ``B1`` behind one line,
so the load-end voltage and the line current of a load ``P`` are known in closed form. The EVs arrive
in the 18:00 hour (copies jittered within it) and charge one whole hour from 19:00 uncontrolled, so in
that slot the grid carries ``BASE_KW + c x max_power_kw`` for ``c`` EVs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from grid_factory import IMAX_A, receiving_voltage_pu, two_bus_grid
from scenario_factory import write_scenario
from test_whatif import cli_app
from vpp_sched.scenario.load import load_scenario
from vpp_sched.studies import hosting
from vpp_sched.studies.hosting_grid import grid_searches
from vpp_sched.studies.hosting_grid_judge import LimitJudgement, grid_population
from vpp_sched.studies.hosting_grid_search import search_limits

BASE_KW = 20.0
HORIZON = {"start": "2026-11-27T12:00:00+08:00", "slots": 24, "slot_minutes": 60}
V_MIN_PU = 0.93


def _scenario(folder, **kw):
    return load_scenario(_folder(folder, **kw))


def _folder(folder, *, rated_kva: float, length_km: float, n: int = 4, ev_kw: float = 11.0, phase: str = "",
            base_kw: float = BASE_KW, grid: dict | None = None):
    two_bus_grid(folder / "grids" / "two", length_km=length_km)
    trafos = pd.DataFrame({"transformer_id": ["T1"], "rated_kva": [rated_kva], "power_factor": [0.95],
                           "max_loading_pu": [1.0], "grid": ["grids/two/"]})
    evs = pd.DataFrame({"ev_id": [f"E{k}" for k in range(n)], "transformer_id": "T1",
                        "arrival": "2026-11-27T18:30:00+08:00", "departure": "2026-11-28T07:00:00+08:00",
                        "energy_kwh": ev_kw, "max_power_kw": ev_kw, "min_power_kw": 0.0, "phase": phase})
    idx = pd.date_range(HORIZON["start"], periods=24, freq="60min")
    base = pd.DataFrame({"slot_start": [s.isoformat() for s in idx], "transformer_id": "T1", "load_kw": base_kw})
    return write_scenario(folder, yaml_overrides={"horizon": HORIZON, **({"grid": grid} if grid else {})},
                          transformers=trafos, evs=evs, base_load=base)


def _first_count(fails, start: int = 0, stop: int = 10_000) -> int:
    return next(c for c in range(start, stop) if fails(c))


def _by_hand(rated_kva: float, length_km: float, ev_kw: float = 11.0) -> dict:
    """The first EV count failing each limit, uncontrolled, from the closed forms."""
    limit_kw = rated_kva * 0.95
    load = lambda c: BASE_KW + ev_kw * c                                            # noqa: E731
    vm = lambda c: receiving_voltage_pu(load(c), 0.0, length_km, rated_kva=rated_kva)  # noqa: E731
    # unity power factor at B1: |I| = P / |V| in per unit of 1 MVA at 0.4 kV
    loading = lambda c: load(c) / 1e3 / vm(c) * (1e3 / (np.sqrt(3) * 0.4)) / IMAX_A * 100  # noqa: E731
    return {"transformer": _first_count(lambda c: load(c) > limit_kw + 1e-6),
            "voltage": _first_count(lambda c: vm(c) < V_MIN_PU - 1e-9),
            "line": _first_count(lambda c: loading(c) > 100.0 + 1e-6)}


@pytest.mark.parametrize("rated_kva, length_km, first", [(250.0, 0.5, "voltage"), (100.0, 0.1, "transformer")])
def test_uncontrolled_first_limit_matches_the_closed_forms(tmp_path, rated_kva, length_km, first):
    sc = _scenario(tmp_path / "s", rated_kva=rated_kva, length_km=length_km)
    s = grid_searches(hosting.restrict_to_transformer(sc, "T1"), "T1", ["uncontrolled"])["uncontrolled"]
    hand = _by_hand(rated_kva, length_km)
    assert min(hand, key=hand.get) == first                   # the case is what its name says
    for lim in ("transformer", "voltage", "line"):
        assert s.fail_evs[lim] == hand[lim], lim
        assert s.pass_evs[lim] == hand[lim] - 1 and s.resolved[lim]
    assert s.fail_evs["unbalance"] is None                    # three-phase chargers: balanced
    assert s.first_limits == (first,) and s.first_fail_evs == hand[first] and s.hosted_evs() == hand[first] - 1


def test_the_transformer_count_is_the_transformer_only_studys(tmp_path):
    sc = _scenario(tmp_path / "s", rated_kva=100.0, length_km=0.1)
    result = hosting.run_hosting(sc, ["T1"], ["uncontrolled"])
    row = result.table.iloc[0]
    assert row.status == "ok", row.error
    assert row.uncontrolled_transformer_fail_evs == row.uncontrolled_fail_evs
    assert row.uncontrolled_grid_first_limit == "transformer"
    lim = result.grid_limits.set_index("limit")
    assert lim.loc["transformer", "first"] and not lim.loc["voltage", "first"]
    assert (result.grid_levels.policy == "uncontrolled").all() and result.grid_levels.n_evs.is_unique
    from vpp_sched.studies.report import render_hosting_report

    html = render_hosting_report(result)
    assert "Limits of the LV grid" in html and "<td>transformer</td>" in html


def test_added_evs_placed_by_the_seeded_rule_and_nested(tmp_path):
    sc = _scenario(tmp_path / "s", rated_kva=250.0, length_km=0.5, ev_kw=7.0, phase="abc")
    sc1 = hosting.restrict_to_transformer(sc, "T1")
    small, large = (grid_population(sc1, "T1", c, added_phase="spread").evs for c in (7, 12))
    assert set(small.ev_id) <= set(large.ev_id)                           # nested
    both = large.set_index("ev_id").loc[small.ev_id]
    assert (both.bus_id.to_numpy() == small.bus_id.to_numpy()).all()      # ... with the same buses and phases
    assert (both.phase.to_numpy() == small.phase.to_numpy()).all()
    added = large[~large.ev_id.isin(sc1.evs.ev_id)]
    assert (added.bus_id == "B1").all()                                   # the grid's one load bus
    assert list(added.phase) == ["a", "b", "c"] * 2 + ["a", "b"]           # round robin in the order added
    assert (large[large.ev_id.isin(sc1.evs.ev_id)].phase == "abc").all()  # today's EVs keep theirs


def test_unbalance_fails_first_when_the_added_evs_go_on_one_phase(tmp_path):
    # Today's 3 EVs three-phase; every added 7 kW charger on phase a: in the 19:00 slot the phases carry
    # x + 7 k, x, x with x = (base + 7 n) / 3, so the unbalance is 7 k / (x + 7 k).
    base, n = 120.0, 3
    sc = _scenario(tmp_path / "s", rated_kva=250.0, length_km=0.1, n=n, ev_kw=7.0, phase="abc", base_kw=base)
    sc1 = hosting.restrict_to_transformer(sc, "T1")
    x = (base + 7.0 * n) / 3
    by_hand = n + _first_count(lambda k: 7.0 * k / (x + 7.0 * k) * 100 > 15.0 + 1e-9)
    one = grid_searches(sc1, "T1", ["uncontrolled"], added_phase="a")["uncontrolled"]
    assert one.first_limits == ("unbalance",) and one.fail_evs["unbalance"] == by_hand == n + 2
    assert sc.config.grid.unbalance_max_pct == 15.0                      # the default
    loose = _scenario(tmp_path / "l", rated_kva=250.0, length_km=0.1, n=n, ev_kw=7.0, phase="abc", base_kw=base,
                      grid={"unbalance_max_pct": 40.0})
    at_40 = n + _first_count(lambda k: 7.0 * k / (x + 7.0 * k) * 100 > 40.0 + 1e-9)
    assert grid_searches(hosting.restrict_to_transformer(loose, "T1"), "T1", ["uncontrolled"],
                         added_phase="a")["uncontrolled"].fail_evs["unbalance"] == at_40 > by_hand
    spread = grid_searches(sc1, "T1", ["uncontrolled"], added_phase="spread")["uncontrolled"]
    assert spread.fail_evs["unbalance"] is None            # at most one charger more on a phase: 7 / (x + 7) < 15 %
    assert spread.first_limits != ("unbalance",)


def test_search_finds_every_limits_count_and_respects_the_budget():
    thresholds = {"transformer": 40, "line": 70, "voltage": 9, "unbalance": 10_000}

    def judge(c):
        return LimitJudgement(c, frozenset(k for k, v in thresholds.items() if c >= v))

    s = search_limits(judge, 10, "uncontrolled")
    assert {k: s.fail_evs[k] for k in ("transformer", "line", "voltage")} == {"transformer": 40, "line": 70, "voltage": 9}
    assert s.fail_evs["unbalance"] is None and s.cap_evs == 640 and s.first_limits == ("voltage",)
    cut = search_limits(judge, 10, "orderly", max_evaluations=5)
    assert cut.evaluations == 5 and cut.first_limits == ("voltage",) and not all(cut.resolved.values())
    assert cut.fail_evs["voltage"] >= 9 and cut.pass_evs["voltage"] < 9


def test_orderly_hosts_more_than_uncontrolled_within_the_grid(tmp_path):
    sc = _scenario(tmp_path / "s", rated_kva=250.0, length_km=0.5)
    result = hosting.run_hosting(sc, ["T1"], ["uncontrolled", "orderly"], max_plans=6)
    row = result.table.iloc[0]
    assert row.status == "ok", row.error
    assert row.uncontrolled_grid_first_limit == "voltage"
    assert row.orderly_grid_evs > row.uncontrolled_grid_evs        # spread over the night, the voltage holds
    lv = result.grid_levels[result.grid_levels.policy == "orderly"]
    assert len(lv) <= 6
    held = lv[lv.failed == ""]
    assert (held.lowest_vm_pu >= V_MIN_PU - 1e-6).all() and (held.unmet_by_grid_kwh <= 0.1).all()


def test_cli_writes_the_grid_tables_and_says_which_limit_fails_first(tmp_path):
    folder = _folder(tmp_path / "s", rated_kva=250.0, length_km=0.5)
    out = tmp_path / "study"
    res = CliRunner().invoke(cli_app(), ["hosting", str(folder), "--out", str(out), "--policy", "uncontrolled",
                                         "--no-report", "--workers", "1"])
    assert res.exit_code == 0, res.output
    hand = _by_hand(250.0, 0.5)
    assert f"T1 uncontrolled: first fails voltage at {hand['voltage']} EVs" in res.output
    limits = pd.read_csv(out / "grid_limits.csv").set_index("limit")
    assert limits.loc["voltage", "fail_evs"] == hand["voltage"] and limits.loc["voltage", "first"]
    assert limits.loc["line", "fail_evs"] == hand["line"] and np.isnan(limits.loc["unbalance", "fail_evs"])
    assert len(pd.read_csv(out / "grid_levels.csv")) == pd.read_csv(out / "hosting.csv").uncontrolled_grid_evaluations[0]
    summary = (out / "summary.md").read_text()
    assert "## Limits of the LV grid" in summary and f"| T1 | grids/two | uncontrolled | voltage | {hand['voltage']} |" in summary
    bad = CliRunner().invoke(cli_app(), ["hosting", str(folder), "--out", str(tmp_path / "x"), "--added-phase", "d"])
    assert bad.exit_code == 2 and "--added-phase must be one of spread, a, b, c" in bad.output
    assert not (tmp_path / "x").exists()
