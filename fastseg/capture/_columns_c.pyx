# cython: language_level=3, auto_pickle=False
"""Columnar decoding in C: the compiled twin of ``_columns_py`` (the specification lives there).

``decode(buffer, name)`` walks a whole capture held in one contiguous buffer
(the caller maps the file into memory) and writes one row per TCP segment
straight into numpy arrays, with no Python object per record: record and
block headers, link, IP and TCP headers, the options and the checksum are
read through C pointers.  The frames are taken apart by ``_frames``, as
``_reader_c`` takes them apart; the option walk is ``_options_c``'s, as in
``_codec_c.unpack(..., strict=False)``.

The work is a two-stage pipeline.  The *walker* (the calling thread) goes
through the records in file order: it finds each TCP segment, verifies its
checksum -- which streams every byte of the file through the cache, so the
next record header is always there already -- and writes the frame number,
the timestamp in nanoseconds, the interface and the checksum verdict.  It
hands the rest of each row to the *filler* in chunks: the timestamp in
seconds, the addresses and the TCP columns (header fields and options).
With two CPUs the filler is a second thread working a few chunks behind the
walker, on bytes still in the cache, both without the GIL (a pcapng walker
keeps it for its interface blocks); when the filler falls behind, the walker
fills the chunk in hand itself rather than wait.  With one thread, or for a
small file, the walker fills every chunk.  Either way every row is written
by the same code, so the result does not depend on the threads.  Rows go
into arrays sized from an estimate; when they run out, the walker waits
until the filler has caught up, then moves everything to bigger arrays.

The safety contract: every record or block is checked to lie wholly in the
buffer before it is decoded, and ``p[i]`` is read only after a comparison on
the lines above has shown ``i < n`` (the captured length of the frame).  The
filler reads only segments the walker has checked, and the walker joins it
before ``decode`` returns or raises, so neither the buffer nor the arrays go
away under it.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, Py_buffer, PyBuffer_Release, PyObject_GetBuffer
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.ref cimport PyObject
from cpython.pythread cimport (
    WAIT_LOCK, PyThread_acquire_lock, PyThread_allocate_lock, PyThread_free_lock,
    PyThread_release_lock, PyThread_type_lock,
)
from libc.stdint cimport (
    INT64_MAX, int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t, uintptr_t,
)
from libc.string cimport memcpy, memset

from fastseg._checksum_c cimport sum_native
from fastseg._endian cimport be16, be32, put16, put32
from fastseg._options_c cimport AT_END, AT_EOL, AT_NOP, AT_OPTION, misfit, step
from fastseg._uint cimport fastseg_uint
from fastseg._wire_c cimport (
    ACK, CHECKSUM, DATA_OFFSET, DATA_OFFSET_SHIFT, DST_PORT, EOL, FLAG_BITS, HEADER_LEN,
    IPPROTO_TCP, IPV4_ADDR_LEN, IPV4_MAPPED_ADDR, IPV4_MAPPED_ONES, IPV4_VERSION, IPV6_ADDR_LEN,
    IPV6_VERSION, MAX_RECORD, MSS, NOP, OFFSET_UNIT, OPTION_HEAD_LEN, PCAP_FILE_HEADER,
    PCAP_INCL_LEN, PCAP_LINKTYPE, PCAP_LINKTYPE_MASK, PCAP_ORIG_LEN, PCAP_RECORD_HEADER,
    PCAP_TS_FRAC, PCAP_TS_SEC, PCAPNG_BLOCK_ALIGN, PCAPNG_BLOCK_HEADER, PCAPNG_BLOCK_LENGTH,
    PCAPNG_BLOCK_TRAILER, PCAPNG_BYTE_ORDER_MAGIC, PCAPNG_EPB, PCAPNG_IDB, PCAPNG_MIN_BLOCK,
    PCAPNG_PB, PCAPNG_SHB, PCAPNG_SHB_BYTE_ORDER, PCAPNG_SHB_HEAD, PCAPNG_SPB, PSEUDO_HEADER_IPV4,
    PSEUDO_HEADER_IPV6, PSEUDO_HEADER_MAX, PSEUDO_IPV4_LENGTH, PSEUDO_IPV4_PROTOCOL,
    PSEUDO_IPV4_ZERO, PSEUDO_IPV6_LENGTH, PSEUDO_IPV6_NEXT_HEADER, PSEUDO_IPV6_ZERO,
    RESERVED_BITS, RESERVED_SHIFT, SACK, SACK_BLOCK_LEN, SACK_PERMITTED, SEQ, SRC_PORT,
    TIMESTAMPS, U8, U16, U32_LEN, URGENT, WINDOW, WSCALE,
)
from fastseg.capture._frames cimport (
    K_TCP, Found, Interface, Packet, _capture_format, _checksum_ok,
    _decode, _interface_fields, _le32, _other_frame, _packet_block, _rd32,
)

import os
import threading

from fastseg.capture import _common as c
from fastseg.capture._columns_py import NS_MAX, NS_MIN, COLUMNS, Columns, ns_out_of_range

__all__ = ["CHUNK", "THREAD_MIN_BYTES", "decode"]

cdef enum:
    KIND_BITS = 64             # option_kinds: bit k for kind k, the last bit for kinds 63 and up
    SAMPLE = 256 << 10         # bytes of records counted to estimate the rows of a file
    SLOTS = 8                  # chunks in flight between the walker and the filler thread
    DEFAULT_CHUNK = 4096       # rows per chunk
    THREAD_MIN = 16 << 20      # buffers smaller than this are decoded by one thread

#: Rows the walker hands to the filler at a time.
CHUNK = DEFAULT_CHUNK
#: Captures smaller than this (bytes) are decoded by one thread when ``threads`` is None.
THREAD_MIN_BYTES = THREAD_MIN

# What the nogil pcap walk stopped for.
cdef enum:
    WALK_DONE = 0
    WALK_FULL = 1              # the arrays are full: grow them, then walk on
    WALK_CORRUPT = 2           # a record too big to be real, at self._pos

_NAMES = tuple(name for name, _, _ in COLUMNS)
if _NAMES != (
        "frame", "timestamp", "timestamp_ns", "interface", "version", "src_ipv4", "dst_ipv4",
        "src_addr", "dst_addr", "src_port", "dst_port", "seq", "ack", "flags", "reserved",
        "window", "checksum", "urgent", "header_len", "payload_len", "mss", "wscale",
        "sack_permitted", "has_timestamps", "tsval", "tsecr", "sack_blocks", "option_kinds",
        "anomaly", "checksum_ok"):
    raise ImportError("_columns_c is out of step with _columns_py.COLUMNS")


cdef struct Out:
    int64_t* frame
    double* timestamp
    int64_t* timestamp_ns
    uint32_t* interface
    uint8_t* version
    uint32_t* src_ipv4
    uint32_t* dst_ipv4
    uint8_t* src_addr
    uint8_t* dst_addr
    uint16_t* src_port
    uint16_t* dst_port
    uint32_t* seq
    uint32_t* ack
    uint16_t* flags
    uint8_t* reserved
    uint16_t* window
    uint16_t* checksum
    uint16_t* urgent
    uint8_t* header_len
    uint32_t* payload_len
    int32_t* mss
    int16_t* wscale
    uint8_t* sack_permitted
    uint8_t* has_timestamps
    uint32_t* tsval
    uint32_t* tsecr
    uint8_t* sack_blocks
    uint64_t* option_kinds
    uint8_t* anomaly
    int8_t* checksum_ok


# A row the filler completes: where its segment and addresses are.
cdef struct Job:
    const uint8_t* segment     # the TCP segment, ``size`` bytes (>= 20), all captured
    const uint8_t* addr        # the source address; the destination follows it
    int64_t ns                 # the timestamp, for the one in seconds
    uint32_t size
    uint32_t version           # 4 or 6


# A chunk of rows: jobs[i] is row ``row + i`` of the arrays ``out`` points into.
cdef struct Slot:
    Job* jobs
    Py_ssize_t count           # -1: the walker is done, the filler stops
    Py_ssize_t row
    Out out


# ---------------------------------------------------------------- one row

@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef inline void _segment(const Out* o, Py_ssize_t r, const uint8_t* s, Py_ssize_t size) noexcept nogil:
    """The TCP columns of row ``r`` from the segment ``s[0:size]`` (size >= 20), decoded leniently."""
    cdef uint32_t offset_flags = be16(s + DATA_OFFSET)
    cdef Py_ssize_t header_len = (offset_flags >> DATA_OFFSET_SHIFT) * OFFSET_UNIT
    cdef Py_ssize_t end = header_len if header_len > HEADER_LEN else HEADER_LEN
    cdef Py_ssize_t i = HEADER_LEN
    cdef Py_ssize_t length = 0
    cdef int found
    cdef uint32_t kind
    cdef int32_t mss = -1
    cdef int16_t wscale = -1
    cdef uint8_t sack_permitted = 0, has_timestamps = 0, sack_blocks = 0
    cdef uint32_t tsval = 0, tsecr = 0
    cdef uint64_t kinds = 0
    cdef bint anomaly = header_len < HEADER_LEN or header_len > size
    cdef const uint8_t* data
    if end > size:
        end = size
    o.src_port[r] = be16(s + SRC_PORT)
    o.dst_port[r] = be16(s + DST_PORT)
    o.seq[r] = be32(s + SEQ)
    o.ack[r] = be32(s + ACK)
    o.flags[r] = offset_flags & FLAG_BITS
    o.reserved[r] = (offset_flags >> RESERVED_SHIFT) & RESERVED_BITS
    o.window[r] = be16(s + WINDOW)
    o.checksum[r] = be16(s + CHECKSUM)
    o.urgent[r] = be16(s + URGENT)
    o.header_len[r] = <uint8_t>header_len
    o.payload_len[r] = <uint32_t>(size - end)
    while True:
        found = step(s, i, end, &length)    # reads below end <= size only
        if found == AT_END:
            break
        kind = s[i]
        if found == AT_EOL:                 # the rest of the header is its value
            kinds |= (<uint64_t>1) << EOL
            break
        if found == AT_NOP:
            kinds |= (<uint64_t>1) << NOP
            i += length
            continue
        if found != AT_OPTION:              # an unwalkable tail, kind unknown
            anomaly = True
            break
        kinds |= (<uint64_t>1) << (kind if kind < KIND_BITS - 1 else KIND_BITS - 1)
        data = s + i + OPTION_HEAD_LEN      # the option's data, within s[i:i + length]
        if misfit(kind, length):
            anomaly = True
        elif kind == MSS:
            if mss < 0:
                mss = be16(data)
        elif kind == WSCALE:
            if wscale < 0:
                wscale = data[0]
        elif kind == SACK_PERMITTED:
            sack_permitted = 1
        elif kind == TIMESTAMPS:
            if not has_timestamps:
                has_timestamps = 1
                tsval = be32(data)
                tsecr = be32(data + U32_LEN)
        elif kind == SACK:
            if not sack_blocks:
                sack_blocks = <uint8_t>((length - OPTION_HEAD_LEN) // SACK_BLOCK_LEN)
        i += length
    o.mss[r] = mss
    o.wscale[r] = wscale
    o.sack_permitted[r] = sack_permitted
    o.has_timestamps[r] = has_timestamps
    o.tsval[r] = tsval
    o.tsecr[r] = tsecr
    o.sack_blocks[r] = sack_blocks
    o.option_kinds[r] = kinds
    o.anomaly[r] = anomaly


cdef inline void _addresses(const Out* o, Py_ssize_t r, const uint8_t* a, uint32_t version) noexcept nogil:
    """The address columns of row ``r``: the source address at ``a``, the destination after it."""
    cdef uint8_t* src = o.src_addr + IPV6_ADDR_LEN * r
    cdef uint8_t* dst = o.dst_addr + IPV6_ADDR_LEN * r
    if version == IPV4_VERSION:
        o.version[r] = IPV4_VERSION
        o.src_ipv4[r] = be32(a)
        o.dst_ipv4[r] = be32(a + IPV4_ADDR_LEN)
        _mapped(src, a)                      # ::ffff:a.b.c.d
        _mapped(dst, a + IPV4_ADDR_LEN)
    else:
        o.version[r] = IPV6_VERSION
        o.src_ipv4[r] = 0
        o.dst_ipv4[r] = 0
        memcpy(src, a, IPV6_ADDR_LEN)
        memcpy(dst, a + IPV6_ADDR_LEN, IPV6_ADDR_LEN)


cdef inline void _mapped(uint8_t* out, const uint8_t* ipv4) noexcept nogil:
    """Write the IPv4-mapped IPv6 address of ``ipv4`` (RFC 4291 §2.5.5.2) to ``out``."""
    memset(out, 0, IPV4_MAPPED_ONES)
    memset(out + IPV4_MAPPED_ONES, U8, IPV4_MAPPED_ADDR - IPV4_MAPPED_ONES)
    memcpy(out + IPV4_MAPPED_ADDR, ipv4, IPV4_ADDR_LEN)


cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define fastseg_prefetch(p) __builtin_prefetch((const void *)(p), 0, 3)
    #else
    #define fastseg_prefetch(p) ((void)(p))
    #endif
    """
    void _prefetch "fastseg_prefetch" (const void* p) noexcept nogil


cdef enum:
    AHEAD = 8                  # jobs ahead of the one being filled whose bytes are fetched


cdef void _fill(const Slot* s) noexcept nogil:
    """The filler's part of the rows of one chunk: seconds, addresses and the TCP header.

    The walker's core read these bytes last: fetching a few jobs ahead hides
    the trip from its cache.  (A prefetch only hints; it reads nothing.)
    """
    cdef Py_ssize_t i
    cdef Py_ssize_t count = s.count
    cdef Py_ssize_t row = s.row
    cdef const Job* job = s.jobs
    cdef Out out = s.out                 # a copy no column store can alias: kept in registers
    for i in range(count):
        if i + AHEAD < count:
            _prefetch(job[AHEAD].addr)
            _prefetch(job[AHEAD].segment)
            _prefetch(job[AHEAD].segment + 32)
        out.timestamp[row + i] = _seconds(job.ns)
        _addresses(&out, row + i, job.addr, job.version)
        _segment(&out, row + i, job.segment, job.size)
        job += 1


cdef inline uint64_t _word(const uint8_t* p) noexcept nogil:
    """Four bytes as a native-order 32-bit word (any alignment)."""
    cdef uint32_t word
    memcpy(&word, p, 4)
    return word


cdef inline uint64_t _words(const uint8_t* p, Py_ssize_t size) noexcept nogil:
    """The native-order 32-bit words of p[0:size] added up (``size`` a multiple of 4).

    Called with constant sizes, so the compiler unrolls the loop into the sum
    of words it stands for.
    """
    cdef uint64_t total = 0
    cdef Py_ssize_t i = 0
    while i < size:
        total += _word(p + i)
        i += 4
    return total


cdef inline int8_t _verdict(const uint8_t* p, const Found* f) noexcept nogil:
    """``_frames._checksum_ok`` for the segment ``f`` locates in ``p``, in one pass over its bytes.

    The pseudo-header is added as native-order words to the native-order sum
    of the segment (``_checksum_c.sum_native``, the vectorised loop) and the
    total folded once: the one's-complement sum is the same however it is
    grouped, and 0xFFFF (the only verdict asked for) survives the byte swap
    the big-endian sums of ``_checksum_ok`` make.  An IPv6 routing header
    that names another final destination goes to ``_checksum_ok`` itself.
    """
    cdef Py_ssize_t length = f.stop - f.start
    cdef const uint8_t* a = p + f.addr
    cdef uint8_t pseudo[PSEUDO_HEADER_MAX]  # only its fields past the two addresses are written
    cdef uint64_t total
    if not f.complete:
        return -1
    if f.version == IPV4_VERSION:
        if length > U16:
            return -1
        pseudo[PSEUDO_IPV4_ZERO] = 0
        pseudo[PSEUDO_IPV4_PROTOCOL] = IPPROTO_TCP
        put16(pseudo + PSEUDO_IPV4_LENGTH, <uint32_t>length)
        total = (_words(a, 2 * IPV4_ADDR_LEN)
                 + _words(pseudo + PSEUDO_IPV4_ZERO, PSEUDO_HEADER_IPV4 - PSEUDO_IPV4_ZERO))
    else:
        if f.final != f.addr + IPV6_ADDR_LEN or f.final_prefix:
            return <int8_t>_checksum_ok(p, f)
        put32(pseudo + PSEUDO_IPV6_LENGTH, <uint32_t>length)
        memset(pseudo + PSEUDO_IPV6_ZERO, 0, PSEUDO_IPV6_NEXT_HEADER - PSEUDO_IPV6_ZERO)
        pseudo[PSEUDO_IPV6_NEXT_HEADER] = IPPROTO_TCP
        total = (_words(a, 2 * IPV6_ADDR_LEN)
                 + _words(pseudo + PSEUDO_IPV6_LENGTH, PSEUDO_HEADER_IPV6 - PSEUDO_IPV6_LENGTH))
    total += sum_native(p + f.start, length)
    while total >> 16:
        total = (total & U16) + (total >> 16)
    return total == U16


@cython.cdivision(True)
cdef inline double _seconds(int64_t ns) noexcept nogil:
    """``_common.split_ns``: whole seconds (rounded down) plus the fraction, each exact first.

    Both are exact doubles (|seconds| < 2**34, fraction < 2**30), so the one
    division and the one addition round as Python's do.
    """
    cdef int64_t sec = ns // 1000000000
    cdef int64_t frac = ns - sec * 1000000000
    if frac < 0:
        sec -= 1
        frac += 1000000000
    return <double>sec + <double>frac / 1e9


cdef inline void* _pointer(object array):
    return <void*><uintptr_t>array.__array_interface__["data"][0]


def _cpus():
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# ---------------------------------------------------------------- the file

@cython.final
cdef class _Decoder:
    cdef const uint8_t* _data
    cdef Py_ssize_t _size
    cdef str name
    cdef str format
    cdef Out _out
    cdef dict _arrays
    cdef Py_ssize_t _rows, _capacity
    cdef long long frames
    cdef bint cut_short, _big
    cdef list linktypes
    # pcapng: the interfaces of the current section and the one in use
    cdef list _interfaces               # (linktype, snaplen, mul, div, offset_ns)
    cdef Interface _if
    # the classic pcap walk: where it is, and the size of a corrupt record
    cdef Py_ssize_t _pos
    cdef uint32_t _bad
    # the filler: the chunk being made (slot _slot, _count jobs), the thread and its locks
    cdef Job* _jobs
    cdef Slot _slots[SLOTS]
    cdef int _slot
    cdef Py_ssize_t _count, _chunk
    cdef bint _threaded
    cdef object _thread
    cdef PyThread_type_lock _filled[SLOTS]   # held while slot k holds no chunk for the filler
    cdef PyThread_type_lock _free[SLOTS]     # held while slot k is the walker's or the filler's
    cdef PyThread_type_lock _started       # the filler releases it when it starts and when it ends

    def __cinit__(self):
        self._arrays = {}
        self.linktypes = []
        self._interfaces = []
        self._if.id = -1

    def __dealloc__(self):
        self._release()

    cdef int _allocate(self, Py_ssize_t capacity) except -1:
        """Make room for ``capacity`` rows, keeping the rows made so far.

        All columns share one allocation, each in its own 64-byte aligned
        region: one block of fresh memory (huge pages where numpy asks for
        them) costs far fewer page faults than thirty.  Only the walker calls
        this, with the filler idle (see _grow).
        """
        import numpy as np

        cdef Py_ssize_t keep = self._rows
        cdef Py_ssize_t total = 0
        if capacity < 64:
            capacity = 64
        offsets = []
        for name, dtype, _ in COLUMNS:
            offsets.append(total)
            total += (np.dtype(dtype).itemsize * capacity + 63) // 64 * 64
        block = np.empty(total + 64, dtype=np.uint8)
        start = (-<Py_ssize_t>_pointer(block)) % 64
        for (name, dtype, _), offset in zip(COLUMNS, offsets):
            size = np.dtype(dtype).itemsize * capacity
            array = block[start + offset:start + offset + size].view(dtype)
            old = self._arrays.get(name)
            if old is not None and keep:
                array[:keep] = old[:keep]
            self._arrays[name] = array
        arrays = self._arrays
        self._out.frame = <int64_t*>_pointer(arrays["frame"])
        self._out.timestamp = <double*>_pointer(arrays["timestamp"])
        self._out.timestamp_ns = <int64_t*>_pointer(arrays["timestamp_ns"])
        self._out.interface = <uint32_t*>_pointer(arrays["interface"])
        self._out.version = <uint8_t*>_pointer(arrays["version"])
        self._out.src_ipv4 = <uint32_t*>_pointer(arrays["src_ipv4"])
        self._out.dst_ipv4 = <uint32_t*>_pointer(arrays["dst_ipv4"])
        self._out.src_addr = <uint8_t*>_pointer(arrays["src_addr"])
        self._out.dst_addr = <uint8_t*>_pointer(arrays["dst_addr"])
        self._out.src_port = <uint16_t*>_pointer(arrays["src_port"])
        self._out.dst_port = <uint16_t*>_pointer(arrays["dst_port"])
        self._out.seq = <uint32_t*>_pointer(arrays["seq"])
        self._out.ack = <uint32_t*>_pointer(arrays["ack"])
        self._out.flags = <uint16_t*>_pointer(arrays["flags"])
        self._out.reserved = <uint8_t*>_pointer(arrays["reserved"])
        self._out.window = <uint16_t*>_pointer(arrays["window"])
        self._out.checksum = <uint16_t*>_pointer(arrays["checksum"])
        self._out.urgent = <uint16_t*>_pointer(arrays["urgent"])
        self._out.header_len = <uint8_t*>_pointer(arrays["header_len"])
        self._out.payload_len = <uint32_t*>_pointer(arrays["payload_len"])
        self._out.mss = <int32_t*>_pointer(arrays["mss"])
        self._out.wscale = <int16_t*>_pointer(arrays["wscale"])
        self._out.sack_permitted = <uint8_t*>_pointer(arrays["sack_permitted"])
        self._out.has_timestamps = <uint8_t*>_pointer(arrays["has_timestamps"])
        self._out.tsval = <uint32_t*>_pointer(arrays["tsval"])
        self._out.tsecr = <uint32_t*>_pointer(arrays["tsecr"])
        self._out.sack_blocks = <uint8_t*>_pointer(arrays["sack_blocks"])
        self._out.option_kinds = <uint64_t*>_pointer(arrays["option_kinds"])
        self._out.anomaly = <uint8_t*>_pointer(arrays["anomaly"])
        self._out.checksum_ok = <int8_t*>_pointer(arrays["checksum_ok"])
        self._capacity = capacity
        return 0

    cdef object _finish(self):
        cols = Columns()
        for name, _, _ in COLUMNS:
            cols[name] = self._arrays.pop(name)[:self._rows]
        cols.name = self.name
        cols.format = self.format
        cols.linktypes = self.linktypes
        cols.frames = self.frames
        cols.cut_short = self.cut_short
        return cols

    cdef Py_ssize_t _estimate(self, Py_ssize_t pos, bint pcapng, bint big) noexcept:
        """The rows to allocate: the packets in the first SAMPLE bytes, scaled to the file, +10 %.

        Only a guess (the rows are TCP segments, the count here is every
        packet), so the columns still grow when it is short.
        """
        cdef const uint8_t* data = self._data
        cdef Py_ssize_t size = self._size
        cdef Py_ssize_t start = pos
        cdef Py_ssize_t limit = size if size - pos < SAMPLE else pos + SAMPLE
        cdef Py_ssize_t packets = 0
        cdef uint64_t length              # 16 + a 32-bit captured length must not wrap to 0
        cdef uint32_t block_type
        while limit - pos >= PCAP_RECORD_HEADER:  # more than a pcapng block's type, length and magic
            if pcapng:
                block_type = _rd32(data + pos, big)
                if block_type == PCAPNG_SHB:
                    big = be32(data + pos + PCAPNG_SHB_BYTE_ORDER) == PCAPNG_BYTE_ORDER_MAGIC
                length = _rd32(data + pos + PCAPNG_BLOCK_LENGTH, big)
                if length < PCAPNG_MIN_BLOCK or length % PCAPNG_BLOCK_ALIGN:
                    break
                packets += (block_type == PCAPNG_EPB or block_type == PCAPNG_SPB
                            or block_type == PCAPNG_PB)
            else:
                length = PCAP_RECORD_HEADER + <uint64_t>_rd32(data + pos + PCAP_INCL_LEN, big)
                packets += 1
            if <Py_ssize_t>length > limit - pos:
                break
            pos += length
        if pos <= start:
            return 64
        if limit == size:                   # the sample was the whole file
            return packets
        return <Py_ssize_t>(<double>packets * (size - start) / (pos - start) * 1.1) + 64

    # ------------------------------------------------------------ walker and filler

    cdef int _start(self, Py_ssize_t chunk, bint threaded) except -1:
        """Set up the chunks, and the filler thread when ``threaded``."""
        cdef int k
        cdef int slots = SLOTS if threaded else 1
        self._chunk = chunk
        self._jobs = <Job*>PyMem_Malloc(slots * chunk * sizeof(Job))
        if self._jobs == NULL:
            raise MemoryError()
        for k in range(slots):
            self._slots[k].jobs = self._jobs + k * chunk
        if not threaded:
            return 0
        for k in range(SLOTS):
            self._filled[k] = PyThread_allocate_lock()
            self._free[k] = PyThread_allocate_lock()
            if self._filled[k] == NULL or self._free[k] == NULL:
                raise MemoryError()
            PyThread_acquire_lock(self._filled[k], WAIT_LOCK)    # free, never held: no wait
        self._started = PyThread_allocate_lock()
        if self._started == NULL:
            raise MemoryError()
        PyThread_acquire_lock(self._started, WAIT_LOCK)
        PyThread_acquire_lock(self._free[0], WAIT_LOCK)          # slot 0 is the walker's
        thread = threading.Thread(None, self._filler, name="fastseg-columns", daemon=True)
        try:
            thread.start()
        except RuntimeError:                # no thread to be had: the walker fills
            return 0
        self._thread = thread
        self._threaded = True
        with nogil:                         # the filler is running, without the GIL
            PyThread_acquire_lock(self._started, WAIT_LOCK)
        return 0

    def _filler(self):
        """The filler thread: fill chunks in slot order until the walker says it is done."""
        cdef int k = 0
        cdef Slot* s
        with nogil:
            PyThread_release_lock(self._started)
            while True:
                PyThread_acquire_lock(self._filled[k], WAIT_LOCK)
                s = &self._slots[k]
                if s.count < 0:
                    break
                _fill(s)
                PyThread_release_lock(self._free[k])
                k = (k + 1) % SLOTS
            PyThread_release_lock(self._started)   # the last touch of the decoder: _stop waits for it

    cdef inline void _emit(self, const uint8_t* p, const Found* f, int64_t ns,
                           uint32_t interface) noexcept nogil:
        """Add a row for the TCP segment ``f`` locates in the frame ``p`` (there is room for it).

        Writes the columns of the frame and the checksum verdict, and
        queues the rest for the filler; the caller publishes the chunk when
        it is full.
        """
        cdef Py_ssize_t r = self._rows
        cdef Job* job = self._slots[self._slot].jobs + self._count
        self._out.frame[r] = self.frames
        self._out.timestamp_ns[r] = ns
        self._out.interface[r] = interface
        self._out.checksum_ok[r] = _verdict(p, f)
        job.segment = p + f.start
        job.addr = p + f.addr
        job.ns = ns
        job.size = <uint32_t>(f.stop - f.start)
        job.version = f.version
        self._rows = r + 1
        self._count += 1

    cdef void _publish(self) noexcept nogil:
        """Hand the chunk being made to the filler and start the next one.

        When the filler is so far behind that the next slot is still its, the
        walker fills the chunk itself instead of waiting, and makes the next
        chunk in the same slot: the filler still finds the slots in order.
        """
        cdef Slot* s = &self._slots[self._slot]
        cdef int next_slot = (self._slot + 1) % SLOTS
        s.count = self._count
        s.row = self._rows - self._count
        s.out = self._out
        self._count = 0
        if not self._threaded or not PyThread_acquire_lock(self._free[next_slot], 0):
            _fill(s)
            return
        PyThread_release_lock(self._filled[self._slot])
        self._slot = next_slot

    cdef void _drain(self) noexcept nogil:
        """Fill the chunk being made, then wait until the filler has filled every other chunk."""
        cdef int k
        cdef Slot* s = &self._slots[self._slot]
        if self._count:
            s.count = self._count
            s.row = self._rows - self._count
            s.out = self._out
            self._count = 0
            _fill(s)
        if not self._threaded:
            return
        for k in range(SLOTS):
            if k != self._slot:
                PyThread_acquire_lock(self._free[k], WAIT_LOCK)
                PyThread_release_lock(self._free[k])

    cdef int _grow(self) except -1:
        with nogil:
            self._drain()
        self._allocate(2 * self._capacity)
        return 0

    cdef int _stop(self) except -1:
        """Stop the filler thread and wait for its end; free the chunks and the locks.

        The locks and the buffer must outlive the filler, so the wait is on the
        lock it releases last, not on ``Thread.join``: an exception (Ctrl-C)
        can cut a join short and make a running thread look stopped.
        """
        interrupted = None
        if self._thread is not None:
            self._slots[self._slot].count = -1
            PyThread_release_lock(self._filled[self._slot])
            with nogil:                     # no signal can cut this wait short; it ends within a chunk
                PyThread_acquire_lock(self._started, WAIT_LOCK)
            try:                            # the filler no longer touches the decoder: this is tidying
                self._thread.join()
            except BaseException as exc:
                interrupted = exc
            self._thread = None
        self._threaded = False
        self._release()
        if interrupted is not None:
            raise interrupted
        return 0

    cdef void _release(self) noexcept:
        cdef int k
        for k in range(SLOTS):
            if self._filled[k] != NULL:
                PyThread_free_lock(self._filled[k])
                self._filled[k] = NULL
            if self._free[k] != NULL:
                PyThread_free_lock(self._free[k])
                self._free[k] = NULL
        if self._started != NULL:
            PyThread_free_lock(self._started)
            self._started = NULL
        PyMem_Free(self._jobs)
        self._jobs = NULL

    # ------------------------------------------------------------ classic pcap

    cdef int _pcap(self, bint big, bint nano) except -1:
        cdef uint32_t linktype = _rd32(self._data + PCAP_LINKTYPE, big) & PCAP_LINKTYPE_MASK
        cdef uint64_t frac_ns = 1 if nano else 1000
        cdef int status
        if linktype not in c.SUPPORTED_LINKTYPES:
            raise c.unsupported_linktype(self.name, linktype)
        self.linktypes = [linktype]
        self._allocate(self._estimate(PCAP_FILE_HEADER, False, big))
        self._pos = PCAP_FILE_HEADER
        while True:
            with nogil:
                status = self._pcap_walk(big, frac_ns, linktype)
            if status == WALK_FULL:
                self._grow()
            elif status == WALK_CORRUPT:
                raise c.corrupt(self.name, self._pos, f"record of {self._bad} bytes")
            else:
                break
        self.cut_short = self._pos < self._size
        return 0

    cdef int _pcap_walk(self, bint big, uint64_t frac_ns, int linktype) noexcept nogil:
        """Walk the records from ``_pos`` until the end, full arrays or a corrupt record."""
        cdef const uint8_t* data = self._data
        cdef Py_ssize_t size = self._size
        cdef Py_ssize_t pos = self._pos
        cdef const uint8_t* p
        cdef uint32_t captured, orig_len
        cdef int64_t ns
        cdef Found f
        cdef int status = WALK_DONE
        while size - pos >= PCAP_RECORD_HEADER:
            if self._rows == self._capacity:
                status = WALK_FULL
                break
            p = data + pos
            captured = _rd32(p + PCAP_INCL_LEN, big)
            if captured > MAX_RECORD:
                self._bad = captured
                status = WALK_CORRUPT
                break
            if size - pos - PCAP_RECORD_HEADER < <Py_ssize_t>captured:
                break
            orig_len = _rd32(p + PCAP_ORIG_LEN, big)
            ns = <int64_t>(<uint64_t>_rd32(p + PCAP_TS_SEC, big) * 1000000000
                           + <uint64_t>_rd32(p + PCAP_TS_FRAC, big) * frac_ns)
            pos += PCAP_RECORD_HEADER + captured
            self.frames += 1
            if _decode(p + PCAP_RECORD_HEADER, captured, orig_len, linktype, &f) == K_TCP:
                self._emit(p + PCAP_RECORD_HEADER, &f, ns, 0)
                if self._count == self._chunk:
                    self._publish()
        self._pos = pos
        return status

    # ------------------------------------------------------------ pcapng

    cdef int _pcapng(self) except -1:
        cdef const uint8_t* data = self._data
        cdef Py_ssize_t size = self._size
        cdef Py_ssize_t pos = 0
        cdef const uint8_t* p
        cdef uint32_t block_type, length, trailer
        self._allocate(self._estimate(0, True, False))
        while size - pos >= PCAPNG_BLOCK_HEADER:
            p = data + pos
            block_type = _rd32(p, self._big)
            if block_type == PCAPNG_SHB:
                if size - pos < PCAPNG_SHB_HEAD:
                    break
                if _le32(p + PCAPNG_SHB_BYTE_ORDER) == PCAPNG_BYTE_ORDER_MAGIC:
                    self._big = False
                elif be32(p + PCAPNG_SHB_BYTE_ORDER) == PCAPNG_BYTE_ORDER_MAGIC:
                    self._big = True
                else:
                    raise c.corrupt(self.name, pos, "section header without byte-order magic")
            length = _rd32(p + PCAPNG_BLOCK_LENGTH, self._big)
            if length < PCAPNG_MIN_BLOCK or length % PCAPNG_BLOCK_ALIGN or length > MAX_RECORD:
                raise c.corrupt(self.name, pos, f"block of {length} bytes")
            if size - pos < <Py_ssize_t>length:
                break
            trailer = _rd32(p + length - PCAPNG_BLOCK_TRAILER, self._big)
            if trailer != length:
                raise c.corrupt(self.name, pos, f"block length {length} does not match its "
                                f"trailer {trailer}")
            if block_type == PCAPNG_EPB or block_type == PCAPNG_SPB or block_type == PCAPNG_PB:
                self._packet(block_type, p + PCAPNG_BLOCK_HEADER,
                             length - PCAPNG_BLOCK_HEADER - PCAPNG_BLOCK_TRAILER, pos)
            elif block_type == PCAPNG_SHB:
                self._interfaces = []
                self._if.id = -1
            elif block_type == PCAPNG_IDB:
                fields = _interface_fields(bytes(data[pos + PCAPNG_BLOCK_HEADER:
                                                      pos + length - PCAPNG_BLOCK_TRAILER]),
                                           self._big, self.name, pos)
                self._interfaces.append(fields)
                self.linktypes.append(fields[0])
            elif _other_frame(block_type):     # numbered as a frame by Wireshark, no packet
                self.frames += 1
            pos += length
        self.cut_short = pos < size
        return 0

    cdef int _packet(self, uint32_t block_type, const uint8_t* body, Py_ssize_t size,
                     Py_ssize_t at) except -1:
        cdef Packet pk
        cdef Found f
        cdef int64_t ns
        big_ns = _packet_block(&pk, &self._if, self._interfaces, block_type, body, size,
                               self._big, self.name, at, <uint64_t>INT64_MAX)
        self.frames += 1
        if _decode(body + pk.start, pk.captured, pk.orig_len, self._if.linktype, &f) != K_TCP:
            return 0
        if big_ns is None:
            ns = <int64_t>pk.ns
        elif NS_MIN <= big_ns <= NS_MAX:
            ns = big_ns
        else:
            raise ns_out_of_range(self.name, self.frames)
        if self._rows == self._capacity:
            self._grow()
        self._emit(body + pk.start, &f, ns, <uint32_t>pk.interface_id)
        if self._count == self._chunk:
            with nogil:
                self._publish()
        return 0

    cdef object run(self, Py_ssize_t chunk, bint threaded):
        cdef bint big, nano
        cdef int kind
        if self._size < PCAP_FILE_HEADER:         # _capture_format reads this much
            raise c.not_a_capture(self.name, bytes(self._data[:self._size]))
        kind = _capture_format(self._data, &big, &nano)
        if kind == 0:
            raise c.not_a_capture(self.name, bytes(self._data[:PCAP_FILE_HEADER]))
        self._start(chunk, threaded)
        try:
            if kind == 1:
                self.format = "pcap"
                self._pcap(big, nano)
            else:
                self.format = "pcapng"
                self._pcapng()
            with nogil:
                self._drain()
        finally:
            self._stop()
        return self._finish()


def decode(buffer, name="<capture>", threads=None, *, chunk=CHUNK):
    """The columns of the capture held in ``buffer`` (any contiguous buffer of its bytes).

    ``threads`` is 1 (the calling thread does everything) or 2 (a second
    thread fills the address and TCP columns; more gives nothing more); by
    default 2 when this process may use more than one CPU and the buffer
    holds at least THREAD_MIN_BYTES.  The result is the same either way.
    ``chunk`` is the rows handed over at a time (tests make it small).
    """
    cdef Py_buffer view
    cdef _Decoder decoder = _Decoder()
    cdef unsigned long long rows = 0
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):
        raise ValueError(f"threads is a positive int or None, not {threads!r}")
    # Checked as the C number it becomes: an int subclass's comparisons could say otherwise.
    if not fastseg_uint(<PyObject*>chunk, 1 << 20, &rows) or rows < 1:
        raise ValueError(f"chunk is an int from 1 to 2**20, not {chunk!r}")
    PyObject_GetBuffer(buffer, &view, PyBUF_SIMPLE)
    try:
        if threads is None:
            threads = 2 if view.len >= THREAD_MIN and _cpus() > 1 else 1
        decoder._data = <const uint8_t*>view.buf
        decoder._size = view.len
        decoder.name = name
        return decoder.run(<Py_ssize_t>rows, threads > 1)
    finally:
        PyBuffer_Release(&view)
