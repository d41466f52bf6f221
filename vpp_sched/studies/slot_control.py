"""The charging platform's slot controller: the plan's set-points fitted to the metered slot.

Between re-plans a plan's set-points were made on the forecast base load and PV and on the EVs as
they were known then. A charging platform that meters its transformers (dynamic load management)
corrects them in every slot, before the chargers draw (``models/uncertainty.md``, "The slot
controller"):

1. **catch-up** (:func:`must_charge_kw`): an EV plugged in whose remaining request (stated at
   plug-in, as the re-plans know it) no longer fits in the whole slots it has left after this one
   at its charger's full power is raised to the power that keeps it fitting;
2. **look-ahead** (:func:`soon_charge_kw`, :func:`room_later_kw`): on a transformer whose expected
   headroom in the later slots cannot give what its plugged-in EVs' catch-up will ask of them, the
   shortfall is charged now, to the EVs with the least laxity first;
3. **headroom cap** (:func:`controlled_kw`, :func:`fit_tiers_to_headroom`): per transformer, the EVs',
   swap racks' and fast-charging stations' power is cut to ``limit_kw − (metered load of
   everything else)``: first what must be kept (the EVs' catch-up power, a fast station's
   wait-keeping cap ``fast_min_cap_kw``), then the look-ahead power, then the rest of the
   set-points, each tier scaled by one factor per transformer. What a fast-charging cap keeps above
   its drivers' expected draw in the slot (:func:`reserve_kw`) then goes to the EVs' must and
   look-ahead power not served, so the metered load stays within the limit. The swap racks store
   only what they drew: the stations' stock is played on the day's swaps (:mod:`.actuals_sites`).

Before the cap, a site battery on a transformer whose must and look-ahead tiers lack headroom
charges less, then discharges more (:func:`relieve_batteries`). After it, what the limit still leaves goes
to the plugged-in EVs with little laxity (:func:`early_fill_kw`, ``EARLY_LAXITY_SLOTS``), so an EV the plan
deferred is not cut later with drivers who have no slack. Nothing else changes: PV
curtailment follows the plan. The metered
load is the slot's (base load and PV constant within a 15-min slot, as everywhere in the model).
"""

from __future__ import annotations

import numpy as np


#: The catch-up keeps each EV this many slots ahead of the last moment: the slots it counts on
#: after this one are its whole slots left less one less this (a later slot may have no headroom).
#: 0, just in time: one slot ahead was no better on the bundled scenario (days 0-9: unmet energy
#: 278.85 against 278.84 kWh a day under ``replan``, energy cost +0.1 %).
CATCH_UP_AHEAD_SLOTS = 0


def must_charge_kw(need_kwh: np.ndarray, slots_left: np.ndarray, max_kw: np.ndarray, dt_h: float,
                   ahead_slots: int | None = None) -> np.ndarray:
    """[U] the least power in this slot that still lets each EV get ``need_kwh`` at ``max_kw`` in its
    ``slots_left`` whole slots (this one included) less ``ahead_slots``; at most ``max_kw`` [kW].

    ``need - (slots_left - 1 - ahead_slots) * max_kw * dt`` is what the later slots cannot give.
    """
    ahead = CATCH_UP_AHEAD_SLOTS if ahead_slots is None else ahead_slots
    later_kwh = np.maximum(slots_left - 1 - ahead, 0) * max_kw * dt_h
    return np.clip((need_kwh - later_kwh) / dt_h, 0.0, max_kw)


def soon_charge_kw(need_kwh: np.ndarray, slots_left: np.ndarray, max_kw: np.ndarray, must_kw: np.ndarray,
                   group: np.ndarray, room_later_kw: np.ndarray, dt_h: float) -> np.ndarray:
    """[U] power in this slot beyond ``must_kw`` that the transformer's later slots will not have room for [kW].

    :func:`must_charge_kw` counts on an EV's later slots at full power; on a transformer whose later
    headroom is short, several EVs count on the same kilowatts. For transformer ``n`` and each window
    of the ``h`` slots from this one, ``D[n, h] = sum_e clip(need_e - max(k_e - h, 0) pmax_e dt, 0,
    need_e)`` must arrive in the window, and its later ``h - 1`` slots can give at most ``C[n, h] =
    sum_(j=1..h-1) min(max(room_later[n, j], 0), sum_(e: k_e > j) pmax_e) dt``. The transformer must give
    ``R[n] = max_h (D[n, h] - C[n, h]) / dt`` now (a necessary condition of the later slots' room,
    checked window by window); what ``R`` asks beyond the EVs' ``must`` goes to its EVs least laxity
    first (``k_e - need_e / (pmax_e dt)``, then index), each up to its ``min(pmax, need / dt)``.

    Parameters
    ----------
    need_kwh, slots_left, max_kw, must_kw, group : [U] energy still wanted, whole slots left in the stay
        (this one included; 0 when not plugged in now), charger limit, :func:`must_charge_kw`, transformer
    room_later_kw : [N, J] the headroom expected in the next ``J`` slots (limit less the expected load of
        everything but the plugged-in EVs); slots past ``J`` count as none [kW]
    """
    U, (N, J) = len(need_kwh), room_later_kw.shape
    on = (slots_left > 0) & (need_kwh > 0)
    if not on.any():
        return np.zeros(U)
    idx = np.flatnonzero(on)
    k, need, pmax, g = slots_left[idx].astype(int), need_kwh[idx], max_kw[idx], group[idx].astype(int)
    H = int(k.max())
    h = np.arange(1, H + 1)
    onehot = np.zeros((N, len(idx)))
    onehot[g, np.arange(len(idx))] = 1.0
    # [E, H] what each EV must get within the first h slots; [N, H] summed per transformer
    # (at most what it can draw in them: a request its stay cannot take asks only for the stay at full power)
    step = (pmax * dt_h)[:, None]
    due = np.clip(need[:, None] - np.maximum(k[:, None] - h[None], 0) * step, 0.0,
                  np.minimum(need[:, None], h[None] * step))
    demand = onehot @ due
    # later slot j (1..H-1): the room expected, at most what the EVs still plugged in then can draw
    j = np.arange(1, H)
    room = np.maximum(room_later_kw[:, :H - 1], 0.0)
    room = np.pad(room, ((0, 0), (0, H - 1 - room.shape[1])))
    draw = onehot @ ((k[:, None] > j[None]) * pmax[:, None])
    capacity = np.concatenate([np.zeros((N, 1)), np.cumsum(np.minimum(room, draw), axis=1) * dt_h], axis=1)
    extra_kw = np.maximum((demand - capacity).max(axis=1) / dt_h - np.bincount(g, must_kw[idx], N), 0.0)
    return _least_laxity_first(extra_kw, idx, g, k, need, pmax, must_kw, U, dt_h)


def _least_laxity_first(extra_kw, idx, g, k, need, pmax, must_kw, U, dt_h) -> np.ndarray:
    """``extra_kw`` [N] handed to the EVs ``idx`` of each transformer, least laxity first, each up to
    ``min(pmax, need / dt) - must`` [kW]."""
    laxity = k - need / np.maximum(pmax * dt_h, 1e-12)
    order = np.lexsort((idx, laxity, g))              # by transformer, then laxity, then index
    cap = np.maximum(np.minimum(pmax, need / dt_h) - must_kw[idx], 0.0)[order]
    go = g[order]
    # cumulative cap within each transformer, before this EV
    before = np.cumsum(cap) - cap
    start = np.zeros(len(extra_kw))
    first = np.r_[True, go[1:] != go[:-1]]
    start[go[first]] = before[first]
    got = np.clip(extra_kw[go] - (before - start[go]), 0.0, cap)
    out = np.zeros(U)
    out[idx[order]] = got
    return out


def fit_tiers_to_headroom(tiers_kw: list[np.ndarray], group: np.ndarray, headroom_kw: np.ndarray
                          ) -> list[np.ndarray]:
    """Tiers of power [L] each, served in the order given into ``max(headroom, 0)`` [N] per transformer:
    a tier that does not fit in what the tiers before it left is scaled by one factor per transformer,
    the tiers after it get nothing [kW]."""
    left = np.maximum(headroom_kw, 0.0)
    n, out = len(left), []
    for tier in tiers_kw:
        need = np.bincount(group, tier, n)
        f = np.where(need > left, left / np.where(need > 0, need, 1.0), 1.0)
        out.append(tier * f[group])
        left = np.maximum(left - need * f, 0.0)
    return out


def reserve_kw(kept_kw: np.ndarray, draw_most_kw: np.ndarray, group: np.ndarray, n: int) -> np.ndarray:
    """[N] what kept powers [L] hold above what they draw in the slot (at most ``draw_most_kw`` [L], a
    fast-charging station's drivers' expected draw under its cap): headroom kept free but not metered [kW]."""
    return np.bincount(group, np.maximum(kept_kw - np.minimum(kept_kw, draw_most_kw), 0.0), n)


def controlled_kw(limit_kw: np.ndarray, other_kw: np.ndarray, loads: list[tuple],
                  catch_up_overload_pct: float = 0.0, draw_most_kw: list | None = None) -> list[np.ndarray]:
    """The powers of one slot's controllable loads after the headroom cap [kW].

    ``loads``: per kind (EVs, swap racks, fast-charging caps) ``(must_kw, want_kw, transformer)`` or
    ``(must_kw, soon_kw, want_kw, transformer)``, each [L]: the power it needs first (EV catch-up, a
    fast station's wait-keeping cap), the power it needs next (:func:`soon_charge_kw`; default none),
    the power it asks for (at least ``must + soon``) and its transformer index. ``other_kw`` [N]: the
    metered load of everything else. The tiers must, soon, rest are served in that order
    (:func:`fit_tiers_to_headroom`). ``draw_most_kw``: per kind ``None`` (it draws what it keeps) or [L]
    the most its kept power draws in the slot (a fast-charging station's drivers' expected draw): what the
    kept caps hold above their draw (:func:`reserve_kw`) goes to the first kind's (the EVs') must, then
    look-ahead power not served below the limit, each scaled by one factor; the metered load stays within
    the limit. ``catch_up_overload_pct`` (``uncertainty.catch_up_overload_pct``) lets the EVs' must power
    still not served load a transformer up to that share above its limit [%]. Returns the kept powers
    per kind, in the order given.
    """
    full = [ld if len(ld) == 4 else (ld[0], np.zeros_like(ld[0]), ld[1], ld[2]) for ld in loads]
    must = np.concatenate([m for m, _, _, _ in full])
    soon = np.concatenate([s for _, s, _, _ in full])
    want = np.concatenate([np.maximum(w, m + s) for m, s, w, _ in full])
    group = np.concatenate([g for _, _, _, g in full]).astype(int)
    n = len(limit_kw)
    first = np.arange(len(must)) < len(full[0][0])     # the reserve and the allowance are the EVs' (first kind's)
    kept = fit_tiers_to_headroom([must, soon, want - must - soon], group, limit_kw - other_kw)
    if draw_most_kw is not None:
        draw = np.concatenate([np.full(len(ld[0]), np.inf) if d is None else np.asarray(d, float)
                               for ld, d in zip(full, draw_most_kw)])
        free = reserve_kw(sum(kept), draw, group, n)
        more = fit_tiers_to_headroom([np.where(first, must - kept[0], 0.0), np.where(first, soon - kept[1], 0.0)],
                                     group, free)
        kept[0], kept[1] = kept[0] + more[0], kept[1] + more[1]
    if catch_up_overload_pct > 0:
        short = np.where(first, must - kept[0], 0.0)
        kept[0] = kept[0] + fit_tiers_to_headroom([short], group, limit_kw * catch_up_overload_pct / 100.0)[0]
    out, at = sum(kept), np.cumsum([0] + [len(ld[0]) for ld in full])
    return [out[at[i]:at[i + 1]] for i in range(len(full))]


def expected_fast_draw_kw(st, draw_now_kw: np.ndarray, t: int, phi: float) -> np.ndarray:
    """[G, T - t - 1] the fast-charging drivers' expected draw after slot ``t``: the forecast ``arrivals_per_hour
    x mean_energy_kwh`` with the rate's relative error metered now (``draw_now / forecast draw - 1``)
    carried on as ``e phi^j`` (``fast_arrivals_error_ar1``), at most the station's dispensers [kW]."""
    fc = st.fast_arrivals_per_h * st.fast_mean_energy_kwh            # [G, T] forecast draw
    J = fc.shape[1] - t - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.where(fc[:, t] > 0, draw_now_kw / fc[:, t] - 1.0, 0.0)
    later = fc[:, t + 1:] * np.maximum(1.0 + err[:, None] * phi ** np.arange(1, J + 1)[None], 0.0)
    return np.minimum(later, st.fast_max_kw[:, None])


def room_later_kw(ctx, plan, k: int, t: int, plugged: np.ndarray, sites=None) -> np.ndarray:
    """[N, T - t - 1] the headroom the platform expects in the slots after ``t``: ``limit_kw`` less the
    forecast base load with this slot's metered error carried on (``e_t phi^j``, the AR(1) coefficient
    ``base_load_error_ar1`` of ``uncertainty:``), less the PV forecast (its metered factor carried on the
    same way around ``pv_factor_mean``, less the plan's curtailment), the plan's battery and swap-rack
    set-points, the fast-charging stations' load (with ``sites``, the day's
    :class:`~vpp_sched.studies.actuals_sites.SitePlay`: their drivers' expected draw,
    :func:`expected_fast_draw_kw`, since the EVs' catch-up takes what a cap keeps above it; else the plan's
    caps), and the plan's set-points of EVs not plugged in now that have not left [kW].

    ``ctx`` a :class:`~vpp_sched.studies.actuals.Context`, ``plan`` the current
    :class:`~vpp_sched.solve.solution.Solution` whose column ``k`` is slot ``t``.
    """
    p, u = ctx.problem, ctx.scenario.config.uncertainty
    N, T = p.n_transformers, p.n_slots
    J = T - t - 1
    if J <= 0:
        return np.zeros((N, 0))
    decay = u.base_load_error_ar1 ** np.arange(1, J + 1)
    base_fc = np.asarray(p.base_load_kw, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.where(base_fc[:, t] > 0, ctx.base_actual_kw[:, t] / base_fc[:, t] - 1.0, 0.0)
    other = base_fc[:, t + 1:] * (1.0 + err[:, None] * decay[None])
    if p.n_stations and p.pv_kw is not None:
        pv_fc = np.asarray(p.pv_kw, float)
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(pv_fc[:, t] > 0, ctx.pv_actual_kw[:, t] / pv_fc[:, t], u.pv_factor_mean)
        pv_decay = u.pv_factor_ar1 ** np.arange(1, J + 1)
        expect = np.clip(u.pv_factor_mean + (factor - u.pv_factor_mean)[:, None] * pv_decay[None], 0.0, 1.0)
        pv = np.maximum(pv_fc[:, t + 1:] * expect - plan.pv_curtail_kw[:, k + 1:k + 1 + J], 0.0)
        np.subtract.at(other, p.station_transformer, pv)
    if p.n_batteries:
        np.add.at(other, p.station_transformer[p.battery_station],
                  plan.battery_charge_kw[:, k + 1:k + 1 + J] - plan.battery_discharge_kw[:, k + 1:k + 1 + J])
    if p.sites is not None:
        fast = plan.fast_cap_kw[:, k + 1:k + 1 + J]
        if sites is not None and p.sites.n_fast:
            fast = expected_fast_draw_kw(p.sites, sites.fast_draw_kw(t), t, u.fast_arrivals_error_ar1)
        other += p.sites.site_at_transformer_kw(plan.swap_charge_kw[:, k + 1:k + 1 + J], fast, N)
    f = ctx.fleet
    left = f.in_actuals & (f.a_departure_s <= ctx.start_s[t])
    coming = ~plugged & ~left
    if coming.any():
        np.add.at(other, f.transformer[coming], plan.ev_power_kw[coming, k + 1:k + 1 + J])
    return p.limit_kw[:, None] - other


def ev_catch_up_kw(ctx, plan, k: int, t: int, need_kw: np.ndarray, slots_left: np.ndarray, plugged: np.ndarray,
                   sites=None) -> tuple[np.ndarray, np.ndarray]:
    """The EVs' must and look-ahead power in slot ``t`` (:func:`must_charge_kw`, :func:`soon_charge_kw` on
    :func:`room_later_kw`); ``need_kw`` [U] what each still wants over one slot, ``slots_left`` [U] whole
    slots of its stay from ``t`` on, ``plugged`` [U] plugged in and not discharging, ``sites`` the day's
    site play [kW]."""
    f, dt = ctx.fleet, ctx.problem.dt_h
    must = np.where(plugged, np.minimum(must_charge_kw(need_kw * dt, slots_left, f.a_max_power_kw, dt), need_kw), 0.0)
    soon = soon_charge_kw(np.where(plugged, need_kw * dt, 0.0), np.where(plugged, slots_left, 0), f.a_max_power_kw,
                          must, f.transformer, room_later_kw(ctx, plan, k, t, plugged, sites), dt)
    return must, soon


def battery_relief_kw(short_kw: np.ndarray, battery_transformer: np.ndarray, charge_kw: np.ndarray,
                      discharge_kw: np.ndarray, discharge_most_kw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A site battery's set-point moved to make room for catch-up power its transformer lacks.

    ``short_kw`` [N]: what the EVs' must and look-ahead power and the fast caps' must lack below the
    limit; per transformer, its batteries (in order) first charge less, then discharge more, up to
    ``discharge_most_kw`` (their power and SOC limit) until ``short_kw`` is covered. Returns the
    batteries' charge and discharge [B] [kW]; the next re-plan starts from the SOC this leaves.
    """
    ch, dis = np.asarray(charge_kw, float).copy(), np.asarray(discharge_kw, float).copy()
    left = np.maximum(np.asarray(short_kw, float), 0.0).copy()
    for b, n in enumerate(np.asarray(battery_transformer, int)):   # a few batteries: a loop is clearest
        less = min(ch[b], left[n])
        ch[b] -= less
        left[n] -= less
        more = min(max(discharge_most_kw[b] - dis[b], 0.0), left[n]) if ch[b] <= 0 else 0.0
        dis[b] += more
        left[n] -= more
    return ch, dis


def relieve_batteries(p, loads: list[tuple], other_kw: np.ndarray, charge_kw: np.ndarray, discharge_kw: np.ndarray,
                      soc_kwh: np.ndarray, free_kw: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`battery_relief_kw` of one slot: the batteries of problem ``p`` (SOC ``soc_kwh`` now) cover what
    the first two tiers of ``loads`` (as :func:`controlled_kw` takes them) lack below ``limit_kw − other_kw``
    beyond ``free_kw`` [N] (the fast-charging caps' reserve above their drivers' draw, which the EVs use
    first). Returns the batteries' charge and discharge and ``other_kw`` with them [kW]."""
    if not p.n_batteries:
        return charge_kw, discharge_kw, other_kw
    N = p.n_transformers
    need = sum(np.bincount(np.asarray(ld[-1], int), ld[0] + (ld[1] if len(ld) == 4 else 0.0), N) for ld in loads)
    short = need - (p.limit_kw - other_kw) - free_kw
    where = p.station_transformer[p.battery_station]
    most = np.minimum(p.battery_max_discharge_kw,
                      np.maximum(soc_kwh - p.battery_soc_min_kwh, 0.0) * p.battery_discharge_efficiency / p.dt_h)
    ch, dis = battery_relief_kw(short, where, charge_kw, discharge_kw, most)
    return ch, dis, other_kw + np.bincount(where, (ch - charge_kw) - (dis - discharge_kw), N)


#: An EV plugged in with at most this many slots of laxity (whole slots of its stay left less the slots its
#: remaining request takes at full power) is charged up to full power in any slot where its transformer has
#: headroom left after the plan's set-points (:func:`early_fill_kw`). 0: off.
EARLY_LAXITY_SLOTS = 2.0


def early_fill_kw(headroom_left_kw: np.ndarray, ev_kw: np.ndarray, need_kw: np.ndarray, slots_left: np.ndarray,
                  max_kw: np.ndarray, plugged: np.ndarray, group: np.ndarray,
                  laxity_slots: float | None = None) -> np.ndarray:
    """[U] power beyond ``ev_kw`` for the plugged-in EVs with little laxity, in the headroom the slot leaves [kW].

    A plan defers an EV to its cheap later slots; the slot controller's catch-up raises it again only when it
    must (:func:`must_charge_kw`). On a transformer whose later slots fill with late drivers who have no slack
    and an unforecast base-load rise, an EV with little laxity deferred there is then cut with them. Charging
    it now, where the limit leaves room, frees those later kilowatts. Per transformer ``n``, the headroom left
    ``headroom_left_kw[n]`` [N] (limit less the metered load with the controller's powers) goes to its EVs
    with laxity ``k - need / pmax`` at most ``laxity_slots``, least laxity first, each up to
    ``min(pmax, need) - ev_kw``.

    Parameters
    ----------
    ev_kw, need_kw : [U] the controller's power and what each EV still wants over one slot [kW]
    slots_left : [U] whole slots of its stay from this one on; max_kw, plugged, group : [U]
    """
    lax_max = EARLY_LAXITY_SLOTS if laxity_slots is None else laxity_slots
    lax = slots_left - need_kw / np.maximum(max_kw, 1e-12)
    on = plugged & (need_kw > 0) & (slots_left > 0) & (lax <= lax_max)
    if lax_max <= 0 or not on.any():
        return np.zeros(len(ev_kw))
    idx = np.flatnonzero(on)
    g = group[idx].astype(int)
    # _least_laxity_first works in energy over one slot: need_kw * 1 h "slot" keeps its units consistent
    return _least_laxity_first(np.maximum(headroom_left_kw, 0.0), idx, g, slots_left[idx].astype(int),
                               need_kw[idx], max_kw[idx], ev_kw, len(ev_kw), 1.0)
