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

Mutation and framing are :func:`fastseg.mutate.frames`; the built-in set is
:mod:`fastseg.samples`.  ``--checksum keep`` leaves the input's checksum field (usually wrong after a
mutation), ``fix`` recomputes it, ``break`` makes it wrong on purpose.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, NoReturn, Optional, Sequence, Tuple, Union

from fastseg import capture, mutate, samples
from fastseg.capture._common import LINKTYPE_ETHERNET, LINKTYPE_RAW, CaptureError
from fastseg.codec import pack

__all__ = ["capture_inputs", "main"]

LINKS = {"ethernet": LINKTYPE_ETHERNET, "raw": LINKTYPE_RAW}


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def capture_inputs(path: str) -> List[Tuple[bytes, bytes, bytes]]:
    """The TCP segments of a capture, as they were on the wire (lenient decoding is lossless)."""
    inputs = [(rec.src, rec.dst, pack(rec.segment)) for rec in capture.segments(path)]
    if not inputs:
        raise CaptureError(f"{path}: no TCP segments to mutate")
    return inputs


def _seed(text: str) -> Union[int, str]:
    try:
        return int(text, 0)
    except ValueError:
        return text


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Write the fuzzed pcap; 0 on success, 2 on a usage or input error (one line on stderr)."""
    parser = _Parser(prog="fastseg fuzz", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("capture", nargs="?", help="pcap or pcapng whose TCP segments are mutated "
                        "(default: a built-in set of IPv4 and IPv6 segments)")
    parser.add_argument("-o", "--output", required=True, help="the pcap file to write")
    parser.add_argument("-n", "--count", type=int, default=100, help="frames to write (default 100)")
    parser.add_argument("-s", "--seed", type=_seed, default=0,
                        help="int or string; the same seed and input give the same file (default 0)")
    parser.add_argument("--checksum", choices=mutate.CHECKSUM_MODES, default="keep",
                        help="keep the input's checksum field, fix it or break it (default keep)")
    parser.add_argument("--operators", type=lambda text: [n for n in text.split(",") if n],
                        help="comma-separated operator names (default: all): "
                        + ", ".join(mutate.OPERATORS))
    parser.add_argument("--stack", type=int, default=1,
                        help="apply 1 to STACK operators per mutation (default 1)")
    parser.add_argument("--link", choices=sorted(LINKS), default="ethernet",
                        help="link type of the output (default ethernet)")
    parser.add_argument("--log", metavar="FILE",
                        help="write one line per frame: number, input number, what was done")
    args = parser.parse_args(argv)
    if args.count < 0:
        parser.error(f"--count must be >= 0, got {args.count}")
    try:
        inputs = capture_inputs(args.capture) if args.capture else samples.segments()
        frames = list(mutate.frames(inputs, args.count, seed=args.seed, checksum=args.checksum,
                                    operators=args.operators, stack=args.stack, linktype=LINKS[args.link]))
        capture.write_pcap(args.output, [frame for frame, _ in frames], linktype=LINKS[args.link])
        if args.log:
            with open(args.log, "w") as log:
                for index, (_, mutation) in enumerate(frames):
                    log.write(f"{index + 1}\t{index % len(inputs) + 1}\t{mutation.description}\n")
    except (CaptureError, OSError, ValueError, TypeError) as exc:
        print(f"fastseg fuzz: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.count} frames from {len(inputs)} input segment{'s' * (len(inputs) != 1)} "
          f"(seed {args.seed!r}, checksum {args.checksum}) -> {args.output}")
    return 0
