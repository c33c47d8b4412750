# Text IP addresses parsed in C (see _addr_c.pyx), for the compiled codec's pseudo-header.
from libc.stdint cimport uint8_t

cdef Py_ssize_t address_into(object address, uint8_t* out) noexcept
