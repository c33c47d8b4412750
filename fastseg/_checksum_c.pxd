# The checksum core, shared with the compiled codec by cimport.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

cdef uint64_t sum_native(const uint8_t* data, Py_ssize_t size) noexcept nogil
cdef uint16_t fold(uint64_t total) noexcept nogil
cdef uint16_t sum_be(const uint8_t* data, Py_ssize_t size) noexcept nogil
cdef Py_ssize_t pseudo_header(uint8_t* out, const uint8_t* src, const uint8_t* dst,
                              Py_ssize_t size, Py_ssize_t length) noexcept nogil
