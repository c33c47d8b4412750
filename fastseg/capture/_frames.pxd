# Frame decoding shared by the compiled capture readers (_reader_c, _columns_c) by cimport.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

from fastseg._endian cimport be16, be32
# MAX_RECORD is cimported from here by _columns_c as well.
from fastseg._wire_c cimport (
    MAX_RECORD, PCAPNG_CUSTOM_COPY, PCAPNG_CUSTOM_NO_COPY, PCAPNG_SYSDIG_EVENT,
    PCAPNG_SYSDIG_EVENT_V2, PCAPNG_SYSDIG_EVENT_V2_LARGE, PCAPNG_SYSTEMD_JOURNAL,
)

# Verdict kinds: K_TCP is a TCP segment, the rest are the reasons there is none.
cdef enum:
    K_TCP = 0
    K_FRAGMENT = 1
    K_NON_TCP = 2
    K_NON_IP = 3
    K_TRUNCATED = 4
    K_MALFORMED = 5

# Detail codes: which _common message builder explains an OtherRecord, with args a, b, c.
cdef enum:
    D_SHORT = 0       # short_detail(layer, need, have)
    D_ETHERTYPE = 1   # ethertype_detail(ethertype)
    D_FAMILY = 2      # family_detail(family)
    D_VERSION = 3     # version_detail(expected, version)
    D_PROTOCOL = 4    # protocol_detail(protocol)
    D_FRAGMENT = 5    # fragment_detail(version, offset, more)
    D_IHL = 6         # ihl_detail(header_len)
    D_TOTAL = 7       # total_len_detail(total, header_len)
    D_ROUTING = 8     # routing_detail(routing_type, left, addresses)
    D_PPP = 9         # ppp_detail(protocol)
    D_MPLS = 10       # mpls_detail(nibble)
    D_TUNNEL_VERSION = 11  # tunnel_version_detail(layer, version)
    D_GRE_ROUTING = 12     # gre_routing_detail()
    D_DEPTH = 13      # depth_detail()

# What _capture_format makes of a file's first bytes.
cdef enum:
    FORMAT_NONE = 0
    FORMAT_PCAP = 1
    FORMAT_PCAPNG = 2

# Interface timestamp modes: how pcapng units become nanoseconds without Python ints.
cdef enum:
    TS_PYTHON = 0     # binary resolution, an offset, or overflow: Python ints
    TS_MUL = 1        # ns = ts * mul
    TS_DIV = 2        # ns = ts // div


cdef struct Found:
    int kind
    int version
    Py_ssize_t addr       # offset of the source address (the destination follows); -1: none
    Py_ssize_t final      # the pseudo-header's destination: the destination field's first
    int final_prefix      # final_prefix bytes, then the rest from offset final (RFC 8200 §8.1)
    Py_ssize_t start      # the TCP segment: frame[start:stop]
    Py_ssize_t stop
    Py_ssize_t end        # where the IP header says the segment ends (past stop when cut)
    bint complete         # the whole segment the IP header announces was captured
    int protocol
    int detail
    long long a, b, c


# The pcapng interface in use: the fields of interfaces[id] the packets need.
cdef struct Interface:
    long long id          # -1: none
    int linktype
    uint32_t snaplen
    uint64_t mul, div
    int mode              # TS_*


# A pcapng packet block (enhanced, simple or obsolete) taken apart.
cdef struct Packet:
    long long interface_id
    uint64_t ns           # the timestamp, unless _packet_block returned it as a Python int
    uint32_t captured, orig_len
    Py_ssize_t start      # the frame's offset in the block body


cdef inline bint _other_frame(uint32_t block_type) noexcept nogil:
    """Whether a pcapng block is a frame to Wireshark, without a packet (_common.PCAPNG_OTHER_FRAMES)."""
    return (block_type == PCAPNG_SYSTEMD_JOURNAL or block_type == PCAPNG_SYSDIG_EVENT
            or block_type == PCAPNG_SYSDIG_EVENT_V2 or block_type == PCAPNG_SYSDIG_EVENT_V2_LARGE
            or block_type == PCAPNG_CUSTOM_COPY or block_type == PCAPNG_CUSTOM_NO_COPY)


cdef inline uint32_t _le32(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[3] << 24) | (<uint32_t>p[2] << 16) | (<uint32_t>p[1] << 8) | p[0]


cdef inline uint32_t _rd32(const uint8_t* p, bint big) noexcept nogil:
    return be32(p) if big else _le32(p)


cdef inline uint16_t _rd16(const uint8_t* p, bint big) noexcept nogil:
    return be16(p) if big else <uint16_t>((p[1] << 8) | p[0])


cdef int _decode(const uint8_t* p, Py_ssize_t n, Py_ssize_t orig_len, int linktype,
                 Found* f) noexcept nogil
cdef int _checksum_ok(const uint8_t* p, const Found* f) noexcept nogil
cdef int _capture_format(const uint8_t* p, bint* big, bint* nano) noexcept nogil
cdef tuple _interface_fields(bytes body, bint big, str name, long long at)
cdef object _packet_block(Packet* pk, Interface* i, list interfaces, uint32_t block_type,
                          const uint8_t* body, Py_ssize_t size, bint big, str name,
                          long long at, uint64_t ns_max)


# A consumer of TCP frames that a compiled reader offers before it makes a record of one
# (fastseg.analyze._script_c): ``take`` returns True when it has used the frame, which
# the reader then skips; False leaves the frame to become a record as usual.  ``frame``
# is valid only during the call.
cdef class FrameSink:
    cdef bint take(self, const uint8_t* frame, const Found* found, double timestamp,
                   long long number) except -1
