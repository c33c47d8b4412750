"""The one place that decides which twin serves: compiled (Cython) or pure Python, once per process.

Every module with twins has a *role*: the option walk, address parsing, the Segment storage,
checksum, seq, codec, capture reader and columns.  The rule is all or nothing: the compiled
twins serve when every one of them is built and ``FASTSEG_NO_EXTENSIONS`` is
not set; otherwise the pure-Python twins serve, and with
``FASTSEG_REQUIRE_EXTENSIONS`` a missing compiled twin is an ImportError
instead (setup.py reads the same two switches at build time).  Other modules
ask this one (``storage``, ``codec``, ``twin(role, ...)``) and never choose
again.

The choice is made on which compiled twins are present; one that is present
but fails to import raises, with or without the switches: a broken build is
not a missing one, and falling back would hide it.  The storage and the
codec's twins load with ``fastseg``; the capture reader and columns twins
when :mod:`fastseg.capture` is imported (``twin(role, IMPLEMENTATION)``).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
from types import ModuleType

__all__ = ["IMPLEMENTATION", "ROLES", "checksum", "codec", "flag", "seq", "storage", "twin"]

#: role -> (compiled module, pure-Python module), in the order they load.
ROLES = {
    "options": ("fastseg._options_c", "fastseg._options_py"),
    "addr": ("fastseg._addr_c", "fastseg._addr"),
    "storage": ("fastseg._segment_c", "fastseg._segment_py"),
    "checksum": ("fastseg._checksum_c", "fastseg._checksum_py"),
    "seq": ("fastseg._seq_c", "fastseg._seq_py"),
    "codec": ("fastseg._codec_c", "fastseg._codec_py"),
    "reader": ("fastseg.capture._reader_c", "fastseg.capture._reader_py"),
    "columns": ("fastseg.capture._columns_c", "fastseg.capture._columns_py"),
    "follower": ("fastseg.analyze._script_c", "fastseg.analyze.tracker"),
}
#: Roles whose public functions carry the pure-Python twin's docstrings.
_DOCUMENTED = ("checksum", "seq", "codec")


def flag(name: str) -> bool:
    """Whether the environment variable ``name`` is set to something other than 0/false/no."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _present(name: str) -> bool:
    """Whether the module ``name`` (``fastseg.`` ...) is on disk, found without importing its package."""
    *package, leaf = name.split(".")[1:]
    directory = os.path.join(os.path.dirname(os.path.abspath(__file__)), *package)
    return importlib.machinery.PathFinder.find_spec(leaf, [directory]) is not None


def _choose() -> str:
    """"cython" or "python", as the environment and the build say (see the module docs)."""
    if flag("FASTSEG_NO_EXTENSIONS"):
        if flag("FASTSEG_REQUIRE_EXTENSIONS"):
            raise ImportError("FASTSEG_NO_EXTENSIONS and FASTSEG_REQUIRE_EXTENSIONS contradict")
        return "python"
    missing = [compiled for compiled, _ in ROLES.values() if not _present(compiled)]
    if not missing:
        return "cython"
    if flag("FASTSEG_REQUIRE_EXTENSIONS"):
        raise ImportError(f"compiled twins not built: {', '.join(missing)}")
    return "python"


def twin(role: str, implementation: str) -> ModuleType:
    """The ``"cython"`` or ``"python"`` module of ``role``; ImportError if that one is not built."""
    if implementation not in ("cython", "python"):
        raise ValueError(f"implementation is 'cython' or 'python', not {implementation!r}")
    compiled, python = ROLES[role]
    module = importlib.import_module(compiled if implementation == "cython" else python)
    if implementation == "cython" and role in _DOCUMENTED:
        _document(module, importlib.import_module(python))
    return module


def _document(compiled: ModuleType, python: ModuleType) -> None:
    """Give each public function of a compiled twin its pure-Python twin's docstring."""
    for name in python.__all__:
        getattr(compiled, name).__doc__ = getattr(python, name).__doc__


IMPLEMENTATION = _choose()
# One at a time, in this order: each later twin may import a facade of an earlier one, and the
# compiled codec imports fastseg.segment, which builds Segment on the storage.
storage = twin("storage", IMPLEMENTATION)
checksum = twin("checksum", IMPLEMENTATION)
seq = twin("seq", IMPLEMENTATION)
codec = twin("codec", IMPLEMENTATION)
