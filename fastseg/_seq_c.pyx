# cython: language_level=3
"""32-bit wrap-around sequence arithmetic in C: the compiled twin of ``_seq_py``."""

from libc.stdint cimport int32_t, uint32_t

from cpython.ref cimport PyObject

from fastseg._uint cimport fastseg_u32_pair, fastseg_uint

from fastseg import errors

__all__ = ["seq_add", "seq_diff", "seq_ge", "seq_gt", "seq_in_window", "seq_le", "seq_lt"]

cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object, int*) except? -1
    bint PyLong_Check(object)


cdef extern from *:
    """
    /* True or False (a new reference) without a branch: comparisons of random
       sequence numbers come out either way unpredictably. */
    static inline PyObject* fastseg_bool(int truth) {
        PyObject* const answers[2] = {Py_False, Py_True};
        PyObject* answer = answers[truth != 0];
        Py_INCREF(answer);
        return answer;
    }
    """
    object fastseg_bool(int truth)


cdef inline uint32_t _check(str name, object value) except? 0xFFFFFFFF:
    """``value`` as a C number, or the shared TypeError/ValueError of the reference twin."""
    cdef unsigned long long number
    if fastseg_uint(<PyObject*>value, 0xFFFFFFFF, &number):
        return <uint32_t>number
    raise errors.seq_error(name, value)


cdef uint32_t _checked_difference(object a, object b) except? 0xFFFFFFFF:
    """The slow path of ``_difference``, kept out of line so that the fast one inlines."""
    return _check("a", a) - _check("b", b)


cdef inline uint32_t _difference(object a, object b) except? 0xFFFFFFFF:
    """``a - b`` modulo 2**32, or the reference twin's error for a, then b."""
    cdef unsigned long long x, y
    if fastseg_u32_pair(<PyObject*>a, <PyObject*>b, &x, &y):
        return <uint32_t>x - <uint32_t>y
    return _checked_difference(a, b)


def seq_diff(a, b):
    return <int32_t>_difference(a, b)


def seq_lt(a, b):
    return fastseg_bool(<int32_t>_difference(a, b) < 0)


def seq_le(a, b):
    return fastseg_bool(<int32_t>_difference(a, b) <= 0)


def seq_gt(a, b):  # b - a < 0, so that a and b 2**31 apart compare as in seq_lt(b, a)
    return fastseg_bool(<int32_t>(<uint32_t>0 - _difference(a, b)) < 0)


def seq_ge(a, b):
    return fastseg_bool(<int32_t>(<uint32_t>0 - _difference(a, b)) <= 0)


def seq_add(a, n):
    cdef uint32_t x = _check("a", a)
    cdef int overflow = 0
    cdef long long step
    if not PyLong_Check(n):
        raise errors.seq_error("n", n)
    step = PyLong_AsLongLongAndOverflow(n, &overflow)
    if overflow:  # n's own number, whatever its type's __radd__ or __and__ would say
        return (x + int.__index__(n)) & 0xFFFFFFFF
    return <uint32_t>(x + <uint32_t>(<unsigned long long>step))


def seq_in_window(x, left, size):
    cdef uint32_t distance = _check("x", x) - _check("left", left)
    return fastseg_bool(distance < _check("size", size))

