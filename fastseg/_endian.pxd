# Big-endian loads and stores for the compiled twins; the caller has checked the bounds.
from libc.stdint cimport uint8_t, uint16_t, uint32_t


cdef inline uint16_t be16(const uint8_t* p) noexcept nogil:
    return (p[0] << 8) | p[1]


cdef inline uint32_t be32(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline void put16(uint8_t* p, uint32_t value) noexcept nogil:
    p[0] = (value >> 8) & 0xFF
    p[1] = value & 0xFF


cdef inline void put32(uint8_t* p, uint32_t value) noexcept nogil:
    p[0] = value >> 24
    p[1] = (value >> 16) & 0xFF
    p[2] = (value >> 8) & 0xFF
    p[3] = value & 0xFF
