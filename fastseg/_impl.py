"""The one place that chooses the compiled or the pure-Python codec twins, once per process.

The rule is ``_env.choose``; the choice is all or nothing.  ``segment`` applies
the same rule to the storage of a Segment (``_segment_c`` or ``_segment_py``),
which the compiled codec needs, so both always agree.
"""

from __future__ import annotations

from types import BuiltinFunctionType, ModuleType

from fastseg import _checksum_py, _codec_py, _env, _seq_py

__all__ = ["IMPLEMENTATION", "checksum", "codec", "compiled", "seq"]


def compiled() -> tuple[ModuleType, ModuleType, ModuleType]:
    """The compiled codec, checksum and seq twins; ImportError if they are not built."""
    from fastseg import _checksum_c, _codec_c, _seq_c

    for twin, reference in ((_codec_c, _codec_py), (_checksum_c, _checksum_py), (_seq_c, _seq_py)):
        for name in reference.__all__:
            function, doc = getattr(twin, name), getattr(reference, name).__doc__
            if isinstance(function, BuiltinFunctionType):  # the doc lives in its C definition
                signature = function.__text_signature__  # type: ignore[attr-defined]
                _codec_c.document(function, f"{name}{signature}\n--\n\n{doc}")
            else:
                function.__doc__ = doc
    return _codec_c, _checksum_c, _seq_c


IMPLEMENTATION, (codec, checksum, seq) = _env.choose(compiled, (_codec_py, _checksum_py, _seq_py))
