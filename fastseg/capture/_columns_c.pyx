# cython: language_level=3, auto_pickle=False
"""Columnar decoding in C: the compiled twin of ``_columns_py`` (the specification lives there).

``decode(buffer, name)`` walks a whole capture held in one contiguous buffer
(the caller maps the file into memory) and writes one row per TCP segment
straight into numpy arrays, with no Python object per record: record and
block headers, link, IP and TCP headers, the options and the checksum are
read through C pointers.  The frames are taken apart by ``_frames``, as
``_reader_c`` takes them apart; the option walk follows
``_codec_c.unpack(..., strict=False)``.

The safety contract: every record or block is checked to lie wholly in the
buffer before it is decoded, and ``p[i]`` is read only after a comparison on
the lines above has shown ``i < n`` (the captured length of the frame).
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, Py_buffer, PyBuffer_Release, PyObject_GetBuffer
from libc.stdint cimport (
    INT64_MAX, int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t, uintptr_t,
)
from libc.string cimport memcpy, memset

from fastseg.capture._frames cimport (
    K_TCP, MAX_RECORD, Found, Interface, Packet, _be16, _be32, _capture_format, _checksum_ok,
    _decode, _interface_fields, _le32, _packet_block, _rd32,
)

from fastseg.capture import _common as c
from fastseg.capture._columns_py import NS_MAX, NS_MIN, COLUMNS, Columns, ns_out_of_range

__all__ = ["decode"]

cdef enum:
    SAMPLE = 256 << 10         # bytes of records counted to estimate the rows of a file

cdef uint8_t _MAPPED[12]
memset(_MAPPED, 0, 10)
_MAPPED[10] = 0xFF
_MAPPED[11] = 0xFF

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


# ---------------------------------------------------------------- one row

@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
cdef inline void _segment(Out* o, Py_ssize_t r, const uint8_t* s, Py_ssize_t size) noexcept nogil:
    """The TCP columns of row ``r`` from the segment ``s[0:size]`` (size >= 20), decoded leniently."""
    cdef uint32_t offset_flags = _be16(s + 12)
    cdef Py_ssize_t header_len = (offset_flags >> 12) * 4
    cdef Py_ssize_t end = header_len if header_len > 20 else 20
    cdef Py_ssize_t i = 20
    cdef Py_ssize_t length
    cdef uint32_t kind
    cdef int32_t mss = -1
    cdef int16_t wscale = -1
    cdef uint8_t sack_permitted = 0, has_timestamps = 0, sack_blocks = 0
    cdef uint32_t tsval = 0, tsecr = 0
    cdef uint64_t kinds = 0
    cdef bint anomaly = header_len < 20 or header_len > size
    if end > size:
        end = size
    o.src_port[r] = _be16(s)
    o.dst_port[r] = _be16(s + 2)
    o.seq[r] = _be32(s + 4)
    o.ack[r] = _be32(s + 8)
    o.flags[r] = offset_flags & 0x1FF
    o.reserved[r] = (offset_flags >> 9) & 0x7
    o.window[r] = _be16(s + 14)
    o.checksum[r] = _be16(s + 16)
    o.urgent[r] = _be16(s + 18)
    o.header_len[r] = <uint8_t>header_len
    o.payload_len[r] = <uint32_t>(size - end)
    while i < end:
        kind = s[i]                          # i < end <= size
        if kind == 0:                        # EOL: the rest of the header is its value
            kinds |= 1
            break
        if kind == 1:
            kinds |= 2
            i += 1
            continue
        if i + 1 >= end:                     # no length byte: a raw tail, kind unknown
            anomaly = True
            break
        length = s[i + 1]                    # i + 1 < end
        if length < 2 or i + length > end:
            anomaly = True
            break
        kinds |= (<uint64_t>1) << (kind if kind < 63 else 63)
        if kind == 2:
            if length != 4:
                anomaly = True
            elif mss < 0:
                mss = _be16(s + i + 2)
        elif kind == 3:
            if length != 3:
                anomaly = True
            elif wscale < 0:
                wscale = s[i + 2]
        elif kind == 4:
            if length != 2:
                anomaly = True
            else:
                sack_permitted = 1
        elif kind == 8:
            if length != 10:
                anomaly = True
            elif not has_timestamps:
                has_timestamps = 1
                tsval = _be32(s + i + 2)
                tsecr = _be32(s + i + 6)
        elif kind == 5:
            if length < 10 or (length - 2) % 8:
                anomaly = True
            elif not sack_blocks:
                sack_blocks = <uint8_t>((length - 2) // 8)
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


cdef inline void _addresses(Out* o, Py_ssize_t r, const uint8_t* p, Found* f) noexcept nogil:
    cdef const uint8_t* a = p + f.addr
    if f.version == 4:
        o.version[r] = 4
        o.src_ipv4[r] = _be32(a)
        o.dst_ipv4[r] = _be32(a + 4)
        memcpy(o.src_addr + 16 * r, _MAPPED, 12)
        memcpy(o.src_addr + 16 * r + 12, a, 4)
        memcpy(o.dst_addr + 16 * r, _MAPPED, 12)
        memcpy(o.dst_addr + 16 * r + 12, a + 4, 4)
    else:
        o.version[r] = 6
        o.src_ipv4[r] = 0
        o.dst_ipv4[r] = 0
        memcpy(o.src_addr + 16 * r, a, 16)
        memcpy(o.dst_addr + 16 * r, a + 16, 16)


cdef inline void* _pointer(object array):
    return <void*><uintptr_t>array.__array_interface__["data"][0]


# ---------------------------------------------------------------- the file

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

    def __cinit__(self):
        self._arrays = {}
        self.linktypes = []
        self._interfaces = []
        self._if.id = -1

    cdef int _allocate(self, Py_ssize_t capacity) except -1:
        """Make room for ``capacity`` rows, keeping the rows made so far.

        All columns share one allocation, each in its own 64-byte aligned
        region: one block of fresh memory (huge pages where numpy asks for
        them) costs far fewer page faults than thirty.
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
        cdef uint32_t length, block_type
        while limit - pos >= 16:
            if pcapng:
                block_type = _rd32(data + pos, big)
                if block_type == 0x0A0D0D0A:
                    big = _be32(data + pos + 8) == 0x1A2B3C4D
                length = _rd32(data + pos + 4, big)
                if length < 12 or length % 4:
                    break
                packets += block_type == 6 or block_type == 3 or block_type == 2
            else:
                length = 16 + _rd32(data + pos + 8, big)
                packets += 1
            if <Py_ssize_t>length > limit - pos:
                break
            pos += length
        if pos <= start:
            return 64
        if limit == size:                   # the sample was the whole file
            return packets
        return <Py_ssize_t>(<double>packets * (size - start) / (pos - start) * 1.1) + 64

    @cython.cdivision(True)
    cdef int _record(self, const uint8_t* p, Py_ssize_t n, Py_ssize_t orig_len, int linktype,
                     int64_t ns, object big_ns, uint32_t interface) except -1:
        """Add a row for the frame ``p[0:n]`` if it carries a TCP segment."""
        cdef Found f
        cdef Py_ssize_t r = self._rows
        if _decode(p, n, orig_len, linktype, &f) != K_TCP:   # fills in all a row reads
            return 0
        if r == self._capacity:
            self._allocate(2 * self._capacity)
        self._out.frame[r] = self.frames
        if big_ns is None:
            self._out.timestamp_ns[r] = ns
            self._out.timestamp[r] = <double>(ns // 1000000000) + <double>(ns % 1000000000) / 1e9
        else:
            if not NS_MIN <= big_ns <= NS_MAX:
                raise ns_out_of_range(self.name, self.frames)
            self._out.timestamp_ns[r] = big_ns
            self._out.timestamp[r] = c.split_ns(big_ns)
        self._out.interface[r] = interface
        _addresses(&self._out, r, p, &f)
        _segment(&self._out, r, p + f.start, f.stop - f.start)
        self._out.checksum_ok[r] = <int8_t>_checksum_ok(p, &f)
        self._rows = r + 1
        return 0

    # ------------------------------------------------------------ classic pcap

    cdef int _pcap(self, bint big, bint nano) except -1:
        cdef const uint8_t* data = self._data
        cdef Py_ssize_t size = self._size
        cdef Py_ssize_t pos = 24
        cdef const uint8_t* p
        cdef uint32_t linktype = _rd32(data + 20, big) & 0x0FFFFFFF
        cdef uint32_t captured, orig_len
        cdef uint64_t frac_ns = 1 if nano else 1000
        cdef uint64_t ns
        if linktype not in c.SUPPORTED_LINKTYPES:
            raise c.unsupported_linktype(self.name, linktype)
        self.linktypes = [linktype]
        self._allocate(self._estimate(24, False, big))
        while size - pos >= 16:
            p = data + pos
            captured = _rd32(p + 8, big)
            if captured > MAX_RECORD:
                raise c.corrupt(self.name, pos, f"record of {captured} bytes")
            if size - pos - 16 < <Py_ssize_t>captured:
                break
            orig_len = _rd32(p + 12, big)
            ns = <uint64_t>_rd32(p, big) * 1000000000 + <uint64_t>_rd32(p + 4, big) * frac_ns
            pos += 16 + captured
            self.frames += 1
            self._record(p + 16, captured, orig_len, linktype, <int64_t>ns, None, 0)
        self.cut_short = pos < size
        return 0

    # ------------------------------------------------------------ pcapng

    cdef int _pcapng(self) except -1:
        cdef const uint8_t* data = self._data
        cdef Py_ssize_t size = self._size
        cdef Py_ssize_t pos = 0
        cdef const uint8_t* p
        cdef uint32_t block_type, length, trailer
        self._allocate(self._estimate(0, True, False))
        while size - pos >= 8:
            p = data + pos
            block_type = _rd32(p, self._big)
            if block_type == 0x0A0D0D0A:
                if size - pos < 12:
                    break
                if _le32(p + 8) == 0x1A2B3C4D:
                    self._big = False
                elif _be32(p + 8) == 0x1A2B3C4D:
                    self._big = True
                else:
                    raise c.corrupt(self.name, pos, "section header without byte-order magic")
            length = _rd32(p + 4, self._big)
            if length < 12 or length % 4 or length > MAX_RECORD:
                raise c.corrupt(self.name, pos, f"block of {length} bytes")
            if size - pos < <Py_ssize_t>length:
                break
            trailer = _rd32(p + length - 4, self._big)
            if trailer != length:
                raise c.corrupt(self.name, pos, f"block length {length} does not match its "
                                f"trailer {trailer}")
            if block_type == 6 or block_type == 3 or block_type == 2:
                self._packet(block_type, p + 8, length - 12, pos)
            elif block_type == 0x0A0D0D0A:
                self._interfaces = []
                self._if.id = -1
            elif block_type == 1:
                fields = _interface_fields(bytes(data[pos + 8:pos + length - 4]), self._big,
                                           self.name, pos)
                self._interfaces.append(fields)
                self.linktypes.append(fields[0])
            pos += length
        self.cut_short = pos < size
        return 0

    cdef int _packet(self, uint32_t block_type, const uint8_t* body, Py_ssize_t size,
                     Py_ssize_t at) except -1:
        cdef Packet pk
        big_ns = _packet_block(&pk, &self._if, self._interfaces, block_type, body, size,
                               self._big, self.name, at, <uint64_t>INT64_MAX)
        self.frames += 1
        self._record(body + pk.start, pk.captured, pk.orig_len, self._if.linktype, <int64_t>pk.ns,
                     big_ns, <uint32_t>pk.interface_id)
        return 0

    cdef object run(self):
        cdef bint big, nano
        cdef int kind
        if self._size < 24:
            raise c.not_a_capture(self.name, bytes(self._data[:self._size]))
        kind = _capture_format(self._data, &big, &nano)
        if kind == 1:
            self.format = "pcap"
            self._pcap(big, nano)
        elif kind == 2:
            self.format = "pcapng"
            self._pcapng()
        else:
            raise c.not_a_capture(self.name, bytes(self._data[:24]))
        return self._finish()


def decode(buffer, name="<capture>"):
    """The columns of the capture held in ``buffer`` (any contiguous buffer of its bytes)."""
    cdef Py_buffer view
    cdef _Decoder decoder = _Decoder()
    PyObject_GetBuffer(buffer, &view, PyBUF_SIMPLE)
    try:
        decoder._data = <const uint8_t*>view.buf
        decoder._size = view.len
        decoder.name = name
        return decoder.run()
    finally:
        PyBuffer_Release(&view)
