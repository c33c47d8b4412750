# cython: language_level=3
"""TCP header decoding and encoding in C: the compiled twin of ``_codec_py``.

The safety contract: every read of the input goes through ``p[i]`` or a
big-endian load at an index that an explicit comparison against the buffer or
header end, on the lines just above it, has shown to be in range; bounds
checking is switched off only in the functions marked so.  ``pack`` writes
into a 60-byte header array with a room check before every option, and into
the caller's buffer only after checking that all of it fits.

Encoding takes a fast path for the types ``unpack`` produces (exact ints,
bytes, tuples) and for addresses given as 4- or 16-byte bytes, as text or as
``ipaddress`` objects (read in C by ``_addr_c``); anything else, and every error, is handed to
the reference twin, so both raise the same error for the same input by
construction.

The public functions carry the reference twin's docstrings (set below) and,
being Cython function objects, their signatures for ``inspect``.
"""

cimport cython
from cpython.buffer cimport PyBUF_WRITABLE, Py_buffer, PyBuffer_Release, PyObject_GetBuffer
from cpython.ref cimport PyObject
from cpython.bytes cimport (
    PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE,
)
from cpython.tuple cimport PyTuple_GET_ITEM
from libc.stdint cimport UINT32_MAX, uint8_t, uint16_t, uint32_t
from libc.string cimport memcpy, memset

from fastseg._addr_c cimport pair_into
from fastseg._buffer cimport Bytes, acquire, release
from fastseg._checksum_c cimport fold, pseudo_header, sum_native
from fastseg._endian cimport be16, be32, put16, put32
from fastseg._options_c cimport options_clean, problem, put_option, unpack_options
from fastseg._segment_c cimport (
    F_ACK, F_CHECKSUM, F_DST_PORT, F_FLAGS, F_HEADER_LEN, F_RESERVED, F_SEQ, F_SRC_PORT, F_URGENT,
    F_WINDOW, N_EAGER, SegmentBase, make, options_of, payload_of,
)
from fastseg._segment_c cimport fields as segment_fields, release as release_fields
from fastseg._uint cimport fastseg_uint
from fastseg._wire_c cimport (
    ACK, CHECKSUM, DATA_OFFSET, DATA_OFFSET_SHIFT, DST_PORT, FLAG_BITS, HEADER_LEN, IPV4_ADDR_LEN,
    IPV6_ADDR_LEN, MAX_HEADER_LEN, MIN_DATA_OFFSET, OFFSET_UNIT, PSEUDO_HEADER_MAX, RESERVED_BITS,
    RESERVED_SHIFT, SEQ, SRC_PORT, U16, URGENT, WINDOW,
)

from fastseg import _codec_py, _segment_c, errors  # _codec_py first: it defines and adopts Segment
from fastseg._enums import Flags

__all__ = ["pack", "pack_into", "unpack"]

cdef extern from *:
    """
    /* Ask for the cache lines of p[0:size] before they are used: bytes read from a corpus
       that does not fit in the caches arrive while other work is done.  A hint only: it
       reads nothing, cannot fault, and changes no result. */
    static inline void fastseg_prefetch(const uint8_t* p, Py_ssize_t size) {
    #if defined(__GNUC__) || defined(__clang__)
        uintptr_t line = (uintptr_t)p & ~(uintptr_t)63, stop = (uintptr_t)p + (uintptr_t)size;
        for (; line < stop; line += 64) __builtin_prefetch((const void*)line);
    #else
        (void)p; (void)size;
    #endif
    }
    """
    void fastseg_prefetch(const uint8_t* p, Py_ssize_t size) noexcept nogil

cdef type _SEGMENT = _segment_c.adopted()
if _SEGMENT is None:
    raise ImportError("the compiled codec needs Segment on the compiled storage (_segment_c), "
                      "but it was built on _segment_py")
cdef tuple _EMPTY = ()
cdef bytes _NO_BYTES = b""
# The Flags member of every combination of the flag bits, made once at import and never
# changed: a shared table that needs no lock.
cdef tuple _FLAGS = tuple([Flags(bits) for bits in range(FLAG_BITS + 1)])


# ---------------------------------------------------------------- decoding

def unpack(data, *, strict=True):
    cdef Py_buffer view
    cdef Bytes raw
    if not PyBytes_CheckExact(data):  # an immutable copy: what is checked is what is kept
        keep = acquire(data, &view, &raw)
        try:
            data = PyBytes_FromStringAndSize(<const char*>raw.data, raw.size)
        finally:
            release(&view, &raw)
    return unpack_bytes(data, strict)


cdef SegmentBase unpack_bytes(bytes data, bint strict):
    """``unpack(data, strict=strict)`` for a bytes object, callable from C."""
    return _unpack(<const uint8_t*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), strict, data)


cdef SegmentBase unpack_now(const uint8_t* p, Py_ssize_t size, bint strict):
    """Decode the ``size`` bytes at ``p`` completely, keeping no reference to them: for a
    caller whose buffer is reused (the capture reader), which saves copying it first."""
    return _unpack(p, size, strict, None)


@cython.boundscheck(False)
@cython.wraparound(False)
cdef SegmentBase _unpack(const uint8_t* p, Py_ssize_t size, bint strict, bytes data):
    """Decode p[0:size], the contents of ``data``, or all at once when ``data`` is None."""
    if size < HEADER_LEN:
        raise errors.short_buffer(size).exception()
    # From here on p[0:HEADER_LEN] is readable.
    cdef uint32_t offset_flags = be16(p + DATA_OFFSET)
    cdef uint32_t data_offset = offset_flags >> DATA_OFFSET_SHIFT
    cdef Py_ssize_t header_len = data_offset * OFFSET_UNIT
    cdef Py_ssize_t end
    cdef bint clean = (data_offset >= MIN_DATA_OFFSET and header_len <= size
                       and options_clean(p, header_len))
    cdef bytes raw = None
    if clean and data is not None:
        # Well-formed: options and payload are decoded when first read, from these bytes.
        options = _EMPTY if header_len == HEADER_LEN else None
        payload = _NO_BYTES if header_len == size else None
        if options is None or payload is None:
            raw = data
        if payload is None:
            fastseg_prefetch(p + header_len, size - header_len)
        anomalies = _EMPTY
    else:
        problems = None if strict or clean else []  # a well-formed segment needs no list
        if data_offset < MIN_DATA_OFFSET:
            problem(problems, errors.small_data_offset(data_offset))
        elif header_len > size:
            problem(problems, errors.header_past_buffer(header_len, size))
        end = min(max(header_len, HEADER_LEN), size)  # HEADER_LEN <= end <= size
        options = unpack_options(p, end, problems) if end > HEADER_LEN else _EMPTY
        payload = PyBytes_FromStringAndSize(<const char*>p + end, size - end)
        anomalies = tuple(problems) if problems else _EMPTY
    return make(_SEGMENT, be16(p + SRC_PORT), be16(p + DST_PORT), be32(p + SEQ), be32(p + ACK),
                header_len, <object>PyTuple_GET_ITEM(_FLAGS, offset_flags & FLAG_BITS),
                (offset_flags >> RESERVED_SHIFT) & RESERVED_BITS, be16(p + WINDOW),
                be16(p + CHECKSUM), be16(p + URGENT), anomalies, options, payload, raw)


# ---------------------------------------------------------------- encoding

cdef struct Encoded:
    uint8_t header[MAX_HEADER_LEN]
    Py_ssize_t header_size      # bytes of header to write: max(header_len, HEADER_LEN)
    const uint8_t* payload      # borrowed from the segment's payload bytes
    Py_ssize_t payload_size
    uint8_t pseudo[PSEUDO_HEADER_MAX]
    Py_ssize_t pseudo_size      # 0 when the checksum is written as held


cdef extern from "Python.h":
    # Borrowed references: encoding reads the segment's objects without writing to them,
    # not even to their reference counts.
    PyObject* _item "PyTuple_GET_ITEM"(PyObject* p, Py_ssize_t i) noexcept nogil
    Py_ssize_t _tuple_size "PyTuple_GET_SIZE"(PyObject* p) noexcept nogil


cdef inline bint _uint(PyObject* value, long long limit, long long* out) noexcept:
    """Store ``value`` when it is an int in [0, limit]; False sends the caller to the reference."""
    cdef unsigned long long number
    if value == NULL or not fastseg_uint(value, <unsigned long long>limit, &number):
        return False
    out[0] = <long long>number
    return True


@cython.boundscheck(False)
@cython.wraparound(False)
cdef bint _encode(object segment, object src, object dst, Encoded* enc) except -1:
    """Fill ``enc``; False when the reference twin must encode (or raise) instead."""
    cdef long long src_port, dst_port, seq, ack, flags, reserved, window, checksum, urgent
    cdef long long header_len
    cdef Py_ssize_t pos = HEADER_LEN, total, i, size
    cdef PyObject* values[N_EAGER]
    cdef bint ok
    cdef uint8_t src_addr[IPV6_ADDR_LEN]
    cdef uint8_t dst_addr[IPV6_ADDR_LEN]
    if type(segment) is not _SEGMENT:
        return False
    cdef SegmentBase fields = <SegmentBase>segment
    payload = payload_of(fields)
    if type(payload) is bytes:  # its lines load while the header is built
        fastseg_prefetch(<const uint8_t*>PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload))
    options = options_of(fields)
    if type(options) is not tuple:
        return False
    for i in range(_tuple_size(<PyObject*>options)):
        if not put_option(enc.header, &pos, _item(<PyObject*>options, i)):
            return False
    if not segment_fields(fields, values):  # new references, released below
        return False
    ok = (_uint(values[F_SRC_PORT], U16, &src_port)
          and _uint(values[F_DST_PORT], U16, &dst_port)
          and _uint(values[F_SEQ], UINT32_MAX, &seq)
          and _uint(values[F_ACK], UINT32_MAX, &ack)
          and _uint(values[F_FLAGS], FLAG_BITS, &flags)
          and _uint(values[F_RESERVED], RESERVED_BITS, &reserved)
          and _uint(values[F_WINDOW], U16, &window)
          and _uint(values[F_CHECKSUM], U16, &checksum)
          and _uint(values[F_URGENT], U16, &urgent)
          and _uint(values[F_HEADER_LEN], MAX_HEADER_LEN, &header_len))
    release_fields(values, N_EAGER)
    # pos <= MAX_HEADER_LEN now; header_len must hold the options (or be any multiple of
    # OFFSET_UNIT without them).
    if not ok or header_len % OFFSET_UNIT or (pos > HEADER_LEN and header_len < pos):
        return False
    if type(payload) is not bytes:
        return False
    enc.header_size = max(<Py_ssize_t>header_len, HEADER_LEN)
    memset(enc.header + pos, 0, enc.header_size - pos)
    put16(enc.header + SRC_PORT, src_port)
    put16(enc.header + DST_PORT, dst_port)
    put32(enc.header + SEQ, seq)
    put32(enc.header + ACK, ack)
    put16(enc.header + DATA_OFFSET, (header_len // OFFSET_UNIT) << DATA_OFFSET_SHIFT
          | reserved << RESERVED_SHIFT | flags)
    put16(enc.header + WINDOW, window)
    put16(enc.header + CHECKSUM, checksum)
    put16(enc.header + URGENT, urgent)
    enc.payload = <const uint8_t*>PyBytes_AS_STRING(payload)
    enc.payload_size = len(<bytes>payload)
    enc.pseudo_size = 0
    if src is None and dst is None:
        return True
    if src is None or dst is None:
        return False
    size = pair_into(src, dst, src_addr, dst_addr)  # raises _addr's errors
    total = enc.header_size + enc.payload_size
    if total > (U16 if size == IPV4_ADDR_LEN else UINT32_MAX):
        return False
    enc.pseudo_size = pseudo_header(enc.pseudo, src_addr, dst_addr, size, total)
    return True


cdef void _write(Encoded* enc, uint8_t* out) noexcept:
    """Copy header and payload to ``out`` (room checked by the caller), then the checksum."""
    cdef uint32_t checksum
    memcpy(out, enc.header, enc.header_size)
    memcpy(out + enc.header_size, enc.payload, enc.payload_size)
    if enc.pseudo_size:
        put16(out + CHECKSUM, 0)
        checksum = fold(sum_native(enc.pseudo, enc.pseudo_size)
                        + sum_native(out, enc.header_size + enc.payload_size))
        put16(out + CHECKSUM, ~checksum & U16)


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
        if not _uint(<PyObject*>offset, view.len, &start) or start + size > view.len:
            return _codec_py.pack_into(buffer, offset, segment, src=src, dst=dst)
        _write(&enc, <uint8_t*>view.buf + start)
        return size
    finally:
        PyBuffer_Release(&view)


for _function in (unpack, pack, pack_into):
    _function.__doc__ = getattr(_codec_py, _function.__name__).__doc__
