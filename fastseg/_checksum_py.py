"""The Internet checksum in pure Python: the reference twin of ``_checksum_c``."""

from __future__ import annotations

import struct

from fastseg import _addr, _wire, errors
from fastseg._addr import Address

__all__ = ["internet_checksum", "tcp_checksum", "update_checksum", "verify_checksum"]


def as_bytes(data: object) -> bytes:
    """The bytes of any buffer, in logical order (``memoryview(data).tobytes()``)."""
    if isinstance(data, bytes):
        return data
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        raise errors.not_a_buffer(data) from None
    with view:
        return view.tobytes()


def _sum16(data: bytes) -> int:
    """One's-complement sum of big-endian 16-bit words, an odd last byte padded with zero."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def internet_checksum(data: object, initial: int = 0) -> int:
    """The RFC 1071 checksum of ``data``: the complement of its one's-complement sum.

    ``initial`` is a 16-bit one's-complement partial sum (not complemented) to
    continue from, e.g. that of a pseudo-header.  Any buffer is accepted; odd
    lengths are padded with a zero byte, empty data gives ``~initial``.
    """
    start = _wire.uint(initial, _wire.U16)
    if start is None:
        raise ValueError(f"initial must be an int in [0, 65535], got {initial!r}")
    total = _sum16(as_bytes(data)) + start
    if total > 0xFFFF:
        total -= 0xFFFF
    return ~total & 0xFFFF


def _checked(segment_bytes: object) -> bytes:
    segment = as_bytes(segment_bytes)
    if len(segment) < _wire.HEADER_LEN:
        raise errors.short_buffer(len(segment)).exception()
    return segment


def _segment_sum(src: Address, dst: Address, segment: bytes) -> int:
    src_raw, dst_raw = _addr.pair(src, dst)
    return _sum16(_addr.pseudo_header(src_raw, dst_raw, len(segment)) + segment)


def tcp_checksum(src: Address, dst: Address, segment_bytes: object) -> int:
    """The checksum ``segment_bytes`` should carry between ``src`` and ``dst``.

    The checksum field itself is taken as zero, so the segment may hold any
    value there.  IPv4 or IPv6 by the addresses' size; IPv6 lengths may exceed
    65535 (jumbograms, RFC 2675).
    """
    segment = _checked(segment_bytes)
    zeroed = segment[: _wire.CHECKSUM] + b"\0\0" + segment[_wire.CHECKSUM + 2 :]
    return ~_segment_sum(src, dst, zeroed) & 0xFFFF


def verify_checksum(src: Address, dst: Address, segment_bytes: object) -> bool:
    """Whether the checksum in ``segment_bytes`` is right for ``src`` and ``dst``."""
    return _segment_sum(src, dst, _checked(segment_bytes)) == 0xFFFF


def update_checksum(checksum: int, old_bytes: object, new_bytes: object) -> int:
    """The checksum after ``old_bytes`` became ``new_bytes`` (RFC 1624, eqn. 3).

    Both must have the same length and start at an even offset of the summed
    data; an odd last byte is paired with a zero, which is right because the
    byte after it is unchanged.  Use it when rewriting ports or addresses.
    Where all the data sums to zero the result may be 0x0000 where a full
    recomputation gives 0xFFFF: the two zeros of one's-complement arithmetic.
    """
    held = _wire.uint(checksum, _wire.U16)
    if held is None:
        raise ValueError(f"checksum must be an int in [0, 65535], got {checksum!r}")
    old, new = as_bytes(old_bytes), as_bytes(new_bytes)
    if len(old) != len(new):
        raise ValueError(f"old_bytes and new_bytes differ in length ({len(old)} != {len(new)})")
    # HC' = ~(~HC + ~m + m'): ~m summed word by word is the complement of m's sum.
    total = (~held & 0xFFFF) + (~_sum16(old) & 0xFFFF) + _sum16(new)
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
