"""``vpp-sched replay``: the day replayed slot by slot on actuals, with rolling re-plans.

Hand-checkable cases on the 16:00-24:00 hourly horizon of ``test_planner_cases`` (10 kW base load),
plus the 96-slot factory scenario for perturbed actuals, limits and determinism.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from scenario_factory import TRANSFORMERS, write_scenario
from test_planner import _base, _battery_station, _ev, _trafos, _yaml
from vpp_sched.studies.actuals import forecast_as_actuals, load_actuals, perturb_forecast
from vpp_sched.cli.replay import replay as replay_command
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.errors import InputError
from vpp_sched.studies.replay import event_table, replay_day, replay_kpis, timeline_table, write_replay
from vpp_sched.scenario.load import load_scenario

EXACT = SolverOptions(mip_rel_gap=0.0, time_limit_s=30)


def _scenario(tmp_path, evs, trafos=None, **yaml_overrides):
    trafos = _trafos(("T1", 100.0)) if trafos is None else trafos
    folder = write_scenario(tmp_path / "sc", yaml_overrides=_yaml(**yaml_overrides), transformers=trafos,
                            evs=pd.DataFrame(evs), base_load=_base(trafos))
    return load_scenario(folder)


def _actuals_with(sc, **changes):
    """Forecast actuals with some EVs' fields changed: ``E1={"arrival": "17:00"}``."""
    actuals = forecast_as_actuals(sc)
    evs = actuals.evs.set_index("ev_id")
    for ev_id, fields in changes.items():
        for col, value in fields.items():
            if col in ("arrival", "departure"):
                value = pd.Timestamp(f"2026-11-27T{value}" if "T" not in value else value, tz=sc.tz)
            evs.loc[ev_id, col] = value
    return type(actuals)(evs=evs.reset_index(), base_load_kw=actuals.base_load_kw, source="test")


def _delivered(replay, run="replanned") -> dict:
    return dict(zip(replay.context.fleet.ev_ids, np.round(replay.runs[run].delivered_kwh, 6)))


def test_forecast_as_actuals_replays_the_day_ahead_plan(tmp_path):
    evs = [_ev("E1", energy=12.0, pmax=5.0, pmin=1.4), _ev("E2", "T2", arrival="18:00", energy=8.0, pmax=3.0),
           _ev("E3", "T2", arrival="17:00", departure="21:00", energy=6.0, pmax=7.0, pmin=4.0)]
    sc = _scenario(tmp_path, evs, trafos=_trafos(("T1", 20.0), ("T2", 100.0)),
                   stations=_battery_station(soc_initial=0.5, soc_final_min=0.5))
    r = replay_day(sc, forecast_as_actuals(sc), replan_every=1, options=EXACT)
    line = timeline_table(r)
    assert np.allclose(line.actual_kw, line.planned_kw, atol=1e-6)
    assert np.allclose(r.runs["replanned"].soc_kwh, r.day_ahead_solution.battery_soc_kwh, atol=1e-6)
    k = replay_kpis(r)
    assert k["replanned"]["decision_points"] == 7 and k["replanned"]["replans"] == 0  # nothing new: plan kept
    assert k["replanned"]["unmet_energy_kwh"] == 0.0
    # Re-planning anyway (nothing new) keeps the cost: the tail of an optimal plan is optimal.
    again = replay_day(sc, forecast_as_actuals(sc), replan_every=1, options=EXACT, skip_unchanged=False)
    assert replay_kpis(again)["replanned"]["replans"] == 7
    assert replay_kpis(again)["replanned"]["grid_energy_cost_cny"] == pytest.approx(
        k["day_ahead_only"]["grid_energy_cost_cny"], abs=1e-6)


def test_late_unexpected_and_missing_evs(tmp_path):
    # 16:00 is the cheapest hour, then 17:00: the day-ahead plan charges E1 at 16:00 and 17:00.
    tariff = {"periods": [{"start": "00:00", "end": "17:00", "price_cny_per_kwh": 0.5},
                          {"start": "17:00", "end": "18:00", "price_cny_per_kwh": 0.7},
                          {"start": "18:00", "end": "24:00", "price_cny_per_kwh": 0.9}]}
    sc = _scenario(tmp_path, [_ev("E1", departure="19:00", energy=10.0, pmax=5.0),
                              _ev("E3", arrival="18:00", energy=5.0, pmax=5.0)], tariff=tariff)
    folder = tmp_path / "actual"
    folder.mkdir()
    pd.DataFrame({"ev_id": ["E1", "E2"], "transformer_id": ["", "T1"],
                  "arrival": ["2026-11-27T17:00", "2026-11-27T20:00"],
                  "departure": ["2026-11-27T19:00", "2026-11-27T23:00"],
                  "energy_kwh": [10.0, 6.0], "max_power_kw": ["", "3.0"]}).to_csv(folder / "evs.csv", index=False)
    r = replay_day(sc, load_actuals(folder, sc), replan_every=0)
    assert r.decisions == {1: ["arrival E1"], 4: ["arrival E2"]}
    assert _delivered(r) == {"E1": 10.0, "E3": 0.0, "E2": 6.0}   # re-planned at each arrival
    assert _delivered(r, "day_ahead_only") == {"E1": 5.0, "E3": 0.0, "E2": 0.0}
    table = write_replay(r, tmp_path / "out") / "evs.csv"
    evs = pd.read_csv(table, keep_default_na=False).set_index("ev_id")
    assert evs.status.to_dict() == {"E1": "expected", "E3": "no_show", "E2": "unexpected"}
    assert evs.requested_kwh.to_dict() == {"E1": 10.0, "E3": 0.0, "E2": 6.0}
    assert evs.unmet_kwh.sum() == 0.0


def _short_notice(target_kw: float) -> dict:
    return {"event_id": "DR1", "start": "2026-11-27T19:00:00+08:00", "end": "2026-11-27T21:00:00+08:00",
            "notified_at": "2026-11-27T17:00:00+08:00", "scope": "all", "target_kw": target_kw,
            "baseline": "uncontrolled", "price_cny_per_kwh": 2.0}


# The event's hours are the cheapest: the day-ahead plan charges E1 in them.
EVENING = {"periods": [{"start": "00:00", "end": "19:00", "price_cny_per_kwh": 0.9},
                       {"start": "19:00", "end": "21:00", "price_cny_per_kwh": 0.3},
                       {"start": "21:00", "end": "24:00", "price_cny_per_kwh": 0.6}]}


def test_short_notice_event_delivered_after_its_notice(tmp_path):
    # Uncontrolled, E1 charges 5 kW at 19:00 and 20:00: baseline 15 kW, cap 12 kW.
    sc = _scenario(tmp_path, [_ev("E1", arrival="19:00", energy=10.0, pmax=5.0)], dr_events=[_short_notice(3.0)],
                   tariff=EVENING)
    r = replay_day(sc, forecast_as_actuals(sc), replan_every=0)
    assert r.day_ahead.n_events == 0                       # notified after the day-ahead plan
    assert r.decisions == {1: ["notice DR1"]}
    slots = event_table(r.context.problem, r.runs["replanned"].net_load_kw)
    assert slots.baseline_kw.tolist() == pytest.approx([15.0, 15.0])
    assert (slots.compliance_pct >= 95.0).all() and (slots.shortfall_kw <= 1e-6).all()
    assert replay_kpis(r)["replanned"]["unmet_energy_kwh"] == 0.0
    unaware = event_table(r.context.problem, r.runs["day_ahead_only"].net_load_kw)
    assert unaware.compliance_pct.tolist() == pytest.approx([0.0, 0.0])   # the day-ahead plan charged then
    line = timeline_table(r).set_index(["scope", "slot_start"]).loc["all"]
    assert line.target_kw.notna().sum() == 2 and line.event_id.tolist().count("DR1") == 2


def test_infeasible_event_reports_shortfall_per_slot(tmp_path):
    # Cap 15 - 8 = 7 kW is below the 10 kW base load: at best 5 kW delivered, 3 kW short per slot.
    sc = _scenario(tmp_path, [_ev("E1", arrival="19:00", energy=10.0, pmax=5.0)], dr_events=[_short_notice(8.0)],
                   tariff=EVENING)
    r = replay_day(sc, forecast_as_actuals(sc), replan_every=0)
    slots = event_table(r.context.problem, r.runs["replanned"].net_load_kw)
    assert slots.shortfall_kw.tolist() == pytest.approx([3.0, 3.0])
    assert slots.compliance_pct.tolist() == pytest.approx([62.5, 62.5])
    k = replay_kpis(r)
    assert k["replanned"]["dr_events"][0]["penalty_cny"] == pytest.approx(5.0 * 3.0 * 2)
    assert any("DR events short" in w for w in k["warnings"])
    out = write_replay(r, tmp_path / "out")
    assert pd.read_csv(out / "dr_events.csv").shortfall_kw.tolist() == pytest.approx([3.0, 3.0])


@pytest.mark.slow
@pytest.mark.parametrize("replan_every", [1, 8])
def test_replayed_load_within_limits_unless_reported(tmp_path, replan_every):
    trafos = TRANSFORMERS.assign(rated_kva=[20.0, 160.0])   # T1 too small for its EVs at night
    sc = load_scenario(write_scenario(tmp_path / "sc", transformers=trafos))
    r = replay_day(sc, perturb_forecast(sc, seed=3), replan_every=replan_every)
    line = timeline_table(r)
    over = line[line.limit_kw.notna() & (line.actual_kw > line.limit_kw + 1e-4)]
    k = replay_kpis(r)
    assert k["replanned"]["overload_slots"] == len(over)
    for tid in over.scope.unique():
        assert any(f"transformer {tid} above its limit" in w for w in k["warnings"])
    if replan_every == 1:       # every slot planned with its actual base load: never above the limit
        assert len(over) == 0
    else:                       # stale set-points between re-plans, each slot fitted to the metered headroom by
        # the slot controller (models/uncertainty.md): any slot over is reported (above); which of the
        # two planned runs overloads more depends on the day (on this one now: none), so only that both
        # stay well below uncontrolled charging is asserted
        assert k["replanned"]["overload_slots"] < k["uncontrolled"]["overload_slots"] / 2
        assert k["day_ahead_only"]["overload_slots"] < k["uncontrolled"]["overload_slots"] / 2
    assert k["uncontrolled"]["overload_slots"] > 0


def _cli(*args):
    app = typer.Typer()
    app.command()(replay_command)
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output + result.stderr
    return result


def _files(folder) -> dict:
    out = {}
    for path in sorted(folder.rglob("*.*")):
        text = path.read_text()
        if path.name == "kpis.json":
            text = json.dumps(_without_timings(json.loads(text)))
        out[str(path.relative_to(folder))] = text
    return out


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if not k.endswith("_seconds")}
    return value


@pytest.mark.slow
def test_cli_same_seed_same_files_and_actuals_round_trip(tmp_path):
    folder = write_scenario(tmp_path / "sc")
    _cli(folder, "--out", tmp_path / "a", "--seed", 5, "--replan-every", 8)
    _cli(folder, "--out", tmp_path / "b", "--seed", 5, "--replan-every", 8)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    _cli(folder, "--out", tmp_path / "c", "--seed", 6, "--replan-every", 8)
    assert _files(tmp_path / "c")["actuals/evs.csv"] != _files(tmp_path / "a")["actuals/evs.csv"]
    # The written actuals replay the same day.
    _cli(folder, "--out", tmp_path / "d", "--actuals", tmp_path / "a" / "actuals", "--replan-every", 8)
    assert _files(tmp_path / "d")["timeline.csv"] == _files(tmp_path / "a")["timeline.csv"]
    assert set(pd.read_csv(tmp_path / "a" / "timeline.csv").columns) >= {
        "slot_start", "scope", "baseline_kw", "target_kw", "planned_kw", "actual_kw"}


def test_perturbation_keeps_stays_and_pv(tmp_path):
    sc = load_scenario(write_scenario(tmp_path / "sc"))
    a, b = perturb_forecast(sc, seed=1), perturb_forecast(sc, seed=1)
    pd.testing.assert_frame_equal(a.evs, b.evs)
    assert (a.evs.departure - a.evs.arrival >= pd.Timedelta(minutes=15)).all()
    assert (a.evs.energy_kwh >= 0).all() and not a.evs.energy_kwh.equals(sc.evs.energy_kwh)
    assert a.pv_kw is None and a.base_load_kw.shape == sc.base_load_kw.shape


def test_bad_actuals_name_row_and_field(tmp_path):
    sc = load_scenario(write_scenario(tmp_path / "sc"))
    folder = tmp_path / "actual"
    folder.mkdir()
    pd.DataFrame({"ev_id": ["E1", "X9"], "arrival": ["2026-11-27T18:00", "2026-11-27T18:00"],
                  "departure": ["2026-11-27T17:00", "2026-11-27T20:00"], "energy_kwh": [5, 5]}).to_csv(
        folder / "evs.csv", index=False)
    with pytest.raises(InputError) as exc:
        load_actuals(folder, sc)
    text = "\n".join(exc.value.problems)
    assert "row 1 (ev_id=E1): departure" in text
    assert "row 2 (ev_id=X9): transformer_id is empty" in text and "row 2 (ev_id=X9): max_power_kw" in text


def test_replay_repeats_on_a_slow_machine_and_a_missed_deadline(tmp_path, monkeypatch):
    # Re-plans are bounded by work (nodes), not by the clock: a solver slowed down and a controller
    # deadline of 1 ms (missed by every re-plan) give the same files, apart from timings. Before,
    # the deadline was the re-plans' HiGHS time limit and cut them where the machine's speed fell.
    import time as time_module

    import vpp_sched.solve.highs as highs_module

    folder = write_scenario(tmp_path / "sc")
    _cli(folder, "--out", tmp_path / "a", "--seed", 2, "--replan-every", 8)
    real_run = highs_module.run_highs

    def slow_run(h):
        time_module.sleep(0.005)
        return real_run(h)

    monkeypatch.setattr(highs_module, "run_highs", slow_run)
    _cli(folder, "--out", tmp_path / "b", "--seed", 2, "--replan-every", 8, "--replan-time-limit", 0.001)
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    ka, kb = (json.loads((tmp_path / x / "kpis.json").read_text()) for x in "ab")
    assert kb["replanned"]["replans"] > 0
    assert kb["replanned"]["replans_over_deadline"] == kb["replanned"]["replans"]
    assert not any("wall-clock" in w for w in kb["warnings"])
    for k in (ka, kb):
        k.pop("replan_deadline_s")
        for name in ("replanned", "day_ahead_only", "uncontrolled"):
            k[name].pop("replans_over_deadline")
    assert _without_timings(ka) == _without_timings(kb)
    assert {n: t for n, t in a.items() if n != "kpis.json"} == {n: t for n, t in b.items() if n != "kpis.json"}


def test_day_ahead_kpis_give_the_gap_of_the_printed_objective(tmp_path):
    # An event known day ahead: the solver's objective includes the DR compensation (2 CNY/kWh x 3 kW
    # x 2 h = 12 CNY), the printed one subtracts it, as the plan's kpis do; the gap is of the printed
    # numbers. Before, day_ahead gave the solver's objective and gap (a gap 2-3x too small on a DR day).
    event = dict(_short_notice(3.0), notified_at="2026-11-26T12:00:00+08:00")
    sc = _scenario(tmp_path, [_ev("E1", arrival="19:00", energy=10.0, pmax=5.0)], dr_events=[event],
                   tariff=EVENING)
    r = replay_day(sc, forecast_as_actuals(sc), replan_every=0)
    day = replay_kpis(r)["day_ahead"]
    assert r.day_ahead.n_events == 1
    assert day["objective_cny"] == pytest.approx(r.day_ahead_solution.objective_cny - 12.0)
    assert day["bound_cny"] == pytest.approx(r.day_ahead_solution.bound_cny - 12.0)
    assert day["mip_gap"] == pytest.approx(abs(day["objective_cny"] - day["bound_cny"])
                                           / max(abs(day["objective_cny"]), 1e-9))
