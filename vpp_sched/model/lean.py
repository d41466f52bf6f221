"""The lean build: the day-ahead model of ``models/day_ahead.md`` as sparse arrays for highspy.

This is the time-critical path. Every family of variables (columns) and constraints (rows)
of the markdown is built with vectorised numpy from a :class:`~vpp_sched.problem.arrays.Problem`
(no Python loop over EVs x slots; loops only over families and over the small sets of
events), assembled into one column-wise (CSC) matrix and handed to HiGHS in a single
``Highs.passModel`` call (by :class:`vpp_sched.solve.highs.LeanSolver`).

Variables exist only where the markdown says they do:

* ``ev_power_kw[e, t]`` for available ``(e, t)`` only; ``ev_on``/``ev_start`` and the rows
  ``ev_min_power``/``ev_max_power``/``ev_start_up`` only for EVs with ``min_power_kw > 0``;
* ``ev_discharge_kw``/``ev_soc_kwh``/``ev_v2g_mode`` and their rows only for available
  ``(e, t)`` of V2G EVs;
* ``pv_curtail_kw`` for every station (upper bound the PV forecast, 0 without PV);
* ``dr_shortfall_kw`` and ``dr_event_cap`` only in event slots;
* ``transformer_reverse_limit`` only for transformers with a station;
* ``ev_max_rise_kw`` and the rows ``ev_rise`` only when the ramp is priced
  (``ramp_penalty_cny_per_kw > 0``);
* ``battery_export`` for every battery slot, ``ev_export`` for available ``(e, t)`` of V2G EVs.

:class:`LeanModel` records each family's column and row range (``col_families``,
``row_families``, names identical to the markdown) and the model indices of each column
and row (``col_index``, ``row_index``), so any column or row can be traced back, e.g.
``model.col_name(j) == "ev_power_kw[3,17]"``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import highspy
import numpy as np
import scipy.sparse as sp

from vpp_sched.problem.arrays import Problem

INF = highspy.kHighsInf

#: Index names of each column family, in the order of ``LeanModel.col_index[family]``.
COL_FAMILY_DIMS: dict[str, tuple[str, ...]] = {
    "ev_power_kw": ("e", "t"),
    "ev_on": ("e", "t"),
    "ev_start": ("e", "t"),
    "ev_unmet_kwh": ("e",),
    "ev_discharge_kw": ("e", "t"),
    "ev_soc_kwh": ("e", "t"),
    "ev_v2g_mode": ("e", "t"),
    "pv_curtail_kw": ("s", "t"),
    "battery_charge_kw": ("b", "t"),
    "battery_discharge_kw": ("b", "t"),
    "battery_soc_kwh": ("b", "t"),
    "battery_mode": ("b", "t"),
    "net_load_kw": ("n", "t"),
    "grid_import_kw": ("n", "t"),
    "overload_kw": ("n", "t"),
    "feeder_overload_kw": ("f", "t"),
    "dr_shortfall_kw": ("k", "t"),
    "ev_max_rise_kw": ("n",),
}

#: Index names of each row family, in the order of ``LeanModel.row_index[family]``.
ROW_FAMILY_DIMS: dict[str, tuple[str, ...]] = {
    "ev_min_power": ("e", "t"),
    "ev_max_power": ("e", "t"),
    "ev_start_up": ("e", "t"),
    "ev_energy": ("e",),
    "ev_soc": ("e", "t"),
    "ev_charge_mode": ("e", "t"),
    "ev_discharge_mode": ("e", "t"),
    "transformer_balance": ("n", "t"),
    "transformer_limit": ("n", "t"),
    "transformer_reverse_limit": ("n", "t"),
    "grid_import": ("n", "t"),
    "feeder_limit": ("f", "t"),
    "battery_soc": ("b", "t"),
    "battery_charge_mode": ("b", "t"),
    "battery_discharge_mode": ("b", "t"),
    "battery_final_soc": ("b",),
    "dr_event_cap": ("k", "t"),
    "ev_rise": ("n", "t"),
    "battery_export": ("b", "t"),
    "ev_export": ("e", "t"),
}

#: Column families that are binary in the MIP.
BINARY_FAMILIES = ("ev_on", "battery_mode", "ev_v2g_mode")



@dataclass
class LeanModel:
    """The day-ahead MILP as arrays, ready for ``Highs.passModel``.

    The constraint matrix is column-wise (CSC): column ``j``'s entries are
    ``a_index[a_start[j]:a_start[j+1]]`` (rows) and ``a_value[...]``. Rows are ranges
    ``row_lower <= A x <= row_upper``; columns ``col_lower <= x <= col_upper``; the objective
    is ``min col_cost @ x`` (``objective_constant`` is *not* passed to HiGHS).
    """

    n_cols: int
    n_rows: int
    col_cost: np.ndarray        # [n_cols] float64
    col_lower: np.ndarray       # [n_cols] float64
    col_upper: np.ndarray       # [n_cols] float64
    row_lower: np.ndarray       # [n_rows] float64
    row_upper: np.ndarray       # [n_rows] float64
    a_start: np.ndarray         # [n_cols + 1] int32
    a_index: np.ndarray         # [nnz] int32
    a_value: np.ndarray         # [nnz] float64
    integrality: np.ndarray     # [n_cols] int32, 1 = integer (binary by bounds), 0 = continuous
    col_families: dict[str, slice]
    row_families: dict[str, slice]
    col_index: dict[str, tuple[np.ndarray, ...]]   # family -> index arrays (see COL_FAMILY_DIMS)
    row_index: dict[str, tuple[np.ndarray, ...]]   # family -> index arrays (see ROW_FAMILY_DIMS)
    relax_integrality: bool = False
    objective_constant: float = 0.0   # - sum_k price_k dt red_k |T_k|, added to get objective_cny of kpis
    build_seconds: float = 0.0        # time of build_lean
    shape: dict = field(default_factory=dict)   # sizes E, T, N, F, S, B, K

    # sizes -------------------------------------------------------------------------------
    @property
    def nnz(self) -> int:
        return int(self.a_start[-1])

    @property
    def n_integer(self) -> int:
        return int(np.count_nonzero(self.integrality))

    @property
    def is_mip(self) -> bool:
        return self.n_integer > 0

    def matrix(self) -> sp.csc_matrix:
        """The constraint matrix as a scipy CSC matrix (shares the arrays)."""
        return sp.csc_matrix((self.a_value, self.a_index, self.a_start), shape=(self.n_rows, self.n_cols))

    # tracing -----------------------------------------------------------------------------
    def col_family(self, j: int) -> str:
        return _family_of(self.col_families, j, "column")

    def row_family(self, i: int) -> str:
        return _family_of(self.row_families, i, "row")

    def col_name(self, j: int) -> str:
        """E.g. ``"ev_power_kw[3,17]"``: family and Problem indices of column ``j``."""
        fam = self.col_family(j)
        k = j - self.col_families[fam].start
        return f"{fam}[{','.join(str(int(ix[k])) for ix in self.col_index[fam])}]"

    def row_name(self, i: int) -> str:
        """E.g. ``"transformer_limit[0,5]"``: family and Problem indices of row ``i``."""
        fam = self.row_family(i)
        k = i - self.row_families[fam].start
        return f"{fam}[{','.join(str(int(ix[k])) for ix in self.row_index[fam])}]"

    def values(self, x: np.ndarray, family: str) -> np.ndarray:
        """The slice of a column vector ``x`` belonging to ``family``."""
        return x[self.col_families[family]]

    def to_highs_lp(self) -> highspy.HighsLp:
        """The model as a ``highspy.HighsLp`` (for inspection or ``writeModel``).

        ``solve_lean`` does not use it: setting the integer arrays of a ``HighsLp`` from numpy
        is ~6x slower than the array overload of ``Highs.passModel`` at this size.
        """
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.n_cols, self.n_rows
        lp.col_cost_, lp.col_lower_, lp.col_upper_ = self.col_cost, self.col_lower, self.col_upper
        lp.row_lower_, lp.row_upper_ = self.row_lower, self.row_upper
        m = lp.a_matrix_
        m.format_ = highspy.MatrixFormat.kColwise
        m.num_col_, m.num_row_ = self.n_cols, self.n_rows
        m.start_, m.index_, m.value_ = self.a_start, self.a_index, self.a_value
        if self.is_mip:
            lp.integrality_ = [highspy.HighsVarType(int(v)) for v in self.integrality]
        return lp


def _family_of(families: dict[str, slice], i: int, what: str) -> str:
    for name, sl in families.items():
        if sl.start <= i < sl.stop:
            return name
    raise IndexError(f"{what} {i} is outside the model")


# ------------------------------------------------------------------------------------------
# build
# ------------------------------------------------------------------------------------------
class _Layout:
    """Allocates consecutive index ranges to named families."""

    def __init__(self) -> None:
        self.size = 0
        self.families: dict[str, slice] = {}
        self.index: dict[str, tuple[np.ndarray, ...]] = {}

    def add(self, name: str, *index: np.ndarray) -> int:
        n = len(index[0])
        self.families[name] = slice(self.size, self.size + n)
        self.index[name] = tuple(np.asarray(ix, dtype=np.int32) for ix in index)
        start = self.size
        self.size += n
        return start


def _grid(n: int, n_slots: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-major indices ``(i, t)`` of an ``n x T`` grid."""
    return (np.repeat(np.arange(n, dtype=np.int32), n_slots),
            np.tile(np.arange(n_slots, dtype=np.int32), n))


def build_lean(problem: Problem, *, relax_integrality: bool = False) -> LeanModel:
    """Build the day-ahead model of ``models/day_ahead.md`` as sparse arrays.

    ``relax_integrality=True`` gives the LP relaxation (``ev_on``, ``battery_mode`` and
    ``ev_v2g_mode`` continuous in [0, 1]), e.g. for bounds or decomposition.
    """
    t0 = time.perf_counter()
    p = problem
    T, E, N, F = p.n_slots, p.n_evs, p.n_transformers, p.n_feeders
    S, B, K = p.n_stations, p.n_batteries, p.n_events
    dt = float(p.dt_h)
    price = np.asarray(p.price_cny_per_kwh, dtype=np.float64)
    avail = np.asarray(p.ev_available, dtype=bool).reshape(E, T)
    ev_n = np.asarray(p.ev_transformer, dtype=np.int64)
    pmax = np.asarray(p.ev_max_power_kw, dtype=np.float64)
    pmin = np.asarray(p.ev_min_power_kw, dtype=np.float64)
    energy = np.asarray(p.ev_energy_kwh, dtype=np.float64)
    pv = (np.zeros((S, T)) if p.pv_kw is None or S == 0
          else np.asarray(p.pv_kw, dtype=np.float64).reshape(S, T))
    st_n = np.asarray(p.station_transformer, dtype=np.int64)
    bat_n = st_n[np.asarray(p.battery_station, dtype=np.int64)] if B else np.zeros(0, dtype=np.int64)
    if K:
        ev_slots = np.asarray(p.event_slots, dtype=bool).reshape(K, T)
        ev_scope = np.asarray(p.event_scope, dtype=bool).reshape(K, N)
        ev_cap = np.asarray(p.event_cap_kw, dtype=np.float64).reshape(K, T)
        red = np.asarray(p.event_reduction_kw, dtype=np.float64)
        pi_dr = (np.asarray(p.event_penalty_cny_per_kwh, dtype=np.float64)
                 + np.asarray(p.event_price_cny_per_kwh, dtype=np.float64))
    else:
        ev_slots = np.zeros((0, T), dtype=bool)

    # ---- columns ---------------------------------------------------------------------
    cols = _Layout()
    pe, pt = np.nonzero(avail)                       # ev_power_kw, sorted by e then t
    pe, pt = pe.astype(np.int32), pt.astype(np.int32)
    c_pow = cols.add("ev_power_kw", pe, pt)
    q = np.flatnonzero(pmin[pe] > 0)                 # positions (in ev_power) of binary EVs' slots
    be, bt = pe[q], pt[q]
    c_on = cols.add("ev_on", be, bt)
    c_start = cols.add("ev_start", be, bt)
    c_unmet = cols.add("ev_unmet_kwh", np.arange(E))
    v = np.flatnonzero(p.ev_is_v2g[pe])              # positions (in ev_power) of V2G EVs' slots
    ve, vt = pe[v], pt[v]
    c_evdis = cols.add("ev_discharge_kw", ve, vt)
    c_evsoc = cols.add("ev_soc_kwh", ve, vt)
    c_vmode = cols.add("ev_v2g_mode", ve, vt)
    c_curt = cols.add("pv_curtail_kw", *_grid(S, T))
    b_grid = _grid(B, T)
    c_ch = cols.add("battery_charge_kw", *b_grid)
    c_dis = cols.add("battery_discharge_kw", *b_grid)
    c_soc = cols.add("battery_soc_kwh", *b_grid)
    c_mode = cols.add("battery_mode", *b_grid)
    n_grid = _grid(N, T)
    c_net = cols.add("net_load_kw", *n_grid)
    c_imp = cols.add("grid_import_kw", *n_grid)
    c_over = cols.add("overload_kw", *n_grid)
    c_fover = cols.add("feeder_overload_kw", *_grid(F, T))
    ke, kt = np.nonzero(ev_slots)
    c_short = cols.add("dr_shortfall_kw", ke, kt)
    ramp = p.has_ramp
    c_rise = cols.add("ev_max_rise_kw", np.arange(N if ramp else 0))
    n_cols = cols.size
    nP, nQ, nV = len(pe), len(q), len(v)

    cost = np.zeros(n_cols)
    lower = np.zeros(n_cols)
    upper = np.full(n_cols, INF)
    integrality = np.zeros(n_cols, dtype=np.int32)

    def cset(name: str, arr: np.ndarray, value) -> None:
        arr[cols.families[name]] = value

    w = p.slot_weight()
    cset("ev_power_kw", cost, p.early_charging_cny_per_kwh * dt * w[pt])
    cset("ev_power_kw", upper, pmax[pe])
    cset("ev_on", upper, 1.0)
    cset("ev_start", upper, 1.0)
    cset("ev_start", cost, p.switch_on_cny)
    cset("ev_unmet_kwh", upper, energy)
    cset("ev_unmet_kwh", cost, p.unmet_penalty_cny_per_kwh)
    if nV:
        cset("ev_discharge_kw", upper, np.asarray(p.ev_max_discharge_kw, np.float64)[ve])
        cset("ev_discharge_kw", cost, p.v2g_degradation_cny_per_kwh * dt)
        cset("ev_soc_kwh", upper, np.asarray(p.ev_battery_kwh, np.float64)[ve])
        cset("ev_v2g_mode", upper, 1.0)
    cset("pv_curtail_kw", upper, pv.ravel())
    if B:
        cset("battery_charge_kw", upper, np.repeat(np.asarray(p.battery_max_charge_kw, float), T))
        cset("battery_discharge_kw", upper, np.repeat(np.asarray(p.battery_max_discharge_kw, float), T))
        cset("battery_soc_kwh", lower, np.repeat(np.asarray(p.battery_soc_min_kwh, float), T))
        cset("battery_soc_kwh", upper, np.repeat(np.asarray(p.battery_soc_max_kwh, float), T))
        cset("battery_mode", upper, 1.0)
    cset("net_load_kw", lower, -INF)
    cset("grid_import_kw", cost, np.tile(price * dt, N))
    cset("overload_kw", cost, p.overload_penalty_cny_per_kwh * dt)
    cset("feeder_overload_kw", cost, p.overload_penalty_cny_per_kwh * dt)
    if K:
        cset("dr_shortfall_kw", cost, pi_dr[ke] * dt)
    cset("ev_max_rise_kw", cost, p.ramp_penalty_cny_per_kw)
    if not relax_integrality:
        for name in BINARY_FAMILIES:
            cset(name, integrality, 1)

    # ---- rows: each family appends (row, col, value) triplets ----------------------------
    rows = _Layout()
    r_lo: list[np.ndarray] = []
    r_up: list[np.ndarray] = []
    trip_r: list[np.ndarray] = []
    trip_c: list[np.ndarray] = []
    trip_v: list[np.ndarray] = []
    trip_repeats: list[bool] = []     # chunks that hold a column more than once

    def add_rows(name: str, index: tuple[np.ndarray, ...], lo, up) -> int:
        start = rows.add(name, *index)
        n = rows.families[name].stop - start
        r_lo.append(np.broadcast_to(np.asarray(lo, dtype=np.float64), (n,)))
        r_up.append(np.broadcast_to(np.asarray(up, dtype=np.float64), (n,)))
        return start

    def coef(r: np.ndarray, c: np.ndarray, v, repeats: bool = False) -> None:
        r = np.asarray(r, dtype=np.int32)
        trip_repeats.append(repeats)
        trip_r.append(r)
        trip_c.append(np.asarray(c, dtype=np.int32))
        trip_v.append(np.broadcast_to(np.asarray(v, dtype=np.float64), r.shape))

    # EV power bounds for E_bin (define_ev_power)
    jq = np.arange(nQ, dtype=np.int64)
    r0 = add_rows("ev_min_power", (be, bt), 0.0, INF)      # p - pmin on >= 0
    coef(r0 + jq, c_pow + q, 1.0)
    coef(r0 + jq, c_on + jq, -pmin[be])
    r0 = add_rows("ev_max_power", (be, bt), -INF, 0.0)     # p - pmax on <= 0
    coef(r0 + jq, c_pow + q, 1.0)
    coef(r0 + jq, c_on + jq, -pmax[be])
    r0 = add_rows("ev_start_up", (be, bt), 0.0, INF)       # start - on + on[t-1] >= 0
    coef(r0 + jq, c_start + jq, 1.0)
    coef(r0 + jq, c_on + jq, -1.0)
    if nQ > 1:
        prev = np.flatnonzero((be[1:] == be[:-1]) & (bt[1:] == bt[:-1] + 1)) + 1
        coef(r0 + prev, c_on + prev - 1, 1.0)

    # Energy by departure (define_ev_energy)
    r0 = add_rows("ev_energy", (np.arange(E),), energy, energy)
    coef(r0 + pe, c_pow + np.arange(nP), dt)
    coef(r0 + np.arange(E), c_unmet + np.arange(E), 1.0)
    jv = np.arange(nV, dtype=np.int64)
    coef(r0 + ve, c_evdis + jv, -dt * p.v2g_round_trip)   # energy put back for what was discharged

    # V2G EVs (define_v2g): battery energy, and never charge and discharge in one slot
    first = np.ones(nV, dtype=bool)
    first[1:] = ve[1:] != ve[:-1]                          # first slot of each V2G EV's stay
    arrival_kwh = np.where(first, np.asarray(p.ev_soc_arrival_kwh, np.float64)[ve], 0.0)
    r0 = add_rows("ev_soc", (ve, vt), arrival_kwh, arrival_kwh)
    coef(r0 + jv, c_evsoc + jv, 1.0)
    coef(r0 + jv[~first], c_evsoc + jv[~first] - 1, -1.0)
    coef(r0 + jv, c_pow + v, -p.v2g_charge_efficiency * dt)
    coef(r0 + jv, c_evdis + jv, dt / p.v2g_discharge_efficiency)
    r0 = add_rows("ev_charge_mode", (ve, vt), -INF, 0.0)  # p - pmax mode <= 0
    coef(r0 + jv, c_pow + v, 1.0)
    coef(r0 + jv, c_vmode + jv, -pmax[ve])
    dmax = np.asarray(p.ev_max_discharge_kw, np.float64)[ve]
    r0 = add_rows("ev_discharge_mode", (ve, vt), -INF, dmax)  # dis + dmax mode <= dmax
    coef(r0 + jv, c_evdis + jv, 1.0)
    coef(r0 + jv, c_vmode + jv, dmax)

    # Transformer balance and limits (define_transformer)
    limit = np.asarray(p.limit_kw, dtype=np.float64)
    rhs = np.asarray(p.base_load_kw, dtype=np.float64).reshape(N, T) - p.pv_at_transformer_kw()
    nt = np.arange(N * T, dtype=np.int64)
    r0 = add_rows("transformer_balance", n_grid, rhs.ravel(), rhs.ravel())
    coef(r0 + nt, c_net + nt, 1.0)
    coef(r0 + ev_n[pe] * T + pt, c_pow + np.arange(nP), -1.0)
    coef(r0 + ev_n[ve] * T + vt, c_evdis + jv, 1.0)
    if B:
        bt_all = np.arange(B * T, dtype=np.int64)
        rb = r0 + np.repeat(bat_n, T) * T + np.tile(np.arange(T), B)
        coef(rb, c_ch + bt_all, -1.0)
        coef(rb, c_dis + bt_all, 1.0)
    if S:
        coef(r0 + np.repeat(st_n, T) * T + np.tile(np.arange(T), S), c_curt + np.arange(S * T), -1.0)

    r0 = add_rows("transformer_limit", n_grid, -INF, np.repeat(limit, T))
    coef(r0 + nt, c_net + nt, 1.0)
    coef(r0 + nt, c_over + nt, -1.0)

    st_trafos = np.unique(st_n).astype(np.int64)
    rev_grid = (np.repeat(st_trafos, T), np.tile(np.arange(T), len(st_trafos)))
    r0 = add_rows("transformer_reverse_limit", rev_grid, np.repeat(-limit[st_trafos], T), INF)
    rev_cols = rev_grid[0] * T + rev_grid[1]
    jr = np.arange(len(rev_cols))
    coef(r0 + jr, c_net + rev_cols, 1.0)
    coef(r0 + jr, c_over + rev_cols, 1.0)

    r0 = add_rows("grid_import", n_grid, 0.0, INF)          # import - net >= 0
    coef(r0 + nt, c_imp + nt, 1.0)
    coef(r0 + nt, c_net + nt, -1.0)

    # Feeders (define_feeders)
    tf = np.asarray(p.transformer_feeder, dtype=np.int64)
    cap = np.asarray(p.feeder_capacity_kw, dtype=np.float64)
    r0 = add_rows("feeder_limit", _grid(F, T), -INF, np.repeat(cap, T))
    ft = np.arange(F * T, dtype=np.int64)
    coef(r0 + ft, c_fover + ft, -1.0)
    on_f = np.flatnonzero(tf >= 0)
    if len(on_f):
        tt = np.tile(np.arange(T), len(on_f))
        coef(r0 + np.repeat(tf[on_f], T) * T + tt, c_net + np.repeat(on_f, T) * T + tt, 1.0)

    # Batteries (define_batteries)
    if B:
        eta_c = np.asarray(p.battery_charge_efficiency, dtype=np.float64)
        eta_d = np.asarray(p.battery_discharge_efficiency, dtype=np.float64)
        soc0 = np.asarray(p.battery_soc_initial_kwh, dtype=np.float64)
        soc_rhs = np.zeros((B, T))
        soc_rhs[:, 0] = soc0
    else:
        eta_c = eta_d = np.zeros(0)
        soc_rhs = np.zeros((0, T))
    bt_all = np.arange(B * T, dtype=np.int64)
    r0 = add_rows("battery_soc", b_grid, soc_rhs.ravel(), soc_rhs.ravel())
    coef(r0 + bt_all, c_soc + bt_all, 1.0)
    later = bt_all[b_grid[1] > 0]
    coef(r0 + later, c_soc + later - 1, -1.0)
    coef(r0 + bt_all, c_ch + bt_all, -np.repeat(eta_c, T) * dt)
    coef(r0 + bt_all, c_dis + bt_all, dt / np.repeat(eta_d, T))

    ch_max = np.asarray(p.battery_max_charge_kw, dtype=np.float64)
    dis_max = np.asarray(p.battery_max_discharge_kw, dtype=np.float64)
    r0 = add_rows("battery_charge_mode", b_grid, -INF, 0.0)
    coef(r0 + bt_all, c_ch + bt_all, 1.0)
    coef(r0 + bt_all, c_mode + bt_all, -np.repeat(ch_max, T))
    r0 = add_rows("battery_discharge_mode", b_grid, -INF, np.repeat(dis_max, T))
    coef(r0 + bt_all, c_dis + bt_all, 1.0)
    coef(r0 + bt_all, c_mode + bt_all, np.repeat(dis_max, T))

    r0 = add_rows("battery_final_soc", (np.arange(B),),
                  np.asarray(p.battery_soc_final_min_kwh, dtype=np.float64) if B else 0.0, INF)
    coef(r0 + np.arange(B), c_soc + np.arange(B) * T + (T - 1), 1.0)

    # DR events (define_dr_events)
    r0 = add_rows("dr_event_cap", (ke, kt), -INF, ev_cap[ke, kt] if K else 0.0)
    jk = np.arange(len(ke), dtype=np.int64)
    coef(r0 + jk, c_short + jk, -1.0)
    for k in range(K):
        jrows = np.flatnonzero(ke == k)                       # this event's rows (its slots)
        scope = np.flatnonzero(ev_scope[k])
        if len(jrows) and len(scope):
            coef(r0 + np.repeat(jrows, len(scope)),
                 c_net + np.tile(scope, len(jrows)) * T + np.repeat(kt[jrows], len(scope)),
                 float(p.event_signs()[k]))  # +1 peak shaving, -1 valley filling

    # EV ramp (define_ev_ramp): ev_max_rise_kw[n] >= ev_kw[n,t] - ev_kw[n,t-1], ev_kw the EV power behind n
    # written out (an ev_kw column per (n, t) with its defining row solves 2-3x slower in HiGHS).
    rise_n, rise_t = (_grid(N, T - 1) if ramp else (np.zeros(0, np.int32),) * 2)
    r0 = add_rows("ev_rise", (rise_n, rise_t + 1), 0.0, INF)
    coef(r0 + np.arange(len(rise_n)), c_rise + rise_n, 1.0, repeats=True)   # each column in T - 1 rows
    if ramp:
        for c0, e_ix, t_ix, sign in ((c_pow, pe, pt, 1.0), (c_evdis, ve, vt, -1.0)):  # charging +, discharge -
            j = np.arange(len(e_ix), dtype=np.int64)
            row = ev_n[e_ix] * (T - 1) + t_ix - 1          # ev_rise[n, t]: this slot's power counts -1
            now, nxt = t_ix >= 1, t_ix <= T - 2             # ... and +1 in the next slot's row
            coef(r0 + row[now], c0 + j[now], -sign)
            coef(r0 + row[nxt] + 1, c0 + j[nxt], sign)

    # Storage never discharges into export (define_storage_export): net - curtail + M mode >= 0
    big_m = p.export_big_m_kw()
    bt_all = np.arange(B * T, dtype=np.int64)
    bat_at = np.repeat(bat_n, T) * T + np.tile(np.arange(T), B)   # (transformer, slot) of each row
    v_at = ev_n[ve] * T + vt
    for name, n_rows_fam, at, c_unit, index in (("battery_export", B * T, bat_at, c_mode, b_grid),
                                                 ("ev_export", nV, v_at, c_vmode, (ve, vt))):
        r0 = add_rows(name, index, 0.0, INF)
        j = np.arange(n_rows_fam, dtype=np.int64)
        coef(r0 + j, c_net + at, 1.0, repeats=True)        # several units behind one transformer
        coef(r0 + j, c_unit + j, big_m.ravel()[at])
        for s_ in range(S):                                # PV curtailed counts as exported
            mine = np.flatnonzero(at // T == st_n[s_])
            coef(r0 + mine, c_curt + s_ * T + at[mine] % T, -1.0, repeats=True)

    n_rows = rows.size

    # ---- assemble CSC --------------------------------------------------------------------
    a_start, a_index, a_value = _triplets_to_csc(trip_r, trip_c, trip_v, n_cols, trip_repeats)
    del trip_r, trip_c, trip_v

    const = 0.0
    if K:
        const = -float(np.sum(np.asarray(p.event_price_cny_per_kwh, float) * dt * red * ev_slots.sum(axis=1)))

    return LeanModel(
        n_cols=n_cols, n_rows=n_rows,
        col_cost=cost, col_lower=lower, col_upper=upper,
        row_lower=np.ascontiguousarray(np.concatenate(r_lo)) if r_lo else np.zeros(0),
        row_upper=np.ascontiguousarray(np.concatenate(r_up)) if r_up else np.zeros(0),
        a_start=a_start, a_index=a_index, a_value=a_value,
        integrality=integrality,
        col_families=cols.families, row_families=rows.families,
        col_index=cols.index, row_index=rows.index,
        relax_integrality=relax_integrality,
        objective_constant=const,
        build_seconds=time.perf_counter() - t0,
        shape=dict(E=E, T=T, N=N, F=F, S=S, B=B, K=K),
    )


def _triplets_to_csc(rows: list[np.ndarray], cols: list[np.ndarray], vals: list[np.ndarray],
                     n_cols: int, repeats: list[bool]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column-wise arrays (start int32, index int32, value float64) from chunks of triplets.

    A counting sort without concatenating the chunks: count the entries per column, then
    scatter chunk by chunk, each chunk filling the next free positions of its columns (a chunk
    flagged in ``repeats`` holds a column several times, e.g. ``ev_max_rise_kw[n]`` in each slot's ``ev_rise`` row
    or ``net_load_kw[n,t]`` in the ``ev_export`` row of each V2G EV behind ``n``). Within a column the entries keep the chunk order, i.e. ascending rows.
    Zero coefficients are dropped. The chunks are consumed (emptied) to free memory early.
    """
    if sum(len(c) for c in cols) <= SMALL_NNZ:
        return _triplets_to_csc_small(rows, cols, vals, n_cols)
    counts = np.zeros(n_cols, dtype=np.int64)
    for k, (c, v) in enumerate(zip(cols, vals)):
        if not np.all(v):
            keep = v != 0.0
            rows[k], cols[k], vals[k] = rows[k][keep], c[keep], v[keep]
        if repeats[k]:
            np.add.at(counts, cols[k], 1)
        else:
            counts[cols[k]] += 1      # faster, but counts a column once per chunk
    start = np.zeros(n_cols + 1, dtype=np.int64)
    np.cumsum(counts, out=start[1:])
    nnz = int(start[-1])
    if nnz > np.iinfo(np.int32).max:
        raise ValueError(f"model has {nnz} nonzeros, more than HiGHS' 32-bit index allows")
    index = np.empty(nnz, dtype=np.int32)
    value = np.empty(nnz, dtype=np.float64)
    nxt = start[:-1].copy()
    k_chunk = 0
    while cols:
        r, c, v, repeated = rows.pop(0), cols.pop(0), vals.pop(0), repeats[k_chunk]
        k_chunk += 1
        if repeated:                  # e.g. ev_max_rise_kw[n] in every slot's ev_rise row
            pos = nxt[c] + _rank_within(c)
            np.add.at(nxt, c, 1)
        else:
            pos = nxt[c]
            nxt[c] += 1
        index[pos] = r
        value[pos] = v
    if not np.array_equal(nxt, start[1:]):
        raise RuntimeError("lean build: entries lost while assembling the matrix")
    return start.astype(np.int32), index, value


def _rank_within(c: np.ndarray) -> np.ndarray:
    """For each entry, how many earlier entries of the chunk have the same column."""
    order = np.argsort(c, kind="stable")
    sorted_c = c[order]
    first = np.ones(len(c), dtype=bool)
    first[1:] = sorted_c[1:] != sorted_c[:-1]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(c)), 0))
    rank = np.empty(len(c), dtype=np.int64)
    rank[order] = np.arange(len(c)) - group_start
    return rank


#: Up to this many triplets a model (a transformer block) is assembled by scipy's C++ conversion
#: in one call: half the time of the chunk-wise counting sort, which the large models keep because
#: it never holds the triplets twice.
SMALL_NNZ = 2_000_000


def _triplets_to_csc_small(rows: list[np.ndarray], cols: list[np.ndarray], vals: list[np.ndarray],
                           n_cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_triplets_to_csc` for small models: the same arrays (entries of a column in chunk
    order, zeros dropped), by scipy's stable COO -> CSC conversion."""
    r, c = np.concatenate(rows or [np.zeros(0, np.int32)]), np.concatenate(cols or [np.zeros(0, np.int32)])
    v = np.concatenate(vals or [np.zeros(0)])
    keep = v != 0.0
    if not keep.all():
        r, c, v = r[keep], c[keep], v[keep]
    n_rows = int(r.max()) + 1 if len(r) else 0
    a = sp.csc_matrix((v, (r, c)), shape=(n_rows, n_cols))
    if a.nnz != len(v):                     # duplicates were summed: a bug in a family
        raise RuntimeError("lean build: duplicate (row, column) entries in one family")
    rows.clear(), cols.clear(), vals.clear()
    return a.indptr.astype(np.int32), a.indices.astype(np.int32), a.data.astype(np.float64, copy=False)

