"""The sites in the uncertainty model: swap demand and fast-charging arrivals of a sampled day."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scenario_factory import START, write_scenario
from sites_factory import site_scenario
from vpp_sched.errors import InputError
from vpp_sched.scenario.load import load_scenario
from vpp_sched.scenario.sampling import sample_day
from vpp_sched.studies.actuals import sampled_actuals

DAYS = 200


@pytest.fixture(scope="module")
def flat(tmp_path_factory):
    """Flat forecasts: 2 swaps a slot, 10 arrivals an hour of 30 kWh; larger spreads than the defaults."""
    slots = pd.date_range(pd.Timestamp(START), periods=96, freq="15min")
    text = [s.isoformat() for s in slots]
    swaps = pd.DataFrame({"slot_start": text, "station_id": "mine-1", "swaps": 2.0})
    fast = pd.DataFrame({"slot_start": text, "station_id": "sa-1", "arrivals_per_hour": 10.0, "mean_energy_kwh": 30.0})
    folder = site_scenario(tmp_path_factory.mktemp("sc"), swap_demand=swaps, fast_demand=fast, yaml_overrides={
        "uncertainty": {"swap_demand_error_sd": 0.3, "swap_demand_error_ar1": 0.8,
                        "fast_arrivals_error_sd": 0.2, "fast_arrivals_error_ar1": 0.9}})
    sc = load_scenario(folder)
    days = [sample_day(sc, seed=5, day=d) for d in range(DAYS)]
    return sc, days


def test_swaps_are_whole_poisson_counts_around_the_perturbed_forecast(flat):
    sc, days = flat
    n = np.array([d.site_demand["mine-1"].swaps.to_numpy() for d in days])      # [days, slots]
    assert (n == np.round(n)).all() and (n >= 0).all()
    f, sd, phi = 2.0, 0.3, 0.8
    # E = f; Var = f + f^2 sd^2 (Poisson on top of the AR(1) factor); lag-1 covariance f^2 sd^2 phi
    assert n.mean() == pytest.approx(f, abs=0.04)
    assert n.var() == pytest.approx(f + f * f * sd * sd, rel=0.06)
    lag = np.corrcoef(n[:, :-1].ravel(), n[:, 1:].ravel())[0, 1]
    assert lag == pytest.approx(f * f * sd * sd * phi / (f + f * f * sd * sd), abs=0.03)


def test_fast_arrivals_carry_an_ar1_error_and_energies_stay(flat):
    sc, days = flat
    ratio = np.array([d.site_demand["sa-1"].arrivals_per_hour.to_numpy() for d in days]) / 10.0
    assert ratio.mean() == pytest.approx(1.0, abs=0.02)
    assert ratio.std() == pytest.approx(0.2, rel=0.06)
    assert np.corrcoef(ratio[:, :-1].ravel(), ratio[:, 1:].ravel())[0, 1] == pytest.approx(0.9, abs=0.02)
    assert all((d.site_demand["sa-1"].mean_energy_kwh == 30.0).all() for d in days)
    assert list(days[0].site_demand["sa-1"].index) == list(sc.slots)


def test_defaults_are_stated_and_the_day_is_a_function_of_seed_and_day(flat, tmp_path):
    sc, days = flat
    again = sample_day(sc, seed=5, day=3)
    for sid in ("mine-1", "sa-1"):
        pd.testing.assert_frame_equal(again.site_demand[sid], days[3].site_demand[sid])
    assert not days[3].site_demand["mine-1"].equals(days[4].site_demand["mine-1"])
    u = load_scenario(site_scenario(tmp_path / "d")).config.uncertainty
    assert (u.swap_demand_error_sd, u.swap_demand_error_ar1, u.fast_arrivals_error_sd,
            u.fast_arrivals_error_ar1) == (0.15, 0.9, 0.25, 0.9)


def test_the_sites_draws_come_last_so_the_rest_of_the_day_is_unchanged(flat, tmp_path):
    sc, _ = flat
    plain = load_scenario(write_scenario(tmp_path / "plain", transformers=sc.transformers[
        ["transformer_id", "rated_kva", "power_factor", "max_loading_pu"]], yaml_overrides={
        "uncertainty": sc.config.uncertainty.model_dump()}))
    with_sites, without = sample_day(sc, seed=9, day=2), sample_day(plain, seed=9, day=2)
    pd.testing.assert_frame_equal(with_sites.evs, without.evs)
    pd.testing.assert_frame_equal(with_sites.base_load_kw, without.base_load_kw)
    assert without.site_demand == {}
    # and the replay/evaluate hook: the sampled day's site demand reaches its Actuals
    assert sampled_actuals(sc, with_sites).site_demand["mine-1"] is with_sites.site_demand["mine-1"]


def test_a_bad_spread_is_one_line_naming_the_field(tmp_path):
    with pytest.raises(InputError) as err:
        load_scenario(site_scenario(tmp_path / "bad", yaml_overrides={"uncertainty": {"swap_demand_error_ar1": 1.0}}))
    assert any("uncertainty.swap_demand_error_ar1" in line for line in err.value.problems)
