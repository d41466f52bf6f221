"""The ``vpp-sched`` command line: thin commands over the library (one module per command).

This module stays light: :func:`main` installs the SIGINT/SIGTERM handlers before the commands
(and pandas, Pyomo, HiGHS with them) are imported, so Ctrl-C and SIGTERM end every stage,
imports included, with one line and no traceback.
"""

from vpp_sched.cli.interrupt import run

__all__ = ["app", "main"]


def main() -> None:
    """The console entry point: ``vpp-sched = "vpp_sched.cli:main"``."""
    run(lambda: __getattr__("app"))


def __getattr__(name: str):
    if name == "app":  # `from vpp_sched.cli import app` (tests, embedding) loads the commands on demand
        from vpp_sched.cli.app import app

        # Importing the submodule bound its name here; the Typer application is what callers want.
        globals()["app"] = app
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
