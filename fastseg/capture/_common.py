"""What both reader twins share: the record types, the errors, link types and messages.

The records and every message are built here, so the compiled and the
pure-Python reader cannot word or shape the same finding differently.
"""

from __future__ import annotations

import enum
import ipaddress
from typing import NamedTuple, Optional, Tuple, Union

from fastseg.errors import FastsegError
from fastseg.segment import Segment

__all__ = [
    "CaptureError", "CaptureNotFound", "CorruptCapture", "Kind", "NotACapture", "OtherRecord",
    "TcpRecord", "UnsupportedLinkType",
]

# ---------------------------------------------------------------- link types
# https://www.tcpdump.org/linktypes.html

LINKTYPE_NULL = 0           # BSD loopback: 4-byte address family in the writer's byte order
LINKTYPE_ETHERNET = 1
LINKTYPE_PPP = 9            # PPP (RFC 1661), optionally behind RFC 1662's 0xFF 0x03
LINKTYPE_PPP_HDLC = 50      # PPP in HDLC-like framing (0xFF first), or Cisco HDLC (0x0F/0x8F)
LINKTYPE_RAW_12 = 12        # DLT_RAW as some BSDs wrote it into files; raw IPv4 or IPv6
LINKTYPE_RAW_14 = 14        # DLT_RAW on OpenBSD
LINKTYPE_RAW = 101          # raw IPv4 or IPv6
LINKTYPE_LOOP = 108         # OpenBSD loopback: 4-byte address family, network byte order
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPOIB = 242        # IP over InfiniBand (RFC 4391), behind a 40-byte pseudo-header
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

LINKTYPE_NAMES = {
    LINKTYPE_NULL: "NULL", LINKTYPE_ETHERNET: "ETHERNET", LINKTYPE_RAW_12: "RAW",
    LINKTYPE_RAW_14: "RAW", LINKTYPE_RAW: "RAW", LINKTYPE_LOOP: "LOOP",
    LINKTYPE_LINUX_SLL: "LINUX_SLL", LINKTYPE_IPV4: "IPV4", LINKTYPE_IPV6: "IPV6",
    LINKTYPE_LINUX_SLL2: "LINUX_SLL2", LINKTYPE_PPP: "PPP", LINKTYPE_PPP_HDLC: "PPP_HDLC",
    LINKTYPE_IPOIB: "IPOIB",
}
SUPPORTED_LINKTYPES = frozenset(LINKTYPE_NAMES)

# Link headers: their lengths, and the offset of the ethertype in them.
ETHERNET_HEADER_LEN, ETHERNET_TYPE = 14, 12
SLL_HEADER_LEN, SLL_TYPE = 16, 14
SLL2_HEADER_LEN, SLL2_TYPE = 20, 0
LOOPBACK_HEADER_LEN = 4     # the address family
VLAN_TAG_LEN, VLAN_TYPE = 4, 2
#: IPoIB as libpcap, tcpdump and Wireshark lay it out: 40 bytes of Global Route Header or
#: destination address, then RFC 4391 §6's header: the ethertype, two reserved bytes.
IPOIB_HEADER_LEN, IPOIB_TYPE = 44, 40
#: Cisco HDLC (RFC 1547 §4.3.1): address (CHDLC_UNICAST or CHDLC_MULTICAST), control, ethertype.
CHDLC_HEADER_LEN, CHDLC_TYPE = 4, 2
CHDLC_UNICAST, CHDLC_MULTICAST = 0x0F, 0x8F

# BSD address families meaning IPv4 and IPv6 in NULL / LOOP headers.
AF_INET = 2
AF_INET6_BSD, AF_INET6_FREEBSD, AF_INET6_DARWIN = 24, 28, 30  # NetBSD/OpenBSD, FreeBSD, Darwin
AF_INET6 = (AF_INET6_BSD, AF_INET6_FREEBSD, AF_INET6_DARWIN)

# Ethernet types: IPv4, IPv6 and the VLAN tags walked over (802.1Q, 802.1ad, old QinQ).
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_8021Q, ETHERTYPE_8021AD, ETHERTYPE_QINQ = 0x8100, 0x88A8, 0x9100
ETHERTYPE_VLANS = (ETHERTYPE_8021Q, ETHERTYPE_8021AD, ETHERTYPE_QINQ)
#: Ethertypes (also GRE and Geneve protocol types, RFC 2784 §2.4, RFC 8926 §3.4) opened as
#: encapsulations: transparent Ethernet bridging (an inner Ethernet frame: gretap, Geneve),
#: PPP (PPTP's enhanced GRE, RFC 2637 §4.1), MPLS unicast and multicast (RFC 3032 §5),
#: PPPoE session (RFC 2516 §5).
ETHERTYPE_TEB = 0x6558
ETHERTYPE_PPP = 0x880B
ETHERTYPE_MPLS, ETHERTYPE_MPLS_MULTICAST = 0x8847, 0x8848
ETHERTYPE_PPPOE_SESSION = 0x8864

# ---------------------------------------------------------------- encapsulations
#: Encapsulations opened one inside another (tunnel headers, inner Ethernet, MPLS, PPPoE)
#: before a frame is called malformed: a hostile capture can nest GRE in GRE forever.
MAX_ENCAPSULATIONS = 8
#: PPP (RFC 1661 §2): the protocol field, two bytes, or one when compressed (RFC 1661
#: §6.5: a first byte with the PPP_PFC_BIT set ends the field); RFC 1662 §3.1's address
#: and control bytes may come first.  PPP_IPV4 and PPP_IPV6 (RFC 5072 §3) are opened.
PPP_PROTOCOL_LEN, PPP_PFC_BIT = 2, 0x01
PPP_ADDRESS, PPP_CONTROL, PPP_HDLC_LEN = 0xFF, 0x03, 2
PPP_IPV4, PPP_IPV6 = 0x0021, 0x0057
#: PPPoE (RFC 2516 §4): version and type, code, session id, length; PPP follows.
PPPOE_HEADER_LEN = 6
#: An MPLS label stack entry (RFC 3032 §2.1): the bottom-of-stack bit in its third byte.
MPLS_LABEL_LEN, MPLS_BOTTOM, MPLS_BOTTOM_BIT = 4, 2, 0x01
#: GRE (RFC 2784 §2, RFC 2890 §2): flags and version, the protocol type at GRE_PROTOCOL,
#: then a GRE_FIELD_LEN field for each of checksum (with its reserved half), key and
#: sequence number present.  Version GRE_VERSION_PPTP (RFC 2637 §4.1) always has the key
#: and may add an acknowledgment number (GRE_ACK); a routing field (RFC 1701) is not opened.
GRE_HEADER_LEN, GRE_PROTOCOL, GRE_FIELD_LEN = 4, 2, 4
GRE_CHECKSUM, GRE_ROUTING, GRE_KEY, GRE_SEQUENCE = 0x8000, 0x4000, 0x2000, 0x1000
GRE_ACK, GRE_VERSION_MASK, GRE_VERSION_PPTP = 0x0080, 0x0007, 1
#: UDP (RFC 768): the ports, then the tunnels on their IANA ports, which Wireshark opens by
#: default on either port: VXLAN (RFC 7348 §5: 8 bytes, then an Ethernet frame) and Geneve
#: (RFC 8926 §3.4: version, option length in GENEVE_OPT_UNITs, flags, protocol type, VNI).
UDP_HEADER_LEN, UDP_SRC_PORT, UDP_DST_PORT = 8, 0, 2
VXLAN_PORT, VXLAN_HEADER_LEN = 4789, 8
GENEVE_PORT, GENEVE_HEADER_LEN, GENEVE_PROTOCOL = 6081, 8, 2
GENEVE_VERSION_SHIFT, GENEVE_OPT_LEN_MASK, GENEVE_OPT_UNIT = 6, 0x3F, 4

#: The IP version field's values.
IPV4_VERSION, IPV6_VERSION = 4, 6
#: An IPv4 header without options (RFC 791 §3.1), and the fixed IPv6 header (RFC 8200 §3).
IPV4_HEADER_LEN = 20
IPV6_HEADER_LEN = 40
IPV4_ADDR_LEN, IPV6_ADDR_LEN = 4, 16
#: The TCP pseudo-header (RFC 9293 §3.1, RFC 8200 §8.1) for each IP version, and the larger.
PSEUDO_HEADER_IPV4, PSEUDO_HEADER_IPV6 = 12, 40
PSEUDO_HEADER_MAX = PSEUDO_HEADER_IPV6
#: Their fields past the source and destination addresses: IPv4 a zero byte, the protocol
#: and the 16-bit TCP length; IPv6 the 32-bit TCP length, three zero bytes, the next header.
PSEUDO_IPV4_ZERO, PSEUDO_IPV4_PROTOCOL, PSEUDO_IPV4_LENGTH = 8, 9, 10
PSEUDO_IPV6_LENGTH, PSEUDO_IPV6_ZERO, PSEUDO_IPV6_NEXT_HEADER = 32, 36, 39
#: An IPv4-mapped IPv6 address (RFC 4291 §2.5.5.2): zero bytes, two 0xFF bytes from
#: IPV4_MAPPED_ONES on, then the IPv4 address from IPV4_MAPPED_ADDR on.
IPV4_MAPPED_ONES, IPV4_MAPPED_ADDR = 10, 12

# IP protocol numbers.
IPPROTO_HOPOPTS = 0
IPPROTO_IPIP = 4            # IPv4 inside (RFC 2003)
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_IPV6 = 41           # IPv6 inside (RFC 4213 §3.5, RFC 2473)
IPPROTO_GRE = 47
IPPROTO_ROUTING = 43
IPPROTO_FRAGMENT = 44
IPPROTO_AH = 51
IPPROTO_DSTOPTS = 60
# IPv6 extension headers of the RFC 8200 §4 form (next header, length in 8-octet units
# beyond the first 8) that lead on to an upper layer: hop-by-hop, routing, destination
# options.  Mobility (135) and HIP (139) carry their own payload and end the walk, as in
# Wireshark.
IPV6_EXTENSIONS = (IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS)

# Classic pcap: the global header, then records each behind a header of ts_sec, ts_frac,
# incl_len, orig_len.
PCAP_FILE_HEADER = 24
PCAP_RECORD_HEADER = 16
# Where the link type lies in the global header; the bits above the mask may carry FCS
# length information.
PCAP_LINKTYPE, PCAP_LINKTYPE_MASK = 20, 0x0FFFFFFF
# Where the fields lie in a record header.
PCAP_TS_SEC, PCAP_TS_FRAC, PCAP_INCL_LEN, PCAP_ORIG_LEN = 0, 4, 8, 12
# Classic pcap and pcapng magic numbers (read little-endian).
PCAP_MAGIC_USEC = 0xA1B2C3D4
PCAP_MAGIC_NSEC = 0xA1B23C4D
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D
PCAPNG_IDB = 1
PCAPNG_PB = 2               # the obsolete Packet Block; Wireshark still reads it
PCAPNG_SPB = 3
PCAPNG_EPB = 6
# A pcapng block: its type, its total length at PCAPNG_BLOCK_LENGTH, the body from
# PCAPNG_BLOCK_HEADER on, and the total length again in the PCAPNG_BLOCK_TRAILER last
# bytes; the total is a multiple of PCAPNG_BLOCK_ALIGN, at least PCAPNG_MIN_BLOCK.
PCAPNG_BLOCK_LENGTH = 4
PCAPNG_BLOCK_HEADER = 8
PCAPNG_BLOCK_TRAILER = 4
PCAPNG_BLOCK_ALIGN = 4
PCAPNG_MIN_BLOCK = PCAPNG_BLOCK_HEADER + PCAPNG_BLOCK_TRAILER
# A section header's byte-order magic opens its body; PCAPNG_SHB_HEAD bytes tell its order.
PCAPNG_SHB_BYTE_ORDER = PCAPNG_BLOCK_HEADER
PCAPNG_SHB_HEAD = 12
# Blocks without a packet that Wireshark (4.0) still numbers as frames, so frame
# numbers count them too: systemd journal entries, sysdig events and custom blocks
# (copyable or not, whatever their enterprise number).  Name resolution, interface
# statistics, decryption secrets and unknown blocks are not frames.
PCAPNG_OTHER_FRAMES = {
    0x00000009: "systemd journal export", 0x00000204: "sysdig event",
    0x00000216: "sysdig event", 0x00000221: "sysdig event",
    0x00000BAD: "custom", 0x40000BAD: "custom",
}

#: Largest record (pcap) or block (pcapng) accepted; bigger means a corrupt file.
MAX_RECORD = 64 * 1024 * 1024
DEFAULT_CHUNK = 1 << 20

# ---------------------------------------------------------------- frames and capture formats
# The fields and codes the compiled reader takes frames, records and blocks apart by
# (their C names are in fastseg/_wire_c.pxd).

#: IPv4 (RFC 791 §3.1): the version in the first byte's high nibble, the header length
#: (IHL, in IHL_UNIT-byte words) in its low one, and where the fields lie.
IP_VERSION_SHIFT, IPV4_IHL_MASK, IHL_UNIT = 4, 0x0F, 4
IPV4_TOTAL_LEN, IPV4_FRAGMENT, IPV4_PROTOCOL = 2, 6, 9
IPV4_SRC, IPV4_DST = 12, 16
#: The 16 bits at IPV4_FRAGMENT: the more-fragments flag and the offset, in FRAGMENT_UNITs.
IPV4_MORE_FRAGMENTS, IPV4_FRAGMENT_OFFSET = 0x2000, 0x1FFF
FRAGMENT_UNIT = 8
#: IPv6 (RFC 8200 §3): where the fields lie.
IPV6_PAYLOAD_LEN, IPV6_NEXT_HEADER = 4, 6
IPV6_SRC, IPV6_DST = 8, 24
#: An extension header (RFC 8200 §4) opens with its next header and its length; its size
#: is (length + EXT_LEN_BIAS) * EXT_UNIT, an AH's (RFC 4302 §2.2) (length + AH_LEN_BIAS) * AH_UNIT.
EXT_NEXT_HEADER, EXT_LEN, EXT_HEAD_LEN = 0, 1, 2
EXT_UNIT, EXT_LEN_BIAS = 8, 1
AH_UNIT, AH_LEN_BIAS = 4, 2
#: The fragment header (RFC 8200 §4.5): its length, and the 16 bits at IPV6_FRAGMENT, an
#: offset that is already in bytes under its mask, then the M flag.
IPV6_FRAGMENT_LEN, IPV6_FRAGMENT = 8, 2
IPV6_FRAGMENT_OFFSET, IPV6_MORE_FRAGMENTS = 0xFFF8, 1
#: Hop-by-hop options (RFC 8200 §4.2): Pad1 is one byte, the others type, length, data;
#: the Jumbo Payload option (RFC 2675) holds a 32-bit payload length.
IPV6_OPT_PAD1, IPV6_PAD1_LEN = 0, 1
IPV6_OPT_LEN, IPV6_OPT_HEAD_LEN = 1, 2
IPV6_OPT_JUMBO, JUMBO_LEN = 0xC2, 4
#: The routing header (RFC 8200 §4.4): its type, segments left, and the type's addresses
#: after its first ROUTING_ADDRESSES bytes.  The types whose final destination is read:
#: RH0 (RFC 2460 §4.4), the home address (RFC 6275 §6.4), RPL (RFC 6554 §3) and segment
#: routing (RFC 8754 §2).
ROUTING_TYPE, SEGMENTS_LEFT, ROUTING_ADDRESSES = 2, 3, 8
ROUTING_RH0, ROUTING_HOME, ROUTING_RPL, ROUTING_SRH = 0, 2, 3, 4
#: RPL: CmprI and CmprE, the high and low nibbles at RPL_CMPR, and Pad, the high one at RPL_PAD.
RPL_CMPR, RPL_CMPRI_SHIFT, RPL_CMPRE_MASK = 4, 4, 0x0F
RPL_PAD, RPL_PAD_SHIFT = 5, 4
#: Segment routing: the Last Entry of the segment list.
SRH_LAST_ENTRY = 4

#: pcapng blocks Wireshark numbers as frames without a packet (PCAPNG_OTHER_FRAMES).
PCAPNG_SYSTEMD_JOURNAL = 0x00000009
PCAPNG_SYSDIG_EVENT, PCAPNG_SYSDIG_EVENT_V2, PCAPNG_SYSDIG_EVENT_V2_LARGE = 0x204, 0x216, 0x221
PCAPNG_CUSTOM_COPY, PCAPNG_CUSTOM_NO_COPY = 0x00000BAD, 0x40000BAD
#: An interface description block: link type, reserved, snap length, then options from
#: PCAPNG_IDB_OPTIONS on, each a 16-bit code and length, then its value padded to
#: PCAPNG_BLOCK_ALIGN.  if_tsresol defaults to PCAPNG_TSRESOL_DEFAULT (microseconds).
PCAPNG_IDB_OPTIONS, PCAPNG_OPTION_HEAD, PCAPNG_OPT_END = 8, 4, 0
PCAPNG_IF_TSRESOL, PCAPNG_TSRESOL_LEN, PCAPNG_TSRESOL_DEFAULT = 9, 1, 6
PCAPNG_IF_TSOFFSET, PCAPNG_TSOFFSET_LEN = 14, 8
#: A simple packet block: the original length, then the data from PCAPNG_SPB_HEADER on.
PCAPNG_SPB_ORIG_LEN, PCAPNG_SPB_HEADER = 0, 4
#: An enhanced (or the obsolete) packet block: interface id, timestamp high and low
#: 32 bits, captured and original lengths, then the data from PCAPNG_PACKET_HEADER on.
PCAPNG_INTERFACE_ID, PCAPNG_TS_HIGH, PCAPNG_TS_LOW = 0, 4, 8
PCAPNG_CAPTURED, PCAPNG_ORIG_LEN, PCAPNG_PACKET_HEADER = 12, 16, 20

# ---------------------------------------------------------------- errors


class CaptureError(FastsegError):
    """A capture that cannot be read; the message is one line naming the file."""


class CaptureNotFound(CaptureError, FileNotFoundError):
    """The file does not exist or cannot be opened."""


class NotACapture(CaptureError, ValueError):
    """The file does not start like a classic pcap or a pcapng file."""


class UnsupportedLinkType(CaptureError, ValueError):
    """A link-layer header type the reader cannot decapsulate; ``linktype`` is its number."""

    def __init__(self, message: str, linktype: int) -> None:
        super().__init__(message)
        self.linktype = linktype

    def __reduce__(self) -> Tuple[type, Tuple[str, int]]:
        return (type(self), (str(self), self.linktype))


class CorruptCapture(CaptureError, ValueError):
    """A capture whose structure breaks part way through (bad record or block lengths)."""


def not_a_capture(name: str, head: bytes) -> NotACapture:
    if not head:
        return NotACapture(f"{name}: empty file, not a pcap or pcapng capture")
    return NotACapture(f"{name}: not a pcap or pcapng capture (starts with {head[:4].hex()})")


def unsupported_linktype(name: str, linktype: int) -> UnsupportedLinkType:
    supported = ", ".join(str(t) for t in sorted(SUPPORTED_LINKTYPES))
    return UnsupportedLinkType(
        f"{name}: unsupported link type {linktype} (supported: {supported})", linktype)


def corrupt(name: str, offset: int, what: str) -> CorruptCapture:
    return CorruptCapture(f"{name}: corrupt capture at byte {offset}: {what}")


# ---------------------------------------------------------------- records


class Kind(str, enum.Enum):
    """What a frame that did not yield a TCP segment turned out to be."""

    FRAGMENT = "fragment"      # an IPv4 fragment (MF or offset) or an IPv6 non-atomic fragment
    NON_TCP = "non-tcp"        # IP carrying another protocol (UDP, ICMP, ESP, ...)
    NON_IP = "non-ip"          # ARP, LLDP, an unknown address family, ...
    TRUNCATED = "truncated"    # the snap length cut a header short
    MALFORMED = "malformed"    # a header that contradicts itself or the frame's length
    NON_PACKET = "non-packet"  # a pcapng block Wireshark counts as a frame, with no packet
    CUT_SHORT = "cut-short"    # the file ends part way through a record (always last)

    def __str__(self) -> str:
        return self.value


class TcpRecord(NamedTuple):
    """One TCP segment found in a capture.

    ``src`` and ``dst`` are the packed addresses (4 bytes for IPv4, 16 for
    IPv6), cheap to hash and compare; ``src_address``/``dst_address`` give
    :mod:`ipaddress` objects.  ``segment`` is decoded leniently, so a snap
    length cut or hostile options appear in ``segment.anomalies``.
    ``checksum_ok`` is None when the segment is truncated (fewer bytes
    captured than the IP header says).  ``announced_len`` is the segment's
    length (header and payload) as the IP header announces it: what the
    sender sent, more than the captured ``segment`` holds when a snap length
    cut the frame.  In a tunnel (GRE, IP in IP, VXLAN, Geneve, MPLS, PPPoE)
    all of these describe the innermost IP header and its TCP segment, as
    tshark's ``tcp.stream`` does.
    """

    frame: int                  # 1-based frame number, as Wireshark counts
    timestamp: float            # seconds since the epoch
    timestamp_ns: int           # the same, exact, in nanoseconds
    interface: int              # pcapng interface id (0 in classic pcap)
    version: int                # IP version: 4 or 6
    src: bytes
    dst: bytes
    segment: Segment
    checksum_ok: Optional[bool]
    announced_len: int          # the TCP segment's length by the IP header

    @property
    def announced_payload(self) -> int:
        """Payload bytes the sender sent: ``announced_len`` less the header (by its data offset)."""
        return max(0, self.announced_len - self.segment.header_len)

    @property
    def src_address(self) -> Union[ipaddress.IPv4Address, ipaddress.IPv6Address]:
        """The source address as an ``ipaddress`` object."""
        return ipaddress.ip_address(self.src)

    @property
    def dst_address(self) -> Union[ipaddress.IPv4Address, ipaddress.IPv6Address]:
        """The destination address as an ``ipaddress`` object."""
        return ipaddress.ip_address(self.dst)

    @property
    def truncated(self) -> bool:
        """Whether fewer bytes of the segment were captured than the IP header says."""
        return self.checksum_ok is None


class OtherRecord(NamedTuple):
    """A frame that yielded no TCP segment (only with ``include_other=True``).

    ``version``, ``src`` and ``dst`` are those of the innermost IP header
    read (in a tunnel, the one around the header that ended the walk), 0 and
    empty when none was; ``protocol`` is its IP protocol (the last
    next-header) or -1.
    """

    frame: int                  # 0 for CUT_SHORT
    timestamp: float
    timestamp_ns: int
    interface: int
    kind: Kind
    version: int
    src: bytes
    dst: bytes
    protocol: int
    detail: str


Record = Union[TcpRecord, OtherRecord]

# ---------------------------------------------------------------- timestamps


def split_ns(ns: int) -> float:
    """Seconds as a float: whole seconds plus the fraction, both computed exactly first.

    The compiled twin does the same two double operations, so both agree to the bit.
    """
    sec, frac = divmod(ns, 1_000_000_000)
    return sec + frac / 1e9


def tsresol_scale(code: int) -> Tuple[int, int]:
    """(mul, div) turning pcapng timestamp units into nanoseconds: ns = ts * mul // div.

    ``code`` is the if_tsresol byte: 10**-code, or 2**-(code & 0x7F) with the top bit set.
    """
    if code & 0x80:
        return 1_000_000_000, 1 << (code & 0x7F)
    if code <= 9:
        return 10 ** (9 - code), 1
    return 1, 10 ** (code - 9)


# ---------------------------------------------------------------- messages
# Layer names for "header cut short" details, indexed by the codes both twins use.

LAYER_ETHERNET, LAYER_VLAN, LAYER_SLL, LAYER_SLL2, LAYER_LOOPBACK = 0, 1, 2, 3, 4
LAYER_IPV4, LAYER_IPV6, LAYER_IPV6_EXT, LAYER_TCP, LAYER_AH = 5, 6, 7, 8, 9
LAYER_GRE, LAYER_VXLAN, LAYER_GENEVE, LAYER_MPLS, LAYER_PPPOE = 10, 11, 12, 13, 14
LAYER_PPP, LAYER_IPOIB, LAYER_CHDLC = 15, 16, 17
LAYERS = ("Ethernet", "VLAN tag", "Linux cooked", "Linux cooked v2", "loopback",
          "IPv4", "IPv6", "IPv6 extension", "TCP", "AH",
          "GRE", "VXLAN", "Geneve", "MPLS", "PPPoE", "PPP", "IPoIB", "Cisco HDLC")


def short_detail(layer: int, need: int, have: int) -> str:
    return f"{LAYERS[layer]} header needs {need} bytes, {have} left"


def ethertype_detail(ethertype: int) -> str:
    return f"ethertype 0x{ethertype:04x}"


def family_detail(family: int) -> str:
    return f"address family {family}"


def version_detail(expected: int, version: int) -> str:
    if expected:
        return f"IP version {version} on an IPv{expected} link"
    return f"IP version {version}"


def ppp_detail(protocol: int) -> str:
    return f"PPP protocol 0x{protocol:04x}"


def mpls_detail(nibble: int) -> str:
    return f"MPLS payload starting with nibble {nibble}, neither IPv4 nor IPv6"


def tunnel_version_detail(layer: int, version: int) -> str:
    return f"{LAYERS[layer]} version {version}"


def gre_routing_detail() -> str:
    return "GRE with a routing field (RFC 1701)"


def depth_detail() -> str:
    return f"more than {MAX_ENCAPSULATIONS} encapsulations nested"


def protocol_detail(protocol: int) -> str:
    return f"IP protocol {protocol}"


def fragment_detail(version: int, offset: int, more: int) -> str:
    return f"IPv{version} fragment at offset {offset}{', more follow' if more else ', the last'}"


def ihl_detail(header_len: int) -> str:
    return f"IPv4 header length {header_len} below 20"


def total_len_detail(total: int, header_len: int) -> str:
    return f"IPv4 total length {total} below its header length {header_len}"


def routing_detail(routing_type: int, left: int, addresses: int) -> str:
    """A routing header naming no final destination; ``addresses`` -1: its length does not fit."""
    if addresses < 0:
        return f"IPv6 type {routing_type} routing header: its length does not fit its addresses"
    return (f"IPv6 type {routing_type} routing header: {left} segment{'' if left == 1 else 's'} "
            f"left, {addresses} address{'' if addresses == 1 else 'es'}")


def block_detail(block_type: int) -> str:
    return f"pcapng {PCAPNG_OTHER_FRAMES[block_type]} block (type 0x{block_type:08x})"


def cut_short_detail(missing: int) -> str:
    return f"the file ends {missing} bytes into a record"
