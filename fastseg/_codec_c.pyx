# cython: language_level=3
"""TCP header decoding and encoding in C: the compiled twin of ``_codec_py``.

The safety contract: every read of the input goes through ``p[i]`` or a
big-endian load at an index that an explicit comparison against the buffer or
header end, on the lines just above it, has shown to be in range; bounds
checking is switched off only in the functions marked so.  ``pack`` writes
into a 60-byte header array with a room check before every option, and into
the caller's buffer only after checking that all of it fits.

Encoding takes a fast path for the types ``unpack`` produces (exact ints,
bytes, tuples); anything else, and every error, is handed to the reference
twin, so both raise the same error for the same input by construction.
"""

cimport cython
from cpython.buffer cimport PyBUF_WRITABLE, Py_buffer, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.ref cimport Py_DECREF, Py_INCREF, PyObject
from libc.stdint cimport uint8_t, uint16_t, uint32_t
from libc.string cimport memcpy, memset

from fastseg._buffer cimport Bytes, acquire, release
from fastseg._uint cimport fastseg_uint
from fastseg._checksum_c cimport addresses, fold, pseudo_header, sum_native

from fastseg import _codec_py, errors
from fastseg.segment import KIND_OBJECTS, Flags, Segment

__all__ = ["pack", "pack_into", "unpack"]

cdef extern from *:
    """
    /* A Segment (a 13-field tuple subclass) holding new references to the fields:
       what tuple.__new__(Segment, (...)) does, without the call and the temporary tuple. */
    static PyObject* fastseg_segment(PyObject* cls, PyObject* f0, PyObject* f1, PyObject* f2,
            PyObject* f3, PyObject* f4, PyObject* f5, PyObject* f6, PyObject* f7, PyObject* f8,
            PyObject* f9, PyObject* f10, PyObject* f11, PyObject* f12) {
        PyObject* fields[13] = {f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12};
        Py_ssize_t i;
        PyObject* result = ((PyTypeObject*)cls)->tp_alloc((PyTypeObject*)cls, 13);
        if (result == NULL) return NULL;
        for (i = 0; i < 13; i++) {
            Py_INCREF(fields[i]);
            PyTuple_SET_ITEM(result, i, fields[i]);
        }
        return result;
    }
    """
    object fastseg_segment(object cls, object f0, object f1, object f2, object f3, object f4,
                           object f5, object f6, object f7, object f8, object f9, object f10,
                           object f11, object f12)

cdef extern from *:
    """
    /* A tuple made of the first n owned references in items (they are moved in). */
    static PyObject* fastseg_move_tuple(PyObject** items, Py_ssize_t n) {
        Py_ssize_t i;
        PyObject* result = PyTuple_New(n);
        if (result == NULL) {
            for (i = 0; i < n; i++) Py_DECREF(items[i]);
            return NULL;
        }
        for (i = 0; i < n; i++) PyTuple_SET_ITEM(result, i, items[i]);
        return result;
    }
    """
    tuple fastseg_move_tuple(PyObject** items, Py_ssize_t n)

cdef object _SEGMENT = Segment
if not (issubclass(Segment, tuple) and len(Segment._fields) == 13):
    raise ImportError("fastseg_segment() builds 13-field tuple subclasses only")
cdef tuple _KINDS = KIND_OBJECTS
cdef tuple _EMPTY = ()
cdef tuple _NOP = (KIND_OBJECTS[1], None)
cdef tuple _SACK_PERMITTED = (KIND_OBJECTS[4], None)
cdef list _FLAGS = [None] * 512


cdef inline uint16_t _be16(const uint8_t* p) noexcept nogil:
    return (p[0] << 8) | p[1]


cdef inline uint32_t _be32(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline void _put16(uint8_t* p, uint32_t value) noexcept nogil:
    p[0] = (value >> 8) & 0xFF
    p[1] = value & 0xFF


cdef inline void _put32(uint8_t* p, uint32_t value) noexcept nogil:
    p[0] = value >> 24
    p[1] = (value >> 16) & 0xFF
    p[2] = (value >> 8) & 0xFF
    p[3] = value & 0xFF


@cython.boundscheck(False)
@cython.wraparound(False)
cdef inline object _flags(uint32_t bits):
    """The Flags member for ``bits`` (< 512, masked by the caller), built once."""
    flags = _FLAGS[bits]
    if flags is None:
        flags = Flags(bits)
        _FLAGS[bits] = flags
    return flags


cdef int _problem(list problems, object anomaly) except -1:
    """Raise ``anomaly`` in strict mode (no list), else record it."""
    if problems is None:
        raise anomaly.exception()
    problems.append(anomaly)
    return 0


# ---------------------------------------------------------------- decoding

def unpack(data, *, strict=True):
    cdef Py_buffer view
    cdef Bytes raw
    keep = acquire(data, &view, &raw)
    try:
        return _unpack(raw.data, raw.size, None if strict else [])
    finally:
        release(&view, &raw)


@cython.boundscheck(False)
@cython.wraparound(False)
cdef object _unpack(const uint8_t* p, Py_ssize_t size, list problems):
    if size < 20:
        raise errors.short_buffer(size).exception()
    # From here on p[0:20] is readable.
    cdef uint32_t offset_flags = _be16(p + 12)
    cdef uint32_t data_offset = offset_flags >> 12
    cdef Py_ssize_t header_len = data_offset * 4
    cdef Py_ssize_t end
    if data_offset < 5:
        _problem(problems, errors.small_data_offset(data_offset))
    elif header_len > size:
        _problem(problems, errors.header_past_buffer(header_len, size))
    end = min(max(header_len, 20), size)  # 20 <= end <= size
    options = _unpack_options(p, end, problems) if end > 20 else _EMPTY
    return fastseg_segment(
        _SEGMENT, _be16(p), _be16(p + 2), _be32(p + 4), _be32(p + 8), header_len,
        _flags(offset_flags & 0x1FF), (offset_flags >> 9) & 0x7,
        _be16(p + 14), _be16(p + 16), _be16(p + 18), options,
        PyBytes_FromStringAndSize(<const char*>p + end, size - end),
        tuple(problems) if problems else _EMPTY,
    )


@cython.boundscheck(False)
@cython.wraparound(False)
cdef tuple _unpack_options(const uint8_t* p, Py_ssize_t end, list problems):
    """Walk the options in p[20:end]; ``end`` is at most the buffer size (and 60)."""
    cdef PyObject* items[40]  # every option takes at least one of the 40 option bytes
    cdef Py_ssize_t count = 0
    try:
        _walk_options(p, end, problems, items, &count)
    except BaseException:
        while count:
            count -= 1
            Py_DECREF(<object>items[count])
        raise
    return fastseg_move_tuple(items, count)


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int _walk_options(const uint8_t* p, Py_ssize_t end, list problems, PyObject** items,
                       Py_ssize_t* count) except -1:
    """Store an owned reference to each option in ``items``, counting them in ``count``."""
    cdef Py_ssize_t i = 20
    cdef Py_ssize_t length
    cdef uint8_t kind
    cdef object option
    while i < end:
        kind = p[i]  # i < end
        option = None
        if kind == 0:
            option = (_KINDS[0], PyBytes_FromStringAndSize(<const char*>p + i + 1, end - i - 1))
            i = end
        elif kind == 1:
            option = _NOP
            i += 1
        elif i + 1 >= end:
            _problem(problems, errors.missing_option_length(i, kind))
        else:
            length = p[i + 1]  # i + 1 < end
            if length < 2:
                _problem(problems, errors.small_option_length(i, kind, length))
            elif i + length > end:
                _problem(problems, errors.option_past_header(i, kind, length, end - i))
            else:
                option = _option(p + i, i, length, problems)  # p[i : i + length] within p[20:end]
                i += length
        if option is None:  # an unwalkable tail, kept raw (lenient mode only)
            option = (None, PyBytes_FromStringAndSize(<const char*>p + i, end - i))
            i = end
        Py_INCREF(option)
        items[count[0]] = <PyObject*>option
        count[0] += 1
    return 0


@cython.boundscheck(False)
@cython.wraparound(False)
cdef tuple _option(const uint8_t* o, Py_ssize_t offset, Py_ssize_t length, list problems):
    """One option whose ``length`` (>= 2) bytes at ``o`` are all readable."""
    cdef uint8_t kind = o[0]
    cdef Py_ssize_t i
    if kind == 2 and length == 4:
        return (_KINDS[2], _be16(o + 2))
    if kind == 3 and length == 3:
        return (_KINDS[3], o[2])
    if kind == 4 and length == 2:
        return _SACK_PERMITTED
    if kind == 8 and length == 10:
        return (_KINDS[8], (_be32(o + 2), _be32(o + 6)))
    if kind == 5 and length >= 10 and (length - 2) % 8 == 0:
        blocks = tuple([(_be32(o + i), _be32(o + i + 4)) for i in range(2, length, 8)])
        return (_KINDS[5], blocks)
    if kind == 2 or kind == 3 or kind == 4 or kind == 5 or kind == 8:
        _problem(problems, errors.wrong_option_length(offset, kind, length))
    return (_KINDS[kind], PyBytes_FromStringAndSize(<const char*>o + 2, length - 2))


# ---------------------------------------------------------------- encoding

cdef struct Encoded:
    uint8_t header[60]
    Py_ssize_t header_size      # bytes of header to write: max(header_len, 20)
    const uint8_t* payload      # borrowed from the segment's payload bytes
    Py_ssize_t payload_size
    uint8_t pseudo[40]
    Py_ssize_t pseudo_size      # 0 when the checksum is written as held


cdef inline bint _uint(object value, long long limit, long long* out) noexcept:
    """Store ``value`` when it is an int in [0, limit]; False sends the caller to the reference."""
    cdef unsigned long long number
    if not fastseg_uint(value, <unsigned long long>limit, &number):
        return False
    out[0] = <long long>number
    return True


cdef inline bint _put_pair(uint8_t* at, object pair) noexcept:
    """Write a (a, b) 2-tuple of 32-bit ints as 8 bytes (room checked by the caller)."""
    cdef long long a, b
    if type(pair) is not tuple or len(<tuple>pair) != 2:
        return False
    if not _uint((<tuple>pair)[0], 0xFFFFFFFF, &a) or not _uint((<tuple>pair)[1], 0xFFFFFFFF, &b):
        return False
    _put32(at, a)
    _put32(at + 4, b)
    return True


@cython.boundscheck(False)
@cython.wraparound(False)
cdef bint _put_option(uint8_t* h, Py_ssize_t* pos, object kind, object value) noexcept:
    """Append one option at ``h[pos]`` (pos <= 60); False when the reference must decide."""
    cdef long long k, number
    cdef Py_ssize_t n, start = pos[0]
    if kind is None:
        if type(value) is not bytes:
            return False
        n = len(<bytes>value)
        if start + n > 60:
            return False
        memcpy(h + start, PyBytes_AS_STRING(value), n)
        pos[0] = start + n
        return True
    if not _uint(kind, 0xFF, &k):
        return False
    if k == 0 or k == 1:
        if k == 1 and value is not None:
            return False
        if value is not None and type(value) is not bytes:
            return False
        n = 0 if value is None else len(<bytes>value)
        if start + 1 + n > 60:
            return False
        h[start] = <uint8_t>k
        if n:
            memcpy(h + start + 1, PyBytes_AS_STRING(value), n)
        pos[0] = start + 1 + n
        return True
    if type(value) is bytes:
        n = len(<bytes>value)
        if n > 253 or start + 2 + n > 60:
            return False
        memcpy(h + start + 2, PyBytes_AS_STRING(value), n)
    elif k == 2:
        n = 2
        if start + 4 > 60 or not _uint(value, 0xFFFF, &number):
            return False
        _put16(h + start + 2, number)
    elif k == 3:
        n = 1
        if start + 3 > 60 or not _uint(value, 0xFF, &number):
            return False
        h[start + 2] = <uint8_t>number
    elif k == 4 and value is None:
        n = 0
        if start + 2 > 60:
            return False
    elif k == 8:
        n = 8
        if start + 10 > 60 or not _put_pair(h + start + 2, value):
            return False
    elif k == 5:
        if type(value) is not tuple or not value:
            return False
        n = 0
        for pair in <tuple>value:
            if start + 10 + n > 60 or not _put_pair(h + start + 2 + n, pair):
                return False
            n += 8
    else:
        return False
    h[start] = <uint8_t>k
    h[start + 1] = <uint8_t>(n + 2)
    pos[0] = start + 2 + n
    return True


@cython.boundscheck(False)
@cython.wraparound(False)
cdef bint _encode(object segment, object src, object dst, Encoded* enc) except -1:
    """Fill ``enc``; False when the reference twin must encode (or raise) instead."""
    cdef long long src_port, dst_port, seq, ack, flags, reserved, window, checksum, urgent
    cdef long long header_len
    cdef Py_ssize_t pos = 20, total
    if type(segment) is not _SEGMENT:
        return False
    fields = <tuple>segment
    if not (_uint(fields[0], 0xFFFF, &src_port) and _uint(fields[1], 0xFFFF, &dst_port)
            and _uint(fields[2], 0xFFFFFFFF, &seq) and _uint(fields[3], 0xFFFFFFFF, &ack)
            and _uint(fields[5], 0x1FF, &flags) and _uint(fields[6], 0x7, &reserved)
            and _uint(fields[7], 0xFFFF, &window) and _uint(fields[8], 0xFFFF, &checksum)
            and _uint(fields[9], 0xFFFF, &urgent)):
        return False
    options = fields[10]
    if type(options) is not tuple:
        return False
    for option in <tuple>options:
        if type(option) is not tuple or len(<tuple>option) != 2:
            return False
        if not _put_option(enc.header, &pos, (<tuple>option)[0], (<tuple>option)[1]):
            return False
    # pos <= 60 now; header_len must hold the options (or be any multiple of 4 without them).
    if not _uint(fields[4], 60, &header_len) or header_len % 4 or (pos > 20 and header_len < pos):
        return False
    payload = fields[11]
    if type(payload) is not bytes:
        return False
    enc.header_size = max(<Py_ssize_t>header_len, 20)
    memset(enc.header + pos, 0, enc.header_size - pos)
    _put16(enc.header, src_port)
    _put16(enc.header + 2, dst_port)
    _put32(enc.header + 4, seq)
    _put32(enc.header + 8, ack)
    _put16(enc.header + 12, (header_len // 4) << 12 | reserved << 9 | flags)
    _put16(enc.header + 14, window)
    _put16(enc.header + 16, checksum)
    _put16(enc.header + 18, urgent)
    enc.payload = <const uint8_t*>PyBytes_AS_STRING(payload)
    enc.payload_size = len(<bytes>payload)
    enc.pseudo_size = 0
    if src is None and dst is None:
        return True
    if src is None or dst is None:
        return False
    src_raw, dst_raw = addresses(src, dst)
    total = enc.header_size + enc.payload_size
    if total > (0xFFFF if len(<bytes>src_raw) == 4 else 0xFFFFFFFF):
        return False
    enc.pseudo_size = pseudo_header(enc.pseudo, <bytes>src_raw, <bytes>dst_raw,
                                    len(<bytes>src_raw), total)
    return True


cdef void _write(Encoded* enc, uint8_t* out) noexcept:
    """Copy header and payload to ``out`` (room checked by the caller), then the checksum."""
    cdef uint32_t checksum
    memcpy(out, enc.header, enc.header_size)
    memcpy(out + enc.header_size, enc.payload, enc.payload_size)
    if enc.pseudo_size:
        out[16] = out[17] = 0
        checksum = fold(sum_native(enc.pseudo, enc.pseudo_size) + sum_native(out, enc.header_size)
                        + sum_native(enc.payload, enc.payload_size))
        _put16(out + 16, ~checksum & 0xFFFF)


def pack(segment, *, src=None, dst=None):
    cdef Encoded enc
    if not _encode(segment, src, dst, &enc):
        return _codec_py.pack(segment, src=src, dst=dst)
    out = PyBytes_FromStringAndSize(NULL, enc.header_size + enc.payload_size)
    _write(&enc, <uint8_t*>PyBytes_AS_STRING(out))
    return out


def pack_into(buffer, offset, segment, *, src=None, dst=None):
    cdef Encoded enc
    cdef Py_buffer view
    cdef long long start
    cdef Py_ssize_t size
    if not _encode(segment, src, dst, &enc):
        return _codec_py.pack_into(buffer, offset, segment, src=src, dst=dst)
    size = enc.header_size + enc.payload_size
    try:
        PyObject_GetBuffer(buffer, &view, PyBUF_WRITABLE)
    except Exception:  # read-only, not contiguous, not a buffer: the reference raises the error
        return _codec_py.pack_into(buffer, offset, segment, src=src, dst=dst)
    try:
        if not _uint(offset, view.len, &start) or start + size > view.len:
            return _codec_py.pack_into(buffer, offset, segment, src=src, dst=dst)
        _write(&enc, <uint8_t*>view.buf + start)
        return size
    finally:
        PyBuffer_Release(&view)
