"""Coverage-guided differential fuzzing of unpack and pack (atheris / libFuzzer).

    python fuzz/fuzz_unpack.py -max_total_time=60 [corpus_dir]

Each input is decoded by both twins in strict and lenient mode.  They must
return equal Segments or raise the same DecodeError (class, offset, reason);
any other exception is a crash.  Whatever decodes strictly must re-encode to
the same bytes in both twins.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from fastseg import DecodeError, Segment, _impl, reference

COMPILED, _, _ = _impl.compiled()


def _outcome(unpack, data: bytes, strict: bool):
    try:
        return unpack(data, strict=strict)
    except DecodeError as exc:
        return (type(exc), exc.args)


def test_one_input(data: bytes) -> None:
    for strict in (True, False):
        compiled = _outcome(COMPILED.unpack, data, strict)
        python = _outcome(reference.unpack, data, strict)
        if compiled != python:
            raise AssertionError(f"twins disagree (strict={strict}): {compiled!r} != {python!r}")
        if strict and isinstance(python, Segment) and (
            COMPILED.pack(python) != data or reference.pack(python) != data
        ):
            raise AssertionError(f"pack(unpack(b)) != b for {data.hex()}")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
