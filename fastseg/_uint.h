/* Reading a Python int into a C unsigned number without raising: the fast
   path every compiled twin takes for its integer arguments; and the reverse
   for 32-bit numbers (fastseg_u32_long), which decoding makes by the million.

   fastseg_uint(value, limit, &out) stores value and returns 1 when value is an
   int (or int subclass) in [0, limit]; otherwise it returns 0 and leaves no
   exception set, so the caller can fall back to the reference twin's checks
   and error messages.

   Ints (and int subclasses) of up to two 30-bit digits (values below 2**60) are read from
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
    /* For an int (or subclass) this reads the digits and cannot fail: it calls no
       __index__, and a value out of range is reported through overflow. */
    number = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow || number < 0 || (unsigned long long)number > limit) return 0;
    *out = (unsigned long long)number;
    return 1;
}

static inline int fastseg_uint(PyObject* value, unsigned long long limit, unsigned long long* out) {
#if PyLong_SHIFT == 30
    /* An int subclass (Flags, bool) holds its value in the same digits, which
       PyLong_AsLongLongAndOverflow also reads without calling any method. */
    if (PyLong_CheckExact(value) || PyLong_Check(value)) {
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

/* fastseg_u32_pair(a, b, &x, &y): the common case of two fastseg_uint calls with
   limit 2**32 - 1 (two exact ints of one or two digits) in one branch.  It returns 0
   for everything else, including ints it could have read; callers then take
   fastseg_uint, out of line, so that this stays small enough to inline.  Zero is
   among them: before 3.11 CPython allocates no digit for some zeros (the one
   int.from_bytes(bytes(4), "big") returns), so a zero's digits are never read. */
static inline int fastseg_u32_pair(PyObject* a, PyObject* b, unsigned long long* x, unsigned long long* y) {
#if PyLong_SHIFT == 30
    if (PyLong_CheckExact(a) & PyLong_CheckExact(b)) {
        const digit* da;
        const digit* db;
        size_t na, nb, two_a, two_b;
        int negative;
#if PY_VERSION_HEX >= 0x030C0000
        uintptr_t ta = ((PyLongObject*)a)->long_value.lv_tag;
        uintptr_t tb = ((PyLongObject*)b)->long_value.lv_tag;
        negative = ((ta | tb) & 2) != 0;
        na = (size_t)(ta >> 3);
        nb = (size_t)(tb >> 3);
        da = ((PyLongObject*)a)->long_value.ob_digit;
        db = ((PyLongObject*)b)->long_value.ob_digit;
#else
        Py_ssize_t sa = Py_SIZE(a), sb = Py_SIZE(b);
        negative = (sa | sb) < 0;
        na = (size_t)sa;
        nb = (size_t)sb;
        da = ((PyLongObject*)a)->ob_digit;
        db = ((PyLongObject*)b)->ob_digit;
#endif
        if (!negative & (na - 1 <= 1) & (nb - 1 <= 1)) {  /* one or two digits each */
            /* digits[two] as in fastseg_uint: read either way, masked out for one digit. */
            two_a = na >> 1;
            two_b = nb >> 1;
            *x = da[0] | ((unsigned long long)(da[two_a] & (0 - (digit)two_a)) << 30);
            *y = db[0] | ((unsigned long long)(db[two_b] & (0 - (digit)two_b)) << 30);
            return ((*x | *y) >> 32) == 0;
        }
    }
#endif
    return 0;
}

/* fastseg_u32_long(value): a new int for a 32-bit value, as PyLong_FromLong(value)
   makes it, but without its digit-counting loop for values of two digits. */
static inline PyObject* fastseg_u32_long(uint32_t value) {
#if PyLong_SHIFT == 30
    if (value >> PyLong_SHIFT) {
        PyLongObject* number = _PyLong_New(2);
        if (number == NULL) return NULL;
#if PY_VERSION_HEX >= 0x030C0000
        number->long_value.ob_digit[0] = (digit)(value & PyLong_MASK);
        number->long_value.ob_digit[1] = (digit)(value >> PyLong_SHIFT);
#else
        number->ob_digit[0] = (digit)(value & PyLong_MASK);
        number->ob_digit[1] = (digit)(value >> PyLong_SHIFT);
#endif
        return (PyObject*)number;
    }
#endif
    return PyLong_FromUnsignedLong(value);
}

#endif
