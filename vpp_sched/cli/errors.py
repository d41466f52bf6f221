"""Map the library's exceptions to messages on stderr and the exit codes of DESIGN.md section 7."""

from __future__ import annotations

import contextlib
import os
import sys
import traceback

import typer

from vpp_sched.errors import InputError, NoPlanError
from vpp_sched.outfolder import OutFolderError
from vpp_sched.solve.solution import SolveStatus

EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_INFEASIBLE, EXIT_NO_SOLUTION, EXIT_SOLVER = 0, 1, 2, 3, 4, 5

_NO_PLAN_EXIT = {SolveStatus.INFEASIBLE: EXIT_INFEASIBLE, SolveStatus.NO_SOLUTION: EXIT_NO_SOLUTION}


def err(message: str) -> None:
    typer.echo(message, err=True)


@contextlib.contextmanager
def exit_codes(debug: bool = False):
    """Run a command body; turn our exceptions into one line per problem and an exit code."""
    try:
        yield
    except InputError as exc:
        err(f"error: invalid input ({len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''}):")
        for line in exc.problems:
            err(f"  {line}")
        if debug:
            traceback.print_exc(file=sys.stderr)
        raise typer.Exit(EXIT_INPUT) from None
    except OutFolderError as exc:  # an --out that may not be written: a usage error, said in one line
        err(f"error: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    except NoPlanError as exc:
        err(f"error: {exc}")
        if debug:
            traceback.print_exc(file=sys.stderr)
        raise typer.Exit(_NO_PLAN_EXIT.get(exc.status, EXIT_SOLVER)) from None
    except typer.Exit:
        raise
    except BrokenPipeError:  # the reader of our stdout went away (e.g. `| head`): the work is done
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(EXIT_OK) from None
    except Exception as exc:  # a bug or a solver crash: say so, keep the traceback behind --debug
        err(f"error: {type(exc).__name__}: {exc}")
        if debug:
            traceback.print_exc(file=sys.stderr)
        else:
            err("  (rerun with --debug for the traceback)")
        raise typer.Exit(EXIT_SOLVER) from None
