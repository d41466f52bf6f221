"""Tests of the seeded scenario generator and the bundled zezhou-demo scenario."""

from __future__ import annotations

import datetime as dt
import gzip
import importlib.util
import io
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from vpp_sched.scenario import synthetic as syn
from vpp_sched.scenario import synthetic_base_load as syn_base
from vpp_sched.scenario import synthetic_common as syn_common
from vpp_sched.scenario import synthetic_sessions as syn_sessions
from vpp_sched.scenario.config import ScenarioConfig, check_periods_cover_day

ROOT = Path(__file__).resolve().parents[2]
START = "2026-11-27T12:00:00+08:00"
FILES = ("scenario.yaml", "transformers.csv", "feeders.csv", "base_load.csv", "evs.csv")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthetic") / "s"
    return syn.generate_scenario(out, transformers=23, evs=700, stations=2, dr_event=True, min_power="iec", seed=7)


def _config(folder: Path) -> ScenarioConfig:
    return ScenarioConfig.model_validate(yaml.safe_load((folder / "scenario.yaml").read_text(encoding="utf-8")))


def _whole_slots(evs: pd.DataFrame, start: str, slot_minutes: int, slots: int) -> np.ndarray:
    """Slots an EV is plugged in for entirely: slot start >= arrival, slot end <= departure."""
    t0 = syn_common.parse_start(start)
    first = -(-syn_common.minutes_after(t0, evs["arrival"]) // slot_minutes)
    end = np.minimum(syn_common.minutes_after(t0, evs["departure"]) // slot_minutes, slots)
    return end - first


def _load_build_script():
    spec = importlib.util.spec_from_file_location("build_zezhou_demo", ROOT / "scenarios" / "build_zezhou_demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_same_seed_writes_identical_files(scenario, tmp_path):
    again = syn.generate_scenario(tmp_path / "a", transformers=23, evs=700, stations=2, dr_event=True,
                                  min_power="iec", seed=7)
    other = syn.generate_scenario(tmp_path / "b", transformers=23, evs=700, stations=2, dr_event=True,
                                  min_power="iec", seed=8)
    for name in FILES:
        assert (again / name).read_bytes() == (scenario / name).read_bytes(), name
    assert (other / "evs.csv").read_bytes() != (scenario / "evs.csv").read_bytes()


def test_scenario_validates_and_tables_match_contract(scenario):
    config = _config(scenario)
    assert config.horizon.start == dt.datetime.fromisoformat(START)
    assert (config.horizon.slots, config.horizon.slot_minutes) == (96, 15)
    assert list(pd.read_csv(scenario / "evs.csv").columns) == syn.EV_COLUMNS
    assert list(pd.read_csv(scenario / "base_load.csv").columns) == ["slot_start", "transformer_id", "load_kw"]
    transformers = pd.read_csv(scenario / "transformers.csv")
    assert {"transformer_id", "rated_kva", "power_factor", "max_loading_pu", "feeder_id"} <= set(transformers)
    assert set(transformers["rated_kva"][:23]) <= set(syn.RATINGS_KVA)
    stations = {s.transformer_id for s in config.stations}
    assert stations == {"TS01", "TS02"} and stations <= set(transformers["transformer_id"])
    assert all(100 <= s.pv.capacity_kwp <= 300 and s.battery.capacity_kwh == 200 for s in config.stations)


def test_counts_as_asked(scenario):
    transformers = pd.read_csv(scenario / "transformers.csv")
    evs = pd.read_csv(scenario / "evs.csv")
    assert len(transformers) == 23 + 2 and transformers["transformer_id"].is_unique
    assert evs["ev_id"].is_unique
    assert evs["ev_id"].str.startswith("E").sum() == 700
    assert (evs["transformer_id"].str.startswith("TS")).sum() == 2 * 25
    assert set(evs["transformer_id"]) <= set(transformers["transformer_id"])


def test_base_load_covers_every_slot_for_every_transformer(scenario):
    base = pd.read_csv(scenario / "base_load.csv")
    transformers = pd.read_csv(scenario / "transformers.csv")
    slots = syn_common.iso_times(syn_common.parse_start(START), np.arange(96) * 15)
    expected = pd.MultiIndex.from_product([transformers["transformer_id"], slots])
    got = pd.MultiIndex.from_arrays([base["transformer_id"], base["slot_start"]])
    assert got.is_unique and set(got) == set(expected)
    assert (base["load_kw"] > 0).all()
    peak = base.groupby("transformer_id")["load_kw"].max()
    share = (peak / pd.Series(syn.limit_kw(transformers), index=transformers["transformer_id"]))[:23]
    assert share.between(0.45 - 0.01, 0.65 + 0.01).all()


def test_every_ev_can_get_its_energy_in_its_whole_slot_stay(scenario):
    evs = pd.read_csv(scenario / "evs.csv")
    whole = _whole_slots(evs, START, 15, 96)
    deliverable = whole * evs["max_power_kw"] * 0.25
    assert (evs["energy_kwh"] * syn_sessions.ENERGY_MARGIN <= deliverable + 1e-6).all()
    assert (evs["energy_kwh"] >= syn_sessions.MIN_ENERGY_KWH).all()
    times = pd.concat([evs["arrival"], evs["departure"]])
    assert times.str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:00\+08:00").all()
    minutes = syn_common.minutes_after(syn_common.parse_start(START), times)
    assert minutes.min() >= 0 and minutes.max() <= 96 * 15
    assert (syn_common.minutes_after(syn_common.parse_start(START), evs["departure"])
            > syn_common.minutes_after(syn_common.parse_start(START), evs["arrival"])).all()


@pytest.mark.parametrize("min_power, expected", [
    (None, {3.5: 0.0, 7.0: 0.0, 11.0: 0.0}),
    ("iec", {3.5: 1.4, 7.0: 1.4, 11.0: 4.2}),
    (5.0, {3.5: 3.5, 7.0: 5.0, 11.0: 5.0}),
])
def test_charger_mix_and_min_power(min_power, expected):
    evs = syn_sessions.sample_home_evs(np.random.default_rng(3), 20_000, START, 96, 15, min_power=min_power)
    share = evs["max_power_kw"].value_counts(normalize=True)
    for kw, want in zip(syn_sessions.CHARGER_KW, syn_sessions.CHARGER_SHARE):
        assert share[kw] == pytest.approx(want, abs=0.015)
    for kw, minimum in expected.items():
        assert (evs.loc[evs["max_power_kw"] == kw, "min_power_kw"] == minimum).all()
    with pytest.raises(ValueError, match="min_power"):
        syn_sessions.sample_home_evs(np.random.default_rng(3), 5, START, 96, 15, min_power="6A")


def test_home_arrivals_follow_the_evening_peak():
    evs = syn_sessions.sample_home_evs(np.random.default_rng(4), 20_000, START, 96, 15)
    hours = evs["arrival"].dt.hour
    assert 0.25 < hours.between(17, 18).mean() < 0.35  # ElaadNL private weekday: 29 % at 17:00-19:00
    stay_h = (evs["departure"] - evs["arrival"]).dt.total_seconds() / 3600
    assert stay_h[hours == 18].median() > 10  # evening arrivals stay overnight


def test_tariff_periods_cover_the_day(scenario):
    check_periods_cover_day(_config(scenario).tariff.periods)
    prices = {p.price_cny_per_kwh for p in _config(scenario).tariff.periods}
    assert prices == {0.30, 0.60, 0.95}


def test_dr_event_positive_and_at_the_valley_rebound(scenario):
    (event,) = _config(scenario).dr_events
    assert event.reduction_kw > 0 and event.scope == "all" and event.baseline == "uncontrolled"
    assert event.start.isoformat() == "2026-11-27T23:00:00+08:00"
    assert event.end.isoformat() == "2026-11-28T01:00:00+08:00"
    assert event.notified_at.isoformat() == "2026-11-26T12:00:00+08:00"
    assert event.price_cny_per_kwh == 3.0


def test_feeders_can_bind(scenario):
    transformers = pd.read_csv(scenario / "transformers.csv")
    feeders = pd.read_csv(scenario / "feeders.csv").set_index("feeder_id")["capacity_kw"]
    limits = pd.Series(syn.limit_kw(transformers)).groupby(transformers["feeder_id"]).sum()
    assert set(feeders.index) == set(limits.index) == {"F01", "F02", "F03"}
    assert (feeders / limits).between(0.70, 0.80 + 1e-3).all()


def test_base_load_profile_uses_matching_2016_weekday_and_scales():
    packed = (files("vpp_sched") / "data" / "simbench_base_load_kw.csv.gz").read_bytes()
    raw = pd.read_csv(io.BytesIO(gzip.decompress(packed)))
    # Friday 2026-11-27 is day 331; day 331 of 2016 is Saturday 26 November, so Friday the 25th.
    i0 = raw.index[raw["slot_start"] == "2016-11-25T12:00"][0]
    expected = raw["rural1"].to_numpy()[i0:i0 + 96]
    np.testing.assert_allclose(syn_base.base_load_profile_kw("rural1", START, 96, 15), expected)
    hourly = syn_base.base_load_profile_kw("rural1", START, 24, 60)
    np.testing.assert_allclose(hourly, expected.reshape(24, 4).mean(axis=1))
    five = syn_base.base_load_profile_kw("rural1", START, 288, 5)
    np.testing.assert_allclose(five, np.repeat(expected, 3))
    assert syn_base.base_load_profile_kw("urban6", START, 96, 15, peak_kw=200.0).max() == pytest.approx(200.0)
    with pytest.raises(ValueError, match="SimBench grid"):
        syn_base.base_load_profile_kw("rural9", START, 96)


def test_uncontrolled_load_charges_from_first_whole_slot():
    evs = pd.DataFrame({"transformer_id": ["A", "B"], "arrival": ["2026-11-27T12:05:00+08:00"] * 2,
                        "departure": ["2026-11-27T14:00:00+08:00"] * 2, "energy_kwh": [4.0, 1.0],
                        "max_power_kw": [7.0, 11.0], "min_power_kw": [0.0, 0.0]})
    load = syn_sessions.uncontrolled_ev_load_kw(evs, ["A", "B"], START, 8, 15)
    # A: 7 kW in slots 1 and 2 (3.5 kWh), then 0.5 kWh in slot 3; B: 1 kWh in slot 1.
    np.testing.assert_allclose(load[0], [0, 7, 7, 2, 0, 0, 0, 0])
    np.testing.assert_allclose(load[1], [0, 4, 0, 0, 0, 0, 0, 0])


def test_large_scenario_is_vectorised(tmp_path):
    out = syn.generate_scenario(tmp_path, transformers=200, evs=10_000, stations=1, dr_event=True, seed=1,
                                feeder_size=None)
    assert not (out / "feeders.csv").exists() and _config(out).feeders is None
    assert len(pd.read_csv(out / "evs.csv")) == 10_000 + 25


def test_bundled_zezhou_demo_equals_a_fresh_build(tmp_path):
    build = _load_build_script()
    fresh = build.build(tmp_path / "zezhou-demo", verbose=False)
    bundled = ROOT / "scenarios" / "zezhou-demo"
    names = sorted(p.name for p in fresh.iterdir())
    assert names == ["base_load.csv", "evs.csv", "fast_demand.csv", "scenario.yaml", "swap_demand.csv",
                     "transformers.csv"]
    for name in names:
        assert (fresh / name).read_bytes() == (bundled / name).read_bytes(), f"regenerate {name}: see README"


def test_zezhou_demo_meets_its_sizing_goal():
    build = _load_build_script()
    _, tables, base = build.make_scenario()
    table = build.sizing_table(tables, base)
    assert build.check_sizing(table, tables["evs.csv"]) == []
    residential = table[table["transformer_id"].str.fullmatch(r"T\d\d")]
    assert len(residential) == 20 and residential["rated_kva"].between(160, 630).all()
    assert 4 <= (residential["uncontrolled_pu"] > 1).sum() <= 8
    assert 550 <= residential["evs"].sum() <= 650
    evs = tables["evs.csv"]
    assert (evs.loc[evs["transformer_id"] != "TS1", "min_power_kw"] > 0).all()
    assert 20 <= (evs["transformer_id"] == "TS1").sum() <= 30


def test_no_run_time_reads_of_shared_data():
    for path in (*(ROOT / "vpp_sched" / "scenario").glob("synthetic*.py"), ROOT / "scenarios" / "build_zezhou_demo.py"):
        assert "shared/data" not in path.read_text(encoding="utf-8")
