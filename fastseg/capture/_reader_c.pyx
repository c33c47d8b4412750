# cython: language_level=3, auto_pickle=False
"""The capture reader in C: the compiled twin of ``_reader_py`` (the specification lives there).

The file is read with ``readinto`` into one reusable bytearray (1 MiB by
default); a record that straddles the end of the data read so far is moved
to the front and completed by the next read.  The hot path -- record header,
link and IP headers, the TCP checksum -- runs on C pointers.  Python objects
are made only for what a record holds: the addresses (cached, since a flow
repeats them), the segment bytes handed to the compiled ``unpack``, and the
record itself.

The safety contract: ``_decode`` reads ``p[i]`` only after a comparison on
the lines above has shown ``i < n`` (the captured length), and every record
or block is checked to lie wholly in the buffer before it is decoded.
"""

cimport cython
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcmp, memmove, memset

from fastseg._checksum_c cimport pseudo_header, sum_be

import struct

from fastseg._codec_c import unpack as _unpack
from fastseg.capture import _common as c
from fastseg.capture._common import Kind, OtherRecord, TcpRecord

__all__ = ["Reader"]

cdef extern from *:
    """
    /* A tuple subclass instance holding new references to the fields: what
       tuple.__new__(cls, (...)) does, without the call and the temporary tuple. */
    static PyObject* fastseg_record9(PyObject* cls, PyObject* f0, PyObject* f1, PyObject* f2,
            PyObject* f3, PyObject* f4, PyObject* f5, PyObject* f6, PyObject* f7, PyObject* f8) {
        PyObject* fields[9] = {f0, f1, f2, f3, f4, f5, f6, f7, f8};
        Py_ssize_t i;
        PyObject* result = ((PyTypeObject*)cls)->tp_alloc((PyTypeObject*)cls, 9);
        if (result == NULL) return NULL;
        for (i = 0; i < 9; i++) {
            Py_INCREF(fields[i]);
            PyTuple_SET_ITEM(result, i, fields[i]);
        }
        return result;
    }
    """
    object fastseg_record9(object cls, object f0, object f1, object f2, object f3, object f4,
                           object f5, object f6, object f7, object f8)

cdef extern from *:
    """
    /* func(arg, strict=False) by vectorcall: no keyword dict is built. */
    static PyObject* fastseg_call_lenient(PyObject* func, PyObject* arg, PyObject* kwnames) {
        PyObject* args[3] = {NULL, arg, Py_False};
        return PyObject_Vectorcall(func, args + 1, 1 | PY_VECTORCALL_ARGUMENTS_OFFSET, kwnames);
    }
    """
    object fastseg_call_lenient(object func, object arg, object kwnames)

cdef object _UNPACK = _unpack
cdef tuple _STRICT = ("strict",)
cdef object _TCP_RECORD = TcpRecord
if not (issubclass(TcpRecord, tuple) and len(TcpRecord._fields) == 9):
    raise ImportError("fastseg_record9() builds 9-field tuple subclasses only")

# Verdict kinds: K_TCP is a TCP segment, the rest index _KINDS.
cdef enum:
    K_TCP = 0
    K_FRAGMENT = 1
    K_NON_TCP = 2
    K_NON_IP = 3
    K_TRUNCATED = 4
    K_MALFORMED = 5
cdef tuple _KINDS = (None, Kind.FRAGMENT, Kind.NON_TCP, Kind.NON_IP, Kind.TRUNCATED,
                     Kind.MALFORMED)

# Detail codes: which _common message builder explains an OtherRecord, with args a, b, c.
cdef enum:
    D_SHORT = 0       # short_detail(layer, need, have)
    D_ETHERTYPE = 1   # ethertype_detail(ethertype)
    D_FAMILY = 2      # family_detail(family)
    D_VERSION = 3     # version_detail(expected, version)
    D_PROTOCOL = 4    # protocol_detail(protocol)
    D_FRAGMENT = 5    # fragment_detail(version, offset, more)
    D_IHL = 6         # ihl_detail(header_len)
    D_TOTAL = 7       # total_len_detail(total, header_len)

cdef enum:
    MAX_RECORD = 64 * 1024 * 1024

# Interface timestamp modes: how pcapng units become nanoseconds without Python ints.
cdef enum:
    TS_PYTHON = 0     # binary resolution, an offset, or overflow: Python ints
    TS_MUL = 1        # ns = ts * mul
    TS_DIV = 2        # ns = ts // div


cdef struct Found:
    int kind
    int version
    Py_ssize_t addr       # offset of the source address (the destination follows); -1: none
    Py_ssize_t start      # the TCP segment: frame[start:stop]
    Py_ssize_t stop
    bint complete         # the whole segment the IP header announces was captured
    int protocol
    int detail
    long long a, b, c


cdef inline uint16_t _be16(const uint8_t* p) noexcept nogil:
    return (p[0] << 8) | p[1]


cdef inline uint32_t _be32(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline uint32_t _le32(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[3] << 24) | (<uint32_t>p[2] << 16) | (<uint32_t>p[1] << 8) | p[0]


cdef inline uint32_t _rd32(const uint8_t* p, bint big) noexcept nogil:
    return _be32(p) if big else _le32(p)


cdef inline uint16_t _rd16(const uint8_t* p, bint big) noexcept nogil:
    return _be16(p) if big else <uint16_t>((p[1] << 8) | p[0])


cdef inline int _other(Found* f, int kind, int version, Py_ssize_t addr, int protocol,
                       int detail, long long a, long long b, long long c) noexcept nogil:
    f.kind = kind
    f.version = version
    f.addr = addr
    f.protocol = protocol
    f.detail = detail
    f.a = a
    f.b = b
    f.c = c
    return kind


cdef inline int _short(Found* f, bint cut, int layer, Py_ssize_t at, Py_ssize_t need,
                       Py_ssize_t n, Py_ssize_t limit, int version, Py_ssize_t addr,
                       int protocol) noexcept nogil:
    """As _reader_py._short: truncated if the capture cut the frame before the header's end."""
    cdef int kind = K_TRUNCATED if cut and at + need > n else K_MALFORMED
    return _other(f, kind, version, addr, protocol, D_SHORT, layer, need,
                  limit - at if limit > at else 0)


@cython.cdivision(True)
cdef int _decode(const uint8_t* p, Py_ssize_t n, Py_ssize_t orig_len, int linktype,
                 Found* f) noexcept nogil:
    """Take the frame p[0:n] apart down to its TCP segment, or say why there is none."""
    cdef bint cut = n < orig_len
    cdef int expected = 0
    cdef int version
    cdef uint32_t ethertype, family
    cdef Py_ssize_t base
    if linktype == 1:                       # Ethernet
        if n < 14:
            return _short(f, cut, 0, 0, 14, n, n, 0, -1, -1)
        ethertype = _be16(p + 12)
        base = 14
    elif linktype == 113:                   # Linux cooked
        if n < 16:
            return _short(f, cut, 2, 0, 16, n, n, 0, -1, -1)
        ethertype = _be16(p + 14)
        base = 16
    elif linktype == 276:                   # Linux cooked v2
        if n < 20:
            return _short(f, cut, 3, 0, 20, n, n, 0, -1, -1)
        ethertype = _be16(p)
        base = 20
    elif linktype == 0 or linktype == 108:  # NULL, LOOP
        if n < 4:
            return _short(f, cut, 4, 0, 4, n, n, 0, -1, -1)
        if linktype == 108 or (p[0] == 0 and p[1] == 0):
            family = _be32(p)
        else:
            family = _le32(p)
        if family == 2:
            ethertype = 0x0800
        elif family == 24 or family == 28 or family == 30:
            ethertype = 0x86DD
        else:
            return _other(f, K_NON_IP, 0, -1, -1, D_FAMILY, family, 0, 0)
        base = 4
    else:                                   # raw IP: 12, 14, 101, 228, 229
        if linktype == 228:
            expected = 4
        elif linktype == 229:
            expected = 6
        if expected:
            version = expected
        elif n:
            version = p[0] >> 4
        else:
            version = 4
        ethertype = 0x86DD if version == 6 else 0x0800
        base = 0
    if linktype == 1 or linktype == 113 or linktype == 276:
        while ethertype == 0x8100 or ethertype == 0x88A8 or ethertype == 0x9100:
            if n < base + 4:
                return _short(f, cut, 1, base, 4, n, n, 0, -1, -1)
            ethertype = _be16(p + base + 2)
            base += 4
    if ethertype == 0x0800:
        return _ipv4(p, n, base, cut, orig_len, expected, f)
    if ethertype == 0x86DD:
        return _ipv6(p, n, base, cut, expected, f)
    return _other(f, K_NON_IP, 0, -1, -1, D_ETHERTYPE, ethertype, 0, 0)


cdef int _ipv4(const uint8_t* p, Py_ssize_t n, Py_ssize_t base, bint cut, Py_ssize_t orig_len,
               int expected, Found* f) noexcept nogil:
    cdef Py_ssize_t header_len, total, end, limit, at, size
    cdef uint32_t fragment
    cdef int protocol, version
    if n - base < 20:
        return _short(f, cut, 5, base, 20, n, n, 0, -1, -1)
    version = p[base] >> 4
    if version != 4:
        return _other(f, K_MALFORMED, 0, -1, -1, D_VERSION, expected or 4, version, 0)
    header_len = (p[base] & 0x0F) * 4
    if header_len < 20:
        return _other(f, K_MALFORMED, 0, -1, -1, D_IHL, header_len, 0, 0)
    if n - base < header_len:
        return _short(f, cut, 5, base, header_len, n, n, 0, -1, -1)
    protocol = p[base + 9]
    total = _be16(p + base + 2)
    if total == 0:                          # segmentation offload left the length out
        total = orig_len - base
    if total < header_len:
        return _other(f, K_MALFORMED, 4, base + 12, protocol, D_TOTAL, total, header_len, 0)
    fragment = _be16(p + base + 6)
    if fragment & 0x3FFF:
        return _other(f, K_FRAGMENT, 4, base + 12, protocol, D_FRAGMENT, 4,
                      (fragment & 0x1FFF) * 8, (fragment & 0x2000) != 0)
    end = base + total
    limit = n if n < end else end
    at = base + header_len
    while protocol == 51:                   # AH
        if at + 2 > limit:
            return _short(f, cut, 9, at, 2, n, limit, 4, base + 12, protocol)
        size = (p[at + 1] + 2) * 4
        if at + size > limit:
            return _short(f, cut, 9, at, size, n, limit, 4, base + 12, protocol)
        protocol = p[at]
        at += size
    if protocol != 6:
        return _other(f, K_NON_TCP, 4, base + 12, protocol, D_PROTOCOL, protocol, 0, 0)
    return _tcp(f, 4, base + 12, at, end, n, cut)


cdef Py_ssize_t _jumbo_length(const uint8_t* p, Py_ssize_t n, Py_ssize_t at) noexcept nogil:
    """The Jumbo Payload length in the hop-by-hop header at ``at``, or 0."""
    cdef Py_ssize_t end, i, size
    if at + 2 > n:
        return 0
    end = at + (p[at + 1] + 1) * 8
    if end > n:
        end = n
    i = at + 2
    while i < end:
        if p[i] == 0:
            i += 1
            continue
        if i + 2 > end:
            return 0
        size = p[i + 1]
        if p[i] == 0xC2 and size == 4 and i + 6 <= end:
            return _be32(p + i + 2)
        i += 2 + size
    return 0


cdef int _ipv6(const uint8_t* p, Py_ssize_t n, Py_ssize_t base, bint cut, int expected,
               Found* f) noexcept nogil:
    cdef Py_ssize_t at, end, limit, size, payload_len
    cdef Py_ssize_t addr = base + 8
    cdef int protocol, version
    cdef uint32_t offset_flags
    if n - base < 40:
        return _short(f, cut, 6, base, 40, n, n, 0, -1, -1)
    version = p[base] >> 4
    if version != 6:
        return _other(f, K_MALFORMED, 0, -1, -1, D_VERSION, expected or 6, version, 0)
    protocol = p[base + 6]
    at = base + 40
    payload_len = _be16(p + base + 4)
    if payload_len == 0 and protocol == 0:
        payload_len = _jumbo_length(p, n, at)
    end = at + payload_len
    limit = n if n < end else end
    while True:
        if protocol == 0 or protocol == 43 or protocol == 60 or protocol == 51:
            if at + 2 > limit:
                return _short(f, cut, 7, at, 2, n, limit, 6, addr, protocol)
            if protocol == 51:
                size = (p[at + 1] + 2) * 4
            else:
                size = (p[at + 1] + 1) * 8
            if at + size > limit:
                return _short(f, cut, 7, at, size, n, limit, 6, addr, protocol)
        elif protocol == 44:
            size = 8
            if at + size > limit:
                return _short(f, cut, 7, at, size, n, limit, 6, addr, protocol)
            offset_flags = _be16(p + at + 2)
            if offset_flags & 0xFFF9:
                return _other(f, K_FRAGMENT, 6, addr, p[at], D_FRAGMENT, 6,
                              offset_flags & 0xFFF8, offset_flags & 1)
        else:
            break
        protocol = p[at]
        at += size
    if protocol != 6:
        return _other(f, K_NON_TCP, 6, addr, protocol, D_PROTOCOL, protocol, 0, 0)
    return _tcp(f, 6, addr, at, end, n, cut)


cdef inline int _tcp(Found* f, int version, Py_ssize_t addr, Py_ssize_t start, Py_ssize_t end,
                     Py_ssize_t n, bint cut) noexcept nogil:
    cdef Py_ssize_t stop = n if n < end else end
    if stop - start < 20:
        return _short(f, cut, 8, start, 20, n, stop, version, addr, 6)
    f.kind = K_TCP
    f.version = version
    f.addr = addr
    f.start = start
    f.stop = stop
    f.complete = end <= n
    return K_TCP


cdef inline bint _checksum_ok(const uint8_t* src, const uint8_t* dst, Py_ssize_t size,
                              const uint8_t* segment, Py_ssize_t length) noexcept nogil:
    """Whether the segment's checksum verifies: as _checksum_c.verify_checksum."""
    cdef uint8_t pseudo[40]
    cdef Py_ssize_t pseudo_size = pseudo_header(pseudo, src, dst, size, length)
    cdef uint32_t total = <uint32_t>sum_be(pseudo, pseudo_size) + sum_be(segment, length)
    return ((total & 0xFFFF) + (total >> 16)) == 0xFFFF


cdef object _detail(Found* f):
    if f.detail == D_SHORT:
        return c.short_detail(f.a, f.b, f.c)
    if f.detail == D_ETHERTYPE:
        return c.ethertype_detail(f.a)
    if f.detail == D_FAMILY:
        return c.family_detail(f.a)
    if f.detail == D_VERSION:
        return c.version_detail(f.a, f.b)
    if f.detail == D_PROTOCOL:
        return c.protocol_detail(f.a)
    if f.detail == D_FRAGMENT:
        return c.fragment_detail(f.a, f.b, f.c)
    if f.detail == D_IHL:
        return c.ihl_detail(f.a)
    return c.total_len_detail(f.a, f.b)


cdef class Reader:
    """Iterate over the records of an open binary capture file (see ``_reader_py.Reader``)."""

    cdef object _file
    cdef object _readinto
    cdef bytearray _buf
    cdef Py_ssize_t _pos, _end          # unread data: _buf[_pos:_end]
    cdef long long _offset              # file offset of _buf[0]
    cdef Py_ssize_t _chunk
    cdef bint _eof, _done, _include_other, _pcapng, _big, _owns_file
    cdef int _linktype                  # classic pcap
    cdef uint64_t _frac_ns
    cdef list _interfaces               # pcapng: (linktype, snaplen, mul, div, offset_ns)
    cdef long long _if_id               # the interface whose fields follow, -1: none
    cdef int _if_linktype
    cdef uint32_t _if_snaplen
    cdef uint64_t _if_mul, _if_div
    cdef int _if_mode                   # TS_*
    cdef list _addrs                    # 4 recently made address bytes, reused when equal
    cdef int _next_addr
    cdef readonly str name
    cdef readonly str format
    cdef readonly long long frames
    cdef readonly bint cut_short
    cdef readonly list linktypes

    def __init__(self, file, *, name="<capture>", include_other=False,
                 chunk_size=c.DEFAULT_CHUNK, owns_file=False):
        cdef uint32_t magic_le, magic_be
        cdef const uint8_t* p
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        self._file = file
        self._owns_file = bool(owns_file)
        self._readinto = getattr(file, "readinto", None)
        self.name = name
        self._include_other = bool(include_other)
        self._chunk = chunk_size
        self._buf = bytearray()
        self._pos = self._end = 0
        self._offset = 0
        self._eof = self._done = False
        self.frames = 0
        self.cut_short = False
        self.linktypes = []
        self._interfaces = []
        self._if_id = -1
        self._addrs = [b"", b"", b"", b""]
        self._next_addr = 0
        if not self._fill(24):
            raise c.not_a_capture(name, bytes(self._buf[self._pos:self._end]))
        p = self._data()
        magic_le = _le32(p)
        magic_be = _be32(p)
        if magic_le == 0xA1B2C3D4 or magic_le == 0xA1B23C4D:
            self._start_pcap(False, magic_le == 0xA1B23C4D)
        elif magic_be == 0xA1B2C3D4 or magic_be == 0xA1B23C4D:
            self._start_pcap(True, magic_be == 0xA1B23C4D)
        elif magic_le == 0x0A0D0D0A:
            self.format = "pcapng"
            self._pcapng = True
            if self._section_order() < 0:
                raise c.not_a_capture(name, bytes(self._buf[self._pos:self._end]))
        else:
            raise c.not_a_capture(name, bytes(self._buf[self._pos:self._end]))

    def __iter__(self):
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        try:
            record = self._next_pcapng() if self._pcapng else self._next_pcap()
        except BaseException:
            self.close()
            raise
        if record is None:
            self.close()
            raise StopIteration
        return record

    def close(self):
        """Stop reading; close the file if the reader opened it."""
        self._done = True
        if self._owns_file:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # ------------------------------------------------------------ buffering

    cdef inline const uint8_t* _data(self):
        return <const uint8_t*>PyByteArray_AS_STRING(self._buf) + self._pos

    cdef bint _fill(self, Py_ssize_t need) except -1:
        """Make ``need`` bytes available from the position; False at the end of the file."""
        cdef Py_ssize_t have = self._end - self._pos
        cdef Py_ssize_t capacity, got = 0
        cdef char* base
        while have < need:
            if self._eof:
                return False
            base = PyByteArray_AS_STRING(self._buf)
            if self._pos:
                memmove(base, base + self._pos, have)
                self._offset += self._pos
                self._pos, self._end = 0, have
            capacity = need if need > self._chunk else self._chunk
            if PyByteArray_GET_SIZE(self._buf) < capacity:
                PyByteArray_Resize(self._buf, capacity)
            capacity = PyByteArray_GET_SIZE(self._buf)
            if self._readinto is not None:
                with memoryview(self._buf) as view:
                    with view[self._end:capacity] as window:
                        got = self._readinto(window) or 0
            else:
                data = self._file.read(capacity - self._end)
                got = len(data)
                self._buf[self._end:self._end + got] = data
            if got <= 0:
                self._eof = True
            self._end += got
            have = self._end - self._pos
        return True

    cdef object _finish(self):
        """The end of the file: flag and report bytes left over from a partial record."""
        cdef Py_ssize_t left = self._end - self._pos
        self._done = True
        if left:
            self.cut_short = True
            if self._include_other:
                return OtherRecord(0, 0.0, 0, 0, Kind.CUT_SHORT, 0, b"", b"", -1,
                                   c.cut_short_detail(left))
        return None

    # ------------------------------------------------------------ classic pcap

    cdef _start_pcap(self, bint big, bint nano):
        cdef const uint8_t* p = self._data()
        cdef uint32_t linktype = _rd32(p + 20, big) & 0x0FFFFFFF
        self.format = "pcap"
        self._big = big
        self._frac_ns = 1 if nano else 1000
        if linktype not in c.SUPPORTED_LINKTYPES:
            raise c.unsupported_linktype(self.name, linktype)
        self._linktype = linktype
        self.linktypes = [linktype]
        self._pos += 24

    cdef object _next_pcap(self):
        cdef const uint8_t* p
        cdef uint32_t sec, frac, captured, orig_len
        cdef uint64_t ns
        while True:
            if self._end - self._pos < 16 and not self._fill(16):
                return self._finish()
            p = self._data()
            captured = _rd32(p + 8, self._big)
            if captured > MAX_RECORD:
                raise c.corrupt(self.name, self._offset + self._pos, f"record of {captured} bytes")
            if self._end - self._pos < 16 + <Py_ssize_t>captured:
                if not self._fill(16 + captured):
                    return self._finish()
                p = self._data()
            sec = _rd32(p, self._big)
            frac = _rd32(p + 4, self._big)
            orig_len = _rd32(p + 12, self._big)
            self._pos += 16 + captured
            self.frames += 1
            ns = <uint64_t>sec * 1000000000 + <uint64_t>frac * self._frac_ns
            record = self._record(p + 16, captured, orig_len, self._linktype, ns, None, 0)
            if record is not None:
                return record

    # ------------------------------------------------------------ pcapng

    cdef int _section_order(self) except -2:
        """1 big-endian, 0 little, -1 no byte-order magic; -1 also when the file ends."""
        if not self._fill(12):
            return -1
        cdef const uint8_t* p = self._data()
        if _le32(p + 8) == 0x1A2B3C4D:
            return 0
        if _be32(p + 8) == 0x1A2B3C4D:
            return 1
        return -1

    cdef object _next_pcapng(self):
        cdef const uint8_t* p
        cdef uint32_t block_type, length
        cdef long long at
        cdef int order
        while True:
            if self._end - self._pos < 8 and not self._fill(8):
                return self._finish()
            p = self._data()
            at = self._offset + self._pos
            block_type = _rd32(p, self._big)
            if block_type == 0x0A0D0D0A:
                order = self._section_order()
                if order < 0:
                    if self._fill(12):
                        raise c.corrupt(self.name, at, "section header without byte-order magic")
                    return self._finish()
                self._big = order
                p = self._data()
            length = _rd32(p + 4, self._big)
            if length < 12 or length % 4 or length > MAX_RECORD:
                raise c.corrupt(self.name, at, f"block of {length} bytes")
            if self._end - self._pos < <Py_ssize_t>length:
                if not self._fill(length):
                    return self._finish()
                p = self._data()
            if _rd32(p + length - 4, self._big) != length:
                raise c.corrupt(self.name, at, f"block length {length} does not match its "
                                f"trailer {_rd32(p + length - 4, self._big)}")
            self._pos += length
            if block_type == 6 or block_type == 3 or block_type == 2:
                record = self._packet(block_type, p + 8, length - 12, at)
                if record is not None:
                    return record
            elif block_type == 0x0A0D0D0A:
                self._interfaces = []
                self._if_id = -1
            elif block_type == 1:
                self._interface(PyBytes_FromStringAndSize(<const char*>p + 8, length - 12), at)

    cdef _interface(self, bytes body, long long at):
        order = ">" if self._big else "<"
        if len(body) < 8:
            raise c.corrupt(self.name, at, "interface description block too short")
        linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", body, 0)
        if linktype not in c.SUPPORTED_LINKTYPES:
            raise c.unsupported_linktype(self.name, linktype)
        mul, div, offset_ns = 1000, 1, 0
        i = 8
        while i + 4 <= len(body):
            code, size = struct.unpack_from(order + "HH", body, i)
            value = body[i + 4:i + 4 + size]
            if code == 0:
                break
            if code == 9 and size == 1:
                mul, div = c.tsresol_scale(value[0])
            elif code == 14 and size == 8:
                offset_ns = struct.unpack(order + "q", value)[0] * 1_000_000_000
            i += 4 + (size + 3) // 4 * 4
        self._interfaces.append((linktype, snaplen, mul, div, offset_ns))
        self.linktypes.append(linktype)

    cdef _use_interface(self, long long interface_id, long long at):
        if interface_id >= len(self._interfaces):
            raise c.corrupt(self.name, at, f"packet on undeclared interface {interface_id}")
        linktype, snaplen, mul, div, offset_ns = self._interfaces[interface_id]
        self._if_linktype = linktype
        self._if_snaplen = snaplen
        self._if_mode = TS_PYTHON
        if offset_ns == 0 and div == 1 and mul < 2**64:
            self._if_mode = TS_MUL
            self._if_mul = mul
        elif offset_ns == 0 and mul == 1 and div < 2**64:
            self._if_mode = TS_DIV
            self._if_div = div
        self._if_id = interface_id

    @cython.cdivision(True)
    cdef object _packet(self, uint32_t block_type, const uint8_t* body, Py_ssize_t size,
                        long long at):
        cdef long long interface_id
        cdef uint64_t ts, ns = 0
        cdef uint32_t captured, orig_len
        cdef Py_ssize_t start
        cdef object big_ns = None
        if block_type == 3:
            if size < 4:
                raise c.corrupt(self.name, at, "simple packet block too short")
            interface_id = 0
            orig_len = _rd32(body, self._big)
            captured = orig_len
            if <Py_ssize_t>captured > size - 4:
                captured = size - 4
            start = 4
        else:
            if size < 20:
                raise c.corrupt(self.name, at, "packet block too short")
            if block_type == 6:
                interface_id = _rd32(body, self._big)
            else:
                interface_id = _rd16(body, self._big)
            ts = (<uint64_t>_rd32(body + 4, self._big) << 32) | _rd32(body + 8, self._big)
            captured = _rd32(body + 12, self._big)
            orig_len = _rd32(body + 16, self._big)
            start = 20
            if <Py_ssize_t>captured > size - 20:
                raise c.corrupt(self.name, at,
                                f"{captured} captured bytes do not fit the packet block")
        if interface_id != self._if_id:
            self._use_interface(interface_id, at)
        if block_type == 3:
            if self._if_snaplen and captured > self._if_snaplen:
                captured = self._if_snaplen
        elif self._if_mode == TS_MUL and ts <= 0xFFFFFFFFFFFFFFFFULL // self._if_mul:
            ns = ts * self._if_mul
        elif self._if_mode == TS_DIV:
            ns = ts // self._if_div
        else:
            mul, div, offset_ns = self._interfaces[interface_id][2:]
            big_ns = ts * mul // div + offset_ns
        self.frames += 1
        return self._record(body + start, captured, orig_len, self._if_linktype, ns, big_ns,
                            interface_id)

    # ------------------------------------------------------------ frames

    @cython.boundscheck(False)
    @cython.wraparound(False)
    cdef inline object _address(self, const uint8_t* p, Py_ssize_t size):
        """The address bytes at ``p``: a recently made equal object if there is one."""
        cdef Py_ssize_t i
        cdef bytes known
        for i in range(4):
            known = <bytes>self._addrs[i]
            if PyBytes_GET_SIZE(known) == size and memcmp(PyBytes_AS_STRING(known), p, size) == 0:
                return known
        known = PyBytes_FromStringAndSize(<const char*>p, size)
        self._addrs[self._next_addr] = known
        self._next_addr = (self._next_addr + 1) & 3
        return known

    @cython.cdivision(True)
    cdef object _record(self, const uint8_t* p, Py_ssize_t n, Py_ssize_t orig_len, int linktype,
                        uint64_t ns, object big_ns, long long interface):
        cdef Found f
        cdef Py_ssize_t size
        cdef double timestamp
        cdef int kind
        memset(&f, 0, sizeof(f))
        kind = _decode(p, n, orig_len, linktype, &f)
        if kind != K_TCP and not self._include_other:
            return None
        if big_ns is None:
            timestamp = <double>(ns // 1000000000) + <double>(ns % 1000000000) / 1e9
            big_ns = ns
        else:
            timestamp = c.split_ns(big_ns)
        size = 4 if f.version == 4 else 16
        if f.addr >= 0:
            src = self._address(p + f.addr, size)
            dst = self._address(p + f.addr + size, size)
        else:
            src = dst = b""
        if kind != K_TCP:
            return OtherRecord(self.frames, timestamp, big_ns, interface, _KINDS[kind], f.version,
                               src, dst, f.protocol, _detail(&f))
        segment_bytes = PyBytes_FromStringAndSize(<const char*>p + f.start, f.stop - f.start)
        if f.complete and (f.version == 6 or f.stop - f.start <= 0xFFFF):
            checksum_ok = _checksum_ok(p + f.addr, p + f.addr + size, size, p + f.start,
                                       f.stop - f.start)
        else:
            checksum_ok = None
        return fastseg_record9(_TCP_RECORD, self.frames, timestamp, big_ns, interface, f.version,
                               src, dst, fastseg_call_lenient(_UNPACK, segment_bytes, _STRICT),
                               checksum_ok)
