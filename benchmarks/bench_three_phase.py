"""Speed of the three-phase power flow: one SimBench grid's 96 slots, batched, against ``runpp_3ph``.

    PYTHONPATH=. python benchmarks/bench_three_phase.py

For each shipped grid: CPU and wall seconds of building the sequence model (one ``runpp_3ph`` of the
unloaded net, :func:`vpp_sched.network.powerflow_3ph.grid3_model`), of the batched 96-slot flow
(:func:`~vpp_sched.network.powerflow_3ph.run_flow_3ph`, median of 5, after a warm-up), and of
pandapower's ``runpp_3ph`` per slot (median of ``REF_SLOTS`` slots; x96 for a day), with the largest
difference between the two on those slots. Loads: each load bus 0..3 kW a phase, seeded.
"""

from __future__ import annotations

import copy
import time
import warnings

import numpy as np

from bench_gridcheck import _clock   # median CPU and wall seconds of a call (benchmarks/ is the script's folder)

REF_SLOTS = 4


def bench_grid(name: str) -> None:
    import pandapower as pp

    from vpp_sched.network.lv_net import build_net
    from vpp_sched.network.powerflow import one_blas_thread
    from vpp_sched.network.powerflow_3ph import grid3_model, run_flow_3ph
    from vpp_sched.scenario.grid import SHIPPED_GRIDS, read_grid
    from vpp_sched.scenario.tables import Problems

    grid = read_grid(SHIPPED_GRIDS, name, "bench", Problems())
    net, bus = build_net(grid)
    c, w = time.process_time(), time.perf_counter()
    model = grid3_model(net, name)
    build = (time.process_time() - c, time.perf_counter() - w)
    idx = [bus[b] for b in dict.fromkeys(grid.tables["Load"]["node"])]
    p = np.zeros((3, len(net.bus), 96))
    p[:, idx] = np.random.default_rng(1).uniform(0, 3, size=(3, len(idx), 96))
    q = 0.2 * p
    with one_blas_thread():
        r = run_flow_3ph(model, p, q)
        fast = _clock(lambda: run_flow_3ph(model, p, q))
    ref_cpu, ref_wall, diff = [], [], 0.0
    for t in range(REF_SLOTS):
        n = copy.deepcopy(model.net)
        for b in idx:
            pp.create_asymmetric_load(n, b, p_a_mw=p[0, b, t] / 1e3, p_b_mw=p[1, b, t] / 1e3, p_c_mw=p[2, b, t] / 1e3,
                                      q_a_mvar=q[0, b, t] / 1e3, q_b_mvar=q[1, b, t] / 1e3, q_c_mvar=q[2, b, t] / 1e3)
        c, w = time.process_time(), time.perf_counter()
        pp.runpp_3ph(n, numba=False)
        ref_cpu.append(time.process_time() - c)
        ref_wall.append(time.perf_counter() - w)
        for k, ph in enumerate("abc"):
            diff = max(diff, float(np.nanmax(np.abs(r.vm_abc_pu[k, :, t] - n.res_bus_3ph[f"vm_{ph}_pu"].to_numpy()))))
    per_slot = float(np.median(ref_cpu))
    print(f"{name}: {len(net.bus)} buses; model {build[0]:.3f} s CPU; batched 96 slots {fast[0] * 1e3:.1f} ms CPU "
          f"({fast[1] * 1e3:.1f} ms wall, {r.iterations} iterations); runpp_3ph {per_slot:.3f} s CPU a slot "
          f"(~{96 * per_slot:.1f} s a day, {96 * per_slot / max(fast[0], 1e-9):.0f}x); largest difference {diff:.1e} pu")


def main() -> None:
    from vpp_sched.scenario.grid import SHIPPED_GRIDS

    warnings.simplefilter("ignore")
    for folder in sorted(SHIPPED_GRIDS.iterdir()):
        if folder.is_dir():
            bench_grid(folder.name)


if __name__ == "__main__":
    main()
