"""DR events: baselines from history, valley filling, the plan baseline, per-event reporting."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from problem_factory import check_solution, tiny_problem
from test_planner import _base, _ev, _trafos, run
from vpp_sched.forecast.baselines import beijing_baseline_kw, jiangsu_baseline_kw, pre_event_baseline_kw
from vpp_sched.scenario.config import DREvent, SolverOptions
from vpp_sched.errors import InputError
from vpp_sched.model.lean import build_lean
from vpp_sched.solve.highs import solve_lean_model
from vpp_sched.plan.output import write_plan
from vpp_sched.solve.dispatch import solve_pyomo

TZ = "Asia/Shanghai"
SLOTS = pd.date_range("2026-11-27 18:00", periods=4, freq="60min", tz=TZ)  # a Friday evening
MASK = np.array([True, True, False, False])


def _history(days: int = 15) -> pd.Series:
    """Hourly history: on the d-th day before 2026-11-27 the load is 100 + d kW all day, + hour/100."""
    idx = pd.date_range("2026-11-27", periods=days * 24, freq="-60min", tz=TZ)[1:]
    idx = idx.sort_values()
    days_before = (pd.Timestamp("2026-11-27", tz=TZ) - idx.normalize()).days
    return pd.Series(100.0 + days_before + idx.hour / 100, index=idx)


def _event(**kw) -> DREvent:
    spec = {"event_id": "DR1", "start": "2026-11-27T18:00:00+08:00", "end": "2026-11-27T20:00:00+08:00",
            "notified_at": "2026-11-26T12:00:00+08:00", "target_kw": 5.0}
    spec.update(kw)
    return DREvent.model_validate(spec)


def test_jiangsu_mean_of_five_working_days_before_notice():
    base = jiangsu_baseline_kw(_history(), _event(baseline="jiangsu_5d"), SLOTS, MASK, TZ)
    # notice on Thu 26th: working days before it are Wed 25 (2 days before the 27th), Tue 24 (3),
    # Mon 23 (4), Fri 20 (7), Thu 19 (8); weekends are skipped
    assert base[0] == pytest.approx(100 + np.mean([2, 3, 4, 7, 8]) + 0.18)
    assert base[1] == pytest.approx(100 + np.mean([2, 3, 4, 7, 8]) + 0.19)


def test_beijing_highest_five_of_ten():
    base = beijing_baseline_kw(_history(), _event(baseline="beijing_5of10"), SLOTS, MASK, TZ)
    # ten working days before the 26th: 2,3,4,7,8,9,10,11,14,15 days before; the highest loads are the oldest
    assert base[0] == pytest.approx(100 + np.mean([9, 10, 11, 14, 15]) + 0.18)


def test_pre_event_from_history_and_missing_history():
    hist = pd.Series([50.0, 60.0], index=pd.DatetimeIndex(["2026-11-27 17:30", "2026-11-27 17:45"]).tz_localize(TZ))
    base = pre_event_baseline_kw(hist, np.zeros(4), _event(baseline="pre_event_15min"), SLOTS, MASK, TZ)
    assert base[0] == pytest.approx(60.0)  # only 17:45-18:00 lies in the 15 minutes before
    with pytest.raises(InputError, match="pre_event_15min"):
        pre_event_baseline_kw(None, np.zeros(4), _event(baseline="pre_event_15min"), SLOTS, MASK, TZ)
    short = _history(3)
    with pytest.raises(InputError, match="complete day"):
        jiangsu_baseline_kw(short, _event(baseline="jiangsu_5d"), SLOTS, MASK, TZ)


def test_reduction_kw_is_the_old_name_of_target():
    assert _event(target_kw=None, reduction_kw=7.0).target == 7.0
    with pytest.raises(ValueError, match="exactly one"):
        _event(reduction_kw=7.0)


EVENT = {"event_id": "V1", "kind": "valley_filling", "start": "2026-11-27T18:00:00+08:00",
         "end": "2026-11-27T20:00:00+08:00", "scope": "all", "target_kw": 5.0, "price_cny_per_kwh": 2.0,
         "baseline": "plan"}


@pytest.mark.parametrize("method", ["lean", "pyomo"])
def test_valley_filling_raises_load_in_dear_hours(tmp_path, method):
    # Without the event (the baseline) the EV charges after 20:00 at 0.3; the event pays 2.0 for 5 kW
    # more at 18-20, worth more than the 0.6 CNY/kWh the dearer hours cost.
    r = run(tmp_path, method, [_ev(energy=10.0, pmax=5.0, arrival="18:00")], dr_events=[EVENT])
    ev = r.plan.dr_events
    assert ev.kind.tolist() == ["valley_filling"] * 2
    assert ev.delivered_kw.tolist() == pytest.approx([5.0, 5.0])
    assert ev.shortfall_kw.max() == pytest.approx(0.0, abs=1e-6)
    summary = r.plan.events.set_index("event_id").loc["V1"]
    assert summary.compliance_pct == pytest.approx(100.0)
    assert summary.revenue_cny == pytest.approx(2.0 * 5.0 * 2)
    assert summary.penalty_cny == pytest.approx(0.0)


def test_plan_baseline_and_station_scope(tmp_path):
    # Cheap only 20-22: the plan without the event charges 5 kW at 20:00 and 21:00 (its baseline
    # is 15 kW there); the event asks 3 kW less, so 6 kWh move to 22:00-24:00.
    tariff = {"periods": [{"start": "00:00", "end": "20:00", "price_cny_per_kwh": 0.9},
                          {"start": "20:00", "end": "22:00", "price_cny_per_kwh": 0.3},
                          {"start": "22:00", "end": "24:00", "price_cny_per_kwh": 0.9}]}
    event = {"event_id": "P1", "start": "2026-11-27T20:00:00+08:00", "end": "2026-11-27T22:00:00+08:00",
             "scope": ["S1"], "target_kw": 3.0, "baseline": "plan"}
    station = [{"station_id": "S1", "transformer_id": "T1"}]
    r = run(tmp_path, "lean", [_ev(energy=10.0, pmax=5.0, arrival="20:00")], dr_events=[event],
            stations=station, tariff=tariff)
    ev = r.plan.dr_events
    assert ev.baseline_kw.tolist() == pytest.approx([15.0, 15.0])
    assert ev.net_load_kw.tolist() == pytest.approx([12.0, 12.0])
    assert ev.shortfall_kw.max() == pytest.approx(0.0, abs=1e-6)
    out = write_plan(r.plan, tmp_path / "plan")
    events = pd.read_csv(out / "events.csv")
    assert list(events.columns[:6]) == ["event_id", "kind", "target_kw", "delivered_kw_mean", "delivered_kwh",
                                        "compliance_pct"]
    assert json.loads((out / "kpis.json").read_text())["dr_events"][0]["event_id"] == "P1"


def test_history_baseline_through_the_scenario(tmp_path):
    idx = pd.date_range("2026-11-10", "2026-11-27", freq="60min", tz=TZ, inclusive="left")
    hist = pd.DataFrame({"slot_start": [t.isoformat() for t in idx], "scope_id": "T1", "load_kw": 12.0})
    event = {"event_id": "J1", "start": "2026-11-27T18:00:00+08:00", "end": "2026-11-27T20:00:00+08:00",
             "notified_at": "2026-11-26T12:00:00+08:00", "target_kw": 4.0, "baseline": "jiangsu_5d"}
    r = run(tmp_path, "lean", [_ev(energy=10.0)], dr_events=[event], load_history="history.csv",
            extra_files={"history.csv": hist})
    ev = r.plan.dr_events
    assert ev.baseline_kw.tolist() == pytest.approx([12.0, 12.0])
    # base load 10 kW: 2 kW below the baseline, 2 kW short of the 4 kW target
    assert ev.shortfall_kw.tolist() == pytest.approx([2.0, 2.0])


def test_valley_row_same_in_both_builds():
    p = tiny_problem(events=[{"slots": (2, 4), "reduction": 3.0, "baseline": 1.0, "price": 1.0}],
                     evs=[{"energy": 6.0, "pmin": 2.0}])
    p = dataclasses.replace(p, event_sign=np.array([-1.0]))
    options = SolverOptions(mip_rel_gap=1e-7)
    lean = solve_lean_model(build_lean(p), p, options)
    ref = solve_pyomo(p, options)
    check_solution(p, lean)
    assert lean.objective_cny == pytest.approx(ref.objective_cny, abs=1e-6)
    net = lean.net_load_kw.sum(axis=0)
    assert (net[2:4] + lean.dr_shortfall_kw[0, 2:4] >= 4.0 - 1e-6).all()
