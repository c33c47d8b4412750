"""The one place that chooses the compiled or the pure-Python twins, once per process.

``FASTSEG_NO_EXTENSIONS=1`` forces pure Python.  ``FASTSEG_REQUIRE_EXTENSIONS=1``
makes a missing or broken compiled twin an ImportError instead of a silent
fallback.  Only ImportError falls back; the choice is all or nothing.
"""

from __future__ import annotations

import os
from types import ModuleType

from fastseg import _checksum_py, _codec_py, _seq_py

__all__ = ["IMPLEMENTATION", "checksum", "codec", "compiled", "seq"]


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def compiled() -> tuple[ModuleType, ModuleType, ModuleType]:
    """The compiled codec, checksum and seq twins; ImportError if they are not built."""
    from fastseg import _checksum_c, _codec_c, _seq_c

    for twin, reference in ((_codec_c, _codec_py), (_checksum_c, _checksum_py), (_seq_c, _seq_py)):
        for name in reference.__all__:
            getattr(twin, name).__doc__ = getattr(reference, name).__doc__
    return _codec_c, _checksum_c, _seq_c


def _choose() -> tuple[str, tuple[ModuleType, ModuleType, ModuleType]]:
    if _flag("FASTSEG_NO_EXTENSIONS"):
        if _flag("FASTSEG_REQUIRE_EXTENSIONS"):
            raise ImportError("FASTSEG_NO_EXTENSIONS and FASTSEG_REQUIRE_EXTENSIONS contradict")
        return "python", (_codec_py, _checksum_py, _seq_py)
    try:
        return "cython", compiled()
    except ImportError:
        if _flag("FASTSEG_REQUIRE_EXTENSIONS"):
            raise
        return "python", (_codec_py, _checksum_py, _seq_py)


IMPLEMENTATION, (codec, checksum, seq) = _choose()
