"""Re-plans start their relaxation from the previous plan's basis (solve/warm_start.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from problem_factory import check_solution, random_problem
from vpp_sched.model.lean import build_lean
from vpp_sched.scenario.config import SolverOptions
from vpp_sched.solve import highs as highs_module
from vpp_sched.solve.lp_rounding import solve_lp_guided
from vpp_sched.solve.solution import SolveStatus
from vpp_sched.solve.warm_start import LpStart, keys

OPTIONS = SolverOptions(time_limit_s=600, mip_rel_gap=1e-3)


def _window(p, t0: int):
    """The problem of slots ``t0..`` (what a re-plan at ``t0`` solves, nothing new learnt)."""
    return replace(p, slots=p.slots[t0:], price_cny_per_kwh=p.price_cny_per_kwh[t0:], base_load_kw=p.base_load_kw[:, t0:],
                   pv_kw=p.pv_kw[:, t0:], ev_available=p.ev_available[:, t0:],
                   ev_energy_kwh=np.where(p.ev_available[:, t0:].any(axis=1), p.ev_energy_kwh, 0.0),
                   **({"event_slots": p.event_slots[:, t0:], "event_baseline_kw": p.event_baseline_kw[:, t0:]}
                      if p.n_events else {}))


@pytest.fixture
def iterations(monkeypatch):
    """Simplex iterations of each relaxation solved (the first run of each LP-guided solve)."""
    out = []
    real = highs_module.LeanSolver.run

    def run(self, deadline=None):
        sol = real(self, deadline)
        if self.model.relax_integrality and not hasattr(self, "_counted"):
            self._counted = True
            out.append(self.h.getInfo().simplex_iteration_count)
        return sol
    monkeypatch.setattr(highs_module.LeanSolver, "run", run)
    return out


def test_keys_are_unique_and_the_same_for_the_same_slot_of_a_later_window():
    p = random_problem(n_evs=30, n_transformers=3, seed=2, min_power_share=1.0, n_events=1, n_stations=1)
    full, later = (build_lean(q.relaxation(), relax_integrality=True) for q in (p, _window(p, 8)))
    (fc, fr), (lc, lr) = keys(full, p.relaxation()), keys(later, _window(p, 8).relaxation())
    assert len(np.unique(fc)) == full.n_cols and len(np.unique(fr)) == full.n_rows
    fam = full.col_families["net_load_kw"]
    n, t = full.col_index["net_load_kw"]
    j = fam.start + int(np.flatnonzero((n == 1) & (t == 10))[0])        # net load of transformer 1, slot 10
    lfam = later.col_families["net_load_kw"]
    ln, lt = later.col_index["net_load_kw"]
    k = lfam.start + int(np.flatnonzero((ln == 1) & (lt == 2))[0])      # the same slot, 8 slots later
    assert fc[j] == lc[k] and fc[j] not in set(lr)


def test_the_same_problem_from_its_own_basis_takes_no_iterations(iterations):
    p = random_problem(n_evs=40, n_transformers=3, seed=5, min_power_share=1.0, n_events=1)
    first = solve_lp_guided(p, OPTIONS, keep_basis=True)
    again = solve_lp_guided(p, OPTIONS, lp_start=first.lp_start, keep_basis=True)
    assert isinstance(first.lp_start, LpStart) and iterations[0] > 0 and iterations[1] == 0
    assert again.solver["lp_bound_cny"] == pytest.approx(first.solver["lp_bound_cny"], rel=1e-9)


def test_a_later_window_from_the_previous_basis_same_optimum_fewer_iterations(iterations):
    p = random_problem(n_evs=60, n_transformers=3, seed=6, min_power_share=1.0, n_events=1, n_stations=1)
    day = solve_lp_guided(p, OPTIONS, keep_basis=True)
    window = _window(p, 4)
    cold = solve_lp_guided(window, OPTIONS)
    warm = solve_lp_guided(window, OPTIONS, lp_start=day.lp_start, keep_basis=True)
    assert cold.lp_start is None and isinstance(warm.lp_start, LpStart)
    # the relaxation's optimum does not depend on the start; the plan is as good and valid
    assert warm.solver["lp_bound_cny"] == pytest.approx(cold.solver["lp_bound_cny"], rel=1e-7)
    assert warm.status is SolveStatus.OPTIMAL and warm.mip_gap <= OPTIONS.mip_rel_gap + 1e-12
    check_solution(window, warm)
    assert iterations[2] < iterations[1] / 2                        # warm vs cold relaxation
    # repeatable: the same start gives the same plan
    again = solve_lp_guided(window, OPTIONS, lp_start=day.lp_start)
    assert np.array_equal(again.ev_power_kw, warm.ev_power_kw) and again.objective_cny == warm.objective_cny


@pytest.fixture
def strategies(monkeypatch):
    """HiGHS ``simplex_strategy`` of each relaxation solved (4: primal; HiGHS's default otherwise)."""
    out = []
    real = highs_module.LeanSolver.run

    def run(self, deadline=None):
        if self.model.relax_integrality and not hasattr(self, "_seen"):
            self._seen = True
            value = self.h.getOptionValue("simplex_strategy")
            out.append(value[1] if isinstance(value, tuple) else value)
        return real(self, deadline)
    monkeypatch.setattr(highs_module.LeanSolver, "run", run)
    return out


def test_a_recent_basis_starts_the_primal_an_older_one_the_dual(strategies):
    from vpp_sched.solve.lp_rounding import PRIMAL_MAX_AGE_SLOTS

    p = random_problem(n_evs=40, n_transformers=3, seed=6, min_power_share=1.0, n_events=1, n_stations=1)
    day = solve_lp_guided(p, OPTIONS, keep_basis=True)
    recent, old = _window(p, PRIMAL_MAX_AGE_SLOTS), _window(p, PRIMAL_MAX_AGE_SLOTS + 4)
    assert day.lp_start.age_slots(recent) == PRIMAL_MAX_AGE_SLOTS and day.lp_start.age_slots(old) == PRIMAL_MAX_AGE_SLOTS + 4
    near = solve_lp_guided(recent, OPTIONS, lp_start=day.lp_start, keep_basis=True)
    far = solve_lp_guided(old, OPTIONS, lp_start=day.lp_start, keep_basis=True)
    cold = solve_lp_guided(old, OPTIONS)
    assert strategies[1] == 4 and strategies[2] != 4 and strategies[2] == strategies[3] == strategies[0]
    # either way the relaxation's optimum is the same as from scratch, and the plan is valid
    assert far.solver["lp_bound_cny"] == pytest.approx(cold.solver["lp_bound_cny"], rel=1e-7)
    for window, sol in ((recent, near), (old, far)):
        assert sol.status is SolveStatus.OPTIMAL
        check_solution(window, sol)
    # the plan's own basis is as old as nothing: it records its first slot
    assert far.lp_start.age_slots(old) == 0
