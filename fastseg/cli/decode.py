"""``fastseg decode``: decode a real Linux handshake, or segments given in hex.

Each segment is decoded, its checksum verified over the IPv4 pseudo-header and
re-encoded, so the output shows the codec's whole round trip.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

import fastseg
from fastseg.samples import CLIENT, HANDSHAKE, SERVER


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
