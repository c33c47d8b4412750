"""The timer of the benchmark harness: timeit-style rounds with the garbage collector paused."""

from __future__ import annotations

import gc
import math
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

from harness.cases import Case

__all__ = ["calibrate", "gc_paused", "time_cases"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside (as timeit does); a collection before."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def calibrate(run: Callable[[], Any], budget: float, min_rounds: int) -> tuple[int, int]:
    """(rounds, iterations) for about ``budget`` seconds, a round lasting at least 2 ms.

    Calls ``run`` once, which also warms it up.
    """
    start = time.perf_counter()
    run()
    once = max(time.perf_counter() - start, 1e-9)
    iterations = max(1, math.ceil(0.002 / once))
    rounds = max(min_rounds, min(1000, int(budget / (once * iterations))))
    return rounds, iterations


def time_cases(cases: Sequence[Case], budget: float, min_rounds: int) -> list[list[float]]:
    """Seconds per operation of each round, per case.

    Each case gets the rounds :func:`calibrate` gives it, and the cases take
    their rounds in turn, so that a burst of load on a shared machine slows
    all of them, not the one that happened to be running: the ratios between
    the cases of an operation are what the targets are.
    """
    with gc_paused():
        plans = [calibrate(case.run, budget, min_rounds) for case in cases]
        timings: list[list[float]] = [[] for _ in cases]
        for turn in range(max((rounds for rounds, _ in plans), default=0)):
            for case, (rounds, iterations), times in zip(cases, plans, timings):
                if turn < rounds:
                    start = time.perf_counter()
                    for _ in range(iterations):
                        case.run()
                    times.append((time.perf_counter() - start) / (iterations * case.ops))
    return timings
