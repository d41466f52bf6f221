"""The solver-neutral problem: numpy arrays of sets, bounds, prices and limits.

Both model builds (the readable Pyomo model in :mod:`vpp_sched.model` and the lean
highspy build) consume a :class:`Problem`; neither reads a scenario file. Index order is
fixed: EVs ``e``, transformers ``n``, feeders ``f``, stations ``s``, batteries ``b``,
DR events ``k``, slots ``t``. Power is positive when drawn from the grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from vpp_sched.problem.phases import PhaseLimits
from vpp_sched.problem.sites import Sites


@dataclass(frozen=True)
class GridCuts:
    """Rows ``sum_e coef · (ev_power_kw[e, slot] - ev_discharge_kw[e, slot]) - slack <= rhs_kw`` of the
    ``grid_voltage`` (``kind`` "voltage") and ``grid_line`` ("line") families (``models/lv_grid.md``).

    Attributes (shapes in brackets; C rows, Z coefficients)
    ----------
    kind : [C] "voltage" or "line"; slot : [C] slot of each row; rhs_kw : [C] [kW]
    row, ev, coef : [Z] row, EV and coefficient of each entry, the sensitivity of the limited
        quantity to that EV's power scaled so the row's largest is 1 [-]
    label : [C] what each row limits (``T13 LV2.101 Bus 57``), for messages
    """

    kind: np.ndarray
    slot: np.ndarray
    rhs_kw: np.ndarray
    row: np.ndarray
    ev: np.ndarray
    coef: np.ndarray
    label: np.ndarray

    def of_kind(self, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Rows of one family: their slots and rhs, and the entries (position among them, EV, coef)."""
        mine = np.flatnonzero(self.kind == kind)
        pos = np.full(len(self.kind), -1)
        pos[mine] = np.arange(len(mine))
        at = pos[self.row] >= 0
        return self.slot[mine], self.rhs_kw[mine], pos[self.row[at]], self.ev[at], self.coef[at]

    def restricted(self, evs: np.ndarray, n_evs: int) -> GridCuts | None:
        """The rows all of whose EVs are among ``evs`` (indices of ``n_evs``), EVs renumbered in that order
        (a grid lies below one transformer, so a block of transformers holds its rows whole)."""
        local = np.full(n_evs, -1)
        local[np.asarray(evs, dtype=np.int64)] = np.arange(len(evs))
        outside = np.unique(self.row[local[self.ev] < 0])
        keep = np.setdiff1d(np.arange(len(self.kind)), outside)
        if not len(keep):
            return None
        new = np.full(len(self.kind), -1)
        new[keep] = np.arange(len(keep))
        at = new[self.row] >= 0
        return GridCuts(kind=self.kind[keep], slot=self.slot[keep], rhs_kw=self.rhs_kw[keep], row=new[self.row[at]],
                        ev=local[self.ev[at]], coef=self.coef[at], label=self.label[keep])


@dataclass(frozen=True)
class Problem:
    """Arrays of one day-ahead planning problem.

    Attributes (shapes in brackets)
    ----------
    slots : DatetimeIndex [T], timezone-aware slot starts
    dt_h : slot length [h]
    price_cny_per_kwh : [T] energy price of grid imports [CNY/kWh]
    transformer_ids : [N]
    limit_kw : [N] usable active power, rated_kva * power_factor * max_loading_pu [kW]
    rating_kw : [N] rated_kva * power_factor, the 1.0 pu loading [kW]
    base_load_kw : [N, T] uncontrolled load forecast [kW]
    transformer_feeder : [N] index into feeder_ids, -1 when on no modelled feeder
    feeder_ids : [F]; feeder_capacity_kw : [F] [kW]
    ev_ids : [E]; ev_transformer : [E] index into transformer_ids
    ev_energy_kwh : [E] energy wanted by departure, at the charger [kWh]
    ev_max_power_kw, ev_min_power_kw : [E] charger limits; min > 0 makes on/off binary [kW]
    ev_available : [E, T] bool, plugged in for the whole slot
    station_ids : [S]; station_transformer : [S]; pv_kw : [S, T] AC forecast [kW]
    battery_station : [B] index into station_ids; battery_* : [B] parameters
    event_ids : [K]; event_slots : [K, T] bool; event_scope : [K, N] bool
    event_sign : [K] +1 peak shaving (net <= baseline - target), -1 valley filling (net >= baseline + target)
    event_cap_kw : [K, T] right-hand side of ``sign * net - shortfall <= sign * baseline - target`` [kW]
    event_baseline_kw : [K, T]; event_reduction_kw : [K] the requested change (target) [kW]
    event_price_cny_per_kwh, event_penalty_cny_per_kwh : [K] [CNY/kWh]
    ev_v2g : [E] bool, the EV may discharge to the grid (vehicle-to-grid); empty = none does
    ev_max_discharge_kw, ev_battery_kwh, ev_soc_arrival_kwh : [E] V2G limits, battery size and
        energy stored at arrival (read for V2G EVs only) [kW, kWh]
    v2g_charge_efficiency, v2g_discharge_efficiency : charger-to-battery and battery-to-grid [-]
    v2g_degradation_cny_per_kwh : battery wear per kWh discharged to the grid [CNY/kWh]
    ramp_penalty_cny_per_kw : price of each transformer's largest slot-to-slot rise of EV power;
        0 leaves the ramp families out of the model [CNY/kW]
    sites : swap and fast-charging stations (:class:`~vpp_sched.problem.sites.Sites`), or None
    slot_month : [T] index into demand_months of each slot's local calendar month
    demand_months : [M] the horizon's months, ``"2026-11"``
    demand_cny_per_kw_month : [N, M] demand charge of a new monthly peak, 0 off the two-part tariff
        or where exempt (:mod:`vpp_sched.problem.demand`) [CNY/kW/month]
    demand_exempt : [N, M] bool, a charging facility's exempt month (reported, not charged)
    demand_so_far_kw : [N] the month's peak before the horizon (its first month; later ones start at 0) [kW]
    grid_cuts : the LV grids' linearised voltage and line limits (:class:`GridCuts`; empty = none)
    phases : per-phase limits and the unbalance limit of the transformers with a grid
        (:class:`~vpp_sched.problem.phases.PhaseLimits`; None = no phase rows)
    unbalance_penalty_cny_per_kwh : price of ``unbalance_slack_kw`` [CNY/kWh]
    """

    slots: pd.DatetimeIndex
    dt_h: float
    price_cny_per_kwh: np.ndarray
    transformer_ids: np.ndarray
    limit_kw: np.ndarray
    rating_kw: np.ndarray
    base_load_kw: np.ndarray
    transformer_feeder: np.ndarray
    feeder_ids: np.ndarray
    feeder_capacity_kw: np.ndarray
    ev_ids: np.ndarray
    ev_transformer: np.ndarray
    ev_energy_kwh: np.ndarray
    ev_max_power_kw: np.ndarray
    ev_min_power_kw: np.ndarray
    ev_available: np.ndarray
    station_ids: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    station_transformer: np.ndarray = field(default_factory=lambda: np.array([], dtype=int))
    pv_kw: np.ndarray | None = None
    battery_station: np.ndarray = field(default_factory=lambda: np.array([], dtype=int))
    battery_capacity_kwh: np.ndarray = field(default_factory=lambda: np.array([]))
    battery_max_charge_kw: np.ndarray = field(default_factory=lambda: np.array([]))
    battery_max_discharge_kw: np.ndarray = field(default_factory=lambda: np.array([]))
    battery_charge_efficiency: np.ndarray = field(default_factory=lambda: np.array([]))
    battery_discharge_efficiency: np.ndarray = field(default_factory=lambda: np.array([]))
    battery_soc_min_kwh: np.ndarray = field(default_factory=lambda: np.array([]))
    battery_soc_max_kwh: np.ndarray = field(default_factory=lambda: np.array([]))
    battery_soc_initial_kwh: np.ndarray = field(default_factory=lambda: np.array([]))
    battery_soc_final_min_kwh: np.ndarray = field(default_factory=lambda: np.array([]))
    event_ids: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    event_slots: np.ndarray | None = None
    event_scope: np.ndarray | None = None
    event_baseline_kw: np.ndarray | None = None
    event_reduction_kw: np.ndarray = field(default_factory=lambda: np.array([]))
    event_sign: np.ndarray = field(default_factory=lambda: np.array([], dtype=float))
    event_price_cny_per_kwh: np.ndarray = field(default_factory=lambda: np.array([]))
    event_penalty_cny_per_kwh: np.ndarray = field(default_factory=lambda: np.array([]))
    ev_v2g: np.ndarray = field(default_factory=lambda: np.array([], dtype=bool))
    ev_max_discharge_kw: np.ndarray = field(default_factory=lambda: np.array([]))
    ev_battery_kwh: np.ndarray = field(default_factory=lambda: np.array([]))
    ev_soc_arrival_kwh: np.ndarray = field(default_factory=lambda: np.array([]))
    v2g_charge_efficiency: float = 0.95
    v2g_discharge_efficiency: float = 0.95
    v2g_degradation_cny_per_kwh: float = 0.05
    unmet_penalty_cny_per_kwh: float = 1000.0
    overload_penalty_cny_per_kwh: float = 5000.0
    early_charging_cny_per_kwh: float = 1e-4
    switch_on_cny: float = 1e-3
    ramp_penalty_cny_per_kw: float = 0.0
    sites: Sites | None = None   # swap and fast-charging stations (vpp_sched.problem.sites); None = none
    slot_month: np.ndarray = field(default_factory=lambda: np.array([], dtype=int))
    demand_months: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    demand_cny_per_kw_month: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    demand_exempt: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=bool))
    demand_so_far_kw: np.ndarray = field(default_factory=lambda: np.array([]))
    grid_cuts: GridCuts | None = None
    phases: PhaseLimits | None = None
    unbalance_penalty_cny_per_kwh: float = 3.0

    # sizes -------------------------------------------------------------------------------
    @property
    def n_slots(self) -> int:
        return len(self.slots)

    @property
    def n_evs(self) -> int:
        return len(self.ev_ids)

    @property
    def n_transformers(self) -> int:
        return len(self.transformer_ids)

    @property
    def n_feeders(self) -> int:
        return len(self.feeder_ids)

    @property
    def n_stations(self) -> int:
        return len(self.station_ids)

    @property
    def n_batteries(self) -> int:
        return len(self.battery_station)

    @property
    def n_events(self) -> int:
        return len(self.event_ids)

    @property
    def ev_binary(self) -> np.ndarray:
        """[E] bool: EVs whose charger has a minimum power, so on/off is a decision."""
        return self.ev_min_power_kw > 0

    @property
    def ev_is_v2g(self) -> np.ndarray:
        """[E] bool: EVs that may discharge (all False when the V2G columns are not given)."""
        v2g = np.asarray(self.ev_v2g, dtype=bool)
        return v2g if len(v2g) == self.n_evs else np.zeros(self.n_evs, dtype=bool)

    @property
    def has_v2g(self) -> bool:
        return bool(self.ev_is_v2g.any())

    @property
    def v2g_round_trip(self) -> float:
        """Charger energy needed to put back 1 kWh discharged to the grid: 1 / (eta_c * eta_d) [-]."""
        return 1.0 / (self.v2g_charge_efficiency * self.v2g_discharge_efficiency)

    @property
    def event_cap_kw(self) -> np.ndarray:
        """[K, T] right-hand side of the event row ``sign * net - shortfall <= sign * baseline - target`` [kW]."""
        sign = self.event_sign if len(self.event_sign) == self.n_events else np.ones(self.n_events)
        return sign[:, None] * self.event_baseline_kw - self.event_reduction_kw[:, None]

    def event_signs(self) -> np.ndarray:
        """[K] +1 peak shaving, -1 valley filling (+1 when not given)."""
        return self.event_sign if len(self.event_sign) == self.n_events else np.ones(self.n_events)

    def pv_at_transformer_kw(self) -> np.ndarray:
        """[N, T] PV forecast summed per transformer [kW]."""
        out = np.zeros((self.n_transformers, self.n_slots))
        if self.pv_kw is not None and self.n_stations:
            np.add.at(out, self.station_transformer, self.pv_kw)
        return out

    def relaxation(self) -> Problem:
        """The LP relaxation's problem: no minimum power (on/off is then no decision) and no start-up
        tie-break; start costs are >= 0, so its optimum is still a lower bound of this problem's."""
        return replace(self, ev_min_power_kw=np.zeros(self.n_evs), switch_on_cny=0.0)

    @property
    def has_ramp(self) -> bool:
        """The model prices EV ramps (``ev_max_rise_kw`` and the ``ev_rise`` rows exist)."""
        return self.ramp_penalty_cny_per_kw > 0 and self.n_slots > 1

    def max_rise_kw(self, ev_kw: np.ndarray) -> np.ndarray:
        """[N] each transformer's largest slot-to-slot rise of EV power ``ev_kw`` [N, T] (0 if none) [kW]."""
        if self.n_slots < 2:
            return np.zeros(len(ev_kw))
        return np.maximum(np.diff(ev_kw, axis=1).max(axis=1), 0.0)

    def export_big_m_kw(self) -> np.ndarray:
        """[N, T] the most a transformer can export with no storage discharging: PV above base load [kW].

        The smallest big-M of ``battery_export``/``ev_export``: with every battery and V2G EV off
        discharging, the net load is at least base load - PV (EVs and battery charging add load,
        curtailment adds back PV)."""
        return np.maximum(self.pv_at_transformer_kw() - np.asarray(self.base_load_kw, dtype=float), 0.0)

    def dr_compensation_cny(self) -> float:
        """The full DR compensation ``sum_k price_k * dt * red_k * |T_k|``, a constant the solver's
        objective leaves out (it prices only the shortfall) [CNY]."""
        return float((self.event_price_cny_per_kwh * self.event_reduction_kw
                      * self.event_slots.sum(axis=1)).sum() * self.dt_h) if self.n_events else 0.0

    def slot_weight(self) -> np.ndarray:
        """[T] tie-break weight 0..1 rising over the horizon, so earlier charging wins ties [-]."""
        return np.arange(self.n_slots) / max(self.n_slots - 1, 1)

    @property
    def has_demand_charge(self) -> bool:
        """Some transformer pays a demand charge (``new_peak_kw`` and the ``demand_peak`` rows exist)."""
        price = np.asarray(self.demand_cny_per_kw_month, dtype=float)
        return price.shape == (self.n_transformers, len(self.demand_months)) and bool((price > 0).any())
