"""``vpp-sched --help`` lists every command without importing them (pandas, numpy, Pyomo, HiGHS)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from vpp_sched.cli.app import LAZY_COMMANDS, LazyGroup, app

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pandas", "numpy", "pyomo", "highspy", "matplotlib", "scipy")


def test_help_lists_every_command_and_imports_no_heavy_package():
    code = ("import atexit, sys\n"
            f"atexit.register(lambda: print(sorted(set({HEAVY!r}) & set(sys.modules)), file=sys.stderr))\n"
            "sys.argv = ['vpp-sched', '--help']\n"
            "from vpp_sched.cli import main\n"
            "main()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]"
    for name, target in LAZY_COMMANDS.items():
        module, _, function = target.partition(":")
        first_line = getattr(importlib.import_module(module), function).__doc__.strip().splitlines()[0]
        line = next(row for row in done.stdout.splitlines() if f" {name} " in row)
        assert first_line.split()[0] in line, (name, line)


def test_a_lazy_command_runs_as_the_eager_one():
    result = CliRunner().invoke(app, ["schema", "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output and "schema" in result.output
    result = CliRunner().invoke(app, ["no-such-command"])
    assert result.exit_code != 0 and "No such command" in result.output


def test_a_command_registered_eagerly_still_works():
    extra = typer.Typer(cls=LazyGroup, add_completion=False)   # as ``app``: a group with a callback
    extra.callback()(lambda: None)

    @extra.command("hello")
    def hello(name: str) -> None:
        """Say hello."""
        typer.echo(f"hello {name}")

    assert CliRunner().invoke(extra, ["hello", "grid"]).output == "hello grid\n"
    listing = CliRunner().invoke(extra, ["--help"]).output
    assert "hello" in listing and "plan" in listing
