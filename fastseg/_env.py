"""The rule for choosing the compiled or the pure-Python twin of a module, from the environment.

``FASTSEG_NO_EXTENSIONS=1`` forces pure Python.  ``FASTSEG_REQUIRE_EXTENSIONS=1``
makes a missing or broken compiled twin an ImportError instead of a silent
fallback.  Only ImportError falls back.
"""

from __future__ import annotations

import os
from typing import Callable, TypeVar

__all__ = ["choose", "flag"]

T = TypeVar("T")


def flag(name: str) -> bool:
    """Whether the environment variable ``name`` is set to something other than 0/false/no."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def choose(load_compiled: Callable[[], T], python: T) -> tuple[str, T]:
    """``("cython", load_compiled())`` or ``("python", python)``, as the environment asks."""
    if flag("FASTSEG_NO_EXTENSIONS"):
        if flag("FASTSEG_REQUIRE_EXTENSIONS"):
            raise ImportError("FASTSEG_NO_EXTENSIONS and FASTSEG_REQUIRE_EXTENSIONS contradict")
        return "python", python
    try:
        return "cython", load_compiled()
    except ImportError:
        if flag("FASTSEG_REQUIRE_EXTENSIONS"):
            raise
        return "python", python
