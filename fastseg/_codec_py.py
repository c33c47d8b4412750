"""TCP header decoding and encoding in pure Python: the reference twin of ``_codec_c``.

This module is the readable specification.  The layout is RFC 9293 §3.1;
option formats are RFC 9293 §3.2 (MSS), RFC 7323 (window scale, timestamps)
and RFC 2018 (SACK).
"""

from __future__ import annotations

import struct
from typing import Any, Optional

from fastseg import _addr, _wire, errors
from fastseg._addr import Address
from fastseg._checksum_py import _sum16, as_bytes
from fastseg._options_py import bytes_field, pack_options, uint_field, unpack_options
from fastseg.errors import Anomaly, EncodeError
from fastseg.segment import Flags, Segment

__all__ = ["pack", "pack_into", "unpack"]

_FIXED = struct.Struct("!HHIIHHHH")


def unpack(data: object, *, strict: bool = True) -> Segment:
    """Decode one TCP segment (header, options and payload) from any buffer.

    The buffer's bytes are read in logical order, as ``memoryview(data).tobytes()``
    gives them, so a non-contiguous view decodes like its copy.  Strict mode
    raises a :class:`~fastseg.DecodeError` subclass at the first problem.
    Lenient mode (``strict=False``) raises only for fewer than 20 bytes; it
    decodes what it can, keeps unparseable option bytes as a ``(None, raw)``
    option and a wrongly sized known option as ``(kind, raw)``, and lists each
    problem in ``anomalies``.  Whatever strict mode accepts, ``pack`` writes
    back byte for byte.
    """
    raw = as_bytes(data)
    anomalies: list[Anomaly] = []

    def problem(anomaly: Anomaly) -> None:
        if strict:
            raise anomaly.exception()
        anomalies.append(anomaly)

    if len(raw) < _wire.HEADER_LEN:
        raise errors.short_buffer(len(raw)).exception()
    src_port, dst_port, seq, ack, offset_flags, window, checksum, urgent = _FIXED.unpack_from(raw)
    data_offset = offset_flags >> _wire.DATA_OFFSET_SHIFT
    header_len = data_offset * 4
    if data_offset < 5:
        problem(errors.small_data_offset(data_offset))
    elif header_len > len(raw):
        problem(errors.header_past_buffer(header_len, len(raw)))
    options_end = min(max(header_len, _wire.HEADER_LEN), len(raw))
    options = unpack_options(raw, options_end, problem)
    return Segment(
        src_port, dst_port, seq, ack, header_len,
        Flags(offset_flags & _wire.FLAG_BITS),
        (offset_flags >> _wire.RESERVED_SHIFT) & _wire.RESERVED_BITS,
        window, checksum, urgent, options, raw[options_end:], anomalies,
    )


def _pack(segment: Segment, src: Optional[Address], dst: Optional[Address]) -> bytes:
    """Validate every field, in declaration order, and build the segment bytes."""
    src_port = uint_field(segment.src_port, "src_port", _wire.U16)
    dst_port = uint_field(segment.dst_port, "dst_port", _wire.U16)
    seq = uint_field(segment.seq, "seq", _wire.U32)
    ack = uint_field(segment.ack, "ack", _wire.U32)
    flags = uint_field(segment.flags, "flags", _wire.FLAG_BITS)
    reserved = uint_field(segment.reserved, "reserved", _wire.RESERVED_BITS)
    window = uint_field(segment.window, "window", _wire.U16)
    checksum = uint_field(segment.checksum, "checksum", _wire.U16)
    urgent = uint_field(segment.urgent, "urgent", _wire.U16)
    options = pack_options(segment.options)
    if len(options) > _wire.MAX_OPTIONS_LEN:
        raise EncodeError("options", f"{len(options)} bytes exceed the 40 that fit")
    header_len = _wire.uint(segment.header_len, _wire.MAX_HEADER_LEN)
    if header_len is None or header_len % 4:
        raise EncodeError("header_len", f"must be a multiple of 4 in [0, 60], got {segment.header_len!r}")
    if options and header_len < _wire.HEADER_LEN + len(options):
        raise EncodeError("header_len", f"{header_len} leaves no room for {len(options)} option bytes")
    payload = bytes_field(segment.payload, "payload")
    padding = bytes(max(header_len - _wire.HEADER_LEN - len(options), 0))
    offset_flags = (header_len // 4) << _wire.DATA_OFFSET_SHIFT | reserved << _wire.RESERVED_SHIFT | flags
    if src is not None or dst is not None:
        if src is None or dst is None:
            raise EncodeError("src" if src is None else "dst", "src and dst go together")
        src_raw, dst_raw = _addr.pair(src, dst)
        length = _wire.HEADER_LEN + len(options) + len(padding) + len(payload)
        pseudo = _addr.pseudo_header(src_raw, dst_raw, length)
        fixed = _FIXED.pack(src_port, dst_port, seq, ack, offset_flags, window, 0, urgent)
        checksum = ~_sum16(pseudo + fixed + options + padding + payload) & 0xFFFF
    fixed = _FIXED.pack(src_port, dst_port, seq, ack, offset_flags, window, checksum, urgent)
    return fixed + options + padding + payload


def pack(segment: Segment, *, src: Optional[Address] = None, dst: Optional[Address] = None) -> bytes:
    """Encode ``segment`` to bytes.

    The header is ``segment.header_len`` long, options padded with zero bytes
    up to it.  With ``src`` and ``dst`` (4/16-byte bytes, str or ipaddress
    objects) the checksum is computed over the matching pseudo-header;
    without them the checksum field is written as held.  Raises
    :class:`~fastseg.EncodeError` naming the first field out of range.
    """
    return _pack(segment, src, dst)


def pack_into(
    buffer: Any, offset: int, segment: Segment, *,
    src: Optional[Address] = None, dst: Optional[Address] = None,
) -> int:
    """Encode ``segment`` into a writable buffer at ``offset``; return the bytes written.

    Nothing is written when the segment does not fit or does not encode.
    """
    encoded = _pack(segment, src, dst)
    try:
        view = memoryview(buffer)
    except TypeError:
        raise errors.not_a_buffer(buffer) from None
    with view:
        if view.readonly or not view.c_contiguous:
            raise TypeError("pack_into needs a writable, contiguous buffer")
        with view.cast("B") as out:
            size = len(out)
            start = _wire.uint(offset, size)
            if start is None:
                raise EncodeError("offset", f"must be an int in [0, {size}], got {offset!r}")
            if start + len(encoded) > size:
                raise EncodeError(
                    "buffer", f"{len(encoded)} bytes do not fit at offset {start} of {size}"
                )
            out[start : start + len(encoded)] = encoded
    return len(encoded)
