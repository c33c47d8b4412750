# cython: language_level=3, auto_pickle=False
"""The storage of a Segment in C: eager header fields, options and payload decoded on first use.

:class:`SegmentCore`, the class ``segment.Segment`` subclasses, is made of three
layers.  At the bottom, :class:`SegmentBase`, a compiled class, holds the
options and payload, decoded on first use from the segment's bytes, which the
compiled ``unpack`` keeps; it does so only for segments whose options it has
already walked and found well-formed (``_options_c.options_clean``), so the
later decoding cannot fail.  The first read decodes and stores them in a
critical section on the segment (nothing on a build with the GIL), so two
threads reading one segment see one value.

The eager fields are the ``__slots__`` of :class:`SegmentSlots`, made by
``type()`` here: CPython gives slots member descriptors, which ``seg.seq``
reads on its fast path for slots (a compiled class's attributes are
properties, several times slower to read: see benchmarks/README.md).  The
compiled code reads and writes those slots only through CPython's public
description of them, the ``PyMemberDef`` entries of SegmentSlots'
``tp_members``, at the offsets they give (with ``PyMember_GetOne``, or its
object case inline where a call per field would cost the codec a fifth of its
time), on objects whose type it has checked to be SegmentSlots or a subclass.

SegmentCore, on top, adds no fields: it is made from a public type
specification (``PyType_FromSpecWithBases``) whose one slot besides the
docstring is ``tp_new``, a C function, so that ``Segment(...)`` goes from
``type.__call__`` straight to C, without a Python-level ``__new__`` (CPython's
``slot_tp_new`` looks that up and calls it with a second argument tuple).
``segment.Segment`` subclasses SegmentCore without a ``__new__`` of its own and
calls :func:`adopt` on itself, which makes it the class the compiled
``unpack`` builds.

The options are decoded by ``_options_c``, the one compiled option walk.

SegmentCore's tp_new reads the call's arguments itself when they are plain
(each keyword one of the field names' own strings, no field given twice) and
hands every other call to :func:`build`, which parses them as a Python function
does; :func:`replace` is ``Segment.replace``.  Both build in C for the common
cases: options as a tuple or list of (kind, value) tuples the compiled encoder
takes, kinds and flags as plain ints (looked up in the tables ``unpack`` uses)
or members, bytes payload, a tuple of anomalies.  ``header_len`` follows from
the options' lengths (``option_length``) without encoding them.  Every other
case, and every error, goes to the pure twin's ``fields_of``, the
specification, so both twins raise the same errors.
"""

cimport cython
from cpython.dict cimport PyDict_Next
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.object cimport PyObject_TypeCheck, PyTypeObject
from cpython.type cimport PyType_IsSubtype
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.ref cimport Py_DECREF, Py_INCREF, PyObject
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE, PyTuple_New, PyTuple_SET_ITEM
from libc.stdint cimport uint8_t

from fastseg._endian cimport be16
from fastseg._options_c cimport constant_option, option_length, unpack_options
from fastseg._uint cimport fastseg_uint
from fastseg._wire_c cimport DATA_OFFSET, DATA_OFFSET_SHIFT, FLAG_BITS, HEADER_LEN, OFFSET_UNIT, U8

import inspect

from fastseg import _segment_py
from fastseg._enums import FIELDS, FLAG_MEMBERS, KIND_OBJECTS, Flags, OptionKind

__all__ = ["EAGER", "SegmentBase", "SegmentCore", "SegmentSlots", "adopt", "adopted", "build", "new",
           "replace"]

cdef extern from "structmember.h":
    # The public description of a slot (CPython's documented PyMemberDef) and the two public
    # functions that read and write one.  structmember.h declares them on every supported
    # version (3.12 moved them into Python.h and kept the header).
    ctypedef struct PyMemberDef:
        const char* name
        int type
        Py_ssize_t offset
        int flags
    int T_OBJECT_EX
    int READONLY
    object _member "PyMember_GetOne"(const char* obj, PyMemberDef* member)  # raises when empty

cdef extern from *:
    """
    /* The object pointer a T_OBJECT_EX member keeps `offset` bytes into `obj`, as its
       PyMemberDef describes it (borrowed; NULL when empty): what PyMember_GetOne reads,
       without its call and its switch on the member's type, which _find_members checked. */
    static inline PyObject* fastseg_member_get(PyObject* obj, Py_ssize_t offset) {
        return *(PyObject**)((char*)obj + offset);
    }
    /* Store a new reference to `value` there, releasing what was stored: PyMember_SetOne's
       T_OBJECT_EX case. */
    static inline void fastseg_member_set(PyObject* obj, Py_ssize_t offset, PyObject* value) {
        PyObject** slot = (PyObject**)((char*)obj + offset);
        PyObject* old = *slot;
        Py_INCREF(value);
        *slot = value;
        Py_XDECREF(old);
    }
    """
    PyObject* fastseg_member_get(PyObject* obj, Py_ssize_t offset) noexcept nogil
    void fastseg_member_set(PyObject* obj, Py_ssize_t offset, object value) noexcept

cdef extern from "Python.h":
    int Py_tp_members
    void* PyType_GetSlot(PyTypeObject* type, int slot)  # NULL, maybe with an error set
    void PyErr_Clear()
    # A type made from a public specification (PyType_FromSpecWithBases, the stable ABI's
    # way of making a class): its name, size, flags and the slots it fills, by public id.
    ctypedef struct PyType_Slot:
        int slot
        void* pfunc
    ctypedef struct PyType_Spec:
        const char* name
        int basicsize
        int itemsize
        unsigned int flags
        PyType_Slot* slots
    object PyType_FromSpecWithBases(PyType_Spec* spec, object bases)
    int Py_tp_new
    int Py_tp_doc
    unsigned long Py_TPFLAGS_DEFAULT
    unsigned long Py_TPFLAGS_BASETYPE


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


#: The eager fields, in FIELDS order: the slots of SegmentSlots.
EAGER = tuple([name for name in FIELDS if name not in ("options", "payload")])
if len(EAGER) != N_EAGER or len(FIELDS) != N_FIELDS:
    raise ImportError("SegmentSlots' eager fields are out of step with FIELDS")

SegmentSlots = type("SegmentSlots", (SegmentBase,), {
    "__slots__": EAGER, "__module__": __name__,
    "__doc__": "The eager fields of a Segment; use :class:`fastseg.Segment`, which builds on it.",
})
cdef type _SLOTS = SegmentSlots

# The slots of SegmentSlots as CPython describes them, in EAGER order: the PyMemberDef
# entries of its tp_members, which live as long as the class (this module keeps it).  Every
# read and write of a slot is at the offset one of them gives (PyMember_GetOne's, or its
# T_OBJECT_EX case inline on the hot paths), on an object whose type was checked to be
# SegmentSlots or a subclass of it.
cdef PyMemberDef* _MEMBERS[N_EAGER]


def _find_members():
    cdef PyMemberDef* member = <PyMemberDef*>PyType_GetSlot(<PyTypeObject*>_SLOTS, Py_tp_members)
    if member == NULL:
        PyErr_Clear()
        raise ImportError("SegmentSlots has no member table")
    found = {}
    while member.name != NULL:  # the table ends with an entry without a name
        name = member.name.decode()
        if name in EAGER and member.type == T_OBJECT_EX and not member.flags & READONLY:
            _MEMBERS[EAGER.index(name)] = member
            found[name] = True
        member += 1
    if len(found) != N_EAGER:
        raise ImportError("SegmentSlots' slots are not the writable members of its fields")


_find_members()
cdef type _ADOPTED = None
cdef tuple _NO_ARGS = ()
cdef type _OBJECT = object


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
        setattr(cls, name, SegmentSlots.__dict__[name])
    _ADOPTED = cls


def adopted():
    """The class :func:`adopt` was given, or None."""
    return _ADOPTED


cdef inline bint _has_slots(object obj) noexcept:
    """Whether ``obj`` is a SegmentSlots (its real type, not its ``__class__``): the guard of
    every slot access, which PyMember_* make at SegmentSlots' offsets."""
    return type(obj) is _ADOPTED or PyObject_TypeCheck(obj, <PyTypeObject*>_SLOTS)


cdef SegmentBase make(type cls, object src_port, object dst_port, object seq, object ack,
                      object header_len, object flags, object reserved, object window,
                      object checksum, object urgent, object anomalies, object options,
                      object payload, bytes raw):
    """A new ``cls`` (SegmentSlots or a subclass) holding these values, as they are."""
    if cls is not _ADOPTED and not PyType_IsSubtype(cls, _SLOTS):
        raise TypeError(f"{cls!r} is not a subclass of SegmentSlots")  # tp_new would misfit it
    # SegmentBase's tp_new, not Segment.__new__ (a method call): it allocates a cls with its
    # slots empty (NULL), for _fill.
    cdef SegmentBase self = <SegmentBase>(<PyTypeObject*>SegmentBase).tp_new(cls, <PyObject*>_NO_ARGS, NULL)
    _fill(self, src_port, dst_port, seq, ack, header_len, flags, reserved, window, checksum,
          urgent, anomalies, options, payload, raw)
    return self


cdef int _fill(SegmentBase self, object src_port, object dst_port, object seq, object ack,
               object header_len, object flags, object reserved, object window,
               object checksum, object urgent, object anomalies, object options,
               object payload, bytes raw) except -1:
    """Store the fields in ``self``, each slot taking a new reference as its descriptor would."""
    if not _has_slots(self):
        raise TypeError("SegmentBase holds no fields: build a fastseg.Segment")
    cdef PyObject* obj = <PyObject*>self  # a SegmentSlots: checked just above
    fastseg_member_set(obj, _MEMBERS[F_SRC_PORT].offset, src_port)
    fastseg_member_set(obj, _MEMBERS[F_DST_PORT].offset, dst_port)
    fastseg_member_set(obj, _MEMBERS[F_SEQ].offset, seq)
    fastseg_member_set(obj, _MEMBERS[F_ACK].offset, ack)
    fastseg_member_set(obj, _MEMBERS[F_HEADER_LEN].offset, header_len)
    fastseg_member_set(obj, _MEMBERS[F_FLAGS].offset, flags)
    fastseg_member_set(obj, _MEMBERS[F_RESERVED].offset, reserved)
    fastseg_member_set(obj, _MEMBERS[F_WINDOW].offset, window)
    fastseg_member_set(obj, _MEMBERS[F_CHECKSUM].offset, checksum)
    fastseg_member_set(obj, _MEMBERS[F_URGENT].offset, urgent)
    fastseg_member_set(obj, _MEMBERS[F_ANOMALIES].offset, anomalies)
    self._options = options
    self._payload = payload
    self._raw = raw
    return 0


cdef bint fields(SegmentBase self, PyObject** values) noexcept:
    """Store new references to the eager fields of ``self`` in ``values`` (N_EAGER of them,
    EAGER order); False, with nothing stored, when ``self`` holds no slots or one is empty.
    The caller releases them with :func:`release`."""
    cdef Py_ssize_t index
    if not _has_slots(self):
        return False
    cdef PyObject* value
    for index in range(N_EAGER):  # a SegmentSlots: checked just above
        value = fastseg_member_get(<PyObject*>self, _MEMBERS[index].offset)
        if value == NULL:  # an empty slot, for the reference twin to raise AttributeError
            release(values, index)
            return False
        Py_INCREF(<object>value)
        values[index] = value
    return True


cdef void release(PyObject** values, Py_ssize_t count) noexcept:
    """Drop the first ``count`` references :func:`fields` stored."""
    cdef Py_ssize_t index
    for index in range(count):
        Py_DECREF(<object>values[index])


cdef object _field(SegmentBase self, Py_ssize_t index):
    """The eager field EAGER[index] of ``self``; AttributeError when its slot is empty."""
    if not _has_slots(self):
        raise TypeError("SegmentBase holds no fields: build a fastseg.Segment")
    return _member(<const char*><PyObject*>self, _MEMBERS[index])  # a SegmentSlots: checked above


def new(cls, src_port, dst_port, seq, ack, header_len, flags, reserved, window, checksum, urgent,
        options, payload, anomalies):
    """A ``cls`` instance holding exactly these values (``Segment.__new__`` checks them first)."""
    if not (isinstance(cls, type) and issubclass(cls, SegmentCore)):
        raise TypeError(f"new() needs a subclass of SegmentCore, got {cls!r}")
    if inspect.isabstract(cls):
        # object's tp_new raises its error, naming the methods (called as object.__new__, it
        # would first refuse cls, whose __new__ is SegmentCore's, as unsafe).
        return (<PyTypeObject*>_OBJECT).tp_new(cls, <PyObject*>_NO_ARGS, NULL)
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
    value = <object>PyTuple_GET_ITEM(option, 1)
    constant = constant_option(k, value)  # unpack's own (kind, value), if it holds this value
    return (member, value) if constant is None else constant


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


cdef object _construct(object cls, object src_port, object dst_port, object seq, object ack,
                       object header_len, object flags, object reserved, object window,
                       object checksum, object urgent, object options, object payload,
                       object anomalies):
    """A ``cls`` holding these fields, normalised as ``_segment_py.fields_of`` says (which
    serves every case not taken here)."""
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


def build(cls, src_port=0, dst_port=0, seq=0, ack=0, header_len=None, flags=0, reserved=0,
          window=0xFFFF, checksum=0, urgent=0, options=(), payload=b"", anomalies=()):
    """``Segment.__new__``: a ``cls`` holding these fields, normalised as
    ``_segment_py.fields_of`` says (which serves every case not taken here)."""
    return _construct(cls, src_port, dst_port, seq, ack, header_len, flags, reserved, window,
                      checksum, urgent, options, payload, anomalies)


def replace(segment, **changes):
    """``Segment.replace``: a Segment of ``segment``'s fields with ``changes``; new options
    re-derive header_len unless it is given too."""
    cdef list values
    cdef Py_ssize_t index
    if type(segment) is _ADOPTED:
        values = [_field(segment, index) for index in range(F_ANOMALIES)]
        values += [options_of(segment), payload_of(segment), _field(segment, F_ANOMALIES)]
    else:  # a subclass's segment
        values = list(segment.fields())
    for name, value in changes.items():
        position = _POSITION.get(name)
        if position is None:
            raise TypeError(f"Segment has no field {sorted(changes.keys() - _POSITION.keys())[0]!r}")
        values[position] = value
    if "options" in changes and "header_len" not in changes:
        values[F_HEADER_LEN] = None
    if len(values) != N_FIELDS:  # a subclass's fields() of another length: build() says so
        return build(_ADOPTED, *values)
    return _construct(_ADOPTED, values[0], values[1], values[2], values[3], values[4], values[5],
                      values[6], values[7], values[8], values[9], values[10], values[11],
                      values[12])


# ---------------------------------------------------------------- SegmentCore

# ``Segment(...)`` calls the tp_new of Segment's class, which a class without a ``__new__``
# of its own inherits from its base.  SegmentCore, the base, is made from a public
# specification whose one slot besides the docstring is that tp_new, the C function
# _segment_new: the call goes from ``type.__call__`` straight to it, without the lookup and
# the second call of a Python-level ``__new__`` (``slot_tp_new``).  SegmentCore adds no
# fields, so everything else (the slots, their release and collection) is SegmentSlots',
# inherited as CPython's rules for a subclass made from a spec say.

#: The keyword names Segment(...) takes, in FIELDS order (the strings of FIELDS, which
#: CPython interns as it interns the names of keyword arguments in code).
cdef tuple _NAMES = FIELDS
#: The defaults of build()'s arguments, in the same order: read from build() itself.
cdef tuple _DEFAULTS = tuple([inspect.signature(build).parameters[name].default
                              for name in FIELDS])


cdef inline Py_ssize_t _keyword(PyObject* key, Py_ssize_t after) noexcept:
    """The position in FIELDS of keyword ``key`` when it is one of FIELDS' own strings, else -1
    (an equal string that is another object goes to build(), which compares text).  The
    search starts past ``after``, where a call naming fields in their order has its next."""
    cdef Py_ssize_t step, index = after
    for step in range(N_FIELDS):
        index = index + 1 if index + 1 < N_FIELDS else 0
        if key == PyTuple_GET_ITEM(_NAMES, index):  # 0 <= index < N_FIELDS == the tuple's size
            return index
    return -1


cdef object _segment_new(PyTypeObject* cls, PyObject* args, PyObject* kwds):
    """SegmentCore's tp_new, ``Segment(...)``: the arguments of :func:`build` taken from the
    call's argument tuple and keyword dict; what is not plain (a class other than the adopted
    one, a name given twice or not a field, more arguments than fields) goes to build()."""
    cdef PyObject* values[N_FIELDS]
    cdef PyObject* key
    cdef PyObject* value
    cdef Py_ssize_t index, position = 0, count
    cdef bint plain
    if <object>cls is not _ADOPTED or type(<object>args) is not tuple or (
            kwds != NULL and type(<object>kwds) is not dict):
        return _build_call(cls, args, kwds)
    count = PyTuple_GET_SIZE(<object>args)
    if count > N_FIELDS:
        return _build_call(cls, args, kwds)
    for index in range(count):  # count <= the size of args
        values[index] = PyTuple_GET_ITEM(<object>args, index)
    for index in range(count, N_FIELDS):  # index < N_FIELDS == the size of _DEFAULTS
        values[index] = PyTuple_GET_ITEM(_DEFAULTS, index)
    if kwds == NULL:
        return _construct_from(<object>cls, values)
    plain = True
    index = -1
    # The dict's entries, read in a critical section on it (nothing on a build with the GIL)
    # and held by references of their own while the segment is built.
    with cython.critical_section(<object>kwds):
        while PyDict_Next(<object>kwds, &position, &key, &value):
            index = _keyword(key, index)
            if index < count:  # not a field's own name, or a field given by position too
                plain = False
                break
            values[index] = value
        if plain:
            for index in range(count, N_FIELDS):
                Py_INCREF(<object>values[index])
    if not plain:
        return _build_call(cls, args, kwds)
    try:
        return _construct_from(<object>cls, values)
    finally:
        for index in range(count, N_FIELDS):
            Py_DECREF(<object>values[index])


cdef inline object _construct_from(object cls, PyObject** values):
    """_construct of the N_FIELDS values at ``values``, in FIELDS order."""
    return _construct(cls, <object>values[0], <object>values[1], <object>values[2],
                      <object>values[3], <object>values[4], <object>values[5], <object>values[6],
                      <object>values[7], <object>values[8], <object>values[9], <object>values[10],
                      <object>values[11], <object>values[12])


cdef object _build_call(PyTypeObject* cls, PyObject* args, PyObject* kwds):
    """build(cls, *args, **kwds): every case _segment_new does not take, with build()'s errors."""
    if kwds == NULL:
        return build(<object>cls, *<object>args)
    return build(<object>cls, *<object>args, **<object>kwds)


cdef const char* _CORE_DOC = (
    b"SegmentCore(src_port=0, dst_port=0, seq=0, ack=0, header_len=None, flags=0, reserved=0, "
    b"window=65535, checksum=0, urgent=0, options=(), payload=b'', anomalies=())\n--\n\n"
    b"The fields of a Segment; use :class:`fastseg.Segment`, which builds on it.")
cdef PyType_Slot _CORE_SLOTS[3]
_CORE_SLOTS[0].slot = Py_tp_new
_CORE_SLOTS[0].pfunc = <void*>_segment_new
_CORE_SLOTS[1].slot = Py_tp_doc
_CORE_SLOTS[1].pfunc = <void*>_CORE_DOC
_CORE_SLOTS[2].slot = 0  # the end of the slots
_CORE_SLOTS[2].pfunc = NULL
cdef PyType_Spec _CORE_SPEC
_CORE_SPEC.name = b"fastseg._segment_c.SegmentCore"
_CORE_SPEC.basicsize = SegmentSlots.__basicsize__
_CORE_SPEC.itemsize = 0
_CORE_SPEC.flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE
_CORE_SPEC.slots = _CORE_SLOTS
SegmentCore = PyType_FromSpecWithBases(&_CORE_SPEC, (SegmentSlots,))
