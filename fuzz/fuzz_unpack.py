"""Differential unpack: the compiled and the reference twin decode every input alike.

    python fuzz/fuzz_unpack.py [libFuzzer flags] [corpus dirs]   (or: python fuzz/run.py)

Each input is decoded in strict and in lenient mode, by the reference from
bytes and by the compiled twin from bytes, an exactly sized heap buffer, a
bytearray, a memoryview and a non-contiguous view.  The results must be equal
Segments of identical types, or the same DecodeError (class and args); any other
exception is a crash.  Lenient decoding may raise only for fewer than 20 bytes.
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["fastseg"]):
    from fastseg import DecodeError, TruncatedSegment, _impl, reference

from _common import Broken, agree, buffers, main, outcome

CODEC = _impl.twin("codec", "cython")
ALLOWED = (DecodeError,)


def test_one_input(data: bytes) -> None:
    for strict in (True, False):
        expected = outcome(ALLOWED, reference.unpack, data, strict=strict)
        if not strict and expected[0] == "raised" and (
            len(data) >= 20 or expected[1] is not TruncatedSegment
        ):
            raise Broken(f"lenient unpack raised {expected!r} for {data.hex()}")
        for buffer in buffers(data):
            got = outcome(ALLOWED, CODEC.unpack, buffer, strict=strict)
            agree(f"unpack(strict={strict}) of {type(buffer).__name__}", got, expected, data)


if __name__ == "__main__":
    main(test_one_input)
