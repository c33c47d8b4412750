# Reading a Python int into a C unsigned number without raising: the fast path every
# compiled twin takes for its integer arguments.
#
# fastseg_uint(value, limit, &out) stores value and returns True when value is an int (or
# an int subclass) in [0, limit]; otherwise it returns False and leaves no exception
# set, so the caller can fall back to the reference twin's checks and error messages.
#
# The number is read by Cython's own conversion to long long, which for an int (or
# subclass: Flags, bool) calls none of its methods (no __index__, no comparisons) and
# raises only OverflowError, for a number beyond 64 bits.  It is called through a
# function pointer without Cython's error check, and the error, if any, cleared here:
# a try/except would save and restore the thread's exception state on every call,
# which costs more than the conversion itself (see benchmarks/README.md).
from cpython.exc cimport PyErr_Clear, PyErr_Occurred
from cpython.ref cimport PyObject


cdef extern from "Python.h":
    bint _is_int "PyLong_Check"(PyObject* value) noexcept nogil


cdef inline long long _as_long_long(object value) except? -1:
    return value


ctypedef long long (*_Unchecked)(object) noexcept


cdef inline bint fastseg_uint(PyObject* value, unsigned long long limit,
                              unsigned long long* out) noexcept:
    cdef long long number
    if not _is_int(value):
        return False
    number = (<_Unchecked>_as_long_long)(<object>value)
    if number < 0:
        if number == -1 and PyErr_Occurred() != NULL:
            PyErr_Clear()
        return False
    if <unsigned long long>number > limit:
        return False
    out[0] = <unsigned long long>number
    return True


cdef inline bint fastseg_u32_pair(PyObject* a, PyObject* b, unsigned long long* x,
                                  unsigned long long* y) noexcept:
    """Both ``a`` and ``b`` read by fastseg_uint with the limit 2**32 - 1."""
    return fastseg_uint(a, 0xFFFFFFFF, x) and fastseg_uint(b, 0xFFFFFFFF, y)
