# cython: language_level=3
"""The Internet checksum in C: the compiled twin of ``_checksum_py`` (docstrings live there)."""

from cpython.buffer cimport Py_buffer
from libc.stdint cimport UINT32_MAX, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset

from fastseg._addr_c cimport pair_into
from fastseg._buffer cimport Bytes, acquire, release
from cpython.ref cimport PyObject

from fastseg._endian cimport be16, put16, put32
from fastseg._uint cimport fastseg_uint
from fastseg._wire_c cimport (
    CHECKSUM, HEADER_LEN, IPPROTO_TCP, IPV4_ADDR_LEN, IPV6_ADDR_LEN, PSEUDO_HEADER_IPV4,
    PSEUDO_HEADER_IPV6, PSEUDO_HEADER_MAX, PSEUDO_IPV4_LENGTH, PSEUDO_IPV4_PROTOCOL,
    PSEUDO_IPV4_ZERO, PSEUDO_IPV6_LENGTH, PSEUDO_IPV6_NEXT_HEADER, PSEUDO_IPV6_ZERO, U8, U16,
)

from fastseg import _addr, errors

__all__ = ["internet_checksum", "tcp_checksum", "update_checksum", "verify_checksum"]

cdef inline bint _u16(object value) noexcept:
    """Whether ``value`` is an int in [0, 0xFFFF] (no exception either way)."""
    cdef unsigned long long number
    return fastseg_uint(<PyObject*>value, U16, &number)


cdef extern from *:
    """
    static inline int fastseg_little_endian(void) { const unsigned short one = 1; return *(const unsigned char*)&one; }
    """
    int fastseg_little_endian() nogil


cdef extern from "_csum.h":
    uint64_t fastseg_sum(const uint8_t* data, size_t size) nogil
    int fastseg_sum_available(int which)
    int fastseg_sum_use(int which)
    const char* fastseg_sum_names[3]


cdef uint64_t sum_native(const uint8_t* data, Py_ssize_t size) noexcept nogil:
    """Sum of ``data`` as native-order 32-bit words; see _csum.h (reads stay in [0, size))."""
    return fastseg_sum(data, <size_t>size)


def _sum_variants():
    """Names of the summing loops this build and CPU can run, widest last (for tests)."""
    return [fastseg_sum_names[i].decode() for i in range(3) if fastseg_sum_available(i)]


def _use_sum_variant(name):
    """Make the summing loop ``name`` the active one (for tests); ValueError if unavailable."""
    for i in range(3):
        if fastseg_sum_names[i].decode() == name and fastseg_sum_use(i):
            return
    raise ValueError(f"summing loop {name!r} is not available here")


_use_sum_variant(_sum_variants()[-1])


cdef uint16_t fold(uint64_t total) noexcept nogil:
    """Fold a native-order sum to 16 bits with end-around carry, then to big-endian order."""
    while total >> 16:
        total = (total & U16) + (total >> 16)
    if fastseg_little_endian():
        total = ((total & U8) << 8) | (total >> 8)
    return <uint16_t>total


cdef uint16_t sum_be(const uint8_t* data, Py_ssize_t size) noexcept nogil:
    """The one's-complement sum of big-endian 16-bit words (RFC 1071), not complemented."""
    return fold(sum_native(data, size))


cdef inline uint16_t add16(uint32_t a, uint32_t b) noexcept nogil:
    a += b
    return <uint16_t>((a & U16) + (a >> 16))


cdef Py_ssize_t pseudo_header(uint8_t* out, const uint8_t* src, const uint8_t* dst,
                              Py_ssize_t size, Py_ssize_t length) noexcept nogil:
    """Write the pseudo-header for ``size``-byte addresses into ``out`` (PSEUDO_HEADER_MAX
    bytes); return its size.

    The caller has checked that ``size`` is IPV4_ADDR_LEN or IPV6_ADDR_LEN and that
    ``length`` fits the IP version.
    """
    memcpy(out, src, size)
    memcpy(out + size, dst, size)
    if size == IPV4_ADDR_LEN:
        out[PSEUDO_IPV4_ZERO] = 0
        out[PSEUDO_IPV4_PROTOCOL] = IPPROTO_TCP
        put16(out + PSEUDO_IPV4_LENGTH, <uint32_t>length)
        return PSEUDO_HEADER_IPV4
    put32(out + PSEUDO_IPV6_LENGTH, <uint32_t>length)
    memset(out + PSEUDO_IPV6_ZERO, 0, PSEUDO_IPV6_NEXT_HEADER - PSEUDO_IPV6_ZERO)
    out[PSEUDO_IPV6_NEXT_HEADER] = IPPROTO_TCP
    return PSEUDO_HEADER_IPV6


cdef uint16_t _segment_sum(object src, object dst, object segment_bytes, uint16_t* held) except? 0:
    """Sum over pseudo-header and segment; ``held`` gets the checksum field as it is."""
    cdef Py_buffer view
    cdef Bytes seg
    cdef uint8_t pseudo[PSEUDO_HEADER_MAX]
    cdef uint8_t src_addr[IPV6_ADDR_LEN]
    cdef uint8_t dst_addr[IPV6_ADDR_LEN]
    cdef uint16_t total
    cdef Py_ssize_t size
    keep = acquire(segment_bytes, &view, &seg)
    try:
        if seg.size < HEADER_LEN:
            raise errors.short_buffer(seg.size).exception()
        size = pair_into(src, dst, src_addr, dst_addr)
        if seg.size > (U16 if size == IPV4_ADDR_LEN else UINT32_MAX):
            _addr.pseudo_header(*_addr.pair(src, dst), seg.size)  # raises the shared EncodeError
        size = pseudo_header(pseudo, src_addr, dst_addr, size, seg.size)
        total = add16(sum_be(pseudo, size), sum_be(seg.data, seg.size))
        held[0] = be16(seg.data + CHECKSUM)  # seg.size >= HEADER_LEN checked above
        return total
    finally:
        release(&view, &seg)


def internet_checksum(data, initial=0):
    cdef Py_buffer view
    cdef Bytes raw
    cdef uint16_t total
    if not _u16(initial):
        raise ValueError(f"initial must be an int in [0, 65535], got {initial!r}")
    keep = acquire(data, &view, &raw)
    try:
        total = sum_be(raw.data, raw.size)
        return <uint16_t>~add16(total, <uint32_t>initial)
    finally:
        release(&view, &raw)


def tcp_checksum(src, dst, segment_bytes):
    cdef uint16_t held
    cdef uint16_t total = _segment_sum(src, dst, segment_bytes, &held)
    # Take the held checksum out of the sum by adding its complement (RFC 1624 §3).
    return <uint16_t>~add16(total, <uint16_t>~held)


def verify_checksum(src, dst, segment_bytes):
    cdef uint16_t held
    return _segment_sum(src, dst, segment_bytes, &held) == U16


def update_checksum(checksum, old_bytes, new_bytes):
    cdef Py_buffer old_view, new_view
    cdef Bytes old, new
    cdef uint32_t total
    if not _u16(checksum):
        raise ValueError(f"checksum must be an int in [0, 65535], got {checksum!r}")
    keep_old = acquire(old_bytes, &old_view, &old)
    try:
        keep_new = acquire(new_bytes, &new_view, &new)
        try:
            if old.size != new.size:
                raise ValueError(
                    f"old_bytes and new_bytes differ in length ({old.size} != {new.size})")
            total = add16(<uint16_t>~(<uint16_t>checksum), <uint16_t>~sum_be(old.data, old.size))
            total = add16(total, sum_be(new.data, new.size))
            return <uint16_t>~total
        finally:
            release(&new_view, &new)
    finally:
        release(&old_view, &old)
