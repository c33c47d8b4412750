"""``fastseg bench``: run every case, print the table and the targets, write the JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Optional, Sequence

import fastseg
from fastseg import reference
from fastseg.bench.cases import PEERS, PLAN, Workload, make_case
from fastseg.bench.corpus import COUNT, SEED, SHORT_COUNT
from fastseg.bench.peers import Unavailable
from fastseg.bench.targets import evaluate_targets, yardstick
from fastseg.bench.timing import time_cases

__all__ = ["SHORT_ENV", "Result", "format_table", "main", "report", "short_requested"]

SHORT_ENV = "FASTSEG_BENCH_SHORT"
DESCRIPTION = "Time both twins of fastseg and the peer libraries on one generated corpus."


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
    """The table, the skipped implementations and the targets, as printed lines."""
    lines = [f"best of {workload.min_rounds}+ runs per case, the cases of an operation taking their runs in "
             "turn; garbage collector paused; scapy works on the "
             f"first {min(workload.peer_limit, len(workload.corpus.wires))} segments; "
             "'vs cython' = time / the Cython twin's time", ""]
    lines += format_table(results)
    lines += [f"skipped {impl}: {reason}" for impl, reason in skipped.items()]
    best = {(r.op, r.impl): r.best for r in results}
    lines += ["", "targets (issue 4)"]
    for row in evaluate_targets(best):
        value = "-" if row["value"] is None else f"{row['value']:.2f} {row['unit']}"
        lines.append(f"  {row['target']:<58} {value:>12}  {row['verdict']}")
    rows = yardstick(best)
    if rows:
        lines += ["", "the issue's yardstick, a minimal compiled routine that builds the same objects "
                  "(impl 'minimal')"]
    for row in rows:
        reach = "-" if row["minimal_vs_dpkt"] is None else f"{row['minimal_vs_dpkt']:.2f}x faster than dpkt"
        cost = "-" if row["cython_vs_minimal"] is None else f"{row['cython_vs_minimal']:.2f}x its time"
        lines.append(f"  {row['op']:<14} the routine: {reach:<26} the Cython twin: {cost}")
    sample = reference.unpack(workload.corpus.wires[0])
    lines += ["", f"a Segment is {sys.getsizeof(sample)} bytes (the object alone; its fields, options and "
              "payload are objects of their own)"]
    return lines


def short_requested() -> bool:
    """Whether the environment asks for the short (CI) mode."""
    return os.environ.get(SHORT_ENV, "").strip().lower() not in ("", "0", "false", "no")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmarks, print the table and the targets; 1 if an implementation disagreed."""
    parser = argparse.ArgumentParser(prog="fastseg bench", description=DESCRIPTION)
    parser.add_argument("--short", action="store_true", default=short_requested(),
                        help=f"CI mode: {SHORT_COUNT} segments and short timings (also {SHORT_ENV}=1)")
    parser.add_argument("--json", metavar="PATH", help="write the raw figures to PATH")
    parser.add_argument("--count", type=int, help=f"corpus size (default {COUNT}, short {SHORT_COUNT})")
    parser.add_argument("--seed", type=int, default=SEED, help=f"corpus seed (default {SEED})")
    parser.add_argument("--op", action="append", metavar="TEXT",
                        help="only operations whose name contains TEXT (repeatable)")
    parser.add_argument("--impl", action="append", choices=PEERS,
                        help="only these implementations, besides the baselines (repeatable)")
    args = parser.parse_args(argv)
    status = 0
    results: list[Result] = []
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="fastseg-bench-") as directory:
        started = time.perf_counter()
        workload = Workload.create(args.short, directory, args.count, args.seed)
        print(f"fastseg {fastseg.__version__} bench: {len(workload.corpus.wires)} segments, seed {args.seed} "
              f"(built in {time.perf_counter() - started:.1f} s); {platform.python_implementation()} "
              f"{platform.python_version()}, {os.cpu_count()} CPUs{'; short mode' if args.short else ''}",
              flush=True)
        for op, (_, impls) in PLAN.items():
            if args.op and not any(text in op for text in args.op):
                continue
            cases = []
            for impl in impls:
                if args.impl and impl in PEERS and impl not in args.impl:
                    continue
                try:
                    case = make_case(workload, op, impl)
                except Unavailable as exc:
                    skipped[impl] = str(exc)
                    continue
                problem = case.mismatch()
                if problem:
                    print(f"DISAGREES, not timed: {problem}", file=sys.stderr)
                    status = 1
                    continue
                cases.append(case)
            for case, timings in zip(cases, time_cases(cases, workload.budget, workload.min_rounds)):
                results.append(Result(op, case.impl, case.ops, case.nbytes, timings))
                print(f"  {op:<16} {case.impl:<12} {results[-1].best * 1e9:10.1f} ns/op", file=sys.stderr,
                      flush=True)
    print("\n".join(report(results, workload, skipped)))
    if args.json:
        with open(args.json, "w") as out:
            json.dump({
                "fastseg": fastseg.__version__, "python": platform.python_version(),
                "machine": platform.machine(), "cpus": os.cpu_count(),
                "corpus": {"segments": len(workload.corpus.wires), "seed": args.seed, "short": args.short,
                           "peer_limit": workload.peer_limit},
                "results": [{"op": r.op, "impl": r.impl, "ops": r.ops, "bytes": r.nbytes,
                             "best_ns": r.best * 1e9, "runs_ns": [t * 1e9 for t in r.seconds_per_op]}
                            for r in results],
                "skipped": skipped,
                "targets": evaluate_targets({(r.op, r.impl): r.best for r in results}),
                "yardstick": yardstick({(r.op, r.impl): r.best for r in results}),
            }, out, indent=1)
    return status


if __name__ == "__main__":
    sys.exit(main())
