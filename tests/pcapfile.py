"""A tiny classic-pcap reader (and writer) for fastseg's tests.

Reads classic libpcap files in either byte order with microsecond or
nanosecond timestamps, unwraps Ethernet (with 802.1Q / 802.1ad tags), Linux
cooked capture v1 and v2 and raw-IP link types, and yields the TCP segments
carried by IPv4 and IPv6 (through hop-by-hop, routing and destination
options headers).  Fragments, truncated packets and anything that is not TCP
are skipped.  It is deliberately small: pcapng is not supported.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import BinaryIO, Iterable, Iterator, List, Optional, Tuple, Union

# Link-layer header types (https://www.tcpdump.org/linktypes.html).
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_VLAN = (0x8100, 0x88A8, 0x9100)

IPPROTO_TCP = 6
# IPv6 extension headers walked over on the way to TCP (RFC 8200 format:
# next header, length in 8-octet units not counting the first 8).
IPV6_EXT_HEADERS = (0, 43, 60)  # hop-by-hop, routing, destination options
IPV6_FRAGMENT = 44

MAGIC_USEC = 0xA1B2C3D4
MAGIC_NSEC = 0xA1B23C4D

PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class PcapHeader:
    """The global header of a classic pcap file."""

    byteorder: str  # "<" or ">"
    nanosecond: bool
    version: Tuple[int, int]
    snaplen: int
    linktype: int


@dataclass(frozen=True)
class Frame:
    """One pcap record."""

    number: int  # 1-based, as tshark and Wireshark count frames
    ts_sec: int
    ts_frac: int  # microseconds or nanoseconds, see PcapHeader.nanosecond
    orig_len: int
    data: bytes


@dataclass(frozen=True)
class TcpRecord:
    """One TCP segment found in a capture."""

    frame: int  # 1-based frame number
    src: bytes  # 4 bytes (IPv4) or 16 bytes (IPv6)
    dst: bytes
    segment: bytes  # TCP header + payload, trimmed to the IP length
    offset: int  # where ``segment`` starts inside the frame's data

    @property
    def version(self) -> int:
        """IP version, 4 or 6."""
        return 4 if len(self.src) == 4 else 6


def read_frames(source: Union[PathLike, BinaryIO]) -> Tuple[PcapHeader, List[Frame]]:
    """Read every record of a classic pcap file."""
    if hasattr(source, "read"):
        data = source.read()  # type: ignore[union-attr]
    else:
        with open(source, "rb") as f:  # type: ignore[arg-type]
            data = f.read()
    return parse_pcap(data)


def parse_pcap(data: bytes) -> Tuple[PcapHeader, List[Frame]]:
    """Parse the bytes of a classic pcap file."""
    if len(data) < 24:
        raise ValueError("not a pcap file: shorter than its global header")
    for order in ("<", ">"):
        magic = struct.unpack_from(order + "I", data, 0)[0]
        if magic in (MAGIC_USEC, MAGIC_NSEC):
            break
    else:
        raise ValueError(f"not a classic pcap file (magic {data[:4].hex()})")
    major, minor, _zone, _sigfigs, snaplen, network = struct.unpack_from(
        order + "HHiIII", data, 4
    )
    # The upper bits of the link-type field carry FCS information.
    header = PcapHeader(order, magic == MAGIC_NSEC, (major, minor), snaplen,
                        network & 0xFFFF)
    frames: List[Frame] = []
    off = 24
    rec = struct.Struct(order + "IIII")
    while off < len(data):
        if off + rec.size > len(data):
            raise ValueError(f"truncated record header at offset {off}")
        ts_sec, ts_frac, incl_len, orig_len = rec.unpack_from(data, off)
        off += rec.size
        if off + incl_len > len(data):
            raise ValueError(f"truncated record data at offset {off}")
        frames.append(Frame(len(frames) + 1, ts_sec, ts_frac, orig_len,
                            data[off:off + incl_len]))
        off += incl_len
    return header, frames


def network_payload(linktype: int, frame: bytes) -> Optional[Tuple[int, int]]:
    """(ethertype, offset of the network-layer packet) or None if unknown."""
    if linktype == LINKTYPE_ETHERNET:
        if len(frame) < 14:
            return None
        off = 12
        ethertype = struct.unpack_from("!H", frame, off)[0]
        while ethertype in ETHERTYPE_VLAN:  # 4-byte tag: TPID, TCI
            off += 4
            if off + 2 > len(frame):
                return None
            ethertype = struct.unpack_from("!H", frame, off)[0]
        return ethertype, off + 2
    if linktype == LINKTYPE_LINUX_SLL:
        if len(frame) < 16:
            return None
        return struct.unpack_from("!H", frame, 14)[0], 16
    if linktype == LINKTYPE_LINUX_SLL2:
        if len(frame) < 20:
            return None
        return struct.unpack_from("!H", frame, 0)[0], 20
    if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
        if not frame:
            return None
        version = frame[0] >> 4
        return {4: ETHERTYPE_IPV4, 6: ETHERTYPE_IPV6}.get(version, 0), 0
    raise ValueError(f"unsupported link type {linktype}")


def tcp_in_ipv4(pkt: bytes, base: int) -> Optional[Tuple[bytes, bytes, int, int]]:
    """(src, dst, start, end) of the TCP segment in the IPv4 packet at ``base``."""
    if len(pkt) - base < 20 or pkt[base] >> 4 != 4:
        return None
    ihl = (pkt[base] & 0x0F) * 4
    total_len, frag, proto = (struct.unpack_from("!H", pkt, base + 2)[0],
                              struct.unpack_from("!H", pkt, base + 6)[0],
                              pkt[base + 9])
    if ihl < 20 or total_len < ihl or proto != IPPROTO_TCP:
        return None
    if frag & 0x3FFF:  # more-fragments flag or a fragment offset
        return None
    if base + total_len > len(pkt):  # truncated by the snap length
        return None
    src, dst = pkt[base + 12:base + 16], pkt[base + 16:base + 20]
    return src, dst, base + ihl, base + total_len


def tcp_in_ipv6(pkt: bytes, base: int) -> Optional[Tuple[bytes, bytes, int, int]]:
    """(src, dst, start, end) of the TCP segment in the IPv6 packet at ``base``."""
    if len(pkt) - base < 40 or pkt[base] >> 4 != 6:
        return None
    payload_len = struct.unpack_from("!H", pkt, base + 4)[0]
    nxt = pkt[base + 6]
    src, dst = pkt[base + 8:base + 24], pkt[base + 24:base + 40]
    end = base + 40 + payload_len
    if payload_len == 0 or end > len(pkt):  # jumbogram or truncated
        return None
    off = base + 40
    while nxt in IPV6_EXT_HEADERS:
        if off + 2 > end:
            return None
        nxt, hlen = pkt[off], (pkt[off + 1] + 1) * 8
        off += hlen
    if nxt != IPPROTO_TCP or off > end:  # also skips fragments (44)
        return None
    return src, dst, off, end


def tcp_in_frame(linktype: int, frame: bytes) -> Optional[Tuple[bytes, bytes, int, int]]:
    """(src, dst, start, end) of the TCP segment in one frame, or None."""
    found = network_payload(linktype, frame)
    if found is None:
        return None
    ethertype, base = found
    if ethertype == ETHERTYPE_IPV4:
        return tcp_in_ipv4(frame, base)
    if ethertype == ETHERTYPE_IPV6:
        return tcp_in_ipv6(frame, base)
    return None


def tcp_records(header: PcapHeader, frames: Iterable[Frame]) -> Iterator[TcpRecord]:
    """The TCP segments among ``frames``."""
    for fr in frames:
        found = tcp_in_frame(header.linktype, fr.data)
        if found is not None:
            src, dst, start, end = found
            yield TcpRecord(fr.number, src, dst, fr.data[start:end], start)


def read_tcp(source: Union[PathLike, BinaryIO]) -> List[TcpRecord]:
    """Every complete, unfragmented TCP segment in a pcap file."""
    header, frames = read_frames(source)
    return list(tcp_records(header, frames))


def write_pcap(
    path: PathLike,
    frames: Iterable[Frame],
    linktype: int,
    byteorder: str = "<",
    nanosecond: bool = False,
    snaplen: int = 262144,
) -> None:
    """Write ``frames`` as a classic pcap file (used to derive test variants)."""
    magic = MAGIC_NSEC if nanosecond else MAGIC_USEC
    with open(path, "wb") as f:
        f.write(struct.pack(byteorder + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
        for fr in frames:
            f.write(struct.pack(byteorder + "IIII", fr.ts_sec, fr.ts_frac, len(fr.data),
                                max(fr.orig_len, len(fr.data))))
            f.write(fr.data)
