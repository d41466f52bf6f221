"""Hand-made :class:`~vpp_sched.problem.sites.Sites` for the tiny problems of ``problem_factory``."""

from __future__ import annotations

import numpy as np

from vpp_sched.problem.queueing import min_cap_series_kw
from vpp_sched.problem.sites import Sites


def sites(n_slots: int = 8, swap: list[dict] | None = None, fast: list[dict] | None = None,
          unserved_swap_cny_per_swap: float = 10_000.0, fast_shortfall_cny_per_kwh: float = 1000.0) -> Sites:
    """Swap stations (dicts: ``transformer`` 0, ``packs`` 2, ``pack_charge_kwh`` 10, ``charge_max_kw`` 10,
    ``bay_max_kw`` 10, ``eta`` 1.0, ``initial`` 1, ``final`` 0, ``demand`` [T] swaps) and fast stations
    (``transformer`` 0, ``dispensers`` 2, ``max_kw`` 50, ``target_min`` 10, ``lam`` [T] 1/h, ``energy`` [T] kWh)."""
    swap, fast, T = swap or [], fast or [], n_slots
    col = lambda xs, k, d: np.array([x.get(k, d) for x in xs], dtype=float)  # noqa: E731
    per_slot = lambda xs, k: np.array([np.broadcast_to(np.asarray(x.get(k, 0.0), float), (T,)) for x in xs]  # noqa: E731
                                      ).reshape(len(xs), T)
    lam, energy = per_slot(fast, "lam"), per_slot(fast, "energy")
    disp, pmax, target = col(fast, "dispensers", 2).astype(int), col(fast, "max_kw", 50.0), col(fast, "target_min", 10.0) / 60
    min_cap = np.array([min_cap_series_kw(lam[g], energy[g], int(disp[g]), pmax[g], target[g])
                        for g in range(len(fast))]).reshape(len(fast), T)
    return Sites(
        swap_ids=np.array([f"W{w}" for w in range(len(swap))], dtype=object),
        swap_transformer=col(swap, "transformer", 0).astype(int), swap_packs=col(swap, "packs", 2),
        swap_pack_charge_kwh=col(swap, "pack_charge_kwh", 10.0), swap_charge_max_kw=col(swap, "charge_max_kw", 10.0),
        swap_bay_max_kw=col(swap, "bay_max_kw", 10.0), swap_bays=col(swap, "bays", 1.0), swap_efficiency=col(swap, "eta", 1.0),
        swap_initial_full=col(swap, "initial", 1.0), swap_final_full_min=col(swap, "final", 0.0),
        swap_demand=per_slot(swap, "demand"),
        fast_ids=np.array([f"G{g}" for g in range(len(fast))], dtype=object),
        fast_transformer=col(fast, "transformer", 0).astype(int), fast_dispensers=disp, fast_dispenser_max_kw=pmax,
        fast_target_wait_h=target, fast_arrivals_per_h=lam, fast_mean_energy_kwh=energy, fast_min_cap_kw=min_cap,
        unserved_swap_cny_per_swap=unserved_swap_cny_per_swap, fast_shortfall_cny_per_kwh=fast_shortfall_cny_per_kwh)


def site_scenario(folder, swap_demand=None, fast_demand=None, swap_overrides: dict | None = None,
                  fast_overrides: dict | None = None, yaml_overrides: dict | None = None):
    """A scenario folder (scenario_factory's two transformers and five EVs) with a heavy-truck swap
    station ``mine-1`` on T2 and a fast-charging station ``sa-1`` with a battery on T1, and their tables."""
    import pandas as pd

    from scenario_factory import START, write_scenario

    slots = pd.date_range(pd.Timestamp(START), periods=96, freq="15min")
    hour = slots.hour + slots.minute / 60
    text = [s.isoformat() for s in slots]
    if swap_demand is None:
        swap_demand = pd.DataFrame({"slot_start": text, "station_id": "mine-1",
                                    "swaps": np.round(1.0 + 0.6 * np.sin(hour / 24 * 2 * np.pi), 3)})
    if fast_demand is None:
        fast_demand = pd.DataFrame({"slot_start": text, "station_id": "sa-1",
                                    "arrivals_per_hour": np.round(3 + 3 * np.exp(-((hour - 18) / 3) ** 2), 3),
                                    "mean_energy_kwh": 30.0})
    swap = {"station_id": "mine-1", "transformer_id": "T2", "vehicle": "heavy_truck", "packs": 10, "pack_kwh": 282,
            "bays": 8, "bay_max_kw": 300, "charge_efficiency": 0.95, "full_soc": 0.95, "returned_soc": 0.2,
            "initial_full_packs": 6, "final_full_packs_min": 6, "demand": "swap_demand.csv", **(swap_overrides or {})}
    fast = {"station_id": "sa-1", "transformer_id": "T1", "dispensers": 6, "dispenser_max_kw": 120,
            "target_wait_min": 10, "demand": "fast_demand.csv",
            "battery": {"capacity_kwh": 400, "max_charge_kw": 200, "max_discharge_kw": 200}, **(fast_overrides or {})}
    transformers = pd.DataFrame({"transformer_id": ["T1", "T2"], "rated_kva": [800.0, 2500.0],
                                 "power_factor": [0.95, 0.95], "max_loading_pu": [1.0, 1.0]})
    return write_scenario(folder, {"swap_stations": [swap], "fast_charging_stations": [fast], **(yaml_overrides or {})},
                          transformers=transformers,
                          extra_files={"swap_demand.csv": swap_demand, "fast_demand.csv": fast_demand})
