# cython: language_level=3, auto_pickle=False
"""Frame decoding for the compiled capture readers, ``_reader_c`` and ``_columns_c``.

Link, IP and TCP headers taken apart on C pointers (as ``_reader_py``, the
specification, does in Python), the TCP checksum, the capture file's magic
and the pcapng interface and packet blocks.  Nothing here is for Python:
the two readers ``cimport`` it (see ``_frames.pxd``).

The safety contract: ``_decode`` reads ``p[i]`` only after a comparison on
the lines above has shown ``i < n`` (the captured length).
"""

cimport cython
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy

from fastseg._checksum_c cimport pseudo_header, sum_be

import struct

from fastseg.capture import _common as c

__all__ = []


cdef inline int _other(Found* f, int kind, int version, Py_ssize_t addr, int protocol,
                       int detail, long long a, long long b, long long c) noexcept nogil:
    f.kind = kind
    f.version = version
    f.addr = addr
    f.protocol = protocol
    f.detail = detail
    f.a = a
    f.b = b
    f.c = c
    return kind


cdef inline int _short(Found* f, bint cut, int layer, Py_ssize_t at, Py_ssize_t need,
                       Py_ssize_t n, Py_ssize_t limit, int version, Py_ssize_t addr,
                       int protocol) noexcept nogil:
    """As _reader_py._short: truncated if the capture cut the frame before the header's end."""
    cdef int kind = K_TRUNCATED if cut and at + need > n else K_MALFORMED
    return _other(f, kind, version, addr, protocol, D_SHORT, layer, need,
                  limit - at if limit > at else 0)


@cython.cdivision(True)
cdef int _decode(const uint8_t* p, Py_ssize_t n, Py_ssize_t orig_len, int linktype,
                 Found* f) noexcept nogil:
    """Take the frame p[0:n] apart down to its TCP segment, or say why there is none.

    Returns the kind (K_TCP when ``f`` locates a segment) and fills ``f`` in.
    """
    cdef bint cut = n < orig_len
    cdef int expected = 0
    cdef int version
    cdef uint32_t ethertype, family
    cdef Py_ssize_t base
    if linktype == 1:                       # Ethernet
        if n < 14:
            return _short(f, cut, 0, 0, 14, n, n, 0, -1, -1)
        ethertype = be16(p + 12)
        base = 14
    elif linktype == 113:                   # Linux cooked
        if n < 16:
            return _short(f, cut, 2, 0, 16, n, n, 0, -1, -1)
        ethertype = be16(p + 14)
        base = 16
    elif linktype == 276:                   # Linux cooked v2
        if n < 20:
            return _short(f, cut, 3, 0, 20, n, n, 0, -1, -1)
        ethertype = be16(p)
        base = 20
    elif linktype == 0 or linktype == 108:  # NULL, LOOP
        if n < 4:
            return _short(f, cut, 4, 0, 4, n, n, 0, -1, -1)
        if linktype == 108 or (p[0] == 0 and p[1] == 0):
            family = be32(p)
        else:
            family = _le32(p)
        if family == 2:
            ethertype = 0x0800
        elif family == 24 or family == 28 or family == 30:
            ethertype = 0x86DD
        else:
            return _other(f, K_NON_IP, 0, -1, -1, D_FAMILY, family, 0, 0)
        base = 4
    else:                                   # raw IP: 12, 14, 101, 228, 229
        if linktype == 228:
            expected = 4
        elif linktype == 229:
            expected = 6
        if expected:
            version = expected
        elif n:
            version = p[0] >> 4
        else:
            version = 4
        ethertype = 0x86DD if version == 6 else 0x0800
        base = 0
    if linktype == 1 or linktype == 113 or linktype == 276:
        while ethertype == 0x8100 or ethertype == 0x88A8 or ethertype == 0x9100:
            if n < base + 4:
                return _short(f, cut, 1, base, 4, n, n, 0, -1, -1)
            ethertype = be16(p + base + 2)
            base += 4
    if ethertype == 0x0800:
        return _ipv4(p, n, base, cut, orig_len, expected, f)
    if ethertype == 0x86DD:
        return _ipv6(p, n, base, cut, expected, f)
    return _other(f, K_NON_IP, 0, -1, -1, D_ETHERTYPE, ethertype, 0, 0)


cdef int _ipv4(const uint8_t* p, Py_ssize_t n, Py_ssize_t base, bint cut, Py_ssize_t orig_len,
               int expected, Found* f) noexcept nogil:
    cdef Py_ssize_t header_len, total, end, limit, at, size
    cdef uint32_t fragment
    cdef int protocol, version
    if n - base < 20:
        return _short(f, cut, 5, base, 20, n, n, 0, -1, -1)
    version = p[base] >> 4
    if version != 4:
        return _other(f, K_MALFORMED, 0, -1, -1, D_VERSION, expected or 4, version, 0)
    header_len = (p[base] & 0x0F) * 4
    if header_len < 20:
        return _other(f, K_MALFORMED, 0, -1, -1, D_IHL, header_len, 0, 0)
    if n - base < header_len:
        return _short(f, cut, 5, base, header_len, n, n, 0, -1, -1)
    protocol = p[base + 9]
    total = be16(p + base + 2)
    if total == 0:                          # segmentation offload left the length out
        total = orig_len - base
    if total < header_len:
        return _other(f, K_MALFORMED, 4, base + 12, protocol, D_TOTAL, total, header_len, 0)
    fragment = be16(p + base + 6)
    if fragment & 0x3FFF:
        return _other(f, K_FRAGMENT, 4, base + 12, protocol, D_FRAGMENT, 4,
                      (fragment & 0x1FFF) * 8, (fragment & 0x2000) != 0)
    end = base + total
    limit = n if n < end else end
    at = base + header_len
    while protocol == 51:                   # AH
        if at + 2 > limit:
            return _short(f, cut, 9, at, 2, n, limit, 4, base + 12, protocol)
        size = (p[at + 1] + 2) * 4
        if at + size > limit:
            return _short(f, cut, 9, at, size, n, limit, 4, base + 12, protocol)
        protocol = p[at]
        at += size
    if protocol != 6:
        return _other(f, K_NON_TCP, 4, base + 12, protocol, D_PROTOCOL, protocol, 0, 0)
    return _tcp(f, 4, base + 12, at, end, n, cut, base + 16, 0)


cdef Py_ssize_t _jumbo_length(const uint8_t* p, Py_ssize_t n, Py_ssize_t at) noexcept nogil:
    """The Jumbo Payload length in the hop-by-hop header at ``at``, or 0."""
    cdef Py_ssize_t end, i, size
    if at + 2 > n:
        return 0
    end = at + (p[at + 1] + 1) * 8
    if end > n:
        end = n
    i = at + 2
    while i < end:
        if p[i] == 0:
            i += 1
            continue
        if i + 2 > end:
            return 0
        size = p[i + 1]
        if p[i] == 0xC2 and size == 4 and i + 6 <= end:
            return be32(p + i + 2)
        i += 2 + size
    return 0


@cython.cdivision(True)
cdef int _final_destination(const uint8_t* p, Py_ssize_t at, Py_ssize_t size, Py_ssize_t* final,
                            int* prefix, long long* count) noexcept nogil:
    """As _reader_py._final_destination for the routing header p[at:at + size], Segments Left > 0.

    Sets ``final`` and ``prefix`` (see Found) and returns 1; returns 0 when the
    header is malformed, with the addresses it holds in ``count`` (-1: its
    length does not fit them).  Reads only inside the header.
    """
    cdef int routing_type = p[at + 2]
    cdef int left = p[at + 3]
    cdef Py_ssize_t room = size - 8
    cdef Py_ssize_t before_last, step
    cdef int cmpr_e
    if routing_type == 0:                   # the last address
        count[0] = p[at + 1] // 2
        if p[at + 1] % 2:
            count[0] = -1
            return 0
        if left > count[0]:
            return 0
        final[0] = at + size - 16
    elif routing_type == 2:                 # the home address
        count[0] = 1
        if size != 24:
            count[0] = -1
            return 0
        if left > 1:
            return 0
        final[0] = at + 8
    elif routing_type == 3:                 # RPL: the last address, CmprE bytes elided
        cmpr_e = p[at + 4] & 0x0F
        step = 16 - (p[at + 4] >> 4)
        before_last = room - (p[at + 5] >> 4) - (16 - cmpr_e)
        if before_last < 0 or before_last % step:
            count[0] = -1
            return 0
        count[0] = before_last // step + 1
        if left > count[0]:
            return 0
        final[0] = at + 8 + before_last
        prefix[0] = cmpr_e
    elif routing_type == 4:                 # segment routing: Segment List[0]
        count[0] = p[at + 4] + 1
        if count[0] * 16 > room:
            count[0] = -1
            return 0
        if left > count[0]:
            return 0
        final[0] = at + 8
    return 1                                # other types change nothing


cdef int _ipv6(const uint8_t* p, Py_ssize_t n, Py_ssize_t base, bint cut, int expected,
               Found* f) noexcept nogil:
    cdef Py_ssize_t at, end, limit, size, payload_len
    cdef Py_ssize_t addr = base + 8
    cdef Py_ssize_t final = base + 24
    cdef int prefix = 0
    cdef long long count
    cdef int protocol, version
    cdef uint32_t offset_flags
    if n - base < 40:
        return _short(f, cut, 6, base, 40, n, n, 0, -1, -1)
    version = p[base] >> 4
    if version != 6:
        return _other(f, K_MALFORMED, 0, -1, -1, D_VERSION, expected or 6, version, 0)
    protocol = p[base + 6]
    at = base + 40
    payload_len = be16(p + base + 4)
    if payload_len == 0 and protocol == 0:
        payload_len = _jumbo_length(p, n, at)
    end = at + payload_len
    limit = n if n < end else end
    while True:
        if protocol == 0 or protocol == 43 or protocol == 60 or protocol == 51:
            if at + 2 > limit:
                return _short(f, cut, 7, at, 2, n, limit, 6, addr, protocol)
            if protocol == 51:
                size = (p[at + 1] + 2) * 4
            else:
                size = (p[at + 1] + 1) * 8
            if at + size > limit:
                return _short(f, cut, 7, at, size, n, limit, 6, addr, protocol)
            if protocol == 43 and p[at + 3]:    # segments left: still routed
                if not _final_destination(p, at, size, &final, &prefix, &count):
                    return _other(f, K_MALFORMED, 6, addr, protocol, D_ROUTING, p[at + 2],
                                  p[at + 3], count)
        elif protocol == 44:
            size = 8
            if at + size > limit:
                return _short(f, cut, 7, at, size, n, limit, 6, addr, protocol)
            offset_flags = be16(p + at + 2)
            if offset_flags & 0xFFF9:
                return _other(f, K_FRAGMENT, 6, addr, p[at], D_FRAGMENT, 6,
                              offset_flags & 0xFFF8, offset_flags & 1)
        else:
            break
        protocol = p[at]
        at += size
    if protocol != 6:
        return _other(f, K_NON_TCP, 6, addr, protocol, D_PROTOCOL, protocol, 0, 0)
    return _tcp(f, 6, addr, at, end, n, cut, final, prefix)


cdef inline int _tcp(Found* f, int version, Py_ssize_t addr, Py_ssize_t start, Py_ssize_t end,
                     Py_ssize_t n, bint cut, Py_ssize_t final, int prefix) noexcept nogil:
    cdef Py_ssize_t stop = n if n < end else end
    if stop - start < 20:
        return _short(f, cut, 8, start, 20, n, stop, version, addr, 6)
    f.kind = K_TCP
    f.version = version
    f.addr = addr
    f.start = start
    f.stop = stop
    f.end = end
    f.complete = end <= n
    f.final = final
    f.final_prefix = prefix
    return K_TCP


cdef int _checksum_ok(const uint8_t* p, const Found* f) noexcept nogil:
    """1 or 0 as the segment ``_decode`` found in ``p`` verifies, -1 when that cannot be known.

    As ``_checksum_c.verify_checksum``, with the final destination of an IPv6
    routing header; unknown when the capture cut the segment short or an IPv4
    segment is too long for its pseudo-header.
    """
    cdef uint8_t pseudo[40]
    cdef uint8_t final[16]
    cdef const uint8_t* dst = p + f.final
    cdef Py_ssize_t length = f.stop - f.start
    cdef Py_ssize_t size = 4 if f.version == 4 else 16
    cdef Py_ssize_t pseudo_size
    cdef uint32_t total
    if not f.complete or (f.version == 4 and length > 0xFFFF):
        return -1
    if f.final_prefix:                      # an RPL address: its prefix from the destination field
        memcpy(final, p + f.addr + 16, f.final_prefix)
        memcpy(final + f.final_prefix, p + f.final, 16 - f.final_prefix)
        dst = final
    pseudo_size = pseudo_header(pseudo, p + f.addr, dst, size, length)
    total = <uint32_t>sum_be(pseudo, pseudo_size) + sum_be(p + f.start, length)
    return ((total & 0xFFFF) + (total >> 16)) == 0xFFFF


cdef int _capture_format(const uint8_t* p, bint* big, bint* nano) noexcept nogil:
    """From a file's first 24 bytes: 1 classic pcap (``big`` and ``nano`` set), 2 pcapng, 0 neither.

    A pcapng file must begin with a section header with its byte-order magic.
    """
    cdef uint32_t magic_le = _le32(p)
    cdef uint32_t magic_be = be32(p)
    if magic_le == 0xA1B2C3D4U or magic_le == 0xA1B23C4DU:
        big[0] = False
        nano[0] = magic_le == 0xA1B23C4DU
        return 1
    if magic_be == 0xA1B2C3D4U or magic_be == 0xA1B23C4DU:
        big[0] = True
        nano[0] = magic_be == 0xA1B23C4DU
        return 1
    if magic_le == 0x0A0D0D0A and (_le32(p + 8) == 0x1A2B3C4D or be32(p + 8) == 0x1A2B3C4D):
        return 2
    return 0


cdef tuple _interface_fields(bytes body, bint big, str name, long long at):
    """(linktype, snaplen, mul, div, offset_ns) of a pcapng interface description block body."""
    order = ">" if big else "<"
    if len(body) < 8:
        raise c.corrupt(name, at, "interface description block too short")
    linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", body, 0)
    if linktype not in c.SUPPORTED_LINKTYPES:
        raise c.unsupported_linktype(name, linktype)
    mul, div, offset_ns = 1000, 1, 0
    i = 8
    while i + 4 <= len(body):
        code, size = struct.unpack_from(order + "HH", body, i)
        value = body[i + 4:i + 4 + size]
        if code == 0:
            break
        if code == 9 and size == 1:
            mul, div = c.tsresol_scale(value[0])
        elif code == 14 and size == 8:
            offset_ns = struct.unpack(order + "q", value)[0] * 1_000_000_000
        i += 4 + (size + 3) // 4 * 4
    return (linktype, snaplen, mul, div, offset_ns)


cdef int _use_interface(Interface* i, list interfaces, long long interface_id, str name,
                        long long at) except -1:
    """Make ``interfaces[interface_id]`` the one ``i`` describes."""
    if interface_id >= len(interfaces):
        raise c.corrupt(name, at, f"packet on undeclared interface {interface_id}")
    linktype, snaplen, mul, div, offset_ns = interfaces[interface_id]
    i.linktype = linktype
    i.snaplen = snaplen
    i.mode = TS_PYTHON
    if offset_ns == 0 and div == 1 and mul < 2**64:
        i.mode = TS_MUL
        i.mul = mul
    elif offset_ns == 0 and mul == 1 and div < 2**64:
        i.mode = TS_DIV
        i.div = div
    i.id = interface_id
    return 0


@cython.cdivision(True)
cdef object _packet_block(Packet* pk, Interface* i, list interfaces, uint32_t block_type,
                          const uint8_t* body, Py_ssize_t size, bint big, str name,
                          long long at, uint64_t ns_max):
    """Take the packet block body ``body[0:size]`` apart into ``pk``; ``i`` becomes its interface.

    A simple packet block's frame is cut to the interface's snap length, and
    its timestamp is 0.  Returns None with the timestamp in ``pk.ns``, or the
    timestamp as a Python int where it needs one or would exceed ``ns_max``.
    """
    cdef uint64_t ts = 0
    if block_type == 3:
        if size < 4:
            raise c.corrupt(name, at, "simple packet block too short")
        pk.interface_id = 0
        pk.orig_len = _rd32(body, big)
        pk.captured = pk.orig_len
        if <Py_ssize_t>pk.captured > size - 4:
            pk.captured = size - 4
        pk.start = 4
    else:
        if size < 20:
            raise c.corrupt(name, at, "packet block too short")
        if block_type == 6:
            pk.interface_id = _rd32(body, big)
        else:
            pk.interface_id = _rd16(body, big)
        ts = (<uint64_t>_rd32(body + 4, big) << 32) | _rd32(body + 8, big)
        pk.captured = _rd32(body + 12, big)
        pk.orig_len = _rd32(body + 16, big)
        pk.start = 20
        if <Py_ssize_t>pk.captured > size - 20:
            raise c.corrupt(name, at, f"{pk.captured} captured bytes do not fit the packet block")
    if pk.interface_id != i.id:
        _use_interface(i, interfaces, pk.interface_id, name, at)
    pk.ns = 0
    if block_type == 3:
        if i.snaplen and pk.captured > i.snaplen:
            pk.captured = i.snaplen
    elif (i.mode == TS_MUL and ts <= 0xFFFFFFFFFFFFFFFFULL // i.mul
          and ts * i.mul <= ns_max):
        pk.ns = ts * i.mul
    elif i.mode == TS_DIV and ts // i.div <= ns_max:
        pk.ns = ts // i.div
    else:
        mul, div, offset_ns = interfaces[pk.interface_id][2:]
        return ts * mul // div + offset_ns
    return None
