/* Reading a Python int into a C unsigned number without raising: the fast
   path every compiled twin takes for its integer arguments.

   fastseg_uint(value, limit, &out) stores value and returns 1 when value is an
   int (or int subclass) in [0, limit]; otherwise it returns 0 and leaves no
   exception set, so the caller can fall back to the reference twin's checks
   and error messages.

   Exact ints of up to two 30-bit digits (values below 2**60) are read from
   their digits inline, as Cython's own conversion does, through the layout
   each CPython version documents in longintrepr.h; everything else goes
   through PyLong_AsLongLongAndOverflow. */
#ifndef FASTSEG_UINT_H
#define FASTSEG_UINT_H

#include <Python.h>
#if PY_VERSION_HEX < 0x030B0000
#include <longintrepr.h>  /* Python.h includes it from 3.11 on */
#endif

static inline int fastseg_uint_slow(PyObject* value, unsigned long long limit, unsigned long long* out) {
    int overflow = 0;
    long long number;
    if (!PyLong_Check(value)) return 0;
    number = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (number == -1 && PyErr_Occurred()) {  /* an int subclass whose conversion failed */
        PyErr_Clear();
        return 0;
    }
    if (overflow || number < 0 || (unsigned long long)number > limit) return 0;
    *out = (unsigned long long)number;
    return 1;
}

static inline int fastseg_uint(PyObject* value, unsigned long long limit, unsigned long long* out) {
#if PyLong_SHIFT == 30
    if (PyLong_CheckExact(value)) {
        const digit* digits;
        Py_ssize_t ndigits;
        unsigned long long number;
#if PY_VERSION_HEX >= 0x030C0000
        uintptr_t tag = ((PyLongObject*)value)->long_value.lv_tag;
        if ((tag & 3) == 2) return 0;  /* negative */
        ndigits = (Py_ssize_t)(tag >> 3);
        digits = ((PyLongObject*)value)->long_value.ob_digit;
#else
        ndigits = Py_SIZE(value);
        if (ndigits < 0) return 0;  /* negative */
        digits = ((PyLongObject*)value)->ob_digit;
#endif
        if (ndigits == 0) {
            number = 0;
        } else if (ndigits <= 2) {
            /* Without a branch on the digit count: random 32-bit numbers mix one
               and two digits unpredictably.  two is 0 or 1; digits[two] is read
               either way and masked out when there is one digit. */
            size_t two = (size_t)ndigits >> 1;
            number = digits[0] | ((unsigned long long)(digits[two] & (0 - (digit)two)) << 30);
        } else {
            return fastseg_uint_slow(value, limit, out);
        }
        if (number > limit) return 0;
        *out = number;
        return 1;
    }
#endif
    return fastseg_uint_slow(value, limit, out);
}

#endif
