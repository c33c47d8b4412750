"""The speed issue's targets, each computed from one run's best times."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from fastseg.bench.cases import SEQ_OPS

__all__ = ["TARGETS", "Best", "Target", "evaluate_targets", "yardstick"]


Best = dict[tuple[str, str], float]  # (op, impl) -> best seconds per operation


@dataclass(frozen=True)
class Target:
    """A goal of the speed issue: ``measure`` gives the figure, compared with ``goal``."""

    text: str
    measure: Callable[[Best], Optional[float]]
    goal: float
    unit: str  # "x" (a ratio), "GB/s" or "ns"
    at_least: bool = True

    def verdict(self, value: float) -> str:
        if (self.at_least and value >= self.goal) or (not self.at_least and value <= self.goal):
            return "met"
        return f"MISSED by {self.goal / value if self.at_least else value / self.goal:.2f}x"


def _ratio(slow: tuple[str, str], fast: tuple[str, str]) -> Callable[[Best], Optional[float]]:
    return lambda best: best[slow] / best[fast] if slow in best and fast in best else None


def _gbps(op: str, size: int) -> Callable[[Best], Optional[float]]:
    return lambda best: size / best[(op, "cython")] / 1e9 if (op, "cython") in best else None


def _seq_worst(best: Best) -> Optional[float]:
    ratios = [_ratio((op, "cython"), (op, "empty call"))(best) for op in SEQ_OPS]
    return None if None in ratios else max(r for r in ratios if r is not None)


TARGETS = (
    Target("unpack, all fields: >= 8x faster than dpkt",
           _ratio(("unpack", "dpkt"), ("unpack", "cython")), 8, "x"),
    Target("unpack, header fields only: <= 1.5x a bare struct unpack",
           _ratio(("unpack header", "cython"), ("unpack header", "struct")), 1.5, "x", at_least=False),
    Target("pack with checksum: >= 25x faster than dpkt",
           _ratio(("pack checksum", "dpkt"), ("pack checksum", "cython")), 25, "x"),
    Target("internet_checksum 1500 B: >= 20 GB/s", _gbps("checksum 1500", 1500), 20, "GB/s"),
    Target("internet_checksum 64 KiB: >= 30 GB/s", _gbps("checksum 65536", 65536), 30, "GB/s"),
    Target("internet_checksum 20 B: <= 40 ns",
           lambda best: best[("checksum 20", "cython")] * 1e9 if ("checksum 20", "cython") in best else None,
           40, "ns", at_least=False),
    Target("internet_checksum 1500 B: >= 100x the pure-Python twin",
           _ratio(("checksum 1500", "python"), ("checksum 1500", "cython")), 100, "x"),
    Target("seq comparisons (worst of four): <= 1.3x an empty call", _seq_worst, 1.3, "x", at_least=False),
    Target("pcap -> segments: >= 10x faster than dpkt",
           _ratio(("pcap", "dpkt"), ("pcap", "cython")), 10, "x"),
)


def evaluate_targets(best: Best) -> list[dict[str, Any]]:
    """Each target of the issue with its measured value (None when not measured) and verdict."""
    rows = []
    for target in TARGETS:
        value = target.measure(best)
        rows.append({"target": target.text, "value": value, "unit": target.unit, "goal": target.goal,
                     "verdict": "not measured" if value is None else target.verdict(value)})
    return rows


def yardstick(best: Best) -> list[dict[str, Any]]:
    """For unpack and pack: how far the issue's yardstick, a minimal compiled routine building
    the same objects (``minimal``), gets against dpkt, and fastseg's time over its time."""
    rows = []
    for op in ("unpack", "pack checksum"):
        minimal_vs_dpkt = _ratio((op, "dpkt"), (op, "minimal"))(best)
        cython_vs_minimal = _ratio((op, "cython"), (op, "minimal"))(best)
        if minimal_vs_dpkt is not None or cython_vs_minimal is not None:
            rows.append({"op": op, "minimal_vs_dpkt": minimal_vs_dpkt,
                         "cython_vs_minimal": cython_vs_minimal})
    return rows
