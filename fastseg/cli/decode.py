"""``fastseg decode``: decode a real Linux handshake, or segments given in hex.

Each segment is decoded, its checksum verified over the IPv4 pseudo-header and
re-encoded, so the output shows the codec's whole round trip.
"""

from __future__ import annotations

import ipaddress
import sys
from typing import Optional, Sequence

import fastseg
from fastseg.cli import Parser, UsageError, guard
from fastseg.samples import CLIENT, HANDSHAKE, SERVER


def _run(argv: Sequence[str]) -> int:
    parser = Parser(prog="fastseg decode", description=__doc__)
    parser.add_argument("hex", nargs="*", help="TCP segments in hex (default: a built-in handshake)")
    parser.add_argument("--src", help=f"source address for the checksum (default {CLIENT})")
    parser.add_argument("--dst", help=f"destination address for the checksum (default {SERVER})")
    args = parser.parse_args(argv)
    if not args.hex and (args.src is not None or args.dst is not None):
        raise UsageError("--src and --dst apply to segments given in hex, and none was given")
    for option, value in (("--src", args.src), ("--dst", args.dst)):
        if value is not None:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise UsageError(f"argument {option}: not an IP address: {value!r}") from None
    src = args.src if args.src is not None else CLIENT
    dst = args.dst if args.dst is not None else SERVER
    if ipaddress.ip_address(src).version != ipaddress.ip_address(dst).version:
        raise UsageError(f"--src {src} and --dst {dst} are not of one IP version")
    print(f"fastseg {fastseg.__version__} ({fastseg.IMPLEMENTATION} codec)")
    status = 0
    given = [(src, dst, text) for text in args.hex]
    for number, (src, dst, text) in enumerate(given or HANDSHAKE, 1):
        try:
            raw = bytes.fromhex(text)
            segment = fastseg.unpack(raw)
        except ValueError as exc:
            print(f"{number}: cannot decode: {exc}", file=sys.stderr)
            status = 1
            continue
        verdict = "good" if fastseg.verify_checksum(src, dst, raw) else "BAD"
        same = "identical" if fastseg.pack(segment) == raw else "DIFFERENT"
        print(f"{number}: {segment!r}")
        print(f"   checksum {verdict}, re-encoded bytes {same}")
    return status


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Decode, verify and re-encode each segment; exit 1 if any fails to decode, 2 on a usage error."""
    return guard("fastseg decode", lambda: _run(list(sys.argv[1:] if argv is None else argv)))
