# cython: language_level=3, auto_pickle=False
"""The capture reader in C: the compiled twin of ``_reader_py`` (the specification lives there).

The file is read with ``readinto`` into one reusable bytearray (1 MiB by
default); a record that straddles the end of the data read so far is moved
to the front and completed by the next read.  The hot path -- record header,
link and IP headers, the TCP checksum -- runs on C pointers.  Python objects
are made only for what a record holds: the addresses (cached, since a flow
repeats them), the Segment (decoded by the compiled codec straight from the
buffer), and the record itself.  The frames are taken apart by ``_frames`` (shared with
``_columns_c``).

The safety contract: ``_frames._decode`` reads ``p[i]`` only after a
comparison has shown ``i < n`` (the captured length), and every record or
block is checked to lie wholly in the buffer before it is decoded.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, Py_buffer, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.ref cimport PyObject
from libc.stdint cimport UINT64_MAX, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcmp, memmove, memset

from fastseg._codec_c cimport unpack_now
from fastseg._endian cimport be32
from fastseg._wire_c cimport (
    IPV4_ADDR_LEN, IPV4_VERSION, IPV6_ADDR_LEN, MAX_RECORD, PCAP_FILE_HEADER, PCAP_INCL_LEN,
    PCAP_LINKTYPE, PCAP_LINKTYPE_MASK, PCAP_ORIG_LEN, PCAP_RECORD_HEADER, PCAP_TS_FRAC,
    PCAP_TS_SEC, PCAPNG_BLOCK_ALIGN, PCAPNG_BLOCK_HEADER, PCAPNG_BLOCK_LENGTH,
    PCAPNG_BLOCK_TRAILER, PCAPNG_BYTE_ORDER_MAGIC, PCAPNG_EPB, PCAPNG_IDB, PCAPNG_MIN_BLOCK,
    PCAPNG_PB, PCAPNG_SHB, PCAPNG_SHB_BYTE_ORDER, PCAPNG_SHB_HEAD, PCAPNG_SPB,
)
from fastseg.capture._frames cimport (
    D_DEPTH, D_ETHERTYPE, D_FAMILY, D_FRAGMENT, D_GRE_ROUTING, D_IHL, D_MPLS, D_PPP, D_PROTOCOL,
    D_ROUTING, D_SHORT, D_TUNNEL_VERSION, D_VERSION,
    FORMAT_PCAP, FORMAT_PCAPNG, K_TCP, FrameSink, Found, Interface, Packet, _capture_format,
    _checksum_ok,
    _decode, _interface_fields, _le32, _other_frame, _packet_block, _rd32,
)

from fastseg.capture import _common as c
from fastseg.capture._common import Kind, OtherRecord, TcpRecord

__all__ = ["Reader"]

cdef extern from "Python.h":
    Py_ssize_t _refcount "Py_REFCNT"(PyObject* o) noexcept


cdef extern from *:
    """
    /* A tuple subclass instance holding new references to the fields: what
       tuple.__new__(cls, (...)) does, without the call and the temporary tuple. */
    static PyObject* fastseg_record10(PyObject* cls, PyObject* f0, PyObject* f1, PyObject* f2,
            PyObject* f3, PyObject* f4, PyObject* f5, PyObject* f6, PyObject* f7, PyObject* f8,
            PyObject* f9) {
        PyObject* fields[10] = {f0, f1, f2, f3, f4, f5, f6, f7, f8, f9};
        Py_ssize_t i;
        PyObject* result = ((PyTypeObject*)cls)->tp_alloc((PyTypeObject*)cls, 10);
        if (result == NULL) return NULL;
        for (i = 0; i < 10; i++) {
            Py_INCREF(fields[i]);
            PyTuple_SET_ITEM(result, i, fields[i]);
        }
        return result;
    }
    """
    object fastseg_record10(object cls, object f0, object f1, object f2, object f3, object f4,
                            object f5, object f6, object f7, object f8, object f9)

cdef object _TCP_RECORD = TcpRecord
if not (issubclass(TcpRecord, tuple) and len(TcpRecord._fields) == 10):
    raise ImportError("fastseg_record10() builds 10-field tuple subclasses only")

# Other records' kinds, indexed by the _frames verdict (K_TCP = 0 has none).
cdef tuple _KINDS = (None, Kind.FRAGMENT, Kind.NON_TCP, Kind.NON_IP, Kind.TRUNCATED,
                     Kind.MALFORMED)


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
    if f.detail == D_ROUTING:
        return c.routing_detail(f.a, f.b, f.c)
    if f.detail == D_PPP:
        return c.ppp_detail(f.a)
    if f.detail == D_MPLS:
        return c.mpls_detail(f.a)
    if f.detail == D_TUNNEL_VERSION:
        return c.tunnel_version_detail(f.a, f.b)
    if f.detail == D_GRE_ROUTING:
        return c.gre_routing_detail()
    if f.detail == D_DEPTH:
        return c.depth_detail()
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
    cdef Interface _if                  # pcapng: the interface in use
    cdef list _addrs                    # 4 recently made address bytes, reused when equal
    cdef int _next_addr
    cdef readonly str name
    cdef readonly str format
    cdef readonly long long frames      # as Wireshark numbers them (see _reader_py)
    cdef readonly bint cut_short
    cdef readonly list linktypes
    cdef FrameSink _sink                # offered every TCP frame first (None: no sink)

    def __init__(self, file, *, name="<capture>", include_other=False,
                 chunk_size=c.DEFAULT_CHUNK, owns_file=False):
        cdef bint big, nano
        cdef int kind
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
        self._if.id = -1
        self._addrs = [b"", b"", b"", b""]
        self._next_addr = 0
        if not self._fill(PCAP_FILE_HEADER):
            raise c.not_a_capture(name, bytes(self._buf[self._pos:self._end]))
        kind = _capture_format(self._data(), &big, &nano)
        if kind == FORMAT_PCAP:
            self._start_pcap(big, nano)
        elif kind == FORMAT_PCAPNG:
            self.format = "pcapng"
            self._pcapng = True
        else:
            raise c.not_a_capture(name, bytes(self._buf[self._pos:self._end]))

    def offer_frames(self, FrameSink sink):
        """Offer every TCP frame to ``sink`` before making a record of it; the frames it
        takes are skipped (see ``_frames.FrameSink``)."""
        self._sink = sink

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
                if not 0 <= got <= capacity - self._end:  # the count is trusted from here on
                    raise OSError(f"readinto() returned {got!r} for {capacity - self._end} bytes")
                # it kept the buffer (window.obj): keep a copy of our own.  (Through a borrowed
                # pointer: Cython holds a reference of its own to an object it passes on.)
                if _refcount(<PyObject*>self._buf) != 1:
                    self._buf = bytearray(self._buf)
            else:
                with memoryview(self._file.read(capacity - self._end)) as data:
                    got = data.nbytes  # the bytes there are, whatever the object's __len__ says
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
        cdef uint32_t linktype = _rd32(p + PCAP_LINKTYPE, big) & PCAP_LINKTYPE_MASK
        self.format = "pcap"
        self._big = big
        self._frac_ns = 1 if nano else 1000
        if linktype not in c.SUPPORTED_LINKTYPES:
            raise c.unsupported_linktype(self.name, linktype)
        self._linktype = linktype
        self.linktypes = [linktype]
        self._pos += PCAP_FILE_HEADER

    cdef object _next_pcap(self):
        cdef const uint8_t* p
        cdef uint32_t sec, frac, captured, orig_len
        cdef uint64_t ns
        while True:
            if self._end - self._pos < PCAP_RECORD_HEADER and not self._fill(PCAP_RECORD_HEADER):
                return self._finish()
            p = self._data()
            captured = _rd32(p + PCAP_INCL_LEN, self._big)
            if captured > MAX_RECORD:
                raise c.corrupt(self.name, self._offset + self._pos, f"record of {captured} bytes")
            if self._end - self._pos < PCAP_RECORD_HEADER + <Py_ssize_t>captured:
                if not self._fill(PCAP_RECORD_HEADER + captured):
                    return self._finish()
                p = self._data()
            sec = _rd32(p + PCAP_TS_SEC, self._big)
            frac = _rd32(p + PCAP_TS_FRAC, self._big)
            orig_len = _rd32(p + PCAP_ORIG_LEN, self._big)
            self._pos += PCAP_RECORD_HEADER + captured
            self.frames += 1
            ns = <uint64_t>sec * 1000000000 + <uint64_t>frac * self._frac_ns
            record = self._record(p + PCAP_RECORD_HEADER, captured, orig_len, self._linktype, ns,
                                  None, 0)
            if record is not None:
                return record

    # ------------------------------------------------------------ pcapng

    cdef int _section_order(self) except -2:
        """1 big-endian, 0 little, -1 no byte-order magic; -1 also when the file ends."""
        if not self._fill(PCAPNG_SHB_HEAD):
            return -1
        cdef const uint8_t* p = self._data()
        if _le32(p + PCAPNG_SHB_BYTE_ORDER) == PCAPNG_BYTE_ORDER_MAGIC:
            return 0
        if be32(p + PCAPNG_SHB_BYTE_ORDER) == PCAPNG_BYTE_ORDER_MAGIC:
            return 1
        return -1

    cdef object _next_pcapng(self):
        cdef const uint8_t* p
        cdef uint32_t block_type, length
        cdef long long at
        cdef int order
        while True:
            if (self._end - self._pos < PCAPNG_BLOCK_HEADER
                    and not self._fill(PCAPNG_BLOCK_HEADER)):
                return self._finish()
            p = self._data()
            at = self._offset + self._pos
            block_type = _rd32(p, self._big)
            if block_type == PCAPNG_SHB:
                order = self._section_order()
                if order < 0:
                    if self._fill(PCAPNG_SHB_HEAD):
                        raise c.corrupt(self.name, at, "section header without byte-order magic")
                    return self._finish()
                self._big = order
                p = self._data()
            length = _rd32(p + PCAPNG_BLOCK_LENGTH, self._big)
            if length < PCAPNG_MIN_BLOCK or length % PCAPNG_BLOCK_ALIGN or length > MAX_RECORD:
                raise c.corrupt(self.name, at, f"block of {length} bytes")
            if self._end - self._pos < <Py_ssize_t>length:
                if not self._fill(length):
                    return self._finish()
                p = self._data()
            if _rd32(p + length - PCAPNG_BLOCK_TRAILER, self._big) != length:
                raise c.corrupt(self.name, at, f"block length {length} does not match its "
                                f"trailer {_rd32(p + length - PCAPNG_BLOCK_TRAILER, self._big)}")
            self._pos += length
            if block_type == PCAPNG_EPB or block_type == PCAPNG_SPB or block_type == PCAPNG_PB:
                record = self._packet(block_type, p + PCAPNG_BLOCK_HEADER, length - PCAPNG_MIN_BLOCK,
                                      at)
                if record is not None:
                    return record
            elif block_type == PCAPNG_SHB:
                self._interfaces = []
                self._if.id = -1
            elif block_type == PCAPNG_IDB:
                fields = _interface_fields(
                    PyBytes_FromStringAndSize(<const char*>p + PCAPNG_BLOCK_HEADER,
                                              length - PCAPNG_MIN_BLOCK),
                    self._big, self.name, at)
                self._interfaces.append(fields)
                self.linktypes.append(fields[0])
            elif _other_frame(block_type):     # a frame to Wireshark, without a packet
                self.frames += 1
                if self._include_other:
                    return OtherRecord(self.frames, 0.0, 0, 0, Kind.NON_PACKET, 0, b"", b"", -1,
                                       c.block_detail(block_type))

    cdef object _packet(self, uint32_t block_type, const uint8_t* body, Py_ssize_t size,
                        long long at):
        cdef Packet pk
        big_ns = _packet_block(&pk, &self._if, self._interfaces, block_type, body, size,
                               self._big, self.name, at, UINT64_MAX)
        self.frames += 1
        return self._record(body + pk.start, pk.captured, pk.orig_len, self._if.linktype, pk.ns,
                            big_ns, pk.interface_id)

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
        cdef Py_buffer export
        cdef Py_ssize_t size
        cdef double timestamp
        cdef int kind, ok
        memset(&f, 0, sizeof(f))
        kind = _decode(p, n, orig_len, linktype, &f)
        if kind != K_TCP and not self._include_other:
            return None
        if big_ns is None:
            timestamp = <double>(ns // 1000000000) + <double>(ns % 1000000000) / 1e9
            big_ns = ns
        else:
            timestamp = c.split_ns(big_ns)
        if kind == K_TCP and self._sink is not None:
            # The sink may run Python code: an export keeps the buffer from being resized
            # under p meanwhile (as for unpack below).
            PyObject_GetBuffer(self._buf, &export, PyBUF_SIMPLE)
            try:
                if self._sink.take(p, &f, timestamp, self.frames):
                    return None
            finally:
                PyBuffer_Release(&export)
        size = IPV4_ADDR_LEN if f.version == IPV4_VERSION else IPV6_ADDR_LEN
        if f.addr >= 0:
            src = self._address(p + f.addr, size)
            dst = self._address(p + f.addr + size, size)
        else:
            src = dst = b""
        if kind != K_TCP:
            return OtherRecord(self.frames, timestamp, big_ns, interface, _KINDS[kind], f.version,
                               src, dst, f.protocol, _detail(&f))
        # unpack may run Python code (a collection's callbacks): an export keeps the buffer
        # from being resized under p meanwhile.
        PyObject_GetBuffer(self._buf, &export, PyBUF_SIMPLE)
        try:
            segment = unpack_now(p + f.start, f.stop - f.start, False)
        finally:
            PyBuffer_Release(&export)
        ok = _checksum_ok(p, &f)
        checksum_ok = None if ok < 0 else ok == 1
        return fastseg_record10(_TCP_RECORD, self.frames, timestamp, big_ns, interface, f.version,
                                src, dst, segment, checksum_ok, f.end - f.start)
