"""The sites' part of a sampled day: swap demand and fast-charging arrivals (models/uncertainty.md).

Drawn by :func:`vpp_sched.scenario.sampling.sample_day` after every other draw of the day, so adding
them left the EV, base-load, PV and DR draws of every ``(seed, day)`` as they were. Per station, swap
stations first, then fast-charging stations, each in ``scenario.yaml`` order:

- swap station: a stationary AR(1) relative error ``e`` per slot (``swap_demand_error_sd``,
  ``swap_demand_error_ar1``), then the slot's swaps ``~ Poisson(swaps x max(1 + e, 0))``: whole swaps,
  mean the forecast (up to the clip), variance ``swaps + swaps^2 sd^2``;
- fast-charging station: ``arrivals_per_hour x max(1 + e, 0)`` with its own AR(1) error
  (``fast_arrivals_error_sd``, ``fast_arrivals_error_ar1``), 0.001 /h; the arrivals within a slot are
  Poisson at that rate anyway (the queue's simulation draws them), ``mean_energy_kwh`` as forecast.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vpp_sched.scenario.uncertainty import Uncertainty


def sample_site_demand(scenario, u: Uncertainty, rng: np.random.Generator, ar1_noise) -> dict:
    """``{station_id: DataFrame [slots x demand columns]}``: the sampled demand tables of the day's sites,
    like ``Scenario.site_demand`` (empty without swap or fast-charging stations). ``ar1_noise`` is
    :func:`vpp_sched.scenario.sampling.ar1_noise` (passed in: the sampler imports this module)."""
    demand = scenario.site_demand or {}
    cfg, T = scenario.config, len(scenario.slots)
    out: dict[str, pd.DataFrame] = {}
    for st in cfg.swap_stations:
        table = demand[st.station_id].copy()
        factor = np.maximum(1.0 + ar1_noise(rng, 1, T, u.swap_demand_error_sd, u.swap_demand_error_ar1)[0], 0.0)
        table["swaps"] = rng.poisson(table.swaps.to_numpy(float) * factor).astype(float)
        out[st.station_id] = table
    for st in cfg.fast_charging_stations:
        table = demand[st.station_id].copy()
        factor = np.maximum(1.0 + ar1_noise(rng, 1, T, u.fast_arrivals_error_sd, u.fast_arrivals_error_ar1)[0], 0.0)
        table["arrivals_per_hour"] = np.round(table.arrivals_per_hour.to_numpy(float) * factor, 3)
        out[st.station_id] = table
    return out
