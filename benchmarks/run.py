"""Run every benchmark case, print the table and the bars, write the raw figures.

    python benchmarks/run.py --json bench.json     # 100k segments, a few minutes
    python benchmarks/run.py --short               # 10k segments, as CI runs it

Needs ``python benchmarks/build.py`` first for the compiled baselines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from typing import Optional, Sequence

from harness.cases import PEERS, PLAN, Workload, make_case
from harness.corpus import COUNT, SEED, SHORT_COUNT
from harness.peers import Unavailable
from harness.report import SHORT_ENV, Result, report, short_requested
from harness.targets import evaluate_targets
from harness.timing import time_cases

import fastseg

DESCRIPTION = "Time both twins of fastseg, the peer libraries and the compiled baselines on one corpus."
#: The largest corpus accepted: about 2 GB of segments and their records in memory.
MAX_COUNT = 2_000_000


def _count(text: str) -> int:
    """A corpus size for argparse: an int in [1, MAX_COUNT]."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 1 <= value <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"{value} is not in [1, {MAX_COUNT}]")
    return value


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmarks, print the table and the targets; 1 if an implementation disagreed."""
    parser = argparse.ArgumentParser(prog="python benchmarks/run.py", description=DESCRIPTION)
    parser.add_argument("--short", action="store_true", default=short_requested(),
                        help=f"CI mode: {SHORT_COUNT} segments and short timings (also {SHORT_ENV}=1)")
    parser.add_argument("--json", metavar="PATH", help="write the raw figures to PATH")
    parser.add_argument("--count", type=_count, help=f"corpus size, 1 to {MAX_COUNT} (default {COUNT}, "
                        f"short {SHORT_COUNT})")
    parser.add_argument("--seed", type=int, default=SEED, help=f"corpus seed (default {SEED})")
    parser.add_argument("--op", action="append", metavar="TEXT",
                        help="only operations whose name contains TEXT (repeatable)")
    parser.add_argument("--impl", action="append", choices=PEERS,
                        help="only these implementations, besides the baselines (repeatable)")
    args = parser.parse_args(argv)
    if args.json and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
        parser.error(f"--json {args.json}: no such directory")
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
            }, out, indent=1)
    return status


if __name__ == "__main__":
    sys.exit(main())
