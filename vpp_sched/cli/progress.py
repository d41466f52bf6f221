"""Progress on a terminal (rich spinner with the current stage); silent in pipes, files and CI."""

from __future__ import annotations

import contextlib
import time

from rich.console import Console


@contextlib.contextmanager
def progress_status():
    """Yield ``say(stage)``; shows a spinner and elapsed time only when stderr is a terminal."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda stage: None
        return
    start = time.perf_counter()
    with console.status("starting") as status:
        def say(stage: str) -> None:
            status.update(f"{stage} ({time.perf_counter() - start:.1f} s)")
        yield say
