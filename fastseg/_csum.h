/* The Internet checksum's summing loop, compiled once per instruction set.
 *
 * fastseg_sum() adds `size` bytes as native-order 32-bit words (the tail
 * padded with zeros) into a 64-bit total, which cannot overflow below 16 GiB;
 * folding that total gives the one's-complement sum of the native-order
 * 16-bit words (RFC 1071 §2: the sum is byte-order independent).  The loop is
 * written so compilers vectorise it; on x86-64 with GCC or Clang it is built
 * again for AVX2 and AVX-512BW and the widest one the CPU runs is picked at
 * import time (wheels stay runnable on any x86-64).  fastseg_sum_use() lets
 * the tests force each variant and compare it with the reference.
 */
#ifndef FASTSEG_CSUM_H
#define FASTSEG_CSUM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FASTSEG_SUM_BODY                                        \
    {                                                           \
        uint64_t total = 0;                                     \
        uint32_t word;                                          \
        size_t i = 0;                                           \
        unsigned char tail[4] = {0, 0, 0, 0};                   \
        for (; i + 4 <= size; i += 4) {                         \
            memcpy(&word, data + i, 4);                         \
            total += word;                                      \
        }                                                       \
        if (i < size) {                                         \
            memcpy(tail, data + i, size - i);                   \
            memcpy(&word, tail, 4);                             \
            total += word;                                      \
        }                                                       \
        return total;                                           \
    }

typedef uint64_t (*fastseg_sum_fn)(const unsigned char *data, size_t size);

static uint64_t fastseg_sum_baseline(const unsigned char *data, size_t size) FASTSEG_SUM_BODY

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define FASTSEG_SUM_X86 1
__attribute__((__target__("avx2")))
static uint64_t fastseg_sum_avx2(const unsigned char *data, size_t size) FASTSEG_SUM_BODY
__attribute__((__target__("avx512f,avx512bw")))
static uint64_t fastseg_sum_avx512(const unsigned char *data, size_t size) FASTSEG_SUM_BODY
#endif

static const char *const fastseg_sum_names[] = {"baseline", "avx2", "avx512"};
static fastseg_sum_fn fastseg_sum_active = fastseg_sum_baseline;

/* The variant `name` if this build has it and the CPU runs it: 1, else 0. */
static int fastseg_sum_available(int which) {
    if (which == 0) return 1;
#ifdef FASTSEG_SUM_X86
    __builtin_cpu_init();
    if (which == 1) return __builtin_cpu_supports("avx2");
    if (which == 2) return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
#endif
    return 0;
}

/* Switch to variant `which` (0 baseline, 1 AVX2, 2 AVX-512); 0 if unavailable. */
static int fastseg_sum_use(int which) {
    if (!fastseg_sum_available(which)) return 0;
#ifdef FASTSEG_SUM_X86
    if (which == 1) { fastseg_sum_active = fastseg_sum_avx2; return 1; }
    if (which == 2) { fastseg_sum_active = fastseg_sum_avx512; return 1; }
#endif
    fastseg_sum_active = fastseg_sum_baseline;
    return 1;
}

static inline uint64_t fastseg_sum(const unsigned char *data, size_t size) {
    return fastseg_sum_active(data, size);
}

#endif
