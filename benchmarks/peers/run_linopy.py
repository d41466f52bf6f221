"""vpp-sched's day-ahead model written in linopy and solved by HiGHS: the second peer reference.

Runs in the peers' environment (``benchmarks/peers/README.md``): reads an instance ``.npz`` of
``peer_instances.export_problem``, writes a result ``.npz`` (``ev_power_kw`` [E, T] and the
timings). The families are those of ``models/day_ahead.md`` that the peer instances have (no
feeders, stations, V2G or ramp price), under the same names:

- ``ev_power_kw[e,t]`` in ``[0, pmax_e]``, only where plugged in for the whole slot;
  ``ev_on[e,t]`` binary and ``ev_start[e,t]`` in ``[0, 1]`` for chargers with ``pmin_e > 0``:
  ``ev_min_power``: ``p - pmin·on >= 0``, ``ev_max_power``: ``p - pmax·on <= 0``,
  ``ev_start_up``: ``start - on[t] + on[t-1] >= 0``
- ``ev_energy[e]``: ``Σ_t p·dt + ev_unmet_kwh[e] = energy_e``
- ``transformer_limit[n,t]``: ``Σ_{e∈E_n} p[e,t] - overload_kw[n,t] <= limit_n - base_{n,t}``
  (the net load is ``base + Σ p``; the base load is >= 0 here, so grid import = net load)
- ``dr_event_cap[k,t]``, ``t ∈ T_k``: ``σ_k·Σ_{n∈N_k} Σ_{e∈E_n} p[e,t] - dr_shortfall_kw[k,t] <= cap_{k,t} - σ_k·Σ_{n∈N_k} base_{n,t}``
- objective: ``Σ price_t·dt·p + π^unmet·Σ unmet + π^over·dt·Σ overload + Σ_k π^dr_k·dt·Σ shortfall
  + π^start·Σ start`` plus the constants ``Σ price·dt·base`` and ``−`` the DR compensation, added
  after the solve so the reported objective is vpp-sched's ``objective_cny``.

    python run_linopy.py INSTANCE.npz RESULT.npz --mip-gap 0.005 --time-limit 300
"""

from __future__ import annotations

import argparse
import time
import warnings

t_import = time.perf_counter()
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
import linopy  # noqa: E402

IMPORT_S = time.perf_counter() - t_import
# Masked (absent) slots add nothing to a sum: the legacy semantics this model is written for
# (an EV's power outside its stay, ev_on[e, t-1] before its first slot); linopy warns of a change to come.
warnings.filterwarnings("ignore", category=getattr(linopy, "LinopySemanticsWarning", UserWarning))


def build_model(d: dict) -> linopy.Model:
    """The linopy model of an instance's arrays ``d`` (module docstring)."""
    E, T = d["ev_available"].shape
    dt = float(d["dt_h"])
    ev, t = xr.DataArray(np.arange(E), dims="ev"), xr.DataArray(np.arange(T), dims="t")
    coords = {"ev": ev.values, "t": t.values}
    avail = xr.DataArray(d["ev_available"], dims=("ev", "t"), coords=coords)
    pmax = xr.DataArray(np.broadcast_to(d["ev_max_power_kw"][:, None], (E, T)), dims=("ev", "t"), coords=coords)
    m = linopy.Model()
    p = m.add_variables(lower=0.0, upper=pmax, mask=avail, name="ev_power_kw")
    unmet = m.add_variables(lower=0.0, upper=xr.DataArray(d["ev_energy_kwh"], dims="ev", coords={"ev": ev.values}),
                            name="ev_unmet_kwh")
    m.add_constraints(p.sum("t") * dt + unmet == xr.DataArray(d["ev_energy_kwh"], dims="ev", coords={"ev": ev.values}),
                      name="ev_energy")
    objective = (xr.DataArray(d["price_cny_per_kwh"] * dt, dims="t", coords={"t": t.values}) * p).sum()
    objective += float(d["unmet_penalty_cny_per_kwh"]) * unmet.sum()
    objective += define_transformer(m, d, p, dt)
    objective += define_min_power(m, d, p, avail, coords)
    objective += define_dr_events(m, d, p, dt)
    m.add_objective(objective)
    return m


def define_transformer(m: linopy.Model, d: dict, p, dt: float):
    """``transformer_limit`` on the transformers that have EVs; returns the overload's cost."""
    ev_n = xr.DataArray(d["ev_transformer"], dims="ev", coords={"ev": np.arange(len(d["ev_transformer"]))},
                        name="transformer")
    per_n = p.groupby(ev_n).sum()
    present = per_n.coords["transformer"].values
    T = d["base_load_kw"].shape[1]
    room = d["limit_kw"][present, None] - d["base_load_kw"][present]
    dims = {"transformer": present, "t": np.arange(T)}
    over = m.add_variables(lower=0.0, coords=[present, np.arange(T)], dims=["transformer", "t"], name="overload_kw")
    m.add_constraints(per_n - over <= xr.DataArray(room, dims=("transformer", "t"), coords=dims),
                      name="transformer_limit")
    return float(d["overload_penalty_cny_per_kwh"]) * dt * over.sum()


def define_min_power(m: linopy.Model, d: dict, p, avail, coords):
    """``ev_min_power``, ``ev_max_power``, ``ev_start_up`` of the on/off chargers; returns the start-ups' cost."""
    pmin_e = d["ev_min_power_kw"]
    binary = xr.DataArray(pmin_e > 0, dims="ev", coords={"ev": coords["ev"]})
    if not bool(binary.any()):
        return 0
    mask = avail & binary
    on = m.add_variables(binary=True, coords=[coords["ev"], coords["t"]], dims=["ev", "t"], mask=mask, name="ev_on")
    start = m.add_variables(lower=0.0, upper=1.0, coords=[coords["ev"], coords["t"]], dims=["ev", "t"],
                            mask=mask, name="ev_start")
    pmin = xr.DataArray(pmin_e, dims="ev", coords={"ev": coords["ev"]})
    pmax = xr.DataArray(d["ev_max_power_kw"], dims="ev", coords={"ev": coords["ev"]})
    m.add_constraints(p - pmin * on >= 0, name="ev_min_power", mask=mask)
    m.add_constraints(p - pmax * on <= 0, name="ev_max_power", mask=mask)
    m.add_constraints(start - on + on.shift(t=1) >= 0, name="ev_start_up", mask=mask)
    return float(d["switch_on_cny"]) * start.sum()


def define_dr_events(m: linopy.Model, d: dict, p, dt: float):
    """``dr_event_cap`` per event and event slot; returns the shortfall's cost."""
    cost = 0
    for k in range(len(d["event_sign"])):
        slots = np.flatnonzero(d["event_slots"][k])
        scope = d["event_scope"][k]
        sign = float(d["event_sign"][k])
        in_scope = xr.DataArray(scope[d["ev_transformer"]].astype(float), dims="ev")
        load = (sign * in_scope * p).sum("ev").sel(t=slots)
        short = m.add_variables(lower=0.0, coords=[slots], dims=["t"], name=f"dr_shortfall_kw_{k}")
        rhs = d["event_cap_kw"][k, slots] - sign * d["base_load_kw"][scope][:, slots].sum(axis=0)
        m.add_constraints(load - short <= xr.DataArray(rhs, dims="t", coords={"t": slots}), name=f"dr_event_cap_{k}")
        cost = cost + float(d["event_shortfall_cny_per_kwh"][k]) * dt * short.sum()
    return cost


def constant_cny(d: dict) -> float:
    """What the objective leaves out: the base load's energy cost, minus the DR compensation [CNY]."""
    return float(d["base_load_kw"].sum(axis=0) @ d["price_cny_per_kwh"]) * float(d["dt_h"]) - float(
        d["event_compensation_cny"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("instance")
    ap.add_argument("result")
    ap.add_argument("--mip-gap", type=float, default=0.005)
    ap.add_argument("--time-limit", type=float, default=300.0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    d = dict(np.load(args.instance))
    t0, c0 = time.perf_counter(), time.process_time()
    m = build_model(d)
    t1 = time.perf_counter()
    status, condition = m.solve(solver_name="highs", mip_rel_gap=args.mip_gap, time_limit=args.time_limit,
                                threads=args.threads, output_flag=False, io_api="direct",
                                progress=False)
    t2 = time.perf_counter()
    E, T = d["ev_available"].shape
    power = np.zeros((E, T))
    bound = float("nan")
    if status == "ok" or m.status == "ok" or str(condition) in ("optimal", "time_limit"):
        power = np.nan_to_num(m.variables["ev_power_kw"].solution.values)
        bound = highs_bound(m)
    const = constant_cny(d)
    np.savez(args.result, ev_power_kw=power, status=str(status), condition=str(condition),
             objective_cny=float(m.objective.value) + const if m.objective.value is not None else float("nan"),
             bound_cny=bound + const, import_seconds=IMPORT_S, build_seconds=t1 - t0, solve_seconds=t2 - t1,
             total_seconds=t2 - t0, cpu_seconds=time.process_time() - c0, linopy_version=linopy.__version__,
             n_binaries=int(m.variables["ev_on"].mask.sum()) if "ev_on" in m.variables else 0)
    return 0


def highs_bound(m: linopy.Model) -> float:
    """HiGHS's best bound of the solved model (its MIP dual bound; for an LP the optimum)."""
    h = getattr(m, "solver_model", None)
    if h is None:
        return float("nan")
    info = h.getInfo()
    if m.variables.binaries.nvars if hasattr(m.variables, "binaries") else False:
        return float(info.mip_dual_bound)
    return float(info.objective_function_value)


if __name__ == "__main__":
    raise SystemExit(main())
