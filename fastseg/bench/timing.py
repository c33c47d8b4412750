"""The timer ``fastseg bench`` uses: timeit-style rounds with the garbage collector paused."""

from __future__ import annotations

import gc
import math
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from fastseg.bench.cases import Case

__all__ = ["calibrate", "gc_paused", "time_case"]


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


def time_case(case: Case, budget: float, min_rounds: int) -> list[float]:
    """Seconds per operation of each round."""
    with gc_paused():
        rounds, iterations = calibrate(case.run, budget, min_rounds)
        timings = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(iterations):
                case.run()
            timings.append((time.perf_counter() - start) / (iterations * case.ops))
    return timings
