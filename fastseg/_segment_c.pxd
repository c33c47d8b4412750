# The storage of a Segment in C, shared with the compiled codec (see _segment_c.pyx).
from libc.stdint cimport uint8_t


cdef public class SegmentCore [object FastsegSegmentObject, type FastsegSegmentType]:
    # All fields in this order, one after another: adopt() and make() rely on it.
    # The eager fields:
    cdef object src_port, dst_port, seq, ack, header_len, flags, reserved, window, checksum, urgent
    cdef object anomalies
    # None until decoded from _raw, the segment's bytes (None once nothing is left to decode).
    cdef object _options, _payload
    cdef bytes _raw


cdef SegmentCore make(type cls, object src_port, object dst_port, object seq, object ack,
                      object header_len, object flags, object reserved, object window,
                      object checksum, object urgent, object anomalies, object options,
                      object payload, bytes raw)
cdef object options_of(SegmentCore self)
cdef object payload_of(SegmentCore self)
