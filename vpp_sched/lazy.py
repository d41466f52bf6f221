"""Package exports imported on first use (PEP 562), so that importing one module of a package
does not import its siblings' heavy dependencies (Pyomo, openleadr, pvlib, the whole pipeline)."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[list[str], Callable, Callable]:
    """``(__all__, __getattr__, __dir__)`` for ``package`` whose names ``exports`` maps to the
    modules defining them; use as ``__all__, __getattr__, __dir__ = lazy_exports(__name__, {...})``."""
    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    def __dir__() -> list[str]:
        return sorted(set(vars(importlib.import_module(package))) | set(exports))

    return sorted(exports), __getattr__, __dir__
