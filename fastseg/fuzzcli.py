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

``--checksum keep`` leaves the input's checksum field (usually wrong after a
mutation), ``fix`` recomputes it, ``break`` makes it wrong on purpose.
"""

from __future__ import annotations

import argparse
import sys
from typing import Dict, List, NoReturn, Optional, Sequence, Tuple, Union

from fastseg import capture, mutate
from fastseg.capture._common import LINKTYPE_ETHERNET, LINKTYPE_RAW, CaptureError
from fastseg.codec import pack
from fastseg.decode import EXAMPLE
from fastseg.segment import Flags, OptionKind, Segment

__all__ = ["BUILTIN", "EXTRA", "builtin_inputs", "capture_inputs", "fuzz", "main"]

#: (src, dst, segment hex) of the built-in inputs: a real Linux handshake and first data segment.
BUILTIN: Tuple[Tuple[str, str, str], ...] = EXAMPLE

_TS = (OptionKind.TIMESTAMPS, (0x1DE0832B, 0x27B2CD35))
_NOP = (OptionKind.NOP, None)
#: (src, dst, segment) of the other built-in inputs: SACK, FIN and RST over IPv4, SYN and data over IPv6.
EXTRA: Tuple[Tuple[str, str, Segment], ...] = (
    ("10.213.0.2", "10.213.0.1", Segment(
        src_port=47001, dst_port=54550, seq=2978148378, ack=577262445, flags=Flags.ACK, window=509,
        options=[_NOP, _NOP, _TS, _NOP, _NOP, (OptionKind.SACK, ((577263445, 577264445),))])),
    ("10.213.0.2", "10.213.0.1", Segment(
        src_port=47001, dst_port=54550, seq=2978148378, ack=577262445, flags=Flags.FIN | Flags.ACK,
        window=509, options=[_NOP, _NOP, _TS])),
    ("10.213.0.1", "10.213.0.2", Segment(
        src_port=54550, dst_port=47001, seq=577262445, flags=Flags.RST, window=0)),
    ("2001:db8::1", "2001:db8::2", Segment(
        src_port=50000, dst_port=443, seq=1, flags=Flags.SYN, window=64800,
        options=[(OptionKind.MSS, 1440), (OptionKind.SACK_PERMITTED, None), _TS, _NOP,
                 (OptionKind.WSCALE, 7)])),
    ("2001:db8::1", "2001:db8::2", Segment(
        src_port=50000, dst_port=443, seq=2, ack=1, flags=Flags.PSH | Flags.ACK, window=507,
        options=[_NOP, _NOP, _TS], payload=b"GET / HTTP/1.1\r\n\r\n")),
)

BASE_NS = 1_700_000_000 * 10**9
LINKS = {"ethernet": LINKTYPE_ETHERNET, "raw": LINKTYPE_RAW}

Input = Tuple[bytes, bytes, bytes]  # (src, dst, segment bytes)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def builtin_inputs() -> List[Input]:
    """The built-in inputs: (src, dst, segment bytes) with packed addresses, checksums right."""
    import ipaddress

    inputs = [(ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed,
               bytes.fromhex(text)) for src, dst, text in BUILTIN]
    for src, dst, segment in EXTRA:
        raw_src, raw_dst = ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed
        inputs.append((raw_src, raw_dst, pack(segment, src=raw_src, dst=raw_dst)))
    return inputs


def capture_inputs(path: str) -> List[Input]:
    """The TCP segments of a capture, as they were on the wire (lenient decoding is lossless)."""
    inputs = [(rec.src, rec.dst, pack(rec.segment)) for rec in capture.segments(path)]
    if not inputs:
        raise CaptureError(f"{path}: no TCP segments to mutate")
    return inputs


def fuzz(inputs: Sequence[Input], count: int, *, seed: Union[int, str] = 0, checksum: str = "keep",
         operators: Optional[Sequence[str]] = None, stack: int = 1,
         linktype: int = LINKTYPE_ETHERNET) -> List[Tuple[capture.Frame, mutate.Mutation]]:
    """``count`` frames, each with the mutation it carries; deterministic in every argument."""
    mutators: Dict[Tuple[bytes, bytes], mutate.Mutator] = {}
    out: List[Tuple[capture.Frame, mutate.Mutation]] = []
    for index in range(count):
        src, dst, data = inputs[index % len(inputs)]
        mutator = mutators.get((src, dst))
        if mutator is None:
            # Room for the IP header: an IPv4 packet holds 65535 bytes in all, an IPv6 payload 65535.
            limit = 0xFFFF - 20 if len(src) == 4 else 0xFFFF
            mutator = mutate.Mutator(seed, checksum=checksum, src=src, dst=dst, operators=operators,
                                     stack=stack, max_len=limit)
            mutators[(src, dst)] = mutator
        mutation = mutator.mutate(data, index=index)
        frame = capture.tcp_frame(mutation.data, src, dst, linktype=linktype)
        out.append((capture.Frame(frame, BASE_NS + index * 1000), mutation))
    return out


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
        inputs = capture_inputs(args.capture) if args.capture else builtin_inputs()
        frames = fuzz(inputs, args.count, seed=args.seed, checksum=args.checksum,
                      operators=args.operators, stack=args.stack, linktype=LINKS[args.link])
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
