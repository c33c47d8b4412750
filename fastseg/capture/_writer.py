"""Writing classic pcap files, and wrapping TCP segments into IP and Ethernet frames.

The files are libpcap's format (version 2.4, micro- or nanosecond timestamps),
which Wireshark, tshark, tcpdump and tcpreplay all read.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO, Iterable, NamedTuple, Optional, Sequence, Union, cast

from fastseg import _addr
from fastseg._addr import Address
from fastseg.capture import _common as c
from fastseg.capture._common import TcpRecord
from fastseg.checksum import internet_checksum
from fastseg.codec import pack
from fastseg.segment import Segment

__all__ = ["Frame", "ethernet_frame", "ipv4_packet", "ipv6_packet", "tcp_frame", "write_pcap"]

Bytes = Union[bytes, bytearray, memoryview]


class Frame(NamedTuple):
    """One frame to write: its bytes, its time and, if it was cut, its original length."""

    data: bytes
    timestamp_ns: int = 0
    orig_len: Optional[int] = None  # None: the frame is whole (len(data))


def ipv4_packet(src: Address, dst: Address, payload: Bytes, *, protocol: int = c.IPPROTO_TCP,
                ttl: int = 64, identification: int = 0, tos: int = 0, dont_fragment: bool = True,
                more_fragments: bool = False, fragment_offset: int = 0,
                options: Bytes = b"") -> bytes:
    """An IPv4 packet around ``payload`` with a correct header checksum.

    ``options`` are padded with zeros (end of options) to a multiple of 4
    bytes; ``fragment_offset`` is in bytes and must be a multiple of 8.
    """
    src_raw, dst_raw = _addr.pair(src, dst)
    if len(src_raw) != 4:
        raise ValueError("ipv4_packet needs IPv4 addresses")
    opts = bytes(options)
    opts += b"\0" * (-len(opts) % 4)
    header_len = 20 + len(opts)
    if header_len > 60:
        raise ValueError(f"IPv4 options of {len(opts)} bytes exceed the 40 that fit")
    if fragment_offset % 8 or not 0 <= fragment_offset < 8 * 8192:
        raise ValueError(f"fragment offset {fragment_offset} is not a multiple of 8 below 65536")
    total = header_len + len(payload)
    if total > 0xFFFF:
        raise ValueError(f"an IPv4 packet of {total} bytes exceeds 65535")
    flags = (0x4000 if dont_fragment else 0) | (0x2000 if more_fragments else 0)
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | header_len // 4, tos, total, identification,
                         flags | fragment_offset // 8, ttl, protocol, 0, src_raw, dst_raw) + opts
    checksum: int = internet_checksum(header)
    return header[:10] + checksum.to_bytes(2, "big") + header[12:] + bytes(payload)


def ipv6_packet(src: Address, dst: Address, payload: Bytes, *, next_header: int = c.IPPROTO_TCP,
                hop_limit: int = 64, traffic_class: int = 0, flow_label: int = 0) -> bytes:
    """An IPv6 packet around ``payload`` (which may begin with extension headers)."""
    src_raw, dst_raw = _addr.pair(src, dst)
    if len(src_raw) != 16:
        raise ValueError("ipv6_packet needs IPv6 addresses")
    if len(payload) > 0xFFFF:
        raise ValueError(f"an IPv6 payload of {len(payload)} bytes needs a jumbogram")
    first = (6 << 28) | (traffic_class << 20) | flow_label
    return struct.pack("!IHBB16s16s", first, len(payload), next_header, hop_limit,
                       src_raw, dst_raw) + bytes(payload)


def ethernet_frame(payload: Bytes, *, ethertype: Optional[int] = None,
                   src_mac: bytes = b"\x02\x00\x00\x00\x00\x01",
                   dst_mac: bytes = b"\x02\x00\x00\x00\x00\x02",
                   vlans: Sequence[int] = ()) -> bytes:
    """An Ethernet II frame around ``payload``; the ethertype follows the IP version if not given.

    ``vlans`` are VLAN ids, outermost first: one gives an 802.1Q tag, more give
    802.1ad service tags (0x88A8) outside an inner 802.1Q one (QinQ).
    """
    if ethertype is None:
        version = payload[0] >> 4 if len(payload) else 0
        if version not in (4, 6):
            raise ValueError("ethertype not given and the payload is not IPv4 or IPv6")
        ethertype = c.ETHERTYPE_IPV6 if version == 6 else c.ETHERTYPE_IPV4
    tags = b""
    for i, vid in enumerate(vlans):
        tpid = 0x8100 if i == len(vlans) - 1 else 0x88A8
        tags += struct.pack("!HH", tpid, vid & 0x0FFF)
    return bytes(dst_mac) + bytes(src_mac) + tags + struct.pack("!H", ethertype) + bytes(payload)


def tcp_frame(segment: Union[Segment, Bytes], src: Address, dst: Address, *,
              linktype: int = c.LINKTYPE_ETHERNET, fix_checksum: bool = False) -> bytes:
    """A frame of ``linktype`` carrying one TCP segment between ``src`` and ``dst``.

    A :class:`~fastseg.Segment` is packed with its checksum as held, or
    computed for ``src``/``dst`` with ``fix_checksum``; bytes go in as they are.
    Link types: Ethernet, raw IP (101), IPv4 (228), IPv6 (229), NULL and LOOP,
    PPP (9) and PPP_HDLC (50) in HDLC-like framing (RFC 1662 §3.1), and IPOIB
    (242) behind 40 zero bytes where Linux puts the address (RFC 4391 §6).
    """
    src_raw, dst_raw = _addr.pair(src, dst)
    if isinstance(segment, Segment):
        tcp = pack(segment, src=src_raw, dst=dst_raw) if fix_checksum else pack(segment)
    else:
        tcp = bytes(segment)
    version = 4 if len(src_raw) == 4 else 6
    packet = (ipv4_packet if version == 4 else ipv6_packet)(src_raw, dst_raw, tcp)
    if linktype == c.LINKTYPE_ETHERNET:
        return ethernet_frame(packet)
    if linktype == c.LINKTYPE_RAW or linktype == (c.LINKTYPE_IPV4 if version == 4
                                                     else c.LINKTYPE_IPV6):
        return packet
    if linktype in (c.LINKTYPE_NULL, c.LINKTYPE_LOOP):
        family = c.AF_INET if version == 4 else c.AF_INET6[0]
        order = "big" if linktype == c.LINKTYPE_LOOP else "little"
        return family.to_bytes(4, order) + packet  # type: ignore[arg-type]
    if linktype in (c.LINKTYPE_PPP, c.LINKTYPE_PPP_HDLC):
        protocol = c.PPP_IPV4 if version == 4 else c.PPP_IPV6
        return struct.pack("!BBH", c.PPP_ADDRESS, c.PPP_CONTROL, protocol) + packet
    if linktype == c.LINKTYPE_IPOIB:
        ethertype = c.ETHERTYPE_IPV4 if version == 4 else c.ETHERTYPE_IPV6
        return bytes(c.IPOIB_TYPE) + struct.pack("!HH", ethertype, 0) + packet
    raise ValueError(f"cannot wrap an IPv{version} segment for link type {linktype}")


def _frame(item: object, linktype: int) -> Frame:
    if isinstance(item, Frame):
        return item
    if isinstance(item, TcpRecord):
        return Frame(tcp_frame(item.segment, item.src, item.dst, linktype=linktype),
                     item.timestamp_ns)
    if isinstance(item, (bytes, bytearray, memoryview)):
        return Frame(bytes(item))
    raise TypeError(f"write_pcap takes bytes, Frame or TcpRecord items, not {type(item).__name__}")


def write_pcap(dest: Union[str, os.PathLike[str], BinaryIO],
               frames: Iterable[Union[Frame, TcpRecord, Bytes]], *,
               linktype: int = c.LINKTYPE_ETHERNET, nanosecond: bool = False,
               snaplen: int = 262144, byteorder: str = "<") -> int:
    """Write a classic pcap file; return how many frames it holds.

    ``dest`` is a path or a binary file object (left open).  Items are raw
    frames (bytes, time 0), :class:`Frame` objects, or :class:`TcpRecord`
    objects, which are wrapped for ``linktype`` with their checksum as held.
    Microsecond files keep timestamps to the microsecond (truncated).
    """
    if byteorder not in ("<", ">"):
        raise ValueError(f"byteorder is '<' or '>', not {byteorder!r}")
    if hasattr(dest, "write"):
        return _write(cast(BinaryIO, dest), frames, linktype, nanosecond, snaplen, byteorder)
    with open(os.fsdecode(cast("os.PathLike[str]", dest)), "wb") as file:
        return _write(file, frames, linktype, nanosecond, snaplen, byteorder)


def _write(file: BinaryIO, frames: Iterable[object], linktype: int, nanosecond: bool,
           snaplen: int, order: str) -> int:
    magic = c.PCAP_MAGIC_NSEC if nanosecond else c.PCAP_MAGIC_USEC
    file.write(struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
    record = struct.Struct(order + "IIII")
    unit = 1 if nanosecond else 1000
    count = 0
    for item in frames:
        frame = _frame(item, linktype)
        if frame.timestamp_ns < 0:
            raise ValueError(f"timestamp {frame.timestamp_ns} ns is before 1970")
        sec, frac = divmod(frame.timestamp_ns, 1_000_000_000)
        if sec > 0xFFFFFFFF:
            raise ValueError(f"timestamp {frame.timestamp_ns} ns is past 2106")
        data = frame.data
        orig_len = len(data) if frame.orig_len is None else max(frame.orig_len, len(data))
        file.write(record.pack(sec, frac // unit, len(data), orig_len))
        file.write(data)
        count += 1
    return count
