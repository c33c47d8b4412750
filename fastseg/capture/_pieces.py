"""A capture cut into bounded pieces, each a capture of its own, for the columnar decoders.

The columnar decoders take a whole capture in one buffer.  To decode a
capture of any size (or a pipe) in bounded memory, :func:`pieces` reads it
in pieces of about ``size`` bytes, cut at record (pcap) or block (pcapng)
boundaries, and gives each piece the header it needs to stand alone: the
pcap file header, or the pcapng section header and the interface blocks of
the section so far (so interface ids keep their meaning).  Only record and
block headers are looked at here; the decoders do the rest.

Each piece comes with ``shift`` (add it to a byte offset in the piece to get
the offset in the file) so that :func:`relocate` can give an error the
offsets and frame numbers of the whole file.  The file is read, never mapped:
a file truncated while it is read is reported by :func:`pieces`, not
signalled (SIGBUS).
"""

from __future__ import annotations

import re
import struct
from typing import BinaryIO, Iterator, List, NamedTuple, Optional, Union

from fastseg.capture import _common as c

__all__ = ["PIECE", "Piece", "pieces", "relocate"]

#: Bytes of records per piece (a record larger than this makes a larger piece).
PIECE = 8 << 20

_PCAP_MAGICS = (c.PCAP_MAGIC_USEC, c.PCAP_MAGIC_NSEC)


class Piece(NamedTuple):
    """A stand-alone capture: ``data``, whose byte ``i`` past the prefix is file byte ``i + shift``."""

    data: bytearray
    shift: int
    first: bool


class _Stream:
    """Buffered sequential reading that never looks back further than the piece in hand."""

    def __init__(self, file: BinaryIO, name: str, expected: Optional[int]) -> None:
        self.file, self.name, self.expected = file, name, expected
        self.buf = bytearray()
        self.base = 0          # file offset of buf[0]
        self.read_total = 0
        self.eof = False

    def fill(self, end: int, chunk: int) -> bool:
        """Make ``buf`` hold at least ``end`` bytes if the file has them; whether it does.

        Reads at most a chunk (1 MiB) beyond what is needed, so the buffer stays near
        the piece's size."""
        del chunk
        while len(self.buf) < end and not self.eof:
            data = self.file.read(min(max(c.DEFAULT_CHUNK, end - len(self.buf)), 1 << 30))
            if not data:
                self.eof = True
                if self.expected is not None and self.read_total < self.expected:
                    raise c.CaptureError(f"{self.name}: the file shrank while being read "
                                         f"({self.read_total} of {self.expected} bytes)")
                break
            self.read_total += len(data)
            self.buf += data
        return len(self.buf) >= end

    def take(self, end: int, prefix: Union[bytes, bytearray] = b"") -> bytearray:
        """Remove ``buf[:end]`` and return it after ``prefix`` (one copy)."""
        out = bytearray(prefix)
        with memoryview(self.buf) as view:
            out += view[:end]
        del self.buf[:end]
        self.base += end
        return out


def pieces(file: BinaryIO, name: str, *, size: int = PIECE,
           expected: Optional[int] = None) -> Iterator[Piece]:
    """Cut the capture read from ``file`` into pieces of about ``size`` bytes of records.

    ``expected`` is the file's size when it is a regular file: reading fewer
    bytes raises :class:`~fastseg.capture.CaptureError`.  Anything that is
    not a capture, or whose structure breaks, goes to the decoder as it is,
    so the errors are the decoder's own words.
    """
    stream = _Stream(file, name, expected)
    stream.fill(24, size)
    head = bytes(stream.buf[:4])
    if len(head) == 4 and struct.unpack("<I", head)[0] == c.PCAPNG_SHB:
        yield from _pcapng(stream, size)
        return
    order = None
    if len(head) == 4:
        for candidate in ("<", ">"):
            if struct.unpack(candidate + "I", head)[0] in _PCAP_MAGICS:
                order = candidate
    if order is None or len(stream.buf) < 24:  # not a capture: the decoder says so
        stream.fill(64, size)
        yield Piece(stream.take(len(stream.buf)), 0, True)
        return
    yield from _pcap(stream, size, order)


def _pcap(stream: _Stream, size: int, order: str) -> Iterator[Piece]:
    header = bytes(stream.buf[:24])
    length = struct.Struct(order + "I")
    pos, first = 24, True
    while True:
        stream.fill(pos + size, size)
        buf = stream.buf
        limit, stuck = pos + size, False
        have = len(buf)
        while pos < limit:
            if pos + 16 > have:
                if not stream.fill(pos + 16, size):
                    break
                have = len(buf)
            incl = length.unpack_from(buf, pos + 8)[0]
            if incl > c.MAX_RECORD:  # corrupt: the decoder reports it, where it is
                stuck = True
                break
            after = pos + 16 + incl
            if after > have:
                if not stream.fill(after, size):
                    break
                have = len(buf)
            pos = after
        # At the end, or stuck: the rest (a part record, a corrupt one) is the decoder's to report.
        end = len(buf) if stuck or stream.eof else pos
        prefix = b"" if first else header
        data = stream.take(end, prefix)
        yield Piece(data, stream.base - end - len(prefix), first)
        del data
        first, pos = False, 0
        if stuck or (stream.eof and not stream.buf):
            return


class _Section:
    def __init__(self, shb: bytes, order: str) -> None:
        self.shb, self.order = shb, order
        self.interfaces: List[bytes] = []

    def prefix(self) -> bytearray:
        out = bytearray(self.shb)
        for block in self.interfaces:
            out += block
        return out


def _order(buf: bytearray, pos: int) -> Optional[str]:
    magic = bytes(buf[pos + 8:pos + 12])
    if magic == struct.pack("<I", c.PCAPNG_BYTE_ORDER_MAGIC):
        return "<"
    if magic == struct.pack(">I", c.PCAPNG_BYTE_ORDER_MAGIC):
        return ">"
    return None


def _pcapng(stream: _Stream, size: int) -> Iterator[Piece]:
    section: Optional[_Section] = None
    pos, first = 0, True
    prefix = bytearray()
    while True:
        stream.fill(pos + size, size)
        buf = stream.buf
        limit, stuck = pos + size, False
        have = len(buf)
        while pos < limit:
            if pos + 12 > have:
                if not stream.fill(pos + 12, size):
                    break
                have = len(buf)
            order = section.order if section is not None else "<"
            block_type = struct.unpack_from(order + "I", buf, pos)[0]
            if block_type == c.PCAPNG_SHB:
                if pos > 0:  # a new section starts a new piece, which it heads
                    break
                new_order = _order(buf, pos)
                if new_order is None:
                    stuck = True
                    break
                order = new_order
            length = struct.unpack_from(order + "I", buf, pos + 4)[0]
            if length < 12 or length % 4 or length > c.MAX_RECORD:
                stuck = True
                break
            if pos + length > have:
                if not stream.fill(pos + length, size):
                    break
                have = len(buf)
            if struct.unpack_from(order + "I", buf, pos + length - 4)[0] != length:
                stuck = True
                break
            if block_type == c.PCAPNG_SHB:
                section, prefix = _Section(bytes(buf[pos:pos + length]), order), bytearray()
            elif block_type == c.PCAPNG_IDB and section is not None:
                section.interfaces.append(bytes(buf[pos:pos + length]))
            pos += length
        end = len(buf) if stuck or stream.eof else pos
        data = stream.take(end, prefix)
        yield Piece(data, stream.base - end - len(prefix), first)
        del data
        first, pos = False, 0
        if stuck or (stream.eof and not stream.buf) or not end:
            return
        # The next piece goes on with the section: it needs the section's header and
        # interfaces, unless it starts with a section header of its own.
        starts_section = stream.fill(4, size) and bytes(stream.buf[:4]) == b"\x0a\x0d\x0d\x0a"
        prefix = section.prefix() if section is not None and not starts_section else bytearray()


_AT_BYTE = re.compile(r"at byte (\d+)")
_FRAME = re.compile(r"frame (\d+)")


def relocate(exc: c.CaptureError, shift: int, frames: int) -> c.CaptureError:
    """``exc``, raised for a piece, with the byte offsets and frame numbers of the whole file."""
    message = str(exc)
    if shift:
        message = _AT_BYTE.sub(lambda m: f"at byte {int(m.group(1)) + shift}", message)
    if frames:
        message = _FRAME.sub(lambda m: f"frame {int(m.group(1)) + frames}", message)
    if message == str(exc):
        return exc
    if isinstance(exc, c.UnsupportedLinkType):
        return c.UnsupportedLinkType(message, exc.linktype)
    try:
        return type(exc)(message)
    except TypeError:
        return c.CaptureError(message)
