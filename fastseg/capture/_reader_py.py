"""The capture reader in pure Python: the reference twin of ``_reader_c``.

This module is the readable specification.  It reads the file in chunks
(never all of it), splits it into records, and takes each frame apart layer
by layer: link header, IPv4 or IPv6 (with options and extension headers),
then TCP.  Formats: classic pcap (libpcap's file format, either byte order,
micro- or nanosecond timestamps) and pcapng (IETF draft-ietf-opsawg-pcapng:
sections in either byte order, interfaces with their own link type and
timestamp resolution, enhanced, simple and the obsolete packet blocks).
Frames are numbered as Wireshark numbers them: every packet record, and in
pcapng also the blocks it shows as frames without a packet (custom blocks,
systemd journal entries, sysdig events), which ``include_other`` reports.
"""

from __future__ import annotations

import struct
from typing import Any, BinaryIO, Iterator, List, Optional, Tuple, Union

from fastseg.capture import _common as c
from fastseg.capture._common import Kind, OtherRecord, Record, TcpRecord
from fastseg.checksum import verify_checksum
from fastseg.codec import unpack

__all__ = ["Reader"]

# A frame's verdict: ("tcp", version, src, dst, start, stop, end, final)
# or (Kind, version, src, dst, protocol, detail); ``final`` is the destination the
# TCP pseudo-header carries (an IPv6 routing header's final destination, RFC 8200 §8.1).
Verdict = Tuple[Any, ...]

_RECORD_HEADER = c.PCAP_RECORD_HEADER
_FILE_HEADER = c.PCAP_FILE_HEADER


class _Interface:
    """A pcapng interface: its link type and how its timestamps become nanoseconds."""

    def __init__(self, linktype: int, snaplen: int, mul: int, div: int, offset_ns: int) -> None:
        self.linktype, self.snaplen = linktype, snaplen
        self.mul, self.div, self.offset_ns = mul, div, offset_ns


class Reader:
    """Iterate over the records of an open binary capture file.

    Yields :class:`TcpRecord` for every TCP segment and, with
    ``include_other``, an :class:`OtherRecord` for every other frame.
    """

    def __init__(self, file: BinaryIO, *, name: str = "<capture>", include_other: bool = False,
                 chunk_size: int = c.DEFAULT_CHUNK, owns_file: bool = False) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        self._file = file
        self._owns_file = owns_file
        self.name = name
        self._include_other = include_other
        self._chunk = chunk_size
        self._buf = b""
        self._pos = 0
        self._offset = 0         # file offset of self._buf[0]
        self._eof = False
        self.frames = 0          # frames read so far, as Wireshark numbers them
        self.cut_short = False   # the file ended part way through a record
        self.linktypes: List[int] = []
        self._interfaces: List[_Interface] = []
        self._order = "<"
        if not self._need(4) or not self._need(_FILE_HEADER):
            raise c.not_a_capture(name, self._buf)
        magic_le = struct.unpack_from("<I", self._buf, 0)[0]
        magic_be = struct.unpack_from(">I", self._buf, 0)[0]
        if magic_le in (c.PCAP_MAGIC_USEC, c.PCAP_MAGIC_NSEC):
            self._start_pcap("<", magic_le)
        elif magic_be in (c.PCAP_MAGIC_USEC, c.PCAP_MAGIC_NSEC):
            self._start_pcap(">", magic_be)
        elif magic_le == c.PCAPNG_SHB:
            self.format = "pcapng"
            if self._section_order() is None:
                raise c.not_a_capture(name, self._buf)
            self._records = self._pcapng_records()
        else:
            raise c.not_a_capture(name, self._buf)

    def __iter__(self) -> Iterator[Record]:
        return self

    def __next__(self) -> Record:
        try:
            return next(self._records)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop reading; close the file if the reader opened it."""
        self._records = iter(())
        if self._owns_file:
            self._file.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------ buffering

    def _need(self, n: int) -> bool:
        """Whether ``n`` bytes from the current position are (or could be made) available."""
        while len(self._buf) - self._pos < n:
            if self._eof:
                return False
            data = self._file.read(max(self._chunk, n - (len(self._buf) - self._pos)))
            if type(data) is not bytes:  # the bytes there are, whatever the object's __len__ says
                with memoryview(data) as view:
                    data = view.tobytes()
            if not data:
                self._eof = True
                continue
            self._offset += self._pos
            self._buf = self._buf[self._pos:] + data
            self._pos = 0
        return True

    def _cut_short(self) -> Iterator[Record]:
        """The end of the file: flag and report bytes left over from a partial record."""
        left = len(self._buf) - self._pos
        if left:
            self.cut_short = True
            if self._include_other:
                yield OtherRecord(0, 0.0, 0, 0, Kind.CUT_SHORT, 0, b"", b"", -1,
                                  c.cut_short_detail(left))

    # ------------------------------------------------------------ classic pcap

    def _start_pcap(self, order: str, magic: int) -> None:
        self.format = "pcap"
        _major, _minor, _zone, _sigfigs, _snaplen, network = struct.unpack_from(
            order + "HHiIII", self._buf, 4)
        linktype = network & 0x0FFFFFFF  # the top bits may carry FCS length information
        if linktype not in c.SUPPORTED_LINKTYPES:
            raise c.unsupported_linktype(self.name, linktype)
        self.linktypes = [linktype]
        self._pos = _FILE_HEADER
        self._records = self._pcap_records(order, linktype, magic == c.PCAP_MAGIC_NSEC)

    def _pcap_records(self, order: str, linktype: int, nano: bool) -> Iterator[Record]:
        header = struct.Struct(order + "IIII")
        frac_ns = 1 if nano else 1000
        while self._need(_RECORD_HEADER):
            ts_sec, ts_frac, incl_len, orig_len = header.unpack_from(self._buf, self._pos)
            if incl_len > c.MAX_RECORD:
                raise c.corrupt(self.name, self._offset + self._pos,
                                f"record of {incl_len} bytes")
            if not self._need(_RECORD_HEADER + incl_len):
                break
            start = self._pos + _RECORD_HEADER
            frame = self._buf[start:start + incl_len]
            self._pos = start + incl_len
            self.frames += 1
            ns = ts_sec * 1_000_000_000 + ts_frac * frac_ns
            record = self._record(linktype, frame, orig_len, ns, 0)
            if record is not None:
                yield record
        yield from self._cut_short()

    # ------------------------------------------------------------ pcapng

    def _section_order(self) -> Optional[str]:
        """The byte order of the section header block at the current position, or None."""
        if not self._need(12):
            return None
        magic = self._buf[self._pos + 8:self._pos + 12]
        if magic == struct.pack("<I", c.PCAPNG_BYTE_ORDER_MAGIC):
            return "<"
        if magic == struct.pack(">I", c.PCAPNG_BYTE_ORDER_MAGIC):
            return ">"
        return None

    def _pcapng_records(self) -> Iterator[Record]:
        while self._need(8):
            at = self._offset + self._pos
            block_type = struct.unpack_from(self._order + "I", self._buf, self._pos)[0]
            if block_type == c.PCAPNG_SHB:
                order = self._section_order()
                if order is None:
                    if self._need(12):
                        raise c.corrupt(self.name, at, "section header without byte-order magic")
                    break
                self._order = order
            length = struct.unpack_from(self._order + "I", self._buf, self._pos + 4)[0]
            if length < 12 or length % 4 or length > c.MAX_RECORD:
                raise c.corrupt(self.name, at, f"block of {length} bytes")
            if not self._need(length):
                break
            body = self._buf[self._pos + 8:self._pos + length - 4]
            trailer = struct.unpack_from(self._order + "I", self._buf, self._pos + length - 4)[0]
            if trailer != length:
                raise c.corrupt(self.name, at,
                                f"block length {length} does not match its trailer {trailer}")
            self._pos += length
            if block_type == c.PCAPNG_SHB:
                self._interfaces = []
            elif block_type == c.PCAPNG_IDB:
                self._interface(body, at)
            elif block_type in (c.PCAPNG_EPB, c.PCAPNG_PB, c.PCAPNG_SPB):
                record = self._packet(block_type, body, at)
                if record is not None:
                    yield record
            elif block_type in c.PCAPNG_OTHER_FRAMES:  # a frame to Wireshark, without a packet
                self.frames += 1
                if self._include_other:
                    yield OtherRecord(self.frames, 0.0, 0, 0, Kind.NON_PACKET, 0, b"", b"", -1,
                                      c.block_detail(block_type))
        yield from self._cut_short()

    def _interface(self, body: bytes, at: int) -> None:
        if len(body) < 8:
            raise c.corrupt(self.name, at, "interface description block too short")
        linktype, _reserved, snaplen = struct.unpack_from(self._order + "HHI", body, 0)
        if linktype not in c.SUPPORTED_LINKTYPES:
            raise c.unsupported_linktype(self.name, linktype)
        mul, div, offset_ns = 1000, 1, 0  # default resolution: microseconds
        i = 8
        while i + 4 <= len(body):
            code, size = struct.unpack_from(self._order + "HH", body, i)
            value = body[i + 4:i + 4 + size]
            if code == 0:
                break
            if code == 9 and size == 1:        # if_tsresol
                mul, div = c.tsresol_scale(value[0])
            elif code == 14 and size == 8:     # if_tsoffset, in seconds
                offset_ns = struct.unpack(self._order + "q", value)[0] * 1_000_000_000
            i += 4 + (size + 3) // 4 * 4
        self._interfaces.append(_Interface(linktype, snaplen, mul, div, offset_ns))
        self.linktypes.append(linktype)

    def _packet(self, block_type: int, body: bytes, at: int) -> Optional[Record]:
        if block_type == c.PCAPNG_SPB:
            if len(body) < 4:
                raise c.corrupt(self.name, at, "simple packet block too short")
            interface_id, ns = 0, 0   # no timestamp in a simple packet block
            orig_len = struct.unpack_from(self._order + "I", body, 0)[0]
            captured = min(orig_len, len(body) - 4)
            if self._interfaces and self._interfaces[0].snaplen:
                captured = min(captured, self._interfaces[0].snaplen)
            start = 4
        else:
            if len(body) < 20:
                raise c.corrupt(self.name, at, "packet block too short")
            if block_type == c.PCAPNG_EPB:
                interface_id, high, low, captured, orig_len = struct.unpack_from(
                    self._order + "IIIII", body, 0)
            else:
                interface_id, _drops, high, low, captured, orig_len = struct.unpack_from(
                    self._order + "HHIIII", body, 0)
            start = 20
            if captured > len(body) - 20:
                raise c.corrupt(self.name, at,
                                f"{captured} captured bytes do not fit the packet block")
        if interface_id >= len(self._interfaces):
            raise c.corrupt(self.name, at, f"packet on undeclared interface {interface_id}")
        iface = self._interfaces[interface_id]
        if block_type != c.PCAPNG_SPB:
            ns = ((high << 32) | low) * iface.mul // iface.div + iface.offset_ns
        self.frames += 1
        return self._record(iface.linktype, body[start:start + captured], orig_len, ns,
                            interface_id)

    # ------------------------------------------------------------ frames

    def _record(self, linktype: int, frame: bytes, orig_len: int, ns: int,
                interface: int) -> Optional[Record]:
        verdict = decode(linktype, frame, orig_len)
        if verdict[0] == "tcp":
            _, version, src, dst, start, stop, end, final = verdict
            tcp = frame[start:stop]
            checksum_ok: Optional[bool] = None
            if stop == end and (version == 6 or len(tcp) <= 0xFFFF):  # all of it captured
                checksum_ok = verify_checksum(src, final, tcp)
            return TcpRecord(self.frames, c.split_ns(ns), ns, interface, version,
                             src, dst, unpack(tcp, strict=False), checksum_ok, end - start)
        if not self._include_other:
            return None
        kind, version, src, dst, protocol, detail = verdict
        return OtherRecord(self.frames, c.split_ns(ns), ns, interface, kind,
                           version, src, dst, protocol, detail)


# ---------------------------------------------------------------- decapsulation


def _be16(data: bytes, offset: int) -> int:
    return (data[offset] << 8) | data[offset + 1]


def _short(cut: bool, layer: int, at: int, need: int, frame_len: int, limit: int,
           version: int = 0, src: bytes = b"", dst: bytes = b"", protocol: int = -1) -> Verdict:
    """A header of ``need`` bytes at ``at`` that does not fit before ``limit``.

    Truncated when the capture cut the frame and the header runs past what was
    captured; malformed otherwise (the frame itself is too short for it).
    """
    kind = Kind.TRUNCATED if cut and at + need > frame_len else Kind.MALFORMED
    return (kind, version, src, dst, protocol, c.short_detail(layer, need, max(limit - at, 0)))


def decode(linktype: int, frame: bytes, orig_len: int) -> Verdict:
    """Take one frame apart down to its innermost TCP segment, or say why there is none."""
    n = len(frame)
    cut = n < orig_len
    expected = 0  # the IP version a version-specific link type promises
    if linktype == c.LINKTYPE_ETHERNET:
        if n < 14:
            return _short(cut, c.LAYER_ETHERNET, 0, 14, n, n)
        ethertype, base = _be16(frame, 12), 14
    elif linktype == c.LINKTYPE_LINUX_SLL:
        if n < 16:
            return _short(cut, c.LAYER_SLL, 0, 16, n, n)
        ethertype, base = _be16(frame, 14), 16
    elif linktype == c.LINKTYPE_LINUX_SLL2:
        if n < 20:
            return _short(cut, c.LAYER_SLL2, 0, 20, n, n)
        ethertype, base = _be16(frame, 0), 20
    elif linktype == c.LINKTYPE_IPOIB:  # a GRH or address, then RFC 4391 §6: type, reserved
        if n < 44:
            return _short(cut, c.LAYER_IPOIB, 0, 44, n, n)
        ethertype, base = _be16(frame, 40), 44
    elif linktype == c.LINKTYPE_PPP_HDLC and n and frame[0] in (c.CHDLC_UNICAST,
                                                               c.CHDLC_MULTICAST):
        if n < 4:  # Cisco HDLC (RFC 1547 §4.3.1): address, control, ethertype
            return _short(cut, c.LAYER_CHDLC, 0, 4, n, n)
        ethertype, base = _be16(frame, 2), 4
    elif linktype in (c.LINKTYPE_PPP, c.LINKTYPE_PPP_HDLC):  # address and control, if any,
        ethertype, base = c.ETHERTYPE_PPP, 0                 # go with the PPP header
    elif linktype in (c.LINKTYPE_NULL, c.LINKTYPE_LOOP):
        if n < 4:
            return _short(cut, c.LAYER_LOOPBACK, 0, 4, n, n)
        if linktype == c.LINKTYPE_LOOP or frame[0] == frame[1] == 0:
            family = int.from_bytes(frame[0:4], "big")
        else:  # NULL: the writer's byte order; families are small, so a big-endian
            family = int.from_bytes(frame[0:4], "little")  # one starts with zeros
        if family == c.AF_INET:
            ethertype = c.ETHERTYPE_IPV4
        elif family in c.AF_INET6:
            ethertype = c.ETHERTYPE_IPV6
        else:
            return (Kind.NON_IP, 0, b"", b"", -1, c.family_detail(family))
        base = 4
    else:  # raw IP: the version nibble says which
        if linktype == c.LINKTYPE_IPV4:
            expected = 4
        elif linktype == c.LINKTYPE_IPV6:
            expected = 6
        version = expected or (frame[0] >> 4 if n else 4)
        ethertype = c.ETHERTYPE_IPV6 if version == 6 else c.ETHERTYPE_IPV4
        base = 0
    return _network(frame, ethertype, base, n, cut, orig_len, expected, _NO_IP, 0)


#: The innermost IP header read so far, for what a verdict reports: version, source,
#: destination, protocol.  None yet at the link layer.
Outer = Tuple[int, bytes, bytes, int]
_NO_IP: Outer = (0, b"", b"", -1)


def _network(frame: bytes, ethertype: int, at: int, limit: int, cut: bool, orig_len: int,
             expected: int, outer: Outer, depth: int) -> Verdict:
    """What ``frame[at:limit]``, of type ``ethertype``, carries, ``depth`` encapsulations deep.

    VLAN tags, inner Ethernet frames (transparent Ethernet bridging), MPLS
    label stacks, PPPoE and PPP headers are walked here; IPv4 and IPv6 are
    taken apart by their own functions, which come back here for a tunnel.
    """
    n = len(frame)
    while True:
        if depth > c.MAX_ENCAPSULATIONS:
            return (Kind.MALFORMED, *outer, c.depth_detail())
        if ethertype in c.ETHERTYPE_VLANS:  # a 4-byte tag: TCI, then the next type
            if at + 4 > limit:
                return _short(cut, c.LAYER_VLAN, at, 4, n, limit, *outer)
            ethertype = _be16(frame, at + 2)
            at += 4
        elif ethertype == c.ETHERTYPE_TEB:  # an Ethernet frame inside (gretap, VXLAN, Geneve)
            if at + 14 > limit:
                return _short(cut, c.LAYER_ETHERNET, at, 14, n, limit, *outer)
            ethertype = _be16(frame, at + 12)
            at += 14
            depth += 1
        elif ethertype in (c.ETHERTYPE_MPLS, c.ETHERTYPE_MPLS_MULTICAST):
            while True:  # RFC 3032 §2.1: labels down to the one with the bottom-of-stack bit
                if at + 4 > limit:
                    return _short(cut, c.LAYER_MPLS, at, 4, n, limit, *outer)
                at += 4
                if frame[at - 2] & c.MPLS_BOTTOM_BIT:
                    break
            if at + 1 > limit:  # RFC 3032 §2.2: the payload's first nibble says what it is
                return _short(cut, c.LAYER_MPLS, at, 1, n, limit, *outer)
            nibble = frame[at] >> 4
            if nibble == 4:
                ethertype = c.ETHERTYPE_IPV4
            elif nibble == 6:
                ethertype = c.ETHERTYPE_IPV6
            else:
                return (Kind.NON_IP, *outer, c.mpls_detail(nibble))
            depth += 1
        elif ethertype == c.ETHERTYPE_PPPOE_SESSION:  # RFC 2516 §4, then PPP
            if at + 6 > limit:
                return _short(cut, c.LAYER_PPPOE, at, 6, n, limit, *outer)
            ethertype = c.ETHERTYPE_PPP
            at += 6
            depth += 1
        elif ethertype == c.ETHERTYPE_PPP:
            if at < limit and frame[at] == c.PPP_ADDRESS:  # RFC 1662 §3.1: address, control
                if at + 2 > limit:  # (0xFF is no protocol: 0x00FF is reserved, RFC 1661 §2)
                    return _short(cut, c.LAYER_PPP, at, 2, n, limit, *outer)
                at += 2
            size = 1 if at < limit and frame[at] & c.PPP_PFC_BIT else 2  # RFC 1661 §6.5
            if at + size > limit:
                return _short(cut, c.LAYER_PPP, at, size, n, limit, *outer)
            protocol = frame[at] if size == 1 else _be16(frame, at)
            at += size
            if protocol == c.PPP_IPV4:
                ethertype = c.ETHERTYPE_IPV4
            elif protocol == c.PPP_IPV6:
                ethertype = c.ETHERTYPE_IPV6
            else:
                return (Kind.NON_IP, *outer, c.ppp_detail(protocol))
        elif ethertype == c.ETHERTYPE_IPV4:
            return _ipv4(frame, at, limit, cut, orig_len, expected, outer, depth)
        elif ethertype == c.ETHERTYPE_IPV6:
            return _ipv6(frame, at, limit, cut, orig_len, expected, outer, depth)
        else:
            return (Kind.NON_IP, *outer, c.ethertype_detail(ethertype))


def _ipv4(frame: bytes, base: int, limit: int, cut: bool, orig_len: int, expected: int,
          outer: Outer, depth: int) -> Verdict:
    n = len(frame)
    if limit - base < 20:
        return _short(cut, c.LAYER_IPV4, base, 20, n, limit, *outer)
    version = frame[base] >> 4
    if version != 4:
        return (Kind.MALFORMED, *outer, c.version_detail(expected or 4, version))
    header_len = (frame[base] & 0x0F) * 4
    if header_len < 20:
        return (Kind.MALFORMED, *outer, c.ihl_detail(header_len))
    if limit - base < header_len:
        return _short(cut, c.LAYER_IPV4, base, header_len, n, limit, *outer)
    src, dst = frame[base + 12:base + 16], frame[base + 16:base + 20]
    protocol = frame[base + 9]
    total = _be16(frame, base + 2)
    if total == 0:  # segmentation offload: the stack left the length to the NIC
        total = orig_len - base
    if total < header_len:
        return (Kind.MALFORMED, 4, src, dst, protocol, c.total_len_detail(total, header_len))
    fragment = _be16(frame, base + 6)
    if fragment & 0x3FFF:  # more-fragments flag or a fragment offset
        return (Kind.FRAGMENT, 4, src, dst, protocol,
                c.fragment_detail(4, (fragment & 0x1FFF) * 8, fragment & 0x2000))
    end = base + total
    limit = min(limit, end)
    at = base + header_len
    while protocol == c.IPPROTO_AH:  # RFC 4302: next header, length in 4-octet units - 2
        if at + 2 > limit:
            return _short(cut, c.LAYER_AH, at, 2, n, limit, 4, src, dst, protocol)
        size = (frame[at + 1] + 2) * 4
        if at + size > limit:
            return _short(cut, c.LAYER_AH, at, size, n, limit, 4, src, dst, protocol)
        protocol = frame[at]
        at += size
    if protocol != c.IPPROTO_TCP:
        return _inside(frame, (4, src, dst, protocol), at, limit, cut, orig_len, depth)
    return _tcp(4, src, dst, at, end, limit, n, cut, dst)


def _jumbo_length(frame: bytes, at: int, limit: int) -> Optional[int]:
    """The Jumbo Payload option's length (RFC 2675) in the hop-by-hop header at ``at``."""
    if at + 2 > limit:
        return None
    end = min(at + (frame[at + 1] + 1) * 8, limit)
    i = at + 2
    while i < end:
        option = frame[i]
        if option == 0:  # Pad1
            i += 1
            continue
        if i + 2 > end:
            return None
        size = frame[i + 1]
        if option == 0xC2 and size == 4 and i + 6 <= end:
            return int.from_bytes(frame[i + 2:i + 6], "big")
        i += 2 + size
    return None


def _ipv6(frame: bytes, base: int, limit: int, cut: bool, orig_len: int, expected: int,
          outer: Outer, depth: int) -> Verdict:
    n = len(frame)
    if limit - base < 40:
        return _short(cut, c.LAYER_IPV6, base, 40, n, limit, *outer)
    version = frame[base] >> 4
    if version != 6:
        return (Kind.MALFORMED, *outer, c.version_detail(expected or 6, version))
    src, dst = frame[base + 8:base + 24], frame[base + 24:base + 40]
    protocol = frame[base + 6]
    at = base + 40
    payload_len = _be16(frame, base + 4)
    if payload_len == 0 and protocol == c.IPPROTO_HOPOPTS:
        payload_len = _jumbo_length(frame, at, limit) or 0
    end = at + payload_len
    limit = min(limit, end)
    final = dst
    while True:
        if protocol in c.IPV6_EXTENSIONS or protocol == c.IPPROTO_AH:
            if at + 2 > limit:
                return _short(cut, c.LAYER_IPV6_EXT, at, 2, n, limit, 6, src, dst, protocol)
            size = (frame[at + 1] + 2) * 4 if protocol == c.IPPROTO_AH else (frame[at + 1] + 1) * 8
            if at + size > limit:
                return _short(cut, c.LAYER_IPV6_EXT, at, size, n, limit, 6, src, dst, protocol)
            if protocol == c.IPPROTO_ROUTING and frame[at + 3]:  # segments left: still routed
                routed = _final_destination(frame, at, size, dst)
                if isinstance(routed, str):
                    return (Kind.MALFORMED, 6, src, dst, protocol, routed)
                final = routed or final
        elif protocol == c.IPPROTO_FRAGMENT:
            size = 8
            if at + size > limit:
                return _short(cut, c.LAYER_IPV6_EXT, at, size, n, limit, 6, src, dst, protocol)
            offset_flags = _be16(frame, at + 2)
            if offset_flags & 0xFFF9:  # an offset or more fragments: not an atomic fragment
                return (Kind.FRAGMENT, 6, src, dst, frame[at],
                        c.fragment_detail(6, offset_flags & 0xFFF8, offset_flags & 1))
        else:
            break
        protocol = frame[at]
        at += size
    if protocol != c.IPPROTO_TCP:
        return _inside(frame, (6, src, dst, protocol), at, limit, cut, orig_len, depth)
    return _tcp(6, src, dst, at, end, limit, n, cut, final)


def _final_destination(frame: bytes, at: int, size: int, dst: bytes) -> Union[bytes, str, None]:
    """The final destination of the routing header ``frame[at:at + size]``, Segments Left > 0.

    RFC 8200 §8.1: the TCP pseudo-header carries it, not the destination
    field ``dst``.  Returns a detail instead when the header names none, or
    more segments left than addresses (a receiver discards the packet); None
    for other routing types, which change nothing.  As in Wireshark, the last
    routing header still routed (of a known type) names the final destination.
    """
    routing_type, left = frame[at + 2], frame[at + 3]
    room = size - 8  # after next header, length, type, segments left and 4 more bytes
    if routing_type == 0:  # RFC 2460 §4.4 (deprecated by RFC 5095): the last address
        count = frame[at + 1] // 2
        if frame[at + 1] % 2:
            return c.routing_detail(0, left, -1)
        if left > count:
            return c.routing_detail(0, left, count)
        return frame[at + size - 16:at + size]
    if routing_type == 2:  # RFC 6275 §6.4: one home address, one segment left
        if size != 24:
            return c.routing_detail(2, left, -1)
        if left > 1:
            return c.routing_detail(2, left, 1)
        return frame[at + 8:at + 24]
    if routing_type == 3:  # RFC 6554 §4.2 (RPL): the last address, its first CmprE bytes elided
        cmpr_i, cmpr_e, pad = frame[at + 4] >> 4, frame[at + 4] & 0x0F, frame[at + 5] >> 4
        before_last = room - pad - (16 - cmpr_e)
        if before_last < 0 or before_last % (16 - cmpr_i):
            return c.routing_detail(3, left, -1)
        count = before_last // (16 - cmpr_i) + 1
        if left > count:
            return c.routing_detail(3, left, count)
        return dst[:cmpr_e] + frame[at + 8 + before_last:at + 8 + before_last + 16 - cmpr_e]
    if routing_type == 4:  # RFC 8754 §4.3.1.1 (segment routing): Segment List[0] is the last
        count = frame[at + 4] + 1
        if count * 16 > room:
            return c.routing_detail(4, left, -1)
        if left > count:
            return c.routing_detail(4, left, count)
        return frame[at + 8:at + 24]
    return None


def _inside(frame: bytes, ip: Outer, at: int, limit: int, cut: bool, orig_len: int,
            depth: int) -> Verdict:
    """What the IP packet ``ip`` (version, source, destination, protocol) carries from
    ``at`` to ``limit``, other than TCP: a tunnel is opened, anything else reported."""
    n = len(frame)
    protocol = ip[3]
    if protocol == c.IPPROTO_IPIP:  # RFC 2003, and RFC 2473 inside IPv6
        return _network(frame, c.ETHERTYPE_IPV4, at, limit, cut, orig_len, 0, ip, depth + 1)
    if protocol == c.IPPROTO_IPV6:  # RFC 4213 §3.5 (6in4, SIT), RFC 2473 (ip6tnl)
        return _network(frame, c.ETHERTYPE_IPV6, at, limit, cut, orig_len, 0, ip, depth + 1)
    if protocol == c.IPPROTO_GRE:
        if at + 4 > limit:
            return _short(cut, c.LAYER_GRE, at, 4, n, limit, *ip)
        flags = _be16(frame, at)
        version = flags & c.GRE_VERSION_MASK
        if version > c.GRE_VERSION_PPTP:
            return (Kind.NON_IP, *ip, c.tunnel_version_detail(c.LAYER_GRE, version))
        if flags & c.GRE_ROUTING:
            return (Kind.NON_IP, *ip, c.gre_routing_detail())
        size = 4 + 4 * (bool(flags & c.GRE_CHECKSUM) + bool(flags & c.GRE_KEY)
                        + bool(flags & c.GRE_SEQUENCE)
                        + bool(version == c.GRE_VERSION_PPTP and flags & c.GRE_ACK))
        if at + size > limit:
            return _short(cut, c.LAYER_GRE, at, size, n, limit, *ip)
        return _network(frame, _be16(frame, at + 2), at + size, limit, cut, orig_len, 0, ip,
                        depth + 1)
    if protocol == c.IPPROTO_UDP and at + 8 <= limit:
        low, high = sorted((_be16(frame, at), _be16(frame, at + 2)))
        port = low if low in (c.VXLAN_PORT, c.GENEVE_PORT) else high  # the lower port first
        at += 8
        if port == c.VXLAN_PORT:  # RFC 7348 §5: flags, VNI, reserved; an Ethernet frame
            if at + 8 > limit:
                return _short(cut, c.LAYER_VXLAN, at, 8, n, limit, *ip)
            return _network(frame, c.ETHERTYPE_TEB, at + 8, limit, cut, orig_len, 0, ip, depth + 1)
        if port == c.GENEVE_PORT:  # RFC 8926 §3.4
            if at + 8 > limit:
                return _short(cut, c.LAYER_GENEVE, at, 8, n, limit, *ip)
            version = frame[at] >> 6
            if version:
                return (Kind.NON_IP, *ip, c.tunnel_version_detail(c.LAYER_GENEVE, version))
            size = 8 + (frame[at] & 0x3F) * 4
            if at + size > limit:
                return _short(cut, c.LAYER_GENEVE, at, size, n, limit, *ip)
            return _network(frame, _be16(frame, at + 2), at + size, limit, cut, orig_len, 0, ip,
                            depth + 1)
    return (Kind.NON_TCP, *ip, c.protocol_detail(protocol))


def _tcp(version: int, src: bytes, dst: bytes, start: int, end: int, limit: int, n: int,
         cut: bool, final: bytes) -> Verdict:
    """The TCP segment in ``frame[start:end]``, of which ``frame[:limit]`` was captured
    (the whole frame ``frame[:n]``, or the part its tunnel holds)."""
    stop = min(end, limit)
    if stop - start < 20:
        return _short(cut, c.LAYER_TCP, start, 20, n, stop, version, src, dst, c.IPPROTO_TCP)
    return ("tcp", version, src, dst, start, stop, end, final)
