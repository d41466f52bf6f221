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
