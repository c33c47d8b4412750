# The compiled codec's entry point for the other compiled modules (the capture reader).
from libc.stdint cimport uint8_t

from fastseg._segment_c cimport SegmentCore


cdef SegmentCore unpack_bytes(bytes data, bint strict)
cdef SegmentCore unpack_now(const uint8_t* p, Py_ssize_t size, bint strict)
