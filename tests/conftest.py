import sys
from pathlib import Path

# Test helpers (scenario_factory, problem_factory) sit beside the tests.
sys.path.insert(0, str(Path(__file__).parent))

# The tests sit in tests/<subpackage>/ as the package does, with unique basenames; some reuse
# another test's scenario builders (``from test_planner import run``), so every test folder is
# importable by basename, as pytest itself imports the test modules (rootdir-less, no __init__).
sys.path[1:1] = [str(p) for p in sorted(Path(__file__).parent.iterdir()) if p.is_dir() and any(p.glob("test_*.py"))]


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def every_plan_is_valid(request, monkeypatch):
    """Every plan a test makes in this process passes the validity check (limits, energies, net load),
    unless the test is marked ``invalid_plan`` (it makes an invalid plan on purpose and says so).
    The plan checked is the one the planner hands out: the LV-grid iteration's earlier plans are
    outside the band by design (plan/grid_iterations.py)."""
    from vpp_sched.plan import planner

    found: list[str] = []
    respect_grids = planner.respect_grids

    def recording(*args, **kwargs):
        problem, solution, plan = respect_grids(*args, **kwargs)
        if not plan.kpis.get("valid"):
            found.extend(w for w in plan.warnings if w.startswith("validity check failed"))
        return problem, solution, plan

    monkeypatch.setattr(planner, "respect_grids", recording)
    yield
    if request.node.get_closest_marker("invalid_plan") is None:
        assert not found, f"a plan of this test failed the validity check: {found[:3]}"
