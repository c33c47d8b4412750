# IP addresses read in C (see _addr_c.pyx), for the compiled twins' pseudo-headers.
from libc.stdint cimport uint8_t

cdef Py_ssize_t address_into(object address, uint8_t* out) noexcept
cdef Py_ssize_t pair_into(object src, object dst, uint8_t* src_out, uint8_t* dst_out) except -1
