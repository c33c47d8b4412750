# The compiled codec's entry point for the other compiled modules (the capture reader).
from fastseg._segment_c cimport SegmentCore


cdef SegmentCore unpack_bytes(bytes data, bint strict)
