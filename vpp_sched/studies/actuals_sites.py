"""The swap and fast-charging stations on the day as it happened (``replay``, ``evaluate``).

A sampled day (:func:`vpp_sched.scenario.sampling.sample_day`, ``Actuals.site_demand``) asks for other
swaps and brings other fast-charging drivers than the plan's forecast. :class:`SitePlay` plays them
slot by slot against the set-points a policy gives (``models/uncertainty.md``, "The sites on the day"):

- **swap station**: the slot's actual swaps take packs full at the slot's start (``served =
  min(asked, full)``, the rest unserved, as ``swap_on_hand``); the racks draw the set-point within what
  the station can take (bays on the packs not full, the connection, the room in the packs not full
  after the swaps: ``swap_bays``, ``swap_partial_room`` of ``models/swap_stations.md``); the energy
  stored completes packs (fluid packs, as the model), except what the plan leaves in the packs
  mid-charge (its ``swap_partial_kwh``), so that a slot as planned ends in the plan's stock;
- **fast-charging station**: the slot's drivers want ``arrivals_per_hour x mean_energy_kwh`` at the
  actual rate; the station draws that within the cap the policy leaves (``min(want, cap)``: the
  plan's ``served_kwh`` rule) and the rest of the slot's energy is unserved; the wait is Erlang C at the
  actual rate under the cap (:func:`vpp_sched.problem.queueing.wait_at_cap`'s rule, as the plan's
  ``expected_wait_min``).

The metered load at the transformer is what the racks and the drivers draw. With the day's site
demand as forecast and the plan's set-points, the swaps served and the fast-charging energy and
waits are the plan's (``tests/studies/test_actuals_sites.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from vpp_sched.problem.queueing import min_cap_series_kw, mmc_wait_h
from vpp_sched.problem.sites import Sites, uncontrolled_swap

#: Below this a pack count, swap or kWh is round-off [-, kWh].
TOL_SITE = 1e-6
#: The day's site KPIs (``days.csv``, ``kpis.json`` runs): swaps not served [-], fast-charging energy
#: not served in its slot [kWh], arrival-weighted mean expected wait [min], station-slots over target.
SWAP_DAY_COLUMNS = ["unserved_swaps"]
FAST_DAY_COLUMNS = ["fast_unserved_kwh", "fast_wait_min", "fast_slots_over_target"]


def actual_site_demand(st: Sites, site_demand: dict | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(swaps [W, T], arrivals_per_h [G, T], mean_energy_kwh [G, T])`` of the day: a station's sampled
    table where ``site_demand`` has one, else its forecast (``st`` the full-day Sites)."""
    d = site_demand or {}
    swaps, lam, energy = (np.array(a, dtype=float, copy=True) for a in
                          (st.swap_demand, st.fast_arrivals_per_h, st.fast_mean_energy_kwh))
    for w, sid in enumerate(st.swap_ids):
        if sid in d:
            swaps[w] = d[sid]["swaps"].to_numpy(float)
    for g, sid in enumerate(st.fast_ids):
        if sid in d:
            lam[g] = d[sid]["arrivals_per_hour"].to_numpy(float)
            energy[g] = d[sid]["mean_energy_kwh"].to_numpy(float)
    return swaps, lam, energy


@dataclass
class SitePlay:
    """The sites through one run of the day: their stock now and what each slot did.

    ``full``, ``partial`` [W]: full packs and energy in the packs not full at the start of the current
    slot [-, kWh]; ``swap_served``, ``swap_kw`` [W, T]: swaps served and the racks' draw [-, kW];
    ``fast_cap_kw``, ``fast_kw`` [G, T]: the cap the policy left and the drivers' draw [kW].
    """

    sites: Sites
    swaps: np.ndarray
    fast_lam: np.ndarray
    fast_energy: np.ndarray
    full: np.ndarray
    partial: np.ndarray
    swap_served: np.ndarray
    swap_kw: np.ndarray
    fast_cap_kw: np.ndarray
    fast_kw: np.ndarray
    _fast_min: np.ndarray | None = None   # [G, T] min_cap_kw at the day's rates (the controller's, on first use)

    @classmethod
    def start(cls, st: Sites | None, site_demand: dict | None) -> "SitePlay | None":
        """The play of a day from the sites' start (``None`` without sites)."""
        if st is None:
            return None
        swaps, lam, energy = actual_site_demand(st, site_demand)
        W, G, T = st.n_swap, st.n_fast, swaps.shape[1] if st.n_swap else lam.shape[1]
        return cls(st, swaps.reshape(W, T), lam.reshape(G, T), energy.reshape(G, T),
                   np.asarray(st.swap_initial_full, float).copy(), st.partial0_kwh.astype(float).copy(),
                   np.zeros((W, T)), np.zeros((W, T)), np.zeros((G, T)), np.zeros((G, T)))

    @property
    def stock(self) -> tuple[np.ndarray, np.ndarray]:
        """(full packs, partial energy) [W] now: where a re-plan starts (``window_problem``'s ``site_state``)."""
        return self.full.copy(), self.partial.copy()

    def swap_most_kw(self, t: int, dt_h: float) -> np.ndarray:
        """[W] the most the racks can draw in slot ``t`` after its actual swaps [kW]."""
        st = self.sites
        served = np.minimum(self.swaps[:, t], self.full)
        room_kwh = st.swap_pack_charge_kwh * (st.swap_packs - self.full + served) - self.partial
        most = np.minimum.reduce([st.swap_charge_max_kw, st.swap_bay_max_kw * (st.swap_packs - self.full),
                                  room_kwh / (st.swap_efficiency * dt_h)])
        return np.maximum(most, 0.0)

    def play(self, t: int, swap_set_kw: np.ndarray, fast_cap_kw: np.ndarray, dt_h: float,
             n_transformers: int, swap_keep_kwh: np.ndarray | None = None) -> np.ndarray:
        """Slot ``t`` with the racks' set-points and the fast-charging caps [kW]: swaps served, packs
        completed, the drivers' draw; returns the sites' metered load per transformer [N] [kW].

        ``swap_keep_kwh`` [W]: the energy the plan leaves in the packs not full at the slot's end (its
        ``swap_partial_kwh``; default 0): packs mid-charge stay so, up to that energy, and the rest of
        the energy stored completes packs, so a slot as planned ends in the plan's stock [kWh]."""
        st = self.sites
        if st.n_swap:
            served = np.minimum(self.swaps[:, t], self.full)
            kw = np.minimum(np.maximum(swap_set_kw, 0.0), self.swap_most_kw(t, dt_h))
            stored = self.partial + st.swap_efficiency * dt_h * kw          # in the packs not full
            keep = np.zeros(st.n_swap) if swap_keep_kwh is None else np.maximum(swap_keep_kwh, 0.0)
            done = np.maximum(stored - keep, 0.0) / st.swap_pack_charge_kwh   # packs completed (fluid)
            self.full = np.minimum(self.full - served + done, st.swap_packs)
            self.partial = stored - done * st.swap_pack_charge_kwh
            self.swap_served[:, t], self.swap_kw[:, t] = served, kw
        if st.n_fast:
            cap = np.minimum(np.maximum(fast_cap_kw, 0.0), st.fast_max_kw)
            self.fast_cap_kw[:, t] = cap
            self.fast_kw[:, t] = np.minimum(self.fast_draw_kw(t), cap)
        out = np.zeros(n_transformers)
        np.add.at(out, st.swap_transformer, self.swap_kw[:, t])
        np.add.at(out, st.fast_transformer, self.fast_kw[:, t])
        return out

    def fast_draw_kw(self, t: int) -> np.ndarray:
        """[G] what the slot's fast-charging drivers draw at most (``arrivals_per_hour x mean_energy_kwh`` of the
        day): a station draws this under any cap above it [kW]."""
        return self.fast_lam[:, t] * self.fast_energy[:, t]

    def must_kw(self, t: int, dt_h: float) -> tuple[np.ndarray, np.ndarray]:
        """The slot controller's must-keep powers of the sites in slot ``t`` [kW] (``models/uncertainty.md``,
        "The sites on the day"): per swap station the least rack power that still lets it serve the swaps
        to come (this slot's actual ones, the forecast's after) at full power later
        (:func:`swap_catch_up_kw`); per fast-charging station the wait-keeping cap at the slot's actual
        arrival rate (``min_cap_kw``; the platform sees the drivers it has, as it meters the base load)."""
        st = self.sites
        swap = swap_catch_up_kw(st, self.full, self.partial, self.swaps[:, t], t, dt_h) if st.n_swap else np.zeros(0)
        swap = np.minimum(swap, self.swap_most_kw(t, dt_h)) if st.n_swap else swap
        if self._fast_min is None:
            self._fast_min = np.array([min_cap_series_kw(self.fast_lam[g], self.fast_energy[g], int(st.fast_dispensers[g]),
                                                         float(st.fast_dispenser_max_kw[g]), float(st.fast_target_wait_h[g]))
                                       for g in range(st.n_fast)]).reshape(self.fast_lam.shape)
        return swap, self._fast_min[:, t]

    def load_kw(self, n_transformers: int) -> np.ndarray:
        """[N, T] the sites' metered load per transformer [kW]."""
        return self.sites.site_at_transformer_kw(self.swap_kw, self.fast_kw, n_transformers)


def swap_catch_up_kw(st: Sites, full: np.ndarray, partial_kwh: np.ndarray, asked_now: np.ndarray, t: int,
                     dt_h: float) -> np.ndarray:
    """[W] the least rack power in slot ``t`` that still lets each swap station serve every swap to come at
    its connection's full power in the slots after this one [kW].

    The swaps served by the start of slot ``j > t`` are those of ``asked_now`` on hand plus the forecast ``swap_demand``
    of ``t+1..j``; the packs on hand then are ``full + (partial + eta dt (p_t + (j - 1 - t) C)) / e`` less
    the swaps before ``j``, and must cover slot ``j``'s: the largest need over ``j`` is what ``p_t`` gives.
    (Without the bays' limit on the later slots: a lower bound, like the EVs' catch-up.)
    """
    T = st.swap_demand.shape[1]
    if t + 1 >= T:
        return np.zeros(st.n_swap)
    now = np.minimum(asked_now, full)                                     # served now; the rest leave
    ahead = np.concatenate([now[:, None], st.swap_demand[:, t + 1:]], axis=1)   # [W, T - t]
    need_packs = np.cumsum(ahead, axis=1)[:, 1:] - full[:, None]          # [W, j = t+1..T-1] to complete by j
    later_kwh = st.swap_efficiency[:, None] * dt_h * st.swap_charge_max_kw[:, None] * np.arange(T - t - 1)[None, :]
    need_kw = (need_packs * st.swap_pack_charge_kwh[:, None] - partial_kwh[:, None] - later_kwh) / (
        st.swap_efficiency[:, None] * dt_h)
    return np.maximum(need_kw.max(axis=1), 0.0)


def uncontrolled_play(st: Sites | None, site_demand: dict | None, dt_h: float) -> SitePlay | None:
    """The sites without a plan on the day's demand: every returned pack charged at once
    (:func:`~vpp_sched.problem.sites.uncontrolled_swap`), every fast-charging dispenser free to draw
    its full power (no cap)."""
    play = SitePlay.start(st, site_demand)
    if play is None:
        return None
    if st.n_swap:
        charge, unserved, full = uncontrolled_swap(replace(st, swap_demand=play.swaps), dt_h)
        play.swap_kw, play.swap_served = charge, play.swaps - unserved
        play.full, play.partial = full[:, -1].copy(), np.zeros(st.n_swap)
    if st.n_fast:
        play.fast_cap_kw = np.repeat(st.fast_max_kw[:, None], play.fast_lam.shape[1], axis=1).astype(float)
        play.fast_kw = np.minimum(play.fast_lam * play.fast_energy, play.fast_cap_kw)
    return play


def fast_wait_min(st: Sites, lam: np.ndarray, energy: np.ndarray, cap_kw: np.ndarray) -> np.ndarray:
    """[G, T] Erlang-C expected wait under the caps [min]; ``inf`` where the queue is unstable."""
    out = np.zeros(lam.shape)
    for g in range(st.n_fast):
        c, pmax = int(st.fast_dispensers[g]), float(st.fast_dispenser_max_kw[g])
        for t in np.flatnonzero((lam[g] > 0) & (energy[g] > 0)):
            mu = min(pmax, float(cap_kw[g, t]) / c) / float(energy[g, t])   # as wait_at_cap
            out[g, t] = 60.0 * mmc_wait_h(float(lam[g, t]), mu, c)
    return out


def site_day_kpis(play: SitePlay | None, dt_h: float) -> dict:
    """The day's site KPIs of one run (:data:`SWAP_DAY_COLUMNS`, :data:`FAST_DAY_COLUMNS`, kinds present)."""
    if play is None:
        return {}
    st, out = play.sites, {}
    if st.n_swap:
        unserved = np.maximum(play.swaps - play.swap_served, 0.0)
        out["unserved_swaps"] = float(unserved[unserved > TOL_SITE].sum())
    if st.n_fast:
        want = play.fast_lam * play.fast_energy
        short = np.maximum(want - play.fast_kw, 0.0) * dt_h
        wait = fast_wait_min(st, play.fast_lam, play.fast_energy, play.fast_cap_kw)
        arrivals = play.fast_lam * dt_h
        stable = np.isfinite(wait) & (arrivals > 0)
        weight = np.where(stable, arrivals, 0.0)
        over = (arrivals > 0) & ((wait > st.fast_target_wait_h[:, None] * 60 + 1e-6) | ~np.isfinite(wait))
        out["fast_unserved_kwh"] = float(short[short > TOL_SITE].sum())
        out["fast_wait_min"] = float((np.where(stable, wait, 0.0) * weight).sum() / weight.sum()) if weight.sum() > 0 else 0.0
        out["fast_slots_over_target"] = int(over.sum())
    return out


# ---- the actuals folder (``replay``'s ``actuals/``, ``--actuals DIR``) -------------------------
#: file -> (scenario.yaml list of its stations, value columns as the scenario's demand tables)
SITE_ACTUALS_FILES = {"swap_demand.csv": ("swap_stations", ("swaps",)),
                      "fast_demand.csv": ("fast_charging_stations", ("arrivals_per_hour", "mean_energy_kwh"))}


def write_site_demand(site_demand: dict | None, config, folder) -> None:
    """The day's site demand as ``swap_demand.csv`` / ``fast_demand.csv`` in the scenario's format (nothing
    without it or without the scenario's ``config``)."""
    if not site_demand or config is None:
        return
    import pandas as pd

    for name, (kind, columns) in SITE_ACTUALS_FILES.items():
        ids = [st.station_id for st in getattr(config, kind) if st.station_id in site_demand]
        if not ids:
            continue
        parts = []
        for sid in ids:
            t = site_demand[sid][list(columns)].rename_axis("slot_start").reset_index()
            t.insert(1, "station_id", sid)
            parts.append(t)
        long = pd.concat(parts, ignore_index=True)
        long["slot_start"] = long.slot_start.map(lambda x: x.isoformat())
        long.to_csv(folder / name, index=False, float_format="%.10g", lineterminator="\n")


def read_site_demand(folder, scenario, problems) -> dict | None:
    """``{station_id: table}`` from an actuals folder's ``swap_demand.csv`` / ``fast_demand.csv`` (each, when
    there, with every slot for every station of its kind; checked like the scenario's); ``None`` without them."""
    from vpp_sched.scenario.sites import FAST_COLUMNS, SWAP_COLUMNS, read_demand

    out = {}
    for name, (kind, _) in SITE_ACTUALS_FILES.items():
        ids = [st.station_id for st in getattr(scenario.config, kind)]
        if ids and (folder / name).is_file():
            columns = SWAP_COLUMNS if kind == "swap_stations" else FAST_COLUMNS
            out.update(read_demand(folder / name, f"actuals {name}", scenario.tz, scenario.slots, ids, columns,
                                   problems))
    return out or None
