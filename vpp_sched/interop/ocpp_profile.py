"""OCPP charging profiles from set-points: the options (unit, voltage, phases, ids), the limits with
the charger minimum, the schedule periods and one ``SetChargingProfile`` payload.

The rules are described in :mod:`vpp_sched.interop.ocpp`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vpp_sched.errors import InputError, VppSchedError

VERSIONS = ("1.6", "2.0.1")
UNITS = ("W", "A")
MAX_PERIODS_201 = 1024  # OCPP 2.0.1 schema: chargingSchedulePeriod maxItems
MIN_CURRENT_A = 6.0     # IEC 61851-1: the least current a charger's PWM signal allows [A per phase]


class OcppOptionError(VppSchedError):
    """An OCPP export option (version, unit, phases, voltage, ids) the export cannot use; a usage error."""


@dataclass(frozen=True)
class ProfileOptions:
    """How set-points become OCPP limits.

    Attributes
    ----------
    unit : ``W`` (power) or ``A`` (current per phase)
    voltage_v : phase-to-neutral voltage used to turn power into current [V]
    phases : number of phases the charger uses (1 or 3) [-]; written as ``numberPhases`` in A
    connector_id : connector (1.6) / EVSE (2.0.1) id when ``evs.csv`` has no such column [-]
    stack_level : OCPP stack level of every profile [-]
    first_profile_id : charging profile id of the first EV in ``evs.csv``; ids count up [-]
    """

    unit: str = "W"
    voltage_v: float = 230.0
    phases: int = 3
    connector_id: int = 1
    stack_level: int = 0
    first_profile_id: int = 1

    def check(self) -> None:
        """Raise :class:`OcppOptionError` naming the first bad option."""
        if self.unit not in UNITS:
            raise OcppOptionError(f"unit must be one of {', '.join(UNITS)}, not {self.unit!r}")
        if self.phases not in (1, 3):
            raise OcppOptionError(f"phases must be 1 or 3, not {self.phases}")
        if not self.voltage_v > 0:
            raise OcppOptionError(f"voltage must be positive, not {self.voltage_v}")
        for name, low in (("connector_id", 1), ("stack_level", 0), ("first_profile_id", 0)):
            if getattr(self, name) < low:
                raise OcppOptionError(f"{name} must be at least {low}, not {getattr(self, name)}")

    def limits(self, power_kw: np.ndarray) -> np.ndarray:
        """OCPP limits for powers [kW]: W to the nearest 0.1 W, or A per phase floored to 0.1 A
        (before the charger minimum, see :meth:`min_limit`)."""
        watts = np.maximum(np.asarray(power_kw, dtype=float), 0.0) * 1000.0
        if self.unit == "W":
            return np.round(watts * 10.0) / 10.0
        amps = watts / (self.voltage_v * self.phases)
        # 1e-6: a set-point that is a whole 0.1 A step up to CSV round-off keeps its step.
        return np.floor(amps * 10.0 + 1e-6) / 10.0

    def min_limit(self, min_power_kw: float) -> float:
        """The least non-zero limit of a charger for an EV with ``min_power_kw`` [kW], in the unit:
        A: max(6 A, min_power_kw per phase); W: max(6 A x voltage_v on one phase, min_power_kw);
        rounded up to the 0.1 step."""
        ev_w = max(float(min_power_kw), 0.0) * 1000.0
        if self.unit == "W":
            least = max(MIN_CURRENT_A * self.voltage_v, ev_w)
        else:
            least = max(MIN_CURRENT_A, ev_w / (self.voltage_v * self.phases))
        # 1e-6: a minimum that is a whole 0.1 step up to round-off keeps its step.
        return math.ceil(least * 10.0 - 1e-6) / 10.0

    def charger_limits(self, power_kw: np.ndarray, min_power_kw: float,
                       may_raise: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Limits for powers [kW] with no non-zero limit below :meth:`min_limit`, and which were raised.
        ``may_raise`` [slots] (default all): where a limit below the minimum may go up to it; elsewhere
        it goes down to 0 (raising it would take a transformer over its limit, :mod:`~vpp_sched.interop.ocpp_headroom`)."""
        limits = self.limits(power_kw)
        below = self.below_minimum(limits, min_power_kw)
        raised = below if may_raise is None else below & may_raise
        return np.where(raised, self.min_limit(min_power_kw), np.where(below, 0.0, limits)), raised

    def below_minimum(self, limits: np.ndarray, min_power_kw: float) -> np.ndarray:
        """[slots] the non-zero ``limits`` (of :meth:`limits`) under the charger minimum :meth:`min_limit`."""
        return (limits > 0) & (limits < self.min_limit(min_power_kw))

    def to_kw(self, limit: float) -> float:
        """Power [kW] of one limit in this unit."""
        return limit / 1000.0 if self.unit == "W" else limit * self.voltage_v * self.phases / 1000.0


@dataclass
class Session:
    """One EV's rows of the plan: slot starts (UTC seconds), set-points [kW] and its window."""

    ev_id: str
    row: int                 # 0-based position in evs.csv
    slot_start_s: np.ndarray  # int64 epoch seconds, sorted
    power_kw: np.ndarray
    valid_from_s: int
    valid_to_s: int
    delivered_kwh: float     # the plan's charging energy at the charger (charged_kwh for a V2G EV)
    connector_id: int
    transaction_id: str | None
    discharged_kwh: float = 0.0   # V2G discharge the profile cannot carry
    min_power_kw: float = 0.0     # the EV's least charging power when on [kW]
    may_raise: np.ndarray | None = None   # [slots] a limit below the minimum may be raised (else 0); None: all


def utc_text(seconds: int) -> str:
    """ISO 8601 UTC text of epoch seconds (time.gmtime: pandas Timestamps cost 50x more per call)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(seconds)))


def schedule_periods(slot_start_s: np.ndarray, limits: np.ndarray, slot_s: int) -> list[tuple[int, float]]:
    """``(startPeriod [s], limit)`` pairs: one per change of set-point, a 0 after the last slot.

    A gap between listed slots (not expected in a plan) is filled with a 0 period so the
    charger never carries a set-point over time the plan did not give it.
    """
    t0 = int(slot_start_s[0])
    periods: list[tuple[int, float]] = []
    end = t0
    for start, limit in zip(slot_start_s.tolist(), limits.tolist()):
        if start > end and periods and periods[-1][1] != 0.0:
            periods.append((end - t0, 0.0))
        if not periods or periods[-1][1] != limit:
            periods.append((start - t0, float(limit)))
        end = start + slot_s
    if periods[-1][1] != 0.0:
        periods.append((end - t0, 0.0))
    return periods


def periods_energy_kwh(periods: list[tuple[int, float]], end_s: int, to_kw: Callable[[float], float]) -> float:
    """Energy of a period list up to ``end_s`` seconds after its start [kWh]."""
    bounds = [p[0] for p in periods[1:]] + [end_s]
    return sum(to_kw(lim) * max(b - s, 0) / 3600.0 for (s, lim), b in zip(periods, bounds))


def profile_payload(s: Session, version: str, profile_id: int, slot_s: int, opts: ProfileOptions) -> dict:
    """The ``SetChargingProfile`` request payload of one session in OCPP ``version``."""
    periods = schedule_periods(s.slot_start_s, opts.charger_limits(s.power_kw, s.min_power_kw, s.may_raise)[0],
                               slot_s)
    rows = []
    for start, limit in periods:
        row = {"startPeriod": int(start), "limit": limit}
        if opts.unit == "A":
            row["numberPhases"] = opts.phases
        rows.append(row)
    schedule = {"startSchedule": utc_text(s.slot_start_s[0]), "chargingRateUnit": opts.unit,
                "chargingSchedulePeriod": rows}
    profile = {"stackLevel": opts.stack_level, "chargingProfilePurpose": "TxProfile",
               "chargingProfileKind": "Absolute", "validFrom": utc_text(s.valid_from_s), "validTo": utc_text(s.valid_to_s)}
    if version == "1.6":
        profile = {"chargingProfileId": profile_id, **profile, "chargingSchedule": schedule}
        if s.transaction_id is not None:
            profile["transactionId"] = int(s.transaction_id)
        return {"connectorId": s.connector_id, "csChargingProfiles": profile}
    if len(rows) > MAX_PERIODS_201:
        raise InputError([f"ev_schedule.csv (ev_id={s.ev_id}): {len(rows)} set-point changes exceed the "
                          f"{MAX_PERIODS_201} periods an OCPP 2.0.1 charging schedule may hold"])
    profile = {"id": profile_id, **profile, "chargingSchedule": [{"id": profile_id, **schedule}]}
    if s.transaction_id is not None:
        profile["transactionId"] = s.transaction_id
    return {"evseId": s.connector_id, "chargingProfile": profile}

