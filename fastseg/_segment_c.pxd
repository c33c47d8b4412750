# The storage of a Segment in C, shared with the compiled codec (see _segment_c.pyx).
from libc.stdint cimport uint8_t


cdef public class SegmentCore [object FastsegSegmentObject, type FastsegSegmentType]:
    # The eager fields, in this order: adopt() relies on it.
    cdef object src_port, dst_port, seq, ack, header_len, flags, reserved, window, checksum, urgent
    cdef object anomalies
    # None until decoded from _raw, the segment's bytes (None once nothing is left to decode).
    cdef object _options, _payload
    cdef bytes _raw

    cdef object options_tuple(self)
    cdef object payload_bytes(self)
    cdef void _drop_raw(self)


cdef SegmentCore blank()
cdef tuple unpack_options(const uint8_t* p, Py_ssize_t end, list problems)
cdef bint options_clean(const uint8_t* p, Py_ssize_t end) noexcept nogil
cdef int problem(list problems, object anomaly) except -1
