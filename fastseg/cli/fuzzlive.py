"""``fastseg fuzz live`` and ``fastseg fuzz replay``: stateful fuzzing of a TCP stack, and its findings again.

    fastseg fuzz live --target fastseg --iterations 2000 --seed 7 -o findings/
    fastseg fuzz live --target mystack.adapter:make_host --seconds 300 --json
    fastseg fuzz replay findings/finding-1.json

A campaign brings connections of the target into each state (LISTEN,
SYN-RECEIVED, ESTABLISHED with data in flight, a zero window, FIN-WAIT-1/2,
CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT; CLOSED is a port with no
listener), sends sequences of attacks there and checks the oracles (crash,
liveness, integrity, rfc5961, rfc9293, resources).  ``--target kernel`` (the
default, root) is the Linux kernel in a private network namespace behind a
TUN device; ``fastseg`` is fastseg's own Host; ``MODULE:FACTORY`` any object
that FACTORY(addresses) returns with Host's interface, in process.  ``--iterations`` makes a
campaign repeatable (the same seed gives the same findings); ``--seconds``
bounds it in time.  With ``-o DIR`` each finding is written as DIR/finding-N.json
(the record and the minimised sequence), finding-N.pcap (the whole exchange)
and finding-N-min.pcap (the minimised one).  ``--allow`` accepts a
documented deviation from the RFCs instead of reporting it.

Exit status: 0 no finding, 1 findings (replay: the finding still trips its
oracle), 2 a usage or setup error.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from typing import Callable, List, Optional, Sequence

from fastseg.cli import Parser, UsageError, guard
from fastseg.live.campaign import Campaign, Report
from fastseg.live.findings import load, replay
from fastseg.live.kernel import KernelTarget, kernel_unavailable
from fastseg.live.oracles import DEVIATIONS
from fastseg.live.states import STATES
from fastseg.live.target import Factory, TargetError, load_factory

__all__ = ["DEFAULT_SECONDS", "main"]

#: A campaign's length when neither --seconds nor --iterations is given.
DEFAULT_SECONDS = 60.0
#: Seconds between two progress lines on a terminal.
_PROGRESS_EVERY = 0.2


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
        return value

    return parse


def _deviations(text: str) -> List[str]:
    names = [name for name in text.split(",") if name]
    for name in names:
        if name not in DEVIATIONS:
            raise argparse.ArgumentTypeError(
                f"unknown deviation {name!r} (choose from {', '.join(DEVIATIONS)})")
    return names


def _factory(spec: str) -> Factory:
    if spec == "kernel":
        reason = kernel_unavailable()
        if reason is not None:
            raise UsageError(reason)
        return KernelTarget
    try:
        return load_factory(spec)
    except TargetError as exc:
        raise UsageError(str(exc)) from None


def _live_parser() -> Parser:
    parser = Parser(prog="fastseg fuzz live", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="kernel",
                        help="kernel (default), fastseg, or MODULE:FACTORY (in process)")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--seconds", type=_positive(float),
                        help=f"run this long (default {DEFAULT_SECONDS:g})")
    budget.add_argument("--iterations", type=_positive(int), help="run this many sequences")
    parser.add_argument("--seed", default="0", help="any text; the same seed, the same campaign (default 0)")
    parser.add_argument("-o", "--output", metavar="DIR", help="write each finding (JSON and pcaps) here")
    parser.add_argument("--json", action="store_true", help="print one JSON document: findings and coverage")
    parser.add_argument("--allow", type=_deviations, action="append", default=[], metavar="DEVIATION",
                        help="accept a documented deviation: " + "; ".join(
                            f"{name}: {text}" for name, text in DEVIATIONS.items()))
    return parser


def _progress(report: Report) -> str:
    return (f"states {len(report.states)}/{len(STATES)} reached, "
            f"{report.sequences} sequences, coverage {len(report.coverage)}, "
            f"corpus {len(report.corpus)}, findings {len(report.findings)}")


def _summary(report: Report) -> None:
    print(f"target {report.target}, seed {report.seed!r}: {report.sequences} sequences in "
          f"{report.seconds:.1f} s")
    print(f"states reached: {', '.join(report.states) or 'none'}")
    print(f"coverage: {len(report.coverage)} (state, attack, answer) points; "
          f"corpus: {len(report.corpus)} sequences")
    print(f"findings: {len(report.findings)}")
    for number, finding in enumerate(report.findings, 1):
        steps = " ".join(f"{kind}#{index}" for kind, index in finding.minimised) or "no attack"
        print(f"  {number}. {finding.oracle} in {finding.state}: {finding.message}")
        print(f"     reproducer: {steps}" + (f" ({finding.files[0]})" if finding.files else ""))


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM ends a campaign as Ctrl-C does: cleanly, exit status 130."""
    raise KeyboardInterrupt


def _live(argv: Sequence[str]) -> int:
    args = _live_parser().parse_args(argv)
    factory = _factory(args.target)
    if args.output is not None:
        os.makedirs(args.output, exist_ok=True)
    deviations = frozenset(name for names in args.allow for name in names)
    campaign = Campaign(factory, target=args.target, seed=args.seed, deviations=deviations,
                        directory=args.output)
    tty = sys.stderr.isatty()
    shown = [0.0]

    def progress(report: Report) -> None:
        if tty and report.seconds - shown[0] >= _PROGRESS_EVERY:
            shown[0] = report.seconds
            sys.stderr.write(f"\rfastseg fuzz live: {_progress(report)}\x1b[K")
            sys.stderr.flush()

    seconds = args.seconds if args.iterations is None and args.seconds is not None else \
        DEFAULT_SECONDS if args.iterations is None else None
    previous = signal.signal(signal.SIGTERM, _interrupt)  # the kernel's namespace is removed on the way out
    try:
        report = campaign.run(iterations=args.iterations, seconds=seconds, progress=progress)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if tty:
            sys.stderr.write("\r\x1b[K")
    if args.json:
        print(json.dumps(report.record(), indent=2))
    else:
        _summary(report)
    return 1 if report.findings else 0


def _replay_parser() -> Parser:
    parser = Parser(prog="fastseg fuzz replay",
                    description="Run a finding's minimised sequence again against the same kind of "
                                "target; exit 1 when it still trips its oracle, 0 when it no longer does.")
    parser.add_argument("finding", help="a finding-N.json that fastseg fuzz live -o wrote")
    parser.add_argument("--target", help="the target to replay against (default: the finding's)")
    return parser


def _replay(argv: Sequence[str]) -> int:
    args = _replay_parser().parse_args(argv)
    finding = load(args.finding)
    factory = _factory(args.target or finding.target)
    tripped, _ = replay(finding, factory)
    verdict = "still trips" if tripped else "no longer trips"
    print(f"{args.finding}: {verdict} {finding.oracle} ({finding.rule}) in {finding.state}")
    return 1 if tripped else 0


def main(command: str, argv: Optional[Sequence[str]] = None) -> int:
    """``command`` is "live" or "replay"; the exit status as the module docstring says."""
    args = list(sys.argv[2:] if argv is None else argv)
    run = _live if command == "live" else _replay
    return guard(f"fastseg fuzz {command}", lambda: run(args))
