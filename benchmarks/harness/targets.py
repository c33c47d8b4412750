"""The speed bars fastseg holds itself to, each a ratio to a compiled baseline in the same run.

A bar compares the Cython twin with the least a compiled routine needs for the
same work (``minimal``, ``plain loop``, ``empty call`` from ``_minimal_c``), so
it does not depend on how fast the machine runs Python code.  This machine's
figures move by 5 to 30 % between runs: judge the median of several.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from harness.cases import SEQ_OPS

__all__ = ["TARGETS", "Best", "Target", "evaluate_targets"]


Best = dict[tuple[str, str], float]  # (op, impl) -> best seconds per operation


@dataclass(frozen=True)
class Target:
    """One bar: ``measure`` gives the Cython twin's time over a baseline's, at most ``goal``."""

    text: str
    measure: Callable[[Best], Optional[float]]
    goal: float

    def verdict(self, value: float) -> str:
        return "met" if value <= self.goal else f"MISSED by {value / self.goal:.2f}x"


def _over(op: str, baseline: str) -> Callable[[Best], Optional[float]]:
    """The Cython twin's time for ``op`` over ``baseline``'s, or None if either is missing."""
    def measure(best: Best) -> Optional[float]:
        if (op, "cython") in best and (op, baseline) in best:
            return best[(op, "cython")] / best[(op, baseline)]
        return None
    return measure


def _seq_worst(best: Best) -> Optional[float]:
    ratios = [_over(op, "empty call")(best) for op in SEQ_OPS]
    return None if None in ratios else max(r for r in ratios if r is not None)


TARGETS = (
    Target("unpack, every field read: <= 1.25x minimal", _over("unpack", "minimal"), 1.25),
    Target("unpack, header fields read: <= 1.25x minimal", _over("unpack header", "minimal"), 1.25),
    Target("pack with the IPv4 checksum: <= 1.25x minimal", _over("pack checksum", "minimal"), 1.25),
    Target("internet_checksum 20 B: <= 1.3x a plain C loop", _over("checksum 20", "plain loop"), 1.3),
    Target("internet_checksum 1500 B: <= 1.25x a plain C loop", _over("checksum 1500", "plain loop"), 1.25),
    Target("internet_checksum 64 KiB: <= 1.25x a plain C loop", _over("checksum 65536", "plain loop"), 1.25),
    Target("seq comparisons (worst of four): <= 1.3x an empty call", _seq_worst, 1.3),
    Target("Segment(...) then pack with the checksum: <= 2x minimal",
           _over("build pack", "minimal"), 2.0),
    Target("pack, text addresses: <= 1.2x bytes addresses", _over("pack text", "bytes addresses"), 1.2),
    Target("Connection, per segment: <= 10x codec pack+unpack", _over("connection", "codec"), 10.0),
    Target("fastseg analyze: <= 0.2x tshark -q -z conv,tcp (5x faster)",
           _over("analyze", "tshark"), 0.2),
)


def evaluate_targets(best: Best) -> list[dict[str, Any]]:
    """Each bar with its measured ratio (None when not measured) and verdict."""
    rows = []
    for target in TARGETS:
        value = target.measure(best)
        rows.append({"target": target.text, "value": value, "goal": target.goal,
                     "verdict": "not measured" if value is None else target.verdict(value)})
    return rows
