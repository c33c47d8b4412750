# TCP options in C, the compiled twin of _options_py: walk, validate, decode, encode.
# The segment storage, the codec and the columns decoder cimport it; the walk step and
# the length rule are inline, for the loops that run them per option.
from cpython.ref cimport PyObject
from libc.stdint cimport uint8_t

from fastseg._wire_c cimport (
    EOL, KIND_LEN, MIN_SACK_LEN, MSS, MSS_LEN, NOP, OPTION_HEAD_LEN, OPTION_LENGTH, SACK,
    SACK_BLOCK_LEN, SACK_PERMITTED, SACK_PERMITTED_LEN, TIMESTAMPS, TIMESTAMPS_LEN, WSCALE,
    WSCALE_LEN,
)

# What the walk finds at an offset of the options (see step()).
cdef enum:
    AT_END = 0          # the options are over
    AT_EOL = 1          # End of Option List: the rest is its padding
    AT_NOP = 2          # one byte
    AT_OPTION = 3       # a kind and a length that fit: the option is p[i:i + length]
    NO_LENGTH = 4       # a kind in the last byte, without room for its length
    SMALL_LENGTH = 5    # a length below OPTION_HEAD_LEN
    PAST_END = 6        # a length running past the end of the options


cdef inline int step(const uint8_t* p, Py_ssize_t i, Py_ssize_t end,
                     Py_ssize_t* length) noexcept nogil:
    """What starts at p[i] of options ending at p[end] (end at most the readable size).

    AT_NOP and AT_OPTION set ``length`` to the bytes the option takes; the walk
    goes on at i + length.  Every read is at an index below ``end``.
    """
    if i >= end:
        return AT_END
    if p[i] == EOL:                 # i < end
        return AT_EOL
    if p[i] == NOP:
        length[0] = KIND_LEN
        return AT_NOP
    if i + OPTION_LENGTH >= end:
        return NO_LENGTH
    length[0] = p[i + OPTION_LENGTH]    # i + OPTION_LENGTH < end
    if length[0] < OPTION_HEAD_LEN:
        return SMALL_LENGTH
    if i + length[0] > end:
        return PAST_END
    return AT_OPTION


cdef inline bint misfit(uint8_t kind, Py_ssize_t length) noexcept nogil:
    """Whether a known kind has a total ``length`` its format does not allow (_options_py.misfit)."""
    if kind == MSS:
        return length != MSS_LEN
    if kind == WSCALE:
        return length != WSCALE_LEN
    if kind == SACK_PERMITTED:
        return length != SACK_PERMITTED_LEN
    if kind == TIMESTAMPS:
        return length != TIMESTAMPS_LEN
    if kind == SACK:
        return length < MIN_SACK_LEN or (length - OPTION_HEAD_LEN) % SACK_BLOCK_LEN != 0
    return False


cdef bint options_clean(const uint8_t* p, Py_ssize_t end) noexcept nogil
cdef tuple unpack_options(const uint8_t* p, Py_ssize_t end, list problems)
cdef int problem(list problems, object anomaly) except -1
cdef bint put_option(uint8_t* header, Py_ssize_t* pos, PyObject* option) noexcept
cdef Py_ssize_t option_length(PyObject* option) noexcept
cdef object constant_option(unsigned long long kind, object value)
