"""The benchmark report: one row per case, ratios to the Cython twin, and the bars."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from fastseg import reference
from harness.cases import Workload
from harness.targets import evaluate_targets

__all__ = ["SHORT_ENV", "Result", "format_table", "report", "short_requested"]

SHORT_ENV = "FASTSEG_BENCH_SHORT"


@dataclass
class Result:
    """The timings of one case: seconds per operation, one figure per round."""

    op: str
    impl: str
    ops: int
    nbytes: int
    seconds_per_op: list[float]

    @property
    def best(self) -> float:
        return min(self.seconds_per_op)


def format_table(results: list[Result]) -> list[str]:
    """One row per case, in the order given: best ns/op, rates, and the ratio to the Cython twin."""
    cython = {r.op: r.best for r in results if r.impl == "cython"}
    lines = [f"{'operation':<16} {'implementation':<14} {'ns/op':>10} {'ops/s':>10} {'GB/s':>7} "
             f"{'vs cython':>10}"]
    previous = None
    for r in results:
        rate = 1 / r.best
        gbps = f"{r.nbytes / r.ops / r.best / 1e9:7.2f}" if r.nbytes else ""
        ratio = f"{r.best / cython[r.op]:9.2f}x" if r.op in cython else ""
        op = r.op if r.op != previous else ""
        previous = r.op
        lines.append(f"{op:<16} {r.impl:<14} {r.best * 1e9:10.1f} {_si(rate):>10} {gbps:>7} {ratio:>10}")
    return lines


def _si(value: float) -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.2f} {suffix}"
    return f"{value:.0f}"


def report(results: list[Result], workload: Workload, skipped: dict[str, str]) -> list[str]:
    """The table, the skipped implementations and the bars, as printed lines."""
    lines = [f"best of {workload.min_rounds}+ runs per case, the cases of an operation taking their runs in "
             "turn; garbage collector paused; scapy works on the "
             f"first {min(workload.peer_limit, len(workload.corpus.wires))} segments; "
             "'vs cython' = time / the Cython twin's time", ""]
    lines += format_table(results)
    lines += [f"skipped {impl}: {reason}" for impl, reason in skipped.items()]
    best = {(r.op, r.impl): r.best for r in results}
    lines += ["", "bars (the Cython twin's time over a compiled baseline's, this run)"]
    for row in evaluate_targets(best):
        value = "-" if row["value"] is None else f"{row['value']:.2f}x"
        lines.append(f"  {row['target']:<58} {value:>8}  {row['verdict']}")
    sample = reference.unpack(workload.corpus.wires[0])
    lines += ["", f"a Segment is {sys.getsizeof(sample)} bytes (the object alone; its fields, options and "
              "payload are objects of their own)"]
    return lines


def short_requested() -> bool:
    """Whether the environment asks for the short (CI) mode."""
    return os.environ.get(SHORT_ENV, "").strip().lower() not in ("", "0", "false", "no")
