"""Pyomo model of ``models/day_ahead.md``: one ``define_*`` function per constraint family.

Indices are integers into the :class:`~vpp_sched.problem.arrays.Problem` arrays; ids are attached
when results are written. This is the readable reference; :mod:`vpp_sched.model.lean` builds the
same matrix with numpy for speed, with a function of the same name per family
(:mod:`vpp_sched.model.lean_families`), and a test keeps the two equal.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyomo.environ as pyo

from vpp_sched.model import day_ahead_phases as phases
from vpp_sched.model import day_ahead_sites as sites
from vpp_sched.problem.arrays import Problem
from vpp_sched.problem.demand import demand_pairs, so_far_kw


def create_model(problem: Problem, relax_integrality: bool = False) -> pyo.ConcreteModel:
    """The day-ahead MILP: sets, variables, constraints, objective, in that order."""
    m = pyo.ConcreteModel(name="day_ahead")
    m.problem = problem  # read by the results layer; never mutated
    define_sets(m, problem)
    define_ev_power(m, problem, relax_integrality)
    define_v2g(m, problem, relax_integrality)
    define_ev_energy(m, problem)
    define_stations(m, problem, relax_integrality)
    sites.define_swap_stations(m, problem)
    sites.define_fast_charging(m, problem)
    define_transformer(m, problem)
    define_feeders(m, problem)
    define_batteries(m, problem)
    define_dr_events(m, problem)
    define_ev_ramp(m, problem)
    define_storage_export(m, problem)
    define_demand_charge(m, problem)
    define_grid_limits(m, problem)
    phases.define_phase_limits(m, problem)
    define_objective(m, problem)
    return m


def define_sets(m: pyo.ConcreteModel, p: Problem) -> None:
    """Index sets; ``EVT`` holds only the (EV, slot) pairs in which the EV is plugged in."""
    m.T = pyo.RangeSet(0, p.n_slots - 1)
    m.E = pyo.RangeSet(0, p.n_evs - 1)
    m.N = pyo.RangeSet(0, p.n_transformers - 1)
    m.F = pyo.RangeSet(0, p.n_feeders - 1)
    m.S = pyo.RangeSet(0, p.n_stations - 1)
    m.B = pyo.RangeSet(0, p.n_batteries - 1)
    m.K = pyo.RangeSet(0, p.n_events - 1)
    pairs = [tuple(map(int, x)) for x in np.argwhere(p.ev_available)]
    m.EVT = pyo.Set(initialize=pairs, dimen=2, ordered=True)
    binary = p.ev_binary
    m.EVT_bin = pyo.Set(initialize=[(e, t) for e, t in pairs if binary[e]], dimen=2, ordered=True)
    v2g = p.ev_is_v2g
    m.EVT_v2g = pyo.Set(initialize=[(e, t) for e, t in pairs if v2g[e]], dimen=2, ordered=True)
    # Lookups for sums: slots of each EV, EVs plugged in per (transformer, slot).
    m._slots_of_ev = defaultdict(list)
    m._evs_at = defaultdict(list)
    for e, t in pairs:
        m._slots_of_ev[e].append(t)
        m._evs_at[int(p.ev_transformer[e]), t].append(e)
    m.KT = pyo.Set(initialize=[(k, int(t)) for k in range(p.n_events) for t in np.flatnonzero(p.event_slots[k])]
                   if p.n_events else [], dimen=2, ordered=True)
    has_station = np.zeros(p.n_transformers, dtype=bool)
    has_station[p.station_transformer] = True
    # Reverse flow beyond the limit needs a station (PV, battery) or a base load below -limit:
    # without a station the net load is never below the base load (storage does not export).
    base = np.asarray(p.base_load_kw, dtype=np.float64).reshape(p.n_transformers, -1)
    reverse = has_station | (base < -np.asarray(p.limit_kw, dtype=np.float64)[:, None]).any(axis=1)
    m.N_reverse = pyo.Set(initialize=[int(n) for n in np.flatnonzero(reverse)], ordered=True)


def define_ev_power(m: pyo.ConcreteModel, p: Problem, relax: bool) -> None:
    """``ev_power_kw`` within the stay; ``pmin·on <= p <= pmax·on`` and start-ups where ``pmin > 0``."""
    m.ev_power_kw = pyo.Var(m.EVT, bounds=lambda m, e, t: (0.0, float(p.ev_max_power_kw[e])))
    m.ev_on = pyo.Var(m.EVT_bin, domain=pyo.UnitInterval if relax else pyo.Binary)
    m.ev_start = pyo.Var(m.EVT_bin, bounds=(0.0, 1.0))
    m.ev_min_power = pyo.Constraint(
        m.EVT_bin, rule=lambda m, e, t: m.ev_power_kw[e, t] - float(p.ev_min_power_kw[e]) * m.ev_on[e, t] >= 0)
    m.ev_max_power = pyo.Constraint(
        m.EVT_bin, rule=lambda m, e, t: m.ev_power_kw[e, t] - float(p.ev_max_power_kw[e]) * m.ev_on[e, t] <= 0)

    def start_up(m, e, t):
        previous = m.ev_on[e, t - 1] if (e, t - 1) in m.EVT_bin else 0
        return m.ev_start[e, t] - m.ev_on[e, t] + previous >= 0

    m.ev_start_up = pyo.Constraint(m.EVT_bin, rule=start_up)


def define_v2g(m: pyo.ConcreteModel, p: Problem, relax: bool) -> None:
    """V2G EVs: discharge, battery energy ``ev_soc[e,t]`` within ``[0, battery_kwh]``, and a mode
    binary so an EV never charges and discharges in the same slot (as ``define_batteries``)."""
    eta_c, eta_d, dt = p.v2g_charge_efficiency, p.v2g_discharge_efficiency, p.dt_h
    m.ev_discharge_kw = pyo.Var(m.EVT_v2g, bounds=lambda m, e, t: (0.0, float(p.ev_max_discharge_kw[e])))
    m.ev_soc_kwh = pyo.Var(m.EVT_v2g, bounds=lambda m, e, t: (0.0, float(p.ev_battery_kwh[e])))
    m.ev_v2g_mode = pyo.Var(m.EVT_v2g, domain=pyo.UnitInterval if relax else pyo.Binary)
    previous_slot, last = {}, {}
    for e, t in m.EVT_v2g:   # the stay's slots in order; the first starts from soc_arrival
        previous_slot[e, t] = last.get(e)
        last[e] = t

    def soc(m, e, t):
        before = previous_slot[e, t]
        previous = m.ev_soc_kwh[e, before] if before is not None else float(p.ev_soc_arrival_kwh[e])
        return (m.ev_soc_kwh[e, t] - previous - eta_c * dt * m.ev_power_kw[e, t]
                + dt / eta_d * m.ev_discharge_kw[e, t] == 0)

    m.ev_soc = pyo.Constraint(m.EVT_v2g, rule=soc)
    m.ev_charge_mode = pyo.Constraint(m.EVT_v2g, rule=lambda m, e, t: (
        m.ev_power_kw[e, t] - float(p.ev_max_power_kw[e]) * m.ev_v2g_mode[e, t] <= 0))
    m.ev_discharge_mode = pyo.Constraint(m.EVT_v2g, rule=lambda m, e, t: (
        m.ev_discharge_kw[e, t] + float(p.ev_max_discharge_kw[e]) * m.ev_v2g_mode[e, t]
        <= float(p.ev_max_discharge_kw[e])))


def define_ev_energy(m: pyo.ConcreteModel, p: Problem) -> None:
    """``ev_energy[e]``: sum_t (ev_power_kw - ev_discharge_kw / (eta_c·eta_d))·dt + ev_unmet_kwh = energy_e."""
    m.ev_unmet_kwh = pyo.Var(m.E, bounds=lambda m, e: (0.0, float(p.ev_energy_kwh[e])))
    back = p.v2g_round_trip   # charger energy that puts back 1 kWh discharged to the grid

    def energy(m, e):
        charged = sum(m.ev_power_kw[e, t] for t in m._slots_of_ev[e]) * p.dt_h
        discharged = sum(m.ev_discharge_kw[e, t] for t in m._slots_of_ev[e] if (e, t) in m.EVT_v2g) * p.dt_h
        return charged - back * discharged + m.ev_unmet_kwh[e] == float(p.ev_energy_kwh[e])

    m.ev_energy = pyo.Constraint(m.E, rule=energy)


def define_stations(m: pyo.ConcreteModel, p: Problem, relax: bool) -> None:
    """PV curtailment and battery power variables (the battery constraints are in ``define_batteries``)."""
    pv = p.pv_kw if p.pv_kw is not None else np.zeros((p.n_stations, p.n_slots))
    m.pv_curtail_kw = pyo.Var(m.S, m.T, bounds=lambda m, s, t: (0.0, float(pv[s, t])))
    m.battery_charge_kw = pyo.Var(m.B, m.T, bounds=lambda m, b, t: (0.0, float(p.battery_max_charge_kw[b])))
    m.battery_discharge_kw = pyo.Var(m.B, m.T, bounds=lambda m, b, t: (0.0, float(p.battery_max_discharge_kw[b])))
    m.battery_soc_kwh = pyo.Var(m.B, m.T, bounds=lambda m, b, t: (float(p.battery_soc_min_kwh[b]),
                                                                 float(p.battery_soc_max_kwh[b])))
    m.battery_mode = pyo.Var(m.B, m.T, domain=pyo.UnitInterval if relax else pyo.Binary)


def define_transformer(m: pyo.ConcreteModel, p: Problem) -> None:
    """Net load balance, limit (both directions where reverse flow can pass it), grid import."""
    m.net_load_kw = pyo.Var(m.N, m.T, domain=pyo.Reals)
    m.grid_import_kw = pyo.Var(m.N, m.T, domain=pyo.NonNegativeReals)
    m.overload_kw = pyo.Var(m.N, m.T, domain=pyo.NonNegativeReals)
    pv = p.pv_at_transformer_kw()
    stations_at = defaultdict(list)
    for s, n in enumerate(p.station_transformer):
        stations_at[int(n)].append(s)
    batteries_at = defaultdict(list)
    for b, s in enumerate(p.battery_station):
        batteries_at[int(p.station_transformer[s])].append(b)

    def balance(m, n, t):
        ev = sum(m.ev_power_kw[e, t] - (m.ev_discharge_kw[e, t] if (e, t) in m.EVT_v2g else 0)
                 for e in m._evs_at.get((n, t), ()))
        bat = sum(m.battery_charge_kw[b, t] - m.battery_discharge_kw[b, t] for b in batteries_at[n])
        curtail = sum(m.pv_curtail_kw[s, t] for s in stations_at[n])
        return (m.net_load_kw[n, t] - ev - bat - curtail - sites.site_load(m, p, n, t)
                == float(p.base_load_kw[n, t] - pv[n, t]))

    m.transformer_balance = pyo.Constraint(m.N, m.T, rule=balance)
    m.transformer_limit = pyo.Constraint(
        m.N, m.T, rule=lambda m, n, t: m.net_load_kw[n, t] - m.overload_kw[n, t] <= float(p.limit_kw[n]))
    m.transformer_reverse_limit = pyo.Constraint(
        m.N_reverse, m.T, rule=lambda m, n, t: m.net_load_kw[n, t] + m.overload_kw[n, t] >= -float(p.limit_kw[n]))
    m.grid_import = pyo.Constraint(m.N, m.T, rule=lambda m, n, t: m.grid_import_kw[n, t] - m.net_load_kw[n, t] >= 0)


def define_feeders(m: pyo.ConcreteModel, p: Problem) -> None:
    """``feeder_limit[f,t]``: sum of the feeder's transformer net loads <= capacity + slack."""
    m.feeder_overload_kw = pyo.Var(m.F, m.T, domain=pyo.NonNegativeReals)
    members = {f: [int(n) for n in np.flatnonzero(p.transformer_feeder == f)] for f in range(p.n_feeders)}
    m.feeder_limit = pyo.Constraint(m.F, m.T, rule=lambda m, f, t: (
        sum(m.net_load_kw[n, t] for n in members[f]) - m.feeder_overload_kw[f, t]
        <= float(p.feeder_capacity_kw[f])))


def define_batteries(m: pyo.ConcreteModel, p: Problem) -> None:
    """SOC recursion soc(t) = soc(t-1) + (eta_c·ch - dis/eta_d)·dt; a mode binary forbids ch and dis together."""
    dt = p.dt_h

    def soc(m, b, t):
        previous = m.battery_soc_kwh[b, t - 1] if t > 0 else float(p.battery_soc_initial_kwh[b])
        return (m.battery_soc_kwh[b, t] - previous
                - float(p.battery_charge_efficiency[b]) * dt * m.battery_charge_kw[b, t]
                + dt / float(p.battery_discharge_efficiency[b]) * m.battery_discharge_kw[b, t] == 0)

    m.battery_soc = pyo.Constraint(m.B, m.T, rule=soc)
    m.battery_charge_mode = pyo.Constraint(m.B, m.T, rule=lambda m, b, t: (
        m.battery_charge_kw[b, t] - float(p.battery_max_charge_kw[b]) * m.battery_mode[b, t] <= 0))
    m.battery_discharge_mode = pyo.Constraint(m.B, m.T, rule=lambda m, b, t: (
        m.battery_discharge_kw[b, t] + float(p.battery_max_discharge_kw[b]) * m.battery_mode[b, t]
        <= float(p.battery_max_discharge_kw[b])))
    last = p.n_slots - 1
    m.battery_final_soc = pyo.Constraint(m.B, rule=lambda m, b: (
        m.battery_soc_kwh[b, last] >= float(p.battery_soc_final_min_kwh[b])))


def define_dr_events(m: pyo.ConcreteModel, p: Problem) -> None:
    """``dr_event_cap[k,t]``: sign·(scope load) - shortfall <= sign·baseline - target, in event slots.

    sign = +1 for peak shaving (stay below the baseline), -1 for valley filling (stay above it).
    The scope load is its net load for peak shaving, and its net load with PV uncurtailed
    (net_load_kw - pv_curtail_kw of its stations) for valley filling: curtailed PV never counts as
    response (models/dr_events.md).
    """
    sign = p.event_signs()
    cap = p.event_cap_kw if p.n_events else None
    # No upper bound: a baseline below the base load alone must not make the day infeasible.
    m.dr_shortfall_kw = pyo.Var(m.KT, domain=pyo.NonNegativeReals)
    scope = {k: [int(n) for n in np.flatnonzero(p.event_scope[k])] for k in range(p.n_events)}
    stations = {k: [s for s, n in enumerate(p.station_transformer) if sign[k] < 0 and p.event_scope[k][n]]
                for k in range(p.n_events)}   # valley filling: the scope's curtailment is taken out

    def row(m, k, t):
        load = sum(m.net_load_kw[n, t] for n in scope[k]) - sum(m.pv_curtail_kw[s, t] for s in stations[k])
        return float(sign[k]) * load - m.dr_shortfall_kw[k, t] <= float(cap[k, t])

    m.dr_event_cap = pyo.Constraint(m.KT, rule=row)


def define_ev_ramp(m: pyo.ConcreteModel, p: Problem) -> None:
    """``ev_rise[n,t]``: ev_max_rise_kw[n] - ev_kw[n,t] + ev_kw[n,t-1] >= 0 for t >= 1, with the
    expression ev_kw[n,t] = sum_e (ev_power_kw - ev_discharge_kw) behind n. Only when the ramp is priced.

    ``ev_kw`` is read off the transformer balance: net_load_kw[n,t] - sum_b (ch - dis) - sum_s
    curtail - (base - pv)[n,t], a few terms instead of every EV behind n (the same rows, fewer entries)."""
    ramp = p.has_ramp
    m.N_ramp = pyo.Set(initialize=range(p.n_transformers) if ramp else [], ordered=True)
    m.ev_max_rise_kw = pyo.Var(m.N_ramp, domain=pyo.NonNegativeReals)
    rest_kw = p.base_load_kw - p.pv_at_transformer_kw()       # [N, T] base load less PV
    stations_at, batteries_at = defaultdict(list), defaultdict(list)
    for s, n in enumerate(p.station_transformer):
        stations_at[int(n)].append(s)
    for b, s in enumerate(p.battery_station):
        batteries_at[int(p.station_transformer[s])].append(b)
    m.ev_kw = pyo.Expression(m.N_ramp, m.T, rule=lambda m, n, t: (
        m.net_load_kw[n, t] - float(rest_kw[n, t])
        - sum(m.battery_charge_kw[b, t] - m.battery_discharge_kw[b, t] for b in batteries_at[n])
        - sum(m.pv_curtail_kw[s, t] for s in stations_at[n]) - sites.site_load(m, p, n, t)))   # sites: not EV power
    m.ev_rise = pyo.Constraint([(n, t) for n in m.N_ramp for t in range(1, p.n_slots)], rule=lambda m, n, t: (
        m.ev_max_rise_kw[n] - m.ev_kw[n, t] + m.ev_kw[n, t - 1] >= 0))


def define_storage_export(m: pyo.ConcreteModel, p: Problem) -> None:
    """A battery or V2G EV discharges only while its transformer would import with its PV uncurtailed
    (export earns nothing): ``battery_export[b,t]``: net_load_kw[n,t] - sum_s pv_curtail_kw[s,t] +
    M[n,t]·battery_mode[b,t] >= 0, ``ev_export[e,t]`` the same with ev_v2g_mode[e,t];
    M = max(PV - base load, 0) (``export_big_m_kw``)."""
    big_m = p.export_big_m_kw()
    bat_n = [int(p.station_transformer[s]) for s in p.battery_station]
    stations_at = defaultdict(list)
    for s, n in enumerate(p.station_transformer):
        stations_at[int(n)].append(s)

    def row(m, n, t, mode):
        curtail = sum(m.pv_curtail_kw[s, t] for s in stations_at[n])
        big = float(big_m[n, t])    # a zero big-M leaves the mode out of the row (as the lean build)
        return m.net_load_kw[n, t] - curtail + (big * mode if big else 0) >= 0

    m.battery_export = pyo.Constraint(m.B, m.T, rule=lambda m, b, t: row(m, bat_n[b], t, m.battery_mode[b, t]))
    m.ev_export = pyo.Constraint(m.EVT_v2g, rule=lambda m, e, t: (
        row(m, int(p.ev_transformer[e]), t, m.ev_v2g_mode[e, t])))


def define_demand_charge(m: pyo.ConcreteModel, p: Problem) -> None:
    """``demand_peak[n,t]``: new_peak_kw[n,m] - net_load_kw[n,t] >= -so_far_kw[n,m] with m the month of
    slot t, for the charged (transformer, month) pairs (``models/tariff.md``); the objective prices
    new_peak_kw at demand_cny_per_kw_month. Only when some transformer pays a demand charge."""
    pairs = list(zip(*(map(int, ix) for ix in demand_pairs(p)))) if p.has_demand_charge else []
    m.NM_demand = pyo.Set(initialize=pairs, dimen=2, ordered=True)
    m.new_peak_kw = pyo.Var(m.NM_demand, domain=pyo.NonNegativeReals)
    start, month = so_far_kw(p), np.asarray(p.slot_month, dtype=np.int64)
    rows = [(n, t) for n, mo in pairs for t in np.flatnonzero(month == mo).tolist()]
    m.demand_peak = pyo.Constraint(rows, rule=lambda m, n, t: (
        m.new_peak_kw[n, int(month[t])] - m.net_load_kw[n, t] >= -float(start[n, int(month[t])])))


def define_grid_limits(m: pyo.ConcreteModel, p: Problem) -> None:
    """``grid_voltage[c]``, ``grid_line[c]``: sum_e coef·(ev_power_kw[e,t_c] - ev_discharge_kw[e,t_c])
    - slack[c] <= rhs[c], the LV grids' linearised limits (``models/lv_grid.md``)."""
    for kind, rows, slack in (("voltage", "grid_voltage", "grid_voltage_slack_kw"),
                              ("line", "grid_line", "grid_line_slack_kw")):
        empty = (np.zeros(0, int),) * 5
        slot, rhs, r, e, a = p.grid_cuts.of_kind(kind) if p.grid_cuts is not None else empty
        entries = defaultdict(list)
        for r_, e_, a_ in zip(r, e, a):
            entries[int(r_)].append((int(e_), float(a_)))
        idx = pyo.RangeSet(0, len(slot) - 1)
        m.add_component(f"C_{kind}", idx)
        m.add_component(slack, pyo.Var(idx, domain=pyo.NonNegativeReals))

        def row(m, c, slot=slot, rhs=rhs, entries=entries, slack=slack):
            t = int(slot[c])
            body = sum(a_ * (m.ev_power_kw[e_, t] - (m.ev_discharge_kw[e_, t] if (e_, t) in m.EVT_v2g else 0))
                       for e_, a_ in entries[c] if (e_, t) in m.EVT)
            return body - getattr(m, slack)[c] <= float(rhs[c])

        m.add_component(rows, pyo.Constraint(idx, rule=row))


def define_objective(m: pyo.ConcreteModel, p: Problem) -> None:
    """Energy cost + penalised slacks + DR shortfall + tie-breaks (see models/day_ahead.md)."""
    dt, w = p.dt_h, p.slot_weight()
    price = p.price_cny_per_kwh
    dr_cost = p.event_penalty_cny_per_kwh + p.event_price_cny_per_kwh
    m.energy_cost_cny = pyo.Expression(expr=sum(float(price[t]) * dt * m.grid_import_kw[n, t]
                                                 for n in m.N for t in m.T))
    m.objective = pyo.Objective(sense=pyo.minimize, expr=(
        m.energy_cost_cny
        + p.unmet_penalty_cny_per_kwh * sum(m.ev_unmet_kwh[e] for e in m.E)
        + p.overload_penalty_cny_per_kwh * dt * (sum(m.overload_kw[n, t] for n in m.N for t in m.T)
                                                 + sum(m.feeder_overload_kw[f, t] for f in m.F for t in m.T))
        + sum(float(dr_cost[k]) * dt * m.dr_shortfall_kw[k, t] for k, t in m.KT)
        + p.early_charging_cny_per_kwh * dt * sum(float(w[t]) * m.ev_power_kw[e, t] for e, t in m.EVT)
        + p.switch_on_cny * sum(m.ev_start[e, t] for e, t in m.EVT_bin)
        + p.v2g_degradation_cny_per_kwh * dt * sum(m.ev_discharge_kw[e, t] for e, t in m.EVT_v2g)
        + p.ramp_penalty_cny_per_kw * sum(m.ev_max_rise_kw[n] for n in m.N_ramp)
        + sum(float(p.demand_cny_per_kw_month[n, mo]) * m.new_peak_kw[n, mo] for n, mo in m.NM_demand)
        + p.overload_penalty_cny_per_kwh * dt * (sum(m.grid_voltage_slack_kw.values())
                                                 + sum(m.grid_line_slack_kw.values()))
        + sites.site_objective(m, p)
        + phases.phase_objective(m, p)))
