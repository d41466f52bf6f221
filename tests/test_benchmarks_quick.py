"""The benchmark's quick mode runs in CI: every method on tiny instances, plans valid and optimal.

Speed itself is measured by ``benchmarks/run.py``, not asserted here (this machine is shared
and noisy); this test checks that the benchmark runs and that its figures are sound. It writes
only into pytest's tmp folder: ``--out`` and ``--work`` point there and ``--no-readme`` leaves
``benchmarks/README.md`` alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / "benchmarks" / "run.py"
GAP = 0.005

RUN_FIELDS = {
    "instance", "evs", "transformers", "method", "status", "n_slots", "n_events", "n_binaries",
    "build_seconds", "solve_seconds", "total_seconds", "load_seconds", "prepare_seconds", "results_seconds",
    "write_seconds", "highs_seconds", "overhead_seconds", "model_overhead_seconds", "pipeline_overhead_seconds", "peak_mb", "objective_cny", "bound_cny", "mip_gap",
    "dr_shortfall_kwh", "overload_energy_kwh", "unmet_energy_kwh", "valid", "wall_vs_lean",
}


@pytest.mark.slow
def test_quick_benchmark(tmp_path):
    readme_before = (REPO / "benchmarks" / "README.md").read_bytes()
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--out", str(out), "--work", str(tmp_path / "work"), "--no-readme"],
        capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (REPO / "benchmarks" / "README.md").read_bytes() == readme_before

    files = list(out.glob("*-quick.json"))
    assert len(files) == 1, files
    data = json.loads(files[0].read_text())
    assert data["mode"] == "quick"
    machine = data["machine"]
    for key in ("cores", "cpu_model", "python", "highspy", "pyomo", "git"):
        assert key in machine, key
    assert machine["cores"] >= 1 and machine["highspy"] and machine["pyomo"]
    assert {t["target"] for t in data["targets"]} == {"10k", "10k_binding", "100k", "overhead", "overhead_model",
                                                       "overhead_pipeline", "vs_pyomo", "single", "report", "startup"}
    startup = data["startup"]
    assert startup["command"] == "vpp-sched --help" and 0 < startup["cpu_seconds"] and 0 < startup["wall_seconds"]

    runs = data["runs"]
    methods = {r["method"] for r in runs}
    assert {"lean", "pyomo"} <= methods
    instances = {r["instance"] for r in runs}
    assert any(r["n_events"] >= 1 and r["n_binaries"] > 0 for r in runs), "no DR event + min-power instance"
    for r in runs:
        assert RUN_FIELDS <= r.keys(), sorted(RUN_FIELDS - r.keys())
        where = f"{r['instance']} / {r['method']}"
        assert r["status"] == "optimal", f"{where}: {r['status']} {r.get('error', '')}"
        assert r["valid"] is True, f"{where}: {r.get('violations')}"
        assert r["mip_gap"] <= GAP + 1e-9, where
        assert r["total_seconds"] > 0 and r["peak_mb"] > 0 and r["cpu_seconds"] > 0, where
        assert r["bound_cny"] <= r["objective_cny"] + 1e-6 * max(1.0, abs(r["objective_cny"])), where

    for name in instances:
        by = {r["method"]: r for r in runs if r["instance"] == name}
        lean, pyomo = by["lean"], by["pyomo"]
        # Both objectives are within their own gaps of the same optimum.
        tol = max(lean["mip_gap"], pyomo["mip_gap"]) + 1e-6
        scale = max(abs(lean["objective_cny"]), abs(pyomo["objective_cny"]), 1.0)
        assert abs(lean["objective_cny"] - pyomo["objective_cny"]) <= tol * scale, name
        assert lean["wall_vs_lean"] == 1.0
        assert pyomo["wall_vs_lean"] > 0
