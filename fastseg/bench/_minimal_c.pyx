# cython: language_level=3
"""The yardstick the speed issue names: minimal compiled routines that build the same
Python objects as ``unpack`` and ``pack``, timed beside them as the ``minimal``
implementation of those two operations.

They keep only what memory safety needs: no Segment (a tuple in the corpus' field
order instead), no lazy decoding, no anomalies or lenient mode, no keyword
arguments, no fallback for other types, and a bare ValueError for anything but a
well-formed segment.  fastseg's time over theirs is what its API costs; their own
ratio to dpkt is the most any decoder building these objects gets on the corpus.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from libc.stdint cimport uint8_t, uint32_t
from libc.string cimport memcpy, memset

from fastseg._checksum_c cimport fold, pseudo_header, sum_native
from fastseg._endian cimport be16, be32, put16, put32

__all__ = ["decode", "encode"]

cdef tuple _NOP = (1, None)
cdef tuple _SACK_PERMITTED = (4, None)


@cython.boundscheck(False)
@cython.wraparound(False)
cdef Py_ssize_t _count(const uint8_t* p, Py_ssize_t end) except -1:
    """The number of options in p[20:end] (``end`` at most the size); ValueError if one overruns."""
    cdef Py_ssize_t i = 20, count = 0
    while i < end and p[i] != 0:  # i < end
        if p[i] == 1:
            i += 1
        elif i + 1 >= end or p[i + 1] < 2 or i + p[i + 1] > end:  # p[i + 1] read when i + 1 < end
            raise ValueError("an option overruns the header")
        else:
            i += p[i + 1]
        count += 1
    return count


@cython.boundscheck(False)
@cython.wraparound(False)
cdef object _option(const uint8_t* o, Py_ssize_t length):
    """The option whose ``length`` bytes at ``o`` are readable (checked by ``_count``)."""
    cdef uint8_t kind = o[0]
    cdef Py_ssize_t k
    if kind == 8 and length == 10:
        return (8, (be32(o + 2), be32(o + 6)))
    if kind == 2 and length == 4:
        return (2, be16(o + 2))
    if kind == 3 and length == 3:
        return (3, o[2])
    if kind == 4 and length == 2:
        return _SACK_PERMITTED
    if kind == 5 and length >= 10 and (length - 2) % 8 == 0:
        return (5, tuple([(be32(o + k), be32(o + k + 4)) for k in range(2, length, 8)]))
    return (kind, PyBytes_FromStringAndSize(<const char*>o + 2, length - 2))


@cython.boundscheck(False)
@cython.wraparound(False)
def decode(bytes data not None):
    """The field tuple of a well-formed segment, options and payload included (an EOL
    option ends the options: what follows it is not returned)."""
    cdef const uint8_t* p = <const uint8_t*>PyBytes_AS_STRING(data)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(data), end, i = 20, n
    if size < 20:
        raise ValueError("shorter than a TCP header")
    end = (p[12] >> 4) * 4
    if end < 20 or end > size:
        raise ValueError("the data offset is outside the segment")
    cdef tuple options = PyTuple_New(_count(p, end))  # every option below is within p[20:end]
    for n in range(len(options)):
        if p[i] == 1:
            option = _NOP
            i += 1
        else:
            option = _option(p + i, p[i + 1])
            i += p[i + 1]
        Py_INCREF(option)  # the tuple takes this reference
        PyTuple_SET_ITEM(options, n, option)
    return (be16(p), be16(p + 2), be32(p + 4), be32(p + 8), end, be16(p + 12) & 0x1FF,
            be16(p + 14), be16(p + 16), be16(p + 18), options,
            PyBytes_FromStringAndSize(<const char*>p + end, size - end))


cdef Py_ssize_t _put_option(uint8_t* h, Py_ssize_t pos, Py_ssize_t end, int kind, object value) except -1:
    """Write one option of the corpus' kinds at h[pos], within h[:end]; the new position."""
    cdef Py_ssize_t length, k
    cdef tuple pair, blocks
    if kind == 1:
        length = 1
    elif kind == 4:
        length = 2
    elif kind == 3:
        length = 3
    elif kind == 2:
        length = 4
    elif kind == 8:
        length = 10
    elif kind == 5:
        blocks = value
        length = 2 + 8 * len(blocks)
    else:
        raise ValueError(f"option kind {kind} is not in the corpus")
    if pos + length > end:
        raise ValueError("the options do not fit the header")
    h[pos] = <uint8_t>kind
    if length > 1:
        h[pos + 1] = <uint8_t>length
    if kind == 3:
        h[pos + 2] = <uint8_t>(<int>value)
    elif kind == 2:
        put16(h + pos + 2, <uint32_t>value)
    elif kind == 8:
        pair = value
        put32(h + pos + 2, pair[0])
        put32(h + pos + 6, pair[1])
    elif kind == 5:
        for k in range(len(blocks)):
            pair = blocks[k]
            put32(h + pos + 2 + 8 * k, pair[0])
            put32(h + pos + 6 + 8 * k, pair[1])
    return pos + length


def encode(tuple fields not None, bytes src not None, bytes dst not None):
    """The wire form of a field tuple with the TCP checksum over the IPv4 ``src`` and ``dst``
    (the tuple's own checksum is ignored)."""
    cdef uint8_t header[60]
    cdef uint8_t pseudo[40]
    cdef Py_ssize_t header_len = fields[4], pos = 20, total
    cdef bytes payload = fields[10]
    cdef tuple options = fields[9]
    if len(src) != 4 or len(dst) != 4 or header_len < 20 or header_len > 60 or header_len % 4:
        raise ValueError("not an IPv4 pair, or not a header length")
    for kind, value in options:
        pos = _put_option(header, pos, header_len, kind, value)
    memset(header + pos, 0, header_len - pos)
    put16(header, fields[0])
    put16(header + 2, fields[1])
    put32(header + 4, fields[2])
    put32(header + 8, fields[3])
    put16(header + 12, (header_len // 4) << 12 | <uint32_t>fields[5])
    put16(header + 14, fields[6])
    put16(header + 16, 0)
    put16(header + 18, fields[8])
    total = header_len + len(payload)
    if total > 0xFFFF:
        raise ValueError("longer than an IPv4 packet allows")
    out = PyBytes_FromStringAndSize(NULL, total)
    cdef uint8_t* o = <uint8_t*>PyBytes_AS_STRING(out)
    memcpy(o, header, header_len)
    memcpy(o + header_len, PyBytes_AS_STRING(payload), len(payload))
    put16(o + 16, ~fold(sum_native(pseudo, pseudo_header(pseudo, <const uint8_t*>PyBytes_AS_STRING(src),
                                                         <const uint8_t*>PyBytes_AS_STRING(dst), 4, total))
                        + sum_native(o, total)) & 0xFFFF)
    return out
