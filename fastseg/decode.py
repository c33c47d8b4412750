"""``fastseg decode``: decode a real Linux handshake, or segments given in hex.

Each segment is decoded, its checksum verified over the IPv4 pseudo-header and
re-encoded, so the output shows the codec's whole round trip.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

import fastseg

#: A handshake and first data segment the Linux 6.18 kernel sent between
#: 10.213.0.1 and 10.213.0.2 (tests/data/captures/ipv4_handshake.pcap, frames 5-8).
CLIENT, SERVER = "10.213.0.1", "10.213.0.2"
EXAMPLE = (
    (CLIENT, SERVER,
     "d516b7992268535c00000000a002faf040040000020405b40402080a27b2cd34000000000103030a"),
    (SERVER, CLIENT,
     "b799d516b182f0192268535da012fe88f9b30000020405b40402080a1de0832a27b2cd340103030a"),
    (CLIENT, SERVER, "d516b7992268535db182f01a8010003f26cc00000101080a27b2cd351de0832a"),
    (CLIENT, SERVER,
     "d516b7992268535db182f01a8018003f8ebe00000101080a27b2cd351de0832a48454c4c4f20666173747365670a"),
)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Decode, verify and re-encode each segment; exit 1 if any fails to decode."""
    parser = argparse.ArgumentParser(prog="fastseg decode", description=__doc__)
    parser.add_argument("hex", nargs="*", help="TCP segments in hex (default: a built-in handshake)")
    parser.add_argument("--src", default=CLIENT, help="source address for the checksum")
    parser.add_argument("--dst", default=SERVER, help="destination address for the checksum")
    args = parser.parse_args(argv)
    print(f"fastseg {fastseg.__version__} ({fastseg.IMPLEMENTATION} codec)")
    status = 0
    given = [(args.src, args.dst, text) for text in args.hex]
    for number, (src, dst, text) in enumerate(given or EXAMPLE, 1):
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
