"""Resident memory over many unpack/pack cycles must not grow.

    python benchmarks/memory_check.py [CYCLES]     (default 10,000,000)

Cycles through the benchmark corpus (fastseg.bench) with the active twin:
unpack, pack with an IPv4 checksum, unpack of a bytearray read only for its
seq (so its options and payload are never decoded), lenient unpack of a truncated copy, and a
strict unpack that raises.  RSS (from /proc/self/statm) is sampled after a
warm-up and at the end; exit 1 if it grew by more than 4 MiB.  Also prints
the size of a Segment.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

from harness import build_corpus

import fastseg
from fastseg import DecodeError

LIMIT = 4 << 20


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main(argv: list[str]) -> int:
    cycles = int(argv[0]) if argv else 10_000_000
    corpus = build_corpus(2000)
    segments = corpus.wires
    truncated = [s[: max(20, len(s) // 2)] for s in segments]

    def run(count: int) -> None:
        for i in range(count):
            raw = segments[i % len(segments)]
            src, dst = corpus.addresses[i % len(segments)]
            fastseg.pack(fastseg.unpack(raw), src=src, dst=dst)
            fastseg.unpack(bytearray(raw)).seq  # noqa: B018 - options and payload never decoded
            fastseg.unpack(truncated[i % len(truncated)], strict=False)
            with contextlib.suppress(DecodeError):
                fastseg.unpack(raw[:19])

    run(min(cycles // 10, 200_000))
    before, start = rss(), time.perf_counter()
    run(cycles)
    grown = rss() - before
    size = sys.getsizeof(fastseg.unpack(segments[0]))
    print(f"{cycles:,} cycles ({fastseg.IMPLEMENTATION}) in {time.perf_counter() - start:.1f} s: "
          f"RSS {before / 2**20:.1f} MiB -> {(before + grown) / 2**20:.1f} MiB "
          f"({grown / 2**10:+.0f} KiB); a Segment is {size} bytes")
    return 0 if grown <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
