cdef extern from "_uint.h":
    bint fastseg_uint(object value, unsigned long long limit, unsigned long long* out) noexcept
