# cython: language_level=3, auto_pickle=False
"""The storage of a Segment in C: eager header fields, options and payload decoded on first use.

:class:`SegmentCore` is made of two parts.  Its base, :class:`SegmentBase`, a
compiled class, holds the options and payload, decoded on first use from the
segment's bytes, which the compiled ``unpack`` keeps; it does so only for
segments whose options it has already walked and found well-formed
(``_options_c.options_clean``), so the later decoding cannot fail.  The first
read decodes and stores them in a critical section on the segment (nothing on
a build with the GIL), so two threads reading one segment see one value.

The eager fields are the ``__slots__`` of SegmentCore itself, made by ``type()``
here: CPython gives slots member descriptors, which ``seg.seq`` reads on its
fast path for slots (a compiled class's attributes are properties, several
times slower to read: see benchmarks/README.md).  :func:`make` fills them
through those descriptors, with the public ``tp_descr_set`` of their type.
``segment.Segment`` subclasses SegmentCore and calls :func:`adopt` on itself,
which makes it the class the compiled ``unpack`` builds.

The options are decoded by ``_options_c``, the one compiled option walk.

:func:`build` is ``Segment.__new__`` and :func:`replace` ``Segment.replace``.
They take the common cases in C: options as a tuple or list of (kind, value)
tuples the compiled encoder takes, kinds and flags as plain ints (looked up in
the tables ``unpack`` uses) or members, bytes payload, a tuple of anomalies.
``header_len`` follows from the options' lengths (``option_length``) without
encoding them.  Every other case, and every error, goes to the pure twin's
``fields_of``, the specification, so both twins raise the same errors.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.object cimport PyTypeObject
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.ref cimport Py_INCREF, PyObject
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE, PyTuple_New, PyTuple_SET_ITEM
from libc.stdint cimport uint8_t

from fastseg._endian cimport be16
from fastseg._options_c cimport option_length, unpack_options
from fastseg._uint cimport fastseg_uint
from fastseg._wire_c cimport DATA_OFFSET, DATA_OFFSET_SHIFT, FLAG_BITS, HEADER_LEN, OFFSET_UNIT, U8

import inspect

from fastseg import _segment_py
from fastseg._enums import FIELDS, FLAG_MEMBERS, KIND_OBJECTS, Flags, OptionKind

__all__ = ["EAGER", "SegmentBase", "SegmentCore", "adopt", "adopted", "build", "new", "replace"]

cdef extern from *:
    """
    /* Set a slot through its member descriptor, as attribute assignment does, without the
       class's __setattr__ (used once, to find where the slots are). */
    static inline int fastseg_set_slot(PyObject* descriptor, PyObject* obj, PyObject* value) {
        return Py_TYPE(descriptor)->tp_descr_set(descriptor, obj, value);
    }
    /* The object pointer stored `offset` bytes into obj. */
    static inline PyObject** fastseg_at(PyObject* obj, Py_ssize_t offset) {
        return (PyObject**)((char*)obj + offset);
    }
    """
    int fastseg_set_slot(PyObject* descriptor, object obj, object value) except -1
    PyObject** fastseg_at(PyObject* obj, Py_ssize_t offset) noexcept nogil


cdef class SegmentBase:
    """The lazily decoded part of a Segment; use :class:`fastseg.Segment`, which builds on it."""

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


#: The eager fields, in FIELDS order: the slots of SegmentCore.
EAGER = tuple([name for name in FIELDS if name not in ("options", "payload")])
if len(EAGER) != N_EAGER:
    raise ImportError("SegmentCore's eager fields are out of step with FIELDS")

SegmentCore = type("SegmentCore", (SegmentBase,), {
    "__slots__": EAGER, "__module__": __name__,
    "__doc__": "The fields of a Segment; use :class:`fastseg.Segment`, which builds on it.",
})

# Where each eager field is stored in a SegmentCore, in EAGER order: a slot is an object
# pointer within the instance, which its member descriptor reads and writes.  Found once,
# here, by setting each slot of a probe through its descriptor to a marker of its own and
# finding the marker among the pointers between the base's size and SegmentCore's.
cdef Py_ssize_t _OFFSETS[N_EAGER]


def _find_offsets():
    probe = SegmentBase.__new__(SegmentCore)
    markers = [object() for _ in EAGER]
    for name, marker in zip(EAGER, markers):
        fastseg_set_slot(<PyObject*>SegmentCore.__dict__[name], probe, marker)
    found = {}
    for offset in range(SegmentBase.__basicsize__, SegmentCore.__basicsize__, sizeof(PyObject*)):
        pointer = <size_t>fastseg_at(<PyObject*>probe, offset)[0]
        for index, marker in enumerate(markers):
            if pointer == <size_t><PyObject*>marker:
                found[index] = offset
    if sorted(found) != list(range(N_EAGER)) or len(set(found.values())) != N_EAGER:
        raise ImportError("the slots of SegmentCore are not where its descriptors write")
    for index, offset in found.items():
        _OFFSETS[index] = offset


_find_offsets()
cdef type _ADOPTED = None
cdef tuple _NO_ARGS = ()


cdef object options_of(SegmentBase self):
    """The options, decoded from the kept bytes on first use."""
    cdef bytes raw
    cdef const uint8_t* p
    with cython.critical_section(self):
        raw = self._raw  # a reference of its own: decoding allocates, which can run
        if self._options is None and raw is not None:  # code that reads and drops _raw
            p = <const uint8_t*>PyBytes_AS_STRING(raw)
            options = unpack_options(p, _header_len(p), None)  # checked clean by unpack
            if self._options is None:
                self._options = options
            _drop_raw(self)
        return self._options


cdef object payload_of(SegmentBase self):
    """The payload, copied from the kept bytes on first use."""
    cdef bytes raw
    cdef const uint8_t* p
    cdef Py_ssize_t start
    with cython.critical_section(self):
        raw = self._raw  # see options_of
        if self._payload is None and raw is not None:
            p = <const uint8_t*>PyBytes_AS_STRING(raw)
            start = _header_len(p)  # at most the size: unpack checked it
            payload = PyBytes_FromStringAndSize(<const char*>p + start,
                                                PyBytes_GET_SIZE(raw) - start)
            if self._payload is None:
                self._payload = payload
            _drop_raw(self)
        return self._payload


cdef inline Py_ssize_t _header_len(const uint8_t* p) noexcept:
    """The header length the data offset of the segment at ``p`` gives."""
    return (be16(p + DATA_OFFSET) >> DATA_OFFSET_SHIFT) * OFFSET_UNIT


cdef inline void _drop_raw(SegmentBase self):
    if self._options is not None and self._payload is not None:
        self._raw = None


def adopt(cls):
    """Make ``cls`` (a direct subclass adding no slots) the class that unpack builds.  Once only."""
    global _ADOPTED
    if not (type(cls) is type and cls.__bases__ == (SegmentCore,)
            and cls.__basicsize__ == SegmentCore.__basicsize__):
        raise TypeError("adopt() takes a direct subclass of SegmentCore with __slots__ = ()")
    if _ADOPTED is not None and cls is not _ADOPTED:
        raise TypeError(f"SegmentCore already serves {_ADOPTED!r}")
    for name in EAGER:  # the same descriptors, found on the class itself first
        setattr(cls, name, SegmentCore.__dict__[name])
    _ADOPTED = cls


def adopted():
    """The class :func:`adopt` was given, or None."""
    return _ADOPTED


cdef SegmentBase make(type cls, object src_port, object dst_port, object seq, object ack,
                      object header_len, object flags, object reserved, object window,
                      object checksum, object urgent, object anomalies, object options,
                      object payload, bytes raw):
    """A new ``cls`` (SegmentCore or a subclass) holding these values, as they are."""
    if cls is not _ADOPTED and not issubclass(cls, SegmentCore):  # else the slots are not there
        raise TypeError(f"{cls!r} is not a subclass of SegmentCore")
    # SegmentBase's tp_new, not Segment.__new__: it allocates a cls, slots empty (NULL).
    cdef SegmentBase self = <SegmentBase>(<PyTypeObject*>SegmentBase).tp_new(cls, <PyObject*>_NO_ARGS, NULL)
    # Each slot takes a new reference, as its descriptor would.
    _fill(<PyObject*>self, 0, src_port)
    _fill(<PyObject*>self, 1, dst_port)
    _fill(<PyObject*>self, 2, seq)
    _fill(<PyObject*>self, 3, ack)
    _fill(<PyObject*>self, 4, header_len)
    _fill(<PyObject*>self, 5, flags)
    _fill(<PyObject*>self, 6, reserved)
    _fill(<PyObject*>self, 7, window)
    _fill(<PyObject*>self, 8, checksum)
    _fill(<PyObject*>self, 9, urgent)
    _fill(<PyObject*>self, 10, anomalies)
    self._options = options
    self._payload = payload
    self._raw = raw
    return self


cdef inline void _fill(PyObject* self, Py_ssize_t index, object value) noexcept:
    """Store a new reference to ``value`` in the empty slot EAGER[index] of ``self``."""
    Py_INCREF(value)
    fastseg_at(self, _OFFSETS[index])[0] = <PyObject*>value


cdef PyObject* field(SegmentBase self, Py_ssize_t index) noexcept:
    """The eager field EAGER[index] of ``self``, an instance of SegmentCore: borrowed, and
    NULL if it is not set (never, for a segment that make() built)."""
    return fastseg_at(<PyObject*>self, _OFFSETS[index])[0]


def new(cls, src_port, dst_port, seq, ack, header_len, flags, reserved, window, checksum, urgent,
        options, payload, anomalies):
    """A ``cls`` instance holding exactly these values (``Segment.__new__`` checks them first)."""
    if not (isinstance(cls, type) and issubclass(cls, SegmentCore)):
        raise TypeError(f"new() needs a subclass of SegmentCore, got {cls!r}")
    if inspect.isabstract(cls):
        return SegmentBase.__new__(cls)  # which raises object.__new__'s error, naming the methods
    return make(cls, src_port, dst_port, seq, ack, header_len, flags, reserved, window, checksum,
                urgent, anomalies, options, payload, None)


# ---------------------------------------------------------------- construction

# The tables plain ints are looked up in, made once at import and never changed.
if len(FLAG_MEMBERS) != FLAG_BITS + 1 or len(KIND_OBJECTS) != U8 + 1:
    raise ImportError("FLAG_MEMBERS and KIND_OBJECTS must hold every flag and kind value")
cdef tuple _FLAG_MEMBERS = FLAG_MEMBERS
cdef tuple _KIND_OBJECTS = KIND_OBJECTS
cdef object _FLAGS_TYPE = Flags
cdef object _KIND_TYPE = OptionKind
#: FIELDS name -> its position in build()'s arguments after cls.
cdef dict _POSITION = {name: index for index, name in enumerate(FIELDS)}


cdef object _flags_member(object flags):
    """The Flags member of plain-int or Flags ``flags``; None sends the caller to fields_of."""
    cdef unsigned long long bits
    if type(flags) is int:
        if fastseg_uint(<PyObject*>flags, FLAG_BITS, &bits):
            return <object>PyTuple_GET_ITEM(_FLAG_MEMBERS, bits)  # bits <= FLAG_BITS: in the table
        return None
    if type(flags) is _FLAGS_TYPE:
        return flags
    return None


cdef object _option(object option, Py_ssize_t* length):
    """``option`` with its kind as ``unpack`` gives it, adding its wire length to ``length``;
    None when ``fields_of`` must decide."""
    cdef unsigned long long k
    cdef Py_ssize_t size
    if type(option) is not tuple or PyTuple_GET_SIZE(option) != 2:
        return None
    kind = <object>PyTuple_GET_ITEM(option, 0)  # a 2-tuple: items 0 and 1 are there
    if not ((type(kind) is int or type(kind) is _KIND_TYPE)
            and fastseg_uint(<PyObject*>kind, U8, &k)):
        return None
    size = option_length(<PyObject*>option)
    if size < 0:
        return None
    length[0] += size
    member = <object>PyTuple_GET_ITEM(_KIND_OBJECTS, k)  # k <= U8: in the table
    if member is kind:
        return option  # an exact tuple, as unpack's: kept
    return (member, <object>PyTuple_GET_ITEM(option, 1))


cdef tuple _options(object options, Py_ssize_t* length):
    """The options of a tuple or list as ``fields_of`` normalises them, their wire length
    in ``length``; None when ``fields_of`` must decide."""
    cdef Py_ssize_t i, count
    cdef tuple result
    if type(options) is tuple:
        count = PyTuple_GET_SIZE(options)
    elif type(options) is list:
        count = PyList_GET_SIZE(options)
    else:
        return None
    result = PyTuple_New(count)  # filled in order; one left unfilled holds NULL, which it frees
    for i in range(count):
        # Read again at each step, and i checked against the size again: an option's checks
        # run no Python code, but a list is still re-read rather than trusted.
        if type(options) is tuple:
            item = <object>PyTuple_GET_ITEM(options, i)  # i < count == the tuple's size
        elif i < PyList_GET_SIZE(options):
            item = <object>PyList_GET_ITEM(options, i)
        else:
            return None
        option = _option(item, length)
        if option is None:
            return None
        Py_INCREF(option)
        PyTuple_SET_ITEM(result, i, option)
    if type(options) is list and PyList_GET_SIZE(options) != count:
        return None  # changed while it was read (by a collection's finalizer): fields_of reads it
    return result


def build(cls, src_port=0, dst_port=0, seq=0, ack=0, header_len=None, flags=0, reserved=0,
          window=0xFFFF, checksum=0, urgent=0, options=(), payload=b"", anomalies=()):
    """``Segment.__new__``: a ``cls`` holding these fields, normalised as
    ``_segment_py.fields_of`` says (which serves every case not taken here)."""
    cdef Py_ssize_t length = 0
    cdef tuple normal
    if cls is _ADOPTED and type(payload) is bytes and type(anomalies) is tuple:
        member = _flags_member(flags)
        normal = _options(options, &length) if member is not None else None
        if normal is not None:
            if header_len is None:
                header_len = HEADER_LEN + (length + OFFSET_UNIT - 1) // OFFSET_UNIT * OFFSET_UNIT
            return make(cls, src_port, dst_port, seq, ack, header_len, member, reserved, window,
                        checksum, urgent, anomalies, normal, payload, None)
    return new(cls, *_segment_py.fields_of(src_port, dst_port, seq, ack, header_len, flags,
                                           reserved, window, checksum, urgent, options, payload,
                                           anomalies))


cdef bint _filled(SegmentBase segment) noexcept:
    """Whether every eager slot of ``segment`` is set (not so for SegmentBase.__new__(Segment))."""
    cdef Py_ssize_t index
    for index in range(N_EAGER):
        if field(segment, index) == NULL:
            return False
    return True


def replace(segment, **changes):
    """``Segment.replace``: a Segment of ``segment``'s fields with ``changes``; new options
    re-derive header_len unless it is given too."""
    cdef list values
    cdef Py_ssize_t index
    if type(segment) is _ADOPTED and _filled(segment):
        # Every slot is set (checked just above): each field() is a borrowed, non-NULL reference.
        values = [<object>field(segment, index) for index in range(N_EAGER - 1)]  # not anomalies
        values += [options_of(segment), payload_of(segment), <object>field(segment, F_ANOMALIES)]
    else:  # a subclass's segment, or one without its fields (whose fields() raises)
        values = list(segment.fields())
    for name, value in changes.items():
        position = _POSITION.get(name)
        if position is None:
            raise TypeError(f"Segment has no field {sorted(changes.keys() - _POSITION.keys())[0]!r}")
        values[position] = value
    if "options" in changes and "header_len" not in changes:
        values[F_HEADER_LEN] = None
    return build(_ADOPTED, *values)
