# cython: language_level=3, auto_pickle=False
"""TCP options in C, the compiled twin of ``_options_py``: walk, validate, decode, encode.

The one compiled option walk.  ``step`` and ``misfit`` (inline, in
``_options_c.pxd``) are the walk's step and the length rule of the known
kinds; the storage's lazy getters and the codec decode with
``unpack_options`` and check with ``options_clean``, the codec encodes with
``put_option``, and the columns decoder runs ``step`` and ``misfit`` itself.

The safety contract: every read of ``p`` is at an index that ``step``, or a
comparison against ``end`` on the lines above, has shown to be in range;
``put_option`` checks the room in the 60-byte header before every write;
``option_length`` takes the same options without writing, for a Segment's
header_len.

From Python, ``decode`` and ``pack_option`` serve the tests that hold
this twin against ``_options_py``.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.ref cimport Py_DECREF, Py_INCREF, PyObject
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from libc.stdint cimport UINT32_MAX, uint8_t, uint16_t, uint32_t
from libc.string cimport memcpy

from fastseg._endian cimport be16, be32, put16, put32
from fastseg._uint cimport fastseg_uint
from fastseg._wire_c cimport (
    DATA_OFFSET, DATA_OFFSET_SHIFT, EOL, HEADER_LEN, KIND_LEN, MAX_HEADER_LEN, MAX_OPTION_DATA,
    MAX_OPTIONS_LEN, MAX_SACK_BLOCKS, NOP, OFFSET_UNIT, OPTION_KIND, OPTION_LENGTH, SACK, SACK_BLOCK_LEN,
    SACK_PERMITTED, TIMESTAMPS, TIMESTAMPS_LEN, U8, U16, U32_LEN, WSCALE,
)

from fastseg import errors
from fastseg._enums import KIND_OBJECTS

__all__ = ["decode", "pack_option"]

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

cdef enum:
    # NOP, NOP, timestamps: the layout RFC 7323 Appendix A suggests, read as one word.
    TS_LAYOUT = (NOP << 24) | (NOP << 16) | (TIMESTAMPS << 8) | TIMESTAMPS_LEN
    TS_START = HEADER_LEN + 2 * KIND_LEN                # the timestamps option, past the two NOPs
    TS_LAYOUT_END = TS_START + TIMESTAMPS_LEN
    TS_VALUES = TS_START + OPTION_HEAD_LEN              # where the two numbers of that layout start

if len(KIND_OBJECTS) != U8 + 1:
    raise ImportError("KIND_OBJECTS must hold an object for every kind byte")
cdef tuple _KINDS = KIND_OBJECTS
cdef tuple _NOP = (KIND_OBJECTS[NOP], None)
cdef tuple _SACK_PERMITTED = (KIND_OBJECTS[SACK_PERMITTED], None)
# The window-scale options, one for each shift, made at import and never changed.
cdef tuple _WINDOW_SCALES = tuple([(KIND_OBJECTS[WSCALE], shift) for shift in range(U8 + 1)])


# ---------------------------------------------------------------- walk and validate

cdef int problem(list problems, object anomaly) except -1:
    """Raise ``anomaly`` in strict mode (no list), else record it."""
    if problems is None:
        raise anomaly.exception()
    problems.append(anomaly)
    return 0


cdef bint options_clean(const uint8_t* p, Py_ssize_t end) noexcept nogil:
    """Whether the options in p[20:end] decode without a problem (``end`` at most the size)."""
    cdef Py_ssize_t i = HEADER_LEN
    cdef Py_ssize_t length = 0
    cdef int found
    while True:
        found = step(p, i, end, &length)
        if found == AT_END or found == AT_EOL:
            return True
        if found > AT_OPTION or (found == AT_OPTION and misfit(p[i], length)):
            return False
        i += length


# ---------------------------------------------------------------- decode

@cython.boundscheck(False)
@cython.wraparound(False)
cdef tuple unpack_options(const uint8_t* p, Py_ssize_t end, list problems):
    """Decode the options in p[20:end]; ``end`` is at most the buffer size (and 60).

    ``problems`` is None in strict mode, where the first problem raises.
    """
    cdef PyObject* items[MAX_OPTIONS_LEN]  # every option takes at least one of the option bytes
    cdef Py_ssize_t count = 0
    if end == TS_LAYOUT_END and be32(p + HEADER_LEN) == TS_LAYOUT:
        return (_NOP, _NOP, (_KINDS[TIMESTAMPS], _u32_pair(p + TS_VALUES)))
    try:
        _walk(p, end, problems, items, &count)
    except BaseException:
        while count:
            count -= 1
            Py_DECREF(<object>items[count])
        raise
    return fastseg_move_tuple(items, count)


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int _walk(const uint8_t* p, Py_ssize_t end, list problems, PyObject** items,
               Py_ssize_t* count) except -1:
    """Store an owned reference to each option in ``items``, counting them in ``count``."""
    cdef Py_ssize_t i = HEADER_LEN
    cdef Py_ssize_t length = 0
    cdef int found
    cdef object option
    while True:
        found = step(p, i, end, &length)
        if found == AT_END:
            return 0
        option = None
        if found == AT_EOL:
            option = (_KINDS[EOL], PyBytes_FromStringAndSize(<const char*>p + i + KIND_LEN,
                                                             end - i - KIND_LEN))
            i = end
        elif found == AT_NOP:
            option = _NOP
            i += length
        elif found == AT_OPTION:
            option = _option(p + i, i, length, problems)  # p[i : i + length] within p[20:end]
            i += length
        elif found == NO_LENGTH:
            problem(problems, errors.missing_option_length(i, p[i]))
        elif found == SMALL_LENGTH:
            problem(problems, errors.small_option_length(i, p[i], length))
        else:
            problem(problems, errors.option_past_header(i, p[i], length, end - i))
        if option is None:  # an unwalkable tail, kept raw (lenient mode only)
            option = (None, PyBytes_FromStringAndSize(<const char*>p + i, end - i))
            i = end
        Py_INCREF(option)
        items[count[0]] = <PyObject*>option
        count[0] += 1


cdef inline tuple _u32_pair(const uint8_t* o):
    """The two 32-bit numbers at o[0:8], a (TSval, TSecr) or a SACK block's edges."""
    return (be32(o), be32(o + U32_LEN))


cdef tuple _sack_blocks(const uint8_t* o, Py_ssize_t count):
    """The ``count`` SACK blocks at o[0:SACK_BLOCK_LEN * count]."""
    cdef tuple blocks = PyTuple_New(count)  # filled in order; a failure leaves NULLs, which it frees
    cdef Py_ssize_t k
    for k in range(count):
        block = _u32_pair(o + SACK_BLOCK_LEN * k)
        Py_INCREF(block)
        PyTuple_SET_ITEM(blocks, k, block)
    return blocks


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef tuple _option(const uint8_t* o, Py_ssize_t offset, Py_ssize_t length, list problems):
    """One option whose ``length`` (>= 2) bytes at ``o`` are all readable."""
    cdef uint8_t kind = o[OPTION_KIND]
    cdef const uint8_t* data = o + OPTION_HEAD_LEN
    if not misfit(kind, length):
        if kind == MSS:
            return (_KINDS[MSS], be16(data))
        if kind == WSCALE:
            return _WINDOW_SCALES[data[0]]
        if kind == SACK_PERMITTED:
            return _SACK_PERMITTED
        if kind == TIMESTAMPS:
            return (_KINDS[TIMESTAMPS], _u32_pair(data))
        if kind == SACK:
            return (_KINDS[SACK], _sack_blocks(data, (length - OPTION_HEAD_LEN) // SACK_BLOCK_LEN))
    else:
        problem(problems, errors.wrong_option_length(offset, kind, length))
    return (_KINDS[kind], PyBytes_FromStringAndSize(<const char*>data, length - OPTION_HEAD_LEN))


# ---------------------------------------------------------------- encode

cdef extern from "Python.h":
    # Borrowed references: encoding reads the options without writing to them, not even
    # to their reference counts.
    PyObject* _item "PyTuple_GET_ITEM"(PyObject* p, Py_ssize_t i) noexcept nogil
    Py_ssize_t _tuple_size "PyTuple_GET_SIZE"(PyObject* p) noexcept nogil
    bint _is_tuple "PyTuple_CheckExact"(PyObject* p) noexcept nogil
    bint _is_bytes "PyBytes_CheckExact"(PyObject* p) noexcept nogil
    Py_ssize_t _bytes_size "PyBytes_GET_SIZE"(PyObject* p) noexcept nogil
    const char* _bytes_data "PyBytes_AS_STRING"(PyObject* p) noexcept nogil


cdef inline bint _put_pair(uint8_t* at, PyObject* pair) noexcept:
    """Write a (a, b) 2-tuple of 32-bit ints as 8 bytes (room checked by the caller)."""
    cdef unsigned long long a, b
    if not _is_tuple(pair) or _tuple_size(pair) != 2:
        return False
    if not fastseg_uint(_item(pair, 0), UINT32_MAX, &a) or not fastseg_uint(_item(pair, 1), UINT32_MAX, &b):
        return False
    put32(at, <uint32_t>a)
    put32(at + U32_LEN, <uint32_t>b)
    return True


cdef inline bint _put_bytes(uint8_t* at, PyObject* value, Py_ssize_t room) noexcept:
    """Copy a bytes ``value`` of at most ``room`` bytes to ``at``."""
    if not _is_bytes(value) or _bytes_size(value) > room:
        return False
    memcpy(at, _bytes_data(value), _bytes_size(value))
    return True


@cython.boundscheck(False)
@cython.wraparound(False)
cdef bint put_option(uint8_t* h, Py_ssize_t* pos, PyObject* option) noexcept:
    """Append one (kind, value) option at ``h[pos]`` of a MAX_HEADER_LEN-byte header
    (pos <= MAX_HEADER_LEN); False when ``_options_py`` must decide (and raise, or not)."""
    cdef unsigned long long k, number
    cdef Py_ssize_t n, i, start = pos[0]
    cdef Py_ssize_t room = MAX_HEADER_LEN - start   # bytes left from h[start] on
    cdef PyObject* kind
    cdef PyObject* value
    cdef uint8_t* data = h + start + OPTION_HEAD_LEN
    if not _is_tuple(option) or _tuple_size(option) != 2:
        return False
    kind, value = _item(option, 0), _item(option, 1)
    if kind == <PyObject*>None:
        if not _put_bytes(h + start, value, room):
            return False
        pos[0] = start + _bytes_size(value)
        return True
    if not fastseg_uint(kind, U8, &k):
        return False
    if k == EOL or k == NOP:
        n = 0
        if value != <PyObject*>None:
            if k == NOP or not _put_bytes(h + start + KIND_LEN, value, room - KIND_LEN):
                return False
            n = _bytes_size(value)
        elif room < KIND_LEN:
            return False
        h[start + OPTION_KIND] = <uint8_t>k
        pos[0] = start + KIND_LEN + n
        return True
    if _is_bytes(value):
        n = _bytes_size(value)
        if n > MAX_OPTION_DATA or not _put_bytes(data, value, room - OPTION_HEAD_LEN):
            return False
    elif k == MSS:
        n = MSS_LEN - OPTION_HEAD_LEN
        if room < MSS_LEN or not fastseg_uint(value, U16, &number):
            return False
        put16(data, <uint32_t>number)
    elif k == WSCALE:
        n = WSCALE_LEN - OPTION_HEAD_LEN
        if room < WSCALE_LEN or not fastseg_uint(value, U8, &number):
            return False
        data[0] = <uint8_t>number
    elif k == SACK_PERMITTED and value == <PyObject*>None:
        n = SACK_PERMITTED_LEN - OPTION_HEAD_LEN
        if room < SACK_PERMITTED_LEN:
            return False
    elif k == TIMESTAMPS:
        n = TIMESTAMPS_LEN - OPTION_HEAD_LEN
        if room < TIMESTAMPS_LEN or not _put_pair(data, value):
            return False
    elif k == SACK:
        if not _is_tuple(value) or _tuple_size(value) == 0:
            return False
        n = 0
        for i in range(_tuple_size(value)):
            if room < OPTION_HEAD_LEN + n + SACK_BLOCK_LEN or not _put_pair(data + n, _item(value, i)):
                return False
            n += SACK_BLOCK_LEN
    else:
        return False
    h[start + OPTION_KIND] = <uint8_t>k
    h[start + OPTION_LENGTH] = <uint8_t>(n + OPTION_HEAD_LEN)
    pos[0] = start + OPTION_HEAD_LEN + n
    return True


cdef inline bint _is_pair(PyObject* pair) noexcept:
    """Whether ``pair`` is an (a, b) 2-tuple of 32-bit ints, as ``_put_pair`` takes it."""
    cdef unsigned long long a, b
    return (_is_tuple(pair) and _tuple_size(pair) == 2
            and fastseg_uint(_item(pair, 0), UINT32_MAX, &a)
            and fastseg_uint(_item(pair, 1), UINT32_MAX, &b))


cdef object constant_option(unsigned long long kind, object value):
    """The option ``unpack`` gives for ``kind`` holding this very ``value`` when it is one of
    the constant ones made at import (NOP, SACK-permitted, a window scale), else None."""
    cdef unsigned long long shift
    cdef tuple option
    if value is None:
        if kind == NOP:
            return _NOP
        if kind == SACK_PERMITTED:
            return _SACK_PERMITTED
    elif kind == WSCALE and fastseg_uint(<PyObject*>value, U8, &shift):
        option = _WINDOW_SCALES[shift]  # shift <= U8: in the table
        if option[1] is value:  # the same int object (CPython's cached small ints)
            return option
    return None


cdef Py_ssize_t option_length(PyObject* option) noexcept:
    """The bytes one (kind, value) option takes on the wire, found without writing them;
    -1 when ``_options_py.pack_options`` must decide (and raise, or not).

    It takes what ``put_option`` takes, without the room of one header: a Segment's
    header_len follows from the options before any header is written.
    """
    cdef unsigned long long k, number
    cdef Py_ssize_t i, blocks
    cdef PyObject* kind
    cdef PyObject* value
    if not _is_tuple(option) or _tuple_size(option) != 2:
        return -1
    kind, value = _item(option, 0), _item(option, 1)
    if kind == <PyObject*>None:
        return _bytes_size(value) if _is_bytes(value) else -1
    if not fastseg_uint(kind, U8, &k):
        return -1
    if k == EOL or k == NOP:
        if value == <PyObject*>None:
            return KIND_LEN
        if k == NOP or not _is_bytes(value):
            return -1
        return KIND_LEN + _bytes_size(value)
    if _is_bytes(value):
        if _bytes_size(value) > MAX_OPTION_DATA:
            return -1
        return OPTION_HEAD_LEN + _bytes_size(value)
    if k == MSS:
        return MSS_LEN if fastseg_uint(value, U16, &number) else -1
    if k == WSCALE:
        return WSCALE_LEN if fastseg_uint(value, U8, &number) else -1
    if k == SACK_PERMITTED and value == <PyObject*>None:
        return SACK_PERMITTED_LEN
    if k == TIMESTAMPS:
        return TIMESTAMPS_LEN if _is_pair(value) else -1
    if k == SACK:
        if not _is_tuple(value):
            return -1
        blocks = _tuple_size(value)
        if blocks == 0 or blocks > MAX_SACK_BLOCKS:
            return -1
        for i in range(blocks):
            if not _is_pair(_item(value, i)):
                return -1
        return OPTION_HEAD_LEN + SACK_BLOCK_LEN * blocks
    return -1


# ---------------------------------------------------------------- for the tests

def decode(header, bint strict=True):
    """(options, anomalies) of the header bytes ``header``, walked as ``unpack`` walks them:
    the options in header[20:end], end = min(max(header_len, 20), len(header))."""
    cdef bytes raw = bytes(header)
    cdef const uint8_t* p = <const uint8_t*>PyBytes_AS_STRING(raw)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(raw)
    cdef Py_ssize_t end
    if size < HEADER_LEN:
        raise ValueError(f"a header has at least {HEADER_LEN} bytes, got {size}")
    end = min(max((be16(p + DATA_OFFSET) >> DATA_OFFSET_SHIFT) * OFFSET_UNIT, HEADER_LEN), size)
    problems = None if strict else []
    options = unpack_options(p, end, problems)
    return options, tuple(problems or ())


def pack_option(option):
    """The wire bytes of one option when the compiled encoder takes it, else None."""
    cdef uint8_t header[MAX_HEADER_LEN]
    cdef Py_ssize_t pos = 0
    if not put_option(header, &pos, <PyObject*>option):
        return None
    return PyBytes_FromStringAndSize(<const char*>header, pos)
