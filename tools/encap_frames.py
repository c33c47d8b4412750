"""Real IP packets re-wrapped in the encapsulations this kernel cannot make, for ``--set encap``.

``make_captures.py --set encap`` records TCP inside VXLAN from the kernel
(the one tunnel the recording kernel builds; it has no GRE, IPIP, SIT,
ip6tnl, Geneve or MPLS).  This module takes the inner IPv4 and IPv6 packets
of those recordings, byte for byte with their timestamps, and writes each
connection again inside the other encapsulations with fastseg's capture
writer: GRE (RFC 2784/2890, over IPv4 and IPv6, and gretap), IP in IP
(RFC 2003), 6in4 (RFC 4213), ip6tnl (RFC 2473), Geneve (RFC 8926, with an
option), MPLS (RFC 3032), PPPoE (RFC 2516), and the PPP, PPP-in-HDLC and
IPoIB link types.  The inner packets are taken apart here by fixed offsets,
not by fastseg's reader, so the files do not depend on the code they test.
"""

from __future__ import annotations

import os
import struct
import sys
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository

from fastseg import capture
from fastseg.checksum import internet_checksum

__all__ = ["WRAPPINGS", "Wrapping", "inner_packets", "write_wrapped"]

# Underlay addresses of the wrapped files: those of the recording's veth pair.
OUTER4 = ("10.213.0.1", "10.213.0.2")
OUTER6 = ("fd00:fa57:5e9::1", "fd00:fa57:5e9::2")

ETHERTYPE_IPV4, ETHERTYPE_IPV6 = 0x0800, 0x86DD
ETHERNET_LEN, VXLAN_PORT, VXLAN_LEN, UDP_LEN = 14, 4789, 8, 8
IPPROTO_IPIP, IPPROTO_UDP, IPPROTO_IPV6, IPPROTO_GRE = 4, 17, 41, 47
GRE_CSUM, GRE_KEY, GRE_SEQ, ETHERTYPE_TEB = 0x8000, 0x2000, 0x1000, 0x6558
GENEVE_PORT, ETHERTYPE_MPLS, ETHERTYPE_PPPOE = 6081, 0x8847, 0x8864
PPP_IPV4, PPP_IPV6 = 0x0021, 0x0057
LINKTYPE_ETHERNET, LINKTYPE_PPP, LINKTYPE_PPP_HDLC, LINKTYPE_IPOIB = 1, 9, 50, 242

Packet = Tuple[int, int, bytes]  # timestamp in ns, IP version, the IP packet


def inner_packets(path: str) -> Iterator[Packet]:
    """The IP packets inside the VXLAN frames of a pcap recorded on Ethernet."""
    with open(path, "rb") as f:
        data = f.read()
    nano = data[:4] == b"\x4d\x3c\xb2\xa1"
    at = 24
    while at + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack_from("<IIII", data, at)
        frame = data[at + 16:at + 16 + incl]
        at += 16 + incl
        ethertype = struct.unpack_from("!H", frame, 12)[0]
        if ethertype == ETHERTYPE_IPV4 and frame[ETHERNET_LEN + 9] == IPPROTO_UDP:
            udp = ETHERNET_LEN + (frame[ETHERNET_LEN] & 0x0F) * 4
        elif ethertype == ETHERTYPE_IPV6 and frame[ETHERNET_LEN + 6] == IPPROTO_UDP:
            udp = ETHERNET_LEN + 40
        else:
            continue
        if struct.unpack_from("!H", frame, udp + 2)[0] != VXLAN_PORT:
            continue
        inner = udp + UDP_LEN + VXLAN_LEN
        inner_type = struct.unpack_from("!H", frame, inner + 12)[0]
        if inner_type not in (ETHERTYPE_IPV4, ETHERTYPE_IPV6):
            continue  # ARP, neighbour discovery runs over ICMPv6 and stays
        packet = frame[inner + ETHERNET_LEN:]
        yield (sec * 1_000_000_000 + frac * (1 if nano else 1000), packet[0] >> 4, packet)


def _outer_ip(version: int, payload: bytes, protocol: int, reply: bool) -> bytes:
    """The tunnel's own IP header, from the client's end or, for a ``reply``, the server's."""
    src, dst = OUTER4 if version == 4 else OUTER6
    if reply:
        src, dst = dst, src
    if version == 4:
        return capture.ipv4_packet(src, dst, payload, protocol=protocol)
    return capture.ipv6_packet(src, dst, payload, next_header=protocol)


def _from_server(packet: bytes) -> bool:
    """Whether the packet comes from the server's end of the overlay (its address ends in 2)."""
    source_end = 8 + 16 if packet[0] >> 4 == 6 else 12 + 4
    return packet[source_end - 1] == 2


def _type(packet: bytes) -> int:
    return ETHERTYPE_IPV6 if packet[0] >> 4 == 6 else ETHERTYPE_IPV4


def gre(outer: int, packet: bytes, seq: int, reply: bool) -> bytes:
    """Ethernet, IPv4 or IPv6, GRE with checksum, key and sequence number (RFC 2890)."""
    body = struct.pack("!HH", GRE_CSUM | GRE_KEY | GRE_SEQ, _type(packet))
    rest = struct.pack("!HHII", 0, 0, 42, seq) + packet
    checksum = internet_checksum(body + rest)
    gre_header = body + struct.pack("!H", checksum) + rest[2:]
    return capture.ethernet_frame(_outer_ip(outer, gre_header, IPPROTO_GRE, reply))


def gretap(packet: bytes, reply: bool) -> bytes:
    """Ethernet, IPv4, GRE with a key carrying transparent Ethernet bridging, Ethernet."""
    inner = capture.ethernet_frame(packet, src_mac=b"\x02\x00\x00\x00\x01\x01",
                                   dst_mac=b"\x02\x00\x00\x00\x01\x02")
    return capture.ethernet_frame(_outer_ip(4, struct.pack("!HHI", GRE_KEY, ETHERTYPE_TEB, 7)
                                            + inner, IPPROTO_GRE, reply))


def ip_in_ip(outer: int, packet: bytes, reply: bool) -> bytes:
    """Ethernet, then IPv4 or IPv6 carrying the packet (protocol 4 or 41)."""
    protocol = IPPROTO_IPV6 if packet[0] >> 4 == 6 else IPPROTO_IPIP
    return capture.ethernet_frame(_outer_ip(outer, packet, protocol, reply))


def geneve(packet: bytes, reply: bool) -> bytes:
    """Ethernet, IPv4, UDP to 6081, Geneve with one 8-byte option, Ethernet (RFC 8926 §3)."""
    option = struct.pack("!HBB", 0x0102, 0x03, 1) + b"\x00\x00\x00\x2a"  # class, type, length 1
    header = struct.pack("!BBHI", len(option) // 4, 0, ETHERTYPE_TEB, 42 << 8) + option
    inner = capture.ethernet_frame(packet)
    udp = struct.pack("!HHHH", 49152, GENEVE_PORT, UDP_LEN + len(header) + len(inner), 0)
    return capture.ethernet_frame(_outer_ip(4, udp + header + inner, IPPROTO_UDP, reply))


def mpls(packet: bytes) -> bytes:
    """Ethernet, two MPLS labels (100, then 200 with the bottom-of-stack bit), the packet."""
    labels = struct.pack("!II", (100 << 12) | 64, (200 << 12) | 0x100 | 64)
    return capture.ethernet_frame(labels + packet, ethertype=ETHERTYPE_MPLS)


def _ppp_protocol(packet: bytes) -> int:
    return PPP_IPV6 if packet[0] >> 4 == 6 else PPP_IPV4


def pppoe(packet: bytes) -> bytes:
    """Ethernet, PPPoE session 0x1234 (RFC 2516 §4), PPP, the packet."""
    head = struct.pack("!BBHHH", 0x11, 0, 0x1234, len(packet) + 2, _ppp_protocol(packet))
    return capture.ethernet_frame(head + packet, ethertype=ETHERTYPE_PPPOE)


def ppp(packet: bytes) -> bytes:
    """PPP in HDLC-like framing (RFC 1662 §3.1): address 0xFF, control 0x03, protocol."""
    return struct.pack("!BBH", 0xFF, 0x03, _ppp_protocol(packet)) + packet


def ipoib(packet: bytes) -> bytes:
    """IP over InfiniBand as tcpdump and Wireshark read it: 20 zero bytes and a 20-byte
    destination address (QPN, GID) where a Global Route Header may be, then ethertype and
    two reserved bytes (RFC 4391 §6)."""
    address = struct.pack("!I", 0x00000048) + bytes.fromhex("fe800000000000000002c90300001234")
    return bytes(20) + address + struct.pack("!HH", _type(packet), 0) + packet


@dataclass(frozen=True)
class Wrapping:
    """One wrapped file: its name, link type, source recording, frame maker, description."""

    name: str
    linktype: int
    source: str  # the recording whose inner packets are wrapped: "ipv4" or "ipv6"
    wrap: Callable[[bytes, int, bool], bytes]  # (IP packet, its index, from the server) -> frame
    description: str


WRAPPINGS: List[Wrapping] = [
    Wrapping("gre_ipv4", LINKTYPE_ETHERNET, "ipv4", lambda p, i, r: gre(4, p, i, r),
             "GRE over IPv4 with checksum, key and sequence number (RFC 2890), carrying IPv4."),
    Wrapping("ip6gre", LINKTYPE_ETHERNET, "ipv6", lambda p, i, r: gre(6, p, i, r),
             "GRE over IPv6 (ip6gre) with checksum, key and sequence number, carrying IPv6."),
    Wrapping("gretap", LINKTYPE_ETHERNET, "ipv4", lambda p, i, r: gretap(p, r),
             "gretap: GRE over IPv4 with a key, protocol 0x6558, an Ethernet frame inside."),
    Wrapping("ipip", LINKTYPE_ETHERNET, "ipv4", lambda p, i, r: ip_in_ip(4, p, r),
             "IPv4 in IPv4 (protocol 4, RFC 2003)."),
    Wrapping("sit_6in4", LINKTYPE_ETHERNET, "ipv6", lambda p, i, r: ip_in_ip(4, p, r),
             "IPv6 in IPv4 (protocol 41, 6in4 / SIT, RFC 4213)."),
    Wrapping("ip6tnl_ipip6", LINKTYPE_ETHERNET, "ipv4", lambda p, i, r: ip_in_ip(6, p, r),
             "IPv4 in IPv6 (ip6tnl, next header 4, RFC 2473)."),
    Wrapping("ip6tnl_ip6ip6", LINKTYPE_ETHERNET, "ipv6", lambda p, i, r: ip_in_ip(6, p, r),
             "IPv6 in IPv6 (ip6tnl, next header 41, RFC 2473)."),
    Wrapping("geneve", LINKTYPE_ETHERNET, "ipv4", lambda p, i, r: geneve(p, r),
             "Geneve (UDP 6081) with one 8-byte option, an Ethernet frame inside (RFC 8926)."),
    Wrapping("mpls", LINKTYPE_ETHERNET, "ipv4", lambda p, i, r: mpls(p),
             "An MPLS label stack of two (RFC 3032), IPv4 under the bottom one."),
    Wrapping("pppoe", LINKTYPE_ETHERNET, "ipv6", lambda p, i, r: pppoe(p),
             "PPPoE session (RFC 2516), PPP protocol 0x0057 (IPv6)."),
    Wrapping("ppp", LINKTYPE_PPP, "ipv4", lambda p, i, r: ppp(p),
             "Link type PPP (9): 0xFF 0x03, protocol 0x0021, IPv4."),
    Wrapping("ppp_hdlc", LINKTYPE_PPP_HDLC, "ipv4", lambda p, i, r: ppp(p),
             "Link type PPP_HDLC (50): PPP in HDLC-like framing, IPv4."),
    Wrapping("ipoib", LINKTYPE_IPOIB, "ipv6", lambda p, i, r: ipoib(p),
             "Link type IPOIB (242): 20 zero bytes and a destination address where a "
             "Global Route Header may be, ethertype 0x86dd, reserved, IPv6."),
]


def write_wrapped(outdir: str, sources: Dict[str, str]) -> List[Tuple[Wrapping, str]]:
    """Write every wrapping of the recordings ``sources`` ({"ipv4": path, "ipv6": path})."""
    made = []
    for wrapping in WRAPPINGS:
        packets = list(inner_packets(sources[wrapping.source]))
        frames = [capture.Frame(wrapping.wrap(packet, i, _from_server(packet)), ns)
                  for i, (ns, _, packet) in enumerate(packets)]
        path = os.path.join(outdir, wrapping.name + ".pcap")
        capture.write_pcap(path, frames, linktype=wrapping.linktype, nanosecond=True)
        made.append((wrapping, path))
    return made
