"""Ctrl-C and SIGTERM: one line, no traceback, no temporary folder left, exit 130 / 143.

Both signals are turned into exceptions in the main thread, so every ``with`` block on the way
out runs (an :class:`~vpp_sched.outfolder.OutFolder` removes its temporary folder). They derive
from ``BaseException`` and not from ``KeyboardInterrupt``, so neither the commands' ``except
Exception`` nor click's own Ctrl-C handling ("Aborted!", exit 1) swallows them. Only the standard
library is imported here: the handlers are in place before the heavy packages load.
"""

from __future__ import annotations

import os
import signal
import sys

from vpp_sched.outfolder import defer_stop  # standard library only, like this module

EXIT_INTERRUPTED, EXIT_TERMINATED = 128 + signal.SIGINT, 128 + signal.SIGTERM  # 130, 143


class Stopped(BaseException):
    """A signal asked us to stop; ``exit_code`` is 128 + its number."""

    exit_code = 1
    what = "stopped"


class Interrupted(Stopped):
    exit_code, what = EXIT_INTERRUPTED, "interrupted"


class Terminated(Stopped):
    exit_code, what = EXIT_TERMINATED, "terminated"


def stop_on_signal(signum, frame) -> None:
    """The handler of both signals: raise the stop now, or at the end of a swap in progress."""
    stop = Terminated if signum == signal.SIGTERM else Interrupted
    if not defer_stop(stop):  # not in the middle of moving a folder into place
        raise stop()


def install() -> None:
    """Turn SIGINT and SIGTERM into :class:`Interrupted` and :class:`Terminated` (main thread only)."""
    signal.signal(signal.SIGINT, stop_on_signal)
    signal.signal(signal.SIGTERM, stop_on_signal)


def stop_message(exc: BaseException) -> str:
    """The one line for a stop: which signal and which output folders were left as they were."""
    what = exc.what if isinstance(exc, Stopped) else "interrupted"
    unchanged = getattr(exc, "vpp_unchanged", [])
    if unchanged:
        return f"error: {what}; nothing written, {', '.join(map(str, unchanged))} unchanged"
    return f"error: {what}"


def run(load_app) -> None:
    """Install the handlers, then load the application with ``load_app()`` (the commands, and
    pandas, Pyomo and HiGHS with them) and run it; a stop ends it with one line."""
    install()
    try:
        load_app()()
    except (Stopped, KeyboardInterrupt) as exc:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not break the last line
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        code = exc.exit_code if isinstance(exc, Stopped) else EXIT_INTERRUPTED
        try:
            print(stop_message(exc), file=sys.stderr, flush=True)
        except OSError:
            pass
        # Worker threads of an interrupted solve would hold up a normal exit until they finish;
        # every cleanup of ours has run on the way here.
        _flush()
        os._exit(code)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
