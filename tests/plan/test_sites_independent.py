"""The plan of swap and fast-charging stations against an independent model of the same sites.

Issue 14's "Done when": the plan's cost is within 1 % of the optimum of an independent model, and no
swap is unserved that could be served. The independent model is written here from the issue's text and
models/swap_stations.md, models/fast_charging.md and models/day_ahead.md, with its own variables and
its own queueing arithmetic, and solved with ``scipy.optimize.milp`` (nothing of ``vpp_sched.model``,
``vpp_sched.problem`` or ``vpp_sched.solve``):

- swap station: served swaps ``s``, packs completed ``c``, full packs ``F[t] = F[t-1] - s[t] + c[t]``,
  ``s[t] <= F[t-1]`` (a swap takes a pack full at the slot's start), ``s[t] <= d[t]``; energy in
  cumulative form: the packs completed so far never hold more than the energy put in so far, and
  what is put in but not yet in a full pack fits in the packs that are not full,
  ``0 <= X0 + sum(eta dt ch) - e sum(c) <= e (P - F[t])``; bays ``ch[t] <= q min(bays, P - F[t-1])``
  and the connection; ``F[T-1] >= F_end``;
- fast station: its minimum cap from Erlang C by the *direct sum* ``C = (a^c/c! c/(c-a)) /
  (sum_k<c a^k/k! + a^c/c! c/(c-a))`` and ``scipy.optimize.brentq``, a shortfall below it priced;
- battery behind the fast station (charge/discharge modes as binaries), no export;
- transformer: load = base + site loads + battery, overload above the limit priced.

The scenarios go through the whole tool (``plan_day`` on a scenario folder). Random ones are drawn by
seed (scenarios the tool was not tuned on); two are built by hand: one where the swaps asked exceed
what the packs and bays can serve, one where all can be.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.optimize import Bounds, LinearConstraint, brentq, milp
from scipy.sparse import lil_matrix

from vpp_sched.plan.planner import plan_day

START = pd.Timestamp("2026-11-27T12:00:00+08:00")
T, DT_H = 48, 0.5
PERIODS = [(0, 8, 0.30), (8, 17, 0.60), (17, 24, 0.90)]   # local hours, CNY/kWh
PI_SWAP, PI_OVER, PI_FAST = 10_000.0, 5000.0, 1000.0       # the defaults of `penalties:`


# ----------------------------------------------------------------------------- the scenario
def _slots() -> pd.DatetimeIndex:
    return pd.date_range(START, periods=T, freq=f"{int(DT_H * 60)}min")


def _prices() -> np.ndarray:
    hour = _slots().hour
    return np.array([next(p for a, b, p in PERIODS if a <= h < b) for h in hour], dtype=float)


def _case(seed: int | None = None, **over) -> dict:
    """A swap station on TW and a fast-charging station with a battery on TF (``shared``: both on TW)."""
    rng = np.random.default_rng(seed if seed is not None else 0)
    hour = _slots().hour + _slots().minute / 60
    c = dict(
        packs=int(rng.integers(4, 12)), pack_kwh=float(rng.choice([75.0, 100.0, 282.0])),
        bays=int(rng.integers(2, 8)), bay_max_kw=float(rng.choice([60.0, 120.0, 300.0])),
        eta=float(rng.uniform(0.9, 0.97)), full_soc=0.95, returned_soc=0.2,
        dispensers=int(rng.integers(2, 9)), dispenser_max_kw=float(rng.choice([60.0, 120.0])),
        target_min=float(rng.choice([5.0, 10.0, 15.0])), battery_kwh=float(rng.choice([0.0, 200.0, 600.0])),
        battery_kw=150.0, shared=bool(rng.integers(0, 2)))
    c["initial"] = float(rng.integers(1, c["packs"]))
    c["final"] = float(min(c["initial"], c["packs"] - 1))
    c["grid_max_kw"] = float(c["bays"] * c["bay_max_kw"] * rng.choice([0.6, 1.0]))
    c["swaps"] = np.round(rng.uniform(0.0, 1.0, T) * (1 + np.sin(hour / 24 * 2 * np.pi)) * rng.uniform(0.3, 2.0), 3)
    c["lam"] = np.round(rng.uniform(1, 4) * (1 + 2 * np.exp(-((hour - 18) / 3) ** 2)) * rng.uniform(0.5, 1.5, T), 3)
    c["energy"] = np.round(rng.uniform(20, 40, T), 3)
    c["base_w"] = np.round(rng.uniform(100, 400) * (0.6 + 0.4 * np.exp(-((hour - 19.5) / 2.5) ** 2)), 3)
    c["base_f"] = np.round(rng.uniform(20, 100) * np.ones(T), 3)
    c["kva_w"] = float(rng.choice([630.0, 800.0, 1250.0, 2500.0]))
    c["kva_f"] = float(rng.choice([400.0, 630.0, 800.0]))
    c.update(over)
    for key in ("swaps", "lam", "energy", "base_w", "base_f"):
        c[key] = np.asarray(c[key], dtype=float)
    return c


def _write(folder, c: dict):
    slots = [s.isoformat() for s in _slots()]
    tf = "TW" if c["shared"] else "TF"
    swap = {"station_id": "sw-1", "transformer_id": "TW", "packs": c["packs"], "pack_kwh": c["pack_kwh"],
            "bays": c["bays"], "bay_max_kw": c["bay_max_kw"], "grid_max_kw": c["grid_max_kw"],
            "charge_efficiency": c["eta"], "full_soc": c["full_soc"], "returned_soc": c["returned_soc"],
            "initial_full_packs": c["initial"], "final_full_packs_min": c["final"], "demand": "swap_demand.csv"}
    fast = {"station_id": "fc-1", "transformer_id": tf, "dispensers": c["dispensers"],
            "dispenser_max_kw": c["dispenser_max_kw"], "target_wait_min": c["target_min"], "demand": "fast_demand.csv"}
    if c["battery_kwh"] > 0:
        fast["battery"] = {"capacity_kwh": c["battery_kwh"], "max_charge_kw": c["battery_kw"],
                           "max_discharge_kw": c["battery_kw"]}
    config = {
        "name": "independent", "site": {"latitude": 35.49, "longitude": 112.85, "altitude_m": 700,
                                        "timezone": "Asia/Shanghai"},
        "horizon": {"start": START.isoformat(), "slots": T, "slot_minutes": int(DT_H * 60)},
        "tariff": {"periods": [{"start": f"{a:02d}:00", "end": f"{b:02d}:00", "price_cny_per_kwh": p}
                               for a, b, p in PERIODS]},
        "transformers": "transformers.csv", "base_load": "base_load.csv", "evs": "evs.csv",
        "stations": [], "dr_events": [], "swap_stations": [swap], "fast_charging_stations": [fast],
        "solver": {"time_limit_s": 60, "mip_rel_gap": 0.001, "threads": 1, "random_seed": 0}}
    (folder / "scenario.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    pd.DataFrame({"transformer_id": ["TW", "TF"], "rated_kva": [c["kva_w"], c["kva_f"]], "power_factor": 0.95,
                  "max_loading_pu": 1.0}).to_csv(folder / "transformers.csv", index=False)
    pd.DataFrame(columns=["ev_id", "transformer_id", "arrival", "departure", "energy_kwh", "max_power_kw",
                          "min_power_kw"]).to_csv(folder / "evs.csv", index=False)
    pd.concat([pd.DataFrame({"slot_start": slots, "transformer_id": "TW", "load_kw": c["base_w"]}),
               pd.DataFrame({"slot_start": slots, "transformer_id": "TF", "load_kw": c["base_f"]})]
              ).to_csv(folder / "base_load.csv", index=False)
    pd.DataFrame({"slot_start": slots, "station_id": "sw-1", "swaps": c["swaps"]}).to_csv(
        folder / "swap_demand.csv", index=False)
    pd.DataFrame({"slot_start": slots, "station_id": "fc-1", "arrivals_per_hour": c["lam"],
                  "mean_energy_kwh": c["energy"]}).to_csv(folder / "fast_demand.csv", index=False)
    return folder


# ----------------------------------------------------------------------------- queueing, written afresh
def _erlang_c_direct(c: int, a: float) -> float:
    """P(wait) of M/M/c by the textbook sum (not the Erlang-B recursion the tool uses)."""
    if a <= 0:
        return 0.0
    if a >= c:
        return 1.0
    top = a ** c / math.factorial(c) * c / (c - a)
    return top / (sum(a ** k / math.factorial(k) for k in range(c)) + top)


def _wait_h(cap_kw: float, lam: float, energy: float, c: int, pmax: float) -> float:
    mu = min(pmax, cap_kw / c) / energy
    if lam >= c * mu:
        return math.inf
    return _erlang_c_direct(c, lam / mu) / (c * mu - lam)


def _cap_min_kw(lam: float, energy: float, c: int, pmax: float, target_h: float) -> float:
    """The smallest cap with expected wait <= target, by brentq (all dispensers at full power if never)."""
    top = c * pmax
    if lam <= 0 or energy <= 0:
        return 0.0
    if _wait_h(top, lam, energy, c, pmax) > target_h:
        return top
    lo = lam * energy * (1 + 1e-12)
    return brentq(lambda k: min(_wait_h(k, lam, energy, c, pmax), 1e6) - target_h, lo, top, xtol=1e-9)


# ----------------------------------------------------------------------------- the independent MILP
class _Vars:
    def __init__(self):
        self.n, self.lo, self.hi, self.cost, self.integer = 0, [], [], [], []

    def add(self, k: int, lo=0.0, hi=np.inf, cost=0.0, integer=False) -> np.ndarray:
        idx = np.arange(self.n, self.n + k)
        self.n += k
        for v, arr in ((lo, self.lo), (hi, self.hi), (cost, self.cost)):
            arr.extend(np.broadcast_to(np.asarray(v, float), (k,)).tolist())
        self.integer.extend([int(integer)] * k)
        return idx


def independent_optimum(c: dict, objective: str = "cost") -> dict:
    """The optimum of the sites' day (``objective="unserved"``: fewest unserved swaps with no overload)."""
    price, eta, e = _prices(), c["eta"], (c["full_soc"] - c["returned_soc"]) * c["pack_kwh"]
    P, q, F0 = c["packs"], c["bay_max_kw"], c["initial"]
    cap_min = np.array([_cap_min_kw(lam, en, c["dispensers"], c["dispenser_max_kw"], c["target_min"] / 60)
                        for lam, en in zip(c["lam"], c["energy"])])
    lim_w, lim_f = 0.95 * c["kva_w"], 0.95 * c["kva_f"]
    unserved_run = objective == "unserved"
    v = _Vars()
    ch = v.add(T, hi=min(c["bays"] * q, c["grid_max_kw"]))
    s = v.add(T, hi=c["swaps"], cost=0.0 if unserved_run else -PI_SWAP)   # served; unserved = d - s
    if unserved_run:
        v.cost[s[0]:s[-1] + 1] = [-1.0] * T
    done = v.add(T)
    F = v.add(T, hi=P)
    v.lo[F[-1]] = c["final"]
    cap = v.add(T, hi=c["dispensers"] * c["dispenser_max_kw"])
    short = v.add(T, cost=0.0 if unserved_run else PI_FAST * DT_H)
    has_battery = c["battery_kwh"] > 0
    if has_battery:
        bc, bd = v.add(T, hi=c["battery_kw"]), v.add(T, hi=c["battery_kw"])
        soc = v.add(T, lo=0.1 * c["battery_kwh"], hi=0.9 * c["battery_kwh"])
        v.lo[soc[-1]] = 0.5 * c["battery_kwh"]
        mode = v.add(T, hi=1.0, integer=True)
    load_w = v.add(T, cost=0.0 if unserved_run else price * DT_H)
    load_f = v.add(T, cost=0.0 if unserved_run else price * DT_H)
    over_w = v.add(T, hi=0.0 if unserved_run else np.inf, cost=PI_OVER * DT_H)
    over_f = v.add(T, hi=0.0 if unserved_run else np.inf, cost=PI_OVER * DT_H)
    rows, lo, hi = [], [], []
    A = lil_matrix((40 * T, v.n))

    def row(terms: dict, lb: float, ub: float) -> None:
        r = len(lo)
        for j, a in terms.items():
            A[r, j] = A[r, j] + a
        lo.append(lb)
        hi.append(ub)

    for t in range(T):
        prev = {F[t - 1]: 1.0} if t else {}
        f_prev = 0.0 if t else F0
        row({F[t]: 1.0, **{k: -a for k, a in prev.items()}, s[t]: 1.0, done[t]: -1.0}, f_prev, f_prev)  # F balance
        row({s[t]: 1.0, **{k: -a for k, a in prev.items()}}, -np.inf, f_prev)                            # on hand
        row({ch[t]: 1.0, **{k: q * a for k, a in prev.items()}}, -np.inf, q * (P - f_prev))             # bays
        energy = {ch[u]: eta * DT_H for u in range(t + 1)}
        for u in range(t + 1):
            energy[done[u]] = -e
        row(energy, 0.0, np.inf)                                            # no pack full without its energy
        row({**energy, F[t]: e}, -np.inf, e * P)                            # what is in fits the packs not full
        row({cap[t]: 1.0, short[t]: 1.0}, cap_min[t], np.inf)               # wait target (cap + shortfall)
        site_f = {cap[t]: -1.0}
        if has_battery:
            site_f.update({bc[t]: -1.0, bd[t]: 1.0})
            sp = {soc[t - 1]: -1.0} if t else {}
            s0 = 0 if t else 0.5 * c["battery_kwh"]
            row({soc[t]: 1.0, **sp, bc[t]: -0.95 * DT_H, bd[t]: DT_H / 0.95}, s0, s0)
            row({bc[t]: 1.0, mode[t]: -c["battery_kw"]}, -np.inf, 0.0)
            row({bd[t]: 1.0, mode[t]: c["battery_kw"]}, -np.inf, c["battery_kw"])
        on_w = {ch[t]: -1.0, **(site_f if c["shared"] else {})}
        on_f = {} if c["shared"] else site_f
        row({load_w[t]: 1.0, **on_w}, c["base_w"][t], c["base_w"][t])
        row({load_f[t]: 1.0, **on_f}, c["base_f"][t], c["base_f"][t])
        row({load_w[t]: 1.0, over_w[t]: -1.0}, -np.inf, lim_w)
        row({load_f[t]: 1.0, over_f[t]: -1.0}, -np.inf, lim_f)
    A = A[:len(lo)].tocsr()
    res = milp(np.array(v.cost), constraints=LinearConstraint(A, lo, hi), integrality=np.array(v.integer),
               bounds=Bounds(np.array(v.lo), np.array(v.hi)), options={"mip_rel_gap": 1e-9})
    assert res.success, res.message
    x = res.x
    unserved = float(c["swaps"].sum() - x[s].sum())
    energy_cost = float((price * DT_H * (x[load_w] + x[load_f])).sum())
    return {"unserved": unserved, "energy_cost_cny": energy_cost, "cap_min_kw": cap_min,
            "cost_cny": energy_cost + PI_SWAP * unserved + PI_FAST * DT_H * x[short].sum()
            + PI_OVER * DT_H * (x[over_w].sum() + x[over_f].sum()),
            "overload_kwh": float(DT_H * (x[over_w].sum() + x[over_f].sum()))}


def plan_cost(run, c: dict, cap_min: np.ndarray) -> dict:
    """The plan's cost under the independent model's prices, from the plan's own tables."""
    load = run.plan.transformer_load
    price = pd.Series(_prices(), index=_slots())
    ts = pd.to_datetime(load.slot_start)
    energy = float((load.net_load_kw.clip(lower=0) * DT_H * price.reindex(ts).to_numpy()).sum())
    over = float(DT_H * np.maximum(load.net_load_kw - load.limit_kw, 0).sum())
    swap, fast = run.plan.sites["swap_stations"], run.plan.sites["fast_charging"]
    short = np.maximum(cap_min - fast.power_cap_kw.to_numpy(), 0.0)
    unserved = float(swap.unserved_swaps.sum())
    return {"unserved": unserved, "energy_cost_cny": energy, "overload_kwh": over,
            "cost_cny": energy + PI_SWAP * unserved + PI_FAST * DT_H * short.sum() + PI_OVER * over}


def _check(tmp_path, c: dict) -> tuple[dict, dict, dict]:
    run = plan_day(_write(tmp_path, c))
    assert run.solution.status.value == "optimal"
    best = independent_optimum(c)
    fewest = independent_optimum(c, objective="unserved")
    mine = plan_cost(run, c, best["cap_min_kw"])
    # the two queueing computations agree on the cap the drivers need
    fc = run.plan.sites["fast_charging"]
    assert np.asarray(run.problem.sites.fast_min_cap_kw[0]) == pytest.approx(best["cap_min_kw"], rel=1e-6, abs=1e-6)
    assert mine["cost_cny"] == pytest.approx(best["cost_cny"], rel=0.01)
    # the plan's own objective prices nothing the independent model does not (no EVs: no EV ramp)
    assert run.solution.objective_cny == pytest.approx(mine["cost_cny"], rel=1e-6, abs=1e-3)
    assert mine["cost_cny"] >= best["cost_cny"] * (1 - 1e-6) - 1e-6      # the independent optimum is a bound
    assert mine["unserved"] == pytest.approx(best["unserved"], abs=1e-4 * max(1.0, c["swaps"].sum()))
    assert mine["overload_kwh"] == pytest.approx(best["overload_kwh"], abs=1e-3)
    assert len(fc) == T
    return mine, best, fewest


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_random_sites_plan_within_one_percent_of_the_independent_optimum(tmp_path, seed):
    c = _case(seed)
    mine, best, fewest = _check(tmp_path, c)
    if best["overload_kwh"] <= 1e-6:
        # no swap unserved that could be served within the limits
        assert mine["unserved"] <= fewest["unserved"] + 1e-4 * max(1.0, c["swaps"].sum())


def test_swaps_beyond_what_packs_and_bays_serve_leave_the_minimum_unserved(tmp_path):
    # 4 packs of 100 kWh (75 kWh into the cells), 2 bays of 60 kW: at most 2 x 60 x 0.95 / 75 = 1.52
    # packs an hour come back full, while 4 swaps an hour are asked from 18:00 to 22:00: of those 16, at
    # most the 4 packs on hand and 4 h x 1.52 can be served, so at least 16 - 4 - 6.08 = 5.92 are not
    hour = _slots().hour + _slots().minute / 60
    swaps = np.where((hour >= 18) & (hour < 22), 2.0, 0.1)
    c = _case(11, packs=4, pack_kwh=100.0, bays=2, bay_max_kw=60.0, grid_max_kw=120.0, eta=0.95, initial=3.0,
              final=2.0, swaps=np.round(swaps, 3), kva_w=2500.0, shared=False)
    mine, best, fewest = _check(tmp_path, c)
    assert best["unserved"] >= 5.92 - 1e-6                         # some unserved is unavoidable
    assert fewest["unserved"] == pytest.approx(best["unserved"], abs=1e-4)
    assert mine["unserved"] == pytest.approx(fewest["unserved"], abs=1e-4)


def test_all_swaps_served_when_packs_and_bays_allow(tmp_path):
    hour = _slots().hour + _slots().minute / 60
    swaps = np.where((hour >= 18) & (hour < 22), 0.5, 0.1)
    c = _case(12, packs=8, pack_kwh=100.0, bays=4, bay_max_kw=60.0, grid_max_kw=240.0, eta=0.95, initial=6.0,
              final=6.0, swaps=np.round(swaps, 3), kva_w=2500.0, shared=False)
    mine, best, fewest = _check(tmp_path, c)
    assert best["unserved"] == pytest.approx(0.0, abs=1e-6)
    assert mine["unserved"] == pytest.approx(0.0, abs=1e-6)
    assert mine["energy_cost_cny"] == pytest.approx(best["energy_cost_cny"], rel=0.01)
