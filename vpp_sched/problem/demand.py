"""The demand charge of the two-part tariff (``models/tariff.md``): its problem arrays, the model's
index sets, and the new peak and charge of a plan's net load.

A site is a transformer: its net load is what the demand meter of a two-part-tariff customer reads
(a PV-storage-charging station or a swap station has its own transformer). The billed demand is a
month's largest slot-mean net load; the plan pays ``cny_per_kw_month`` for each kW that it raises the
month's peak above ``demand_so_far_kw`` (the peak already metered this month), because a new peak
stands for the whole month. Months after the horizon's first start from no peak.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vpp_sched.problem.arrays import Problem
from vpp_sched.scenario.config import DEMAND_EXEMPT_UNTIL, Tariff


def month_index(slots: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """``([T] month of each slot, [M] the months "YYYY-MM")`` by the slots' local dates."""
    key = np.asarray(slots.year * 12 + slots.month - 1, dtype=np.int64)
    months, slot_month = np.unique(key, return_inverse=True)
    labels = np.array([f"{k // 12:04d}-{k % 12 + 1:02d}" for k in months], dtype=object)
    return slot_month.astype(np.int64), labels


def demand_fields(tariff: Tariff, slots: pd.DatetimeIndex, transformer_ids: np.ndarray) -> dict:
    """The Problem fields of ``tariff.demand_charge`` (none without one).

    A charging facility is exempt in a month whose first day is on or before
    :data:`~vpp_sched.scenario.config.DEMAND_EXEMPT_UNTIL` (the horizon's dates, never the wall clock).
    """
    charge = tariff.demand_charge
    if charge is None:
        return {}
    slot_month, months = month_index(slots)
    first_days = [pd.Timestamp(f"{m}-01").date() for m in months]
    at = {tid: n for n, tid in enumerate(transformer_ids)}
    price = np.zeros((len(transformer_ids), len(months)))
    exempt = np.zeros(price.shape, dtype=bool)
    so_far = np.zeros(len(transformer_ids))
    for site in charge.sites:
        n = at.get(site.transformer_id)
        if n is None:       # a scenario cut down to some transformers (a study) keeps the whole config;
            continue        # load_scenario has checked every site against transformers.csv
        exempt[n] = [site.charging_facility and day <= DEMAND_EXEMPT_UNTIL for day in first_days]
        own = site.cny_per_kw_month if site.cny_per_kw_month is not None else charge.cny_per_kw_month
        price[n] = np.where(exempt[n], 0.0, own)
        so_far[n] = site.demand_so_far_kw
    return dict(slot_month=slot_month, demand_months=months, demand_cny_per_kw_month=price,
                demand_exempt=exempt, demand_so_far_kw=so_far)


def demand_pairs(p: Problem) -> tuple[np.ndarray, np.ndarray]:
    """``(n, m)`` of each ``new_peak_kw`` column: the charged (transformer, month) pairs, by n then m."""
    if not p.has_demand_charge:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    n, m = np.nonzero(np.asarray(p.demand_cny_per_kw_month, dtype=float) > 0)
    return n.astype(np.int64), m.astype(np.int64)


def demand_rows(p: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(n, t, pair)`` of each ``demand_peak`` row: every slot of a charged pair's month, by pair then
    slot; ``pair`` is the row's position in :func:`demand_pairs`."""
    dn, dm = demand_pairs(p)
    month = np.asarray(p.slot_month, dtype=np.int64)
    slots_of = [np.flatnonzero(month == m) for m in dm]
    pair = np.repeat(np.arange(len(dn)), [len(s) for s in slots_of])
    t = np.concatenate(slots_of) if slots_of else np.zeros(0, np.int64)
    return dn[pair], t.astype(np.int64), pair


def so_far_kw(p: Problem) -> np.ndarray:
    """[N, M] the peak each month starts from: ``demand_so_far_kw`` in the first month, 0 after [kW]."""
    out = np.zeros((p.n_transformers, len(p.demand_months)))
    if out.size:
        out[:, 0] = np.asarray(p.demand_so_far_kw, dtype=float)
    return out


def month_peak_kw(p: Problem, net_load_kw: np.ndarray) -> np.ndarray:
    """[N, M] each transformer's largest net load in each month's slots of the horizon [kW]."""
    month = np.asarray(p.slot_month, dtype=np.int64)
    return np.stack([net_load_kw[:, month == m].max(axis=1) for m in range(len(p.demand_months))], axis=1) \
        if len(p.demand_months) else np.zeros((p.n_transformers, 0))


def new_peak_kw(p: Problem, net_load_kw: np.ndarray) -> np.ndarray:
    """[N, M] how far the plan raises each month's peak above the one it starts from [kW]."""
    return np.maximum(month_peak_kw(p, net_load_kw) - so_far_kw(p), 0.0)


def demand_charge_cny(p: Problem, net_load_kw: np.ndarray) -> float:
    """The demand charge of a plan's net load [N, T]: price x new peak, summed [CNY]."""
    if not p.has_demand_charge:
        return 0.0
    return float((np.asarray(p.demand_cny_per_kw_month, dtype=float) * new_peak_kw(p, net_load_kw)).sum())


def demand_charge_records(p: Problem, net_load_kw: np.ndarray) -> list[dict]:
    """One record per (site, month) on the two-part tariff, charged or exempt, for ``kpis.json``."""
    price = np.asarray(p.demand_cny_per_kw_month, dtype=float)
    exempt = np.asarray(p.demand_exempt, dtype=bool)
    if price.shape != (p.n_transformers, len(p.demand_months)):
        return []
    peak, start, new = month_peak_kw(p, net_load_kw), so_far_kw(p), new_peak_kw(p, net_load_kw)
    return [{"transformer_id": str(p.transformer_ids[n]), "month": str(p.demand_months[m]),
             "demand_so_far_kw": float(start[n, m]), "peak_kw": float(peak[n, m]), "new_peak_kw": float(new[n, m]),
             "cny_per_kw_month": float(price[n, m]), "exempt": bool(exempt[n, m]),
             "demand_charge_cny": float(price[n, m] * new[n, m])}
            for n, m in zip(*np.nonzero((price > 0) | exempt))]
