"""FlexMeasures' ``device_scheduler`` on a peer instance: the first peer.

Runs in the peers' environment (``benchmarks/peers/README.md``): reads an instance ``.npz`` of
``peer_instances.export_problem``, writes a result ``.npz`` (``ev_power_kw`` [E, T], timings).
``device_scheduler`` is called directly with its DataFrames (no database); it reads only its solver
settings from the Flask app's config, so a bare Flask app with FlexMeasures' defaults
(``FLEXMEASURES_LP_SOLVER = "highspy"``: the direct HiGHS backend) is pushed around the calls.

How the day is put to it (units: kW for flows, stocks in kW x slots, FlexMeasures' normalisation
of a stock by the resolution, so ``stock = kWh / dt_h``):

- **one call per transformer** (``device_scheduler`` plans one EMS: it has no notion of several
  transformers; the calls' times are summed): the EMS is the transformer, its ``derivative max``
  the headroom ``limit_n - base_{n,t}`` (the usable limit minus the base-load forecast), ``derivative min`` 0;
- **one device per EV**: ``derivative max`` = ``pmax_e`` while plugged in for the whole slot, else 0;
  ``derivative min`` 0; stock ``max`` = the energy wanted (never more than requested), stock ``min``
  = that energy from its last slot on (the energy by departure, a hard constraint as FlexMeasures'
  ``soc-targets`` are), capped at what the stay allows at ``pmax`` (0 for an on/off charger whose
  energy is below one slot at ``pmin``), so no EV makes a call infeasible on its own;
- **on/off chargers** (``pmin_e > 0``): ``device_power_bands`` ``[(0, 0), (pmin_e, pmax_e)]`` (two
  binaries per EV and slot; FlexMeasures' S2 operation modes);
- **the tariff** as the commitment on the EMS flow: quantity 0, up- and downwards deviation price
  ``price_t x dt_h`` per kW (CNY per kW-slot), one commitment per slot (the deprecated
  ``commitment_*`` arguments, the form ``device_scheduler`` documents).

Not stated to FlexMeasures: DR events (a portfolio cap over all transformers with a priced
shortfall); the driver checks its schedule against them like any other. Solver options: FlexMeasures'
HiGHS profile (``mip_rel_gap = 0``, tolerances 1e-9), with ``--mip-gap`` (default the benchmark's
0.5 %) and ``--time-limit`` (shared by the calls: each gets an equal share of what is left) set through ``FLEXMEASURES_LP_SOLVER_OPTIONS``, which
FlexMeasures applies last; ``--fm-defaults`` leaves its own gap (0).

    python run_flexmeasures.py INSTANCE.npz RESULT.npz --mip-gap 0.005 --time-limit 120
"""

from __future__ import annotations

import argparse
import time

t_import = time.perf_counter()
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from flask import Flask  # noqa: E402
from flexmeasures.data.models.planning.linear_optimization import device_scheduler  # noqa: E402
from flexmeasures.utils.config_defaults import Config  # noqa: E402

from flexmeasures.data.models.planning.storage import StorageScheduler  # noqa: E402

IMPORT_S = time.perf_counter() - t_import
DEVICE_COLUMNS = StorageScheduler.COLUMNS          # the columns FlexMeasures' own scheduler fills
EMS_COLUMNS = ["derivative max", "derivative min"]


def flask_app(options: dict) -> Flask:
    """A bare Flask app with FlexMeasures' default config (what ``device_scheduler`` reads) and ``options``."""
    app = Flask("vpp-sched-peers")
    app.config.from_object(Config)
    app.config["LOGGING_LEVEL"] = "INFO"          # FlexMeasures then silences HiGHS's log (solver_options)
    app.config["FLEXMEASURES_LP_SOLVER_OPTIONS"] = options
    return app


def slot_index(d: dict) -> pd.DatetimeIndex:
    ns = d["slot_start_ns"]
    freq = pd.Timedelta(hours=float(d["dt_h"]))
    return pd.DatetimeIndex(pd.to_datetime(ns, utc=True), freq=freq).tz_convert(str(d["tz"]))


def ev_target_kwh(d: dict) -> np.ndarray:
    """[E] energy by departure, at most what the stay allows at max power (0 when below one slot at min power)."""
    dt = float(d["dt_h"])
    reach = d["ev_available"].sum(axis=1) * d["ev_max_power_kw"] * dt
    target = np.minimum(d["ev_energy_kwh"], reach)
    return np.where(d["ev_min_power_kw"] * dt > d["ev_energy_kwh"] + 1e-3, 0.0, target)


def ev_device(d: dict, e: int, index: pd.DatetimeIndex, target_kwh: float) -> pd.DataFrame:
    """Device constraints of EV ``e``: flow bounds over its stay, stock target from its last slot on."""
    dt = float(d["dt_h"])
    avail = d["ev_available"][e]
    stock_min = np.full(len(index), np.nan)
    slots = np.flatnonzero(avail)
    if len(slots):
        stock_min[slots[-1]:] = target_kwh / dt
    df = pd.DataFrame(np.nan, index=index, columns=DEVICE_COLUMNS)
    df["max"] = d["ev_energy_kwh"][e] / dt
    df["min"] = stock_min
    df["derivative max"] = np.where(avail, d["ev_max_power_kw"][e], 0.0)
    df["derivative min"] = 0.0
    df["efficiency"] = 1.0
    df["derivative down efficiency"] = df["derivative up efficiency"] = 1.0
    df["stock delta"] = 0.0
    return df


def schedule_transformer(d: dict, n: int, index: pd.DatetimeIndex, targets: np.ndarray):
    """One ``device_scheduler`` call for the EVs of transformer ``n``: ([e], power [len(e), T], status)."""
    evs = np.flatnonzero(d["ev_transformer"] == n)
    if not len(evs):
        return evs, np.zeros((0, len(index))), "no EVs"
    dt = float(d["dt_h"])
    devices = [ev_device(d, e, index, targets[e]) for e in evs]
    ems = pd.DataFrame(np.nan, index=index, columns=EMS_COLUMNS)
    ems["derivative max"] = d["limit_kw"][n] - d["base_load_kw"][n]
    ems["derivative min"] = 0.0
    price = pd.Series(d["price_cny_per_kwh"] * dt, index=index)
    bands = [[(0.0, 0.0), (float(d["ev_min_power_kw"][e]), float(d["ev_max_power_kw"][e]))]
             if d["ev_min_power_kw"][e] > 0 else None for e in evs]
    planned, _costs, results, _model = device_scheduler(
        devices, ems, commitment_quantities=[pd.Series(0.0, index=index)],
        commitment_downwards_deviation_price=[price], commitment_upwards_deviation_price=[price],
        device_power_bands=bands if any(b is not None for b in bands) else None)
    power = np.vstack([np.asarray(s.reindex(index).to_numpy(float)) for s in planned])
    return evs, power, str(results.solver.termination_condition)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("instance")
    ap.add_argument("result")
    ap.add_argument("--mip-gap", type=float, default=0.005)
    ap.add_argument("--time-limit", type=float, default=120.0,
                    help="HiGHS time limit of all calls together; each gets an equal share of what is left [s]")
    ap.add_argument("--fm-defaults", action="store_true", help="keep FlexMeasures' own mip_rel_gap (0)")
    args = ap.parse_args(argv)
    d = dict(np.load(args.instance))
    options = {"time_limit": float(args.time_limit)}
    if not args.fm_defaults:
        options["mip_rel_gap"] = float(args.mip_gap)
    index = slot_index(d)
    targets = ev_target_kwh(d)
    E, T = d["ev_available"].shape
    power = np.zeros((E, T))
    statuses: dict[str, int] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    N = len(d["limit_kw"])
    with flask_app(options).app_context() as ctx:
        for n in range(N):
            # the budget is the run's: each call gets an equal share of what is left
            left = float(args.time_limit) - (time.perf_counter() - t0)
            ctx.app.config["FLEXMEASURES_LP_SOLVER_OPTIONS"] = {**options, "time_limit": max(left / (N - n), 1.0)}
            evs, p, status = schedule_transformer(d, n, index, targets)
            power[evs] = p
            statuses[status] = statuses.get(status, 0) + 1
    seconds = time.perf_counter() - t0
    from importlib.metadata import version

    np.savez(args.result, ev_power_kw=power, statuses=str(statuses), import_seconds=IMPORT_S,
             total_seconds=seconds, cpu_seconds=time.process_time() - c0, calls=len(d["limit_kw"]),
             options=str(options), flexmeasures_version=version("flexmeasures"),
             n_binaries=int(2 * T * (d["ev_min_power_kw"] > 0).sum()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
