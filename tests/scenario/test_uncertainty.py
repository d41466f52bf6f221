"""The uncertainty model (scenario.yaml ``uncertainty:``) and its sampler (vpp_sched.scenario.sampling)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.scenario_factory import EVS, write_scenario
from vpp_sched.errors import InputError
from vpp_sched.scenario.load import load_scenario
from vpp_sched.scenario.sampling import UNANNOUNCED_PREFIX, ar1_noise, day_rng, sample_day


def _many_evs(n: int) -> pd.DataFrame:
    """``n`` copies of the factory's EVs with unique ids."""
    reps = -(-n // len(EVS))
    evs = pd.concat([EVS] * reps, ignore_index=True).iloc[:n].copy()
    evs["ev_id"] = [f"E{i}" for i in range(n)]
    return evs


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sc")
    return load_scenario(write_scenario(folder, evs=_many_evs(4000), yaml_overrides={"uncertainty": {
        "arrival_shift_sd_min": 25.0, "departure_shift_sd_min": 40.0, "energy_error_sd": 0.2,
        "no_show_probability": 0.1, "unannounced_rate": 0.05, "base_load_error_sd": 0.08,
        "base_load_error_ar1": 0.6}}))


def test_ar1_noise_has_its_spread_and_correlation():
    e = ar1_noise(np.random.default_rng(1), 4000, 96, sd=0.1, phi=0.75)
    assert e.mean() == pytest.approx(0.0, abs=2e-3)
    assert e[:, 0].std() == pytest.approx(0.1, rel=0.05)       # stationary from the first slot
    assert e[:, -1].std() == pytest.approx(0.1, rel=0.05)
    assert np.corrcoef(e[:, :-1].ravel(), e[:, 1:].ravel())[0, 1] == pytest.approx(0.75, abs=0.01)
    assert np.corrcoef(e[:, 10], e[:, 12])[0, 1] == pytest.approx(0.75 ** 2, abs=0.05)


def test_sampled_sessions_match_the_parameters(big):
    u = big.config.uncertainty
    d = sample_day(big, seed=3, day=0)
    fc = big.evs.set_index("ev_id")
    came = d.evs[~d.evs.ev_id.str.startswith(UNANNOUNCED_PREFIX)].set_index("ev_id")
    assert 1 - len(came) / len(fc) == pytest.approx(u.no_show_probability, abs=0.015)
    shift = (came.arrival - fc.loc[came.index, "arrival"]).dt.total_seconds() / 60
    assert shift.mean() == pytest.approx(0.0, abs=1.5) and shift.std() == pytest.approx(25.0, rel=0.05)
    assert (shift == shift.round()).all()                                   # whole minutes
    assert ((came.departure - came.arrival) >= pd.Timedelta(minutes=15)).all()
    factor = came.energy_kwh / fc.loc[came.index, "energy_kwh"]
    assert factor.mean() == pytest.approx(1.0, abs=0.01) and factor.std() == pytest.approx(0.2, rel=0.06)
    n_new = len(d.evs) - len(came)
    assert n_new == pytest.approx(u.unannounced_rate * len(fc), abs=4 * np.sqrt(u.unannounced_rate * len(fc)))
    assert set(d.evs.transformer_id) <= set(big.transformers.transformer_id)
    assert d.evs.ev_id.is_unique


def test_base_load_error_is_ar1_per_transformer(tmp_path):
    sc = load_scenario(write_scenario(tmp_path / "sc", yaml_overrides={"uncertainty": {
        "base_load_error_sd": 0.08, "base_load_error_ar1": 0.6, "unannounced_rate": 0.0}}))
    errors = np.concatenate([(sample_day(sc, 0, day).base_load_kw / sc.base_load_kw - 1).to_numpy().T
                             for day in range(200)])
    assert errors.std() == pytest.approx(0.08, rel=0.05)
    assert np.corrcoef(errors[:, :-1].ravel(), errors[:, 1:].ravel())[0, 1] == pytest.approx(0.6, abs=0.03)


def test_days_depend_on_seed_and_day_only(big):
    a = sample_day(big, seed=7, day=5)
    for day in range(3):          # drawing other days first changes nothing
        sample_day(big, seed=7, day=day)
    b = sample_day(big, seed=7, day=5)
    pd.testing.assert_frame_equal(a.evs, b.evs)
    pd.testing.assert_frame_equal(a.base_load_kw, b.base_load_kw)
    c = sample_day(big, seed=7, day=6)
    assert not a.base_load_kw.equals(c.base_load_kw)
    assert day_rng(7, 5).random() == day_rng(7, 5).random() != day_rng(8, 5).random()


def test_zero_spreads_give_the_forecast(tmp_path):
    zero = {k: 0.0 for k in ("arrival_shift_sd_min", "departure_shift_sd_min", "energy_error_sd",
                             "no_show_probability", "unannounced_rate", "base_load_error_sd", "pv_factor_sd")}
    sc = load_scenario(write_scenario(tmp_path / "sc", yaml_overrides={"uncertainty": zero}))
    d = sample_day(sc, 1)
    pd.testing.assert_frame_equal(d.base_load_kw, sc.base_load_kw.round(3), check_freq=False)
    assert list(d.evs.ev_id) == list(sc.evs.ev_id)
    assert (d.evs.arrival.to_numpy() == sc.evs.arrival.to_numpy()).all()
    assert d.evs.energy_kwh.tolist() == pytest.approx(sc.evs.energy_kwh.tolist())


@pytest.mark.parametrize("settings, field", [
    ({"energy_error_sd": -0.1}, "uncertainty.energy_error_sd"),
    ({"arrival_shift_sd_min": -5}, "uncertainty.arrival_shift_sd_min"),
    ({"no_show_probability": 1.5}, "uncertainty.no_show_probability"),
    ({"dr_late_notice_probability": -0.01}, "uncertainty.dr_late_notice_probability"),
    ({"base_load_error_ar1": 1.0}, "uncertainty.base_load_error_ar1"),
    ({"energy_sd": 0.1}, "uncertainty.energy_sd"),
    ({"catch_up_overload_pct": -1}, "uncertainty.catch_up_overload_pct"),
    ({"catch_up_overload_pct": 60}, "uncertainty.catch_up_overload_pct"),
])
def test_bad_settings_get_one_line_naming_the_field(tmp_path, settings, field):
    folder = write_scenario(tmp_path / "sc", yaml_overrides={"uncertainty": settings})
    with pytest.raises(InputError) as exc:
        load_scenario(folder)
    assert len(exc.value.problems) == 1
    line = exc.value.problems[0]
    assert line.startswith(f"scenario.yaml: {field}:"), line
    if field.endswith("energy_sd"):
        assert "unknown key" in line
