"""Speed of the LV grids' AC power flow: one SimBench grid's 96 slots, and the bundled scenario's check.

    PYTHONPATH=. python benchmarks/bench_gridcheck.py

Prints CPU and wall time (after a warm-up: the first call builds the pandapower net) of:
- the all-slot flow (:func:`vpp_sched.network.powerflow.run_flow`) of each shipped grid, against
  a loop of ``pandapower.runpp(net, init="results")`` over the same 96 slots (the reference);
- the grid check of the bundled Zezhou plan (every grid, the plan and uncontrolled charging), and
  building the models (``grid_cases``) once.
"""

from __future__ import annotations

import copy
import time
import warnings

import numpy as np


def _clock(fn, repeat: int = 5) -> tuple[float, float]:
    """Median CPU and wall seconds of ``fn()`` over ``repeat`` runs."""
    cpu, wall = [], []
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return float(np.median(cpu)), float(np.median(wall))


def bench_grid(name: str) -> None:
    import pandapower as pp

    from vpp_sched.network.lv_net import build_net
    from vpp_sched.network.powerflow import grid_model, one_blas_thread, run_flow
    from vpp_sched.scenario.grid import SHIPPED_GRIDS, bus_base_load_kw, read_grid
    from vpp_sched.scenario.tables import Problems
    import pandas as pd

    grid = read_grid(SHIPPED_GRIDS, name, "bench", Problems())
    net, bus = build_net(grid)
    model = grid_model(net, bus, name)
    slots = pd.date_range("2016-11-27 12:00", periods=96, freq="15min", tz="Asia/Shanghai")
    buses, p_kw, q_kvar = bus_base_load_kw(grid, slots, np.full(96, float(net.trafo.sn_mva.iat[0]) * 600.0))
    p, q = np.zeros((len(net.bus), 96)), np.zeros((len(net.bus), 96))
    idx = [bus[b] for b in buses]
    p[idx], q[idx] = p_kw, q_kvar
    with one_blas_thread():
        run_flow(model, p, q)
        cpu, wall = _clock(lambda: run_flow(model, p, q))
    ref = copy.deepcopy(net)
    loads = pp.create_loads(ref, idx, p_mw=p_kw[:, 0] / 1e3, q_mvar=q_kvar[:, 0] / 1e3)
    pp.runpp(ref, numba=False)

    def loop():
        for t in range(96):
            ref.load.loc[loads, "p_mw"] = p_kw[:, t] / 1e3
            ref.load.loc[loads, "q_mvar"] = q_kvar[:, t] / 1e3
            pp.runpp(ref, numba=False, init="results")

    rcpu, rwall = _clock(loop, repeat=1)
    print(f"{name}: {len(net.bus)} nodes, 96 slots: all-slot flow {cpu * 1e3:.1f} ms CPU ({wall * 1e3:.1f} ms wall); "
          f"runpp loop {rcpu * 1e3:.0f} ms CPU ({rwall * 1e3:.0f} ms wall)")


def bench_bundled() -> None:
    from vpp_sched.network.check import grid_cases
    from vpp_sched.plan.grid_output import plan_grid_flows
    from vpp_sched.problem.build import build_problem, uncontrolled_reference
    from vpp_sched.scenario.load import load_scenario

    sc = load_scenario()
    problem = build_problem(sc)
    c, w = time.process_time(), time.perf_counter()
    cases = grid_cases(sc, problem)
    print(f"bundled scenario: building {len(cases)} grid models {time.process_time() - c:.2f} s CPU "
          f"({time.perf_counter() - w:.2f} s wall, first call of the process)")
    ev = uncontrolled_reference(problem)[0]
    idle = -problem.pv_at_transformer_kw()
    cpu, wall = _clock(lambda: plan_grid_flows(sc, problem, ev, idle, cases))
    print(f"bundled scenario: AC power flow of {len(cases)} grids x 96 slots {cpu:.3f} s CPU ({wall:.3f} s wall)")


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    for code in ("1-LV-rural1--0-sw", "1-LV-rural2--0-sw", "1-LV-semiurb4--0-sw", "1-LV-urban6--0-sw"):
        bench_grid(code)
    bench_bundled()
