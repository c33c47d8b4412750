# cython: language_level=3, auto_pickle=False
"""Addresses for the pseudo-header in C: 4- or 16-byte bytes, text parsed without Python,
and ``ipaddress`` objects read through their number.

``address_into`` writes an address's packed bytes into a 16-byte array and
returns how many there are (4 or 16), or 0 when it does not take the address:
then ``_addr.packed`` (``ipaddress`` and its bounded cache of parsed text)
decides, and raises the errors.  So this parser only has to accept a part of
what ``ipaddress`` accepts, and give the same bytes: the text forms of
``inet_pton`` (RFC 4291 §2.2 for IPv6, with the dotted IPv4 tail of its
form 3; four decimal octets for IPv4), which ``ipaddress`` takes alike.  It
refuses, and so leaves to ``ipaddress``, octets with leading zeros, scope
IDs (``%eth0``), non-ASCII text and anything longer than the longest such
address (45 characters).

The text is read where the str keeps it (PEP 393's one-byte kind, through
the documented ``PyUnicode_KIND``/``PyUnicode_DATA``), without a copy.  The
safety contract: every read of it is at an index compared with its length
on the lines just above; the output array is written at most 16 bytes, each
write after a count checked against 8 groups or 4 octets.

An exact ``IPv4Address`` or ``IPv6Address`` is read through ``int()``, the
documented number whose big-endian bytes its ``packed`` property builds in
Python; a subclass, which may redefine either, is left to ``_addr``.

From Python, :func:`parse` serves the tests that hold it against ``ipaddress``.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.long cimport PyLong_AsUnsignedLongLong, PyLong_AsUnsignedLongLongMask
from cpython.number cimport PyNumber_Long
from cpython.unicode cimport PyUnicode_1BYTE_KIND, PyUnicode_DATA, PyUnicode_GET_LENGTH, PyUnicode_KIND
from libc.stdint cimport UINT32_MAX, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset

from fastseg._endian cimport put32
from fastseg._wire_c cimport IPV4_ADDR_LEN, IPV6_ADDR_LEN, U8

import ipaddress

from fastseg import _addr

__all__ = ["parse"]

cdef enum:
    TEXT_MAX = 45          # INET6_ADDRSTRLEN less its NUL: "ffff:...:ffff:255.255.255.255"
    IPV6_GROUPS = 8        # 16-bit groups of an IPv6 address (RFC 4291 §2.2)
    GROUP_DIGITS = 4       # hex digits of one group, at most
    OCTET_DIGITS = 3       # decimal digits of one IPv4 octet, at most
    DECIMAL = 10
    HEX = 16
    GROUP_BITS = 16
    NO_GAP = -1            # no "::" seen
    HALF_BITS = 64         # an IPv6 address's number, in two 64-bit halves
    HALF_LEN = 8

# Only these exact types: a subclass may give ``packed`` any bytes, which ``_addr`` copies.
cdef object IPv4Address = ipaddress.IPv4Address
cdef object IPv6Address = ipaddress.IPv6Address


cdef extern from *:
    """
    /* One more than the value of each byte as a hex digit (RFC 4291 §2.2: 0-9, a-f, A-F),
       0 for every other byte: one load per character instead of three range tests. */
    static const unsigned char fastseg_hex_plus_one[256] = {
        ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7, ['7'] = 8,
        ['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15,
        ['f'] = 16, ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
    };
    """
    const unsigned char fastseg_hex_plus_one[256]


cdef inline int _hex_value(char c) noexcept nogil:
    """The value of the hex digit ``c``, or -1."""
    return <int>fastseg_hex_plus_one[<unsigned char>c] - 1   # an unsigned char is < 256


@cython.boundscheck(False)
@cython.wraparound(False)
cdef bint _ipv4(const char* s, Py_ssize_t start, Py_ssize_t end, uint8_t* out) noexcept nogil:
    """Four decimal octets, dot-separated, filling s[start:end] exactly, into out[0:4]."""
    cdef Py_ssize_t i = start, first
    cdef int octet
    cdef uint32_t value
    for octet in range(IPV4_ADDR_LEN):
        if octet:
            if i >= end or s[i] != c'.':
                return False
            i += 1
        first = i
        value = 0
        while i < end and c'0' <= s[i] <= c'9':   # i < end: s[i] is in the text
            if i - first == OCTET_DIGITS:
                return False
            value = value * DECIMAL + <uint32_t>(s[i] - c'0')
            i += 1
        if i == first or value > U8 or (i - first > 1 and s[first] == c'0'):
            return False    # empty, too big, or a leading zero (which ipaddress refuses)
        out[octet] = <uint8_t>value   # octet < IPV4_ADDR_LEN
    return i == end


@cython.boundscheck(False)
@cython.wraparound(False)
cdef bint _ipv6(const char* s, Py_ssize_t n, uint8_t* out) noexcept nogil:
    """RFC 4291 §2.2 text filling s[0:n] (n >= 1) into out[0:16]."""
    cdef uint32_t groups[IPV6_GROUPS]
    cdef uint8_t tail[IPV4_ADDR_LEN]
    cdef Py_ssize_t count = 0, gap = NO_GAP, i = 0, j, skipped, k, start
    cdef uint32_t value
    cdef int digit, digits
    if s[0] == c':':                                  # n >= 1
        if n < 2 or s[1] != c':':
            return False
        gap, i = 0, 2
    while i < n:
        start = i
        value = 0
        digits = 0
        while i < n:                                  # one group of 1 to 4 hex digits
            digit = _hex_value(s[i])
            if digit < 0:
                break
            if digits == GROUP_DIGITS:
                return False                          # nor an IPv4 tail: 5 digits before a dot
            value = value * HEX + <uint32_t>digit
            digits += 1
            i += 1
        if i < n and s[i] == c'.':                    # the digits began a dotted IPv4 tail
            if count > IPV6_GROUPS - 2 or not _ipv4(s, start, n, tail):
                return False
            groups[count] = <uint32_t>tail[0] << 8 | tail[1]   # count + 1 < IPV6_GROUPS
            groups[count + 1] = <uint32_t>tail[2] << 8 | tail[3]
            count += 2
            break
        if digits == 0 or count == IPV6_GROUPS:
            return False
        groups[count] = value                         # count < IPV6_GROUPS
        count += 1
        if i == n:
            break
        if s[i] != c':':                              # i < n
            return False
        i += 1
        if i == n:
            return False                              # a single trailing colon
        if s[i] == c':':                              # i < n: "::"
            if gap != NO_GAP:
                return False
            gap = count
            i += 1
    if gap == NO_GAP:
        if count != IPV6_GROUPS:
            return False
        gap, skipped = count, 0
    else:
        skipped = IPV6_GROUPS - count
        if skipped < 1:
            return False                              # "::" stands for at least one group
    memset(out, 0, IPV6_ADDR_LEN)
    for k in range(count):                            # k < count <= IPV6_GROUPS
        j = k if k < gap else k + skipped             # j < IPV6_GROUPS
        out[2 * j] = <uint8_t>(groups[k] >> 8)
        out[2 * j + 1] = <uint8_t>(groups[k] & U8)
    return True


cdef Py_ssize_t _text_into(str text, uint8_t* out) noexcept:
    """The bytes of an IPv4 or IPv6 address in ``text`` written to out[0:16]: 4, 16, or 0.

    Read where the str keeps its characters (PEP 393): a text of one-byte kind
    is an array of n Latin-1 bytes, parsed in place; wider kinds hold a
    character beyond Latin-1, so no address.  A byte above 0x7F is no character
    of the grammar, so non-ASCII text is refused by the parse itself.
    """
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text)
    cdef const char* s
    if n == 0 or n > TEXT_MAX or PyUnicode_KIND(text) != PyUnicode_1BYTE_KIND:
        return 0
    s = <const char*>PyUnicode_DATA(text)            # n one-byte characters
    if _ipv4(s, 0, n, out):                          # IPv4 first: it has no ':', IPv6 has
        return IPV4_ADDR_LEN
    return IPV6_ADDR_LEN if _ipv6(s, n, out) else 0


cdef inline void _put64(uint8_t* p, uint64_t value) noexcept nogil:
    put32(p, <uint32_t>(value >> 32))
    put32(p + 4, <uint32_t>value)


cdef Py_ssize_t _number_into(object address, Py_ssize_t size, uint8_t* out) noexcept:
    """An exact ``ipaddress`` address's ``size`` bytes written to out[0:size]: its number,
    ``int(address)`` (documented; ``packed`` is that number's big-endian bytes), read
    without the Python calls of ``packed``.  0, the exception cleared, when the number is
    not one of ``size`` bytes: ``_addr`` then reads ``packed`` and raises what it raises."""
    cdef uint64_t low, high
    try:
        number = PyNumber_Long(address)
        if size == IPV4_ADDR_LEN:
            low = PyLong_AsUnsignedLongLong(number)     # OverflowError when negative
            if low > UINT32_MAX:
                return 0
            put32(out, <uint32_t>low)
        else:
            high = PyLong_AsUnsignedLongLong(number >> HALF_BITS)   # OverflowError: >= 2**128
            low = PyLong_AsUnsignedLongLongMask(number)
            _put64(out, high)                           # out[0:8]
            _put64(out + HALF_LEN, low)                 # out[8:16]
    except Exception:
        return 0
    return size


cdef Py_ssize_t address_into(object address, uint8_t* out) noexcept:
    """``address`` packed into out[0:16] when it is an exact str of an address this parser
    takes, exact bytes of 4 or 16, or an exact ``IPv4Address``/``IPv6Address``: its size;
    else 0, and ``_addr.packed`` decides."""
    cdef Py_ssize_t size
    kind = type(address)
    if kind is str:
        return _text_into(<str>address, out)
    if kind is bytes:
        size = PyBytes_GET_SIZE(address)
        if size == IPV4_ADDR_LEN or size == IPV6_ADDR_LEN:
            memcpy(out, PyBytes_AS_STRING(address), size)   # size <= 16
            return size
        return 0
    if kind is IPv4Address:
        return _number_into(address, IPV4_ADDR_LEN, out)
    if kind is IPv6Address:
        return _number_into(address, IPV6_ADDR_LEN, out)
    return 0


cdef Py_ssize_t pair_into(object src, object dst, uint8_t* src_out, uint8_t* dst_out) except -1:
    """Both addresses packed into src_out[0:16] and dst_out[0:16]: their size, 4 or 16.

    What :func:`address_into` takes is read in C; anything else goes to
    ``_addr.pair``, which raises the shared errors or returns two exact bytes
    of one size, 4 or 16, copied out.
    """
    cdef Py_ssize_t size = address_into(src, src_out)
    if size and address_into(dst, dst_out) == size:
        return size
    src_raw, dst_raw = _addr.pair(src, dst)
    size = PyBytes_GET_SIZE(src_raw)                  # 4 or 16, and so is dst_raw: pair checked
    memcpy(src_out, PyBytes_AS_STRING(src_raw), size)
    memcpy(dst_out, PyBytes_AS_STRING(dst_raw), size)
    return size


def parse(str text not None):
    """The packed bytes of the text address ``text`` when this parser takes it, else None."""
    cdef uint8_t out[IPV6_ADDR_LEN]
    cdef Py_ssize_t size = _text_into(text, out)
    return PyBytes_FromStringAndSize(<const char*>out, size) if size else None
