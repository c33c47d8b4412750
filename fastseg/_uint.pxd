from cpython.ref cimport PyObject
from libc.stdint cimport uint32_t


cdef extern from "_uint.h":
    bint fastseg_uint(PyObject* value, unsigned long long limit, unsigned long long* out) noexcept
    bint fastseg_u32_pair(PyObject* a, PyObject* b, unsigned long long* x, unsigned long long* y) noexcept
    object fastseg_u32_long(uint32_t value)
