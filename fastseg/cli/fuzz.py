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
import sys
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union

from fastseg import capture, mutate, samples
from fastseg._output import Output, check_distinct
from fastseg.capture._common import LINKTYPE_ETHERNET, LINKTYPE_RAW, CaptureError
from fastseg.cli import Parser, UsageError, guard
from fastseg.codec import pack

__all__ = ["MAX_INPUTS", "MAX_INPUT_BYTES", "MAX_STACK", "capture_inputs", "main"]

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


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Write the fuzzed pcap; 0 on success, 1 on an input or file error, 2 on a usage error.

    ``fastseg fuzz live ...`` and ``fastseg fuzz replay ...`` are
    :mod:`fastseg.cli.fuzzlive`; ``fastseg fuzz pcap ...`` is this command
    by its own name (for a capture that is called ``live``, say).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["live"], ["replay"]):
        from fastseg.cli import fuzzlive

        return fuzzlive.main(args[0], args[1:])
    if args[:1] == ["pcap"]:
        args = args[1:]
    return guard("fastseg fuzz", lambda: _run(args))
