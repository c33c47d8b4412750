# The compiled codec's entry point for the other compiled modules (the capture reader).
from libc.stdint cimport uint8_t

from fastseg._segment_c cimport SegmentBase


cdef SegmentBase unpack_bytes(bytes data, bint strict)
cdef SegmentBase unpack_now(const uint8_t* p, Py_ssize_t size, bint strict)
