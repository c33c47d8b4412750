# cython: language_level=3, binding=True
"""The compiled baselines fastseg is measured against, timed beside it as ``minimal``,
``plain loop`` and ``empty call``.

``decode`` and ``encode`` build and read the same Python objects as ``unpack``
and ``pack`` with only what memory safety needs: a bare ``Record`` (a compiled
object with read-only attributes) for a Segment, a tuple of fields to encode,
no lazy decoding, no anomalies or lenient mode, no keyword arguments, no
fallback for other types, and a bare ValueError for anything but a well-formed
segment.  fastseg's time over theirs is what its
API costs.  ``plain_checksum`` is RFC 1071's loop written plainly in C, and
``empty`` a function doing nothing, compiled as fastseg's own functions are
(``binding=True``), the floor of any call with two arguments.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.ref cimport Py_INCREF, PyObject
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset

from fastseg._checksum_c cimport fold, pseudo_header, sum_native
from fastseg._endian cimport be16, be32, put16, put32

__all__ = ["Record", "decode", "empty", "encode", "plain_checksum"]

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


cdef extern from *:
    """
    #include <structmember.h>
    /* A Record: the object header and the eleven fields, read through member descriptors
       (the attribute path CPython specialises for __slots__), made with public API only. */
    #define RECORD_FIELDS 11
    typedef struct { PyObject_HEAD PyObject* fields[RECORD_FIELDS]; } Record;
    #define RECORD_MEMBER(i, name) {name, T_OBJECT_EX, offsetof(Record, fields) + i * sizeof(PyObject*), READONLY, NULL}
    static PyMemberDef record_members[] = {
        RECORD_MEMBER(0, "src_port"), RECORD_MEMBER(1, "dst_port"), RECORD_MEMBER(2, "seq"),
        RECORD_MEMBER(3, "ack"), RECORD_MEMBER(4, "header_len"), RECORD_MEMBER(5, "flags"),
        RECORD_MEMBER(6, "window"), RECORD_MEMBER(7, "checksum"), RECORD_MEMBER(8, "urgent"),
        RECORD_MEMBER(9, "options"), RECORD_MEMBER(10, "payload"), {NULL},
    };
    static void record_dealloc(PyObject* self) {
        PyTypeObject* type = Py_TYPE(self);
        int i;
        for (i = 0; i < RECORD_FIELDS; i++) Py_CLEAR(((Record*)self)->fields[i]);
        PyObject_Free(self);
        Py_DECREF(type);
    }
    static PyType_Slot record_slots[] = {
        {Py_tp_members, record_members}, {Py_tp_dealloc, record_dealloc},
        {Py_tp_doc, "A decoded segment with nothing else: its fields as read-only attributes."}, {0, NULL},
    };
    static PyType_Spec record_spec = {"harness._minimal_c.Record", sizeof(Record), 0, Py_TPFLAGS_DEFAULT, record_slots};
    /* A new Record holding these eleven references (stolen, all non-NULL), or NULL. */
    static PyObject* record_new(PyObject* type, PyObject** values) {
        int i;
        Record* self = PyObject_New(Record, (PyTypeObject*)type);
        if (self == NULL) {
            for (i = 0; i < RECORD_FIELDS; i++) Py_DECREF(values[i]);
            return NULL;
        }
        for (i = 0; i < RECORD_FIELDS; i++) self->fields[i] = values[i];
        return (PyObject*)self;
    }
    """
    object PyType_FromSpec(void* spec)
    void* record_spec_address "(&record_spec)"
    object record_new(object type, PyObject** values)

#: The Record type: a compiled object of eleven read-only fields (no cycles: its
#: fields are ints, a tuple of ints and bytes, so it needs no garbage collection).
Record = PyType_FromSpec(record_spec_address)


cdef inline PyObject* _new(object value) noexcept:
    """A new reference to ``value``, for record_new to steal."""
    Py_INCREF(value)
    return <PyObject*>value


@cython.boundscheck(False)
@cython.wraparound(False)
def decode(bytes data not None):
    """A Record of a well-formed segment, options and payload built at once (an EOL option
    ends the options: what follows it is not kept)."""
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
    src_port, dst_port, seq, ack = be16(p), be16(p + 2), be32(p + 4), be32(p + 8)
    flags, window, checksum, urgent = be16(p + 12) & 0x1FF, be16(p + 14), be16(p + 16), be16(p + 18)
    payload = PyBytes_FromStringAndSize(<const char*>p + end, size - end)
    cdef PyObject* values[11]  # every object is made: _new cannot fail
    values[:] = [_new(src_port), _new(dst_port), _new(seq), _new(ack), _new(end), _new(flags),
                 _new(window), _new(checksum), _new(urgent), _new(options), _new(payload)]
    return record_new(Record, values)


@cython.boundscheck(False)
@cython.wraparound(False)
def plain_checksum(bytes data not None):
    """RFC 1071 §4.1's loop over ``data``: big-endian 16-bit words, a zero pad for an odd
    tail, end-around carry, complemented."""
    cdef const uint8_t* p = <const uint8_t*>PyBytes_AS_STRING(data)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(data), i
    cdef uint64_t total = 0
    for i in range(0, size - 1, 2):  # i + 1 < size
        total += (<uint32_t>p[i] << 8) | p[i + 1]
    if size % 2:
        total += <uint32_t>p[size - 1] << 8
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def empty(a, b):
    """Does nothing: the cost of calling a compiled function with two arguments."""


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
