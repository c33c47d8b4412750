# cython: language_level=3, auto_pickle=False
"""The storage of a Segment in C: eager header fields, options and payload decoded on first use.

``segment.Segment`` subclasses :class:`SegmentCore` and calls :func:`adopt` on
itself, which gives it read-only member descriptors for the eager fields, so
reading ``seg.seq`` takes CPython's fast path for slots rather than a property
call.  The compiled ``unpack`` keeps the segment's bytes and decodes options
and payload when they are first read; it does so only for segments whose
options it has already walked and found well-formed (:func:`options_clean`),
so the later decoding cannot fail.

The option walker lives here too, because the lazy getters need it; its safety
contract is the codec's: every read of ``p`` is at an index that a comparison
against ``end`` on the lines above has shown to be in range.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.object cimport PyTypeObject
from cpython.ref cimport Py_DECREF, Py_INCREF, PyObject
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from libc.stdint cimport uint8_t, uint16_t

from fastseg._endian cimport be16, be32
from fastseg._uint cimport fastseg_u32_long

from fastseg import errors
from fastseg._enums import KIND_OBJECTS

__all__ = ["SegmentCore", "adopt", "adopted", "new"]

cdef extern from *:
    """
    #include "structmember.h"
    /* Read-only descriptors for the eager fields, offsets filled in by fastseg_overlay. */
    #define FASTSEG_MEMBER(name) {name, T_OBJECT_EX, 0, READONLY, NULL}
    static PyMemberDef fastseg_members[11] = {
        FASTSEG_MEMBER("src_port"), FASTSEG_MEMBER("dst_port"), FASTSEG_MEMBER("seq"),
        FASTSEG_MEMBER("ack"), FASTSEG_MEMBER("header_len"), FASTSEG_MEMBER("flags"),
        FASTSEG_MEMBER("reserved"), FASTSEG_MEMBER("window"), FASTSEG_MEMBER("checksum"),
        FASTSEG_MEMBER("urgent"), FASTSEG_MEMBER("anomalies"),
    };

    /* Set a descriptor on cls for each member, the first at offset `first`, the rest after it. */
    static int fastseg_overlay(PyObject* cls, Py_ssize_t first) {
        Py_ssize_t i;
        for (i = 0; i < 11; i++) {
            PyObject* descriptor;
            int failed;
            fastseg_members[i].offset = first + i * (Py_ssize_t)sizeof(PyObject*);
            descriptor = PyDescr_NewMember((PyTypeObject*)cls, &fastseg_members[i]);
            if (descriptor == NULL) return -1;
            failed = PyObject_SetAttrString(cls, fastseg_members[i].name, descriptor);
            Py_DECREF(descriptor);
            if (failed) return -1;
        }
        return 0;
    }
    """
    int fastseg_overlay(object cls, Py_ssize_t first) except -1
    # Expanded where used, after Cython has defined the struct.
    Py_ssize_t FIRST_OFFSET "offsetof(struct FastsegSegmentObject, src_port)"
    Py_ssize_t LAST_OFFSET "offsetof(struct FastsegSegmentObject, _raw)"
    Py_ssize_t POINTER_SIZE "sizeof(PyObject*)"
    Py_ssize_t HEADER_SIZE "sizeof(PyObject)"
    Py_ssize_t OBJECT_SIZE "sizeof(struct FastsegSegmentObject)"

cdef extern from "Python.h":
    unsigned long Py_TPFLAGS_IS_ABSTRACT
    bint PyType_HasFeature(PyTypeObject* type, unsigned long feature)

cdef extern from *:
    """
    /* A new cls with the 14 fields from `first` on set to new references to values[0..13].
       SegmentCore's tp_new would first set each field to None, then each assignment would
       drop that None again: 28 updates of one reference count, which the CPU has to make
       one after another.  cls->tp_alloc zeroes the object first; when `bare` (the adopted
       class: SegmentCore's fields and nothing else) it is not zeroed, since the header and
       these 14 fields are all of it. */
    static PyObject* fastseg_filled(PyTypeObject* cls, int bare, Py_ssize_t first,
                                    PyObject* const* values) {
        Py_ssize_t i;
        PyObject* self = bare ? (PyObject*)PyObject_GC_New(PyObject, cls) : cls->tp_alloc(cls, 0);
        if (self == NULL) return NULL;
        for (i = 0; i < 14; i++) {
            Py_INCREF(values[i]);
            ((PyObject**)((char*)self + first))[i] = values[i];
        }
        if (bare) PyObject_GC_Track(self);
        return self;
    }

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
    object fastseg_filled(PyTypeObject* cls, bint bare, Py_ssize_t first, PyObject** values)

cdef tuple _KINDS = KIND_OBJECTS
cdef tuple _NOP = (KIND_OBJECTS[1], None)
cdef tuple _SACK_PERMITTED = (KIND_OBJECTS[4], None)
# The window-scale options, and the MSS options made on first use and kept (at most 65536,
# about 4 MiB): SYNs repeat a few values of each, and a kept tuple costs less than a new
# tuple and int.
cdef tuple _WINDOW_SCALES = tuple([(KIND_OBJECTS[3], shift) for shift in range(256)])
cdef PyObject* _MSS_OPTIONS[65536]
cdef type _ADOPTED = None

# adopt() and make() rely on it: the object is its header, then the 14 fields.
if not (FIRST_OFFSET == HEADER_SIZE and LAST_OFFSET == FIRST_OFFSET + 13 * POINTER_SIZE
        and OBJECT_SIZE == LAST_OFFSET + POINTER_SIZE):
    raise ImportError("SegmentCore's fields are not laid out one after another")


cdef public class SegmentCore [object FastsegSegmentObject, type FastsegSegmentType]:
    """The fields of a Segment; use :class:`fastseg.Segment`, which builds on it."""

    @property
    def options(self):
        return options_of(self)

    @property
    def payload(self):
        return payload_of(self)

    def __setattr__(self, name, value):
        raise AttributeError(f"Segment is immutable: use replace() to change {name!r}")

    def __delattr__(self, name):
        raise AttributeError(f"Segment is immutable: cannot delete {name!r}")



cdef object options_of(SegmentCore self):
    """The options, decoded from the kept bytes on first use."""
    cdef bytes raw = self._raw  # a reference of its own: decoding allocates, which can run
    cdef const uint8_t* p       # code (a GC callback, a __del__) that reads and drops _raw
    if self._options is None and raw is not None:
        p = <const uint8_t*>PyBytes_AS_STRING(raw)
        options = unpack_options(p, (p[12] >> 4) * 4, None)  # checked clean by unpack
        if self._options is None:
            self._options = options
        _drop_raw(self)
    return self._options


cdef object payload_of(SegmentCore self):
    """The payload, copied from the kept bytes on first use."""
    cdef bytes raw = self._raw  # see options_of
    cdef const uint8_t* p
    cdef Py_ssize_t start
    if self._payload is None and raw is not None:
        p = <const uint8_t*>PyBytes_AS_STRING(raw)
        start = (p[12] >> 4) * 4  # at most the size: unpack checked it
        payload = PyBytes_FromStringAndSize(<const char*>p + start, PyBytes_GET_SIZE(raw) - start)
        if self._payload is None:
            self._payload = payload
        _drop_raw(self)
    return self._payload


cdef inline void _drop_raw(SegmentCore self):
    if self._options is not None and self._payload is not None:
        self._raw = None


def adopt(cls):
    """Make ``cls`` (a direct subclass adding no slots) the class that unpack builds,
    and give it fast read-only descriptors for the eager fields.  Once only."""
    global _ADOPTED
    if not (type(cls) is type and (<PyTypeObject*>cls).tp_base == <PyTypeObject*>SegmentCore
            and (<PyTypeObject*>cls).tp_basicsize == (<PyTypeObject*>SegmentCore).tp_basicsize):
        raise TypeError("adopt() takes a direct subclass of SegmentCore with __slots__ = ()")
    if _ADOPTED is not None and cls is not _ADOPTED:
        raise TypeError(f"SegmentCore already serves {_ADOPTED!r}")
    fastseg_overlay(cls, FIRST_OFFSET)
    _ADOPTED = cls


def adopted():
    """The class :func:`adopt` was given, or None."""
    return _ADOPTED


cdef SegmentCore make(type cls, object src_port, object dst_port, object seq, object ack,
                      object header_len, object flags, object reserved, object window,
                      object checksum, object urgent, object anomalies, object options,
                      object payload, bytes raw):
    """A new ``cls`` (SegmentCore or a subclass) holding these values, as they are."""
    cdef PyObject* values[14]
    values[:] = [<PyObject*>src_port, <PyObject*>dst_port, <PyObject*>seq, <PyObject*>ack,
                 <PyObject*>header_len, <PyObject*>flags, <PyObject*>reserved, <PyObject*>window,
                 <PyObject*>checksum, <PyObject*>urgent, <PyObject*>anomalies, <PyObject*>options,
                 <PyObject*>payload, <PyObject*>raw]
    return <SegmentCore>fastseg_filled(<PyTypeObject*>cls, cls is _ADOPTED, FIRST_OFFSET, values)


def new(cls, src_port, dst_port, seq, ack, header_len, flags, reserved, window, checksum, urgent,
        options, payload, anomalies):
    """A ``cls`` instance holding exactly these values (``Segment.__new__`` checks them first)."""
    if not (isinstance(cls, type) and issubclass(cls, SegmentCore)):
        raise TypeError(f"new() needs a subclass of SegmentCore, got {cls!r}")
    if PyType_HasFeature(<PyTypeObject*>cls, Py_TPFLAGS_IS_ABSTRACT):
        return SegmentCore.__new__(cls)  # which raises object.__new__'s error, naming the methods
    return make(cls, src_port, dst_port, seq, ack, header_len, flags, reserved, window, checksum,
                urgent, anomalies, options, payload, None)


cdef int problem(list problems, object anomaly) except -1:
    """Raise ``anomaly`` in strict mode (no list), else record it."""
    if problems is None:
        raise anomaly.exception()
    problems.append(anomaly)
    return 0


@cython.boundscheck(False)
@cython.wraparound(False)
cdef bint options_clean(const uint8_t* p, Py_ssize_t end) noexcept nogil:
    """Whether the options in p[20:end] decode without a problem (``end`` at most the size)."""
    cdef Py_ssize_t i = 20
    cdef Py_ssize_t length
    cdef uint8_t kind
    while i < end:
        kind = p[i]  # i < end
        if kind == 0:
            return True
        if kind == 1:
            i += 1
            continue
        if i + 1 >= end:
            return False
        length = p[i + 1]  # i + 1 < end
        if length < 2 or i + length > end or _misfit(kind, length):
            return False
        i += length
    return True


cdef inline bint _misfit(uint8_t kind, Py_ssize_t length) noexcept nogil:
    """Whether a known kind has a length its format does not allow."""
    if kind == 2:
        return length != 4
    if kind == 3:
        return length != 3
    if kind == 4:
        return length != 2
    if kind == 8:
        return length != 10
    if kind == 5:
        return length < 10 or (length - 2) % 8 != 0
    return False


@cython.boundscheck(False)
@cython.wraparound(False)
cdef tuple unpack_options(const uint8_t* p, Py_ssize_t end, list problems):
    """Decode the options in p[20:end]; ``end`` is at most the buffer size (and 60)."""
    cdef PyObject* items[40]  # every option takes at least one of the 40 option bytes
    cdef Py_ssize_t count = 0
    if end == 32 and be32(p + 20) == 0x0101080A:  # NOP, NOP, timestamps: RFC 7323's layout
        return (_NOP, _NOP, (_KINDS[8], _u32_pair(p + 24)))
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
            problem(problems, errors.missing_option_length(i, kind))
        else:
            length = p[i + 1]  # i + 1 < end
            if length < 2:
                problem(problems, errors.small_option_length(i, kind, length))
            elif i + length > end:
                problem(problems, errors.option_past_header(i, kind, length, end - i))
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


cdef inline object _mss_option(uint16_t mss):
    """The (MSS, mss) option, kept in _MSS_OPTIONS."""
    cdef PyObject* kept = _MSS_OPTIONS[mss]
    if kept is NULL:
        option = (_KINDS[2], mss)
        Py_INCREF(option)  # the table's reference, never dropped
        _MSS_OPTIONS[mss] = <PyObject*>option
        return option
    return <object>kept


cdef inline tuple _u32_pair(const uint8_t* o):
    """The two 32-bit numbers at o[0:8], a (TSval, TSecr) or a SACK block's edges."""
    return (fastseg_u32_long(be32(o)), fastseg_u32_long(be32(o + 4)))


cdef tuple _sack_blocks(const uint8_t* o, Py_ssize_t count):
    """The ``count`` SACK blocks at o[0:8 * count]."""
    cdef tuple blocks = PyTuple_New(count)  # filled in order; a failure leaves NULLs, which it frees
    cdef Py_ssize_t k
    for k in range(count):
        block = _u32_pair(o + 8 * k)
        Py_INCREF(block)
        PyTuple_SET_ITEM(blocks, k, block)
    return blocks


@cython.boundscheck(False)
@cython.wraparound(False)
cdef tuple _option(const uint8_t* o, Py_ssize_t offset, Py_ssize_t length, list problems):
    """One option whose ``length`` (>= 2) bytes at ``o`` are all readable."""
    cdef uint8_t kind = o[0]
    cdef Py_ssize_t i
    if not _misfit(kind, length):
        if kind == 2:
            return _mss_option(be16(o + 2))
        if kind == 3:
            return _WINDOW_SCALES[o[2]]
        if kind == 4:
            return _SACK_PERMITTED
        if kind == 8:
            return (_KINDS[8], _u32_pair(o + 2))
        if kind == 5:
            return (_KINDS[5], _sack_blocks(o + 2, (length - 2) // 8))
    else:
        problem(problems, errors.wrong_option_length(offset, kind, length))
    return (_KINDS[kind], PyBytes_FromStringAndSize(<const char*>o + 2, length - 2))
