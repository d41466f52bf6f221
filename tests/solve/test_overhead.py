"""Modelling overhead: the fast paths give the same bytes and bits as the plain ones, and heavy
packages are imported only when they are used (pyomo, matplotlib, pvlib, distributed)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from vpp_sched.plan.output import _iso, write_csv
from vpp_sched.problem.build import sum_rows_by


def _pandas_csv(table: pd.DataFrame) -> bytes:
    """What write_plan wrote before: pandas' writer with the plan's float format."""
    return _iso(table).to_csv(index=False, float_format="%.6f", lineterminator="\n").encode()


TABLES = {
    "kinds": pd.DataFrame({
        "id": ["a,b", 'q"x', "new\nline", None, "plain", "", " sp "],
        "power_kw": [1.0, np.nan, np.inf, -0.0, 1e20, -np.inf, 0.1234565],
        "flag": [True, False, True, True, False, False, True],
        "n": np.arange(7, dtype=np.int64) - 3,
        "slot_start": pd.DatetimeIndex(["2026-11-27T12:00:00+08:00"] * 6 + [None]).tz_convert("Asia/Shanghai")}),
    "repeats": pd.DataFrame({"ev_id": np.repeat([f"E{i:03d}" for i in range(50)], 20),
                             "power_kw": np.tile(np.r_[np.zeros(15), [3.5, 7.0, 1.4, 2.0 / 3.0, 1e-7]], 50),
                             "slot_start": np.tile(pd.date_range("2026-11-27 12:00", periods=20, freq="15min",
                                                                 tz="Asia/Shanghai"), 50)}),
    "empty": pd.DataFrame({"station_id": pd.Series([], dtype=str), "soc_kwh": pd.Series([], dtype=float)}),
    "mixed_objects": pd.DataFrame({"a": [1, "x"], "b": [1.5, 2.5]}),        # falls back to pandas
    "carriage_return": pd.DataFrame({"a": ["x\ry", "x"], "b": [1.5, 2.5]}),  # falls back to pandas
    "nullable": pd.DataFrame({"a": pd.array([1.5, None], dtype="Float64"), "b": [1.5, 2.5]}),
    "one_column": pd.DataFrame({"a": ["", "x"]}),
}


@pytest.mark.parametrize("name", list(TABLES))
def test_write_csv_is_pandas_byte_for_byte(tmp_path, name):
    table = TABLES[name]
    write_csv(table, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_bytes() == _pandas_csv(table)


def test_sum_rows_by_is_np_add_at_bit_for_bit():
    rng = np.random.default_rng(3)
    values = np.where(rng.random((500, 24)) < 0.5, 0.0, rng.random((500, 24)) * 11.0 - 2.0)
    values[rng.random((500, 24)) < 0.05] = -0.0
    index = rng.integers(0, 17, 500)
    expected = np.zeros((17, 24))
    np.add.at(expected, index, values)
    got = sum_rows_by(index, values, 17)
    assert got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()  # same bits, signed zeros included
    assert sum_rows_by(np.array([], dtype=int), np.zeros((0, 24)), 3).tobytes() == np.zeros((3, 24)).tobytes()


def _imported_after(code: str) -> set[str]:
    probe = ("import sys\n" + code + "\nprint(' '.join(m for m in ('pyomo', 'matplotlib', 'pvlib', 'distributed')"
             " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.slow
def test_cli_imports_no_heavy_package():
    assert _imported_after("import vpp_sched.cli.app") == set()


@pytest.mark.slow
def test_plan_without_pv_imports_neither_pvlib_nor_pyomo(tmp_path):
    from scenario_factory import write_scenario

    folder = write_scenario(tmp_path / "sc", yaml_overrides={"horizon": {"start": "2026-11-27T16:00:00+08:00",
                                                                        "slots": 8, "slot_minutes": 60}},
                            base_load=None)
    code = (f"from vpp_sched.plan.planner import plan_day\nfrom vpp_sched.plan.output import write_plan\n"
            f"run = plan_day({str(folder)!r}, method='lean')\nassert run.plan.kpis['valid']\n"
            f"write_plan(run.plan, {str(tmp_path / 'plan')!r})")
    assert _imported_after(code) == set()


# --- where the time goes: HiGHS's own runs vs the modelling overhead ----------------------------
def test_union_counts_overlapping_runs_once():
    from vpp_sched.solve.timing import union_seconds

    assert union_seconds([]) == 0.0
    assert union_seconds([(0.0, 1.0), (2.0, 3.0)]) == pytest.approx(2.0)
    assert union_seconds([(0.0, 2.0), (1.0, 3.0), (1.5, 2.5)]) == pytest.approx(3.0)   # overlaps once
    assert union_seconds([(5.0, 6.0), (0.0, 10.0)]) == pytest.approx(10.0)              # contained, unsorted


def test_highs_clock_sees_its_own_runs_and_its_thread_pool_tasks():
    import threading

    from problem_factory import check_solution, tiny_problem
    from vpp_sched.scenario.config import SolverOptions
    from vpp_sched.solve.highs import solve_lean as _solve_lean
    from vpp_sched.solve.parallel import get_executor
    from vpp_sched.solve.timing import highs_clock

    p = tiny_problem(base_load_kw=10.0, evs=[{}, {"min_power_kw": 2.0}])

    def solve_lean(problem, options):
        solution = _solve_lean(problem, options)
        check_solution(problem, solution)              # every plan of the test is a valid one
        return solution
    solve_lean(p, SolverOptions())                     # no clock open: recorded nowhere
    with highs_clock() as outer:
        with highs_clock() as inner:
            with get_executor("threads", 2) as ex:      # tasks run in a copy of this context
                ex.map(lambda _: solve_lean(p, SolverOptions()), range(4))
        solve_lean(p, SolverOptions())
    assert inner.runs == 4 and outer.runs == 5
    assert 0.0 < inner.seconds <= sum(b - a for a, b in inner.intervals) + 1e-12
    assert outer.seconds >= inner.seconds

    # Two plans side by side on threads (a study's cases): each clock sees only its own runs.
    counts, barrier = {}, threading.Barrier(2)

    def case(name: str, n: int) -> None:
        with highs_clock() as clock:
            barrier.wait()                              # both clocks open at once
            for _ in range(n):
                solve_lean(p, SolverOptions())
        counts[name] = clock.runs

    threads = [threading.Thread(target=case, args=(name, n)) for name, n in (("a", 2), ("b", 3))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counts == {"a": 2, "b": 3}


def test_plan_reports_highs_time_and_modelling_overhead(tmp_path):
    from vpp_sched.solve.parallel import get_executor
    from vpp_sched.plan.planner import plan_day
    from vpp_sched.scenario.synthetic import generate_scenario

    folder = generate_scenario(tmp_path / "sc", transformers=4, evs=120, dr_event=True, min_power=1.4, seed=3)
    with get_executor("threads", 2) as executor:
        run = plan_day(folder, method="decomposed", executor=executor)
    assert run.plan.kpis["valid"]
    t = run.plan.kpis["timing"]
    assert t["highs_runs"] >= 2 and 0.0 < t["highs_s"] <= t["solve_s"]
    assert t["modelling_overhead_s"] == pytest.approx(t["solve_s"] - t["highs_s"])
    stages = t["prepare_s"] + t["solve_s"] + t["results_s"] + t["check_s"] + t["grid_s"]   # grid_s: LV grids
    assert t["pipeline_overhead_s"] == pytest.approx(stages - t["highs_s"])
    assert t["modelling_overhead_s_per_10k_evs"] == pytest.approx(t["modelling_overhead_s"] * 1e4 / 120)
    assert stages <= run.plan.kpis["total_seconds"]


def _uncontrolled_every_slot(available, energy_kwh, max_power_kw, dt_h):
    """The uncontrolled reference over all E x T slots (the general formula)."""
    cap_kwh = available * (max_power_kw * dt_h)[:, None]
    before_kwh = np.cumsum(cap_kwh, axis=1) - cap_kwh
    return np.where(available, np.clip((energy_kwh[:, None] - before_kwh) / dt_h, 0.0, max_power_kw[:, None]), 0.0)


@pytest.mark.parametrize("contiguous", [True, False])
def test_uncontrolled_power_fast_path_is_the_general_formula(contiguous):
    from vpp_sched.problem.build import uncontrolled_ev_power_kw

    rng = np.random.default_rng(11)
    E, T = 400, 24
    first = rng.integers(0, T, E)
    last = np.minimum(T, first + rng.integers(0, T + 1, E))
    available = (np.arange(T) >= first[:, None]) & (np.arange(T) < last[:, None])
    if not contiguous:
        available[rng.integers(0, E, 20), rng.integers(0, T, 20)] ^= True      # gaps: the general path
    energy = rng.choice([0.0, 0.4, 3.0, 10.0, 40.0, 300.0], E) * rng.random(E)
    pmax = rng.choice([0.0, 3.5, 7.0, 11.0], E)
    got = uncontrolled_ev_power_kw(available, energy, pmax, 0.25)
    np.testing.assert_allclose(got, _uncontrolled_every_slot(available, energy, pmax, 0.25), rtol=0, atol=1e-12)
    assert not (got[~available] != 0).any()


def test_slot_positions_are_the_index_lookup():
    from vpp_sched.plan.validity import slot_positions

    slots = pd.date_range("2026-11-27 12:00", periods=96, freq="15min", tz="Asia/Shanghai")
    values = [*slots[[0, 5, 95]], pd.Timestamp("2026-11-27 12:05", tz="Asia/Shanghai"),   # not a slot start
              pd.Timestamp("2026-11-28 12:00", tz="Asia/Shanghai"), pd.NaT,               # after the horizon, missing
              pd.Timestamp("2026-11-27 04:00", tz="UTC"), pd.Timestamp("2026-11-27 03:45", tz="UTC")]
    times = pd.DatetimeIndex(pd.Series(values).astype("datetime64[ns, Asia/Shanghai]"))
    for t in (times, times.tz_convert("UTC"), times.as_unit("s")):
        got = slot_positions(slots, t)
        np.testing.assert_array_equal(got, slots.get_indexer(t))
    assert list(slot_positions(slots, times)) == [0, 5, 95, -1, -1, -1, 0, -1]
    irregular = slots.delete(3)                                                  # falls back to the lookup
    np.testing.assert_array_equal(slot_positions(irregular, times), irregular.get_indexer(times))


def test_ev_schedule_rows_are_the_slots_overlapping_each_stay():
    from problem_factory import tiny_problem
    from vpp_sched.plan.results import _ev_schedule
    from vpp_sched.solve.solution import Solution

    p = tiny_problem(evs=[{}] * 6)                       # 8 slots of 1 h from 2026-11-27 00:00
    t0 = p.slots[0]
    h = pd.Timedelta(hours=1)
    arrival = pd.Series([t0 - 3 * h, t0 + 0.5 * h, t0 + 2 * h, t0 + 7.9 * h, t0 + 9 * h, t0 + 3 * h])
    departure = pd.Series([t0 + 2 * h, t0 + 3.25 * h, t0 + 2 * h, t0 + 20 * h, t0 + 12 * h, t0 + 3.5 * h])
    evs = pd.DataFrame({"arrival": arrival, "departure": departure})
    sol = Solution(status=None, ev_power_kw=np.arange(6 * 8, dtype=float).reshape(6, 8))
    table = _ev_schedule(p, sol, evs)
    start = p.slots.as_unit("s").asi8
    end = start + 3600
    arr = arrival.dt.as_unit("s").astype("int64").to_numpy()[:, None]
    dep = departure.dt.as_unit("s").astype("int64").to_numpy()[:, None]
    e, t = np.nonzero((end[None, :] > arr) & (start[None, :] < dep))       # the E x T mask it replaces
    assert list(table.ev_id) == list(p.ev_ids[e])
    assert list(table.slot_start) == list(p.slots[t])
    np.testing.assert_array_equal(table.power_kw.to_numpy(), sol.ev_power_kw[e, t])
    assert list(e) == [0, 0, 1, 1, 1, 1, 3, 5]           # hand-checked: none for an empty or late stay


def test_slot_positions_in_the_slots_own_unit_are_the_index_lookup():
    from vpp_sched.plan.validity import slot_positions

    slots = pd.date_range("2026-11-27 12:00", periods=96, freq="15min", tz="Asia/Shanghai").as_unit("s")
    values = [*slots[[0, 5, 95]], pd.Timestamp("2026-11-27 12:05", tz="Asia/Shanghai"),
              pd.Timestamp("2026-11-28 12:00", tz="Asia/Shanghai"), pd.NaT, pd.Timestamp("2026-11-27 04:00", tz="UTC")]
    times = pd.DatetimeIndex(pd.Series(values).astype("datetime64[s, Asia/Shanghai]"))
    for t in (times, times.tz_convert("UTC"), times.as_unit("ns"), times.as_unit("ms")):
        np.testing.assert_array_equal(slot_positions(slots, t), slots.get_indexer(t))
    assert list(slot_positions(slots, times)) == [0, 5, 95, -1, -1, -1, 0]
