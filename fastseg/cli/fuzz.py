"""``fastseg fuzz``: mutate TCP segments and write them to a pcap that Wireshark and tcpreplay read.

The inputs are the TCP segments of a capture or, with no capture, a built-in
set (a real Linux handshake, data, SACK, FIN and RST over IPv4 and IPv6).
Mutation *i* (from 0) is :class:`fastseg.mutate.Mutator`'s mutation *i* of
input *i* modulo the number of inputs, so the same ``--seed``, options and
input give a byte-identical file, and ``--log`` says what was done to each
frame.  Each mutated segment goes into a freshly built IPv4 or IPv6 header
(right length and header checksum) between the input's addresses, in an
Ethernet frame or as raw IP; frame *i* is stamped 1700000000 s + *i* µs.

    fastseg fuzz trace.pcap -o fuzzed.pcap --count 1000 --seed 7 --checksum fix
    fastseg fuzz -o fuzzed.pcap --operators option_length,truncate --log fuzzed.txt
    tcpreplay -i veth0 fuzzed.pcap

``fastseg fuzz pcap ...`` is the same command; ``fastseg fuzz live`` fuzzes a
TCP stack statefully and ``fastseg fuzz replay`` replays its findings (see
``fastseg fuzz live --help``).

Mutation and framing are :func:`fastseg.mutate.frames`; the built-in set is
:mod:`fastseg.samples`.  ``--checksum keep`` leaves the input's checksum field (usually wrong after a
mutation), ``fix`` recomputes it, ``break`` makes it wrong on purpose.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple, Union

from fastseg import capture, mutate, samples
from fastseg._output import Output, check_distinct
from fastseg.capture._common import LINKTYPE_ETHERNET, LINKTYPE_RAW, CaptureError
from fastseg.cli import Parser, UsageError, guard
from fastseg.codec import pack
from fastseg.live.campaign import Campaign, Report
from fastseg.live.findings import load, replay
from fastseg.live.kernel import KernelTarget, kernel_unavailable
from fastseg.live.oracles import DEVIATIONS
from fastseg.live.states import STATES
from fastseg.live.target import Factory, TargetError, load_factory

__all__ = ["DEFAULT_SECONDS", "LIVE_HELP", "MAX_INPUTS", "MAX_INPUT_BYTES", "MAX_STACK", "capture_inputs",
           "main"]

LINKS = {"ethernet": LINKTYPE_ETHERNET, "raw": LINKTYPE_RAW}

#: The most operators one mutation may stack (``--stack``).
MAX_STACK = 16
#: The inputs taken from a capture: its first MAX_INPUTS TCP segments, up to MAX_INPUT_BYTES.
MAX_INPUTS = 65536
MAX_INPUT_BYTES = 32 << 20


def capture_inputs(path: str) -> List[Tuple[bytes, bytes, bytes]]:
    """The first TCP segments of a capture (at most :data:`MAX_INPUTS` of them and
    :data:`MAX_INPUT_BYTES` in all), as they were on the wire (lenient decoding is lossless)."""
    inputs: List[Tuple[bytes, bytes, bytes]] = []
    size = 0
    with capture.open_capture(path) as reader:
        for rec in reader:
            data = pack(rec.segment)
            size += len(data)
            if len(inputs) >= MAX_INPUTS or size > MAX_INPUT_BYTES:
                break
            inputs.append((rec.src, rec.dst, data))
    if not inputs:
        raise CaptureError(f"{path}: no TCP segments to mutate")
    return inputs


def _seed(text: str) -> Union[int, str]:
    try:
        return int(text, 0)
    except ValueError:
        return text


def _count(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _stack(text: str) -> int:
    value = _count(text)
    if value > MAX_STACK:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_STACK}, not {value}")
    return value


def _operators(text: str) -> List[str]:
    names = [name for name in text.split(",") if name]
    if not names:
        raise argparse.ArgumentTypeError("no operator named")
    for name in names:
        if name not in mutate.OPERATORS:
            raise argparse.ArgumentTypeError(
                f"unknown operator {name!r} (choose from {', '.join(mutate.OPERATORS)})")
    return names


def _parser() -> Parser:
    parser = Parser(prog="fastseg fuzz", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("capture", nargs="?", help="pcap or pcapng whose TCP segments are mutated "
                        f"(its first {MAX_INPUTS}; default: a built-in set of IPv4 and IPv6 segments)")
    parser.add_argument("-o", "--output", required=True, help="the pcap file to write")
    parser.add_argument("-n", "--count", type=_count, default=100,
                        help="frames to write, at least 1 (default 100)")
    parser.add_argument("-s", "--seed", type=_seed, default=0,
                        help="int or string; the same seed and input give the same file (default 0)")
    parser.add_argument("--checksum", choices=mutate.CHECKSUM_MODES, default="keep",
                        help="keep the input's checksum field, fix it or break it (default keep)")
    parser.add_argument("--operators", type=_operators,
                        help="comma-separated operator names (default: all): "
                        + ", ".join(mutate.OPERATORS))
    parser.add_argument("--stack", type=_stack, default=1,
                        help=f"apply 1 to STACK operators per mutation, STACK from 1 to {MAX_STACK} "
                             "(default 1)")
    parser.add_argument("--link", choices=sorted(LINKS), default="ethernet",
                        help="link type of the output (default ethernet)")
    parser.add_argument("--log", metavar="FILE",
                        help="write one line per frame: number, input number, what was done")
    return parser


def _run(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    outputs = [("-o", args.output)] + ([("--log", args.log)] if args.log else [])
    try:
        check_distinct(outputs, [args.capture] if args.capture else [])
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    inputs = capture_inputs(args.capture) if args.capture else samples.segments()
    linktype = LINKS[args.link]
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(Output(args.output, "wb"))
        log: Any = stack.enter_context(Output(args.log, "w")) if args.log else None

        def frames() -> Iterator[capture.Frame]:
            # One frame at a time, from the mutator to the file: memory does not grow with --count.
            for index, (frame, mutation) in enumerate(mutate.frames(
                    inputs, args.count, seed=args.seed, checksum=args.checksum,
                    operators=args.operators, stack=args.stack, linktype=linktype)):
                if log is not None:
                    log.write(f"{index + 1}\t{index % len(inputs) + 1}\t{mutation.description}\n")
                yield frame

        capture.write_pcap(out, frames(), linktype=linktype)
    print(f"{args.count} frames from {len(inputs)} input segment{'s' * (len(inputs) != 1)} "
          f"(seed {args.seed!r}, checksum {args.checksum}) -> {args.output}")
    return 0


#: The help of ``fastseg fuzz live``.
LIVE_HELP = """Stateful fuzzing of a TCP stack, and its findings again.

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
    parser = Parser(prog="fastseg fuzz live", description=LIVE_HELP,
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


def _stateful(command: str, args: List[str]) -> int:
    """``fastseg fuzz live`` or ``fastseg fuzz replay``."""
    run = _live if command == "live" else _replay
    return guard(f"fastseg fuzz {command}", lambda: run(args))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Write the fuzzed pcap; 0 on success, 1 on an input or file error, 2 on a usage error.

    ``fastseg fuzz live ...`` and ``fastseg fuzz replay ...`` are
    :data:`LIVE_HELP`; ``fastseg fuzz pcap ...`` is this command
    by its own name (for a capture that is called ``live``, say).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["live"], ["replay"]):
        return _stateful(args[0], args[1:])
    if args[:1] == ["pcap"]:
        args = args[1:]
    return guard("fastseg fuzz", lambda: _run(args))
