# The storage of a Segment in C, shared with the compiled codec (see _segment_c.pyx).

cdef enum:
    N_FIELDS = 13       # the fields of a Segment: FIELDS
    N_EAGER = 11        # the eager fields, SegmentSlots' slots: EAGER in _segment_c.pyx

# The slots' order in EAGER, for fields().
cdef enum:
    F_SRC_PORT = 0
    F_DST_PORT = 1
    F_SEQ = 2
    F_ACK = 3
    F_HEADER_LEN = 4
    F_FLAGS = 5
    F_RESERVED = 6
    F_WINDOW = 7
    F_CHECKSUM = 8
    F_URGENT = 9
    F_ANOMALIES = 10


cdef class SegmentBase:
    # None until decoded from _raw, the segment's bytes (None once nothing is left to decode).
    cdef object _options, _payload
    cdef bytes _raw


cdef SegmentBase make(type cls, object src_port, object dst_port, object seq, object ack,
                      object header_len, object flags, object reserved, object window,
                      object checksum, object urgent, object anomalies, object options,
                      object payload, bytes raw)
from cpython.ref cimport PyObject

cdef bint fields(SegmentBase self, PyObject** values) noexcept
cdef void release(PyObject** values, Py_ssize_t count) noexcept
cdef object options_of(SegmentBase self)
cdef object payload_of(SegmentBase self)
