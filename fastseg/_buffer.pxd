# Shared buffer access for the compiled twins: one rule for every input.
from cpython.buffer cimport Py_buffer

cdef struct Bytes:
    const unsigned char* data
    Py_ssize_t size
    bint held       # a buffer view was acquired and must be released

cdef object acquire(object data, Py_buffer* view, Bytes* out)
cdef void release(Py_buffer* view, Bytes* raw) noexcept
