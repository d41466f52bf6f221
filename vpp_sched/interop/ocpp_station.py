"""OCPP station-wide limits of the fast-charging stations: the plan's power cap per slot
(``fast_charging.csv`` ``power_cap_kw``) as one absolute profile per station.

OCPP 1.6 ``SetChargingProfile`` on connector 0 with purpose ``ChargePointMaxProfile``; OCPP 2.0.1
on EVSE 0 with ``ChargingStationMaxProfile``: the charging station shares the cap among its
dispensers itself. The limit is in W (a station-wide current per phase says little at a DC
station), rounded *down* to OCPP's 0.1 step so the station never draws more than the plan gave its
transformer. The last cap holds until ``validTo`` (the horizon's end); after it the station's own
default applies. The EVs at a fast-charging station arrive unplanned, so there is no ``TxProfile``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from vpp_sched.errors import InputError
from vpp_sched.plan.read_plan import find_plan_table, read_plan_table


def _utc(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(seconds)))


def station_periods(limits_w: np.ndarray, slot_s: int) -> list[tuple[int, float]]:
    """``(startPeriod [s], limit [W])`` with one period per change of cap (no closing 0)."""
    out: list[tuple[int, float]] = []
    for i, limit in enumerate(limits_w.tolist()):
        if not out or out[-1][1] != limit:
            out.append((i * slot_s, float(limit)))
    return out


def station_payloads(folder: Path | str, version: str, slot_s: int, stack_level: int = 0,
                     first_profile_id: int = 1_000_000) -> dict[str, dict]:
    """``{station_id: request}`` of a plan folder's ``fast_charging.csv`` (empty without the file).

    Profile ids count up from ``first_profile_id``, apart from the EVs' (which start at 1)."""
    if find_plan_table(folder, "fast_charging") is None:
        return {}
    table = read_plan_table(folder, "fast_charging", ["station_id", "slot_start", "power_cap_kw"])
    try:
        starts = pd.to_datetime(table.slot_start, utc=True)
    except (ValueError, KeyError) as exc:
        raise InputError([f"fast_charging.csv: not a plan's table ({exc})"]) from None
    out = {}
    for k, (sid, rows) in enumerate(table.groupby("station_id", sort=False)):
        cap = rows.power_cap_kw.to_numpy(float)
        if not np.isfinite(cap).all() or (cap < 0).any():
            raise InputError([f"fast_charging.csv (station_id={sid}): power_cap_kw must be numbers >= 0"])
        first = int(starts[rows.index[0]].timestamp())
        limits = np.array([math.floor(c * 10_000 + 1e-6) / 10 for c in cap])    # W, down to 0.1 W
        periods = [{"startPeriod": s, "limit": v} for s, v in station_periods(limits, slot_s)]
        schedule = {"startSchedule": _utc(first), "chargingRateUnit": "W", "chargingSchedulePeriod": periods}
        pid = first_profile_id + k
        profile = {"stackLevel": stack_level, "chargingProfileKind": "Absolute", "validFrom": _utc(first),
                   "validTo": _utc(first + len(cap) * slot_s)}
        if version == "1.6":
            out[sid] = {"connectorId": 0, "csChargingProfiles": {
                "chargingProfileId": pid, **profile, "chargingProfilePurpose": "ChargePointMaxProfile",
                "chargingSchedule": schedule}}
        else:
            out[sid] = {"evseId": 0, "chargingProfile": {
                "id": pid, **profile, "chargingProfilePurpose": "ChargingStationMaxProfile",
                "chargingSchedule": [{"id": pid, **schedule}]}}
    return out
