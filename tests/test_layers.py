"""The package's layers (pyproject.toml ``[tool.importlinter]``): no upward import, no import cycle.

import-linter reads every import of the package, function-local ones too, without importing it.
The two contract breaks below are written into a copy of the package, to show the check fails
when it should.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = "Layers: a module imports only from its own layer or below"
CYCLES = "No import cycles between sibling modules or subpackages"

def lint(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the package under ``root`` with the contracts of ``root/pyproject.toml``
    (import-linter is in the test extra; in a subprocess, so a copy of the package is the one read)."""
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_package_keeps_its_layers_and_has_no_cycle():
    res = lint(ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"{LAYERS} KEPT" in res.stdout and f"{CYCLES} KEPT" in res.stdout


@pytest.fixture
def package_copy(tmp_path) -> Path:
    shutil.copytree(ROOT / "vpp_sched", tmp_path / "vpp_sched",
                    ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_import(root: Path, module: str, line: str) -> None:
    path = root / Path(*module.split(".")).with_suffix(".py")
    path.write_text(path.read_text(encoding="utf-8") + f"\n\ndef _later():\n    {line}\n", encoding="utf-8")


def test_an_upward_import_breaks_the_layers(package_copy):
    # The model build reaching up into the solve layer (as lean.py did before solve/highs.py),
    # even function-local.
    add_import(package_copy, "vpp_sched.model.lean", "from vpp_sched.solve.solution import Solution")
    res = lint(package_copy)
    assert res.returncode != 0
    assert f"{LAYERS} BROKEN" in res.stdout and "vpp_sched.model.lean -> vpp_sched.solve.solution" in res.stdout


def test_a_cycle_within_a_layer_breaks_the_acyclic_contract(package_copy):
    # decompose imports timing (through lp_rounding and highs): timing importing decompose back
    # closes a cycle inside the solve layer, which only the cycle contract sees.
    add_import(package_copy, "vpp_sched.solve.timing", "from vpp_sched.solve import decompose")
    res = lint(package_copy)
    assert res.returncode != 0
    assert f"{CYCLES} BROKEN" in res.stdout and f"{LAYERS} KEPT" in res.stdout


@pytest.mark.slow
def test_the_public_api_is_lazy_and_complete():
    # `import vpp_sched` imports none of the layers (only vpp_sched.lazy, standard library); each name resolves to its module's function.
    code = ("import sys, vpp_sched; before = {m for m in sys.modules if m.startswith('vpp_sched.')}; "
            "fns = {n: getattr(vpp_sched, n) for n in vpp_sched.__all__}; "
            "print(sorted(before)); print({n: f.__module__ for n, f in sorted(fns.items())})")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    before, modules = res.stdout.splitlines()
    assert before == "['vpp_sched.lazy']"  # the standard-library helper of the lazy exports only
    assert modules == str({"flexibility_envelope": "vpp_sched.studies.flex",
                           "generate_scenario": "vpp_sched.scenario.synthetic",
                           "load_scenario": "vpp_sched.scenario.load", "plan_day": "vpp_sched.plan.planner",
                           "replay_day": "vpp_sched.studies.replay", "run_hosting": "vpp_sched.studies.hosting",
                           "run_whatif": "vpp_sched.studies.whatif", "write_plan": "vpp_sched.plan.output"})
