# cython: language_level=3, auto_pickle=False
"""Frame decoding for the compiled capture readers, ``_reader_c`` and ``_columns_c``.

Link, tunnel, IP and TCP headers taken apart on C pointers (as ``_reader_py``, the
specification, does in Python), the TCP checksum, the capture file's magic
and the pcapng interface and packet blocks.  Nothing here is for Python:
the two readers ``cimport`` it (see ``_frames.pxd``).

The safety contract: ``_decode`` reads ``p[i]`` only after a comparison on
the lines above has shown ``i < n`` (the captured length).
"""

cimport cython
from libc.stdint cimport UINT64_MAX, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy

from fastseg._checksum_c cimport pseudo_header, sum_be
from fastseg._wire_c cimport (
    AF_INET, AF_INET6_BSD, AF_INET6_DARWIN, AF_INET6_FREEBSD, AH_LEN_BIAS, AH_UNIT,
    ETHERNET_HEADER_LEN, ETHERNET_TYPE, ETHERTYPE_8021AD, ETHERTYPE_8021Q, ETHERTYPE_IPV4,
    ETHERTYPE_IPV6, ETHERTYPE_QINQ, EXT_HEAD_LEN, EXT_LEN, EXT_LEN_BIAS, EXT_NEXT_HEADER,
    EXT_UNIT, FRAGMENT_UNIT, HEADER_LEN, IHL_UNIT, IPPROTO_AH, IPPROTO_DSTOPTS,
    IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_TCP, IPV4_ADDR_LEN, IPV4_DST,
    IPV4_FRAGMENT, IPV4_FRAGMENT_OFFSET, IPV4_HEADER_LEN, IPV4_IHL_MASK, IPV4_MORE_FRAGMENTS,
    IPV4_PROTOCOL, IPV4_SRC, IPV4_TOTAL_LEN, IPV4_VERSION, IPV6_ADDR_LEN, IPV6_DST,
    IPV6_FRAGMENT, IPV6_FRAGMENT_LEN, IPV6_FRAGMENT_OFFSET, IPV6_HEADER_LEN,
    IPV6_MORE_FRAGMENTS, IPV6_NEXT_HEADER, IPV6_OPT_HEAD_LEN, IPV6_OPT_JUMBO, IPV6_OPT_LEN,
    IPV6_OPT_PAD1, IPV6_PAD1_LEN, IPV6_PAYLOAD_LEN, IPV6_SRC, IPV6_VERSION, IP_VERSION_SHIFT,
    JUMBO_LEN, LAYER_AH, LAYER_ETHERNET, LAYER_IPV4, LAYER_IPV6, LAYER_IPV6_EXT, LAYER_LOOPBACK,
    LAYER_SLL, LAYER_SLL2, LAYER_TCP, LAYER_VLAN, LINKTYPE_ETHERNET, LINKTYPE_IPV4,
    LINKTYPE_IPV6, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_LOOP, LINKTYPE_NULL,
    LOOPBACK_HEADER_LEN, PCAPNG_BLOCK_ALIGN, PCAPNG_BYTE_ORDER_MAGIC, PCAPNG_CAPTURED,
    PCAPNG_EPB, PCAPNG_IDB_OPTIONS, PCAPNG_IF_TSOFFSET, PCAPNG_IF_TSRESOL, PCAPNG_INTERFACE_ID,
    PCAPNG_OPTION_HEAD, PCAPNG_OPT_END, PCAPNG_ORIG_LEN, PCAPNG_PACKET_HEADER, PCAPNG_SHB,
    PCAPNG_SHB_BYTE_ORDER, PCAPNG_SPB, PCAPNG_SPB_HEADER, PCAPNG_SPB_ORIG_LEN,
    PCAPNG_TSOFFSET_LEN, PCAPNG_TSRESOL_DEFAULT, PCAPNG_TSRESOL_LEN, PCAPNG_TS_HIGH,
    PCAPNG_TS_LOW, PCAP_MAGIC_NSEC, PCAP_MAGIC_USEC, PSEUDO_HEADER_MAX, ROUTING_ADDRESSES,
    ROUTING_HOME, ROUTING_RH0, ROUTING_RPL, ROUTING_SRH, ROUTING_TYPE, RPL_CMPR, RPL_CMPRE_MASK,
    RPL_CMPRI_SHIFT, RPL_PAD, RPL_PAD_SHIFT, SEGMENTS_LEFT, SLL2_HEADER_LEN, SLL2_TYPE,
    SLL_HEADER_LEN, SLL_TYPE, SRH_LAST_ENTRY, U16, VLAN_TAG_LEN, VLAN_TYPE,
)

from fastseg._wire_c cimport (
    CHDLC_HEADER_LEN, CHDLC_MULTICAST, CHDLC_TYPE, CHDLC_UNICAST, ETHERTYPE_MPLS,
    ETHERTYPE_MPLS_MULTICAST, ETHERTYPE_PPP, ETHERTYPE_PPPOE_SESSION, ETHERTYPE_TEB,
    GENEVE_HEADER_LEN, GENEVE_OPT_LEN_MASK, GENEVE_OPT_UNIT, GENEVE_PORT, GENEVE_PROTOCOL,
    GENEVE_VERSION_SHIFT, GRE_ACK, GRE_CHECKSUM, GRE_FIELD_LEN, GRE_HEADER_LEN, GRE_KEY,
    GRE_PROTOCOL, GRE_ROUTING, GRE_SEQUENCE, GRE_VERSION_MASK, GRE_VERSION_PPTP, IPOIB_HEADER_LEN,
    IPOIB_TYPE, IPPROTO_GRE, IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_UDP, LAYER_CHDLC, LAYER_GENEVE,
    LAYER_GRE, LAYER_IPOIB, LAYER_MPLS, LAYER_PPP, LAYER_PPPOE, LAYER_VXLAN, LINKTYPE_IPOIB,
    LINKTYPE_PPP, LINKTYPE_PPP_HDLC, MAX_ENCAPSULATIONS, MPLS_BOTTOM, MPLS_BOTTOM_BIT,
    MPLS_LABEL_LEN, PPP_ADDRESS, PPP_HDLC_LEN, PPP_IPV4, PPP_IPV6, PPP_PFC_BIT,
    PPP_PROTOCOL_LEN, PPPOE_HEADER_LEN, UDP_DST_PORT, UDP_HEADER_LEN, UDP_SRC_PORT, VXLAN_HEADER_LEN,
    VXLAN_PORT,
)

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
    """Take the frame p[0:n] apart down to its innermost TCP segment, or say why there is none.

    Returns the kind (K_TCP when ``f`` locates a segment) and fills ``f`` in.
    """
    cdef bint cut = n < orig_len
    cdef int expected = 0
    cdef int version
    cdef uint32_t ethertype, family
    cdef Py_ssize_t base
    if linktype == LINKTYPE_ETHERNET:
        if n < ETHERNET_HEADER_LEN:
            return _short(f, cut, LAYER_ETHERNET, 0, ETHERNET_HEADER_LEN, n, n, 0, -1, -1)
        ethertype = be16(p + ETHERNET_TYPE)
        base = ETHERNET_HEADER_LEN
    elif linktype == LINKTYPE_LINUX_SLL:
        if n < SLL_HEADER_LEN:
            return _short(f, cut, LAYER_SLL, 0, SLL_HEADER_LEN, n, n, 0, -1, -1)
        ethertype = be16(p + SLL_TYPE)
        base = SLL_HEADER_LEN
    elif linktype == LINKTYPE_LINUX_SLL2:
        if n < SLL2_HEADER_LEN:
            return _short(f, cut, LAYER_SLL2, 0, SLL2_HEADER_LEN, n, n, 0, -1, -1)
        ethertype = be16(p + SLL2_TYPE)
        base = SLL2_HEADER_LEN
    elif linktype == LINKTYPE_IPOIB:
        if n < IPOIB_HEADER_LEN:
            return _short(f, cut, LAYER_IPOIB, 0, IPOIB_HEADER_LEN, n, n, 0, -1, -1)
        ethertype = be16(p + IPOIB_TYPE)
        base = IPOIB_HEADER_LEN
    elif linktype == LINKTYPE_PPP_HDLC and n and (p[0] == CHDLC_UNICAST
                                                  or p[0] == CHDLC_MULTICAST):
        if n < CHDLC_HEADER_LEN:
            return _short(f, cut, LAYER_CHDLC, 0, CHDLC_HEADER_LEN, n, n, 0, -1, -1)
        ethertype = be16(p + CHDLC_TYPE)
        base = CHDLC_HEADER_LEN
    elif linktype == LINKTYPE_PPP or linktype == LINKTYPE_PPP_HDLC:
        ethertype = ETHERTYPE_PPP           # address and control, if any, go with PPP
        base = 0
    elif linktype == LINKTYPE_NULL or linktype == LINKTYPE_LOOP:
        if n < LOOPBACK_HEADER_LEN:
            return _short(f, cut, LAYER_LOOPBACK, 0, LOOPBACK_HEADER_LEN, n, n, 0, -1, -1)
        if linktype == LINKTYPE_LOOP or (p[0] == 0 and p[1] == 0):
            family = be32(p)
        else:                               # NULL: the writer's byte order
            family = _le32(p)
        if family == AF_INET:
            ethertype = ETHERTYPE_IPV4
        elif family == AF_INET6_BSD or family == AF_INET6_FREEBSD or family == AF_INET6_DARWIN:
            ethertype = ETHERTYPE_IPV6
        else:
            return _other(f, K_NON_IP, 0, -1, -1, D_FAMILY, family, 0, 0)
        base = LOOPBACK_HEADER_LEN
    else:                                   # raw IP: RAW_12, RAW_14, RAW, IPV4, IPV6
        if linktype == LINKTYPE_IPV4:
            expected = IPV4_VERSION
        elif linktype == LINKTYPE_IPV6:
            expected = IPV6_VERSION
        if expected:
            version = expected
        elif n:
            version = p[0] >> IP_VERSION_SHIFT
        else:
            version = IPV4_VERSION
        ethertype = ETHERTYPE_IPV6 if version == IPV6_VERSION else ETHERTYPE_IPV4
        base = 0
    return _network(p, n, ethertype, base, n, cut, orig_len, expected, 0, -1, -1, 0, f)


cdef int _network(const uint8_t* p, Py_ssize_t n, uint32_t ethertype, Py_ssize_t at,
                  Py_ssize_t limit, bint cut, Py_ssize_t orig_len, int expected, int ov,
                  Py_ssize_t oaddr, int oprotocol, int depth, Found* f) noexcept nogil:
    """As _reader_py._network: what p[at:limit], of type ``ethertype``, carries.

    ``ov``, ``oaddr`` and ``oprotocol`` are the innermost IP header read so far
    (0, -1, -1: none), ``depth`` the encapsulations opened.  Every read is of
    p[i] with i < limit <= n, checked on the lines above it.
    """
    cdef Py_ssize_t size
    cdef uint32_t protocol
    while True:
        if depth > MAX_ENCAPSULATIONS:
            return _other(f, K_MALFORMED, ov, oaddr, oprotocol, D_DEPTH, 0, 0, 0)
        if (ethertype == ETHERTYPE_8021Q or ethertype == ETHERTYPE_8021AD
                or ethertype == ETHERTYPE_QINQ):
            if at + VLAN_TAG_LEN > limit:
                return _short(f, cut, LAYER_VLAN, at, VLAN_TAG_LEN, n, limit, ov, oaddr, oprotocol)
            ethertype = be16(p + at + VLAN_TYPE)
            at += VLAN_TAG_LEN
        elif ethertype == ETHERTYPE_TEB:    # an inner Ethernet frame
            if at + ETHERNET_HEADER_LEN > limit:
                return _short(f, cut, LAYER_ETHERNET, at, ETHERNET_HEADER_LEN, n, limit, ov, oaddr,
                              oprotocol)
            ethertype = be16(p + at + ETHERNET_TYPE)
            at += ETHERNET_HEADER_LEN
            depth += 1
        elif ethertype == ETHERTYPE_MPLS or ethertype == ETHERTYPE_MPLS_MULTICAST:
            while True:                     # down to the bottom of the label stack
                if at + MPLS_LABEL_LEN > limit:
                    return _short(f, cut, LAYER_MPLS, at, MPLS_LABEL_LEN, n, limit, ov, oaddr,
                                  oprotocol)
                at += MPLS_LABEL_LEN
                if p[at - MPLS_LABEL_LEN + MPLS_BOTTOM] & MPLS_BOTTOM_BIT:
                    break
            if at + 1 > limit:              # the payload's first nibble says what it is
                return _short(f, cut, LAYER_MPLS, at, 1, n, limit, ov, oaddr, oprotocol)
            if p[at] >> IP_VERSION_SHIFT == IPV4_VERSION:
                ethertype = ETHERTYPE_IPV4
            elif p[at] >> IP_VERSION_SHIFT == IPV6_VERSION:
                ethertype = ETHERTYPE_IPV6
            else:
                return _other(f, K_NON_IP, ov, oaddr, oprotocol, D_MPLS, p[at] >> IP_VERSION_SHIFT,
                              0, 0)
            depth += 1
        elif ethertype == ETHERTYPE_PPPOE_SESSION:
            if at + PPPOE_HEADER_LEN > limit:
                return _short(f, cut, LAYER_PPPOE, at, PPPOE_HEADER_LEN, n, limit, ov, oaddr,
                              oprotocol)
            ethertype = ETHERTYPE_PPP
            at += PPPOE_HEADER_LEN
            depth += 1
        elif ethertype == ETHERTYPE_PPP:
            if at < limit and p[at] == PPP_ADDRESS:     # address and control
                if at + PPP_HDLC_LEN > limit:
                    return _short(f, cut, LAYER_PPP, at, PPP_HDLC_LEN, n, limit, ov, oaddr,
                                  oprotocol)
                at += PPP_HDLC_LEN
            size = 1 if at < limit and p[at] & PPP_PFC_BIT else PPP_PROTOCOL_LEN
            if at + size > limit:
                return _short(f, cut, LAYER_PPP, at, size, n, limit, ov, oaddr, oprotocol)
            protocol = p[at] if size == 1 else be16(p + at)
            at += size
            if protocol == PPP_IPV4:
                ethertype = ETHERTYPE_IPV4
            elif protocol == PPP_IPV6:
                ethertype = ETHERTYPE_IPV6
            else:
                return _other(f, K_NON_IP, ov, oaddr, oprotocol, D_PPP, protocol, 0, 0)
        elif ethertype == ETHERTYPE_IPV4:
            return _ipv4(p, n, at, limit, cut, orig_len, expected, ov, oaddr, oprotocol, depth, f)
        elif ethertype == ETHERTYPE_IPV6:
            return _ipv6(p, n, at, limit, cut, orig_len, expected, ov, oaddr, oprotocol, depth, f)
        else:
            return _other(f, K_NON_IP, ov, oaddr, oprotocol, D_ETHERTYPE, ethertype, 0, 0)


cdef int _ipv4(const uint8_t* p, Py_ssize_t n, Py_ssize_t base, Py_ssize_t limit, bint cut,
               Py_ssize_t orig_len, int expected, int ov, Py_ssize_t oaddr, int oprotocol,
               int depth, Found* f) noexcept nogil:
    cdef Py_ssize_t header_len, total, end, at, size
    cdef uint32_t fragment
    cdef int protocol, version
    cdef Py_ssize_t addr = base + IPV4_SRC
    if limit - base < IPV4_HEADER_LEN:
        return _short(f, cut, LAYER_IPV4, base, IPV4_HEADER_LEN, n, limit, ov, oaddr, oprotocol)
    version = p[base] >> IP_VERSION_SHIFT
    if version != IPV4_VERSION:
        return _other(f, K_MALFORMED, ov, oaddr, oprotocol, D_VERSION, expected or IPV4_VERSION,
                      version, 0)
    header_len = (p[base] & IPV4_IHL_MASK) * IHL_UNIT
    if header_len < IPV4_HEADER_LEN:
        return _other(f, K_MALFORMED, ov, oaddr, oprotocol, D_IHL, header_len, 0, 0)
    if limit - base < header_len:
        return _short(f, cut, LAYER_IPV4, base, header_len, n, limit, ov, oaddr, oprotocol)
    protocol = p[base + IPV4_PROTOCOL]
    total = be16(p + base + IPV4_TOTAL_LEN)
    if total == 0:                          # segmentation offload left the length out
        total = orig_len - base
    if total < header_len:
        return _other(f, K_MALFORMED, IPV4_VERSION, addr, protocol, D_TOTAL, total, header_len, 0)
    fragment = be16(p + base + IPV4_FRAGMENT)
    if fragment & (IPV4_MORE_FRAGMENTS | IPV4_FRAGMENT_OFFSET):
        return _other(f, K_FRAGMENT, IPV4_VERSION, addr, protocol, D_FRAGMENT, IPV4_VERSION,
                      (fragment & IPV4_FRAGMENT_OFFSET) * FRAGMENT_UNIT,
                      (fragment & IPV4_MORE_FRAGMENTS) != 0)
    end = base + total
    if end < limit:
        limit = end
    at = base + header_len
    while protocol == IPPROTO_AH:
        if at + EXT_HEAD_LEN > limit:
            return _short(f, cut, LAYER_AH, at, EXT_HEAD_LEN, n, limit, IPV4_VERSION, addr, protocol)
        size = (p[at + EXT_LEN] + AH_LEN_BIAS) * AH_UNIT
        if at + size > limit:
            return _short(f, cut, LAYER_AH, at, size, n, limit, IPV4_VERSION, addr, protocol)
        protocol = p[at + EXT_NEXT_HEADER]
        at += size
    if protocol != IPPROTO_TCP:
        return _inside(p, n, IPV4_VERSION, addr, protocol, at, limit, cut, orig_len, depth, f)
    return _tcp(f, IPV4_VERSION, addr, at, end, limit, n, cut, base + IPV4_DST, 0)


cdef Py_ssize_t _jumbo_length(const uint8_t* p, Py_ssize_t n, Py_ssize_t at) noexcept nogil:
    """The Jumbo Payload length in the hop-by-hop header at ``at``, or 0."""
    cdef Py_ssize_t end, i, size
    if at + EXT_HEAD_LEN > n:
        return 0
    end = at + (p[at + EXT_LEN] + EXT_LEN_BIAS) * EXT_UNIT
    if end > n:
        end = n
    i = at + EXT_HEAD_LEN
    while i < end:
        if p[i] == IPV6_OPT_PAD1:
            i += IPV6_PAD1_LEN
            continue
        if i + IPV6_OPT_HEAD_LEN > end:
            return 0
        size = p[i + IPV6_OPT_LEN]
        if p[i] == IPV6_OPT_JUMBO and size == JUMBO_LEN and i + IPV6_OPT_HEAD_LEN + JUMBO_LEN <= end:
            return be32(p + i + IPV6_OPT_HEAD_LEN)
        i += IPV6_OPT_HEAD_LEN + size
    return 0


@cython.cdivision(True)
cdef int _final_destination(const uint8_t* p, Py_ssize_t at, Py_ssize_t size, Py_ssize_t* final,
                            int* prefix, long long* count) noexcept nogil:
    """As _reader_py._final_destination for the routing header p[at:at + size], Segments Left > 0.

    Sets ``final`` and ``prefix`` (see Found) and returns 1; returns 0 when the
    header is malformed, with the addresses it holds in ``count`` (-1: its
    length does not fit them).  Reads only inside the header.
    """
    cdef int routing_type = p[at + ROUTING_TYPE]
    cdef int left = p[at + SEGMENTS_LEFT]
    cdef Py_ssize_t room = size - ROUTING_ADDRESSES
    cdef Py_ssize_t before_last, step
    cdef int cmpr_e
    if routing_type == ROUTING_RH0:         # the last address
        count[0] = p[at + EXT_LEN] // (IPV6_ADDR_LEN // EXT_UNIT)
        if p[at + EXT_LEN] % (IPV6_ADDR_LEN // EXT_UNIT):
            count[0] = -1
            return 0
        if left > count[0]:
            return 0
        final[0] = at + size - IPV6_ADDR_LEN
    elif routing_type == ROUTING_HOME:      # the home address
        count[0] = 1
        if size != ROUTING_ADDRESSES + IPV6_ADDR_LEN:
            count[0] = -1
            return 0
        if left > 1:
            return 0
        final[0] = at + ROUTING_ADDRESSES
    elif routing_type == ROUTING_RPL:       # the last address, CmprE bytes elided
        cmpr_e = p[at + RPL_CMPR] & RPL_CMPRE_MASK
        step = IPV6_ADDR_LEN - (p[at + RPL_CMPR] >> RPL_CMPRI_SHIFT)
        before_last = room - (p[at + RPL_PAD] >> RPL_PAD_SHIFT) - (IPV6_ADDR_LEN - cmpr_e)
        if before_last < 0 or before_last % step:
            count[0] = -1
            return 0
        count[0] = before_last // step + 1
        if left > count[0]:
            return 0
        final[0] = at + ROUTING_ADDRESSES + before_last
        prefix[0] = cmpr_e
    elif routing_type == ROUTING_SRH:       # Segment List[0]
        count[0] = p[at + SRH_LAST_ENTRY] + 1
        if count[0] * IPV6_ADDR_LEN > room:
            count[0] = -1
            return 0
        if left > count[0]:
            return 0
        final[0] = at + ROUTING_ADDRESSES
    return 1                                # other types change nothing


cdef int _ipv6(const uint8_t* p, Py_ssize_t n, Py_ssize_t base, Py_ssize_t limit, bint cut,
               Py_ssize_t orig_len, int expected, int ov, Py_ssize_t oaddr, int oprotocol,
               int depth, Found* f) noexcept nogil:
    cdef Py_ssize_t at, end, size, payload_len
    cdef Py_ssize_t addr = base + IPV6_SRC
    cdef Py_ssize_t final = base + IPV6_DST
    cdef int prefix = 0
    cdef long long count
    cdef int protocol, version
    cdef uint32_t offset_flags
    if limit - base < IPV6_HEADER_LEN:
        return _short(f, cut, LAYER_IPV6, base, IPV6_HEADER_LEN, n, limit, ov, oaddr, oprotocol)
    version = p[base] >> IP_VERSION_SHIFT
    if version != IPV6_VERSION:
        return _other(f, K_MALFORMED, ov, oaddr, oprotocol, D_VERSION, expected or IPV6_VERSION,
                      version, 0)
    protocol = p[base + IPV6_NEXT_HEADER]
    at = base + IPV6_HEADER_LEN
    payload_len = be16(p + base + IPV6_PAYLOAD_LEN)
    if payload_len == 0 and protocol == IPPROTO_HOPOPTS:
        payload_len = _jumbo_length(p, limit, at)
    end = at + payload_len
    if end < limit:
        limit = end
    while True:
        if (protocol == IPPROTO_HOPOPTS or protocol == IPPROTO_ROUTING
                or protocol == IPPROTO_DSTOPTS or protocol == IPPROTO_AH):
            if at + EXT_HEAD_LEN > limit:
                return _short(f, cut, LAYER_IPV6_EXT, at, EXT_HEAD_LEN, n, limit, IPV6_VERSION,
                              addr, protocol)
            if protocol == IPPROTO_AH:
                size = (p[at + EXT_LEN] + AH_LEN_BIAS) * AH_UNIT
            else:
                size = (p[at + EXT_LEN] + EXT_LEN_BIAS) * EXT_UNIT
            if at + size > limit:
                return _short(f, cut, LAYER_IPV6_EXT, at, size, n, limit, IPV6_VERSION, addr,
                              protocol)
            if protocol == IPPROTO_ROUTING and p[at + SEGMENTS_LEFT]:   # still routed
                if not _final_destination(p, at, size, &final, &prefix, &count):
                    return _other(f, K_MALFORMED, IPV6_VERSION, addr, protocol, D_ROUTING,
                                  p[at + ROUTING_TYPE], p[at + SEGMENTS_LEFT], count)
        elif protocol == IPPROTO_FRAGMENT:
            size = IPV6_FRAGMENT_LEN
            if at + size > limit:
                return _short(f, cut, LAYER_IPV6_EXT, at, size, n, limit, IPV6_VERSION, addr,
                              protocol)
            offset_flags = be16(p + at + IPV6_FRAGMENT)
            if offset_flags & (IPV6_FRAGMENT_OFFSET | IPV6_MORE_FRAGMENTS):
                return _other(f, K_FRAGMENT, IPV6_VERSION, addr, p[at + EXT_NEXT_HEADER],
                              D_FRAGMENT, IPV6_VERSION, offset_flags & IPV6_FRAGMENT_OFFSET,
                              offset_flags & IPV6_MORE_FRAGMENTS)
        else:
            break
        protocol = p[at + EXT_NEXT_HEADER]
        at += size
    if protocol != IPPROTO_TCP:
        return _inside(p, n, IPV6_VERSION, addr, protocol, at, limit, cut, orig_len, depth, f)
    return _tcp(f, IPV6_VERSION, addr, at, end, limit, n, cut, final, prefix)


cdef int _inside(const uint8_t* p, Py_ssize_t n, int version, Py_ssize_t addr, int protocol,
                 Py_ssize_t at, Py_ssize_t limit, bint cut, Py_ssize_t orig_len, int depth,
                 Found* f) noexcept nogil:
    """As _reader_py._inside: open the tunnel an IP packet carries in p[at:limit], if it is one."""
    cdef uint32_t flags, low, high, port
    cdef int tunnel_version
    cdef Py_ssize_t size
    if protocol == IPPROTO_IPIP:
        return _network(p, n, ETHERTYPE_IPV4, at, limit, cut, orig_len, 0, version, addr,
                        protocol, depth + 1, f)
    if protocol == IPPROTO_IPV6:
        return _network(p, n, ETHERTYPE_IPV6, at, limit, cut, orig_len, 0, version, addr,
                        protocol, depth + 1, f)
    if protocol == IPPROTO_GRE:
        if at + GRE_HEADER_LEN > limit:
            return _short(f, cut, LAYER_GRE, at, GRE_HEADER_LEN, n, limit, version, addr, protocol)
        flags = be16(p + at)
        tunnel_version = flags & GRE_VERSION_MASK
        if tunnel_version > GRE_VERSION_PPTP:
            return _other(f, K_NON_IP, version, addr, protocol, D_TUNNEL_VERSION, LAYER_GRE,
                          tunnel_version, 0)
        if flags & GRE_ROUTING:
            return _other(f, K_NON_IP, version, addr, protocol, D_GRE_ROUTING, 0, 0, 0)
        size = GRE_HEADER_LEN
        if flags & GRE_CHECKSUM:
            size += GRE_FIELD_LEN
        if flags & GRE_KEY:
            size += GRE_FIELD_LEN
        if flags & GRE_SEQUENCE:
            size += GRE_FIELD_LEN
        if tunnel_version == GRE_VERSION_PPTP and flags & GRE_ACK:
            size += GRE_FIELD_LEN
        if at + size > limit:
            return _short(f, cut, LAYER_GRE, at, size, n, limit, version, addr, protocol)
        return _network(p, n, be16(p + at + GRE_PROTOCOL), at + size, limit, cut, orig_len, 0,
                        version, addr, protocol, depth + 1, f)
    if protocol == IPPROTO_UDP and at + UDP_HEADER_LEN <= limit:
        low = be16(p + at + UDP_SRC_PORT)
        high = be16(p + at + UDP_DST_PORT)
        if high < low:
            low, high = high, low
        port = low if low == VXLAN_PORT or low == GENEVE_PORT else high   # the lower first
        at += UDP_HEADER_LEN
        if port == VXLAN_PORT:
            if at + VXLAN_HEADER_LEN > limit:
                return _short(f, cut, LAYER_VXLAN, at, VXLAN_HEADER_LEN, n, limit, version, addr,
                              protocol)
            return _network(p, n, ETHERTYPE_TEB, at + VXLAN_HEADER_LEN, limit, cut, orig_len, 0,
                            version, addr, protocol, depth + 1, f)
        if port == GENEVE_PORT:
            if at + GENEVE_HEADER_LEN > limit:
                return _short(f, cut, LAYER_GENEVE, at, GENEVE_HEADER_LEN, n, limit, version, addr,
                              protocol)
            tunnel_version = p[at] >> GENEVE_VERSION_SHIFT
            if tunnel_version:
                return _other(f, K_NON_IP, version, addr, protocol, D_TUNNEL_VERSION,
                              LAYER_GENEVE, tunnel_version, 0)
            size = GENEVE_HEADER_LEN + (p[at] & GENEVE_OPT_LEN_MASK) * GENEVE_OPT_UNIT
            if at + size > limit:
                return _short(f, cut, LAYER_GENEVE, at, size, n, limit, version, addr, protocol)
            return _network(p, n, be16(p + at + GENEVE_PROTOCOL), at + size, limit, cut,
                            orig_len, 0, version, addr, protocol, depth + 1, f)
    return _other(f, K_NON_TCP, version, addr, protocol, D_PROTOCOL, protocol, 0, 0)


cdef inline int _tcp(Found* f, int version, Py_ssize_t addr, Py_ssize_t start, Py_ssize_t end,
                     Py_ssize_t limit, Py_ssize_t n, bint cut, Py_ssize_t final,
                     int prefix) noexcept nogil:
    """The segment p[start:end], of which p[:limit] was captured (all of p[:n], or its tunnel's part)."""
    cdef Py_ssize_t stop = limit if limit < end else end
    if stop - start < HEADER_LEN:
        return _short(f, cut, LAYER_TCP, start, HEADER_LEN, n, stop, version, addr, IPPROTO_TCP)
    f.kind = K_TCP
    f.version = version
    f.addr = addr
    f.start = start
    f.stop = stop
    f.end = end
    f.complete = end <= stop
    f.final = final
    f.final_prefix = prefix
    return K_TCP


cdef int _checksum_ok(const uint8_t* p, const Found* f) noexcept nogil:
    """1 or 0 as the segment ``_decode`` found in ``p`` verifies, -1 when that cannot be known.

    As ``_checksum_c.verify_checksum``, with the final destination of an IPv6
    routing header; unknown when the capture cut the segment short or an IPv4
    segment is too long for its pseudo-header.
    """
    cdef uint8_t pseudo[PSEUDO_HEADER_MAX]
    cdef uint8_t final[IPV6_ADDR_LEN]
    cdef const uint8_t* dst = p + f.final
    cdef Py_ssize_t length = f.stop - f.start
    cdef Py_ssize_t size = IPV4_ADDR_LEN if f.version == IPV4_VERSION else IPV6_ADDR_LEN
    cdef Py_ssize_t pseudo_size
    cdef uint32_t total
    if not f.complete or (f.version == IPV4_VERSION and length > U16):
        return -1
    if f.final_prefix:                      # an RPL address: its prefix from the destination field
        memcpy(final, p + f.addr + IPV6_ADDR_LEN, f.final_prefix)
        memcpy(final + f.final_prefix, p + f.final, IPV6_ADDR_LEN - f.final_prefix)
        dst = final
    pseudo_size = pseudo_header(pseudo, p + f.addr, dst, size, length)
    total = <uint32_t>sum_be(pseudo, pseudo_size) + sum_be(p + f.start, length)
    return ((total & U16) + (total >> 16)) == U16


cdef int _capture_format(const uint8_t* p, bint* big, bint* nano) noexcept nogil:
    """From a file's first 24 bytes: FORMAT_PCAP (``big`` and ``nano`` set), FORMAT_PCAPNG or FORMAT_NONE.

    A pcapng file must begin with a section header with its byte-order magic.
    """
    cdef uint32_t magic_le = _le32(p)
    cdef uint32_t magic_be = be32(p)
    if magic_le == PCAP_MAGIC_USEC or magic_le == PCAP_MAGIC_NSEC:
        big[0] = False
        nano[0] = magic_le == PCAP_MAGIC_NSEC
        return FORMAT_PCAP
    if magic_be == PCAP_MAGIC_USEC or magic_be == PCAP_MAGIC_NSEC:
        big[0] = True
        nano[0] = magic_be == PCAP_MAGIC_NSEC
        return FORMAT_PCAP
    if magic_le == PCAPNG_SHB and (_le32(p + PCAPNG_SHB_BYTE_ORDER) == PCAPNG_BYTE_ORDER_MAGIC
                                   or be32(p + PCAPNG_SHB_BYTE_ORDER) == PCAPNG_BYTE_ORDER_MAGIC):
        return FORMAT_PCAPNG
    return FORMAT_NONE


cdef tuple _interface_fields(bytes body, bint big, str name, long long at):
    """(linktype, snaplen, mul, div, offset_ns) of a pcapng interface description block body."""
    order = ">" if big else "<"
    if len(body) < PCAPNG_IDB_OPTIONS:
        raise c.corrupt(name, at, "interface description block too short")
    linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", body, 0)
    if linktype not in c.SUPPORTED_LINKTYPES:
        raise c.unsupported_linktype(name, linktype)
    mul, div = c.tsresol_scale(PCAPNG_TSRESOL_DEFAULT)
    offset_ns = 0
    i = PCAPNG_IDB_OPTIONS
    while i + PCAPNG_OPTION_HEAD <= len(body):
        code, size = struct.unpack_from(order + "HH", body, i)
        value = body[i + PCAPNG_OPTION_HEAD:i + PCAPNG_OPTION_HEAD + size]
        if code == PCAPNG_OPT_END:
            break
        if code == PCAPNG_IF_TSRESOL and size == PCAPNG_TSRESOL_LEN:
            mul, div = c.tsresol_scale(value[0])
        elif code == PCAPNG_IF_TSOFFSET and size == PCAPNG_TSOFFSET_LEN:
            offset_ns = struct.unpack(order + "q", value)[0] * 1_000_000_000
        i += (PCAPNG_OPTION_HEAD
              + (size + PCAPNG_BLOCK_ALIGN - 1) // PCAPNG_BLOCK_ALIGN * PCAPNG_BLOCK_ALIGN)
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
    if block_type == PCAPNG_SPB:
        if size < PCAPNG_SPB_HEADER:
            raise c.corrupt(name, at, "simple packet block too short")
        pk.interface_id = 0
        pk.orig_len = _rd32(body + PCAPNG_SPB_ORIG_LEN, big)
        pk.captured = pk.orig_len
        if <Py_ssize_t>pk.captured > size - PCAPNG_SPB_HEADER:
            pk.captured = size - PCAPNG_SPB_HEADER
        pk.start = PCAPNG_SPB_HEADER
    else:
        if size < PCAPNG_PACKET_HEADER:
            raise c.corrupt(name, at, "packet block too short")
        if block_type == PCAPNG_EPB:
            pk.interface_id = _rd32(body + PCAPNG_INTERFACE_ID, big)
        else:                               # the obsolete packet block: 16 bits, then drops
            pk.interface_id = _rd16(body + PCAPNG_INTERFACE_ID, big)
        ts = (<uint64_t>_rd32(body + PCAPNG_TS_HIGH, big) << 32) | _rd32(body + PCAPNG_TS_LOW, big)
        pk.captured = _rd32(body + PCAPNG_CAPTURED, big)
        pk.orig_len = _rd32(body + PCAPNG_ORIG_LEN, big)
        pk.start = PCAPNG_PACKET_HEADER
        if <Py_ssize_t>pk.captured > size - PCAPNG_PACKET_HEADER:
            raise c.corrupt(name, at, f"{pk.captured} captured bytes do not fit the packet block")
    if pk.interface_id != i.id:
        _use_interface(i, interfaces, pk.interface_id, name, at)
    pk.ns = 0
    if block_type == PCAPNG_SPB:
        if i.snaplen and pk.captured > i.snaplen:
            pk.captured = i.snaplen
    elif (i.mode == TS_MUL and ts <= UINT64_MAX // i.mul
          and ts * i.mul <= ns_max):
        pk.ns = ts * i.mul
    elif i.mode == TS_DIV and ts // i.div <= ns_max:
        pk.ns = ts // i.div
    else:
        mul, div, offset_ns = interfaces[pk.interface_id][2:]
        return ts * mul // div + offset_ns
    return None


cdef class FrameSink:
    """Takes TCP frames from a compiled reader before it makes records of them (see
    ``_frames.pxd``); this base takes none."""

    cdef bint take(self, const uint8_t* frame, const Found* found, double timestamp,
                   long long number) except -1:
        return False
