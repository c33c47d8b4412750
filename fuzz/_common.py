"""Pieces shared by the fuzz targets: twin comparison, exact-size buffers, a byte reader,
a leak check and the libFuzzer entry point.

Every target module defines ``test_one_input(data: bytes)`` and calls :func:`main`.
A target fails (atheris reports an uncaught exception, libFuzzer saves the input
as a crash file and exits non-zero) when the twins disagree, when an exception
other than the documented ones escapes, or when an invariant breaks.
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
from typing import Any, Callable, Iterable, List, Tuple

import atheris


class Disagreement(AssertionError):
    """The compiled and the reference twin gave different results for one input."""


class Broken(AssertionError):
    """An invariant documented in the README does not hold."""


def same(a: Any, b: Any) -> bool:
    """Equal values of identical types, all the way down.

    ``==`` alone would call ``OptionKind.MSS`` equal to ``2`` and ``Flags.SYN``
    equal to ``2``; the twins must return the very same types.
    """
    if type(a) is not type(b):
        return False
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return bool(a == b)


def outcome(allowed: Tuple[type, ...], fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``("ok", result)`` or ``("raised", class, args)`` for an ``allowed`` exception.

    Any other exception propagates: that is a crash.
    """
    try:
        return ("ok", fn(*args, **kwargs))
    except allowed as exc:
        return ("raised", type(exc), exc.args)


def agree(what: str, compiled: Any, reference: Any, data: bytes) -> None:
    if not same(compiled, reference):
        raise Disagreement(
            f"{what}: twins disagree on input {data.hex()}\n"
            f"  compiled:  {compiled!r}\n  reference: {reference!r}"
        )


def exact_buffer(data: bytes) -> Any:
    """A buffer whose bytes fill a heap block of exactly ``len(data)`` bytes.

    A bytes object carries a trailing NUL and sits in pymalloc arenas, so a
    one-byte overread of it is invisible to AddressSanitizer.  ctypes arrays
    larger than 16 bytes get their own ``PyMem_Calloc`` block, which is a plain
    ``calloc`` under ``PYTHONMALLOC=malloc`` (what the sanitizer runs set).
    """
    return (ctypes.c_char * len(data)).from_buffer_copy(data)


def strided(data: bytes) -> memoryview:
    """A non-contiguous view whose logical bytes are ``data``."""
    backing = bytearray(2 * len(data))
    backing[::2] = data
    return memoryview(backing)[::2]


def buffers(data: bytes) -> List[Any]:
    """The same bytes as every kind of buffer the API accepts."""
    return [as_buffer(data, kind) for kind in range(5)]


def as_buffer(data: bytes, kind: int) -> Any:
    """``data`` as bytes (0), an exactly sized heap buffer (1), a bytearray (2),
    a memoryview (3) or a non-contiguous memoryview (4)."""
    if kind == 1:
        return exact_buffer(data)
    if kind == 2:
        return bytearray(data)
    if kind == 3:
        return memoryview(data)
    if kind == 4:
        return strided(data)
    return data


class Reader:
    """Reads numbers and bytes off the front of the fuzz input; zeros once it runs dry."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        chunk = self.data[self.pos:self.pos + max(n, 0)]
        self.pos += len(chunk)
        return chunk

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size).ljust(size, b"\0"), "big")

    def byte(self) -> int:
        return self.uint(1)

    def u16(self) -> int:
        return self.uint(2)

    def u32(self) -> int:
        return self.uint(4)

    def signed(self, size: int) -> int:
        value = self.uint(size)
        return value - (1 << (8 * size)) if value >> (8 * size - 1) else value


def read_inputs(dirs: Iterable[str], limit: int = 3000) -> List[bytes]:
    """The files of the given corpus directories (the smallest first, up to ``limit``)."""
    paths = []
    for directory in dirs:
        if os.path.isdir(directory):
            for name in os.listdir(directory):
                path = os.path.join(directory, name)
                if os.path.isfile(path):
                    paths.append((os.path.getsize(path), path))
    inputs = []
    for _, path in sorted(paths)[:limit]:
        with open(path, "rb") as f:
            inputs.append(f.read())
    return inputs


#: The most corpus inputs the leak check replays (spread over the corpus by size), and
#: the seconds its measured rounds may take: its cost is bounded whatever the corpus grew to.
LEAK_SAMPLE = 64
LEAK_BUDGET = 60.0


def sample(inputs: List[bytes], count: int) -> List[bytes]:
    """At most ``count`` of ``inputs`` (sorted by size), evenly spread: small to large."""
    if len(inputs) <= count:
        return list(inputs)
    step = len(inputs) / count
    return [inputs[int(i * step)] for i in range(count)]


def leak_check(test_one_input: Callable[[bytes], None], dirs: List[str], *,
               budget: float = LEAK_BUDGET, limit: int = LEAK_SAMPLE) -> int:
    """Replay a corpus again and again; memory that keeps growing is a leak.

    Traced by ``tracemalloc`` (every Python-level allocation, whatever the
    allocator), after warm-up passes that fill the codec's caches.  A leak of
    one small object per call shows as tens of kilobytes per pass set.  At
    most ``limit`` inputs are replayed, and as many passes as fit ``budget``
    seconds (at least 2 per round, by the warm-up's pace), so the check takes
    about the same time for a corpus of 50 inputs or of 5,000.
    """
    import time
    import tracemalloc

    corpus = read_inputs(dirs)
    inputs = sample(corpus, limit)
    if not inputs:
        print("leak check: no inputs", flush=True)
        return 0

    def run(times: int) -> int:
        for _ in range(times):
            for data in inputs:
                test_one_input(data)
        gc.collect()
        return int(tracemalloc.get_traced_memory()[0])

    tracemalloc.start()
    started = time.perf_counter()
    run(2)
    per_pass = max((time.perf_counter() - started) / 2, 1e-6)
    passes = max(2, min(4000 // len(inputs), int(budget / per_pass) // 2))
    base = run(1)
    first = run(passes)
    second = run(passes)
    tracemalloc.stop()
    calls = passes * len(inputs)
    growth = (first - base, second - first)
    print(f"leak check: {len(inputs)} of {len(corpus)} inputs x {passes} passes twice, "
          f"traced memory grew {growth[0]:+d} then {growth[1]:+d} bytes", flush=True)
    # A leak grows in both rounds; noise (free lists, one-off caches) does not repeat.
    threshold = max(16384, calls // 4)
    if growth[0] > threshold and growth[1] > threshold:
        print(f"==LEAK== memory grows by about {growth[1] // calls} bytes per input", flush=True)
        return 1
    return 0


def main(test_one_input: Callable[[bytes], None]) -> None:
    """libFuzzer's command line, plus ``--leak-check DIR...`` and ``--replay FILE...``."""
    argv = sys.argv
    if len(argv) > 1 and argv[1] == "--leak-check":
        sys.exit(leak_check(test_one_input, argv[2:]))
    if len(argv) > 1 and argv[1] == "--replay":
        for path in argv[2:]:
            with open(path, "rb") as f:
                test_one_input(f.read())
            print(f"replayed {path}: ok", flush=True)
        return
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
