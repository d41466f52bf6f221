"""The swap and fast-charging stations of a :class:`~vpp_sched.problem.arrays.Problem` (its ``sites``).

Index ``w`` runs over swap stations, ``g`` over fast-charging stations; both in ``scenario.yaml``
order. Their PV and batteries are ordinary stations of the Problem (``station_ids``,
``battery_station``), behind the same transformer. Models: models/swap_stations.md,
models/fast_charging.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np

from vpp_sched.problem.queueing import min_cap_series_kw


def _f(dtype=float):
    return field(default_factory=lambda: np.array([], dtype=dtype))


@dataclass(frozen=True)
class Sites:
    """Arrays of the swap (``swap_*``, [W] or [W, T]) and fast-charging (``fast_*``, [G] or [G, T]) stations.

    swap_ids, swap_transformer : [W] ids, index into transformer_ids
    swap_packs : [W] packs in the station [-]; swap_pack_charge_kwh : [W] energy into the cells that
        makes a returned pack full, (full_soc - returned_soc) x pack_kwh [kWh]
    swap_charge_max_kw : [W] min(bays x bay_max_kw, grid_max_kw) [kW]; swap_bay_max_kw : [W] [kW];
        swap_bays : [W] packs that can charge at once [-]
    swap_efficiency : [W] grid-to-pack [-]; swap_initial_full, swap_final_full_min : [W] packs [-]
    swap_demand : [W, T] expected swaps per slot [-]
    fast_ids, fast_transformer : [G]; fast_dispensers : [G] [-]; fast_dispenser_max_kw : [G] [kW]
    fast_target_wait_h : [G] [h]; fast_arrivals_per_h : [G, T] [1/h]; fast_mean_energy_kwh : [G, T] [kWh]
    fast_min_cap_kw : [G, T] the smallest cap whose Erlang-C wait is at most the target [kW]
    """

    swap_ids: np.ndarray = _f(object)
    swap_transformer: np.ndarray = _f(int)
    swap_packs: np.ndarray = _f()
    swap_pack_charge_kwh: np.ndarray = _f()
    swap_charge_max_kw: np.ndarray = _f()
    swap_bay_max_kw: np.ndarray = _f()
    swap_bays: np.ndarray = _f()
    swap_efficiency: np.ndarray = _f()
    swap_initial_full: np.ndarray = _f()
    swap_final_full_min: np.ndarray = _f()
    swap_demand: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    swap_initial_partial_kwh: np.ndarray = _f()   # [W] energy in the packs not full at the start; empty = 0
    fast_ids: np.ndarray = _f(object)
    fast_transformer: np.ndarray = _f(int)
    fast_dispensers: np.ndarray = _f(int)
    fast_dispenser_max_kw: np.ndarray = _f()
    fast_target_wait_h: np.ndarray = _f()
    fast_arrivals_per_h: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    fast_mean_energy_kwh: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    fast_min_cap_kw: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    unserved_swap_cny_per_swap: float = 10_000.0
    fast_shortfall_cny_per_kwh: float = 1000.0

    @property
    def n_swap(self) -> int:
        return len(self.swap_ids)

    @property
    def n_fast(self) -> int:
        return len(self.fast_ids)

    @property
    def partial0_kwh(self) -> np.ndarray:
        """[W] energy in the packs not full at the start (0 unless a re-plan starts mid-day) [kWh]."""
        d = np.asarray(self.swap_initial_partial_kwh, dtype=float)
        return d if len(d) == self.n_swap else np.zeros(self.n_swap)

    def window(self, t0: int, full_packs: np.ndarray, partial_kwh: np.ndarray, dt_h: float) -> "Sites":
        """The sites of slots ``t0..`` starting from ``full_packs`` and ``partial_kwh`` [W] (a re-plan): the
        final full packs lowered to what the racks can surely still reach, so the window stays feasible.

        That reach serves no swap and charges the packs not full now with one bay each (``swap_bays``:
        ``bay_max_kw x (packs - F)``, within the connection) in every slot left. The connection alone
        (``swap_charge_max_kw``) overstated it when fewer packs than bays are not full: the re-plan of a
        replay's last slot asked 9 full packs where 8.4 could be reached, and was infeasible."""
        n_left = self.swap_demand.shape[1] - t0 if self.n_swap else 0
        full_packs = np.asarray(full_packs, float)
        rate_kw = np.minimum(self.swap_charge_max_kw, self.swap_bay_max_kw * np.maximum(self.swap_packs - full_packs, 0.0))
        reach = np.minimum(full_packs + (partial_kwh + self.swap_efficiency * dt_h * rate_kw * n_left)
                           / self.swap_pack_charge_kwh, self.swap_packs) if self.n_swap else np.zeros(0)
        return replace(self, swap_demand=self.swap_demand[:, t0:], swap_initial_full=np.asarray(full_packs, float),
                       swap_initial_partial_kwh=np.asarray(partial_kwh, float),
                       swap_final_full_min=np.minimum(self.swap_final_full_min, reach),
                       fast_arrivals_per_h=self.fast_arrivals_per_h[:, t0:],
                       fast_mean_energy_kwh=self.fast_mean_energy_kwh[:, t0:], fast_min_cap_kw=self.fast_min_cap_kw[:, t0:])

    @property
    def fast_max_kw(self) -> np.ndarray:
        """[G] all dispensers at full power [kW]."""
        return self.fast_dispensers * self.fast_dispenser_max_kw

    def site_at_transformer_kw(self, swap_kw: np.ndarray, fast_kw: np.ndarray, n_transformers: int) -> np.ndarray:
        """[N, T] swap charging ``swap_kw`` [W, T] plus fast-charging caps ``fast_kw`` [G, T] per transformer [kW]."""
        T = swap_kw.shape[1] if self.n_swap else fast_kw.shape[1]
        out = np.zeros((n_transformers, T))
        np.add.at(out, self.swap_transformer, swap_kw)
        np.add.at(out, self.fast_transformer, fast_kw)
        return out

    def restrict(self, local: np.ndarray) -> "Sites":
        """The sites on the transformers with ``local[n] >= 0``, their transformer renumbered to ``local``."""
        w = np.flatnonzero(local[self.swap_transformer] >= 0) if self.n_swap else np.zeros(0, int)
        g = np.flatnonzero(local[self.fast_transformer] >= 0) if self.n_fast else np.zeros(0, int)
        kw = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray) and len(value) == (self.n_swap if f.name.startswith("swap_") else self.n_fast):
                kw[f.name] = value[w] if f.name.startswith("swap_") else value[g]
        kw["swap_transformer"] = local[self.swap_transformer[w]]
        kw["fast_transformer"] = local[self.fast_transformer[g]]
        return replace(self, **kw)


def build_sites(cfg, demand: dict, transformer_ids: list, n_slots: int) -> Sites | None:
    """The Sites of a scenario config, or ``None`` when it has no swap or fast-charging station."""
    if not cfg.swap_stations and not cfg.fast_charging_stations:
        return None
    t_index = {tid: i for i, tid in enumerate(transformer_ids)}
    sw, fc = cfg.swap_stations, cfg.fast_charging_stations
    arr = lambda xs, attr, dtype=float: np.array([getattr(x, attr) for x in xs], dtype=dtype)  # noqa: E731

    def table(xs, column):
        out = np.zeros((len(xs), n_slots))
        for i, x in enumerate(xs):
            out[i] = demand[x.station_id][column].to_numpy(float)
        return out

    lam, energy = table(fc, "arrivals_per_hour"), table(fc, "mean_energy_kwh")
    target_h = arr(fc, "target_wait_min") / 60.0
    min_cap = np.array([min_cap_series_kw(lam[g], energy[g], x.dispensers, x.dispenser_max_kw, target_h[g])
                        for g, x in enumerate(fc)]).reshape(len(fc), n_slots)
    return Sites(
        swap_ids=arr(sw, "station_id", object), swap_transformer=np.array([t_index[x.transformer_id] for x in sw], int),
        swap_packs=arr(sw, "packs"), swap_pack_charge_kwh=arr(sw, "pack_charge_kwh"),
        swap_charge_max_kw=arr(sw, "charge_max_kw"), swap_bay_max_kw=arr(sw, "bay_max_kw"),
        swap_bays=arr(sw, "bays"),
        swap_efficiency=arr(sw, "charge_efficiency"), swap_initial_full=arr(sw, "initial_full_packs"),
        swap_final_full_min=arr(sw, "final_full_packs_min"), swap_demand=table(sw, "swaps"),
        fast_ids=arr(fc, "station_id", object), fast_transformer=np.array([t_index[x.transformer_id] for x in fc], int),
        fast_dispensers=arr(fc, "dispensers", int), fast_dispenser_max_kw=arr(fc, "dispenser_max_kw"),
        fast_target_wait_h=target_h, fast_arrivals_per_h=lam, fast_mean_energy_kwh=energy, fast_min_cap_kw=min_cap,
        unserved_swap_cny_per_swap=cfg.penalties.unserved_swap_cny_per_swap,
        fast_shortfall_cny_per_kwh=cfg.penalties.fast_cap_shortfall_cny_per_kwh)


def uncontrolled_swap(st: Sites, dt_h: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(charge_kw, unserved, full_packs)`` [W, T] of the swap stations without a plan: every returned
    pack charges at once at full power (as many bays as packs not full, within the connection) and a
    swap is served while a full pack is on hand (the rules of models/swap_stations.md)."""
    W, T = st.swap_demand.shape
    charge, unserved, full = np.zeros((W, T)), np.zeros((W, T)), np.zeros((W, T))
    f = np.asarray(st.swap_initial_full, dtype=float).copy()
    for t in range(T):
        served = np.minimum(st.swap_demand[:, t], f)
        room = st.swap_pack_charge_kwh * (st.swap_packs - f + served) / (st.swap_efficiency * dt_h)
        charge[:, t] = np.maximum(np.minimum.reduce([st.swap_charge_max_kw, st.swap_bay_max_kw * (st.swap_packs - f),
                                                     room]), 0.0)
        unserved[:, t] = st.swap_demand[:, t] - served
        f = np.minimum(f - served + st.swap_efficiency * dt_h * charge[:, t] / st.swap_pack_charge_kwh, st.swap_packs)
        full[:, t] = f
    return charge, unserved, full


def uncontrolled_site_kw(st: Sites | None, n_transformers: int, n_slots: int, dt_h: float) -> np.ndarray:
    """[N, T] the sites' load without a plan: swap packs charged at once (:func:`uncontrolled_swap`), each
    fast-charging station drawing the cap its drivers need (``fast_min_cap_kw``, no battery) [kW]."""
    if st is None:
        return np.zeros((n_transformers, n_slots))
    swap_kw = uncontrolled_swap(st, dt_h)[0] if st.n_swap else np.zeros((0, n_slots))
    return st.site_at_transformer_kw(swap_kw, np.asarray(st.fast_min_cap_kw).reshape(st.n_fast, n_slots),
                                     n_transformers)
