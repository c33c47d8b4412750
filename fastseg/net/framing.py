"""IP framing between a TUN device and a :class:`~fastseg.conn.Host`.

Incoming packets are taken apart by the capture reader's decoder (one IP
parser in the project: IPv4 options, IPv6 extension headers, fragments
recognised), the IPv4 header checksum (RFC 791 §3.1) and the TCP checksum
(RFC 9293 §3.1) verified; everything refused is counted by reason.
Outgoing datagrams are packed with their checksum computed and put in an
IPv4 or IPv6 header.  The ECN field (RFC 3168 §5: the low two bits of the
IPv4 TOS octet and of the IPv6 traffic class) carries ``Datagram.ecn`` out and
comes back in ``Arrival.ecn``.
"""

from __future__ import annotations

import functools
import ipaddress
from collections import Counter
from typing import NamedTuple, Optional

from fastseg.capture import ipv4_packet, ipv6_packet
from fastseg.capture._common import LINKTYPE_RAW
from fastseg.capture._reader_py import decode
from fastseg.checksum import internet_checksum, verify_checksum
from fastseg.codec import pack, unpack
from fastseg.conn.ecn import ECN_MASK, NOT_ECT
from fastseg.conn.host import Datagram
from fastseg.errors import DecodeError
from fastseg.segment import Segment

__all__ = ["Arrival", "Framing"]

#: Where the IPv6 traffic class's ECN bits sit in the header's second octet (RFC 8200 §3).
IPV6_ECN_SHIFT = 4
#: How many packed addresses ``_text`` keeps converted: the peers a stack talks to at once.
TEXTS_KEPT = 4096


class Arrival(NamedTuple):
    """A segment taken out of a packet, with the addresses and ECN codepoint
    ``Host.receive`` wants."""

    segment: Segment
    src: str
    dst: str
    ecn: int = NOT_ECT


@functools.lru_cache(maxsize=TEXTS_KEPT)
def _text(packed: bytes) -> str:
    """The text form of a 4- or 16-byte address.  ``ipaddress`` takes microseconds, and a
    stack sees the same few addresses on every packet: the most recently used are kept."""
    return str(ipaddress.ip_address(packed))


class Framing:
    """Packets to segments and datagrams to packets; ``dropped`` counts refusals by reason."""

    def __init__(self) -> None:
        self.dropped: Counter[str] = Counter()

    def parse(self, packet: bytes) -> Optional[Arrival]:
        """The TCP segment in an IP packet, or None (counted in ``dropped``)."""
        verdict = decode(LINKTYPE_RAW, packet, len(packet))
        if verdict[0] != "tcp":
            self.dropped[str(verdict[0])] += 1  # fragment, non-tcp, malformed, ...
            return None
        _, version, src, _, start, stop, end, final = verdict
        if stop < end:
            self.dropped["shorter than its IP length"] += 1
            return None
        if version == 4 and internet_checksum(packet[: (packet[0] & 0x0F) * 4]) != 0:
            self.dropped["bad IPv4 header checksum"] += 1
            return None
        raw = packet[start:end]
        if not verify_checksum(src, final, raw):
            self.dropped["bad TCP checksum"] += 1
            return None
        try:
            segment = unpack(raw)
        except DecodeError:
            self.dropped["undecodable TCP header"] += 1
            return None
        ecn = (packet[1] if version == 4 else packet[1] >> IPV6_ECN_SHIFT) & ECN_MASK
        return Arrival(segment, _text(src), _text(final), ecn)

    def frame(self, datagram: Datagram) -> bytes:
        """The IP packet carrying ``datagram``, TCP checksum computed, its ECN codepoint in
        the IP header."""
        raw = pack(datagram.segment, src=datagram.src, dst=datagram.dst)
        ecn = datagram.ecn & ECN_MASK
        if ":" in datagram.src:
            return ipv6_packet(datagram.src, datagram.dst, raw, traffic_class=ecn)
        return ipv4_packet(datagram.src, datagram.dst, raw, tos=ecn)
