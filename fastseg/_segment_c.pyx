# cython: language_level=3, auto_pickle=False
"""The storage of a Segment in C: eager header fields, options and payload decoded on first use.

``segment.Segment`` subclasses :class:`SegmentCore` and calls :func:`adopt` on
itself, which gives it read-only member descriptors for the eager fields, so
reading ``seg.seq`` takes CPython's fast path for slots rather than a property
call.  The compiled ``unpack`` keeps the segment's bytes and decodes options
and payload when they are first read; it does so only for segments whose
options it has already walked and found well-formed (:func:`options_clean`),
so the later decoding cannot fail.

The options are decoded by ``_options_c``, the one compiled option walk.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.object cimport PyTypeObject
from cpython.ref cimport Py_DECREF, Py_INCREF, PyObject
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from libc.stdint cimport uint8_t, uint16_t

from fastseg._endian cimport be16
from fastseg._options_c cimport unpack_options
from fastseg._wire_c cimport DATA_OFFSET, DATA_OFFSET_SHIFT, OFFSET_UNIT

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

    """
    object fastseg_filled(PyTypeObject* cls, bint bare, Py_ssize_t first, PyObject** values)

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
        options = unpack_options(p, _header_len(p), None)  # checked clean by unpack
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
        start = _header_len(p)  # at most the size: unpack checked it
        payload = PyBytes_FromStringAndSize(<const char*>p + start, PyBytes_GET_SIZE(raw) - start)
        if self._payload is None:
            self._payload = payload
        _drop_raw(self)
    return self._payload


cdef inline Py_ssize_t _header_len(const uint8_t* p) noexcept:
    """The header length the data offset of the segment at ``p`` gives."""
    return (be16(p + DATA_OFFSET) >> DATA_OFFSET_SHIFT) * OFFSET_UNIT


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
