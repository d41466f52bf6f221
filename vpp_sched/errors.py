"""Typed errors. The library raises these; only the CLI prints them and picks an exit code."""

from __future__ import annotations

import reprlib

#: Longest piece of user input echoed in a message [characters]; the rest is cut to "...".
MAX_ECHO_CHARS = 60

# reprlib stops at a few items and levels, so echoing a huge or deeply shared value (a YAML
# alias bomb) costs a few microseconds instead of expanding it.
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = MAX_ECHO_CHARS
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxdict = 4
_REPR.maxlevel = 2


def echo(value, limit: int = MAX_ECHO_CHARS) -> str:
    """User input as it may appear in a message: control characters escaped, at most ``limit`` characters.

    A string is shown as is (newlines as ``\\n``); any other value by a short ``repr``.
    """
    if isinstance(value, str):
        head = value[:limit + 1]
        text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in head)
    else:
        text = _REPR.repr(value)
    if len(text) > limit or (isinstance(value, str) and len(value) > limit):
        return text[:limit] + "..."
    return text


def quoted(value, limit: int = MAX_ECHO_CHARS) -> str:
    """:func:`echo` in single quotes, for a value that is wrong as text (``'lots' is not a number``)."""
    return f"'{echo(value, limit)}'" if isinstance(value, str) else echo(value, limit)


class VppSchedError(Exception):
    """Base of every error vpp-sched raises on purpose."""


class InputError(VppSchedError):
    """Invalid input. ``problems`` holds one message per problem, each naming file, row and field."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class NoPlanError(VppSchedError):
    """The solver ended without a usable plan; ``status`` is a :class:`~vpp_sched.solve.solution.SolveStatus`."""

    def __init__(self, status, message: str):
        self.status = status
        super().__init__(message)


class ArgumentError(VppSchedError, ValueError):
    """A library function was called with an argument it cannot use (the CLI checks its options
    first; a caller of the Python API gets this). A ``ValueError`` too, as Python callers expect."""


class InternalError(VppSchedError, RuntimeError):
    """An invariant of vpp-sched broke: a bug to report, never a problem of the input."""
