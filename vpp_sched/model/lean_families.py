"""The lean build's families: one ``define_*`` per family of ``models/day_ahead.md``, as in Pyomo.

Each function adds its variables (column families) and constraints (row families) to a
:class:`~vpp_sched.model.lean_layout.LeanBuilder` with vectorised numpy over the index sets of
:func:`define_sets` (no Python loop over EVs x slots; loops only over families and the small sets of
stations and events). The names, formulas and order of the families are those of
:mod:`vpp_sched.model.day_ahead`; ``tests/model/test_builds_agree.py`` keeps the two equal. Row and
column positions passed to ``coef`` are positions within the named families.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vpp_sched.model.lean_layout import INF, LeanBuilder, grid
from vpp_sched.problem.arrays import Problem
from vpp_sched.problem.demand import demand_pairs, demand_rows, so_far_kw


@dataclass(frozen=True, eq=False)
class LeanSets:
    """Index sets and per-column data shared by the families (``define_sets`` of the Pyomo model).

    ``pe, pt``: (EV, slot) of each ``ev_power_kw`` column, sorted by EV then slot; ``q``: positions
    among them of the EVs with a minimum power (``E_bin``: ``be, bt``); ``v``: of the V2G EVs
    (``ve, vt``); ``ke, kt``: (event, slot) of each event slot; ``st_n``, ``bat_n``: transformer of
    each station and battery.
    """

    T: int
    E: int
    N: int
    F: int
    S: int
    B: int
    K: int
    dt: float
    pe: np.ndarray
    pt: np.ndarray
    q: np.ndarray
    be: np.ndarray
    bt: np.ndarray
    v: np.ndarray
    ve: np.ndarray
    vt: np.ndarray
    ke: np.ndarray
    kt: np.ndarray
    ev_n: np.ndarray
    st_n: np.ndarray
    bat_n: np.ndarray
    pmax: np.ndarray      # [E] kW
    pmin: np.ndarray      # [E] kW
    energy: np.ndarray    # [E] kWh
    pv: np.ndarray        # [S, T] kW


def define_sets(p: Problem) -> LeanSets:
    """The index sets: ``ev_power_kw`` only where the EV is plugged in, event slots only."""
    T, E, S = p.n_slots, p.n_evs, p.n_stations
    pe, pt = np.nonzero(np.asarray(p.ev_available, dtype=bool).reshape(E, T))
    pe, pt = pe.astype(np.int32), pt.astype(np.int32)
    pmin = np.asarray(p.ev_min_power_kw, dtype=np.float64)
    q = np.flatnonzero(pmin[pe] > 0)
    v = np.flatnonzero(p.ev_is_v2g[pe])
    ev_slots = (np.asarray(p.event_slots, dtype=bool).reshape(p.n_events, T) if p.n_events
                else np.zeros((0, T), dtype=bool))
    ke, kt = np.nonzero(ev_slots)
    st_n = np.asarray(p.station_transformer, dtype=np.int64)
    bat_n = (st_n[np.asarray(p.battery_station, dtype=np.int64)] if p.n_batteries
             else np.zeros(0, dtype=np.int64))
    pv = (np.zeros((S, T)) if p.pv_kw is None or S == 0
          else np.asarray(p.pv_kw, dtype=np.float64).reshape(S, T))
    return LeanSets(
        T=T, E=E, N=p.n_transformers, F=p.n_feeders, S=S, B=p.n_batteries, K=p.n_events,
        dt=float(p.dt_h), pe=pe, pt=pt, q=q, be=pe[q], bt=pt[q], v=v, ve=pe[v], vt=pt[v], ke=ke, kt=kt,
        ev_n=np.asarray(p.ev_transformer, dtype=np.int64), st_n=st_n, bat_n=bat_n,
        pmax=np.asarray(p.ev_max_power_kw, dtype=np.float64), pmin=pmin,
        energy=np.asarray(p.ev_energy_kwh, dtype=np.float64), pv=pv)


def define_ev_power(b: LeanBuilder, s: LeanSets) -> None:
    """``ev_power_kw`` within the stay; ``pmin·on <= p <= pmax·on`` and start-ups where ``pmin > 0``."""
    be, bt = s.be, s.bt
    b.add_cols("ev_power_kw", (s.pe, s.pt), upper=s.pmax[s.pe])
    b.add_cols("ev_on", (be, bt), upper=1.0, binary=True)
    b.add_cols("ev_start", (be, bt), upper=1.0)
    jq = np.arange(len(s.q), dtype=np.int64)
    b.add_rows("ev_min_power", (be, bt), 0.0, INF)      # p - pmin on >= 0
    b.coef("ev_min_power", jq, "ev_power_kw", s.q, 1.0)
    b.coef("ev_min_power", jq, "ev_on", jq, -s.pmin[be])
    b.add_rows("ev_max_power", (be, bt), -INF, 0.0)     # p - pmax on <= 0
    b.coef("ev_max_power", jq, "ev_power_kw", s.q, 1.0)
    b.coef("ev_max_power", jq, "ev_on", jq, -s.pmax[be])
    b.add_rows("ev_start_up", (be, bt), 0.0, INF)       # start - on + on[t-1] >= 0
    b.coef("ev_start_up", jq, "ev_start", jq, 1.0)
    b.coef("ev_start_up", jq, "ev_on", jq, -1.0)
    if len(s.q) > 1:
        prev = np.flatnonzero((be[1:] == be[:-1]) & (bt[1:] == bt[:-1] + 1)) + 1
        b.coef("ev_start_up", prev, "ev_on", prev - 1, 1.0)


def define_ev_energy(b: LeanBuilder, s: LeanSets, p: Problem) -> None:
    """``ev_energy[e]``: sum_t (ev_power_kw - ev_discharge_kw / (eta_c·eta_d))·dt + ev_unmet_kwh = energy_e."""
    E = s.E
    b.add_cols("ev_unmet_kwh", (np.arange(E),), upper=s.energy)
    b.add_rows("ev_energy", (np.arange(E),), s.energy, s.energy)
    b.coef("ev_energy", s.pe, "ev_power_kw", np.arange(len(s.pe)), s.dt)
    b.coef("ev_energy", np.arange(E), "ev_unmet_kwh", np.arange(E), 1.0)
    jv = np.arange(len(s.v), dtype=np.int64)
    # energy put back for what was discharged (the column family is added by define_v2g)
    b.coef("ev_energy", s.ve, "ev_discharge_kw", jv, -s.dt * p.v2g_round_trip)


def define_v2g(b: LeanBuilder, s: LeanSets, p: Problem) -> None:
    """V2G EVs: ``ev_soc[e,t]``: soc - soc[t-1] - eta_c·dt·p + dt/eta_d·dis = 0 over the stay (the
    first slot from soc_arrival), and a mode binary so an EV never charges and discharges at once."""
    ve, vt, v, dt = s.ve, s.vt, s.v, s.dt
    nV = len(v)
    dmax = np.asarray(p.ev_max_discharge_kw, np.float64)[ve]
    b.add_cols("ev_discharge_kw", (ve, vt), upper=dmax)
    b.add_cols("ev_soc_kwh", (ve, vt), upper=np.asarray(p.ev_battery_kwh, np.float64)[ve])
    b.add_cols("ev_v2g_mode", (ve, vt), upper=1.0, binary=True)
    jv = np.arange(nV, dtype=np.int64)
    first = np.ones(nV, dtype=bool)
    first[1:] = ve[1:] != ve[:-1]                          # first slot of each V2G EV's stay
    arrival_kwh = np.where(first, np.asarray(p.ev_soc_arrival_kwh, np.float64)[ve], 0.0)
    b.add_rows("ev_soc", (ve, vt), arrival_kwh, arrival_kwh)
    b.coef("ev_soc", jv, "ev_soc_kwh", jv, 1.0)
    b.coef("ev_soc", jv[~first], "ev_soc_kwh", jv[~first] - 1, -1.0)
    b.coef("ev_soc", jv, "ev_power_kw", v, -p.v2g_charge_efficiency * dt)
    b.coef("ev_soc", jv, "ev_discharge_kw", jv, dt / p.v2g_discharge_efficiency)
    b.add_rows("ev_charge_mode", (ve, vt), -INF, 0.0)      # p - pmax mode <= 0
    b.coef("ev_charge_mode", jv, "ev_power_kw", v, 1.0)
    b.coef("ev_charge_mode", jv, "ev_v2g_mode", jv, -s.pmax[ve])
    b.add_rows("ev_discharge_mode", (ve, vt), -INF, dmax)  # dis + dmax mode <= dmax
    b.coef("ev_discharge_mode", jv, "ev_discharge_kw", jv, 1.0)
    b.coef("ev_discharge_mode", jv, "ev_v2g_mode", jv, dmax)


def define_stations(b: LeanBuilder, s: LeanSets, p: Problem) -> None:
    """PV curtailment and battery power variables (the battery constraints are in ``define_batteries``)."""
    T, B = s.T, s.B
    b.add_cols("pv_curtail_kw", grid(s.S, T), upper=s.pv.ravel())
    b_grid = grid(B, T)
    per_slot = lambda values: np.repeat(np.asarray(values, float), T)  # noqa: E731
    b.add_cols("battery_charge_kw", b_grid, upper=per_slot(p.battery_max_charge_kw))
    b.add_cols("battery_discharge_kw", b_grid, upper=per_slot(p.battery_max_discharge_kw))
    b.add_cols("battery_soc_kwh", b_grid, lower=per_slot(p.battery_soc_min_kwh), upper=per_slot(p.battery_soc_max_kwh))
    b.add_cols("battery_mode", b_grid, upper=1.0, binary=True)


def define_transformer(b: LeanBuilder, s: LeanSets, p: Problem) -> None:
    """Net load balance, limit (both directions where reverse flow can pass it), grid import."""
    T, N, S, B = s.T, s.N, s.S, s.B
    n_grid = grid(N, T)
    b.add_cols("net_load_kw", n_grid, lower=-INF)
    b.add_cols("grid_import_kw", n_grid)
    b.add_cols("overload_kw", n_grid)
    limit = np.asarray(p.limit_kw, dtype=np.float64)
    rhs = np.asarray(p.base_load_kw, dtype=np.float64).reshape(N, T) - p.pv_at_transformer_kw()
    nt = np.arange(N * T, dtype=np.int64)
    # net - sum_e p + sum_e dis - sum_b (ch - dis) - sum_s curtail = base - pv
    b.add_rows("transformer_balance", n_grid, rhs.ravel(), rhs.ravel())
    b.coef("transformer_balance", nt, "net_load_kw", nt, 1.0)
    b.coef("transformer_balance", s.ev_n[s.pe] * T + s.pt, "ev_power_kw", np.arange(len(s.pe)), -1.0)
    b.coef("transformer_balance", s.ev_n[s.ve] * T + s.vt, "ev_discharge_kw",
           np.arange(len(s.v), dtype=np.int64), 1.0)
    if B:
        bt_all = np.arange(B * T, dtype=np.int64)
        rb = np.repeat(s.bat_n, T) * T + np.tile(np.arange(T), B)
        b.coef("transformer_balance", rb, "battery_charge_kw", bt_all, -1.0)
        b.coef("transformer_balance", rb, "battery_discharge_kw", bt_all, 1.0)
    if S:
        b.coef("transformer_balance", np.repeat(s.st_n, T) * T + np.tile(np.arange(T), S),
               "pv_curtail_kw", np.arange(S * T), -1.0)

    b.add_rows("transformer_limit", n_grid, -INF, np.repeat(limit, T))   # net - over <= limit
    b.coef("transformer_limit", nt, "net_load_kw", nt, 1.0)
    b.coef("transformer_limit", nt, "overload_kw", nt, -1.0)

    # net + over >= -limit where reverse flow beyond the limit can occur: at a station (PV,
    # battery) or where the base load alone is below -limit (storage never exports).
    base = np.asarray(p.base_load_kw, dtype=np.float64).reshape(N, T)
    st_trafos = np.union1d(s.st_n, np.flatnonzero((base < -limit[:, None]).any(axis=1))).astype(np.int64)
    rev_grid = (np.repeat(st_trafos, T), np.tile(np.arange(T), len(st_trafos)))
    b.add_rows("transformer_reverse_limit", rev_grid, np.repeat(-limit[st_trafos], T), INF)
    rev_cols = rev_grid[0] * T + rev_grid[1]
    jr = np.arange(len(rev_cols))
    b.coef("transformer_reverse_limit", jr, "net_load_kw", rev_cols, 1.0)
    b.coef("transformer_reverse_limit", jr, "overload_kw", rev_cols, 1.0)

    b.add_rows("grid_import", n_grid, 0.0, INF)          # import - net >= 0
    b.coef("grid_import", nt, "grid_import_kw", nt, 1.0)
    b.coef("grid_import", nt, "net_load_kw", nt, -1.0)


def define_feeders(b: LeanBuilder, s: LeanSets, p: Problem) -> None:
    """``feeder_limit[f,t]``: sum of the feeder's transformer net loads <= capacity + slack."""
    T, F = s.T, s.F
    b.add_cols("feeder_overload_kw", grid(F, T))
    tf = np.asarray(p.transformer_feeder, dtype=np.int64)
    cap = np.asarray(p.feeder_capacity_kw, dtype=np.float64)
    b.add_rows("feeder_limit", grid(F, T), -INF, np.repeat(cap, T))
    ft = np.arange(F * T, dtype=np.int64)
    b.coef("feeder_limit", ft, "feeder_overload_kw", ft, -1.0)
    on_f = np.flatnonzero(tf >= 0)
    if len(on_f):
        tt = np.tile(np.arange(T), len(on_f))
        b.coef("feeder_limit", np.repeat(tf[on_f], T) * T + tt, "net_load_kw", np.repeat(on_f, T) * T + tt, 1.0)


def define_batteries(b: LeanBuilder, s: LeanSets, p: Problem) -> None:
    """SOC recursion soc(t) = soc(t-1) + (eta_c·ch - dis/eta_d)·dt; a mode binary forbids ch and dis together."""
    T, B, dt = s.T, s.B, s.dt
    b_grid = grid(B, T)
    if B:
        eta_c = np.asarray(p.battery_charge_efficiency, dtype=np.float64)
        eta_d = np.asarray(p.battery_discharge_efficiency, dtype=np.float64)
        soc_rhs = np.zeros((B, T))
        soc_rhs[:, 0] = np.asarray(p.battery_soc_initial_kwh, dtype=np.float64)
    else:
        eta_c = eta_d = np.zeros(0)
        soc_rhs = np.zeros((0, T))
    bt_all = np.arange(B * T, dtype=np.int64)
    b.add_rows("battery_soc", b_grid, soc_rhs.ravel(), soc_rhs.ravel())
    b.coef("battery_soc", bt_all, "battery_soc_kwh", bt_all, 1.0)
    later = bt_all[b_grid[1] > 0]
    b.coef("battery_soc", later, "battery_soc_kwh", later - 1, -1.0)
    b.coef("battery_soc", bt_all, "battery_charge_kw", bt_all, -np.repeat(eta_c, T) * dt)
    b.coef("battery_soc", bt_all, "battery_discharge_kw", bt_all, dt / np.repeat(eta_d, T))

    ch_max = np.asarray(p.battery_max_charge_kw, dtype=np.float64)
    dis_max = np.asarray(p.battery_max_discharge_kw, dtype=np.float64)
    b.add_rows("battery_charge_mode", b_grid, -INF, 0.0)     # ch - ch_max mode <= 0
    b.coef("battery_charge_mode", bt_all, "battery_charge_kw", bt_all, 1.0)
    b.coef("battery_charge_mode", bt_all, "battery_mode", bt_all, -np.repeat(ch_max, T))
    b.add_rows("battery_discharge_mode", b_grid, -INF, np.repeat(dis_max, T))   # dis + dis_max mode <= dis_max
    b.coef("battery_discharge_mode", bt_all, "battery_discharge_kw", bt_all, 1.0)
    b.coef("battery_discharge_mode", bt_all, "battery_mode", bt_all, np.repeat(dis_max, T))

    b.add_rows("battery_final_soc", (np.arange(B),),
               np.asarray(p.battery_soc_final_min_kwh, dtype=np.float64) if B else 0.0, INF)
    b.coef("battery_final_soc", np.arange(B), "battery_soc_kwh", np.arange(B) * T + (T - 1), 1.0)


def define_dr_events(b: LeanBuilder, s: LeanSets, p: Problem) -> None:
    """``dr_event_cap[k,t]``: sign·(scope load) - shortfall <= sign·baseline - target, in event slots.

    sign = +1 for peak shaving (stay below the baseline), -1 for valley filling (stay above it).
    The scope load is its net load for peak shaving, and its net load with PV uncurtailed
    (net_load_kw - pv_curtail_kw of its stations) for valley filling: curtailed PV never counts as
    response (models/dr_events.md).
    """
    T, K, ke, kt = s.T, s.K, s.ke, s.kt
    b.add_cols("dr_shortfall_kw", (ke, kt))
    cap = np.asarray(p.event_cap_kw, dtype=np.float64).reshape(K, T) if K else None
    b.add_rows("dr_event_cap", (ke, kt), -INF, cap[ke, kt] if K else 0.0)
    jk = np.arange(len(ke), dtype=np.int64)
    b.coef("dr_event_cap", jk, "dr_shortfall_kw", jk, -1.0)
    scope_of = np.asarray(p.event_scope, dtype=bool).reshape(K, s.N) if K else None
    for k in range(K):
        jrows = np.flatnonzero(ke == k)                       # this event's rows (its slots)
        sign = float(p.event_signs()[k])                       # +1 peak shaving, -1 valley filling
        scope = np.flatnonzero(scope_of[k])
        if len(jrows) and len(scope):
            b.coef("dr_event_cap", np.repeat(jrows, len(scope)), "net_load_kw",
                   np.tile(scope, len(jrows)) * T + np.repeat(kt[jrows], len(scope)), sign)
        stations = np.flatnonzero(scope_of[k][s.st_n]) if sign < 0 else np.zeros(0, dtype=np.int64)
        if len(jrows) and len(stations):                       # valley filling: - sign·curtailment
            b.coef("dr_event_cap", np.repeat(jrows, len(stations)), "pv_curtail_kw",
                   np.tile(stations, len(jrows)) * T + np.repeat(kt[jrows], len(stations)), -sign)


def define_ev_ramp(b: LeanBuilder, s: LeanSets, p: Problem) -> None:
    """``ev_rise[n,t]``: ev_max_rise_kw[n] - ev_kw[n,t] + ev_kw[n,t-1] >= 0 for t >= 1, with
    ev_kw[n,t] = sum_e (ev_power_kw - ev_discharge_kw) behind n. Only when the ramp is priced.

    ``ev_kw`` is read off the transformer balance instead of summed over the EVs: ev_kw[n,t] =
    net_load_kw[n,t] - sum_b (ch - dis)[n,t] - sum_s curtail[n,t] - site[n,t] - (base - pv)[n,t] (site: the
    swap charging and fast-charging caps behind n, models/swap_stations.md), so a row holds
    3 entries (plus the station columns) instead of every EV column of two slots; the constants
    move to the row's lower bound (base - pv)[n,t-1] - (base - pv)[n,t].
    """
    T, N, ramp = s.T, s.N, p.has_ramp
    b.add_cols("ev_max_rise_kw", (np.arange(N if ramp else 0),))
    rise_n, rise_t = (grid(N, T - 1) if ramp else (np.zeros(0, np.int32),) * 2)
    rhs = (np.asarray(p.base_load_kw, dtype=np.float64).reshape(N, T) - p.pv_at_transformer_kw()
           if ramp else np.zeros((0, T)))
    b.add_rows("ev_rise", (rise_n, rise_t + 1), (rhs[:, :-1] - rhs[:, 1:]).ravel(), INF)
    j = np.arange(len(rise_n), dtype=np.int64)
    b.coef("ev_rise", j, "ev_max_rise_kw", rise_n, 1.0, repeats=True)  # in T - 1 rows
    if not ramp:
        return
    now, before = rise_n.astype(np.int64) * T + rise_t + 1, rise_n.astype(np.int64) * T + rise_t
    b.coef("ev_rise", j, "net_load_kw", now, -1.0)
    b.coef("ev_rise", j, "net_load_kw", before, 1.0)
    units = [("battery_charge_kw", np.repeat(s.bat_n, T), s.B, 1.0),           # - ev_kw holds + (ch - dis)
             ("battery_discharge_kw", np.repeat(s.bat_n, T), s.B, -1.0),
             ("pv_curtail_kw", np.repeat(s.st_n, T), s.S, 1.0)]                # ... and + curtail
    # the swap and fast-charging sites' load is in the balance too, but it is not EV power: + site
    st = p.sites
    if st is not None:
        units += [("swap_charge_kw", np.repeat(st.swap_transformer, T), st.n_swap, 1.0),
                  ("fast_cap_kw", np.repeat(st.fast_transformer, T), st.n_fast, 1.0)]
    for family, at_n, count, sign in units:
        if not count:
            continue
        col = np.arange(count * T, dtype=np.int64)
        t = col % T
        row = at_n * (T - 1) + t - 1          # the row of slot t (t >= 1): + sign
        b.coef("ev_rise", row[t >= 1], family, col[t >= 1], sign)
        b.coef("ev_rise", row[t <= T - 2] + 1, family, col[t <= T - 2], -sign)   # the next slot's row: - sign


def define_storage_export(b: LeanBuilder, s: LeanSets, p: Problem) -> None:
    """A battery or V2G EV discharges only while its transformer would import with its PV uncurtailed:
    ``battery_export[b,t]``: net_load_kw[n,t] - sum_s pv_curtail_kw[s,t] + M[n,t]·battery_mode[b,t] >= 0,
    ``ev_export[e,t]`` the same with ev_v2g_mode[e,t]; M = max(PV - base load, 0) (``export_big_m_kw``)."""
    T, B = s.T, s.B
    big_m = p.export_big_m_kw().ravel()
    bat_at = np.repeat(s.bat_n, T) * T + np.tile(np.arange(T), B)   # (transformer, slot) of each row
    v_at = s.ev_n[s.ve] * T + s.vt
    for name, n_rows, at, mode, index in (("battery_export", B * T, bat_at, "battery_mode", grid(B, T)),
                                          ("ev_export", len(s.v), v_at, "ev_v2g_mode", (s.ve, s.vt))):
        b.add_rows(name, index, 0.0, INF)
        j = np.arange(n_rows, dtype=np.int64)
        b.coef(name, j, "net_load_kw", at, 1.0, repeats=True)        # several units behind one transformer
        b.coef(name, j, mode, j, big_m[at])
        for s_ in range(s.S):                                       # PV curtailed counts as exported
            mine = np.flatnonzero(at // T == s.st_n[s_])
            b.coef(name, mine, "pv_curtail_kw", s_ * T + at[mine] % T, -1.0, repeats=True)


def define_demand_charge(b: LeanBuilder, s: LeanSets, p: Problem) -> None:
    """``demand_peak[n,t]``: new_peak_kw[n,m] - net_load_kw[n,t] >= -so_far_kw[n,m] with m the month of
    slot t, for the charged (transformer, month) pairs (``models/tariff.md``); the objective prices
    new_peak_kw at demand_cny_per_kw_month. Only when some transformer pays a demand charge."""
    dn, dm = demand_pairs(p)
    rn, rt, pair = demand_rows(p)
    b.add_cols("new_peak_kw", (dn, dm))
    month = np.asarray(p.slot_month, dtype=np.int64)
    rhs = -so_far_kw(p)[rn, month[rt]] if len(rn) else 0.0
    b.add_rows("demand_peak", (rn, rt), rhs, INF)
    j = np.arange(len(rn), dtype=np.int64)
    b.coef("demand_peak", j, "new_peak_kw", pair, 1.0, repeats=True)   # one column in its month's rows
    b.coef("demand_peak", j, "net_load_kw", rn * s.T + rt, -1.0)


def define_objective(b: LeanBuilder, s: LeanSets, p: Problem) -> float:
    """Energy cost + penalised slacks + DR shortfall + tie-breaks (see models/day_ahead.md), as
    column costs; returns the constant event compensation ``- sum_k price_k·dt·red_k·|T_k|`` [CNY]."""
    dt, K = s.dt, s.K
    price = np.asarray(p.price_cny_per_kwh, dtype=np.float64)
    b.set_cost("ev_power_kw", p.early_charging_cny_per_kwh * dt * p.slot_weight()[s.pt])
    b.set_cost("ev_start", p.switch_on_cny)
    b.set_cost("ev_unmet_kwh", p.unmet_penalty_cny_per_kwh)
    if len(s.v):
        b.set_cost("ev_discharge_kw", p.v2g_degradation_cny_per_kwh * dt)
    b.set_cost("grid_import_kw", np.tile(price * dt, s.N))
    b.set_cost("overload_kw", p.overload_penalty_cny_per_kwh * dt)
    b.set_cost("feeder_overload_kw", p.overload_penalty_cny_per_kwh * dt)
    b.set_cost("ev_max_rise_kw", p.ramp_penalty_cny_per_kw)
    dn, dm = demand_pairs(p)
    if len(dn):
        b.set_cost("new_peak_kw", np.asarray(p.demand_cny_per_kw_month, dtype=np.float64)[dn, dm])
    b.set_cost("grid_voltage_slack_kw", p.overload_penalty_cny_per_kwh * dt)
    b.set_cost("grid_line_slack_kw", p.overload_penalty_cny_per_kwh * dt)
    if not K:
        return 0.0
    pi_dr = (np.asarray(p.event_penalty_cny_per_kwh, dtype=np.float64)
             + np.asarray(p.event_price_cny_per_kwh, dtype=np.float64))
    b.set_cost("dr_shortfall_kw", pi_dr[s.ke] * dt)
    red = np.asarray(p.event_reduction_kw, dtype=np.float64)
    n_event_slots = np.asarray(p.event_slots, dtype=bool).reshape(K, s.T).sum(axis=1)
    return -float(np.sum(np.asarray(p.event_price_cny_per_kwh, float) * dt * red * n_event_slots))


GRID_FAMILIES = (("voltage", "grid_voltage", "grid_voltage_slack_kw"), ("line", "grid_line", "grid_line_slack_kw"))


def define_grid_limits(b: LeanBuilder, s: LeanSets, p: Problem) -> None:
    """``grid_voltage[c]``, ``grid_line[c]``: sum_e coef·(ev_power_kw[e,t_c] - ev_discharge_kw[e,t_c])
    - slack[c] <= rhs[c] (``models/lv_grid.md``); entries only where the EV is plugged in."""
    cuts, T = p.grid_cuts, s.T
    key_p = s.pe.astype(np.int64) * T + s.pt              # sorted: EV then slot
    key_v = s.ve.astype(np.int64) * T + s.vt
    for kind, rows, slack in GRID_FAMILIES:
        slot, rhs, r, e, a = (cuts.of_kind(kind) if cuts is not None
                              else (np.zeros(0, np.int64),) * 2 + (np.zeros(0, np.int64),) * 3)
        idx = (np.arange(len(slot)),)
        b.add_cols(slack, idx)
        b.add_rows(rows, idx, -INF, np.asarray(rhs, np.float64))
        b.coef(rows, idx[0], slack, idx[0], -1.0)
        if not len(r):
            continue
        key = e.astype(np.int64) * T + slot[r]
        for family, keys, sign in (("ev_power_kw", key_p, 1.0), ("ev_discharge_kw", key_v, -1.0)):
            j = np.searchsorted(keys, key)
            hit = (j < len(keys)) & (keys[np.minimum(j, max(len(keys) - 1, 0))] == key) if len(keys) else j < 0
            b.coef(rows, r[hit], family, j[hit], sign * a[hit], repeats=True)
