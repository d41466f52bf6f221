"""The ``vpp-sched`` command line: thin commands over the library (one module per command)."""

from vpp_sched.cli.app import app, main

__all__ = ["app", "main"]
