"""Built-in example traffic: what the command line works on when given nothing.

``HANDSHAKE`` is a real Linux handshake and first data segment; ``EXTRA`` adds
SACK, FIN and RST over IPv4 and SYN and data over IPv6; ``CAPTURE`` is a small
capture of real Linux traffic (both close orders, a simultaneous close, a
reset and refused connects) that ``fastseg analyze`` reads by default.
"""

from __future__ import annotations

import ipaddress
import os
from typing import List, Tuple

from fastseg.codec import pack
from fastseg.segment import Flags, OptionKind, Segment

__all__ = ["CAPTURE", "CLIENT", "EXTRA", "HANDSHAKE", "SERVER", "segments"]

#: The two endpoints of HANDSHAKE.
CLIENT, SERVER = "10.213.0.1", "10.213.0.2"

#: (src, dst, segment hex): a handshake and first data segment the Linux 6.18 kernel sent
#: between CLIENT and SERVER (tests/data/captures/ipv4_handshake.pcap, frames 5-8).
HANDSHAKE: Tuple[Tuple[str, str, str], ...] = (
    (CLIENT, SERVER,
     "d516b7992268535c00000000a002faf040040000020405b40402080a27b2cd34000000000103030a"),
    (SERVER, CLIENT,
     "b799d516b182f0192268535da012fe88f9b30000020405b40402080a1de0832a27b2cd340103030a"),
    (CLIENT, SERVER, "d516b7992268535db182f01a8010003f26cc00000101080a27b2cd351de0832a"),
    (CLIENT, SERVER,
     "d516b7992268535db182f01a8018003f8ebe00000101080a27b2cd351de0832a48454c4c4f20666173747365670a"),
)

_TS = (OptionKind.TIMESTAMPS, (0x1DE0832B, 0x27B2CD35))
_NOP = (OptionKind.NOP, None)
#: (src, dst, segment): SACK, FIN and RST over IPv4, SYN and data over IPv6.
EXTRA: Tuple[Tuple[str, str, Segment], ...] = (
    (SERVER, CLIENT, Segment(
        src_port=47001, dst_port=54550, seq=2978148378, ack=577262445, flags=Flags.ACK, window=509,
        options=[_NOP, _NOP, _TS, _NOP, _NOP, (OptionKind.SACK, ((577263445, 577264445),))])),
    (SERVER, CLIENT, Segment(
        src_port=47001, dst_port=54550, seq=2978148378, ack=577262445, flags=Flags.FIN | Flags.ACK,
        window=509, options=[_NOP, _NOP, _TS])),
    (CLIENT, SERVER, Segment(
        src_port=54550, dst_port=47001, seq=577262445, flags=Flags.RST, window=0)),
    ("2001:db8::1", "2001:db8::2", Segment(
        src_port=50000, dst_port=443, seq=1, flags=Flags.SYN, window=64800,
        options=[(OptionKind.MSS, 1440), (OptionKind.SACK_PERMITTED, None), _TS, _NOP,
                 (OptionKind.WSCALE, 7)])),
    ("2001:db8::1", "2001:db8::2", Segment(
        src_port=50000, dst_port=443, seq=2, ack=1, flags=Flags.PSH | Flags.ACK, window=507,
        options=[_NOP, _NOP, _TS], payload=b"GET / HTTP/1.1\r\n\r\n")),
)

#: The sample capture shipped with fastseg (recorded by tools/make_sample.py).
CAPTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample.pcap")


def segments() -> List[Tuple[bytes, bytes, bytes]]:
    """HANDSHAKE then EXTRA as (src, dst, segment bytes), addresses packed, checksums right."""
    out = [(ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed, bytes.fromhex(text))
           for src, dst, text in HANDSHAKE]
    for src, dst, segment in EXTRA:
        raw_src, raw_dst = ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed
        out.append((raw_src, raw_dst, pack(segment, src=raw_src, dst=raw_dst)))
    return out
